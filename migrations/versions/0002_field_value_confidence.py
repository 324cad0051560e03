"""Field values keep the rule's confidence (an industry resolver's probability, a keyword's weight).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: Union[str, None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("extractor_field_values") as batch:
        batch.add_column(sa.Column("confidence", sa.Float, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("extractor_field_values") as batch:
        batch.drop_column("confidence")
