"""The hosts of ``amazon_ups.testing.hosts``: each reaches the others on its own address,
a cut link really cuts (and comes back), and nothing of them is left after the ``with``."""

from __future__ import annotations

import subprocess
import sys

import pytest

from amazon_ups.testing import hosts as hosts_module
from amazon_ups.testing.hosts import Hosts
from amazon_ups.testing.waiting import wait_until

PORT = 4321
SERVER = f"""
import socket
server = socket.create_server(("", {PORT}))
print("listening", flush=True)
while True:
    connection, (address, _) = server.accept()
    connection.sendall(address.encode())
    connection.close()
"""
CLIENT = f"""
import socket, sys
with socket.create_connection((sys.argv[1], {PORT}), timeout=2) as sock:
    print(sock.recv(100).decode())
"""


def test_without_root_it_says_that_namespaces_need_root(monkeypatch):
    monkeypatch.setattr(hosts_module.os, "geteuid", lambda: 1000)
    assert hosts_module.unavailable() == "network namespaces need root (ip netns add)"


def names_left(prefix: str) -> list[str]:
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout
    return [line for line in (namespaces + links).splitlines() if line.startswith(prefix)]


def test_hosts_reach_each_other_until_one_is_cut_off_and_leave_nothing_behind(tmp_path):
    if reason := hosts_module.unavailable():
        pytest.skip(reason)
    with Hosts(["server", "client"]) as hosts:
        prefix, server = hosts.prefix, hosts["server"].address
        log = tmp_path / "server.log"
        hosts.popen("server", [sys.executable, "-c", SERVER], {}, log)
        wait_until(lambda: "listening" in log.read_text(), 20, "the server to listen")

        def ask() -> subprocess.CompletedProcess[str]:
            argv = hosts.command("client", [sys.executable, "-c", CLIENT, server])
            return subprocess.run(argv, capture_output=True, text=True, timeout=30)

        # The server sees the client's own address.
        assert ask().stdout.strip() == hosts["client"].address
        with hosts.cut("server"):
            cut = ask()  # no answer: the connection times out (or finds no route)
            assert cut.returncode != 0 and cut.stdout == "", cut
        assert ask().stdout.strip() == hosts["client"].address
    assert names_left(prefix) == []
