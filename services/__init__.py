"""KillrVideo's Nameko services: one package per domain, shared machinery in `common`."""
