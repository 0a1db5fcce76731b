"""What is "much longer than usual" on the operators' pages (common/dwell.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from amazon_ups.common import dwell

T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_stay_ends_when_the_state_changes_and_the_one_in_progress_is_not_counted():
    history = [(at(0), "placed"), (at(4), "packing"), (at(5), "packing"), (at(9), "packed")]
    assert dwell.stays([history]) == {"placed": [4.0], "packing": [5.0]}


def test_the_limit_is_twice_the_p95_never_under_the_floor():
    # 19 stays of 20 s and one of 100 s: the p95 is 20 s, the limit 40 s.
    assert dwell.percentile([20.0] * 19 + [100.0], 0.95) == 20.0
    assert dwell.usual_limit([20.0] * 19 + [100.0]) == 40.0
    assert dwell.usual_limit([1.0, 2.0]) == dwell.FLOOR_SECONDS
    assert dwell.usual_limit([]) == dwell.FLOOR_SECONDS


def test_limits_per_state_say_how_much_history_they_rest_on():
    histories = [[(at(0), "placed"), (at(50), "packing")], [(at(0), "placed")]]
    found = dwell.limits(histories, ["placed", "packing"])
    assert found["placed"] == {"limit": 100.0, "p95": 50.0, "samples": 1}
    assert found["packing"] == {"limit": dwell.FLOOR_SECONDS, "p95": None, "samples": 0}


def test_durations_read_as_people_say_them():
    assert dwell.human_duration(None) == ""
    assert dwell.human_duration(4.4) == "4 s"
    assert dwell.human_duration(60) == "1 min"
    assert dwell.human_duration(185) == "3 min 5 s"
    assert dwell.human_duration(2 * 3600 + 600) == "2 h 10 min"
    assert dwell.human_duration(86400) == "1 day"
    assert dwell.human_duration(3 * 86400 + 4 * 3600) == "3 days 4 h"
