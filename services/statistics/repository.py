"""Every CQL statement of the statistics service."""

import uuid

from services.common.cassandra import point_reads


class StatisticsRepository:
    def __init__(self, session):
        self.session = session
        self.count_play = session.prepare(
            "UPDATE video_playback_stats SET views = views + 1 WHERE videoid = ?"
        )
        self.select_views = session.prepare(
            "SELECT videoid, views FROM video_playback_stats WHERE videoid = ?"
        )

    def record_play(self, video_id: uuid.UUID) -> None:
        self.session.execute(self.count_play, (video_id,))

    def views(self, video_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
        """The play counts of the videos that have any; point reads run concurrently."""
        return {
            row.videoid: row.views or 0
            for row in point_reads(self.session, self.select_views, video_ids)
        }
