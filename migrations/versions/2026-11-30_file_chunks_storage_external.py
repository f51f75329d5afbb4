"""file_chunks.data STORAGE EXTERNAL: chunks are zlib-compressed already, no pglz on top

Revision ID: 62a9eb2152a8
Revises: 5c2e7a9d0f41
Create Date: 2026-11-30 07:30:00.000000

console.core.storage compresses each chunk (zlib) where it pays and stores the rest as they are;
PostgreSQL's default EXTENDED storage tried to pglz-compress every chunk again as it TOASTed it,
which took most of an upload's time for nothing (benchmarks/README.md, "Uploads and downloads").
EXTERNAL keeps out-of-line TOAST storage without that compression. Rows already stored keep their
form until rewritten; both forms read the same. Alembic's autogenerate does not compare column
storage, so `alembic check` is unaffected; the model declares it for create_all (models.FileChunk).
"""
from typing import Sequence, Union

from alembic import op

# revision identifiers, used by Alembic.
revision: str = '62a9eb2152a8'
down_revision: Union[str, Sequence[str], None] = '5c2e7a9d0f41'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.execute('ALTER TABLE file_chunks ALTER COLUMN data SET STORAGE EXTERNAL')


def downgrade() -> None:
    """Downgrade schema."""
    op.execute('ALTER TABLE file_chunks ALTER COLUMN data SET STORAGE EXTENDED')
