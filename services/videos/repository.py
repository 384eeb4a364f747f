"""Every CQL statement of the videos service."""

import functools
import uuid
from datetime import date, datetime

from cassandra.query import BatchStatement, BatchType

from services.common.cassandra import applied, multi_get, read_page
from services.common.timestamps import to_millis
from services.videos.listing import DayPosition, Start, day_bucket, drop_rows_before_start

# The columns of a videos row, as the service names them, in the order of the INSERTs below.
VIDEO_FIELDS = (
    "video_id",
    "user_id",
    "name",
    "description",
    "location",
    "location_type",
    "preview_image_location",
    "tags",
    "added_date",
)


def same_submission(stored, video: dict) -> bool:
    """Whether a stored videos row is this submission (so submitting it again is a retry)."""
    return (stored.userid, stored.name, stored.description, stored.location) == (
        video["user_id"],
        video["name"],
        video["description"],
        video["location"],
    ) and set(stored.tags or ()) == set(video["tags"])


class VideosRepository:
    def __init__(self, session):
        self.session = session
        prepare = session.prepare
        self.claim_video_id = prepare(
            "INSERT INTO videos (videoid, userid, name, description, location, location_type, "
            "preview_image_location, tags, added_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "IF NOT EXISTS"
        )
        self.insert_video = prepare(
            "INSERT INTO videos (videoid, userid, name, description, location, location_type, "
            "preview_image_location, tags, added_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )
        self.insert_user_video = prepare(
            "INSERT INTO user_videos (userid, added_date, videoid, name, preview_image_location) "
            "VALUES (?, ?, ?, ?, ?)"
        )
        # Seven days: listing.LATEST_VIDEOS_DAYS covers the days these rows can live in.
        self.insert_latest_video = prepare(
            "INSERT INTO latest_videos "
            "(yyyymmdd, added_date, videoid, userid, name, preview_image_location) "
            "VALUES (?, ?, ?, ?, ?, ?) USING TTL 604800"
        )
        self.select_video = prepare(
            "SELECT videoid AS video_id, userid AS user_id, name, description, location, "
            "location_type, preview_image_location, tags, added_date FROM videos WHERE videoid = ?"
        )
        self.update_tags = prepare("UPDATE videos SET tags = ? WHERE videoid = ?")
        self.select_previews = prepare(
            "SELECT videoid AS video_id, userid AS user_id, added_date, name, "
            "preview_image_location FROM videos WHERE videoid IN ?"
        )
        self.select_latest = prepare(
            "SELECT videoid AS video_id, userid AS user_id, added_date, name, "
            "preview_image_location FROM latest_videos WHERE yyyymmdd = ?"
        )
        self.select_latest_from = prepare(
            "SELECT videoid AS video_id, userid AS user_id, added_date, name, "
            "preview_image_location FROM latest_videos WHERE yyyymmdd = ? AND added_date <= ?"
        )
        self.select_user_videos = prepare(
            "SELECT userid AS user_id, videoid AS video_id, added_date, name, "
            "preview_image_location FROM user_videos WHERE userid = ?"
        )
        self.select_user_videos_from = prepare(
            "SELECT userid AS user_id, videoid AS video_id, added_date, name, "
            "preview_image_location FROM user_videos WHERE userid = ? AND added_date <= ?"
        )

    def add(self, video: dict) -> datetime | None:
        """Store a video; returns its added_date, or None when another video has its id.

        The id is claimed with a lightweight transaction, then the video's rows in videos,
        user_videos and latest_videos are written in one logged batch with one added_date, so
        they are all written or none. Submitting the same video again (a retry) writes the same
        rows again, under the added_date first stored: it completes a submission whose batch failed
        and adds no second listing entry.
        """
        claim = self.session.execute(self.claim_video_id, [video[name] for name in VIDEO_FIELDS])
        if not applied(claim):
            stored = claim.one()
            if not same_submission(stored, video):
                return None
            video = {**video, "added_date": to_millis(stored.added_date)}
        added = video["added_date"]
        batch = BatchStatement(BatchType.LOGGED)
        # The claim wrote this row already: rewriting it keeps the batch the unit of a video.
        batch.add(self.insert_video, [video[name] for name in VIDEO_FIELDS])
        batch.add(
            self.insert_user_video,
            (
                video["user_id"],
                added,
                video["video_id"],
                video["name"],
                video["preview_image_location"],
            ),
        )
        batch.add(
            self.insert_latest_video,
            (
                day_bucket(added.date()),
                added,
                video["video_id"],
                video["user_id"],
                video["name"],
                video["preview_image_location"],
            ),
        )
        self.session.execute(batch)
        return added

    def set_tags(self, video_id: uuid.UUID, tags: list[str]) -> None:
        self.session.execute(self.update_tags, (set(tags), video_id))

    def video(self, video_id: uuid.UUID) -> dict | None:
        row = self.session.execute(self.select_video, (video_id,)).one()
        if row is None:
            return None
        return {**row._asdict(), "tags": list(row.tags or ())}

    def previews(self, video_ids: list[uuid.UUID]) -> list:
        """Previews of the videos that exist, in the order asked."""
        return multi_get(self.session, self.select_previews, video_ids, lambda row: row.video_id)

    def latest_previews(
        self, days: list[date], page_size: int, start: Start | None, driver_state: bytes | None
    ) -> tuple[list, DayPosition | None]:
        """A page of the latest videos, read from `days` in turn (resuming the first one at
        `driver_state`), and where the next page starts: None when no day has more."""
        previews = []
        for index, day in enumerate(days):
            start_of_day = start if start and start.day == day else None
            if start_of_day:
                statement, params = self.select_latest_from, (day_bucket(day), start.added_date)
            else:
                statement, params = self.select_latest, (day_bucket(day),)
            rows, driver_state = self._read_partition(
                statement, params, page_size - len(previews), driver_state, start_of_day
            )
            previews += rows
            if len(previews) < page_size:
                continue  # this day is exhausted (driver_state is None): on to the day before
            if driver_state:
                return previews, DayPosition(day, driver_state)
            if index + 1 < len(days):
                return previews, DayPosition(days[index + 1])
            break
        return previews, None

    def user_previews(
        self, user_id: uuid.UUID, page_size: int, start: Start | None, driver_state: bytes | None
    ) -> tuple[list, bytes | None]:
        """A page of a user's videos, and the driver's paging state for the next (None: no more)."""
        if start:
            statement, params = self.select_user_videos_from, (user_id, start.added_date)
        else:
            statement, params = self.select_user_videos, (user_id,)
        return self._read_partition(statement, params, page_size, driver_state, start)

    def _read_partition(self, statement, params, room: int, driver_state, start: Start | None):
        skip_head = start and functools.partial(drop_rows_before_start, start=start)
        return read_page(self.session, statement, params, room, driver_state, skip_head)
