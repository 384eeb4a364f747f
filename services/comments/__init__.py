"""Comments on videos, listed by video and by user."""
