"""The world-only install: a fresh virtual environment holding only protobuf and this
project's wheel (no Django, nothing of the sites' extra) runs ``amazon-ups world`` and
a whole order flow against it, with the world's own client library.

Offline, in well under a minute: the venv is made without pip; the wheel is built from
a copy of the sources by this environment's pip (no build isolation: setuptools is
here) and installed into the fresh venv by this pip (``--python``); protobuf is copied
file by file from this environment, as its installed RECORD lists them, which is what
an installer would have unpacked from its wheel."""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

ORDER_FLOW = """
import asyncio, sys
from amazon_ups.protocol import world_amazon_pb2 as wa, world_ups_pb2 as wu
from amazon_ups.protocol.world_messages import Side
from amazon_ups.world.client import WorldClient

async def main(ups_port, amazon_port):
    ups = await WorldClient.open(Side.UPS, "127.0.0.1", ups_port, places=[(1, 0, 0)])
    amazon = await WorldClient.open(
        Side.AMAZON, "127.0.0.1", amazon_port, world_id=ups.world_id, places=[(1, 10, 10)]
    )
    for client in (ups, amazon):
        client.set_simspeed(100_000)
    book = wa.AProduct(id=7, description="book", count=1)
    amazon.send(wa.APurchaseMore(whnum=1, things=[book]))
    await amazon.wait_result(wa.APurchaseMore)
    amazon.send(wa.APack(whnum=1, things=[book], shipid=5))
    ups.send(wu.UGoPickup(truckid=1, whid=1))
    await amazon.wait_result(wa.APacked)
    await ups.wait_result(wu.UFinished)
    amazon.send(wa.APutOnTruck(whnum=1, truckid=1, shipid=5))
    await amazon.wait_result(wa.ALoaded)
    ups.send(wu.UGoDeliver(truckid=1, packages=[wu.UDeliveryLocation(packageid=5, x=3, y=4)]))
    made = await ups.wait_result(wu.UDeliveryMade)
    print(f"package {made.packageid} delivered in world {ups.world_id}")
    await amazon.close()
    await ups.close()

asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
"""


def run(*command: str | Path, timeout: float = 60) -> str:
    result = subprocess.run(
        [str(c) for c in command], capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != 0:
        raise AssertionError(f"{command} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def copy_installed(distribution: str, site_packages: Path) -> None:
    """Copy an installed distribution's files (its RECORD) into ``site_packages``."""
    found = importlib.metadata.distribution(distribution)
    for file in found.files or ():
        source = Path(str(found.locate_file(file)))  # a path of the file system here
        if source.is_file() and "__pycache__" not in file.parts:
            target = site_packages / file
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


@pytest.fixture(scope="module")
def world_only(tmp_path_factory) -> Path:
    """The fresh venv's bin folder."""
    started = time.monotonic()
    tmp = tmp_path_factory.mktemp("world-only")
    source = tmp / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(ROOT / "src", source / "src", ignore=ignore)
    wheels = tmp / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    run(*pip, "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", wheels, source)
    (wheel,) = wheels.glob("amazon_ups-*.whl")

    env = tmp / "venv"
    venv.EnvBuilder(with_pip=False).create(env)
    python = env / "bin" / "python"
    (site_packages,) = (env / "lib").glob("python3*/site-packages")
    copy_installed("protobuf", site_packages)
    run(*pip, "--python", python, "install", "--quiet", "--no-deps", "--no-index", wheel)
    # Every requirement of what is installed is met: protobuf is all the wheel asks for.
    assert "No broken requirements" in run(*pip, "--python", python, "check")
    installed = run(*pip, "--python", python, "list", "--format=freeze")
    names = {line.split("==")[0].lower() for line in installed.split()}
    assert names == {"amazon-ups", "protobuf"}, installed
    print(f"world-only venv ready in {time.monotonic() - started:.1f} s")
    return env / "bin"


def test_the_world_only_install_has_no_django(world_only):
    probe = "import importlib.util; print(importlib.util.find_spec('django'))"
    assert run(world_only / "python", "-c", probe).strip() == "None"
    # The sites say what they need instead of a traceback.
    result = subprocess.run(
        [world_only / "amazon-ups", "up"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "pip install 'amazon-ups[sites]'" in result.stderr


def test_the_world_only_install_runs_an_order_flow(world_only, tmp_path):
    from amazon_ups.cli import parse_ready
    from amazon_ups.protocol.world_messages import Side

    state = tmp_path / "world.sqlite3"
    world = subprocess.Popen(
        [
            world_only / "amazon-ups",
            "world",
            "--ups-port",
            "0",
            "--amazon-port",
            "0",
            "--state",
            state,
            "--http-port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert world.stdout is not None
        ports = None
        deadline = time.monotonic() + 20
        while ports is None and time.monotonic() < deadline:
            line = world.stdout.readline()
            assert line, "the world exited before it was ready"
            ports = parse_ready(line)
        assert ports is not None
        script = tmp_path / "order_flow.py"
        script.write_text(ORDER_FLOW)
        out = run(world_only / "python", script, ports[Side.UPS], ports[Side.AMAZON])
        assert out.strip() == "package 5 delivered in world 1"
    finally:
        world.terminate()
        world.wait(20)
