"""The database: models, sessions, idempotent batch loading, the ARR ledger and migrations."""
