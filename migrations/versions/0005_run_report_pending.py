"""Run rows say whether their accuracy report is still owed: a run killed or failed before its report
was written leaves it owed, and the next run reports that run's documents too.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: Union[str, None] = "0004"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("extractor_runs") as batch:
        batch.add_column(sa.Column("report_pending", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("extractor_runs") as batch:
        batch.drop_column("report_pending")
