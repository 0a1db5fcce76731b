"""Several hosts on one machine, for tests: a Linux network namespace per host, all
on one bridge, each with an address of its own in a private /24 chosen per run.

    with Hosts(["db", "world", "web"]) as hosts:
        hosts["db"].address                    # 10.213.57.10
        hosts.popen("world", [...], log=path)   # a process in the world host's namespace
        with hosts.cut("world"):                # its link is down: nothing in or out
            ...

The bridge lives in a namespace of its own (the switch), so that no firewall of the
machine's stands between the hosts; one more veth pair joins the root namespace to it,
with the /24's first address, so that the test process itself reaches every host (HTTP
to a web site, a query to the database) as a client on the same network would. Cutting
a host takes down the switch's end of its veth pair: the host keeps its address, its
sockets and its processes, but no packet crosses, in either direction, until the link
is restored (established TCP connections then carry on).

Every name the machine sees (the namespaces, the root namespace's end of the link to
the switch) starts with a prefix unique to the run (``au<pid>-``), and leaving the
``with`` deletes all of them, after an exception too. Needs root and
``ip`` (iproute2): ``unavailable()`` says why hosts cannot be made here.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import json
import os
import random
import shutil
import signal
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from amazon_ups.testing.waiting import wait_until

FIRST_HOST = 10  # the hosts' addresses in the /24: .10, .11, ...; .1 is the bridge's


@dataclass
class Host:
    name: str
    namespace: str
    address: str
    switch_port: str  # the veth end on the bridge, in the switch's namespace


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip() or done.returncode}")
    return done


def unavailable() -> str | None:
    """Why network namespaces cannot be made here, or None when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns add)"
    if shutil.which("ip") is None:
        return "no `ip` command (iproute2)"
    probe = f"au{os.getpid()}-probe"
    done = _ip("netns", "add", probe, check=False)
    if done.returncode != 0:
        return f"ip netns add fails here: {done.stderr.strip()}"
    _ip("netns", "delete", probe, check=False)
    return None


def _free_subnet() -> ipaddress.IPv4Network:
    """A 10.213.x.0/24 that no address or route of the root namespace touches."""
    routes = _ip("-4", "-j", "route", "show", "table", "all").stdout
    addresses = _ip("-4", "-j", "addr", "show").stdout
    taken: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for route in json.loads(routes or "[]"):
        dst = route.get("dst", "")
        if dst and dst not in ("default", "broadcast"):
            with contextlib.suppress(ValueError):
                taken.append(ipaddress.ip_network(dst, strict=False))
    for link in json.loads(addresses or "[]"):
        for info in link.get("addr_info", []):
            with contextlib.suppress(ValueError, KeyError):
                local = f"{info['local']}/{info['prefixlen']}"
                taken.append(ipaddress.ip_network(local, strict=False))
    choices = list(range(256))
    random.shuffle(choices)
    for third in choices:
        subnet = ipaddress.IPv4Network(f"10.213.{third}.0/24")
        if not any(
            subnet.overlaps(other) for other in taken if isinstance(other, ipaddress.IPv4Network)
        ):
            return subnet
    raise RuntimeError("no free 10.213.x.0/24 in the root namespace")


class Hosts:
    """Hosts ``names``, each in a namespace of its own, on one bridge (see the module)."""

    def __init__(self, names: Sequence[str], prefix: str | None = None) -> None:
        self.prefix = prefix or f"au{os.getpid()}-"
        self.names = list(names)
        self.hosts: dict[str, Host] = {}
        self.switch = f"{self.prefix}switch"  # the bridge's namespace
        self.uplink = f"{self.prefix}gw"  # the root namespace's end of its link to the switch
        self.subnet: ipaddress.IPv4Network | None = None
        self.processes: list[subprocess.Popen[bytes]] = []
        self._made: list[tuple[str, str]] = []  # ("netns" | "link", name), to delete

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    def __enter__(self) -> Hosts:
        try:
            self._build()
        except BaseException:
            self.teardown()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.teardown()

    @property
    def gateway(self) -> str:
        """The root namespace's (the test's) address on the hosts' network."""
        assert self.subnet is not None
        return str(self.subnet.network_address + 1)

    def _build(self) -> None:
        if len(self.uplink) > 15:  # IFNAMSIZ
            raise RuntimeError(f"interface name {self.uplink!r} is too long: a shorter prefix")
        subnet = self.subnet = _free_subnet()
        prefixlen = str(subnet.prefixlen)
        switch = self.switch
        _ip("netns", "add", switch)
        self._made.append(("netns", switch))
        _ip("-n", switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", switch, "link", "set", "br0", "up")
        _ip("link", "add", self.uplink, "type", "veth", "peer", "name", "gw", "netns", switch)
        self._made.append(("link", self.uplink))
        _ip("-n", switch, "link", "set", "gw", "master", "br0", "up")
        _ip("addr", "add", f"{self.gateway}/{prefixlen}", "dev", self.uplink)
        _ip("link", "set", self.uplink, "up")
        for index, name in enumerate(self.names):
            namespace = f"{self.prefix}{name}"
            port = f"port{index}"
            address = str(subnet.network_address + FIRST_HOST + index)
            _ip("netns", "add", namespace)
            self._made.append(("netns", namespace))
            _ip("-n", switch, "link", "add", port, "type", "veth", "peer", "name", "eth0")
            _ip("-n", switch, "link", "set", "eth0", "netns", namespace)
            _ip("-n", switch, "link", "set", port, "master", "br0", "up")
            _ip("-n", namespace, "addr", "add", f"{address}/{prefixlen}", "dev", "eth0")
            _ip("-n", namespace, "link", "set", "eth0", "up")
            _ip("-n", namespace, "link", "set", "lo", "up")
            self.hosts[name] = Host(name, namespace, address, port)
        for name in self.hosts:
            wait_until(functools.partial(self.link_up, name), 10, f"{name}'s link to be up")

    # -- processes ----------------------------------------------------------------------

    def command(self, host: str, argv: Sequence[str]) -> list[str]:
        """``argv`` run in host ``host``'s namespace."""
        return ["ip", "netns", "exec", self.hosts[host].namespace, *argv]

    def run(
        self, host: str, argv: Sequence[str], env: dict[str, str] | None = None, timeout=120
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` on ``host`` to its end; raises with its output if it fails."""
        done = subprocess.run(
            self.command(host, argv), env=env, capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"on {host}: {' '.join(argv)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
            )
        return done

    def popen(
        self, host: str, argv: Sequence[str], env: dict[str, str], log: Path
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` on ``host``, its output (stdout and stderr) appended to ``log``;
        it leads a process group of its own. ``ip netns exec`` execs the command, so the
        process's pid is the command's own."""
        with log.open("ab") as out:
            process = subprocess.Popen(
                self.command(host, argv),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append(process)
        return process

    # -- the network --------------------------------------------------------------------

    def link_up(self, host: str) -> bool:
        """Whether both ends of ``host``'s link are up (so packets cross)."""
        info = self.hosts[host]
        outside = json.loads(_ip("-n", self.switch, "-j", "link", "show", info.switch_port).stdout)
        inside = json.loads(_ip("-n", info.namespace, "-j", "link", "show", "eth0").stdout)
        return outside[0].get("operstate") == "UP" and inside[0].get("operstate") == "UP"

    def cut_link(self, host: str) -> None:
        _ip("-n", self.switch, "link", "set", self.hosts[host].switch_port, "down")

    def restore_link(self, host: str) -> None:
        _ip("-n", self.switch, "link", "set", self.hosts[host].switch_port, "up")
        wait_until(lambda: self.link_up(host), 10, f"{host}'s link to be up again")

    @contextlib.contextmanager
    def cut(self, host: str) -> Iterator[None]:
        """Within: ``host`` is cut off from every other host (and from the test)."""
        self.cut_link(host)
        try:
            yield
        finally:
            self.restore_link(host)

    # -- the end ------------------------------------------------------------------------

    def stop_processes(self, grace: float = 10.0) -> None:
        """SIGTERM to every process group started here, then SIGKILL after ``grace``."""
        for process in self.processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        # The children of ours (a web site's workers) that outlived their leader.
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)

    def teardown(self) -> None:
        """Stop what runs in the hosts and delete every namespace and interface made."""
        self.stop_processes()
        for kind, name in reversed(self._made):
            if kind == "netns":
                # Anything still in one of our namespaces was started by us (a server
                # that daemonized, say): it would keep the namespace alive.
                pids = _ip("netns", "pids", name, check=False).stdout.split()
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError, ValueError):
                        os.kill(int(pid), signal.SIGKILL)
                _ip("netns", "delete", name, check=False)
            else:
                _ip("link", "delete", name, check=False)
        self._made.clear()
