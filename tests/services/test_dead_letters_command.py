"""`make dead-letters ARGS=...` on real RabbitMQ (a throwaway vhost): list, show, discard."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from kombu import Connection
from nameko import config as nameko_config

from services.common.dead_letters import DeadLetters, domain_service_classes, handler_queue_names
from services.common.handlers import ERROR_HEADER, dead_letter_queue

ROOT = Path(__file__).resolve().parents[2]
HANDLER_QUEUES = [q for cls in domain_service_classes() for q in handler_queue_names(cls)]
FIRST, SECOND = HANDLER_QUEUES[:2]


@pytest.fixture
def amqp_uri(rabbit_config):
    return nameko_config["AMQP_URI"]


def kill(amqp_uri, queue_name, *payloads):
    """Put dead letters in a handler's dead-letter queue, as the handler would have."""
    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as connection:
        producer = connection.Producer()
        dead = dead_letter_queue(queue_name)
        for payload in payloads:
            producer.publish(
                payload,
                exchange="",
                routing_key=dead.name,
                declare=[dead],
                serializer="json",
                headers={ERROR_HEADER: "the index table is unavailable"},
                delivery_mode=2,
            )


def dead_letters_command(amqp_uri, *args, answer=None):
    return subprocess.run(
        [sys.executable, "-m", "services.common.dead_letters", *args],
        cwd=ROOT,
        env={**os.environ, "AMQP_URI": amqp_uri},
        input=answer,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout


def counts(amqp_uri):
    return DeadLetters(amqp_uri=amqp_uri).counts()


def test_the_make_target_runs_the_command_from_a_shell_without_the_venv(amqp_uri):
    kill(amqp_uri, FIRST, {"id": 1})
    result = subprocess.run(
        ["make", "--no-print-directory", "dead-letters", "ARGS=list"],
        cwd=ROOT,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "AMQP_URI": amqp_uri},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert f"     1  {FIRST}" in result.stdout.splitlines()


def test_show_says_when_a_handler_has_no_dead_letters(amqp_uri):
    # A handler that never failed for good has no dead-letter queue; one that did may be empty.
    assert dead_letters_command(amqp_uri, "show", FIRST) == f"no dead letters for {FIRST}\n"
    kill(amqp_uri, SECOND)
    assert dead_letters_command(amqp_uri, "show", SECOND) == f"no dead letters for {SECOND}\n"


def test_show_prints_the_dead_letters_and_leaves_them(amqp_uri):
    kill(amqp_uri, FIRST, {"id": 7})
    out = dead_letters_command(amqp_uri, "show", FIRST)
    assert json.dumps({"id": 7}, indent=2) in out
    assert "the index table is unavailable" in out
    assert counts(amqp_uri)[FIRST] == 1


def test_a_queue_that_is_no_handler_s_is_refused_naming_the_handlers(amqp_uri):
    result = subprocess.run(
        [sys.executable, "-m", "services.common.dead_letters", "show", "evt-nope"],
        cwd=ROOT,
        env={**os.environ, "AMQP_URI": amqp_uri},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "evt-nope is not a handler queue" in result.stderr
    assert FIRST in result.stderr


def test_discard_of_one_handler_with_yes_leaves_the_others(amqp_uri):
    kill(amqp_uri, FIRST, {"id": 1}, {"id": 2})
    kill(amqp_uri, SECOND, {"id": 3})
    out = dead_letters_command(amqp_uri, "discard", FIRST, "--yes")
    assert out.splitlines()[-1] == "discarded 2 dead letter(s)"
    assert counts(amqp_uri) == {FIRST: 0, SECOND: 1}


def test_discard_asks_with_the_count_and_does_nothing_unless_told_yes(amqp_uri):
    kill(amqp_uri, FIRST, {"id": 1}, {"id": 2})
    kill(amqp_uri, SECOND, {"id": 3})

    out = dead_letters_command(amqp_uri, "discard", answer="n\n")
    assert "Discard these 3 dead letter(s) for good? [y/N]" in out
    assert out.splitlines()[-1].endswith("nothing discarded")
    assert counts(amqp_uri) == {FIRST: 2, SECOND: 1}

    # No answer at all (no terminal) is no.
    dead_letters_command(amqp_uri, "discard", answer="")
    assert counts(amqp_uri) == {FIRST: 2, SECOND: 1}

    out = dead_letters_command(amqp_uri, "discard", answer="y\n")
    assert out.splitlines()[-1].endswith("discarded 3 dead letter(s)")
    assert counts(amqp_uri) == {FIRST: 0, SECOND: 0}


def test_discard_with_no_dead_letters_says_so_without_asking(amqp_uri):
    assert dead_letters_command(amqp_uri, "discard") == "no dead letters\n"
