"""Persistence: database (SQLAlchemy 2 + Alembic) and media storage. Imports nothing from api/jobs/inference."""
