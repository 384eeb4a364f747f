"""The videos service's boundaries: RPC requests and replies, as marshmallow schemas."""

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from services.common.fields import Timestamp, id_list, page_size, paging_state
from services.common.schemas import VideoPreview
from services.videos import youtube

# Bounds on what one request may store: YouTube's own limits (100-character titles, 5000-character
# descriptions, 500 characters of tags) with room to spare, and small enough to refuse abuse.
MAX_NAME_LENGTH = 200
MAX_DESCRIPTION_LENGTH = 5000
MAX_TAGS = 50
MAX_TAG_LENGTH = 100

# KillrVideo's VideoLocationType.
YOUTUBE = 0


class YouTubeVideoId(fields.String):
    """A bare YouTube video id, or a YouTube URL holding one; loads as the bare id."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return youtube.video_id(text)
        except ValueError as error:
            raise ValidationError(str(error)) from None


def tag_list() -> fields.List:
    return fields.List(
        fields.String(validate=validate.Length(min=1, max=MAX_TAG_LENGTH)),
        load_default=list,
        validate=validate.Length(max=MAX_TAGS),
    )


class SubmitYouTubeVideoRequest(Schema):
    video_id = fields.UUID(required=True)
    user_id = fields.UUID(required=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=MAX_NAME_LENGTH))
    description = fields.String(
        load_default="", validate=validate.Length(max=MAX_DESCRIPTION_LENGTH)
    )
    tags = tag_list()
    you_tube_video_id = YouTubeVideoId(required=True)


class UpdateVideoTagsRequest(Schema):
    video_id = fields.UUID(required=True)
    tags = tag_list()


class GetVideoRequest(Schema):
    video_id = fields.UUID(required=True)


class GetVideoPreviewsRequest(Schema):
    video_ids = id_list()


class PageRequest(Schema):
    """A page of a listing: its size, an optional inclusive starting video, the paging state."""

    page_size = page_size()
    starting_added_date = Timestamp(load_default=None, allow_none=True)
    starting_video_id = fields.UUID(load_default=None, allow_none=True)
    paging_state = paging_state()

    @validates_schema
    def start_is_date_and_id(self, data, **kwargs):
        # A starting point is the pair: a date alone cannot say where among its videos to begin.
        date, video_id = data.get("starting_added_date"), data.get("starting_video_id")
        if date is not None and video_id is None:
            raise ValidationError("Required with starting_added_date.", "starting_video_id")
        if video_id is not None and date is None:
            raise ValidationError("Required with starting_video_id.", "starting_added_date")


class UserPageRequest(PageRequest):
    user_id = fields.UUID(required=True)


class Video(Schema):
    video_id = fields.UUID()
    user_id = fields.UUID()
    name = fields.String()
    description = fields.String()
    location = fields.String()
    location_type = fields.Integer()
    preview_image_location = fields.String()
    tags = fields.List(fields.String())
    added_date = Timestamp()


class VideoPreviewPage(Schema):
    video_previews = fields.List(fields.Nested(VideoPreview))
    paging_state = fields.String()


class UserVideoPreviewPage(VideoPreviewPage):
    user_id = fields.UUID()
