"""The `videos` service: the video catalog and its listings (KillrVideo's VideoCatalogService)."""
