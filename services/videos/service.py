"""The videos service: `nameko run services.videos.service`."""

from services.common import paging
from services.common.cassandra import CassandraRepository
from services.common.errors import AlreadyExists, NotFound
from services.common.events import EventPublisher
from services.common.metrics import Metrics
from services.common.rpc import rpc
from services.common.schemas import VideoPreview, shared
from services.common.timestamps import Clock
from services.common.tracing import Tracing
from services.videos import listing, schemas, youtube
from services.videos.events import VIDEO_TAGS_UPDATED, YOUTUBE_VIDEO_ADDED
from services.videos.repository import VideosRepository


def starting_point(request: dict) -> listing.Start | None:
    if request["starting_added_date"] is None:
        return None
    return listing.Start(request["starting_added_date"], request["starting_video_id"])


class VideosService:
    name = "videos"

    repository = CassandraRepository(VideosRepository)
    metrics = Metrics()
    tracing = Tracing()
    publish = EventPublisher()
    now = Clock()

    @rpc(schemas.SubmitYouTubeVideoRequest)
    def submit_youtube_video(self, request):
        """Add a YouTube video to the catalog. `you_tube_video_id` is the video's id or its URL.

        Returns the stored video. Submitting the same video again is harmless (a retry); another
        video under a taken video_id raises AlreadyExists. Publishes `youtube_video_added`.
        """
        location = request.pop("you_tube_video_id")
        now = self.now()
        video = {
            **request,
            "tags": sorted(set(request["tags"])),
            "location": location,
            "location_type": schemas.YOUTUBE,
            "preview_image_location": youtube.preview_image_location(location),
            "added_date": now,
        }
        added = self.repository.add(video)
        if added is None:
            raise AlreadyExists(f"Another video already has the video_id {video['video_id']}")
        video["added_date"] = added
        self.publish(YOUTUBE_VIDEO_ADDED, {**video, "timestamp": now})
        return shared(schemas.Video).dump(video)

    @rpc(schemas.UpdateVideoTagsRequest)
    def update_video_tags(self, request):
        """Replace a video's tags (an operator's fix: not in the gRPC API). Returns the video.

        Publishes `video_tags_updated`, which search and suggestions follow.
        """
        video = self.repository.video(request["video_id"])
        if video is None:
            raise NotFound(f"No video has the video_id {request['video_id']}")
        tags = sorted(set(request["tags"]))
        self.repository.set_tags(video["video_id"], tags)
        self.publish(
            VIDEO_TAGS_UPDATED,
            {**video, "tags": tags, "previous_tags": video["tags"], "timestamp": self.now()},
        )
        return shared(schemas.Video).dump({**video, "tags": tags})

    @rpc(schemas.GetVideoRequest)
    def get_video(self, request):
        """The video with this id; NotFound when there is none."""
        video = self.repository.video(request["video_id"])
        if video is None:
            raise NotFound(f"No video has the video_id {request['video_id']}")
        return shared(schemas.Video).dump(video)

    @rpc(schemas.GetVideoPreviewsRequest)
    def get_video_previews(self, request):
        """Previews of the given videos (1 to 20 ids) that exist, in the order asked."""
        previews = self.repository.previews(request["video_ids"])
        return shared(VideoPreview, many=True).dump(previews)

    @rpc(schemas.PageRequest)
    def get_latest_video_previews(self, request):
        """The videos added today and in the 7 days before (UTC), newest first, a page at a time.

        page_size is 1 to 100. With starting_added_date and starting_video_id the page begins with
        that video. Pass the returned paging_state (with the same starting point) for the next
        page; "" means there is none.
        """
        start = starting_point(request)
        position = listing.decode_day_position(request["paging_state"])
        if position:
            first_day, driver_state = position.day, position.driver_state
        else:
            first_day, driver_state = start and start.day, None
        days = listing.days_to_read(self.now().date(), first_day)
        previews, next_position = self.repository.latest_previews(
            days, request["page_size"], start, driver_state
        )
        return shared(schemas.VideoPreviewPage).dump(
            {
                "video_previews": previews,
                "paging_state": listing.encode_day_position(next_position),
            }
        )

    @rpc(schemas.UserPageRequest)
    def get_user_video_previews(self, request):
        """A user's videos, newest first, a page at a time; same paging rules as the latest."""
        scope = listing.user_scope(request["user_id"])
        previews, driver_state = self.repository.user_previews(
            request["user_id"],
            request["page_size"],
            starting_point(request),
            paging.decode_scoped(scope, request["paging_state"]),
        )
        return shared(schemas.UserVideoPreviewPage).dump(
            {
                "user_id": request["user_id"],
                "video_previews": previews,
                "paging_state": paging.encode_scoped(scope, driver_state),
            }
        )
