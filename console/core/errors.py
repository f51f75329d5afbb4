"""Domain errors of the console. They know nothing about HTTP; `console.http_errors` maps them.

    ConsoleError
    ├── NotAuthenticated   no or bad credentials
    ├── Forbidden          authenticated, but the role does not allow it
    ├── NotFound           missing, or another member's thing
    ├── InvalidTransition  the job's state does not allow the change
    ├── Conflict           the change clashes with what is stored
    ├── Invalid            a value the user gave is wrong
    ├── TooLarge           an upload above MAX_UPLOAD_BYTES
    └── Unavailable        a service the request needs is down
"""

from __future__ import annotations


class ConsoleError(Exception):
    def __init__(self, detail: object) -> None:
        super().__init__(detail)
        self.detail = detail

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.detail!r})"


class NotAuthenticated(ConsoleError):
    pass


class Forbidden(ConsoleError):
    pass


class NotFound(ConsoleError):
    pass


class InvalidTransition(ConsoleError):
    pass


class Conflict(ConsoleError):
    pass


class Invalid(ConsoleError):
    pass


class TooLarge(ConsoleError):
    pass


class Unavailable(ConsoleError):
    pass
