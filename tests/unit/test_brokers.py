"""AMQP_URI as a list of a cluster's nodes (services/common/brokers.py): read, printed without
passwords, and tried node by node."""

from nameko import config

from scripts.shell import banner
from services.common import brokers

CLUSTER = "pyamqp://kv:s3cret@rabbit-1:5672/site;pyamqp://kv:s3cret@rabbit-2:5673/site; "


def test_a_list_of_nodes_is_read_node_by_node():
    assert brokers.nodes(CLUSTER) == [
        "pyamqp://kv:s3cret@rabbit-1:5672/site",
        "pyamqp://kv:s3cret@rabbit-2:5673/site",
    ]
    assert brokers.vhost_of(CLUSTER) == "site" and brokers.user_of(CLUSTER) == "kv"
    assert brokers.hosts_of(CLUSTER) == "rabbit-1:5672, rabbit-2:5673"
    assert brokers.connect_attempts(CLUSTER) == 1, "one retry: each node once"
    assert brokers.connect_attempts("pyamqp://guest:guest@localhost:5672/") == 0


def test_the_shell_banner_masks_every_node_s_password():
    with config.patch({"AMQP_URI": CLUSTER}):
        shown = banner()
    assert "s3cret" not in shown
    assert (
        "pyamqp://kv:********@rabbit-1:5672/site;pyamqp://kv:********@rabbit-2:5673/site" in shown
    )
