"""Several daemons of one side on PostgreSQL: one leads, the others stand by and take
over when its session ends (common/daemon/lead.py); one that lost the lead commits
nothing. On SQLite a second daemon refuses to start instead (tests/test_sole_daemon.py)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from datetime import timedelta

import psycopg
import pytest
from django.db import connection, connections
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from amazon_ups.common import settings as settings_module
from amazon_ups.common.daemon.lead import Lead, LostLead, side_lead
from amazon_ups.common.messaging.models import DaemonProcess, Setting
from amazon_ups.testing.waiting import wait_until

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="standby daemons need PostgreSQL"),
]


def in_thread(work) -> threading.Thread:
    """``work()`` in a thread of its own, with its own database connection."""

    def run() -> None:
        try:
            work()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_one_daemon_leads_and_another_takes_over_when_its_session_ends():
    first = Lead("ups-test")
    assert first.take() and first.held
    tries: list[bool] = []
    took = threading.Event()

    def standby() -> None:
        second = Lead("ups-test")
        tries.append(second.take())  # the first one leads
        wait_until(second.take, 10, "the lead, once the first one's session ended")
        took.set()

    thread = in_thread(standby)
    wait_until(lambda: tries, 10, "the standby's first try")
    assert tries == [False]
    connection.close()  # the first daemon's session ends (a crash, a cut)
    assert took.wait(10)
    thread.join(10)
    assert not first.held  # and the first knows it


def test_a_daemon_whose_connection_was_replaced_commits_nothing_until_it_leads_again():
    lead = Lead("ups-test")
    assert lead.take()
    with connection.execute_wrapper(lead.fence):
        Setting.objects.create(key="before", value="1")
        connection.close()  # lost; Django makes a new connection by itself
        with pytest.raises(LostLead):
            Setting.objects.create(key="after", value="1")
        assert not lead.held
        assert lead.take()  # nobody else took it: lead again, on the new connection
        Setting.objects.create(key="again", value="1")
    assert sorted(Setting.objects.values_list("key", flat=True)) == ["again", "before"]


def test_a_standby_waits_records_itself_and_leads_once_the_leader_is_gone():
    leader = Lead("ups")
    assert leader.take()
    leading = threading.Event()
    stop = threading.Event()

    def standby() -> None:
        with side_lead("ups", stop=stop):
            leading.set()
            stop.wait(10)

    thread = in_thread(standby)
    wait_until(
        lambda: DaemonProcess.objects.filter(role=DaemonProcess.Role.STANDBY).exists(),
        10,
        "the standby's row",
    )
    assert not leading.is_set()
    connection.close()  # the leader's session ends
    assert leading.wait(10)
    [row] = DaemonProcess.objects.all()
    assert (row.name, row.pid, row.role) == ("ups", os.getpid(), DaemonProcess.Role.ACTIVE)
    stop.set()
    thread.join(10)
    assert DaemonProcess.objects.get().role == DaemonProcess.Role.STOPPED


def test_a_standby_told_to_stop_stops_without_leading():
    leader = Lead("ups")
    assert leader.take()
    stop = threading.Event()
    ended: list[object] = []

    def standby() -> None:
        try:
            with side_lead("ups", stop=stop):
                ended.append("led")
        except SystemExit as exit:
            ended.append(exit.code)

    thread = in_thread(standby)
    wait_until(lambda: DaemonProcess.objects.exists(), 10, "the standby's row")
    stop.set()
    thread.join(10)
    assert ended == [0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listens(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            return True
    except OSError:
        return False


def active_figure(port: int) -> float:
    """``amazon_ups_daemon_active`` as the daemon's metrics endpoint serves it."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    [value] = [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "amazon_ups_daemon_active"
    ]
    return value


def database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


UPS_DAEMON = [sys.executable, "-m", "amazon_ups.cli", "ups", "daemon"]


def daemon_env(tmp_path, url: str | None = None) -> dict[str, str]:
    """A UPS daemon's environment on the test database (or ``url``) with a port of its
    own and no world to reach (it keeps trying, which is all these tests need)."""
    return {
        **os.environ,
        "DATABASE_URL": url or database_url(),
        "AMAZON_UPS_VAR": str(tmp_path),
        "WORLD_UPS_PORT": "9",
        "UPS_PORT": str(free_port()),
    }


def role_of(process: subprocess.Popen) -> str | None:
    row = DaemonProcess.objects.filter(pid=process.pid).first()
    return row.role if row else None


def end_the_leaders_session() -> None:
    """The server ends the session that holds the lead (as when its host is cut off)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks "
            "WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid() "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        assert cursor.fetchall() == [(True,)]


def stop(*processes: subprocess.Popen | None) -> None:
    """SIGTERM (a frozen one thawed first), SIGKILL past 30 s: never left running
    against the test database."""
    for process in processes:
        if process is None or process.poll() is not None:
            continue
        process.send_signal(signal.SIGCONT)
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise


def test_real_daemons_a_kill_9_of_the_leader_hands_the_lead_to_the_standby(tmp_path):
    """Two UPS daemon processes on one database: the second stands by; the first is
    killed with SIGKILL and the second leads (and listens for Amazon) within seconds."""
    env = daemon_env(tmp_path)
    command = UPS_DAEMON
    first = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    second = None
    try:
        wait_until(lambda: role_of(first) == "active", 60, "the first daemon to lead")
        metrics_port = free_port()
        second = subprocess.Popen(
            command,
            env={**env, "DAEMON_METRICS_PORT": str(metrics_port)},
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: role_of(second) == "standby", 60, "the second to stand by")
        # A standby answers Prometheus too, saying it does not lead.
        wait_until(lambda: listens(metrics_port), 30, "the standby's metrics")
        assert active_figure(metrics_port) == 0
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        wait_until(lambda: role_of(second) == "active", 15, "the standby to take over")
        # The killed one said nothing; the new leader knows it is gone.
        assert role_of(first) == "stopped"
        wait_until(lambda: listens(int(env["UPS_PORT"])), 30, "the new leader to listen")
        assert active_figure(metrics_port) == 1
    finally:
        stop(first, second)
    assert second.returncode == 0  # stopped on SIGTERM, cleanly


def test_real_daemon_that_lost_the_lead_while_cut_off_stands_by_and_leads_again(tmp_path):
    """The leader's session is ended by the server (as when its host was cut off long
    enough) and another process takes the lead before it is back: it closes its links
    and stands by, still running, and leads again once the other is gone."""
    env = daemon_env(tmp_path)
    port = int(env["UPS_PORT"])
    daemon = subprocess.Popen(UPS_DAEMON, env=env, stderr=subprocess.DEVNULL)

    def role() -> str | None:
        return role_of(daemon)

    try:
        wait_until(lambda: role() == "active" and listens(port), 60, "the daemon to lead")
        end_the_leaders_session()
        other = Lead("ups")
        wait_until(other.take, 10, "the lead, once the daemon's session has ended")
        wait_until(lambda: role() == "standby", 30, "the daemon to stand by")
        assert daemon.poll() is None
        wait_until(lambda: not listens(port), 10, "the daemon to close its listener")
        connection.close()  # the other one goes
        wait_until(lambda: role() == "active" and listens(port), 30, "the daemon to lead again")
    finally:
        stop(daemon)
    assert daemon.returncode == 0


def test_a_standby_that_takes_over_from_a_leader_still_listening_waits_for_the_port(tmp_path):
    """Two UPS daemons on one host and port. The leader is frozen and its session ended
    by the server (its host cut off): the standby takes the lead while the old leader,
    which has not noticed yet, still holds the port. The new leader waits for the port
    (command.run_side) instead of crashing on it ("Address already in use" from
    build_daemon, as benchmarks/failover.py saw when the server ended every session),
    and listens once the old one has closed its links to stand by."""
    env = daemon_env(tmp_path)
    port = int(env["UPS_PORT"])
    command = UPS_DAEMON
    first = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    second = None
    try:
        wait_until(lambda: role_of(first) == "active" and listens(port), 60, "the first to lead")
        second = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)
        wait_until(lambda: role_of(second) == "standby", 60, "the second to stand by")
        # The leader freezes (its host cut off) and the server ends its session: it
        # cannot take the lead again before the standby does, and holds the port.
        first.send_signal(signal.SIGSTOP)
        end_the_leaders_session()
        wait_until(
            lambda: second.poll() is not None or role_of(second) == "active",
            15,
            "the standby to take over",
        )
        assert second.poll() is None, second.communicate()[1].decode(errors="replace")
        first.send_signal(signal.SIGCONT)  # back: it finds the lead taken
        wait_until(lambda: role_of(first) == "standby", 30, "the old leader to stand by")
        wait_until(lambda: listens(port), 30, "the new leader to listen")
        assert role_of(second) == "active" and first.poll() is None
    finally:
        stop(first, second)
    assert second.returncode == 0


def test_both_ends_of_a_database_connection_notice_a_host_gone_within_seconds():
    """The server drops the session of a host cut off (and with it a leader's lock)
    after DEAD_PEER_AFTER s, not after the kernel's two hours; so does our end."""
    with connection.cursor() as cursor:
        cursor.execute("SHOW tcp_keepalives_idle")
        assert cursor.fetchone() == (str(settings_module.DEAD_PEER_IDLE),)
        cursor.execute("SHOW tcp_user_timeout")
        assert cursor.fetchone() == (str(settings_module.DEAD_PEER_AFTER * 1000),)
    dsn = connection.connection.info.dsn
    assert f"keepalives_idle={settings_module.DEAD_PEER_IDLE}" in dsn
    assert f"tcp_user_timeout={settings_module.DEAD_PEER_AFTER * 1000}" in dsn


def test_taking_the_lead_marks_a_silent_active_one_stopped_and_forgets_the_long_gone():
    now = timezone.now()
    killed = DaemonProcess.objects.create(
        name="ups", host="ups-1", pid=11, role="active", seen_at=now, role_since=now
    )
    long_gone = DaemonProcess.objects.create(
        name="ups",
        host="ups-2",
        pid=12,
        role="standby",
        seen_at=now - timedelta(days=2),
        role_since=now - timedelta(days=3),
    )
    other_side = DaemonProcess.objects.create(
        name="amazon", host="a-1", pid=13, role="active", seen_at=now, role_since=now
    )
    with side_lead("ups"):
        pass
    killed.refresh_from_db()
    assert killed.role == "stopped"
    assert not DaemonProcess.objects.filter(id=long_gone.id).exists()
    other_side.refresh_from_db()
    assert other_side.role == "active"


def test_real_daemon_started_while_its_database_is_not_there_waits_for_it(tmp_path):
    """Started before its database exists (a server still starting, a network not up
    yet), the daemon waits, and leads once the database is there."""
    db = connection.settings_dict
    name = f"{db['NAME']}_later"
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}"
    env = daemon_env(tmp_path, url)
    admin = {**db, "NAME": "postgres"}
    log = tmp_path / "daemon.log"
    with open(log, "wb") as out:
        daemon = subprocess.Popen(UPS_DAEMON, env=env, stderr=out)
    try:
        wait_until(lambda: "database unavailable" in log.read_text(), 60, "the daemon to wait")
        assert daemon.poll() is None
        connection.close()  # a template database must have no other session
        with psycopg_admin(admin) as server:
            server.execute(f'CREATE DATABASE "{name}" TEMPLATE "{db["NAME"]}"')
        wait_until(lambda: listens(int(env["UPS_PORT"])), 60, "the daemon to lead and listen")
    finally:
        try:
            stop(daemon)
        finally:
            with psycopg_admin(admin) as server:
                server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    assert daemon.returncode == 0, log.read_text()
    assert "Traceback" not in log.read_text()


def psycopg_admin(settings_dict: dict) -> psycopg.Connection:
    return psycopg.connect(
        host=settings_dict["HOST"] or "127.0.0.1",
        port=settings_dict["PORT"] or 5432,
        user=settings_dict["USER"],
        dbname=settings_dict["NAME"],
        autocommit=True,
    )
