"""The metadata database: Peewee models on a DatabaseProxy, SQLite by default or PostgreSQL."""
