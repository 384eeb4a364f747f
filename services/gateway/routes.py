"""Which domain RPC answers each KillrVideo RPC: the gateway's whole routing, in one table.

A request's fields are the domain RPC's keyword arguments and the reply's keys are the
response's fields (see convert.py), so a route names only its target, plus the response field
that a reply which is a bare list fills. An RPC routed to None answers UNIMPLEMENTED.
"""

from dataclasses import dataclass

from nameko_grpc.inspection import Inspector

from killrvideo.comments.comments_service_pb2_grpc import CommentsServiceStub
from killrvideo.ratings.ratings_service_pb2_grpc import RatingsServiceStub
from killrvideo.search.search_service_pb2_grpc import SearchServiceStub
from killrvideo.statistics.statistics_service_pb2_grpc import StatisticsServiceStub
from killrvideo.suggested_videos.suggested_videos_service_pb2_grpc import (
    SuggestedVideoServiceStub,
)
from killrvideo.uploads.uploads_service_pb2_grpc import UploadsServiceStub
from killrvideo.user_management.user_management_service_pb2_grpc import (
    UserManagementServiceStub,
)
from killrvideo.video_catalog.video_catalog_service_pb2_grpc import VideoCatalogServiceStub
from services.gateway import convert


@dataclass(frozen=True)
class Call:
    """Answer with the domain RPC `target` ("<service>.<method>")."""

    target: str
    list_field: str | None = None  # the response field that a reply which is a list fills

    @property
    def service_name(self) -> str:
        return self.target.split(".")[0]

    def answer(self, domain, request, response_class):
        service_name, method_name = self.target.split(".")
        reply = domain[service_name][method_name](**convert.request_to_kwargs(request))
        if self.list_field:
            reply = {self.list_field: reply}
        return convert.message_from_data(response_class, reply)


def not_built(stub) -> dict:
    """Every RPC of a KillrVideo service whose domain service is not built yet."""
    return dict.fromkeys(Inspector(stub).method_descriptors)


ROUTES = {
    UserManagementServiceStub: {
        "CreateUser": Call("users.create_user"),
        "VerifyCredentials": Call("users.verify_credentials"),
        "GetUserProfile": Call("users.get_user_profiles", list_field="profiles"),
    },
    VideoCatalogServiceStub: {
        "SubmitUploadedVideo": None,  # until uploads exist (the web app never calls it)
        "SubmitYouTubeVideo": Call("videos.submit_youtube_video"),
        "GetVideo": Call("videos.get_video"),
        "GetVideoPreviews": Call("videos.get_video_previews", list_field="video_previews"),
        "GetLatestVideoPreviews": Call("videos.get_latest_video_previews"),
        "GetUserVideoPreviews": Call("videos.get_user_video_previews"),
    },
    RatingsServiceStub: {
        "RateVideo": Call("ratings.rate_video"),
        "GetRating": Call("ratings.get_rating"),
        "GetUserRating": Call("ratings.get_user_rating"),
    },
    CommentsServiceStub: {
        "CommentOnVideo": Call("comments.comment_on_video"),
        "GetVideoComments": Call("comments.get_video_comments"),
        "GetUserComments": Call("comments.get_user_comments"),
    },
    StatisticsServiceStub: {
        "RecordPlaybackStarted": Call("statistics.record_playback_started"),
        "GetNumberOfPlays": Call("statistics.get_number_of_plays", list_field="stats"),
    },
    SearchServiceStub: {
        "SearchVideos": Call("search.search_videos"),
        "GetQuerySuggestions": Call("search.get_query_suggestions"),
    },
    SuggestedVideoServiceStub: {
        "GetRelatedVideos": Call("suggestions.get_related_videos"),
        "GetSuggestedForUser": Call("suggestions.get_suggested_for_user"),
    },
    UploadsServiceStub: not_built(UploadsServiceStub),
}


def grpc_service_name(stub) -> str:
    return Inspector(stub).service_name


def domain_services_behind(stub) -> frozenset[str]:
    """The domain services a KillrVideo gRPC service needs."""
    return frozenset(call.service_name for call in ROUTES[stub].values() if call)
