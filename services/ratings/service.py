"""The ratings service: `nameko run services.ratings.service`."""

from services.common.cassandra import CassandraRepository
from services.common.events import EventPublisher
from services.common.metrics import Metrics
from services.common.rpc import rpc
from services.common.schemas import shared
from services.common.timestamps import Clock
from services.common.tracing import Tracing
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

    @rpc(schemas.RateVideoRequest)
    def rate_video(self, request):
        """Rate a video 1 to 5 stars; rating it again replaces the user's earlier rating.

        Returns the user's rating. Publishes `user_rated_video`.
        """
        self.repository.rate(request["video_id"], request["user_id"], request["rating"])
        self.publish(USER_RATED_VIDEO, {**request, "rating_timestamp": self.now()})
        return shared(schemas.UserRating).dump(request)

    @rpc(schemas.GetRatingRequest)
    def get_rating(self, request):
        """How many users rated a video and the sum of their ratings (0 and 0 when none)."""
        count, total = self.repository.totals(request["video_id"])
        return shared(schemas.Rating).dump(
            {"video_id": request["video_id"], "ratings_count": count, "ratings_total": total}
        )

    @rpc(schemas.GetUserRatingRequest)
    def get_user_rating(self, request):
        """The user's rating of a video, 0 when they have not rated it."""
        rating = self.repository.user_rating(request["video_id"], request["user_id"])
        return shared(schemas.UserRating).dump({**request, "rating": rating or 0})
