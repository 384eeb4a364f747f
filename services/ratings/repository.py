"""Every CQL statement of the ratings service."""

import uuid

from services.common.cassandra import applied


class RatingsRepository:
    def __init__(self, session):
        self.session = session
        self.select_user_rating = session.prepare(
            "SELECT rating FROM video_ratings_by_user WHERE videoid = ? AND userid = ?"
        )
        self.insert_first_rating = session.prepare(
            "INSERT INTO video_ratings_by_user (videoid, userid, rating) VALUES (?, ?, ?) "
            "IF NOT EXISTS"
        )
        self.replace_rating = session.prepare(
            "UPDATE video_ratings_by_user SET rating = ? WHERE videoid = ? AND userid = ? "
            "IF rating = ?"
        )
        self.count_rating = session.prepare(
            "UPDATE video_ratings SET rating_counter = rating_counter + ?, "
            "rating_total = rating_total + ? WHERE videoid = ?"
        )
        self.select_rating = session.prepare(
            "SELECT rating_counter, rating_total FROM video_ratings WHERE videoid = ?"
        )

    def user_rating(self, video_id: uuid.UUID, user_id: uuid.UUID) -> int | None:
        row = self.session.execute(self.select_user_rating, (video_id, user_id)).one()
        return row.rating if row else None

    def rate(self, video_id: uuid.UUID, user_id: uuid.UUID, rating: int) -> None:
        """Record the user's rating, replacing any earlier one, and move the video's counters.

        The user's row changes by compare-and-set, so that concurrent ratings by one user each see
        the rating they replace, and the counters (which cannot join a batch with it) move by
        exactly the difference: one more rater only the first time.
        """
        previous = self.user_rating(video_id, user_id)
        while True:
            if previous is None:
                result = self.session.execute(self.insert_first_rating, (video_id, user_id, rating))
            else:
                result = self.session.execute(
                    self.replace_rating, (rating, video_id, user_id, previous)
                )
            if applied(result):
                break
            previous = result.one().rating
        raters = 1 if previous is None else 0
        self.session.execute(self.count_rating, (raters, rating - (previous or 0), video_id))

    def totals(self, video_id: uuid.UUID) -> tuple[int, int]:
        row = self.session.execute(self.select_rating, (video_id,)).one()
        if row is None:
            return 0, 0
        return row.rating_counter or 0, row.rating_total or 0
