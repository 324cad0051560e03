"""Nightly runner tables: runs, processed-documents ledger, field values, quarantine.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: Union[str, None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "extractor_runs",
        sa.Column("run_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("pipeline", sa.String(200), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("rules_version", sa.String(64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("full_refresh", sa.Integer, nullable=False, server_default="0"),
        sa.Column("n_read", sa.Integer, nullable=False, server_default="0"),
        sa.Column("n_processed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("n_skipped", sa.Integer, nullable=False, server_default="0"),
        sa.Column("n_quarantined", sa.Integer, nullable=False, server_default="0"),
        sa.Column("n_windows", sa.Integer, nullable=False, server_default="0"),
        sa.Column("message", sa.Text),
    )
    op.create_table(
        "extractor_processed_documents",
        sa.Column("doc_id", sa.String(255), primary_key=True),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("rules_version", sa.String(64), nullable=False),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("extractor_runs.run_id"), nullable=False),
        sa.Column("seen_run_id", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.String(64)),
    )
    op.create_table(
        "extractor_field_values",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("doc_id", sa.String(255), nullable=False),
        sa.Column("field", sa.String(64), nullable=False),
        sa.Column("ordinal", sa.Integer, nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("code", sa.String(16)),
        sa.Column("raw", sa.Text, nullable=False),
        sa.Column("start", sa.Integer, nullable=False),
        sa.Column("end", sa.Integer, nullable=False),
        sa.Column("score", sa.Float),
        sa.Column("rule", sa.String(200), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("rules_version", sa.String(64), nullable=False),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("extractor_runs.run_id"), nullable=False),
        sa.UniqueConstraint("doc_id", "field", "model_version", "ordinal", name="uq_field_values_key"),
    )
    op.create_index("ix_field_values_model_doc", "extractor_field_values", ["model_version", "doc_id"])
    op.create_table(
        "extractor_quarantine",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("extractor_runs.run_id"), nullable=False),
        sa.Column("doc_id", sa.String(255)),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("text_preview", sa.Text),
        sa.Column("quarantined_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_quarantine_run", "extractor_quarantine", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_quarantine_run", table_name="extractor_quarantine")
    op.drop_table("extractor_quarantine")
    op.drop_index("ix_field_values_model_doc", table_name="extractor_field_values")
    op.drop_table("extractor_field_values")
    op.drop_table("extractor_processed_documents")
    op.drop_table("extractor_runs")
