"""The `ratings` service: users' 1-5 star ratings of videos (KillrVideo's RatingsService)."""
