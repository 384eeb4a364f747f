"""Every CQL statement of the ratings service.

A video's counters (video_ratings) follow its rating rows (video_ratings_by_user), but Cassandra
cannot write both in one step: counters join no batch with other tables, and a counter update is
not idempotent, so it can be neither retried blindly nor skipped. Each change of a user's rating
is therefore a *move* recorded in video_rating_moves while it is under way (see schema.cql and
docs/reliability.md, "Ratings and their counters"). With no move row for a user, the counters
reflect that user's rating row.
"""

import logging
import time
import uuid
from dataclasses import dataclass, replace

from cassandra.util import unix_time_from_uuid1, uuid_from_time

from services.common.cassandra import applied
from services.common.errors import BackendUnavailable

log = logging.getLogger(__name__)

# A move whose claim is older than this is taken to be abandoned (its caller died): another call
# carries it out. Longer than any one call can spend on it: its few statements, each bounded by
# the driver's request timeout, and Cassandra's own write timeouts.
MOVE_LEASE_SECONDS = 30.0
# How long a RateVideo waits for a move of the same user and video by another call to finish.
MOVE_WAIT_SECONDS = 3.0


@dataclass(frozen=True)
class Move:
    user_id: uuid.UUID
    from_rating: int | None  # None until the owner has read what the counters reflect
    to_rating: int
    claim: uuid.UUID | None  # None once its caller gave up on it


class RatingsRepository:
    def __init__(self, session):
        self.session = session
        self.select_user_rating = session.prepare(
            "SELECT rating FROM video_ratings_by_user WHERE videoid = ? AND userid = ?"
        )
        self.select_video_ratings = session.prepare(
            "SELECT rating FROM video_ratings_by_user WHERE videoid = ?"
        )
        self.write_rating = session.prepare(
            "UPDATE video_ratings_by_user SET rating = ? WHERE videoid = ? AND userid = ?"
        )
        self.count_rating = session.prepare(
            "UPDATE video_ratings SET rating_counter = rating_counter + ?, "
            "rating_total = rating_total + ? WHERE videoid = ?"
        )
        self.select_rating = session.prepare(
            "SELECT rating_counter, rating_total FROM video_ratings WHERE videoid = ?"
        )
        self.select_move = session.prepare(
            "SELECT userid, from_rating, to_rating, claim FROM video_rating_moves "
            "WHERE videoid = ? AND userid = ?"
        )
        self.select_video_moves = session.prepare(
            "SELECT userid, from_rating, to_rating, claim FROM video_rating_moves WHERE videoid = ?"
        )
        self.start_move = session.prepare(
            "INSERT INTO video_rating_moves (videoid, userid, to_rating, claim) "
            "VALUES (?, ?, ?, ?) IF NOT EXISTS"
        )
        # Every column is in the condition: the move taken over is exactly the one read (a
        # condition `claim = null` alone would also hold on a row deleted meanwhile).
        self.take_over_move = session.prepare(
            "UPDATE video_rating_moves SET claim = ? WHERE videoid = ? AND userid = ? "
            "IF claim = ? AND from_rating = ? AND to_rating = ?"
        )
        self.set_move_origin = session.prepare(
            "UPDATE video_rating_moves SET from_rating = ? WHERE videoid = ? AND userid = ? "
            "IF claim = ?"
        )
        self.release_move = session.prepare(
            "UPDATE video_rating_moves SET claim = null WHERE videoid = ? AND userid = ? "
            "IF claim = ?"
        )
        self.finish_move = session.prepare(
            "DELETE FROM video_rating_moves WHERE videoid = ? AND userid = ? IF claim = ?"
        )

    def user_rating(self, video_id: uuid.UUID, user_id: uuid.UUID) -> int | None:
        row = self.session.execute(self.select_user_rating, (video_id, user_id)).one()
        return row.rating if row else None

    def totals(self, video_id: uuid.UUID) -> tuple[int, int]:
        row = self.session.execute(self.select_rating, (video_id,)).one()
        if row is None:
            return 0, 0
        return row.rating_counter or 0, row.rating_total or 0

    def rate(self, video_id: uuid.UUID, user_id: uuid.UUID, rating: int) -> None:
        """Record the user's rating, replacing any earlier one, and move the video's counters.

        A move of this user's rating left unfinished by an earlier call (which failed or died
        after recording its rating) is carried out first: retrying a failed RateVideo repairs
        the counters. One move per user and video at a time: a call waits for another's.
        """
        give_up_at = time.monotonic() + MOVE_WAIT_SECONDS
        pause = 0.005
        while True:
            # The rating first, then the moves: with no move under way after the rating was read,
            # every move that wrote it has reached the counters.
            current = self.user_rating(video_id, user_id)
            move = self.pending_move(video_id, user_id)
            if move is None:
                if current == rating:
                    return
                claim = self.new_claim()
                started = self.session.execute(self.start_move, (video_id, user_id, rating, claim))
                if applied(started) and self.carry_out(
                    video_id, Move(user_id, None, rating, claim)
                ):
                    return
            elif self.abandoned(move):
                self.take_over(video_id, move)
            elif time.monotonic() < give_up_at:
                time.sleep(pause)  # a green sleep in the service: only this call waits
                pause = min(pause * 2, 0.2)
            else:
                raise BackendUnavailable(
                    "another call is still recording this user's rating of this video; retry"
                )

    def pending_move(self, video_id: uuid.UUID, user_id: uuid.UUID) -> Move | None:
        row = self.session.execute(self.select_move, (video_id, user_id)).one()
        return None if row is None else Move(row.userid, row.from_rating, row.to_rating, row.claim)

    def pending_moves(self, video_id: uuid.UUID) -> list[Move]:
        rows = self.session.execute(self.select_video_moves, (video_id,))
        return [Move(row.userid, row.from_rating, row.to_rating, row.claim) for row in rows]

    def new_claim(self) -> uuid.UUID:
        return uuid_from_time(time.time())

    def abandoned(self, move: Move) -> bool:
        return (
            move.claim is None
            or time.time() - unix_time_from_uuid1(move.claim) > MOVE_LEASE_SECONDS
        )

    def take_over(self, video_id: uuid.UUID, move: Move) -> bool:
        """Carry out a move its caller gave up on; False if another call took it first."""
        claim = self.new_claim()
        taken = self.session.execute(
            self.take_over_move,
            (claim, video_id, move.user_id, move.claim, move.from_rating, move.to_rating),
        )
        if not applied(taken):
            return False
        log.info("carrying out an unfinished rating move: %s", move)
        return self.carry_out(video_id, replace(move, claim=claim))

    def carry_out(self, video_id: uuid.UUID, move: Move) -> bool:
        """Record the move's rating and move the counters, holding its claim; False if the claim
        was lost (the move was taken over as abandoned: the one who took it carries it out).

        On a failure the claim is released, so that the next call carries the move out at once;
        the counters may or may not have moved (a timed-out counter write may have been
        applied), and that call moves them again: at least once (docs/reliability.md)."""
        try:
            from_rating = move.from_rating
            if from_rating is None:
                # Nobody writes the rating row while the move's origin is unknown: the counters
                # reflect what it holds now.
                from_rating = self.user_rating(video_id, move.user_id) or 0
                set_origin = self.session.execute(
                    self.set_move_origin, (from_rating, video_id, move.user_id, move.claim)
                )
                if not applied(set_origin):
                    return False
            if from_rating != move.to_rating:
                # Written again on a retry, to the same value: it may not have been the first time.
                self.session.execute(self.write_rating, (move.to_rating, video_id, move.user_id))
                raters = 1 if from_rating == 0 else 0
                self.session.execute(
                    self.count_rating, (raters, move.to_rating - from_rating, video_id)
                )
            finished = self.session.execute(self.finish_move, (video_id, move.user_id, move.claim))
            return applied(finished)
        except Exception:
            self.release(video_id, move)
            raise

    def release(self, video_id: uuid.UUID, move: Move) -> None:
        try:
            self.session.execute(self.release_move, (video_id, move.user_id, move.claim))
        except Exception as error:
            # The database failed us twice: the claim expires after MOVE_LEASE_SECONDS instead.
            log.warning("could not release a rating move (%r); it expires on its own", error)

    def reconcile(self, video_id: uuid.UUID, attempts: int = 20) -> tuple[tuple, tuple]:
        """Make the video's counters agree with its rating rows: (counters before, after).

        Unfinished moves whose callers gave up are carried out first. The rating rows are read
        between two reads of the counters, with no move under way before or after: if a move
        ran meanwhile, it tries again (up to `attempts` times, then raises BackendUnavailable).
        Counters can only be incremented: the difference is added."""
        pause = 0.05
        for _ in range(attempts):
            moves = self.pending_moves(video_id)
            if not moves:
                before = self.totals(video_id)
                rows = self.session.execute(self.select_video_ratings, (video_id,))
                ratings = [row.rating for row in rows]
                moves = self.pending_moves(video_id)
                counted = self.totals(video_id)
                if not moves and counted == before:
                    wanted = (len(ratings), sum(ratings))
                    if wanted != counted:
                        self.session.execute(
                            self.count_rating,
                            (wanted[0] - counted[0], wanted[1] - counted[1], video_id),
                        )
                    return counted, wanted
            abandoned = [move for move in moves if self.abandoned(move)]
            for move in abandoned:
                self.take_over(video_id, move)
            if not abandoned:
                time.sleep(pause)  # moves by live calls: let them finish
                pause = min(pause * 2, 1.0)
        raise BackendUnavailable(f"video {video_id} kept changing while its ratings were counted")
