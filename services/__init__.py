"""KillrVideo's Nameko services: one package per domain, shared machinery in `common`."""

# Each runs as `nameko run services.<name>.service`; the gateway is started after them.
DOMAIN_SERVICES = (
    "users",
    "ratings",
    "videos",
    "comments",
    "statistics",
    "search",
    "suggestions",
)
