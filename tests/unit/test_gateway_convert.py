"""The gateway's protobuf → plain data conversion, on what clients may send."""

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from killrvideo.common.common_types_pb2 import Uuid
from killrvideo.video_catalog.video_catalog_service_pb2 import GetLatestVideoPreviewsRequest
from services.common.errors import InvalidArgument
from services.gateway.convert import request_to_kwargs

VIDEO = Uuid(value="3b33e682-6dd7-47a0-ba4a-0a0ffe4ab5ca")


def test_a_timestamp_becomes_iso_utc_milliseconds():
    request = GetLatestVideoPreviewsRequest(
        page_size=1,
        starting_added_date=Timestamp(seconds=1_700_000_000, nanos=123_456_789),
        starting_video_id=VIDEO,
    )
    assert request_to_kwargs(request)["starting_added_date"] == "2023-11-14T22:13:20.123Z"


@pytest.mark.parametrize("seconds", [-62135596801, 253402300800, -(2**40)])
def test_a_timestamp_outside_years_1_to_9999_is_an_invalid_argument(seconds):
    # Found by tests/e2e/test_fuzzing.py: it used to escape as INTERNAL.
    request = GetLatestVideoPreviewsRequest(
        page_size=1, starting_added_date=Timestamp(seconds=seconds), starting_video_id=VIDEO
    )
    with pytest.raises(InvalidArgument) as error:
        request_to_kwargs(request)
    assert error.value.field == "starting_added_date"
