"""Pure logic of services/videos: YouTube ids, day buckets, starting points, paging positions."""

import uuid
from collections import namedtuple
from datetime import UTC, date, datetime

import pytest

from services.common import paging
from services.common.errors import InvalidArgument
from services.common.fields import MAX_PAGE_SIZE
from services.common.validation import load
from services.videos import listing, schemas, youtube
from services.videos.listing import DayPosition, Start
from services.videos.repository import same_submission

ID = "dQw4w9WgXcQ"


class TestYouTubeVideoId:
    @pytest.mark.parametrize(
        "text",
        [
            ID,
            f"  {ID} ",
            f"https://www.youtube.com/watch?v={ID}",
            f"https://www.youtube.com/watch?feature=share&v={ID}&t=42s&list=PL123",
            f"http://youtube.com/watch?v={ID}",
            f"https://m.youtube.com/watch?v={ID}",
            f"www.youtube.com/watch?v={ID}",
            f"https://youtu.be/{ID}",
            f"https://youtu.be/{ID}?si=abcDEF&t=3",
            f"youtu.be/{ID}",
            f"https://www.youtube.com/embed/{ID}?autoplay=1",
            f"https://www.youtube-nocookie.com/embed/{ID}",
            f"https://www.youtube.com/shorts/{ID}",
            f"//www.youtube.com/v/{ID}",
            f"HTTPS://WWW.YOUTUBE.COM/watch?v={ID}",
        ],
    )
    def test_finds_the_bare_id(self, text):
        assert youtube.video_id(text) == ID

    @pytest.mark.parametrize(
        "text",
        [
            "",
            "dQw4w9WgXc",  # 10 characters
            "dQw4w9WgXcQQ",
            "dQw4w9WgX!Q",
            "https://www.youtube.com/watch",
            f"https://www.youtube.com/watch?list={ID}",
            "https://www.youtube.com/watch?v=short",
            f"https://www.youtube.com/playlist?v={ID}",
            f"https://vimeo.com/watch?v={ID}",
            f"https://youtube.com.evil.example/watch?v={ID}",
            f"https://youtu.be/{ID}/extra",
            f"https://www.youtube.com/channel/{ID}",
        ],
    )
    def test_refuses_anything_else(self, text):
        with pytest.raises(ValueError, match="Not a YouTube video id or URL"):
            youtube.video_id(text)

    def test_preview_image_is_youtubes_thumbnail(self):
        assert youtube.preview_image_location(ID) == f"//img.youtube.com/vi/{ID}/hqdefault.jpg"


class TestDaysToRead:
    def test_today_and_the_seven_days_before_newest_first(self):
        days = listing.days_to_read(date(2026, 1, 3))
        assert [listing.day_bucket(day) for day in days] == [
            "20260103",
            "20260102",
            "20260101",
            "20251231",
            "20251230",
            "20251229",
            "20251228",
            "20251227",
        ]

    def test_from_a_day_in_the_window(self):
        days = listing.days_to_read(date(2026, 1, 3), first=date(2025, 12, 29))
        assert days == [date(2025, 12, 29), date(2025, 12, 28), date(2025, 12, 27)]

    def test_nothing_before_the_window(self):
        assert listing.days_to_read(date(2026, 1, 3), first=date(2025, 12, 26)) == []

    def test_never_after_today(self):
        assert listing.days_to_read(date(2026, 1, 3), first=date(2026, 2, 1)) == (
            listing.days_to_read(date(2026, 1, 3))
        )


Row = namedtuple("Row", "video_id added_date")
NOON = datetime(2026, 1, 3, 12, 0, tzinfo=UTC)
EARLIER = datetime(2026, 1, 3, 11, 0, tzinfo=UTC)


class TestDropRowsBeforeStart:
    def test_a_page_that_begins_with_the_start_is_kept(self):
        start = Start(NOON, uuid.uuid4())
        rows = [Row(start.video_id, NOON), Row(uuid.uuid4(), NOON), Row(uuid.uuid4(), EARLIER)]
        assert listing.drop_rows_before_start(rows, start) == (rows, False)

    def test_videos_of_the_same_millisecond_before_the_start_are_dropped(self):
        start = Start(NOON, uuid.uuid4())
        before = [Row(uuid.uuid4(), NOON.replace(tzinfo=None)) for _ in range(2)]
        after = [Row(start.video_id, NOON.replace(tzinfo=None)), Row(uuid.uuid4(), EARLIER)]
        assert listing.drop_rows_before_start(before + after, start) == (after, False)

    def test_dropping_goes_on_while_a_page_holds_only_earlier_ties(self):
        start = Start(NOON, uuid.uuid4())
        assert listing.drop_rows_before_start([Row(uuid.uuid4(), NOON)], start) == ([], True)

    def test_dropping_stops_at_an_older_video_when_the_start_is_gone(self):
        start = Start(NOON, uuid.uuid4())
        rows = [Row(uuid.uuid4(), EARLIER)]
        assert listing.drop_rows_before_start(rows, start) == (rows, False)


USER = uuid.UUID("6f9a3a5e-0c1b-4d6e-9f3a-2b1c0d9e8f7a")


class TestPagingPositions:
    def test_a_day_position_round_trips(self):
        position = DayPosition(date(2026, 1, 3), b"\x00driver\xff")
        text = listing.encode_day_position(position)
        assert text
        assert listing.decode_day_position(text) == position

    def test_a_position_at_the_top_of_a_day_round_trips(self):
        position = DayPosition(date(2025, 12, 31))
        assert listing.decode_day_position(listing.encode_day_position(position)) == position

    def test_a_user_position_round_trips(self):
        scope = listing.user_scope(USER)
        assert paging.decode_scoped(scope, paging.encode_scoped(scope, b"\x01driver")) == (
            b"\x01driver"
        )

    def test_no_position_is_the_empty_paging_state(self):
        assert listing.encode_day_position(None) == ""
        assert paging.encode_scoped(listing.user_scope(USER), None) == ""
        assert listing.decode_day_position("") is None
        assert paging.decode_scoped(listing.user_scope(USER), "") is None

    @pytest.mark.parametrize(
        "text",
        [
            "garbage!",
            paging.encode(b"L2026"),
            paging.encode(b"L2026-1-3xyz"),
            paging.encode(b"L20261332"),
            paging.encode(b"Xdriver-state"),
            paging.encode_scoped(listing.user_scope(USER), b"20260103"),
            listing.encode_day_position(DayPosition(date(2026, 1, 3), b"x"))[:-2],
        ],
    )
    def test_anything_else_is_not_a_latest_videos_position(self, text):
        with pytest.raises(InvalidArgument) as error:
            listing.decode_day_position(text)
        assert error.value.field == "paging_state"

    @pytest.mark.parametrize(
        "text",
        [
            "garbage!",
            paging.encode(b"U"),
            paging.encode(listing.user_scope(USER)),
            paging.encode_scoped(listing.user_scope(uuid.uuid4()), b"driver"),
            listing.encode_day_position(DayPosition(date(2026, 1, 3), b"x")),
        ],
    )
    def test_anything_else_is_not_this_users_videos_position(self, text):
        with pytest.raises(InvalidArgument) as error:
            paging.decode_scoped(listing.user_scope(USER), text)
        assert error.value.field == "paging_state"


def submission(**overrides):
    return {
        "video_id": str(uuid.uuid4()),
        "user_id": str(uuid.uuid4()),
        "name": "Never gonna",
        "you_tube_video_id": f"https://youtu.be/{ID}",
        **overrides,
    }


class TestSubmitYouTubeVideoRequest:
    def test_loads_the_bare_id_and_defaults(self):
        request = load(schemas.SubmitYouTubeVideoRequest, **submission())
        assert request["you_tube_video_id"] == ID
        assert request["description"] == ""
        assert request["tags"] == []

    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"video_id": "not-a-uuid"}, "video_id"),
            ({"user_id": None}, "user_id"),
            ({"name": ""}, "name"),
            ({"name": "x" * (schemas.MAX_NAME_LENGTH + 1)}, "name"),
            ({"description": "x" * (schemas.MAX_DESCRIPTION_LENGTH + 1)}, "description"),
            ({"tags": ["t"] * (schemas.MAX_TAGS + 1)}, "tags"),
            ({"tags": ["x" * (schemas.MAX_TAG_LENGTH + 1)]}, "tags"),
            ({"tags": [""]}, "tags"),
            ({"you_tube_video_id": "https://vimeo.com/1234"}, "you_tube_video_id"),
        ],
    )
    def test_refuses_bad_fields_by_name(self, overrides, field):
        with pytest.raises(InvalidArgument) as error:
            load(schemas.SubmitYouTubeVideoRequest, **submission(**overrides))
        assert error.value.field == field

    def test_name_is_required(self):
        values = submission()
        del values["name"]
        with pytest.raises(InvalidArgument) as error:
            load(schemas.SubmitYouTubeVideoRequest, **values)
        assert error.value.field == "name"


class TestPageRequest:
    def test_loads_a_starting_point(self):
        video_id = uuid.uuid4()
        request = load(
            schemas.PageRequest,
            page_size=10,
            starting_added_date="2026-01-03T12:00:00.123Z",
            starting_video_id=str(video_id),
        )
        assert listing.Start(request["starting_added_date"], request["starting_video_id"]) == (
            Start(datetime(2026, 1, 3, 12, 0, 0, 123000, tzinfo=UTC), video_id)
        )
        assert request["paging_state"] == ""

    @pytest.mark.parametrize(
        ("values", "field"),
        [
            ({"page_size": 0}, "page_size"),
            ({"page_size": MAX_PAGE_SIZE + 1}, "page_size"),
            ({"page_size": "5"}, "page_size"),
            ({"starting_added_date": "2026-01-03T12:00:00Z"}, "starting_video_id"),
            ({"starting_video_id": str(uuid.uuid4())}, "starting_added_date"),
            ({"starting_added_date": "yesterday", "starting_video_id": ID}, "starting_added_date"),
        ],
    )
    def test_refuses_bad_fields_by_name(self, values, field):
        with pytest.raises(InvalidArgument) as error:
            load(schemas.PageRequest, **{"page_size": 5, **values})
        assert error.value.field == field


StoredVideo = namedtuple("StoredVideo", "userid name description location tags")


class TestSameSubmission:
    video = {
        "user_id": uuid.UUID(int=1),
        "name": "n",
        "description": "",
        "location": ID,
        "tags": ["b", "a"],
    }

    def test_the_same_video_is_a_retry(self):
        stored = StoredVideo(uuid.UUID(int=1), "n", "", ID, {"a", "b"})
        assert same_submission(stored, self.video)

    def test_no_tags_equal_an_empty_list(self):
        stored = StoredVideo(uuid.UUID(int=1), "n", "", ID, None)
        assert same_submission(stored, {**self.video, "tags": []})

    @pytest.mark.parametrize(
        "stored",
        [
            StoredVideo(uuid.UUID(int=2), "n", "", ID, {"a", "b"}),
            StoredVideo(uuid.UUID(int=1), "other", "", ID, {"a", "b"}),
            StoredVideo(uuid.UUID(int=1), "n", "", ID, {"a"}),
        ],
    )
    def test_anything_different_is_another_video(self, stored):
        assert not same_submission(stored, self.video)
