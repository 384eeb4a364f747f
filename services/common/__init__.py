"""Machinery shared by every KillrVideo service: configuration, Cassandra, schemas, errors."""
