"""The pure rules of the video listings: day buckets, starting points and paging positions.

Both listings (the latest videos, a user's videos) are newest first: `added_date` descending,
then `videoid` ascending among videos added in the same millisecond, as their tables cluster.
The latest videos are partitioned by UTC day, so a page of them is read day after day, and its
paging state says which day to resume in and where (the driver's paging state in that day).
"""

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from services.common import paging
from services.common.errors import InvalidArgument
from services.common.timestamps import to_millis

# latest_videos rows live 7 days (their TTL), so today and the 7 days before may hold some.
LATEST_VIDEOS_DAYS = 8

DAY_FORMAT = "%Y%m%d"
# Each listing's paging states start with their own tag, so one is refused by the other.
LATEST_VIDEOS_TAG = b"L"
USER_VIDEOS_TAG = b"U"
NOT_OURS = "is not a paging state this service issued"


@dataclass(frozen=True)
class Start:
    """An inclusive starting point: the page begins with this video."""

    added_date: datetime
    video_id: uuid.UUID

    @property
    def day(self) -> date:
        return to_millis(self.added_date).date()


@dataclass(frozen=True)
class DayPosition:
    """Where a page of the latest videos resumes: a day, and where in it (None: at its top)."""

    day: date
    driver_state: bytes | None = None


def day_bucket(day: date) -> str:
    """The latest_videos partition key of a UTC day: `yyyymmdd`."""
    return day.strftime(DAY_FORMAT)


def days_to_read(today: date, first: date | None = None) -> list[date]:
    """The days to read, newest first: from `first` (today by default, never later) back to the
    oldest day that may still hold latest videos."""
    oldest = today - timedelta(days=LATEST_VIDEOS_DAYS - 1)
    day = min(first or today, today)
    days = []
    while day >= oldest:
        days.append(day)
        day -= timedelta(days=1)
    return days


def drop_rows_before_start(rows: list, start: Start) -> tuple[list, bool]:
    """The rows from the starting video on, and whether to keep dropping in the next rows.

    A listing is read from `added_date <= start.added_date`, which also returns the videos of the
    same millisecond that the table orders before the starting video; a client saw those before
    the start, so they are dropped. (CQL's `(added_date, videoid) <= (?, ?)` cannot do this: with
    added_date descending and videoid ascending it would skip the videos after the start instead.)
    """
    for index, row in enumerate(rows):
        if to_millis(row.added_date) != start.added_date or row.video_id == start.video_id:
            return rows[index:], False
    return [], True


def encode_day_position(position: DayPosition | None) -> str:
    if position is None:
        return ""
    day = day_bucket(position.day).encode("ascii")
    return paging.encode(LATEST_VIDEOS_TAG + day + (position.driver_state or b""))


def decode_day_position(text: str) -> DayPosition | None:
    state = paging.decode(text)
    if state is None:
        return None
    tag, day, driver_state = state[:1], state[1:9], state[9:]
    if tag != LATEST_VIDEOS_TAG or not day.isdigit():
        raise InvalidArgument("paging_state", NOT_OURS)
    try:
        parsed = datetime.strptime(day.decode("ascii"), DAY_FORMAT).date()
    except (UnicodeDecodeError, ValueError):
        raise InvalidArgument("paging_state", NOT_OURS) from None
    return DayPosition(parsed, driver_state or None)


def user_scope(user_id: uuid.UUID) -> bytes:
    """A user's listing: its paging states are refused for another user's."""
    return USER_VIDEOS_TAG + user_id.bytes
