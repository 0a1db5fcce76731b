"""benchmarks/host_loss.py, the parts that need no hosts: reading the world's log for a
new leader's first connect, the options, and the figures printed."""

from __future__ import annotations

import datetime

from benchmarks import host_loss
from benchmarks.host_loss import Round, Watcher

# As the world logs them (cli.py's format), from a run of the benchmark.
LINK = "INFO amazon_ups.world.link:"
WORLD_LOG = "".join(
    f"2026-11-29 {line}\n"
    for line in (
        f"19:28:34,027 {LINK} world 1: ups connected from 10.213.47.17:36554",
        f"19:28:34,295 {LINK} world 1: amazon connected from 10.213.47.13:47442",
        f"19:28:47,762 {LINK} world 1: ups disconnected ([Errno 110] Connection timed out)",
        f"19:28:47,100 {LINK} ups connect from 10.213.47.16:56528 refused: error: world 1 "
        "already has a ups connection",
        f"19:28:47,776 {LINK} world 1: ups connected from 10.213.47.16:56530",
    )
)


def at(text: str) -> float:
    return datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f").timestamp()


def watcher_of(tmp_path) -> Watcher:
    (tmp_path / "world.log").write_text(WORLD_LOG)
    watcher = Watcher.__new__(Watcher)  # no databases: only the world's log is read
    watcher.world_log = tmp_path / "world.log"
    return watcher


def test_the_first_connect_frame_from_the_new_leader_counts_refused_or_not(tmp_path):
    watcher = watcher_of(tmp_path)
    cut = at("2026-11-29 19:28:37,306")
    assert watcher.world_contact("ups", "10.213.47.16", cut) == at("2026-11-29 19:28:47,100")
    # Not another side's, not another host's, nothing before the cut.
    assert watcher.world_contact("amazon", "10.213.47.16", cut) is None
    assert watcher.world_contact("ups", "10.213.47.17", cut) is None
    assert watcher.world_contact("ups", "10.213.47.17", 0.0) == at("2026-11-29 19:28:34,027")


def test_rounds_per_side_default_five_quick_one():
    assert host_loss.parse_args([]).rounds == 5
    assert host_loss.parse_args(["--quick"]).rounds == 1
    assert host_loss.parse_args(["--quick", "--rounds", "3"]).rounds == 3


def test_the_report_gives_p50_and_max_per_side_and_names_what_was_not_seen(capsys):
    rounds = [
        Round("ups", "ups-d1", seen={"lead": 10.4, "world_hears": 10.5, "delivery": 17.0}),
        Round("ups", "ups-d2", seen={"lead": 12.5, "world_hears": 12.6, "delivery": 15.0}),
        Round("amazon", "amazon-d1", seen=dict.fromkeys(host_loss.MEASURES, 11.0)),
    ]
    rounds[1].notes.append("the standby led 12.5 s after the cut (> 12.0 s)")
    host_loss.report(rounds)
    out = capsys.readouterr().out
    ups = out[out.index("ups (2 cuts)") : out.index("amazon (1 cuts)")]
    assert "standby's row says active            10.40s   12.50s   2/2" in ups
    assert "SLOW" in ups
    assert "Amazon-UPS link up again                  -        -   0/2" in ups
    assert "first order delivered                15.00s   17.00s   2/2" in ups
    assert "ups cut of ups-d2: the standby led 12.5 s after the cut" in out
    assert "2 s from the leader's loss" in out


def test_the_exit_status_follows_the_exactly_once_check(monkeypatch, tmp_path):
    monkeypatch.setattr(host_loss.hosts_module, "unavailable", lambda: None)
    monkeypatch.setattr(host_loss.pg_server, "unavailable", lambda: None)

    class FakeHosts:
        def __init__(self, names):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return None

    monkeypatch.setattr(host_loss, "Hosts", FakeHosts)
    monkeypatch.setattr(host_loss.tempfile, "mkdtemp", lambda prefix: str(tmp_path / "run"))
    monkeypatch.setattr(host_loss.signal, "signal", lambda *args: None)
    for problems, status in (([], 0), (["exactly once: order 3 delivered twice"], 1)):
        monkeypatch.setattr(host_loss, "run", lambda args, hosts, folder, p=problems: p)
        assert host_loss.main(["--quick"]) == status


def test_a_machine_without_namespaces_skips(monkeypatch, capsys):
    monkeypatch.setattr(host_loss.hosts_module, "unavailable", lambda: "not root")
    assert host_loss.main(["--quick"]) == 0
    assert "skipped: not root" in capsys.readouterr().out
