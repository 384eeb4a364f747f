"""The statistics service: `nameko run services.statistics.service`.

A play is counted each time one starts. Counters are not idempotent: a retried
record_playback_started may count a play twice, which is the usual trade for a view counter
(Cassandra counters cannot be written conditionally).
"""

from services.common.cassandra import CassandraRepository
from services.common.metrics import Metrics
from services.common.rpc import rpc
from services.common.schemas import shared
from services.common.tracing import Tracing
from services.statistics import schemas
from services.statistics.repository import StatisticsRepository


class StatisticsService:
    name = "statistics"

    repository = CassandraRepository(StatisticsRepository)
    metrics = Metrics()
    tracing = Tracing()

    @rpc(schemas.RecordPlaybackStartedRequest)
    def record_playback_started(self, request):
        """Count one more play of the video."""
        self.repository.record_play(request["video_id"])
        return {}

    @rpc(schemas.GetNumberOfPlaysRequest)
    def get_number_of_plays(self, request):
        """One entry per id asked (1 to 20), in the order asked; 0 plays for an unknown video."""
        views = self.repository.views(request["video_ids"])
        return shared(schemas.PlayStats, many=True).dump(
            {"video_id": video_id, "views": views.get(video_id, 0)}
            for video_id in request["video_ids"]
        )
