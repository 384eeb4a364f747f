"""The suggestions service: `nameko run services.suggestions.service`.

It keeps its own copy of what it needs, fed by events: the videos and their tags
(`youtube_video_added`, `video_tags_updated`) and every user's latest rating of each video
(`user_rated_video`). Each is written at its event's own time, so a late or repeated event never
replaces newer data.

get_related_videos: the other videos that share tags with a video, those sharing the most tags
first, then the newest. The video itself is never among them; an unknown video has none.

get_suggested_for_user: from the videos the user liked (rated 4 or 5 stars), each candidate
scores one point per tag it shares with a liked video, and one point per other user who liked
the same video and liked the candidate too. Highest score first, then the newest. Videos the user
has rated (any rating) are left out. A user without ratings gets an empty list, not an error.

Bounds on one request: 20 tags per video, 500 videos per tag, 20 liked videos, 200 ratings per
user or video, 100 similar users, and previews of the 200 best candidates. Pages are cut from
the ranking; a page fetched after new events may repeat or skip a video of the previous page.
"""

from collections import Counter

from services.common import paging
from services.common.cassandra import CassandraRepository
from services.common.handlers import on_event
from services.common.metrics import Metrics
from services.common.rpc import rpc
from services.common.schemas import shared
from services.common.tracing import Tracing
from services.ratings.events import USER_RATED_VIDEO
from services.suggestions import ranking, schemas
from services.suggestions.repository import SuggestionsRepository
from services.videos.events import VIDEO_TAGS_UPDATED, YOUTUBE_VIDEO_ADDED

# Paging states carry their list and its key, so one list's state cannot page another.
RELATED, FOR_USER = b"R", b"F"


class SuggestionsService:
    name = "suggestions"

    repository = CassandraRepository(SuggestionsRepository)
    metrics = Metrics()
    tracing = Tracing()

    @on_event("videos", YOUTUBE_VIDEO_ADDED)
    def remember_video(self, video):
        self.repository.add_video(video, ranking.normalized_tags(video["tags"]))

    @on_event("videos", VIDEO_TAGS_UPDATED)
    def follow_tags(self, change):
        tags = ranking.normalized_tags(change["tags"])
        removed = ranking.normalized_tags(change["previous_tags"]) - tags
        self.repository.add_video(change, tags, removed)

    @on_event("ratings", USER_RATED_VIDEO)
    def remember_rating(self, rating):
        self.repository.add_rating(
            rating["user_id"], rating["video_id"], rating["rating"], rating["rating_timestamp"]
        )

    @rpc(schemas.RelatedVideosRequest)
    def get_related_videos(self, request):
        """Videos sharing tags with the video, most shared first, a page at a time."""
        video_id = request["video_id"]
        video = self.repository.videos([video_id]).get(video_id)
        scores = self.related_scores(video_id, video["tags"]) if video else Counter()
        page, more = paging.page_of(
            self.ranked(scores),
            request["page_size"],
            RELATED + video_id.bytes,
            request["paging_state"],
        )
        return shared(schemas.RelatedVideosPage).dump(
            {"video_id": video_id, "videos": page, "paging_state": more}
        )

    @rpc(schemas.SuggestedForUserRequest)
    def get_suggested_for_user(self, request):
        """Videos for the user from what they liked, best first, a page at a time; empty for a
        user who has rated nothing."""
        user_id = request["user_id"]
        [ratings] = self.repository.ratings_by([user_id])
        liked = ranking.liked(ratings)[: ranking.MAX_LIKED_READ]
        scores = Counter()
        liked_videos = self.repository.videos(liked)
        for video_id, video in liked_videos.items():
            scores.update(self.related_scores(video_id, video["tags"]))
        raters_of_liked = self.repository.ratings_of(liked)
        raters = ranking.similar_users(raters_of_liked, user_id)
        their_ratings = dict(zip(raters, self.repository.ratings_by(raters), strict=True))
        for raters_of_one in raters_of_liked:
            scores.update(ranking.liked_alike(raters_of_one, their_ratings, user_id))
        for rated in ratings:
            scores.pop(rated, None)
        page, more = paging.page_of(
            self.ranked(scores),
            request["page_size"],
            FOR_USER + user_id.bytes,
            request["paging_state"],
        )
        return shared(schemas.SuggestedForUserPage).dump(
            {"user_id": user_id, "videos": page, "paging_state": more}
        )

    def related_scores(self, video_id, tags: set[str]) -> Counter:
        tags = sorted(tags)[: ranking.MAX_TAGS_READ]
        return ranking.shared_tags(self.repository.videos_tagged(tags), video_id)

    def ranked(self, scores: Counter) -> list[dict]:
        candidates = ranking.top_candidates(scores)
        return ranking.ordered(scores, self.repository.videos(candidates))
