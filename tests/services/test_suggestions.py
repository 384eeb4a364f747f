"""The suggestions service on RabbitMQ and localcql, fed by real youtube_video_added and
user_rated_video events; each test waits for the handlers (with a deadline), never sleeps."""

import functools
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from nameko import config as nameko_config
from nameko.standalone.events import event_dispatcher
from nameko.testing.services import entrypoint_waiter

from services.common.cassandra import CassandraRepository
from services.common.errors import InvalidArgument
from services.ratings.events import USER_RATED_VIDEO
from services.suggestions.repository import SuggestionsRepository
from services.suggestions.service import SuggestionsService
from services.videos.events import VIDEO_TAGS_UPDATED, YOUTUBE_VIDEO_ADDED
from tests.paging import walk

NOON = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def delivered(container, method, source, event, payload, times=1):
    """Publishes the event `times` times; returns once the handler succeeded on the last one."""
    successes = iter(range(1, times + 1))

    def last_success(worker_ctx, result, exc_info):
        return exc_info is None and next(successes) == times

    with entrypoint_waiter(container, method, callback=last_success, timeout=10):
        for _ in range(times):
            event_dispatcher()(source, event.name, event.dump(payload))


class Feed:
    """Publishes videos and ratings to a running suggestions service, one at a time."""

    def __init__(self, container):
        self.container = container

    def video(self, tags, hours_ago=0, times=1) -> str:
        added = NOON - timedelta(hours=hours_ago)
        video = {
            "video_id": uuid.uuid4(),
            "user_id": uuid.uuid4(),
            "name": f"tagged {', '.join(tags)}",
            "description": "",
            "location": "dQw4w9WgXcQ",
            "preview_image_location": "//img.youtube.com/vi/dQw4w9WgXcQ/hqdefault.jpg",
            "tags": list(tags),
            "added_date": added,
            "timestamp": added,
        }
        delivered(
            self.container, "remember_video", "videos", YOUTUBE_VIDEO_ADDED, video, times=times
        )
        return str(video["video_id"])

    def rating(self, user_id, video_id, stars, minutes=0, times=1) -> None:
        rating = {
            "video_id": video_id,
            "user_id": user_id,
            "rating": stars,
            "rating_timestamp": NOON + timedelta(minutes=minutes),
        }
        delivered(
            self.container, "remember_rating", "ratings", USER_RATED_VIDEO, rating, times=times
        )


@pytest.fixture
def suggestions(start_services, rpc_client):
    [container] = start_services(SuggestionsService).values()
    return Feed(container), rpc_client("suggestions")


@pytest.fixture
def catalog(suggestions):
    """V's tags are cassandra, nosql and java. A shares three of them, B two, C and D one
    (C is newer than D), E none."""
    feed, _ = suggestions
    return {
        "V": feed.video(["Cassandra", "nosql", "java"], hours_ago=4),
        "A": feed.video(["cassandra", "NoSQL", "java"], hours_ago=5),
        "B": feed.video(["cassandra", "nosql"], hours_ago=1),
        "C": feed.video(["cassandra", "python"], hours_ago=2),
        "D": feed.video(["nosql"], hours_ago=3),
        "E": feed.video(["cats"], hours_ago=0),
    }


def ids_of(page) -> list[str]:
    return [video["video_id"] for video in page["videos"]]


def labels(catalog, ids) -> list[str]:
    by_id = {video_id: label for label, video_id in catalog.items()}
    return [by_id[video_id] for video_id in ids]


def test_related_videos_most_shared_tags_first_then_newest(suggestions, catalog):
    _, client = suggestions
    page = client.get_related_videos(video_id=catalog["V"], page_size=10)
    assert page["video_id"] == catalog["V"]
    assert page["paging_state"] == ""
    assert labels(catalog, ids_of(page)) == ["A", "B", "C", "D"]
    assert page["videos"][0]["name"] == "tagged cassandra, NoSQL, java"
    assert page["videos"][0]["added_date"] == "2026-03-10T07:00:00.000Z"


@pytest.mark.parametrize("page_size", [1, 3])
def test_paging_walks_the_related_videos_once(suggestions, catalog, page_size):
    _, client = suggestions
    pages = walk(
        functools.partial(client.get_related_videos, video_id=catalog["V"]), page_size, "videos"
    )
    assert labels(catalog, [v["video_id"] for page in pages for v in page]) == [
        "A",
        "B",
        "C",
        "D",
    ]


def test_an_unknown_video_has_no_related_videos(suggestions):
    _, client = suggestions
    video_id = str(uuid.uuid4())
    assert client.get_related_videos(video_id=video_id, page_size=5) == {
        "video_id": video_id,
        "videos": [],
        "paging_state": "",
    }


def test_the_same_video_event_twice_changes_nothing(suggestions, catalog):
    feed, client = suggestions
    twice = feed.video(["java"], hours_ago=8, times=2)
    related = ids_of(client.get_related_videos(video_id=catalog["V"], page_size=10))
    assert related.count(twice) == 1


@pytest.fixture
def tastes(suggestions, catalog):
    """U liked V and rated D low; O1 and O2 liked V too and also liked E (and O2 liked C);
    O3 did not like V."""
    feed, _ = suggestions
    user, o1, o2, o3 = (uuid.uuid4() for _ in range(4))
    video = {label: uuid.UUID(video_id) for label, video_id in catalog.items()}
    for who, label, stars in [
        (user, "V", 5),
        (user, "D", 2),
        (o1, "V", 5),
        (o1, "E", 4),
        (o2, "V", 4),
        (o2, "E", 5),
        (o2, "C", 5),
        (o3, "V", 2),
        (o3, "B", 5),
    ]:
        feed.rating(who, video[label], stars)
    return str(user)


def test_suggestions_for_a_user_combine_tags_and_similar_users(suggestions, catalog, tastes):
    """Scores: A 3 shared tags; B 2 tags; C 1 tag + 1 similar user; E 2 similar users; D and V
    were rated by the user. Ties go to the newest: E, then B, then C."""
    _, client = suggestions
    page = client.get_suggested_for_user(user_id=tastes, page_size=10)
    assert page["user_id"] == tastes
    assert labels(catalog, ids_of(page)) == ["A", "E", "B", "C"]


def test_paging_walks_the_suggestions_once(suggestions, catalog, tastes):
    _, client = suggestions
    pages = walk(functools.partial(client.get_suggested_for_user, user_id=tastes), 1, "videos")
    assert labels(catalog, [v["video_id"] for page in pages for v in page]) == ["A", "E", "B", "C"]


def test_a_user_without_history_gets_an_empty_list(suggestions, catalog):
    _, client = suggestions
    user_id = str(uuid.uuid4())
    assert client.get_suggested_for_user(user_id=user_id, page_size=5) == {
        "user_id": user_id,
        "videos": [],
        "paging_state": "",
    }


def test_a_newer_rating_replaces_and_an_older_one_delivered_late_does_not(suggestions, catalog):
    feed, client = suggestions
    user, video = uuid.uuid4(), uuid.UUID(catalog["V"])
    feed.rating(user, video, 5, minutes=1)
    assert client.get_suggested_for_user(user_id=str(user), page_size=10)["videos"]
    feed.rating(user, video, 1, minutes=2)  # changed their mind: V is no longer liked
    feed.rating(user, video, 5, minutes=1, times=2)  # the first event, redelivered late
    assert client.get_suggested_for_user(user_id=str(user), page_size=10)["videos"] == []


class FailingOnce(SuggestionsRepository):
    failures_left = 1

    def add_video(self, *args):
        if FailingOnce.failures_left:
            FailingOnce.failures_left -= 1
            raise RuntimeError("the table is unavailable")
        super().add_video(*args)


class SuggestionsWithAFlakyTable(SuggestionsService):
    repository = CassandraRepository(FailingOnce)


def test_a_handler_that_fails_once_is_retried_and_the_state_ends_up_right(
    cassandra_config, runner_factory, rpc_client
):
    with nameko_config.patch({"EVENT_RETRY_DELAYS": [0.05]}):
        runner = runner_factory(SuggestionsWithAFlakyTable)
        runner.start()
        feed = Feed(next(iter(runner.service_map.values())))
        first = feed.video(["raft"])
        second = feed.video(["raft"])
    assert FailingOnce.failures_left == 0
    related = rpc_client("suggestions").get_related_videos(video_id=first, page_size=5)
    assert ids_of(related) == [second]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"user_id": "nope"}, "user_id"),
        ({"page_size": 0}, "page_size"),
        ({"page_size": 101}, "page_size"),
        ({"paging_state": "garbage"}, "paging_state"),
    ],
)
def test_invalid_requests_are_refused_by_field(suggestions, fields, field):
    _, client = suggestions
    with pytest.raises(InvalidArgument) as error:
        client.get_suggested_for_user(**{"user_id": str(uuid.uuid4()), "page_size": 5, **fields})
    assert error.value.field == field


def test_a_paging_state_pages_only_its_own_list(suggestions, catalog):
    _, client = suggestions
    state = client.get_related_videos(video_id=catalog["V"], page_size=1)["paging_state"]
    assert state
    with pytest.raises(InvalidArgument) as error:
        client.get_related_videos(video_id=catalog["A"], page_size=1, paging_state=state)
    assert error.value.field == "paging_state"


def test_fixed_tags_change_what_is_related(suggestions, catalog):
    feed, client = suggestions
    # E ("cats") becomes a java video: now related to V, sharing one tag.
    e = uuid.UUID(catalog["E"])
    change = {
        "video_id": e,
        "user_id": uuid.uuid4(),
        "name": "tagged java",
        "preview_image_location": "//img.youtube.com/vi/dQw4w9WgXcQ/hqdefault.jpg",
        "added_date": NOON,
        "tags": ["Java"],
        "previous_tags": ["cats"],
        "timestamp": NOON + timedelta(minutes=5),
    }
    delivered(feed.container, "follow_tags", "videos", VIDEO_TAGS_UPDATED, change)
    related = labels(
        catalog, ids_of(client.get_related_videos(video_id=catalog["V"], page_size=10))
    )
    assert related == ["A", "B", "E", "C", "D"]  # E: one shared tag, the newest of those
