"""benchmarks/failover.py --quick: kill -9 of each side's active daemon while orders flow,
on PostgreSQL (skipped without a server): the standby takes over within the goal, and
every order is delivered exactly once."""

from __future__ import annotations

import re

import pytest

from amazon_ups.testing import postgres
from benchmarks import failover

pytestmark = pytest.mark.skipif(
    not postgres.answers(), reason=f"no PostgreSQL server answers at {postgres.shown()}"
)


@pytest.mark.timeout(600)
def test_quick_failover_is_within_the_goal_and_delivers_every_order_once(capsys):
    assert failover.main(["--quick"]) == 0
    out, err = capsys.readouterr()
    assert "exactly once: yes" in out
    assert "FAIL" not in out and "NOT FINISHED" not in out
    # Three kills per side, each taken over within the goal: by the standby, or by the
    # replacement started at the kill when its first try for the lead comes before the
    # standby's next poll (either leads; then one stands by again).
    kills = re.findall(r"^ {3}(ups|amazon) +3 .*(met|NOT met.*)$", out, re.MULTILINE)
    assert sorted(kills) == [("amazon", "met"), ("ups", "met")], out
    taken = re.findall(
        r"^  kill \d/6 .*: (the standby|pid \d+, NOT the standby) \(pid.*"
        r"one leading and one standing by again after",
        err,
        re.MULTILINE,
    )
    assert len(taken) == 6, err
