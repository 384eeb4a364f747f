"""Events the videos service publishes (documented in docs/events.md)."""

from marshmallow import Schema, fields

from services.common.events import Event
from services.common.fields import Timestamp


class YouTubeVideoAddedPayload(Schema):
    """KillrVideo's YouTubeVideoAdded. `added_date` is the stored one; `timestamp` is when this
    submission happened: the same instant, except when a retry publishes the event again."""

    video_id = fields.UUID(required=True)
    user_id = fields.UUID(required=True)
    name = fields.String(required=True)
    description = fields.String(required=True)
    location = fields.String(required=True)
    preview_image_location = fields.String(required=True)
    tags = fields.List(fields.String(), required=True)
    added_date = Timestamp(required=True)
    timestamp = Timestamp(required=True)


YOUTUBE_VIDEO_ADDED = Event("youtube_video_added", YouTubeVideoAddedPayload)


class VideoTagsUpdatedPayload(Schema):
    """A video's tags were changed (by an operator): the new and the previous tags, and what a
    preview of the video shows, so that indexes can follow without asking."""

    video_id = fields.UUID(required=True)
    user_id = fields.UUID(required=True)
    name = fields.String(required=True)
    preview_image_location = fields.String(required=True)
    added_date = Timestamp(required=True)
    tags = fields.List(fields.String(), required=True)
    previous_tags = fields.List(fields.String(), required=True)
    timestamp = Timestamp(required=True)


VIDEO_TAGS_UPDATED = Event("video_tags_updated", VideoTagsUpdatedPayload)
