"""The container of every `nameko run` process (services/common/container.py)."""

import gc

from nameko.rpc import rpc

from services.common.container import CheckedServiceContainer, freeze_startup_objects


class Idle:
    name = "idle"

    @rpc
    def nothing(self):
        pass


def test_a_started_container_puts_what_the_process_holds_out_of_the_collectors_sight(
    rabbit_config,
):
    gc.unfreeze()  # as in a fresh process
    container = CheckedServiceContainer(Idle)
    container.start()
    try:
        frozen = gc.get_freeze_count()
        assert frozen > 10_000, "the modules and clients loaded are frozen"
        freeze_startup_objects()  # as a second container of the process would
        assert gc.get_freeze_count() <= frozen, "collected and frozen once per process"
    finally:
        container.stop()
        gc.unfreeze()
