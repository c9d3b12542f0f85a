"""Verification results, and an index to find the record that produced an output.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "verifications",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("build_id", sa.Integer, sa.ForeignKey("builds.id")),
        sa.Column("created_at", sa.String, nullable=False),
        sa.Column("mode", sa.String, nullable=False),  # hash | regenerate
        sa.Column("asset_id", sa.String, nullable=False),
        sa.Column("job_id", sa.String, nullable=False),
        sa.Column("record_id", sa.Integer),
        sa.Column("output_path", sa.String),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("expected_hash", sa.String),
        sa.Column("actual_hash", sa.String),
        sa.Column("max_diff", sa.Float),
        sa.Column("mean_diff", sa.Float),
        sa.Column("environment_diff_json", sa.Text),
        sa.Column("detail", sa.Text),
    )
    op.create_index("ix_verifications_job", "verifications", ["job_id", "id"])
    op.create_index("ix_generations_output_hash", "generations", ["output_hash"])


def downgrade() -> None:
    op.drop_index("ix_generations_output_hash", "generations")
    op.drop_table("verifications")
