"""Pure logic of services/common: paging states, validation, fields, timestamps."""

import base64
import hashlib
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from marshmallow import Schema, fields, validate
from nameko import config

from services.common import paging
from services.common.cassandra import CassandraSettings
from services.common.errors import InvalidArgument
from services.common.fields import Timestamp, TimeUUID
from services.common.schemas import shared
from services.common.timestamps import to_millis
from services.common.validation import load


class TestPagingState:
    def test_round_trips_opaque_bytes(self):
        state = b"\x00\x01driver-state\xff"
        text = paging.encode(state)
        assert state not in text.encode()
        assert paging.decode(text) == state

    def test_empty_means_no_more_results(self):
        assert paging.encode(None) == ""
        assert paging.encode(b"") == ""
        assert paging.decode("") is None

    @pytest.mark.parametrize(
        "garbage", ["not base64!", "AAAA", "////", "é", paging.encode(b"x")[:-4], "AQ=="]
    )
    def test_garbage_is_an_invalid_paging_state(self, garbage):
        with pytest.raises(InvalidArgument) as error:
            paging.decode(garbage)
        assert error.value.field == "paging_state"

    def test_a_tampered_state_is_refused(self):
        text = paging.encode(b"page two of the latest videos")
        raw = bytearray(base64.urlsafe_b64decode(text))
        raw[-1] ^= 0x01
        with pytest.raises(InvalidArgument):
            paging.decode(base64.urlsafe_b64encode(bytes(raw)).decode())

    def test_a_forged_state_with_a_recomputed_checksum_is_refused(self):
        state = b"a driver paging state the service never issued"
        forged = paging.FORMAT_VERSION + hashlib.sha256(state).digest()[:16] + state
        with pytest.raises(InvalidArgument):
            paging.decode(base64.urlsafe_b64encode(forged).decode())

    def test_replicas_sharing_the_secret_accept_each_others_states(self):
        with config.patch({"PAGING_STATE_SECRET": "shared by every replica"}):
            text = paging.encode(b"state")
        with config.patch({"PAGING_STATE_SECRET": "shared by every replica"}):
            assert paging.decode(text) == b"state"
        with (
            config.patch({"PAGING_STATE_SECRET": "another deployment"}),
            pytest.raises(InvalidArgument),
        ):
            paging.decode(text)


class Request(Schema):
    user_id = fields.UUID(required=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=5))
    ids = fields.List(fields.UUID(), validate=validate.Length(min=1, max=2))


class TestLoad:
    def test_returns_the_validated_values(self):
        user_id = uuid.uuid4()
        assert load(Request, user_id=str(user_id), name="Ada") == {
            "user_id": user_id,
            "name": "Ada",
        }

    @pytest.mark.parametrize(
        ("values", "field"),
        [
            ({"user_id": "not-a-uuid", "name": "Ada"}, "user_id"),
            ({"user_id": None, "name": "Ada"}, "user_id"),
            ({"name": "Ada"}, "user_id"),
            ({"user_id": str(uuid.uuid4()), "name": ""}, "name"),
            ({"user_id": str(uuid.uuid4()), "name": "x" * 6}, "name"),
            ({"user_id": str(uuid.uuid4()), "name": "Ada", "ids": ["zz"]}, "ids"),
            ({"user_id": str(uuid.uuid4()), "name": "Ada", "ids": []}, "ids"),
        ],
    )
    def test_names_the_offending_field(self, values, field):
        with pytest.raises(InvalidArgument) as error:
            load(Request, **values)
        assert error.value.field == field
        assert str(error.value).startswith(f"{field}: ")


class Stamped(Schema):
    at = Timestamp()
    comment_id = TimeUUID()


class TestFields:
    def test_timestamps_are_iso_utc_milliseconds(self):
        moment = datetime(2026, 11, 22, 8, 4, 50, 123456, tzinfo=UTC)
        assert Stamped().dump({"at": moment}) == {"at": "2026-11-22T08:04:50.123Z"}

    def test_naive_datetimes_from_the_driver_are_utc(self):
        assert Stamped().dump({"at": datetime(2026, 1, 2, 3, 4, 5)}) == {
            "at": "2026-01-02T03:04:05.000Z"
        }

    def test_loading_converts_to_utc_and_truncates(self):
        loaded = Stamped().load({"at": "2026-11-22T09:04:50.123999+01:00"})
        assert loaded["at"] == datetime(2026, 11, 22, 8, 4, 50, 123000, tzinfo=UTC)

    def test_time_uuids_must_be_version_1(self):
        from cassandra.util import uuid_from_time

        comment_id = uuid_from_time(datetime(2026, 1, 1, tzinfo=UTC))
        assert Stamped().load({"comment_id": str(comment_id)}) == {"comment_id": comment_id}
        with pytest.raises(Exception, match="version 1"):
            Stamped().load({"comment_id": str(uuid.uuid4())})

    def test_to_millis_keeps_the_instant(self):
        moment = datetime(2026, 1, 1, 12, 0, 0, 999999, tzinfo=timezone(timedelta(hours=-5)))
        assert to_millis(moment) == datetime(2026, 1, 1, 17, 0, 0, 999000, tzinfo=UTC)


class TestCassandraSettings:
    def test_contact_points_are_comma_separated(self):
        settings = CassandraSettings.from_config({"contact_points": "a, b,c", "port": 9142})
        assert settings.contact_points == ["a", "b", "c"]
        assert settings.port == 9142
        assert settings.username is None

    def test_a_keyspace_that_is_not_a_plain_name_is_refused(self):
        with pytest.raises(ValueError, match="keyspace"):
            CassandraSettings.from_config({"keyspace": "ks; DROP KEYSPACE x"})


class TestSharedSchemas:
    def test_one_instance_per_schema_class_and_many(self):
        class Thing(Schema):
            name = fields.String()

        assert shared(Thing) is shared(Thing)
        assert shared(Thing, many=True) is shared(Thing, many=True)
        assert shared(Thing).dump({"name": "a"}) == {"name": "a"}
        assert shared(Thing, many=True).dump([{"name": "a"}]) == [{"name": "a"}]
