"""Alembic migrations of the state store (run by :func:`gateway.store.db.migrate`)."""
