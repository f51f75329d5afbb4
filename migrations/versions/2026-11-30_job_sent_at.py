"""job sent_at: when a message for the job was last published

Revision ID: 5c2e7a9d0f41
Revises: dd8f31d120b5
Create Date: 2026-11-30 04:10:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = '5c2e7a9d0f41'
down_revision: Union[str, Sequence[str], None] = 'dd8f31d120b5'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column('jobs', sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_column('jobs', 'sent_at')
