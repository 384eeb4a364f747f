"""Stand-ins for a service's injected dependencies in the fast tier (nameko's worker_factory):
what a service does with its repository, its events and its clock, with no broker or database.

The fakes keep to each real dependency's interface and its documented outcomes (e.g. a videos
repository's `add` returns None for a taken id); the repositories' CQL is tested against the real
localcql in tests/services.
"""

import uuid
from datetime import datetime
from typing import NamedTuple

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


class Credentials(NamedTuple):
    """A user_credentials row, as UsersRepository.credentials returns it."""

    email: str
    password: str
    userid: uuid.UUID


class FakeUsersRepository:
    def __init__(self):
        self.credentials_by_email: dict[str, Credentials] = {}
        self.users: dict[uuid.UUID, dict] = {}

    def create(
        self, user: dict, password_hash: str, created: datetime, holds_password
    ) -> str | None:
        """None, or which of the email and the user id was taken (the email is claimed first);
        the same request made again is finished, not refused."""
        claimed = self.credentials_by_email.get(user["email"])
        if claimed is None:
            claimed = Credentials(user["email"], password_hash, user["user_id"])
            self.credentials_by_email[user["email"]] = claimed
        elif not (claimed.userid == user["user_id"] and holds_password(claimed.password)):
            return "email"
        owner = self.users.get(user["user_id"])
        if owner is not None and owner["email"] != user["email"]:
            del self.credentials_by_email[user["email"]]
            return "user_id"
        profile = {key: user[key] for key in ("user_id", "first_name", "last_name", "email")}
        self.users.setdefault(user["user_id"], {**profile, "created_date": created})
        return None

    def credentials(self, email: str) -> Credentials | None:
        return self.credentials_by_email.get(email)

    def replace_password_hash(self, email: str, user_id: uuid.UUID, password_hash: str) -> None:
        stored = self.credentials_by_email.get(email)
        if stored and stored.userid == user_id:  # the real update is conditional on the owner
            self.credentials_by_email[email] = stored._replace(password=password_hash)

    def profiles(self, user_ids: list[uuid.UUID]) -> list[dict]:
        """The users that exist, in the order asked."""
        return [self.users[user_id] for user_id in user_ids if user_id in self.users]


class FakeRatingsRepository:
    """The ratings repository's contract: one rating per user and video, the latest replacing
    the earlier; a video's totals are the count and the sum of its users' ratings."""

    def __init__(self):
        self.ratings: dict[tuple[uuid.UUID, uuid.UUID], int] = {}

    def rate(self, video_id: uuid.UUID, user_id: uuid.UUID, rating: int) -> None:
        self.ratings[video_id, user_id] = rating

    def user_rating(self, video_id: uuid.UUID, user_id: uuid.UUID) -> int | None:
        return self.ratings.get((video_id, user_id))

    def totals(self, video_id: uuid.UUID) -> tuple[int, int]:
        stars = [rating for (rated, _), rating in self.ratings.items() if rated == video_id]
        return len(stars), sum(stars)


class Preview(NamedTuple):
    """A row of videos_by_tag or search_videos_by_word, as SearchRepository.videos_with reads it."""

    video_id: uuid.UUID
    added_date: datetime
    user_id: uuid.UUID
    name: str
    preview_image_location: str


def preview_of(video: dict) -> Preview:
    return Preview(*(video[field] for field in Preview._fields))


class FakeSearchRepository:
    """The search index: videos under each tag and word, and the known terms. Events are taken
    in the order given (the real index orders writes by the event's timestamp)."""

    def __init__(self):
        self.tagged: dict[str, dict[uuid.UUID, Preview]] = {}
        self.worded: dict[str, dict[uuid.UUID, Preview]] = {}
        self.terms: set[str] = set()

    def index(self, video: dict, tags: list[str], words: list[str]) -> None:
        for index, terms in ((self.tagged, tags), (self.worded, words)):
            for term in terms:
                index.setdefault(term, {})[video["video_id"]] = preview_of(video)
                self.terms.add(term)

    def retag(self, video: dict, tags: list[str], removed: list[str]) -> None:
        self.index(video, tags, [])
        for tag in removed:
            self.tagged.get(tag, {}).pop(video["video_id"], None)

    def videos_with(self, tags: list[str], words: list[str]) -> tuple[dict, dict]:
        return (
            {tag: list(self.tagged.get(tag, {}).values()) for tag in tags},
            {word: list(self.worded.get(word, {}).values()) for word in words},
        )

    def terms_starting_with(self, prefix: str, limit: int) -> list[str]:
        """Known tags and words that start with `prefix`, in order, at most `limit` of each."""
        tags = sorted(tag for tag in self.tagged if tag.startswith(prefix))[:limit]
        words = sorted(word for word in self.worded if word.startswith(prefix))[:limit]
        return tags + words


class FakeSuggestionsRepository:
    """The suggestions service's copy of the videos, their tags and the users' ratings."""

    def __init__(self):
        self.known_videos: dict[uuid.UUID, dict] = {}
        self.tagged: dict[str, set[uuid.UUID]] = {}
        self.by_user: dict[uuid.UUID, dict[uuid.UUID, int]] = {}
        self.by_video: dict[uuid.UUID, dict[uuid.UUID, int]] = {}

    def add_video(self, video: dict, tags: set[str], removed: set[str] = frozenset()) -> None:
        fields = ("video_id", "user_id", "name", "preview_image_location", "added_date")
        self.known_videos[video["video_id"]] = {
            **{field: video[field] for field in fields},
            "tags": set(tags),
        }
        for tag in tags:
            self.tagged.setdefault(tag, set()).add(video["video_id"])
        for tag in removed:
            self.tagged.get(tag, set()).discard(video["video_id"])

    def add_rating(self, user_id, video_id, rating: int, rated_at) -> None:
        self.by_user.setdefault(user_id, {})[video_id] = rating
        self.by_video.setdefault(video_id, {})[user_id] = rating

    def videos(self, video_ids) -> dict[uuid.UUID, dict]:
        return {id_: self.known_videos[id_] for id_ in video_ids if id_ in self.known_videos}

    def videos_tagged(self, tags: list[str]) -> list[list[uuid.UUID]]:
        return [sorted(self.tagged.get(tag, ())) for tag in tags]

    def ratings_by(self, user_ids: list) -> list[dict[uuid.UUID, int]]:
        return [dict(self.by_user.get(user_id, {})) for user_id in user_ids]

    def ratings_of(self, video_ids: list) -> list[dict[uuid.UUID, int]]:
        return [dict(self.by_video.get(video_id, {})) for video_id in video_ids]


def delivered(event: Event, payload: dict) -> dict:
    """An event's payload as its handler receives it: dumped as the publisher does, then loaded
    as services.common.handlers.on_event does."""
    return event.load(event.dump(payload))
