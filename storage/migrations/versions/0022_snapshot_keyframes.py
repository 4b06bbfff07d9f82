"""snapshot keyframes: score_snapshots.components_ref names the same account's keyframe a
row's components are a delta against (storage.snapshot_keyframes); existing rows are
keyframes (NULL) and read as before

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.snapshot_codec import pack, unpack

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

TABLE = "score_snapshots"


def upgrade() -> None:
    op.add_column(TABLE, sa.Column("components_ref", sa.Date(), nullable=True))


def downgrade() -> None:
    """Every delta packed alone again (the layout before had no references), then the
    column dropped."""
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            f"SELECT d.account_id, d.as_of, d.components, k.components FROM {TABLE} d "
            f"JOIN {TABLE} k ON k.account_id = d.account_id AND k.as_of = d.components_ref"
        )
    ).all()
    update = sa.text(
        f"UPDATE {TABLE} SET components = :components "
        "WHERE account_id = :account_id AND as_of = :as_of"
    ).bindparams(sa.bindparam("components", type_=sa.LargeBinary()))
    for account_id, as_of, delta, keyframe in rows:
        components = pack(unpack(bytes(delta) + bytes(keyframe)))
        bind.execute(update, {"components": components, "account_id": account_id, "as_of": as_of})
    with op.batch_alter_table(TABLE) as batch:
        batch.drop_column("components_ref")
