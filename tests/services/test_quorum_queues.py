"""Quorum queues on the real broker: every durable queue a service owns is one, a request's and a
retried event's expiry still work on them, and the classic queues an earlier version left are
migrated (empty: by make run's step; holding messages: reported, then moved by
`make migrate-queues` without losing one)."""

import uuid

import amqp
import kombu
import pytest
from kombu import Queue
from nameko import config as nameko_config
from nameko.standalone.events import event_dispatcher
from nameko.standalone.rpc import ServiceRpcClient
from nameko.testing.services import entrypoint_waiter

from scripts.output import Output
from scripts.run import migrate_queues
from services.common import queue_migration
from services.common.container import outdated_queues
from services.common.handlers import on_event
from services.common.queue_migration import COMMAND, MIGRATING_SUFFIX, service_queues
from services.common.rpc import rpc
from services.search.service import SearchService
from services.suggestions.service import SuggestionsService
from tests.services.test_reliable_handlers import THING_HAPPENED
from tests.waiting import wait_until

RETRY_DELAYS = [0.05, 0.1]


class Recorder:
    """An RPC method and an event handler, each recording what it got."""

    name = "recorder"
    handled: list = []  # shared by the test and the service's workers on purpose
    failures_left = 0

    @rpc
    def echo(self, value):
        return value

    @on_event("source", THING_HAPPENED)
    def handle(self, payload):
        if Recorder.failures_left > 0:
            Recorder.failures_left -= 1
            Recorder.handled.append("failed")
            raise RuntimeError("once")
        Recorder.handled.append(payload["id"])


def vhost_of(uri: str) -> str:
    return uri.rpartition("/")[2]


def queue_types(rabbit_manager, uri) -> dict[str, tuple[str, bool]]:
    """Every queue of the vhost: name → (type, durable)."""
    queues = rabbit_manager.get_queues(vhost_of(uri))
    return {q["name"]: (q["type"], q["durable"]) for q in queues}


def test_every_durable_queue_of_a_service_is_a_quorum_queue_and_reply_queues_stay_classic(
    rabbit_config, rabbit_manager, runner_factory
):
    Recorder.handled = []
    Recorder.failures_left = 1
    uri = nameko_config["AMQP_URI"]
    with nameko_config.patch({"EVENT_RETRY_DELAYS": RETRY_DELAYS}):
        runner = runner_factory(Recorder)
        runner.start()
        container = runner.service_map["recorder"]
        with ServiceRpcClient("recorder", timeout=10) as client:
            assert client.echo("hello") == "hello"
            # A failed event goes through a delay queue (TTL, dead-lettered back) on quorum.
            with entrypoint_waiter(
                container, "handle", timeout=10, callback=lambda *a: a[2] is None
            ):
                thing = str(uuid.uuid4())
                event_dispatcher()("source", THING_HAPPENED.name, {"id": thing})
            types = queue_types(rabbit_manager, uri)
    assert Recorder.handled == ["failed", uuid.UUID(thing)]
    owned = [q.name for q in service_queues(Recorder, RETRY_DELAYS)]
    assert owned == [
        "rpc-recorder",
        "evt-source-thing_happened--recorder.handle",
        "evt-source-thing_happened--recorder.handle.retry.50ms",
        "evt-source-thing_happened--recorder.handle.retry.100ms",
        "evt-source-thing_happened--recorder.handle.dead",
    ]
    assert {name: types[name] for name in owned} == {name: ("quorum", True) for name in owned}
    # nameko's client's reply queue: a classic queue that expires (x-expires) once unused.
    replies = {kind for name, (kind, _) in types.items() if name not in owned}
    assert replies == {"classic"}


def test_a_request_that_expires_in_a_quorum_queue_is_dropped(rabbit_config):
    """The gateway's requests carry their caller's deadline as an expiration: a quorum queue
    (RabbitMQ 3.10+) must drop one nobody consumed in time, not deliver it late."""
    queue = queue_migration.rpc_queue("nobody")
    with kombu.Connection(nameko_config["AMQP_URI"]) as connection:
        channel = connection.default_channel
        queue(channel).declare()
        channel.basic_publish_confirm(amqp.Message(b"{}", expiration="50"), "", queue.name)
        wait_until(
            lambda: channel.queue_declare(queue.name, passive=True).message_count == 0,
            10,
            "the expired request is dropped",
        )
        assert channel.basic_get(queue.name) is None


def as_classic(queue: Queue) -> Queue:
    """The queue as versions before quorum queues declared it."""
    arguments = {
        key: value
        for key, value in (queue.queue_arguments or {}).items()
        if key in ("x-message-ttl", "x-dead-letter-exchange", "x-dead-letter-routing-key")
        and ".retry." in queue.name
    }
    return Queue(
        queue.name,
        exchange=queue.exchange,
        routing_key=queue.routing_key,
        durable=True,
        queue_arguments=arguments or None,
    )


def declare_classic(uri, service_classes) -> list[Queue]:
    queues = [q for cls in service_classes for q in service_queues(cls, RETRY_DELAYS)]
    with kombu.Connection(uri) as connection:
        for queue in queues:
            as_classic(queue)(connection.channel()).declare()
    return queues


def outdated_names(uri, queues) -> set[str]:
    """The queues the broker would refuse to declare as the services do (the management API's
    view of a queue's type lags behind its deletion and new declaration)."""
    with kombu.Connection(uri) as connection:
        return {old.queue.name for old in queue_migration.outdated(connection, queues)}


@pytest.fixture
def settings(rabbit_config):
    return {"AMQP_URI": nameko_config["AMQP_URI"], "EVENT_RETRY_DELAYS": RETRY_DELAYS}


def test_make_run_migrates_a_vhost_s_empty_classic_queues(
    settings, rabbit_manager, monkeypatch, capsys
):
    uri = settings["AMQP_URI"]
    queues = declare_classic(uri, [SearchService, SuggestionsService])
    assert outdated_names(uri, queues) == {q.name for q in queues}
    refused = outdated_queues(uri, SearchService)
    assert refused and "rpc-search" in refused and COMMAND in refused
    monkeypatch.setattr(
        queue_migration, "domain_service_classes", lambda: [SearchService, SuggestionsService]
    )

    assert migrate_queues(settings, Output("plain"))

    said = capsys.readouterr().out
    for queue in queues:
        assert f"Queues: {queue.name}: an empty classic queue, declared again as a quorum" in said
    assert outdated_names(uri, queues) == set()
    assert outdated_queues(uri, SearchService) is None
    assert outdated_queues(uri, SuggestionsService) is None
    with kombu.Connection(uri) as connection:  # the bindings are back: an event reaches its queue
        channel = connection.default_channel
        event_dispatcher()("videos", "youtube_video_added", {"anything": 1})
        name = "evt-videos-youtube_video_added--search.index_video"
        wait_until(
            lambda: channel.queue_declare(name, passive=True).message_count == 1,
            10,
            "the event is routed to the migrated handler queue",
        )


def test_a_classic_queue_holding_messages_is_reported_then_moved_without_losing_one(
    settings, rabbit_manager, monkeypatch, capsys
):
    uri = settings["AMQP_URI"]
    queues = declare_classic(uri, [SearchService])
    handler = "evt-videos-youtube_video_added--search.index_video"
    waiting = [f"event {n}".encode() for n in range(5)]
    with kombu.Connection(uri) as connection:
        channel = connection.default_channel
        for body in waiting:
            message = amqp.Message(body, delivery_mode=2, application_headers={"n": body})
            channel.basic_publish_confirm(message, "", handler)
        # A request waiting in the old RPC queue keeps its expiration when moved.
        channel.basic_publish_confirm(amqp.Message(b"late", expiration="600000"), "", "rpc-search")
    monkeypatch.setattr(queue_migration, "domain_service_classes", lambda: [SearchService])

    assert not migrate_queues(settings, Output("plain"))

    out, err = capsys.readouterr()
    assert f"Queues: {handler}: a classic queue holding 5 message(s): `{COMMAND}`" in out
    assert f"`{COMMAND}` moves them into quorum queues" in err
    assert outdated_names(uri, queues) == {handler, "rpc-search"}, "the empty ones migrated"

    monkeypatch.setenv("AMQP_URI", uri)
    monkeypatch.setattr(queue_migration, "load", lambda: settings)
    assert queue_migration.main([]) == 0

    out = capsys.readouterr().out
    assert f"{handler}: moved its 5 message(s) into it as a quorum queue" in out
    assert outdated_names(uri, queues) == set()
    with kombu.Connection(uri) as connection, pytest.raises(amqp.exceptions.NotFound):
        connection.default_channel.queue_declare(handler + MIGRATING_SUFFIX, passive=True)
    with kombu.Connection(uri) as connection:
        channel = connection.default_channel
        moved = []
        while (message := channel.basic_get(handler, no_ack=True)) is not None:
            moved.append((message.body, message.headers["n"]))
        request = channel.basic_get("rpc-search", no_ack=True)
    assert moved == [(body, body.decode()) for body in waiting], "all, in order, with headers"
    assert request.body == b"late" and 0 < int(request.properties["expiration"]) <= 600000


def test_a_delay_queue_hands_an_expired_event_back_after_a_quorum_migration(settings):
    """The at-least-once dead-lettering of the migrated delay queues works on this broker."""
    uri = settings["AMQP_URI"]
    declare_classic(uri, [Recorder])
    assert queue_migration.migrate(uri, service_queues(Recorder, RETRY_DELAYS), print) == []
    handler = "evt-source-thing_happened--recorder.handle"
    with kombu.Connection(uri) as connection:
        channel = connection.default_channel
        channel.basic_publish_confirm(amqp.Message(b"again"), "", f"{handler}.retry.50ms")
        got = []
        wait_until(
            lambda: got.append(channel.basic_get(handler, no_ack=True)) or got[-1] is not None,
            10,
            "the delay queue hands the event back",
        )
    assert got[-1].body == b"again"


def test_an_interrupted_move_is_reported_by_make_run_and_finished_by_the_command(
    settings, monkeypatch, capsys
):
    uri = settings["AMQP_URI"]
    queues = service_queues(SearchService, RETRY_DELAYS)
    [handler] = [
        q for q in queues if q.name == "evt-videos-youtube_video_added--search.index_video"
    ]
    holding = queue_migration.holding_queue(handler)
    with kombu.Connection(uri) as connection:
        for queue in [*queues, holding]:
            queue(connection.channel()).declare()
        for n in range(3):
            connection.default_channel.basic_publish_confirm(
                amqp.Message(f"held {n}".encode()), "", holding.name
            )
    monkeypatch.setattr(queue_migration, "domain_service_classes", lambda: [SearchService])

    assert not migrate_queues(settings, Output("plain"))
    assert f"{handler.name}: a move of its messages was interrupted" in capsys.readouterr().out

    monkeypatch.setattr(queue_migration, "load", lambda: settings)
    assert queue_migration.main([]) == 0
    assert f"{handler.name}: finished moving its messages (3 more)" in capsys.readouterr().out
    with kombu.Connection(uri) as connection:
        channel = connection.default_channel
        assert channel.queue_declare(handler.name, passive=True).message_count == 3
        with pytest.raises(amqp.exceptions.NotFound):
            connection.channel().queue_declare(holding.name, passive=True)
