"""Column-name normalisation (snake_case, unique), shared by the step and the config check."""

from __future__ import annotations

import re
import unicodedata

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NON_WORD = re.compile(r"[^\w]+|_+")


def snake_case(name: str) -> str:
    """``"First Name"`` -> ``"first_name"``, ``"totalAmountUSD"`` -> ``"total_amount_usd"``.

    Accents are dropped (``"Café"`` -> ``"cafe"``); letters of other scripts stay.
    A name with nothing left becomes ``"column"``.
    """
    decomposed = unicodedata.normalize("NFKD", str(name))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    spaced = _CAMEL.sub("_", plain.strip())
    return _NON_WORD.sub("_", spaced).strip("_").lower() or "column"


def normalize_names(names: list[str]) -> list[str]:
    """snake_case every name, then suffix ``_2``, ``_3``... where two would collide."""
    wanted = [snake_case(n) for n in names]
    taken: set[str] = set()
    result = []
    for name in wanted:
        candidate, n = name, 1
        while candidate in taken:
            n += 1
            candidate = f"{name}_{n}"
        taken.add(candidate)
        result.append(candidate)
    return result
