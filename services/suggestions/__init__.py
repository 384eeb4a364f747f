"""Video suggestions: related videos by shared tags, and videos for a user from their ratings."""
