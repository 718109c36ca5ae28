"""Async iterables over files opened on rowd, and aopen_iterable().

Reading: every read lands in a per-iterable buffer of batches first, and
callers take rows from it. ``async for`` and :meth:`aread` keep the buffer
topped up with read-ahead: ``stream`` requests with a ``limit`` (windows of
``8 × batch`` rows, at least 1024), issued while the rows buffered plus the
rows still owed by the daemon leave room for a window under the high
watermark of two windows. This is credit-based flow control: the daemon
never sends more than it was asked for, so the buffer is bounded without
the client ever ceasing to read the socket. A connection is shared by many
iterables, and a client that stopped reading for one of them would stall
all the others (and deadlock a task that reads one file while waiting on
another). :meth:`aread_bulk` asks for what it lacks (``read_bulk``) and keeps
one more request of the same size in flight, so that a loop of bulk reads
overlaps the daemon's parsing with the caller's work.
Because rows already received stay in the buffer, a cancelled read, a
``break`` out of ``async for`` or a cancelled task never loses or repeats a
row: the next read continues where the previous one stopped.
"""
from __future__ import annotations

import asyncio
import logging
import os
import warnings
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from .client import Answer, Client, default_socket
from .errors import ConnectionLost, LimitError, RowdError, error_from_answer

__all__ = ["AsyncRowIterable", "aopen_iterable", "Row"]

Row = dict[str, Any]

#: Rows per stream window, in batches (at least MIN_WINDOW rows), and the
#: read-ahead high watermark.
WINDOW_BATCHES = 8
HIGH_BATCHES = 16
MIN_WINDOW = 1024
#: Without the stream capability: one read_bulk per window, four ahead.
BULK_HIGH_BATCHES = 4
#: Rows per write_bulk request when awrite_bulk splits a long list.
WRITE_CHUNK = 5000

# The iterator library's option names that rowd spells differently.
_OPTION_ALIASES = {"keys": "fieldnames"}


class _Window:
    """One read request in flight: a stream with a limit, or a read_bulk."""

    __slots__ = ("rid", "gen", "want", "got", "stream", "cancelling")

    def __init__(self, gen: int, want: int, stream: bool) -> None:
        self.rid = 0
        self.gen = gen
        self.want = want
        self.got = 0
        self.stream = stream
        self.cancelling = False


class AsyncRowIterable:
    """A file open on rowd, with the iterator library's async API.

    Rows are dicts. ``aread`` raises StopAsyncIteration at the end;
    ``aread_bulk`` returns fewer rows than asked (``[]``) there. Errors raise
    :class:`~rowd.RowdError` subclasses carrying the daemon's code, message
    and line; a read error stays until :meth:`areset`, like the daemon's.
    """

    def __init__(self, client: Client, answer: Answer, filename: str, *,
                 batch: int = 1000) -> None:
        self.client = client
        self.filename = filename
        self.handle: int = answer["handle"]
        self.mode: str = answer.get("mode", "r")
        self.format: str | None = answer.get("format")
        self.codec: str | None = answer.get("codec")
        self.columns: list[str] | None = answer.get("columns")
        self.capabilities: list[str] = list(answer.get("capabilities", ()))
        #: Rows written (acknowledged) so far; for ``w`` the count close committed.
        self.rows_written = 0
        #: Rows handed out since open or the last reset.
        self.rows_read = 0
        #: Bad rows skipped by the daemon (``on_error: "skip"``).
        self.skipped = 0
        self._batch = max(1, min(batch, client.limits["batch_rows"]))
        self._streams = "stream" in self.capabilities
        if self._streams:
            self._window = max(WINDOW_BATCHES * self._batch, MIN_WINDOW)
            self._high = self._window * HIGH_BATCHES // WINDOW_BATCHES
        else:
            self._window, self._high = self._batch, BULK_HIGH_BATCHES * self._batch
        self._batches: deque[list[Row]] = deque()
        self._buffered = 0            # rows in _batches
        self._cur: list[Row] = []     # the batch being handed out ...
        self._i = 0                   # ... and the index of its next row
        self._windows: dict[int, _Window] = {}
        self._owed = 0                # rows requested and not yet received
        self._gen = 0                 # bumped by reset/close: older windows are stale
        self._readahead = False
        self._eof = False
        self._error: RowdError | None = None
        self._waiters: list[asyncio.Future[None]] = []
        self._closed = False
        self._on_close: Callable[[], Awaitable[None]] | None = None

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"handle {self.handle}"
        return (f"<{type(self).__name__} {self.filename!r} mode={self.mode!r} "
                f"format={self.format} codec={self.codec} {state}>")

    def __del__(self, _warn: Callable[..., None] = warnings.warn) -> None:
        if not getattr(self, "_closed", True):
            _warn(f"unclosed rowd iterable {self.filename!r}", ResourceWarning, source=self)

    # -- the buffer, filled from the socket --------------------------------

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for f in waiters:
            if not f.done():
                f.set_result(None)

    def _push(self, w: _Window, rows: list[Row]) -> None:
        if rows:
            self._batches.append(rows)
            self._buffered += len(rows)
            w.got += len(rows)
            self._owed -= len(rows)

    def _end_window(self, w: _Window) -> None:
        if self._windows.pop(w.rid, None) is not None:
            self._owed -= max(0, w.want - w.got)

    def _answer_error(self, msg: Answer) -> RowdError:
        lost = self.client._lost
        return lost if msg.get("lost") and lost is not None else error_from_answer(msg)

    def _fail(self, err: RowdError) -> None:
        if self._error is None:
            self._error = err

    def _on_stream(self, w: _Window, msg: Answer) -> bool:
        """Handler of one stream window's messages; True on its last."""
        if w.gen != self._gen:
            return not msg.get("ok") or "eof" in msg
        if not msg.get("ok"):
            self._end_window(w)
            self._fail(self._answer_error(msg))
            self._wake()
            return True
        rows = msg.get("rows")
        if rows is not None:
            self._push(w, rows)
        if "eof" not in msg:
            if rows:
                self._wake()
            return False
        if not (msg.get("cancelled") or msg.get("limit_reached")):
            self._eof = True
        self.skipped = msg.get("skipped", self.skipped)
        self._end_window(w)
        self._wake()
        return True

    def _on_bulk(self, w: _Window, msg: Answer) -> bool:
        """Handler of a read_bulk answer."""
        if w.gen == self._gen:
            if msg.get("ok"):
                self._push(w, msg.get("rows", []))
                if msg.get("eof"):
                    self._eof = True
                self.skipped = msg.get("skipped", self.skipped)
            else:
                self._fail(self._answer_error(msg))
            self._end_window(w)
            self._wake()
        return True

    def _request(self, n: int, stream: bool) -> None:
        w = _Window(self._gen, n, stream)
        if stream:
            fields = {"handle": self.handle, "batch": self._batch, "limit": n}
            w.rid = self.client.send("stream", fields, lambda m: self._on_stream(w, m))
        else:
            fields = {"handle": self.handle, "n": n}
            w.rid = self.client.send("read_bulk", fields, lambda m: self._on_bulk(w, m))
        self._windows[w.rid] = w
        self._owed += n

    def _top_up(self) -> None:
        """Read-ahead: asks for more windows while under the high watermark."""
        if (not self._readahead or self._eof or self._error is not None or self._closed
                or self.client._lost is not None):
            return
        while self._buffered + self._owed + self._window <= self._high:
            self._request(self._window, self._streams)

    def _ask(self, n: int) -> None:
        """Asks for n more rows with read_bulk (in parts of at most batch_rows)."""
        limit = self.client.limits["batch_rows"]
        while n > 0:
            part = min(n, limit)
            self._request(part, False)
            n -= part

    def _pause(self) -> None:
        """Cancels the read-ahead streams (the rows they sent stay buffered)."""
        self._readahead = False
        for w in self._windows.values():
            if w.stream and not w.cancelling and not self.client._lost:
                w.cancelling = True
                self.client.fire("cancel", target=w.rid)

    def _drop_buffer(self) -> None:
        self._pause()
        self._gen += 1
        self._windows.clear()
        self._owed = 0
        self._batches.clear()
        self._buffered = 0
        self._cur, self._i = [], 0
        self._eof = False
        self._error = None

    async def _wait(self) -> None:
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            # The awaiting task was cancelled: stop the daemon's stream.
            self._pause()
            raise

    async def _more(self, missing: int) -> bool:
        """Waits until a batch is buffered; False at the end of the data."""
        while not self._batches:
            if self._error is not None:
                raise self._error.with_traceback(None)
            if self._eof:
                return False
            self._check_open()
            if self._readahead:
                self._top_up()
            elif missing > self._owed:
                self._ask(missing - self._owed)
            if not self._windows:
                self.client._check()  # nothing can come: the connection is gone
            await self._wait()
        return True

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"I/O operation on a closed rowd iterable ({self.filename!r})")

    # -- reading -----------------------------------------------------------

    def _take(self, skip_empty: bool = True) -> Row | None:
        """The next buffered row without waiting, or None."""
        cur, i = self._cur, self._i
        while i < len(cur):
            row = cur[i]
            i += 1
            if row or not skip_empty:
                self._i = i
                self.rows_read += 1
                return row
        self._i = i
        return None

    def __aiter__(self) -> AsyncRowIterable:
        return self

    async def __anext__(self) -> Row:
        cur, i = self._cur, self._i
        if i < len(cur):
            row = cur[i]
            if row:
                self._i = i + 1
                self.rows_read += 1
                return row
        return await self._next_slow(True)

    async def _next_slow(self, skip_empty: bool) -> Row:
        # Once per batch, let the loop read the socket and run other tasks.
        await asyncio.sleep(0)
        self._check_open()
        while True:
            row = self._take(skip_empty)
            if row is not None:
                return row
            self._readahead = True
            if not await self._more(1):
                self._cur, self._i = [], 0
                raise StopAsyncIteration
            batch = self._batches.popleft()
            self._buffered -= len(batch)
            self._cur, self._i = batch, 0
            self._top_up()

    async def aread(self, skip_empty: bool = True) -> Row:
        """The next row; StopAsyncIteration at the end. Empty rows are
        skipped unless skip_empty is False (``async for`` skips them too)."""
        cur, i = self._cur, self._i
        if i < len(cur) and (cur[i] or not skip_empty):
            self._i = i + 1
            self.rows_read += 1
            return cur[i]
        return await self._next_slow(skip_empty)

    async def aread_bulk(self, num: int = 1000) -> list[Row]:
        """Up to num rows: exactly num unless the data ends first."""
        self._check_open()
        if num <= 0:
            return []
        cur, i = self._cur, self._i
        out = cur[i:i + num]
        self._i = i + len(out)
        while len(out) < num:
            missing = num - len(out)
            try:
                more = await self._more(missing)
            except RowdError:
                if out:  # deliver the good rows; the error comes next call
                    break
                raise
            if not more:
                break
            batch = self._batches.popleft()
            self._buffered -= len(batch)
            if not out and len(batch) <= missing:
                out = batch
            elif len(batch) <= missing:
                out.extend(batch)
            else:
                out.extend(batch[:missing])
                self._cur, self._i = batch, missing
            self._top_up()
        self.rows_read += len(out)
        self._prefetch(num)
        return out

    def _prefetch(self, num: int) -> None:
        """Double buffering for aread_bulk loops: one read_bulk of the same
        size in flight while the caller works on this one."""
        if (self._readahead or self._eof or self._error is not None or self._owed
                or self._buffered + len(self._cur) - self._i >= num
                or self.client._lost is not None):
            return
        self._ask(min(num, self.client.limits["batch_rows"]))

    async def atotals(self) -> int:
        """The number of rows a full read returns (a counting pass on the
        daemon when the format has no cheaper way); NotSupported otherwise."""
        self._check_open()
        return int((await self.client.call("totals", handle=self.handle))["rows"])

    async def areset(self) -> None:
        """Back to the first row."""
        self._check_open()
        self._drop_buffer()
        self.rows_read = 0
        self.skipped = 0
        await self.client.call("reset", handle=self.handle)

    # -- writing -----------------------------------------------------------

    async def awrite(self, record: Mapping[str, Any]) -> None:
        """Writes one row (a dict with string keys)."""
        self._check_open()
        row = record if isinstance(record, dict) else dict(record)
        answer = await self.client.call("write", handle=self.handle, row=row)
        self.rows_written += int(answer.get("written", 1))

    async def awrite_bulk(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Writes rows; stops at the first refused one, whose ``row`` is
        counted from the start of this call."""
        self._check_open()
        rows = [r if isinstance(r, dict) else dict(r) for r in records]
        step = min(WRITE_CHUNK, self.client.limits["batch_rows"])
        for start in range(0, len(rows), step):
            await self._write_part(rows, start, min(start + step, len(rows)))

    async def _write_part(self, rows: list[Row], start: int, end: int) -> None:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Answer] = loop.create_future()
        try:
            self.client.send("write_bulk", {"handle": self.handle, "rows": rows[start:end]},
                             fut)
        except LimitError:
            if end - start == 1:
                raise
            mid = (start + end) // 2  # over the frame limit: send it in halves
            await self._write_part(rows, start, mid)
            await self._write_part(rows, mid, end)
            return
        await self.client.drain()
        try:
            answer = await fut
        except RowdError as e:
            if e.row is not None:  # the rows before it in this part were written
                self.rows_written += e.row - 1
            if start and e.row is not None:
                e.row += start
                e.add_note(f"awrite_bulk sent its rows in parts: {start} rows before this "
                           f"part were written; row {e.row} counts from the start of the call")
            raise
        self.rows_written += int(answer.get("written", end - start))

    # -- closing -----------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    async def aclose(self) -> None:
        """Closes the handle: for ``w`` it commits (flush, fsync, atomic
        rename) and sets rows_written; a write lost with the connection
        raises ConnectionLost."""
        if self._closed:
            return
        self._drop_buffer()
        self._closed = True
        self._wake()
        try:
            answer = await self.client.call("close", handle=self.handle)
            if self.mode == "w":
                self.rows_written = int(answer.get("rows_written", self.rows_written))
        except ConnectionLost:
            if self.mode == "w":
                raise
        finally:
            on_close, self._on_close = self._on_close, None
            if on_close is not None:
                await on_close()

    async def __aenter__(self) -> AsyncRowIterable:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


# -- aopen_iterable and the shared connections ------------------------------

_shared: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Client]] = \
    weakref.WeakKeyDictionary()
_users: weakref.WeakKeyDictionary[Client, int] = weakref.WeakKeyDictionary()


def _acquire(socket: str) -> Client:
    """The loop's shared connection to socket, created on first use."""
    clients = _shared.setdefault(asyncio.get_running_loop(), {})
    client = clients.get(socket)
    if client is None or client._lost is not None:
        client = clients[socket] = Client(socket)
    _users[client] = _users.get(client, 0) + 1
    return client


async def _release(client: Client) -> None:
    """Closes a shared connection when its last iterable is closed."""
    n = _users.get(client, 1) - 1
    _users[client] = n
    if n == 0:
        clients = _shared.get(asyncio.get_running_loop(), {})
        if clients.get(client.socket) is client:
            del clients[client.socket]
        await client.close()


def _enable_debug() -> None:
    logger = logging.getLogger("rowd")
    logger.setLevel(logging.DEBUG)
    if not logger.handlers and not logging.getLogger().handlers:
        logger.addHandler(logging.StreamHandler())


def map_options(iterableargs: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The iterator library's iterableargs as rowd format options."""
    if not iterableargs:
        return None
    return {_OPTION_ALIASES.get(k, k): v for k, v in iterableargs.items()}


async def aopen_iterable(filename: str | os.PathLike[str], mode: str = "r",
                         engine: str = "internal",
                         iterableargs: Mapping[str, Any] | None = None,
                         codecargs: Mapping[str, Any] | None = None, debug: bool = False, *,
                         socket: str | os.PathLike[str] | None = None,
                         client: Client | None = None, format: str | None = None,
                         codec: str | None = None, batch: int = 1000) -> AsyncRowIterable:
    """Opens filename on rowd and returns an async iterable of rows.

    iterableargs are rowd's format options (``delimiter``, ``encoding``,
    ``tagname``…; ``keys`` is accepted for ``fieldnames``), codecargs its
    codec options. Without client, all iterables of an event loop share one
    connection per socket (``$ROWD_SOCKET``, then ``/run/rowd/rowd.sock``),
    closed with the last of them. format and codec override detection;
    batch is the rows per message when streaming.
    """
    if debug:
        _enable_debug()
    shared = client is None
    if client is None:
        client = _acquire(os.fspath(socket) if socket is not None else default_socket())
    try:
        it = await client.open(filename, mode, format=format, codec=codec, engine=engine,
                               options=map_options(iterableargs),
                               codec_options=codecargs, batch=batch)
    except BaseException:
        if shared:
            await _release(client)
        raise
    if shared:
        it._on_close = lambda: _release(client)
    return it
