"""The ratings service: `nameko run services.ratings.service`."""

from services.common.cassandra import CassandraRepository
from services.common.events import EventPublisher
from services.common.metrics import Metrics
from services.common.rpc import rpc
from services.common.schemas import shared
from services.common.timestamps import Clock
from services.common.tracing import Tracing
from services.common.validation import load
from services.ratings import schemas
from services.ratings.events import USER_RATED_VIDEO
from services.ratings.repository import RatingsRepository


class RatingsService:
    name = "ratings"

    repository = CassandraRepository(RatingsRepository)
    metrics = Metrics()
    tracing = Tracing()
    publish = EventPublisher()
    now = Clock()

    @rpc
    def rate_video(self, video_id, user_id, rating):
        """Rate a video 1 to 5 stars; rating it again replaces the user's earlier rating.

        Returns the user's rating. Publishes `user_rated_video`.
        """
        request = load(schemas.RateVideoRequest, video_id=video_id, user_id=user_id, rating=rating)
        self.repository.rate(request["video_id"], request["user_id"], request["rating"])
        self.publish(USER_RATED_VIDEO, {**request, "rating_timestamp": self.now()})
        return shared(schemas.UserRating).dump(request)

    @rpc
    def get_rating(self, video_id):
        """How many users rated a video and the sum of their ratings (0 and 0 when none)."""
        request = load(schemas.GetRatingRequest, video_id=video_id)
        count, total = self.repository.totals(request["video_id"])
        return shared(schemas.Rating).dump(
            {"video_id": request["video_id"], "ratings_count": count, "ratings_total": total}
        )

    @rpc
    def get_user_rating(self, video_id, user_id):
        """The user's rating of a video, 0 when they have not rated it."""
        request = load(schemas.GetUserRatingRequest, video_id=video_id, user_id=user_id)
        rating = self.repository.user_rating(request["video_id"], request["user_id"])
        return shared(schemas.UserRating).dump({**request, "rating": rating or 0})
