"""Stand-ins for a service's injected dependencies in the fast tier (nameko's worker_factory):
what a service does with its repository, its events and its clock, with no broker or database.

The fakes keep to each real dependency's interface and its documented outcomes (e.g. a videos
repository's `add` returns None for a taken id); the repositories' CQL is tested against the real
localcql in tests/services.
"""

import uuid
from datetime import datetime

from services.common.events import Event


class PublishedEvents(list):
    """The `publish(event, payload)` a service is given: each payload dumped through its event's
    schema, as the real EventPublisher does (so a payload off its contract fails here too), and
    kept as (event name, data)."""

    def __call__(self, event: Event, payload: dict) -> None:
        self.append((event.name, event.dump(payload)))

    def named(self, name: str) -> list[dict]:
        return [data for event_name, data in self if event_name == name]


class FixedClock:
    """The `now()` a service is given: a moment that moves only when a test moves it."""

    def __init__(self, moment: datetime):
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


class FakeVideosRepository:
    def __init__(self):
        self.videos: dict[uuid.UUID, dict] = {}

    def add(self, video: dict) -> datetime | None:
        stored = self.videos.setdefault(video["video_id"], video)
        if stored is not video and stored["name"] != video["name"]:
            return None  # another video has this id
        return stored["added_date"]

    def video(self, video_id: uuid.UUID) -> dict | None:
        return self.videos.get(video_id)

    def set_tags(self, video_id: uuid.UUID, tags: list[str]) -> None:
        self.videos[video_id] = {**self.videos[video_id], "tags": tags}

    def previews(self, video_ids: list[uuid.UUID]) -> list[dict]:
        return [self.videos[video_id] for video_id in video_ids if video_id in self.videos]


class FakeCommentsRepository:
    def __init__(self):
        self.comments_added: list[dict] = []
        self.pages_asked: list[tuple] = []

    def add(self, video_id, user_id, comment_id, comment: str) -> None:
        self.comments_added.append(
            {"video_id": video_id, "user_id": user_id, "comment_id": comment_id, "comment": comment}
        )

    def comments(self, listing: str, key: uuid.UUID, page_size: int, start, driver_state):
        """No rows; a driver state for the next page, so that its encoding can be checked."""
        self.pages_asked.append((listing, key, page_size, start, driver_state))
        return [], b"next-page"


class FakeStatisticsRepository:
    def __init__(self):
        self.plays: dict[uuid.UUID, int] = {}

    def record_play(self, video_id: uuid.UUID) -> None:
        self.plays[video_id] = self.plays.get(video_id, 0) + 1

    def views(self, video_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
        return {video_id: self.plays[video_id] for video_id in video_ids if video_id in self.plays}
