"""The benchmarks still run: a benchmark is not a timed test, but one whose baseline no longer
answers would only be found when someone next runs `make bench`."""

from benchmarks import (
    bench_api,
    bench_gateway,
    bench_localcql,
    bench_observability,
    bench_recovery,
    bench_scale_out,
    bench_signup,
    bench_speedups,
)
from services import DOMAIN_SERVICES


def test_every_gateway_of_the_gateway_benchmark_answers(monkeypatch):
    # A few calls each: this checks that the benchmark works, not what it measures.
    monkeypatch.setattr(bench_gateway, "WARMUP_CALLS", 5)
    monkeypatch.setattr(bench_gateway, "SEQUENTIAL_CALLS", 20)
    monkeypatch.setattr(bench_gateway, "ROUNDS", 2)
    monkeypatch.setattr(bench_gateway, "CONCURRENT_CALLERS", 4)
    monkeypatch.setattr(bench_gateway, "CONCURRENT_SECONDS", 0.4)

    results = bench_gateway.run()

    assert set(results) == {"ours", *bench_gateway.BASELINES}
    for name, figures in results.items():
        assert figures["errors"] == 0, name
        assert figures["calls_per_s"] > 0, name


def test_the_api_benchmark_measures_every_call_and_hop(monkeypatch, capsys):
    # Its hops hold a client's exclusive reply queue open between rounds, which the stack's
    # wait for idle queues must leave alone; a few calls each, again.
    small = {
        "SEQUENTIAL_CALLS": 4,
        "ROUNDS": 2,
        "WARMUP_CALLS": 1,
        "CONCURRENT_CALLERS": 2,
        "CONCURRENT_SECONDS": 0.3,
        "SEED_USERS": 2,
        "SEED_VIDEOS": 2,
    }
    for name, value in small.items():
        monkeypatch.setattr(bench_api, name, value)

    bench_api.main()

    output = capsys.readouterr().out
    rows = {line[:30].strip(): line[30:].split() for line in output.splitlines()}
    for call in ("GetVideo", "GetLatestVideoPreviews(10)", "SubmitYouTubeVideo", "home fan-out"):
        p50, calls_per_s, errors = rows[call][0], rows[call][3], rows[call][4]
        assert float(p50) > 0 and float(calls_per_s) > 0 and errors == "0", call
    for hop in ("gRPC (gateway, no downstream)", "nameko RPC videos.get_video"):
        assert float(rows[hop][0]) > 0 and rows[hop][3:] == ["-", "-"], hop
    # GetVideo from grpcio's default client, in its own process, took its turns as well.
    assert float(rows[bench_api.DEFAULT_CLIENT_ROW][0]) > 0
    assert float(rows[bench_api.MACHINE_ROW][0]) > 0
    # The direct baseline answered in the same rounds and under the same callers, and the
    # architecture's cost came out as ratios to it.
    p50, calls_per_s, errors = (rows[bench_api.DIRECT_ROW][i] for i in (0, 3, 4))
    assert float(p50) > 0 and float(calls_per_s) > 0 and errors == "0"
    assert "ratios, ours to the baseline: p50 " in output
    resident = output.split("Resident memory of each process (MB):\n")[1].splitlines()
    named = {line[:36].strip() for line in resident if line.startswith("  ")}
    assert {"gateway", "videos", "localcql", bench_api.DIRECT_SERVER} <= named


def test_the_recovery_benchmark_times_every_domain_service(monkeypatch, tmp_path):
    monkeypatch.setattr(bench_recovery, "OUTAGE_SECONDS", 1)  # that it works, not how long

    seconds = bench_recovery.run(tmp_path)

    assert set(seconds) == set(DOMAIN_SERVICES)
    assert all(value is not None for value in seconds.values()), seconds


def test_the_sign_up_benchmark_prints_its_four_rows(monkeypatch, capsys):
    monkeypatch.setattr(bench_signup, "SEQUENTIAL_SIGN_UPS", 3)
    monkeypatch.setattr(bench_signup, "CONCURRENT_CALLERS", 2)
    monkeypatch.setattr(bench_signup, "SIGN_UPS_PER_CALLER", 2)
    monkeypatch.setattr(bench_signup, "PROFILE_CALLS_ALONE", 3)

    bench_signup.main()

    rows = {line[:44].strip(): line[44:].split() for line in capsys.readouterr().out.splitlines()}
    for sign_up in ("CreateUser, 1 caller", "CreateUser, 2 callers"):
        p50, p99, failed = rows[sign_up]
        assert float(p50) > 0 and float(p99) > 0 and failed == "0", sign_up
    assert float(rows["GetUserProfile alone"][0]) > 0
    assert float(rows["GetUserProfile during 2 callers' sign-ups"][0]) > 0


def test_the_localcql_benchmark_measures_rows_restart_and_an_index_query(monkeypatch, capsys):
    for name, value in {"SEQUENTIAL": 20, "CONCURRENT": 200, "VIDEOS": 500}.items():
        monkeypatch.setattr(bench_localcql, name, value)

    bench_localcql.main()

    output = capsys.readouterr().out
    assert "500 rows back" in output
    index = next(line for line in output.splitlines() if line.startswith("secondary index"))
    assert index.endswith("(1 row each)"), index


def test_the_observability_benchmark_prints_each_configuration(monkeypatch, capsys):
    # A few calls each: that it runs, not what it measures.
    monkeypatch.setattr(bench_observability, "WARMUP_CALLS", 2)
    monkeypatch.setattr(bench_observability, "SEQUENTIAL_CALLS", 10)
    monkeypatch.setattr(bench_observability, "ROUNDS", 1)

    bench_observability.main()

    rows = {line[:20].strip(): line[20:].split() for line in capsys.readouterr().out.splitlines()}
    for name in ("off", "metrics", "metrics + tracing", "metrics + 10% traced"):
        p50, cpu = float(rows[name][0]), float(rows[name][1])
        assert p50 > 0 and cpu > 0, name


def test_the_speedups_benchmark_compares_each_patch_on_and_off(monkeypatch, capsys):
    monkeypatch.setattr(bench_speedups, "ROUNDS", 2)
    monkeypatch.setattr(bench_speedups, "SEQUENTIAL_CALLS", 3)
    monkeypatch.setattr(bench_speedups, "WARMUP_CALLS", 1)
    monkeypatch.setattr(bench_api, "SEED_USERS", 1)
    monkeypatch.setattr(bench_api, "SEED_VIDEOS", 1)
    monkeypatch.setattr(bench_speedups.speedups, "NAMES", ("direct_requests", "reconnect_waits"))

    bench_speedups.main()

    rows = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()}
    p50_on, p50_off = float(rows["direct_requests"][0]), float(rows["direct_requests"][1])
    assert p50_on > 0 and p50_off > 0
    assert rows["direct_requests"][-2].rstrip(",") in ("pays", "costs", "noise")
    assert rows["reconnect_waits"][:3] == ["not", "on", "a"]


def test_the_scale_out_benchmark_measures_one_and_two_replicas(monkeypatch):
    # The single broker only (the cluster's half is `make bench`'s): that it works.
    monkeypatch.setattr(bench_scale_out, "CLUSTER", False)
    monkeypatch.setattr(bench_scale_out, "CALLERS", 2)
    monkeypatch.setattr(bench_scale_out, "SECONDS", 0.5)
    monkeypatch.setattr(bench_scale_out, "WARMUP_SECONDS", 0.1)
    monkeypatch.setattr(bench_api, "SEED_USERS", 1)
    monkeypatch.setattr(bench_api, "SEED_VIDEOS", 1)

    results = bench_scale_out.run()

    assert set(results) == {("single broker", 1), ("single broker", 2)}
    for calls in results.values():
        for name, (rate, failed, per_call) in calls.items():
            assert rate > 0 and failed == 0, name
            assert per_call["videos"] > 0 and per_call["broker"] > 0, name
