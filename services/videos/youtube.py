"""YouTube video ids, as users paste them: a bare id or one of YouTube's URL forms."""

import re
from urllib.parse import SplitResult, parse_qs, urlsplit

VIDEO_ID = re.compile(r"[A-Za-z0-9_-]{11}")
YOUTUBE_HOSTS = {"youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com"}
SHORT_HOSTS = {"youtu.be", "www.youtu.be"}
EMBED_HOSTS = {"youtube-nocookie.com", "www.youtube-nocookie.com"}
# Paths whose next segment is the id: /embed/<id>, /shorts/<id>, /live/<id>, /v/<id>.
ID_PATH_PREFIXES = {"embed", "shorts", "live", "v"}


def video_id(text: str) -> str:
    """The bare 11-character id in `text`; ValueError when it holds none.

    Accepts the id itself and the URL forms YouTube hands out: watch?v=<id> (with any other query
    parameters), youtu.be/<id>, and /embed/, /shorts/, /live/, /v/ paths, with or without a scheme.
    """
    text = text.strip()
    if VIDEO_ID.fullmatch(text):
        return text
    candidate = id_in_url(urlsplit(text if "//" in text else f"https://{text}"))
    if candidate and VIDEO_ID.fullmatch(candidate):
        return candidate
    raise ValueError("Not a YouTube video id or URL.")


def id_in_url(url: SplitResult) -> str | None:
    """Where each YouTube URL form keeps the video id (not yet checked to be one)."""
    host = (url.hostname or "").lower()
    segments = [segment for segment in url.path.split("/") if segment]
    if host in SHORT_HOSTS and len(segments) == 1:
        return segments[0]
    if host in YOUTUBE_HOSTS and segments == ["watch"]:
        return parse_qs(url.query).get("v", [None])[0]
    if host in YOUTUBE_HOSTS | EMBED_HOSTS and len(segments) == 2:
        return segments[1] if segments[0] in ID_PATH_PREFIXES else None
    return None


def preview_image_location(youtube_id: str) -> str:
    """The thumbnail YouTube serves for a video (protocol-relative, as KillrVideo stores it)."""
    return f"//img.youtube.com/vi/{youtube_id}/hqdefault.jpg"
