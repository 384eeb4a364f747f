"""Sign-up (CreateUser) through the whole stack, alone and with 16 callers, and what it does to
the users service's other calls: GetUserProfile alone, then while the 16 callers sign up.

A sign-up hashes its password with argon2id (services/users/passwords.py: about 20 ms of a core,
off the service's event loop); the stack is the end-to-end one, with the RPC timeout of
config.yaml (5 s), so a failed call is a timeout or worse. Figures only; nothing fails on them.
"""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import grpc

from benchmarks import load
from killrvideo.common.common_types_pb2 import Uuid
from killrvideo.user_management import user_management_service_pb2 as users_pb2
from killrvideo.user_management import user_management_service_pb2_grpc as users_grpc
from tests.e2e.stack import running_stack

SEQUENTIAL_SIGN_UPS = 50
CONCURRENT_CALLERS = 16
SIGN_UPS_PER_CALLER = 10
PROFILE_CALLS_ALONE = 200


def sign_up(users) -> str:
    user_id = str(uuid.uuid4())
    users.CreateUser(
        users_pb2.CreateUserRequest(
            user_id=Uuid(value=user_id),
            first_name="Bench",
            last_name="Mark",
            email=f"{user_id}@example.com",
            password="benchmark password",
        ),
        timeout=10,
    )
    return user_id


def concurrent_sign_ups(users) -> tuple[list[float], int]:
    """The latencies of CONCURRENT_CALLERS callers' sign-ups, back to back, and the failures."""
    failed = []

    def caller() -> list[float]:
        taken = []
        for _ in range(SIGN_UPS_PER_CALLER):
            try:
                taken += load.latencies(lambda: sign_up(users), 1)
            except grpc.RpcError as error:
                failed.append(error.code())
        return taken

    with ThreadPoolExecutor(CONCURRENT_CALLERS) as callers:
        runs = [callers.submit(caller) for _ in range(CONCURRENT_CALLERS)]
        return [seconds for run in runs for seconds in run.result()], len(failed)


def row(name: str, taken: list[float], failed: int | None = None) -> None:
    failures = "-" if failed is None else failed
    print(f"{name:<44}{load.p50_ms(taken):>9.1f}{load.p99_ms(taken):>9.1f}{failures:>8}")


def main() -> None:
    with (
        running_stack(rpc_timeout=5.0) as stack,
        grpc.insecure_channel(stack.address) as channel,
    ):
        users = users_grpc.UserManagementServiceStub(channel)
        known = users_pb2.GetUserProfileRequest(user_ids=[Uuid(value=sign_up(users))])

        def get_profile():
            users.GetUserProfile(known, timeout=10)

        load.latencies(get_profile, 20)
        profiles_alone = load.latencies(get_profile, PROFILE_CALLS_ALONE)
        alone = load.latencies(lambda: sign_up(users), SEQUENTIAL_SIGN_UPS)

        signing_up = threading.Event()
        profiles_during = []

        def read_profiles():
            while True:  # at least one call, however short the sign-ups
                profiles_during.extend(load.latencies(get_profile, 1))
                if not signing_up.is_set():
                    return

        stack.wait_until_idle()
        signing_up.set()
        reader = threading.Thread(target=read_profiles)
        reader.start()
        try:
            together, failed = concurrent_sign_ups(users)
        finally:
            signing_up.clear()
            reader.join()

        print(f"{'call':<44}{'p50 ms':>9}{'p99 ms':>9}{'failed':>8}")
        row("CreateUser, 1 caller", alone, 0)
        row(f"CreateUser, {CONCURRENT_CALLERS} callers", together, failed)
        row("GetUserProfile alone", profiles_alone)
        row(f"GetUserProfile during {CONCURRENT_CALLERS} callers' sign-ups", profiles_during)
