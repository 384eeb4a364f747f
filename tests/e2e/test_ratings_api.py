"""RatingsService through the gateway."""

from grpc import StatusCode

from killrvideo.ratings.ratings_service_pb2 import (
    GetRatingRequest,
    GetUserRatingRequest,
    RateVideoRequest,
)
from tests.e2e.conftest import CALL_TIMEOUT, failure, new_id


def test_a_rating_counts_once_per_user_and_can_be_changed(api):
    video_id, first, second = new_id(), new_id(), new_id()
    for user_id, rating in ((first, 4), (second, 2), (first, 5)):
        api.ratings.RateVideo(
            RateVideoRequest(video_id=video_id, user_id=user_id, rating=rating),
            timeout=CALL_TIMEOUT,
        )

    totals = api.ratings.GetRating(GetRatingRequest(video_id=video_id), timeout=CALL_TIMEOUT)
    assert (totals.video_id, totals.ratings_count, totals.ratings_total) == (video_id, 2, 7)

    mine = api.ratings.GetUserRating(
        GetUserRatingRequest(video_id=video_id, user_id=first), timeout=CALL_TIMEOUT
    )
    assert (mine.video_id, mine.user_id, mine.rating) == (video_id, first, 5)


def test_no_rating_is_zero_not_an_error(api):
    video_id, user_id = new_id(), new_id()
    totals = api.ratings.GetRating(GetRatingRequest(video_id=video_id), timeout=CALL_TIMEOUT)
    assert (totals.video_id, totals.ratings_count, totals.ratings_total) == (video_id, 0, 0)
    mine = api.ratings.GetUserRating(
        GetUserRatingRequest(video_id=video_id, user_id=user_id), timeout=CALL_TIMEOUT
    )
    assert (mine.user_id, mine.rating) == (user_id, 0)


def test_ratings_are_1_to_5_stars(api):
    for rating in (0, 6, -1):
        error = failure(
            api.ratings.RateVideo,
            RateVideoRequest(video_id=new_id(), user_id=new_id(), rating=rating),
        )
        assert error.code() == StatusCode.INVALID_ARGUMENT
        assert "rating" in error.details()


def test_a_missing_id_wrapper_is_named(api):
    error = failure(api.ratings.RateVideo, RateVideoRequest(video_id=new_id(), rating=3))
    assert error.code() == StatusCode.INVALID_ARGUMENT
    assert error.details() == "user_id: is required"
