"""Fixtures: the real rowd on a temp socket and a temp data root.

The daemon comes from $ROWD_TOP_BUILDDIR/daemon/rowd (make check sets it;
by hand it defaults to /tmp/b-py). One daemon serves the session; tests
that need to stop it start their own with ``spawn_daemon``. Every daemon is
stopped with SIGTERM and must exit 0.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, Callable, TypeVar

import pytest

T = TypeVar("T")

SRCDIR = Path(os.environ.get("ROWD_TOP_SRCDIR") or Path(__file__).resolve().parents[2])
BUILDDIR = Path(os.environ.get("ROWD_TOP_BUILDDIR") or "/tmp/b-py")
ROWD = BUILDDIR / "daemon" / "rowd"
CONFORMANCE = SRCDIR / "tests" / "data" / "conformance"

#: Rows of big.csv, the file the streaming tests read.
BIG_ROWS = 200_000

SIX = [{"id": "1", "name": "John"}, {"id": "2", "name": "Mary"},
       {"id": "3", "name": "Michael"}, {"id": "4", "name": "Anna"},
       {"id": "5", "name": "Orban"}, {"id": "6", "name": "Lucy"}]


def run(coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
    """Runs a test coroutine on a fresh loop, with a watchdog."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


class Daemon:
    """A running rowd: its socket, data root and process."""

    def __init__(self, root: Path, sock: Path, *extra: str) -> None:
        if not os.access(ROWD, os.X_OK):
            if os.environ.get("ROWD_TOP_BUILDDIR"):
                pytest.fail(f"{ROWD} is missing: build daemon/rowd first")
            pytest.skip(f"{ROWD} is missing (set ROWD_TOP_BUILDDIR)")
        self.root = root
        self.socket = str(sock)
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([str(ROWD), "-s", self.socket, "-r", str(root), "-w", "2",
                                      *extra], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(self.socket)
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"rowd did not start:\n{self.output()}")
                time.sleep(0.01)

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Stops the daemon; returns its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"rowd did not exit on signal {sig}:\n{self.output()}")

    def stop_clean(self) -> None:
        rc = self.stop()
        try:
            assert rc == 0, f"rowd exited with {rc}:\n{self.output()}"
        finally:
            self.log.close()


def make_big_csv(path: Path, rows: int = BIG_ROWS) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("id,name,city,score,note\n")
        f.writelines(f"{i},name{i % 977},city{i % 13},{i * 0.5},\"a, b {i}\"\n"
                     for i in range(1, rows + 1))


@pytest.fixture(scope="session")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The daemon's data root: the conformance fixtures and big.csv."""
    root = tmp_path_factory.mktemp("root")
    for name in ("iterabledata", "csv-spectrum"):
        shutil.copytree(CONFORMANCE / name, root / name)
    make_big_csv(root / "big.csv")
    (root / "ragged.csv").write_text("a,b\n1,2\n3,4\n5\n6,7\n")
    (root / "out").mkdir()
    return root


@pytest.fixture(scope="session")
def daemon(data_root: Path) -> Iterator[Daemon]:
    """The session's daemon."""
    with tempfile.TemporaryDirectory(prefix="rowd-py-") as d:
        rowd = Daemon(data_root, Path(d) / "rowd.sock")
        yield rowd
        rowd.stop_clean()


@pytest.fixture
def sock(daemon: Daemon, monkeypatch: pytest.MonkeyPatch) -> str:
    """The daemon's socket, also set as $ROWD_SOCKET (the clients' default)."""
    monkeypatch.setenv("ROWD_SOCKET", daemon.socket)
    return daemon.socket


@pytest.fixture
def root(daemon: Daemon) -> Path:
    return daemon.root


@pytest.fixture
def spawn_daemon(tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    """Starts private daemons on tmp_path; stops those still running."""
    started: list[Daemon] = []
    # A short directory for sockets: sun_path holds 107 bytes.
    sockets = tempfile.TemporaryDirectory(prefix="rowd-py-")

    def spawn(*extra: str) -> Daemon:
        root = tmp_path / "root"
        root.mkdir(exist_ok=True)
        d = Daemon(root, Path(sockets.name) / f"rowd{len(started)}.sock", *extra)
        started.append(d)
        return d

    yield spawn
    for d in started:
        if d.proc.poll() is None:
            d.stop_clean()
        d.log.close()
    sockets.cleanup()
