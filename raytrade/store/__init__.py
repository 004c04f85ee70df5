"""PostgreSQL through SQLAlchemy 2: tables, sessions and the repository (the only SQL here)."""
