"""The benchmarks still run: a benchmark is not a timed test, but one whose baseline no longer
answers would only be found when someone next runs `make bench`."""

from benchmarks import bench_gateway


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
