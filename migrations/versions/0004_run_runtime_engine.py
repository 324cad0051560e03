"""Run rows record what ran the network (runtime) and which engine read and predicted.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: Union[str, None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("extractor_runs") as batch:
        batch.add_column(sa.Column("runtime", sa.String(32), nullable=True))
        batch.add_column(sa.Column("engine", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("extractor_runs") as batch:
        batch.drop_column("engine")
        batch.drop_column("runtime")
