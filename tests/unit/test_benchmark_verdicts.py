"""How bench_observability judges its targets: the median of paired rounds and its 95% interval."""

import random

from benchmarks.bench_observability import median_interval, verdict


def test_the_interval_of_a_median_is_made_of_the_order_statistics_around_it():
    # n = 100: ranks 40 and 61 (the binomial table's, for 95%).
    assert median_interval([float(v) for v in range(1, 101)]) == (40.0, 61.0)
    assert median_interval([0.07]) == (0.07, 0.07)


def test_the_interval_holds_the_true_median_about_95_times_in_100():
    draws = random.Random(25)
    held = 0
    for _ in range(2000):
        low, high = median_interval([draws.gauss(0.1, 0.1) for _ in range(100)])
        held += low <= 0.1 <= high
    assert 0.93 <= held / 2000 <= 0.98


def test_a_target_is_met_or_missed_only_when_the_whole_interval_says_so():
    assert verdict((0.01, 0.029), 0.03) == "met"
    assert verdict((0.11, 0.19), 0.10) == "MISSED"
    assert verdict((0.08, 0.12), 0.10) == "unclear"
