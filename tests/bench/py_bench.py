#!/usr/bin/python3
"""Python reading people.csv (1M rows x 10 columns): rowd vs csv.DictReader.

    /usr/bin/python3 tests/bench/py_bench.py [DATA_DIR] [--rowd PATH] [--socket PATH]

DATA_DIR (default: a temp dir) holds people.csv; when it is missing it is
generated with the peerbench generator (/work/shared/bench/gen.py, or
../shared/bench/gen.py beside the repository). Unless --socket names a
running daemon, a private rowd (default $ROWD_TOP_BUILDDIR/daemon/rowd, then
/tmp/b-py-o2/daemon/rowd: build it with CFLAGS=-O2) serves DATA_DIR on a temp
socket. Every figure is the best of --repeat runs, all measured in this run;
each counts the rows and reads one field of every row.
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import os
import platform
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "client" / "python"))

import msgpack  # noqa: E402

import rowd  # noqa: E402

ROWS = 1_000_000
GENERATORS = [Path("/work/shared/bench/gen.py"), REPO.parent / "shared" / "bench" / "gen.py"]


def ensure_data(data: Path) -> Path:
    target = data / "people.csv"
    if target.exists():
        return target
    gen = next((g for g in GENERATORS if g.exists()), None)
    if gen is None:
        sys.exit(f"no {target} and no generator among {', '.join(map(str, GENERATORS))}")
    print(f"generating {target} with {gen} ...", file=sys.stderr)
    subprocess.run([sys.executable, str(gen), str(data)], check=True)
    return target


def default_rowd() -> Path:
    build = os.environ.get("ROWD_TOP_BUILDDIR")
    return Path(build) / "daemon" / "rowd" if build else Path("/tmp/b-py-o2/daemon/rowd")


def start_daemon(binary: Path, root: Path, sock: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([str(binary), "-s", sock, "-r", str(root), "-l", "warn"])
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(sock)
            return proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"{binary} did not start")
            time.sleep(0.01)


def dictreader(path: Path) -> int:
    n = 0
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            n += row["id"] is not None
    return n


async def async_for(path: Path, sock: str, batch: int) -> int:
    n = 0
    async with await rowd.aopen_iterable(path, socket=sock, batch=batch) as source:
        async for row in source:
            n += row["id"] is not None
    return n


async def aread_bulk(path: Path, sock: str) -> int:
    n = 0
    async with await rowd.aopen_iterable(path, socket=sock) as source:
        while rows := await source.aread_bulk(1000):
            for row in rows:
                n += row["id"] is not None
    return n


def sync_for(path: Path, sock: str) -> int:
    n = 0
    with rowd.open_iterable(path, socket=sock) as source:
        for row in source:
            n += row["id"] is not None
    return n


def best(fn: Callable[[], int], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        n = fn()
        times.append(time.perf_counter() - t0)
        if n != ROWS:
            sys.exit(f"read {n} rows, expected {ROWS}")
    return min(times)


def arun(make: Callable[[], Coroutine[Any, Any, int]]) -> Callable[[], int]:
    return lambda: asyncio.run(make())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", nargs="?", type=Path, help="directory of people.csv")
    ap.add_argument("--rowd", type=Path, default=default_rowd(), help="the daemon binary")
    ap.add_argument("--socket", help="use this running daemon (its root must hold the data)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    tmp = tempfile.TemporaryDirectory(prefix="rowd-pybench-")
    data = (args.data or Path(tmp.name)).resolve()
    data.mkdir(parents=True, exist_ok=True)
    path = ensure_data(data)
    size = path.stat().st_size
    proc = None
    sock = args.socket
    if sock is None:
        sock = os.path.join(tmp.name, "rowd.sock")
        proc = start_daemon(args.rowd, data, sock)
    try:
        cases: list[tuple[str, Callable[[], int]]] = [
            ("csv.DictReader (in-process)", lambda: dictreader(path)),
            ("rowd aopen_iterable + async for", arun(lambda: async_for(path, sock, 1000))),
            ("rowd aopen_iterable + async for, batch 4000",
             arun(lambda: async_for(path, sock, 4000))),
            ("rowd aopen_iterable + aread_bulk(1000)", arun(lambda: aread_bulk(path, sock))),
            ("rowd open_iterable (sync) + for", lambda: sync_for(path, sock)),
        ]
        results = [(name, best(fn, args.repeat)) for name, fn in cases]
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
        tmp.cleanup()

    cmd = " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv])
    print(f"# {path} ({size / 1e6:.1f} MB, {ROWS:,} rows x 10 columns)")
    print(f"# Python {platform.python_version()}, msgpack {msgpack.version}, "
          f"{os.cpu_count()} CPUs, daemon {args.socket or args.rowd}; best of {args.repeat}")
    base = results[0][1]
    print(f"{'case':46} {'seconds':>8} {'rows/s':>11} {'vs DictReader':>14}")
    for name, secs in results:
        print(f"{name:46} {secs:8.3f} {ROWS / secs:11,.0f} {base / secs:13.2f}x")
    print(f"# reproduce: {cmd}")


if __name__ == "__main__":
    main()
