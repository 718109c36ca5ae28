#!/usr/bin/python3
"""Soak test for rowd: N clients doing random valid and invalid operations
for a while against one daemon, which must stay up, answer correctly and
give back its descriptors and memory. Not part of `make check`.

    /usr/bin/python3 tests/soak/soak.py --seconds 600 --clients 16

It starts daemon/rowd from the build tree ($ROWD_TOP_BUILDDIR, --rowd, or
./daemon/rowd) on a temp socket and a temp data root filled with sample
files (or attaches to a running daemon with --socket and --pid, given a
root it can write sample files into with --root). Each client loops over
sessions: connect, a random run of operations (open, read, read_bulk,
stream with cancel or limit, write, write_bulk, reset, totals, close,
detect, tables, stats, bad paths, bad handles, wrong field types, unknown
ops, garbage frames, half frames, text mode), then leave in a random way
(close, drop mid-stream or mid-write, half-close). Results that can be
checked are (row counts, totals, round trips of writes).

At the end it prints requests answered, errors by code, the daemon's RSS
and descriptor count over time, and exits 1 when the daemon died, an
answer was malformed or wrong, or descriptors / RSS did not come back
near where they started once the clients were gone.
"""
from __future__ import annotations

import argparse
import collections
import gzip
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import msgpack

KNOWN_CODES = {"EPROTO", "EINVAL", "ENOENT", "EACCES", "EFORMAT", "ECODEC", "ELIMIT",
               "EBADHANDLE", "ENOTSUP", "EBUSY", "EIO", "ECANCELLED", "ENOMEM",
               "ESHUTDOWN", "EEXIST"}

MID_ROWS = 20_000
JSONL_ROWS = 5_000
SIX = 6


# ---- sample files ------------------------------------------------------------

def make_root(root: Path) -> None:
    """The files the clients read; out/ is where they write."""
    (root / "out").mkdir(parents=True, exist_ok=True)
    (root / "sub").mkdir(exist_ok=True)
    six = "id,name\n" + "".join(f"{i},name{i}\n" for i in range(1, SIX + 1))
    (root / "small.csv").write_text(six)
    with open(root / "mid.csv", "w") as f:
        f.write("id,name,text\n")
        for i in range(MID_ROWS):
            f.write(f"{i},name{i},lorem ipsum dolor sit amet {i}\n")
    lines = "".join(json.dumps({"id": i, "tags": ["a", i % 7], "nested": {"k": i * 1.5}}) + "\n"
                    for i in range(JSONL_ROWS))
    (root / "data.jsonl").write_text(lines)
    with gzip.open(root / "data.jsonl.gz", "wt") as f:
        f.write(lines)
    (root / "data.json").write_text(json.dumps([{"i": i, "s": "x" * (i % 50)} for i in range(2000)]))
    with open(root / "data.msgpack", "wb") as f:
        for i in range(3000):
            f.write(msgpack.packb({"i": i, "b": [i, None, True]}))
    (root / "bad.csv").write_text("a,b\n" + "1,2\n" * 50 + "1,2,3\n" + "4,5\n" * 10)
    (root / "bad.jsonl").write_text('{"a":1}\n' * 30 + "[1,2]\n" + '{"a":2}\n')
    blob = gzip.compress(lines.encode())
    (root / "trunc.jsonl.gz").write_bytes(blob[: len(blob) // 2])
    (root / "empty.csv").write_text("")
    (root / "noext").write_bytes(os.urandom(300))
    link = root / "escape.csv"
    if not link.is_symlink():
        link.symlink_to("/etc/hostname")


READ_FILES = {  # path: rows a full read gives (None: an error comes)
    "small.csv": SIX, "mid.csv": MID_ROWS, "data.jsonl": JSONL_ROWS,
    "data.jsonl.gz": JSONL_ROWS, "data.json": 2000, "data.msgpack": 3000,
    "bad.csv": None, "bad.jsonl": None, "trunc.jsonl.gz": None, "empty.csv": 0,
}
BAD_PATHS = ["nope.csv", "../etc/passwd", "/etc/passwd", "sub", "escape.csv", "", "noext",
             "a" * 5000, "sub/../../x.csv", "out/"]


# ---- statistics ----------------------------------------------------------------

class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.answers = 0    # requests answered (a stream's last message counts)
        self.messages = 0   # every message, stream batches included
        self.sessions = 0
        self.errors: collections.Counter[str] = collections.Counter()
        self.problems: list[str] = []
        self.ops: collections.Counter[str] = collections.Counter()

    def problem(self, what: str) -> None:
        with self.lock:
            if len(self.problems) < 50:
                self.problems.append(what)
            print(f"soak: PROBLEM: {what}", file=sys.stderr, flush=True)


class Gone(Exception):
    """The connection ended (expected after some abuse)."""


# ---- one client ------------------------------------------------------------------

class Client:
    def __init__(self, n: int, sock: str, tally: Tally, rng: random.Random) -> None:
        self.n = n
        self.sock_path = sock
        self.t = tally
        self.rng = rng
        self.s: socket.socket | None = None
        self.up: msgpack.Unpacker | None = None
        self.next_id = 1
        self.writes = 0

    # -- transport

    def connect(self) -> None:
        self.s = socket.socket(socket.AF_UNIX)
        self.s.settimeout(30)
        self.s.connect(self.sock_path)
        self.up = msgpack.Unpacker(raw=False, strict_map_key=False, max_buffer_size=64 << 20)
        self.next_id = 1
        with self.t.lock:
            self.t.sessions += 1

    def drop(self) -> None:
        if self.s:
            try:
                self.s.close()
            except OSError:
                pass
        self.s = None

    def send(self, obj: dict) -> int:
        rid = self.next_id
        self.next_id += 1
        obj = dict(obj, id=rid)
        with self.t.lock:
            self.t.ops[obj.get("op", "?")] += 1
        try:
            assert self.s
            self.s.sendall(msgpack.packb(obj))
        except OSError as e:
            raise Gone(str(e)) from e
        return rid

    def recv(self) -> dict:
        assert self.s and self.up
        while True:
            for msg in self.up:
                if not isinstance(msg, dict) or ("ok" not in msg):
                    self.t.problem(f"client {self.n}: malformed answer {str(msg)[:200]}")
                    raise Gone("malformed")
                with self.t.lock:
                    self.t.messages += 1
                    if not ("rows" in msg and "seq" in msg) and "progress" not in msg:
                        self.t.answers += 1
                    if not msg["ok"]:
                        code = (msg.get("error") or {}).get("code", "?")
                        self.t.errors[code] += 1
                        if code not in KNOWN_CODES:
                            self.t.problem(f"client {self.n}: unknown error code {code}")
                return msg
            try:
                data = self.s.recv(1 << 16)
            except socket.timeout as e:
                self.t.problem(f"client {self.n}: no answer in 30 s")
                raise Gone("timeout") from e
            except OSError as e:
                raise Gone(str(e)) from e
            if not data:
                raise Gone("eof")
            self.up.feed(data)

    def wait(self, rid: int) -> dict:
        """The (last) answer to request rid; stream messages are skipped."""
        while True:
            m = self.recv()
            if m.get("id") == rid and not ("rows" in m and "seq" in m) and "progress" not in m:
                return m

    def call(self, **req: object) -> dict:
        return self.wait(self.send(req))

    def expect_error(self, m: dict, codes: set[str], what: str) -> None:
        if m.get("ok"):
            self.t.problem(f"client {self.n}: {what}: succeeded, expected {sorted(codes)}")
        elif m["error"].get("code") not in codes:
            self.t.problem(f"client {self.n}: {what}: {m['error']}, expected {sorted(codes)}")

    # -- operations

    def read_session(self) -> None:
        path = self.rng.choice(list(READ_FILES))
        want = READ_FILES[path]
        m = self.call(op="open", path=path)
        if not m["ok"]:
            self.t.problem(f"client {self.n}: open {path}: {m['error']}")
            return
        h = m["handle"]
        got = 0
        failed = False
        for _ in range(self.rng.randint(1, 8)):
            r = self.rng.random()
            if r < 0.3:
                n = self.rng.choice([1, 10, 1000, 5000])
                a = self.call(op="read_bulk", handle=h, n=n)
                if a["ok"]:
                    got += len(a["rows"])
                    # Short without eof only before an error (bad files).
                    if not a["eof"] and len(a["rows"]) != n and want is not None:
                        self.t.problem(f"client {self.n}: read_bulk {n} of {path}: "
                                       f"{len(a['rows'])} rows without eof")
                else:
                    failed = True
            elif r < 0.4:
                a = self.call(op="read", handle=h)
                if a["ok"] and "row" in a:
                    got += 1
                failed |= not a["ok"]
            elif r < 0.6:
                got, failed = self.stream(h, path, got, failed)
            elif r < 0.7:
                a = self.call(op="reset", handle=h)
                if a["ok"]:
                    got, failed = 0, False
            elif r < 0.8:
                a = self.call(op="totals", handle=h)
                if a["ok"] and want is not None and a["rows"] != want:
                    self.t.problem(f"client {self.n}: totals {path}: {a['rows']}, expected {want}")
            elif r < 0.9:
                # A limit, an n of 0, a wrong type.
                a = self.call(op="read_bulk", handle=h, n=self.rng.choice([0, 10**9, -1, "x"]))
                self.expect_error(a, {"ELIMIT", "EINVAL", "EPROTO"}, "read_bulk with a bad n")
            else:
                if self.rng.random() < 0.5:
                    return  # leave the handle open: the disconnect frees it
                break
        if want is not None and not failed and got > want:
            self.t.problem(f"client {self.n}: {path}: {got} rows read, the file has {want}")
        self.call(op="close", handle=h)

    def stream(self, h: int, path: str, got: int, failed: bool) -> tuple[int, bool]:
        mode = self.rng.random()
        req: dict = {"op": "stream", "handle": h, "batch": self.rng.choice([1, 100, 1000, 5000])}
        if mode < 0.3:
            req["limit"] = self.rng.randint(1, 3000)
        rid = self.send(req)
        if mode > 0.85:
            self.send({"op": "cancel", "target": rid})
        if 0.75 < mode <= 0.85:
            # Gone in the middle of the stream.
            raise Gone("dropped mid-stream")
        rows = 0
        while True:
            m = self.recv()
            if m.get("id") != rid:
                continue
            if not m["ok"]:
                return got + rows, True
            rows += len(m.get("rows", []))
            if m.get("eof"):
                if m.get("rows_total") != rows:
                    self.t.problem(f"client {self.n}: stream {path}: rows_total "
                                   f"{m.get('rows_total')}, {rows} rows seen")
                want = READ_FILES[path]
                if ("limit" not in req and not m.get("cancelled") and want is not None
                        and not failed and got + rows != want):
                    self.t.problem(f"client {self.n}: stream {path}: {got + rows} rows in all, "
                                   f"expected {want}")
                return got + rows, failed

    def write_session(self) -> None:
        self.writes += 1
        ext = self.rng.choice(["jsonl", "csv", "jsonl.gz", "json", "msgpack", "csv.zst"])
        shared = self.rng.random() < 0.2
        path = f"out/shared.{ext}" if shared else f"out/c{self.n}-{self.writes % 20}.{ext}"
        m = self.call(op="open", path=path, mode="w")
        if not m["ok"]:
            self.t.problem(f"client {self.n}: open w {path}: {m['error']}")
            return
        h = m["handle"]
        rows = [{"id": str(i), "name": f"n{i}", "v": str(i * 3)} for i in range(100)]
        written = 0
        for part in range(4):
            r = self.rng.random()
            if r < 0.1:
                a = self.call(op="write", handle=h, row=[1, 2])           # not a map
                self.expect_error(a, {"EINVAL", "EPROTO"}, "write of a non-map")
            elif r < 0.15:
                raise Gone("dropped mid-write")
            a = self.call(op="write_bulk", handle=h, rows=rows[part * 25:(part + 1) * 25])
            if not a["ok"]:
                self.t.problem(f"client {self.n}: write_bulk {path}: {a['error']}")
                return
            written += a["written"]
        if self.rng.random() < 0.15:
            raise Gone("dropped before close")
        a = self.call(op="close", handle=h)
        if not a["ok"] or a.get("rows_written") != written:
            self.t.problem(f"client {self.n}: close {path}: {a}")
            return
        # All or nothing, also when others replace it meanwhile.
        b = self.call(op="open", path=path)
        if not b["ok"]:
            self.t.problem(f"client {self.n}: reading back {path}: {b['error']}")
            return
        c = self.call(op="read_bulk", handle=b["handle"], n=1000)
        if not c["ok"] or len(c["rows"]) != 100:
            self.t.problem(f"client {self.n}: {path} read back: "
                           f"{c.get('error') or len(c['rows'])} rows, expected 100")
        self.call(op="close", handle=b["handle"])

    def misc(self) -> None:
        r = self.rng.random()
        if r < 0.2:
            a = self.call(op="open", path=self.rng.choice(BAD_PATHS))
            self.expect_error(a, {"ENOENT", "EACCES", "EINVAL", "EFORMAT", "ENOTSUP", "EEXIST",
                                  "ELIMIT"}, "open of a bad path")
            if a["ok"]:
                self.call(op="close", handle=a["handle"])
        elif r < 0.35:
            op = self.rng.choice(["read", "read_bulk", "close", "reset", "totals", "write"])
            a = self.call(op=op, handle=self.rng.choice([77, 0, -3, "x"]), n=1, row={})
            self.expect_error(a, {"EBADHANDLE", "EINVAL", "EPROTO"}, f"{op} on a bad handle")
        elif r < 0.45:
            a = self.call(op=self.rng.choice(["frobnicate", "", 42]))
            self.expect_error(a, {"EPROTO", "EINVAL", "ENOTSUP"}, "an unknown op")
        elif r < 0.6:
            a = self.call(op=self.rng.choice(["ping", "stats", "hello"]))
            if not a["ok"]:
                self.t.problem(f"client {self.n}: {a}")
        elif r < 0.75:
            a = self.call(op=self.rng.choice(["detect", "tables"]),
                          path=self.rng.choice(list(READ_FILES) + BAD_PATHS[:3]))
        elif r < 0.85:
            a = self.call(op="open", path="small.csv", options={"frob": 1})
            self.expect_error(a, {"EINVAL"}, "an unknown option")
        else:
            src = self.rng.choice(["small.csv", "data.jsonl", "bad.csv"])
            a = self.call(op="convert", **{"from": {"path": src},
                                           "to": {"path": f"out/conv{self.n}.jsonl"}})

    def abuse(self) -> None:
        """Ends the connection in a way a broken client would."""
        assert self.s
        r = self.rng.random()
        try:
            if r < 0.25:   # bytes that are not msgpack after a map header
                self.s.sendall(b"\x82\xa2op\xc1" + os.urandom(self.rng.randint(0, 64)))
                while self.recv():
                    pass
            elif r < 0.45:  # half a frame, then gone
                frame = msgpack.packb({"op": "open", "id": 1, "path": "mid.csv"})
                self.s.sendall(frame[: self.rng.randint(1, len(frame) - 1)])
            elif r < 0.65:  # requests, then only the sending side shut
                self.send({"op": "open", "path": "small.csv"})
                self.send({"op": "read_bulk", "handle": 1, "n": 10})
                self.s.shutdown(socket.SHUT_WR)
                while self.recv():
                    pass
            elif r < 0.8:   # a huge array header
                self.s.sendall(b"\x82\xa2id\x01\xa4rows\xdd\xff\xff\xff\xff")
                while self.recv():
                    pass
            else:           # the text mode on a fresh connection
                self.drop()
                self.connect()
                assert self.s
                self.s.sendall(b"ping\nopen small.csv\nread_bulk 1 3\nbogus words\nclose 1\n")
                self.s.shutdown(socket.SHUT_WR)
                buf = b""
                while True:
                    d = self.s.recv(65536)
                    if not d:
                        break
                    buf += d
                lines = buf.decode().splitlines()
                if len(lines) != 5 or any("\"ok\"" not in ln for ln in lines):
                    self.t.problem(f"client {self.n}: text session: {buf[:300]!r}")
                with self.t.lock:
                    self.t.answers += len(lines)
                    self.t.messages += len(lines)
        except (Gone, OSError):
            pass

    def run(self, until: float) -> None:
        while time.monotonic() < until:
            try:
                self.connect()
                for _ in range(self.rng.randint(1, 30)):
                    r = self.rng.random()
                    if r < 0.45:
                        self.read_session()
                    elif r < 0.7:
                        self.write_session()
                    elif r < 0.97:
                        self.misc()
                    else:
                        self.abuse()
                        break
                    if time.monotonic() >= until:
                        break
            except Gone:
                pass
            except (ConnectionRefusedError, FileNotFoundError) as e:
                self.t.problem(f"client {self.n}: cannot connect: {e}")
                time.sleep(1)
            except Exception as e:  # noqa: BLE001 - a bug in the soak itself or an odd answer
                self.t.problem(f"client {self.n}: {type(e).__name__}: {e}")
            finally:
                self.drop()


# ---- the daemon ------------------------------------------------------------------

def proc_status(pid: int) -> tuple[int, int, int]:
    """(RSS KiB, peak RSS KiB, open descriptors); -1 when gone."""
    rss = hwm = -1
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1, -1, -1
    return rss, hwm, fds


def fd_targets(pid: int) -> list[str]:
    """What the daemon's descriptors point at (for a report of a leak)."""
    out = []
    try:
        for fd in sorted(os.listdir(f"/proc/{pid}/fd"), key=int):
            try:
                out.append(f"{fd} -> {os.readlink(f'/proc/{pid}/fd/{fd}')}")
            except OSError:
                pass
    except OSError:
        pass
    return out


class Control:
    """One connection kept for stats: opening one per question would make
    the descriptor count depend on when the daemon sees it go."""

    def __init__(self, sock: str) -> None:
        self.s = socket.socket(socket.AF_UNIX)
        self.s.settimeout(10)
        self.s.connect(sock)
        self.up = msgpack.Unpacker(raw=False, strict_map_key=False)
        self.id = 0

    def stats(self) -> dict:
        self.id += 1
        self.s.sendall(msgpack.packb({"op": "stats", "id": self.id}))
        while True:
            for m in self.up:
                if m.get("id") == self.id:
                    return m
            d = self.s.recv(65536)
            if not d:
                raise OSError("rowd closed the connection")
            self.up.feed(d)

    def settle(self, pid: int, fds: int = 0,
               seconds: float = 10) -> tuple[dict, tuple[int, int, int]]:
        """Waits until only this connection is left, no handle, and (when
        given) no more descriptors than fds."""
        deadline = time.monotonic() + seconds
        while True:
            st = self.stats()
            ps = proc_status(pid)
            if (st.get("connections", {}).get("now") == 1 and st.get("handles") == 0
                    and (not fds or ps[2] <= fds)) or time.monotonic() > deadline:
                return st, ps
            time.sleep(0.1)


def find_rowd(arg: str | None) -> Path:
    for p in [arg, os.environ.get("ROWD_TOP_BUILDDIR") and
              os.path.join(os.environ["ROWD_TOP_BUILDDIR"], "daemon", "rowd"), "daemon/rowd"]:
        if p and os.access(p, os.X_OK):
            return Path(p)
    sys.exit("soak: no daemon/rowd found: give --rowd PATH or set ROWD_TOP_BUILDDIR")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--rowd", help="the daemon binary (default: the build tree's)")
    ap.add_argument("--socket", help="use a running daemon on this socket (needs --pid, --root)")
    ap.add_argument("--pid", type=int, help="the running daemon's pid")
    ap.add_argument("--root", help="the running daemon's (first) data root; sample files go there")
    ap.add_argument("--rss-slack-mib", type=float, default=64,
                    help="RSS after the run may exceed the RSS before it by this much")
    ap.add_argument("--fd-slack", type=int, default=0,
                    help="descriptors after the run may exceed those before it by this much")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else int(time.time())
    tmp = None
    proc = None
    if args.socket:
        if not args.pid or not args.root:
            sys.exit("soak: --socket needs --pid and --root")
        sock, pid, root = args.socket, args.pid, Path(args.root)
    else:
        rowd = find_rowd(args.rowd)
        tmp = Path(tempfile.mkdtemp(prefix="rowd-soak-"))
        root, sock = tmp / "root", str(tmp / "rowd.sock")
        root.mkdir()
        log = open(tmp / "rowd.log", "wb")
        proc = subprocess.Popen([str(rowd), "-s", sock, "-r", str(root), "-w", str(args.workers),
                                 "-l", "warn"], stdout=log, stderr=subprocess.STDOUT)
        pid = proc.pid
    make_root(root)
    ctl = None
    for _ in range(500):
        try:
            ctl = Control(sock)
            break
        except OSError:
            if proc and proc.poll() is not None:
                sys.exit(f"soak: rowd exited at start ({proc.returncode}); log in {tmp}")
            time.sleep(0.02)
    if not ctl:
        sys.exit(f"soak: cannot connect to {sock}")
    # Warm up (lazy allocations), then the baseline.
    warm = Client(-1, sock, Tally(), random.Random(seed))
    warm.connect()
    for p in READ_FILES:
        a = warm.call(op="open", path=p)
        if a["ok"]:
            warm.call(op="totals", handle=a["handle"])
            warm.call(op="close", handle=a["handle"])
    warm.drop()
    base_stats, (base_rss, _, base_fds) = ctl.settle(pid)
    base_fd_list = fd_targets(pid)
    print(f"soak: seed {seed}, {args.clients} clients, {args.seconds:g} s, rowd pid {pid}; "
          f"start: RSS {base_rss / 1024:.1f} MiB, {base_fds} fds", flush=True)

    tally = Tally()
    until = time.monotonic() + args.seconds
    threads = [threading.Thread(target=Client(i, sock, tally, random.Random(seed * 1000 + i)).run,
                                args=(until,), daemon=True) for i in range(args.clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    samples = []
    max_rss = max_fds = 0
    died = False
    while any(t.is_alive() for t in threads):
        rss, _, fds = proc_status(pid)
        if rss < 0 or (proc and proc.poll() is not None):
            died = True
            tally.problem("the daemon died")
            break
        max_rss, max_fds = max(max_rss, rss), max(max_fds, fds)
        samples.append((time.monotonic() - t0, rss, fds, tally.answers))
        time.sleep(1)
    for t in threads:
        t.join(35)
    elapsed = time.monotonic() - t0

    fail = list(tally.problems)
    if not died:
        end_stats, (end_rss, hwm, end_fds) = ctl.settle(pid, base_fds + args.fd_slack)
        if end_stats.get("handles") != 0:
            fail.append(f"{end_stats.get('handles')} handles left after the clients left")
        if end_fds > base_fds + args.fd_slack:
            extra = sorted(set(fd_targets(pid)) - set(base_fd_list))
            fail.append(f"descriptors: {base_fds} before, {end_fds} after; new: {extra}")
        if end_rss > base_rss + args.rss_slack_mib * 1024:
            fail.append(f"RSS: {base_rss} KiB before, {end_rss} KiB after")
    print(f"soak: {elapsed:.0f} s, {tally.sessions} connections, {tally.answers} requests "
          f"answered ({tally.answers / max(elapsed, 1):.0f}/s), {tally.messages} messages")
    print("soak: requests sent by op: " +
          ", ".join(f"{k} {v}" for k, v in sorted(tally.ops.items(), key=lambda kv: -kv[1])))
    print("soak: errors by code: " +
          (", ".join(f"{k} {v}" for k, v in sorted(tally.errors.items())) or "none"))
    step = max(1, len(samples) // 12)
    print("soak: over time (s: RSS MiB, fds, requests answered): " +
          "; ".join(f"{t:.0f}: {r / 1024:.1f}, {f}, {a}" for t, r, f, a in samples[::step]))
    if not died:
        print(f"soak: daemon: max RSS {max_rss / 1024:.1f} MiB (peak {hwm / 1024:.1f}), max fds "
              f"{max_fds}; after: RSS {end_rss / 1024:.1f} MiB, {end_fds} fds "
              f"(before: {base_rss / 1024:.1f} MiB, {base_fds}); the daemon counted "
              f"{end_stats.get('requests')} requests, errors {end_stats.get('errors')}")
    if proc:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
            fail.append("rowd did not stop within 20 s of SIGTERM")
        if rc != 0 and not died:
            fail.append(f"rowd exited {rc} on SIGTERM")
    if fail:
        print("soak: FAIL:\n  " + "\n  ".join(fail))
        if tmp:
            print(f"soak: kept {tmp} (daemon log: {tmp / 'rowd.log'})")
        return 1
    if tmp:
        shutil.rmtree(tmp)
    print("soak: PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
