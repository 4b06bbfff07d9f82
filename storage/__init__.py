"""Local storage: SQLAlchemy models, sessions, idempotent loading and migrations."""
