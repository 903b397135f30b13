"""Adapters: PostgreSQL (SQLAlchemy Core on asyncpg) and Redis."""
