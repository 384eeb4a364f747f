"""marshmallow schemas more than one service replies with."""

from marshmallow import Schema, fields

from services.common.fields import Timestamp


class VideoPreview(Schema):
    """What a list of videos shows of each: KillrVideo's VideoPreview, SearchResultsVideoPreview
    and SuggestedVideoPreview, which have the same fields."""

    video_id = fields.UUID()
    added_date = Timestamp()
    name = fields.String()
    preview_image_location = fields.String()
    user_id = fields.UUID()
