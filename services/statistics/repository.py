"""Every CQL statement of the statistics service."""

import uuid

from services.common.cassandra import multi_get


class StatisticsRepository:
    def __init__(self, session):
        self.session = session
        self.count_play = session.prepare(
            "UPDATE video_playback_stats SET views = views + 1 WHERE videoid = ?"
        )
        self.select_views = session.prepare(
            "SELECT videoid, views FROM video_playback_stats WHERE videoid IN ?"
        )

    def record_play(self, video_id: uuid.UUID) -> None:
        self.session.execute(self.count_play, (video_id,))

    def views(self, video_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
        """The play counts of the videos that have any."""
        rows = multi_get(self.session, self.select_views, video_ids, lambda row: row.videoid)
        return {row.videoid: row.views or 0 for row in rows}
