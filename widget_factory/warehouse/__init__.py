"""The warehouse: ``sink`` loads every topic into DuckDB, ``report`` reads it back as the
walkthrough's performance analytics (tables and PNG charts)."""
