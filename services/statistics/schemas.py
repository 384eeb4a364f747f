"""The statistics service's boundaries: RPC requests and replies, as marshmallow schemas."""

from marshmallow import Schema, fields

from services.common.fields import id_list


class RecordPlaybackStartedRequest(Schema):
    video_id = fields.UUID(required=True)


class GetNumberOfPlaysRequest(Schema):
    video_ids = id_list()


class PlayStats(Schema):
    video_id = fields.UUID()
    views = fields.Integer()
