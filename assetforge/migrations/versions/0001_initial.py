"""Initial schema: builds, generations (append-only history), file hash cache.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "builds",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("started_at", sa.String, nullable=False),
        sa.Column("finished_at", sa.String),
        sa.Column("command", sa.String, nullable=False),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("summary_json", sa.Text),
    )
    op.create_table(
        "generations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("build_id", sa.Integer, sa.ForeignKey("builds.id")),
        sa.Column("created_at", sa.String, nullable=False),
        sa.Column("asset_id", sa.String, nullable=False),
        sa.Column("job_id", sa.String, nullable=False),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("view", sa.String),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("recipe_hash", sa.String, nullable=False),
        sa.Column("recipe_json", sa.Text, nullable=False),
        sa.Column("prompt", sa.Text, nullable=False),
        sa.Column("negative_prompt", sa.Text, nullable=False),
        sa.Column("seed", sa.Integer, nullable=False),
        sa.Column("model_name", sa.String, nullable=False),
        sa.Column("model_hash", sa.String, nullable=False),
        sa.Column("plugin_versions_json", sa.Text, nullable=False),
        sa.Column("output_path", sa.String),
        sa.Column("output_hash", sa.String),
        sa.Column("output_size", sa.Integer),
        sa.Column("output_mtime_ns", sa.Integer),
        sa.Column("duration_s", sa.Float),
        sa.Column("device", sa.String),
        sa.Column("environment_json", sa.Text),
        sa.Column("metrics_json", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("error_plugin", sa.String),
    )
    op.create_index("ix_generations_asset_id", "generations", ["asset_id"])
    op.create_index("ix_generations_recipe_hash", "generations", ["recipe_hash"])
    op.create_index("ix_generations_job", "generations", ["job_id", "id"])
    op.create_table(
        "file_hashes",
        sa.Column("path", sa.String, primary_key=True),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("mtime_ns", sa.Integer, nullable=False),
        sa.Column("inode", sa.Integer, nullable=False),
        sa.Column("hash", sa.String, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("file_hashes")
    op.drop_table("generations")
    op.drop_table("builds")
