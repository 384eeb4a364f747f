"""The videos service over real nameko RPC, on RabbitMQ and localcql.

The service runs with its clock replaced by a `SettableClock`, so tests choose when each video is
added and which day is "today" for the latest videos.
"""

import functools
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from nameko.testing.services import replace_dependencies
from nameko.testing.utils import get_container

from services.common.errors import AlreadyExists, InvalidArgument, NotFound
from services.videos import schemas
from services.videos.events import YOUTUBE_VIDEO_ADDED
from services.videos.service import VideosService
from tests.paging import walk

YOUTUBE_ID = "dQw4w9WgXcQ"
PREVIEW_IMAGE = f"//img.youtube.com/vi/{YOUTUBE_ID}/hqdefault.jpg"
TODAY_NOON = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


class SettableClock:
    """The service's `now()`: whatever time the test last set."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock():
    return SettableClock(TODAY_NOON)


@pytest.fixture
def videos(cassandra_config, runner_factory, rpc_client, clock):
    runner = runner_factory(VideosService)
    replace_dependencies(get_container(runner, VideosService), now=clock)
    runner.start()
    return rpc_client("videos")


def iso(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def new_video(**overrides):
    return {
        "video_id": str(uuid.uuid4()),
        "user_id": str(uuid.uuid4()),
        "name": "Never Gonna Give You Up",
        "you_tube_video_id": f"https://www.youtube.com/watch?v={YOUTUBE_ID}&t=42s",
        **overrides,
    }


def preview(video: dict, added: datetime) -> dict:
    return {
        "video_id": video["video_id"],
        "added_date": iso(added),
        "name": video["name"],
        "preview_image_location": PREVIEW_IMAGE,
        "user_id": video["user_id"],
    }


def newest_first(previews: list[dict]) -> list[dict]:
    # As the tables cluster: added_date descending, then video id ascending (for these version 4
    # UUIDs the database's order is their numeric order).
    by_id = sorted(previews, key=lambda item: uuid.UUID(item["video_id"]))
    return sorted(by_id, key=lambda item: item["added_date"], reverse=True)


@pytest.fixture
def add_video(videos, clock):
    """Submits a video at the given time; returns its expected preview."""

    def add(at: datetime, **overrides) -> dict:
        clock.now = at
        video = new_video(**overrides)
        videos.submit_youtube_video(**video)
        return preview(video, at)

    return add


def walk_as_the_web_app(list_page, page_size: int) -> list[dict]:
    """The web app's paging: learn the head with page_size=1, then page on from that head."""
    head = list_page(page_size=1)["video_previews"]
    if not head:
        return []
    from_head = functools.partial(
        list_page,
        starting_added_date=head[0]["added_date"],
        starting_video_id=head[0]["video_id"],
    )
    return [item for page in walk(from_head, page_size, "video_previews") for item in page]


# --- submit_youtube_video and get_video


def test_a_submitted_video_is_stored_as_its_youtube_id(videos):
    video = new_video(description="A classic.", tags=["music", "80s", "music"])
    stored = videos.submit_youtube_video(**video)

    assert stored == {
        "video_id": video["video_id"],
        "user_id": video["user_id"],
        "name": video["name"],
        "description": "A classic.",
        "location": YOUTUBE_ID,
        "location_type": schemas.YOUTUBE,
        "preview_image_location": PREVIEW_IMAGE,
        "tags": ["80s", "music"],
        "added_date": iso(TODAY_NOON),
    }
    assert videos.get_video(video_id=video["video_id"]) == stored


def test_a_video_without_tags_has_an_empty_list(videos):
    video = new_video()
    videos.submit_youtube_video(**video)
    stored = videos.get_video(video_id=video["video_id"])
    assert (stored["tags"], stored["description"]) == ([], "")


def test_the_three_tables_get_one_added_date_and_latest_videos_expire(videos, clock, cql):
    clock.now = datetime(2026, 3, 10, 23, 59, 59, 999000, tzinfo=UTC)
    video = new_video()
    videos.submit_youtube_video(**video)
    video_id, user_id = uuid.UUID(video["video_id"]), uuid.UUID(video["user_id"])

    in_videos = cql.execute("SELECT added_date FROM videos WHERE videoid = %s", (video_id,)).one()
    in_user_videos = cql.execute(
        "SELECT added_date FROM user_videos WHERE userid = %s", (user_id,)
    ).one()
    in_latest = cql.execute(
        "SELECT added_date, videoid, TTL(name) AS ttl FROM latest_videos WHERE yyyymmdd = %s",
        ("20260310",),
    ).one()
    expected = clock.now.replace(tzinfo=None)
    assert in_videos.added_date == in_user_videos.added_date == in_latest.added_date == expected
    assert in_latest.videoid == video_id
    assert 604000 < in_latest.ttl <= 604800


def test_youtube_video_added_is_published_after_the_write(videos, expect_event):
    video = new_video(description="A classic.", tags=["music"])
    with expect_event("videos", "youtube_video_added") as event:
        videos.submit_youtube_video(**video)
    payload = event.get()

    assert payload == {
        "video_id": video["video_id"],
        "user_id": video["user_id"],
        "name": video["name"],
        "description": "A classic.",
        "location": YOUTUBE_ID,
        "preview_image_location": PREVIEW_IMAGE,
        "tags": ["music"],
        "added_date": iso(TODAY_NOON),
        "timestamp": iso(TODAY_NOON),
    }
    assert YOUTUBE_VIDEO_ADDED.load(payload)["video_id"] == uuid.UUID(video["video_id"])
    assert videos.get_video(video_id=video["video_id"])["name"] == video["name"]


def test_submitting_the_same_video_again_is_a_harmless_retry(videos, clock):
    video = new_video(tags=["a", "b"])
    first = videos.submit_youtube_video(**video)
    clock.now = TODAY_NOON + timedelta(minutes=5)
    assert videos.submit_youtube_video(**{**video, "tags": ["b", "a"]}) == first

    page = videos.get_user_video_previews(user_id=video["user_id"], page_size=10)
    assert page["video_previews"] == [preview(video, TODAY_NOON)]
    assert videos.get_latest_video_previews(page_size=10)["video_previews"] == [
        preview(video, TODAY_NOON)
    ]


def test_another_video_under_a_taken_id_is_refused(videos):
    video = new_video()
    videos.submit_youtube_video(**video)
    with pytest.raises(AlreadyExists):
        videos.submit_youtube_video(**{**video, "name": "Something else"})
    with pytest.raises(AlreadyExists):
        videos.submit_youtube_video(**{**video, "user_id": str(uuid.uuid4())})
    assert videos.get_video(video_id=video["video_id"])["name"] == video["name"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("video_id", "not-a-uuid"),
        ("user_id", None),
        ("name", ""),
        ("name", None),
        ("name", "x" * (schemas.MAX_NAME_LENGTH + 1)),
        ("description", "x" * (schemas.MAX_DESCRIPTION_LENGTH + 1)),
        ("tags", ["tag"] * (schemas.MAX_TAGS + 1)),
        ("you_tube_video_id", ""),
        ("you_tube_video_id", "https://vimeo.com/76979871"),
        ("you_tube_video_id", "https://www.youtube.com/watch?v=tooshort"),
    ],
)
def test_invalid_submissions_are_refused_by_field(videos, field, value):
    with pytest.raises(InvalidArgument) as error:
        videos.submit_youtube_video(**new_video(**{field: value}))
    assert error.value.field == field


def test_an_unknown_video_is_not_found(videos):
    with pytest.raises(NotFound):
        videos.get_video(video_id=str(uuid.uuid4()))


def test_get_video_needs_a_uuid(videos):
    with pytest.raises(InvalidArgument) as error:
        videos.get_video(video_id="42")
    assert error.value.field == "video_id"


# --- get_video_previews


def test_previews_of_known_ids_in_the_order_asked(videos, add_video):
    first = add_video(TODAY_NOON)
    second = add_video(TODAY_NOON + timedelta(seconds=1))
    asked = [second["video_id"], str(uuid.uuid4()), first["video_id"]]
    assert videos.get_video_previews(video_ids=asked) == [second, first]


@pytest.mark.parametrize(
    "video_ids",
    [[], [str(uuid.uuid4()) for _ in range(21)], ["not-a-uuid"], None],
)
def test_previews_take_one_to_twenty_uuids(videos, video_ids):
    with pytest.raises(InvalidArgument) as error:
        videos.get_video_previews(video_ids=video_ids)
    assert error.value.field == "video_ids"


# --- get_latest_video_previews


@pytest.fixture
def week_of_videos(add_video, clock):
    """Videos added over more than a week before TODAY_NOON, newest first as listed then."""
    today = TODAY_NOON.replace(hour=0)
    listed = [
        add_video(TODAY_NOON),
        add_video(today + timedelta(milliseconds=1)),
        add_video(today - timedelta(milliseconds=1)),  # yesterday, a millisecond before
        add_video(today - timedelta(days=2, hours=-6)),
        add_video(today - timedelta(days=2, hours=-6)),  # added in the same millisecond
        add_video(today - timedelta(days=7)),  # the first instant of the oldest day listed
    ]
    add_video(today - timedelta(days=7, milliseconds=1))  # a day too old to be listed
    clock.now = TODAY_NOON
    return newest_first(listed)


def test_latest_videos_span_today_and_the_seven_days_before(videos, week_of_videos):
    page = videos.get_latest_video_previews(page_size=10)
    assert page == {"video_previews": week_of_videos, "paging_state": ""}


def test_latest_videos_follow_the_clock_to_the_next_day(videos, clock, week_of_videos):
    clock.now = TODAY_NOON + timedelta(days=1)
    page = videos.get_latest_video_previews(page_size=10)
    assert page["video_previews"] == week_of_videos[:-1]


def test_a_full_page_with_more_rows_has_a_paging_state(videos, week_of_videos):
    page = videos.get_latest_video_previews(page_size=3)
    assert page["video_previews"] == week_of_videos[:3]
    assert page["paging_state"]

    second = videos.get_latest_video_previews(page_size=3, paging_state=page["paging_state"])
    assert second["video_previews"] == week_of_videos[3:6]


@pytest.mark.parametrize("page_size", [1, 2, 3, 4, 6, 100])
def test_paging_walks_every_latest_video_once_across_days(videos, week_of_videos, page_size):
    pages = walk(videos.get_latest_video_previews, page_size, "video_previews")
    assert [item for page in pages for item in page] == week_of_videos


def test_latest_videos_ending_at_a_page_boundary_end_with_an_empty_last_page(
    videos, week_of_videos
):
    """Cassandra gives the last full page of a partition a paging state (its pager cannot know
    it is the last one); the page it leads to is empty, and the last."""
    page = videos.get_latest_video_previews(page_size=len(week_of_videos))
    assert page["video_previews"] == week_of_videos
    assert page["paging_state"]
    last = videos.get_latest_video_previews(
        page_size=len(week_of_videos), paging_state=page["paging_state"]
    )
    assert last == {"video_previews": [], "paging_state": ""}


@pytest.mark.parametrize("page_size", [1, 2, 5])
def test_the_web_apps_paging_walks_every_latest_video_once(videos, week_of_videos, page_size):
    assert walk_as_the_web_app(videos.get_latest_video_previews, page_size) == week_of_videos


def test_paging_carries_on_where_it_was_when_midnight_passes(videos, clock, week_of_videos):
    first = videos.get_latest_video_previews(page_size=2)
    clock.now = TODAY_NOON.replace(hour=23, minute=59)
    videos.submit_youtube_video(**new_video())
    clock.now = TODAY_NOON + timedelta(days=1)
    videos.submit_youtube_video(**new_video())

    rest = walk(
        videos.get_latest_video_previews, 2, "video_previews", paging_state=first["paging_state"]
    )
    # The day that left the window meanwhile is no longer read.
    assert (
        first["video_previews"] + [item for page in rest for item in page] == (week_of_videos[:-1])
    )


@pytest.mark.parametrize("index", [0, 1, 2, 3, 4, 5])
def test_a_starting_video_begins_the_page(videos, week_of_videos, index):
    start = week_of_videos[index]
    page = videos.get_latest_video_previews(
        page_size=2, starting_added_date=start["added_date"], starting_video_id=start["video_id"]
    )
    assert page["video_previews"] == week_of_videos[index : index + 2]


def test_the_web_apps_paging_sees_only_the_videos_before_its_head(videos, add_video, clock):
    first = add_video(TODAY_NOON - timedelta(hours=1))
    head = videos.get_latest_video_previews(page_size=1)["video_previews"][0]
    add_video(TODAY_NOON)  # added after the web app learned its head
    page = videos.get_latest_video_previews(
        page_size=5, starting_added_date=head["added_date"], starting_video_id=head["video_id"]
    )
    assert page == {"video_previews": [first], "paging_state": ""}


def test_no_latest_videos_is_an_empty_last_page(videos):
    assert videos.get_latest_video_previews(page_size=5) == {
        "video_previews": [],
        "paging_state": "",
    }


def tampered(paging_state: str) -> str:
    middle = len(paging_state) // 2
    replacement = "A" if paging_state[middle] != "A" else "B"
    return paging_state[:middle] + replacement + paging_state[middle + 1 :]


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"page_size": 0}, "page_size"),
        ({"page_size": 101}, "page_size"),
        ({"page_size": None}, "page_size"),
        ({"paging_state": "not a paging state"}, "paging_state"),
        ({"starting_added_date": "2026-03-10T12:00:00.000Z"}, "starting_video_id"),
        ({"starting_video_id": str(uuid.uuid4())}, "starting_added_date"),
        (
            {"starting_added_date": "noon", "starting_video_id": str(uuid.uuid4())},
            "starting_added_date",
        ),
    ],
)
def test_invalid_latest_requests_are_refused_by_field(videos, request_fields, field):
    with pytest.raises(InvalidArgument) as error:
        videos.get_latest_video_previews(**{"page_size": 5, **request_fields})
    assert error.value.field == field


def test_tampered_and_foreign_paging_states_are_refused(videos, add_video):
    user_id = str(uuid.uuid4())
    for hours in (1, 2):
        add_video(TODAY_NOON - timedelta(hours=hours), user_id=user_id)
    latest_state = videos.get_latest_video_previews(page_size=1)["paging_state"]
    user_state = videos.get_user_video_previews(user_id=user_id, page_size=1)["paging_state"]
    assert latest_state and user_state

    for list_page, paging_state in [
        (videos.get_latest_video_previews, tampered(latest_state)),
        (videos.get_latest_video_previews, user_state),
        (functools.partial(videos.get_user_video_previews, user_id=user_id), latest_state),
    ]:
        with pytest.raises(InvalidArgument) as error:
            list_page(page_size=1, paging_state=paging_state)
        assert error.value.field == "paging_state"


# --- get_user_video_previews


@pytest.fixture
def users_videos(add_video):
    """A user's videos, newest first, the newest four in one millisecond; and someone else's."""
    user_id = str(uuid.uuid4())
    listed = [
        add_video(TODAY_NOON - timedelta(days=days), user_id=user_id) for days in (0, 1, 30, 400)
    ]
    listed += [add_video(TODAY_NOON, user_id=user_id) for _ in range(3)]
    add_video(TODAY_NOON)  # someone else's
    return user_id, newest_first(listed)


def test_a_users_videos_newest_first(videos, users_videos):
    user_id, listed = users_videos
    page = videos.get_user_video_previews(user_id=user_id, page_size=100)
    assert page == {"user_id": user_id, "video_previews": listed, "paging_state": ""}


@pytest.mark.parametrize("page_size", [1, 2, 3, 7])
def test_paging_walks_every_video_of_a_user_once(videos, users_videos, page_size):
    user_id, listed = users_videos
    list_page = functools.partial(videos.get_user_video_previews, user_id=user_id)
    pages = walk(list_page, page_size, "video_previews")
    assert [item for page in pages for item in page] == listed
    assert len(pages[0]) == min(page_size, len(listed))


def test_a_users_videos_ending_at_a_page_boundary_end_with_an_empty_last_page(videos, users_videos):
    """As Cassandra's: the last full page carries a paging state; the next page is empty."""
    user_id, listed = users_videos
    page = videos.get_user_video_previews(user_id=user_id, page_size=len(listed))
    assert page["video_previews"] == listed
    assert page["paging_state"]
    last = videos.get_user_video_previews(
        user_id=user_id, page_size=len(listed), paging_state=page["paging_state"]
    )
    assert last == {"user_id": user_id, "video_previews": [], "paging_state": ""}


@pytest.mark.parametrize("page_size", [1, 2, 4])
def test_the_web_apps_paging_walks_every_video_of_a_user_once(videos, users_videos, page_size):
    user_id, listed = users_videos
    list_page = functools.partial(videos.get_user_video_previews, user_id=user_id)
    assert walk_as_the_web_app(list_page, page_size) == listed


@pytest.mark.parametrize("index", range(7))
def test_a_starting_video_begins_the_users_page(videos, users_videos, index):
    user_id, listed = users_videos
    start = listed[index]
    page = videos.get_user_video_previews(
        user_id=user_id,
        page_size=3,
        starting_added_date=start["added_date"],
        starting_video_id=start["video_id"],
    )
    assert page["user_id"] == user_id
    assert page["video_previews"] == listed[index : index + 3]


def test_a_user_without_videos_has_an_empty_last_page(videos):
    user_id = str(uuid.uuid4())
    assert videos.get_user_video_previews(user_id=user_id, page_size=5) == {
        "user_id": user_id,
        "video_previews": [],
        "paging_state": "",
    }


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"user_id": "nobody"}, "user_id"),
        ({"page_size": 0}, "page_size"),
        ({"page_size": 101}, "page_size"),
        ({"paging_state": "AAAA"}, "paging_state"),
    ],
)
def test_invalid_user_video_requests_are_refused_by_field(videos, request_fields, field):
    request = {"user_id": str(uuid.uuid4()), "page_size": 5, **request_fields}
    with pytest.raises(InvalidArgument) as error:
        videos.get_user_video_previews(**request)
    assert error.value.field == field


# --- update_video_tags (an operator's fix)


def test_an_operator_can_fix_a_videos_tags_and_the_change_is_announced(videos, expect_event):
    video = new_video(tags=["musci", "80s"])
    videos.submit_youtube_video(**video)
    with expect_event("videos", "video_tags_updated") as event:
        updated = videos.update_video_tags(video_id=video["video_id"], tags=["music", "80s"])
    assert updated["tags"] == ["80s", "music"]
    assert videos.get_video(video_id=video["video_id"])["tags"] == ["80s", "music"]
    payload = event.get()
    assert (payload["tags"], payload["previous_tags"]) == (["80s", "music"], ["80s", "musci"])
    assert payload["name"] == video["name"] and payload["added_date"] == iso(TODAY_NOON)


def test_fixing_the_tags_of_an_unknown_video_is_not_found(videos):
    with pytest.raises(NotFound):
        videos.update_video_tags(video_id=str(uuid.uuid4()), tags=["x"])
    with pytest.raises(InvalidArgument) as error:
        videos.update_video_tags(video_id=str(uuid.uuid4()), tags=[""])
    assert error.value.field == "tags"
