"""The test harness itself: nameko services on the real broker, under eventlet."""

from eventlet import patcher
from nameko.events import EventDispatcher, event_handler
from nameko.rpc import rpc
from nameko.standalone.rpc import ServiceRpcClient
from nameko.testing.services import entrypoint_waiter

from services.common import config


class GreetingService:
    name = "greeting"

    dispatch = EventDispatcher()

    @rpc
    def greet(self, name):
        self.dispatch("greeted", {"name": name})
        return f"Hello, {name}!"


class GreetingListener:
    name = "greeting_listener"

    @event_handler("greeting", "greeted")
    def on_greeted(self, payload):
        return payload


def test_pytest_runs_monkey_patched():
    assert all(patcher.is_monkey_patched(module) for module in ("os", "socket", "thread"))


def test_service_answers_rpc_and_emits_event(rabbit_config, runner_factory):
    runner = runner_factory(GreetingService, GreetingListener)
    runner.start()
    listener = runner.service_map["greeting_listener"]

    with (
        entrypoint_waiter(listener, "on_greeted", timeout=10) as handled,
        ServiceRpcClient("greeting") as greeting,
    ):
        assert greeting.greet(name="Ada") == "Hello, Ada!"

    assert handled.get() == {"name": "Ada"}


def test_config_takes_environment_over_defaults(monkeypatch):
    monkeypatch.setenv("CASSANDRA_CONTACT_POINTS", "10.1.2.3,10.1.2.4")
    monkeypatch.setenv("CASSANDRA_PASSWORD", "12345")
    monkeypatch.setenv("GRPC_BIND_PORT", "6000")
    monkeypatch.delenv("CASSANDRA_PORT", raising=False)

    loaded = config.load()

    assert loaded["CASSANDRA"]["contact_points"] == "10.1.2.3,10.1.2.4"
    assert loaded["CASSANDRA"]["password"] == "12345"  # kept as text, not read as a number
    assert loaded["GRPC_BIND_PORT"] == 6000
    assert loaded["CASSANDRA"]["port"] == 9042


def test_config_is_found_from_any_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert config.load()["CASSANDRA"]["keyspace"] == "killrvideo"


def test_config_path_can_be_overridden(tmp_path, monkeypatch):
    other = tmp_path / "other.yaml"
    other.write_text("AMQP_URI: ${AMQP_URI:pyamqp://elsewhere/}\n")
    monkeypatch.setenv("KILLRVIDEO_CONFIG", str(other))
    monkeypatch.delenv("AMQP_URI", raising=False)
    assert config.config_path() == other
    assert config.load() == {"AMQP_URI": "pyamqp://elsewhere/"}
