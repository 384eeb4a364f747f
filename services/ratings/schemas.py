"""The ratings service's boundaries: RPC requests and replies, as marshmallow schemas."""

from marshmallow import Schema, fields, validate


class RateVideoRequest(Schema):
    video_id = fields.UUID(required=True)
    user_id = fields.UUID(required=True)
    rating = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=5))


class GetRatingRequest(Schema):
    video_id = fields.UUID(required=True)


class GetUserRatingRequest(Schema):
    video_id = fields.UUID(required=True)
    user_id = fields.UUID(required=True)


class Rating(Schema):
    video_id = fields.UUID()
    ratings_count = fields.Integer()
    ratings_total = fields.Integer()


class UserRating(Schema):
    video_id = fields.UUID()
    user_id = fields.UUID()
    rating = fields.Integer()
