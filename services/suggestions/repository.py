"""Every CQL statement of the suggestions service."""

import uuid

from services.common.cassandra import point_reads, reads, run_all
from services.common.timestamps import to_micros

# Bounds on the work of one request: videos read per tag, ratings read per user or per video.
MAX_VIDEOS_PER_TAG = 500
MAX_RATINGS_READ = 200


class SuggestionsRepository:
    def __init__(self, session):
        self.session = session
        prepare = session.prepare
        # Videos and their tags are written at their event's time: a late or repeated event
        # never undoes a newer change of a video's tags (the write with the latest time wins).
        self.insert_video = prepare(
            "INSERT INTO suggestions_videos "
            "(videoid, userid, name, preview_image_location, added_date, tags) "
            "VALUES (?, ?, ?, ?, ?, ?) USING TIMESTAMP ?"
        )
        self.insert_tagged = prepare(
            "INSERT INTO suggestions_videos_by_tag (tag, videoid) VALUES (?, ?) USING TIMESTAMP ?"
        )
        self.delete_tagged = prepare(
            "DELETE FROM suggestions_videos_by_tag USING TIMESTAMP ? WHERE tag = ? AND videoid = ?"
        )
        # Written at the rating's own time: a late or repeated delivery of an older rating can
        # never replace a newer one (Cassandra keeps the write with the latest timestamp).
        self.insert_rating_by_user = prepare(
            "INSERT INTO suggestions_ratings_by_user (userid, videoid, rating) VALUES (?, ?, ?) "
            "USING TIMESTAMP ?"
        )
        self.insert_rating_by_video = prepare(
            "INSERT INTO suggestions_ratings_by_video (videoid, userid, rating) VALUES (?, ?, ?) "
            "USING TIMESTAMP ?"
        )
        self.select_video = prepare(
            "SELECT videoid AS video_id, userid AS user_id, name, preview_image_location, "
            "added_date, tags FROM suggestions_videos WHERE videoid = ?"
        )
        self.select_tagged = prepare(
            "SELECT videoid FROM suggestions_videos_by_tag WHERE tag = ? LIMIT ?"
        )
        self.select_user_ratings = prepare(
            "SELECT videoid, rating FROM suggestions_ratings_by_user WHERE userid = ? LIMIT ?"
        )
        self.select_video_ratings = prepare(
            "SELECT userid, rating FROM suggestions_ratings_by_video WHERE videoid = ? LIMIT ?"
        )

    def add_video(self, video: dict, tags: set[str], removed: set[str] = frozenset()) -> None:
        """Remember a video with its tags (and forget the `removed` ones); upserts of the event's
        values at its time, so the same event twice changes nothing."""
        at = to_micros(video["timestamp"])
        row = (
            video["video_id"],
            video["user_id"],
            video["name"],
            video["preview_image_location"],
            video["added_date"],
            tags,
            at,
        )
        run_all(
            self.session,
            [
                (self.insert_video, row),
                *((self.insert_tagged, (tag, video["video_id"], at)) for tag in tags),
                *((self.delete_tagged, (at, tag, video["video_id"])) for tag in removed),
            ],
        )

    def add_rating(self, user_id, video_id, rating: int, rated_at) -> None:
        at = to_micros(rated_at)
        run_all(
            self.session,
            [
                (self.insert_rating_by_user, (user_id, video_id, rating, at)),
                (self.insert_rating_by_video, (video_id, user_id, rating, at)),
            ],
        )

    def videos(self, video_ids) -> dict[uuid.UUID, dict]:
        """The known videos among `video_ids`: preview fields and tags."""
        rows = point_reads(self.session, self.select_video, list(video_ids))
        return {row.video_id: {**row._asdict(), "tags": set(row.tags or ())} for row in rows}

    def videos_tagged(self, tags: list[str]) -> list[list[uuid.UUID]]:
        """The ids of the videos of each tag, in the order of `tags`."""
        params = [(tag, MAX_VIDEOS_PER_TAG) for tag in tags]
        return [
            [row.videoid for row in rows]
            for rows in reads(self.session, self.select_tagged, params)
        ]

    def ratings_by(self, user_ids: list) -> list[dict[uuid.UUID, int]]:
        """Each user's ratings, video id → stars, in the order of `user_ids`."""
        params = [(user_id, MAX_RATINGS_READ) for user_id in user_ids]
        return [
            {row.videoid: row.rating for row in rows}
            for rows in reads(self.session, self.select_user_ratings, params)
        ]

    def ratings_of(self, video_ids: list) -> list[dict[uuid.UUID, int]]:
        """Each video's ratings, user id → stars, in the order of `video_ids`."""
        params = [(video_id, MAX_RATINGS_READ) for video_id in video_ids]
        return [
            {row.userid: row.rating for row in rows}
            for rows in reads(self.session, self.select_video_ratings, params)
        ]
