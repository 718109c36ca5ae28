"""The connection to rowd: one Unix socket, requests multiplexed by id.

Every request is a msgpack map ``{op, id, ...}``; every answer carries the
id back, so any number of requests (and of handles) share one socket. The
socket is read by an :class:`asyncio.Protocol`: received bytes are fed to a
``msgpack.Unpacker`` and each answer is routed to the future or the handler
of its request. There are no threads: everything runs on the event loop.
"""
from __future__ import annotations

import asyncio
import datetime
import decimal
import inspect
import logging
import os
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Union

import msgpack

from .errors import (ConnectionLost, LimitError, PathError, ProtocolError, RowdError,
                     error_from_answer)

if TYPE_CHECKING:
    from .iterable import AsyncRowIterable

__all__ = ["Client", "default_socket", "resolve_path", "DEFAULT_SOCKET", "PROTOCOL_VERSION"]

log = logging.getLogger("rowd")

DEFAULT_SOCKET = "/run/rowd/rowd.sock"
PROTOCOL_VERSION = 1
CLIENT_NAME = "rowd-python/0.1.0"

Answer = dict[str, Any]
#: A multi-message request's handler: called with each answer, returns True
#: on the request's last message.
Handler = Callable[[Answer], bool]
ProgressCallback = Callable[[dict[str, Any]], Union[Awaitable[None], None]]
OpenSpec = Union[str, "os.PathLike[str]", Mapping[str, Any]]

# The daemon's limits until hello says otherwise (its defaults).
_DEFAULT_LIMITS = {"frame_bytes": 16 << 20, "batch_rows": 100_000}


def default_socket() -> str:
    """``$ROWD_SOCKET``, else the system socket."""
    return os.environ.get("ROWD_SOCKET") or DEFAULT_SOCKET


def resolve_path(path: str | os.PathLike[str], mode: str = "r") -> str:
    """The path to send: absolute for a local file (or a new file in a local
    directory when writing), else as given — the daemon then resolves it
    relative to its first data root."""
    p = os.fspath(path)
    if os.path.exists(p):
        return os.path.abspath(p)
    if mode == "w" and p and not p.endswith(os.sep):
        parent = os.path.dirname(p) or "."
        if os.path.isdir(parent) and os.path.basename(p) not in (".", ".."):
            return os.path.abspath(p)
    return p


def _pack_default(obj: Any) -> Any:
    """Values msgpack cannot pack natively, as JSON tools would write them."""
    if isinstance(obj, (datetime.datetime, datetime.date, datetime.time)):
        return obj.isoformat()
    if isinstance(obj, (decimal.Decimal, uuid.UUID)):
        return str(obj)
    if isinstance(obj, (set, frozenset)):
        return list(obj)
    raise TypeError(f"cannot send a value of type {type(obj).__name__} to rowd")


class _Protocol(asyncio.Protocol):
    """Bytes in, answers out: the socket side of a :class:`Client`."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._unpacker = msgpack.Unpacker(raw=False, strict_map_key=False,
                                          max_buffer_size=256 << 20)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._client._transport = transport

    def data_received(self, data: bytes) -> None:
        unpacker = self._unpacker
        dispatch = self._client._dispatch
        unpacker.feed(data)
        while True:
            try:
                msg = next(unpacker)
            except StopIteration:
                return
            except (ValueError, msgpack.UnpackException) as e:
                self._client._abort(ProtocolError("EPROTO", f"undecodable answer from rowd: {e}"))
                return
            dispatch(msg)

    def connection_lost(self, exc: Exception | None) -> None:
        self._client._connection_lost(exc)

    def pause_writing(self) -> None:
        self._client._write_paused = True

    def resume_writing(self) -> None:
        self._client._write_paused = False
        self._client._wake_drainers()


class Client:
    """One connection to rowd, shared by any number of iterables.

    Use ``async with Client() as c:`` or ``await Client().connect()``. The
    socket defaults to ``$ROWD_SOCKET``, then ``/run/rowd/rowd.sock``.
    Once the connection is lost the client stays broken: every pending and
    later request raises :class:`ConnectionLost`.
    """

    def __init__(self, socket: str | os.PathLike[str] | None = None, *,
                 name: str = CLIENT_NAME) -> None:
        self.socket = os.fspath(socket) if socket is not None else default_socket()
        self.name = name
        self.server: Answer = {}
        self._transport: asyncio.Transport | None = None
        self._handlers: dict[int, asyncio.Future[Answer] | Handler] = {}
        self._next_id = 1
        self._lock = asyncio.Lock()
        self._lost: ConnectionLost | None = None
        self._fatal: RowdError | None = None
        self._closed_waiter: asyncio.Future[None] | None = None
        self._write_paused = False
        self._drainers: list[asyncio.Future[None]] = []
        self._limits = dict(_DEFAULT_LIMITS)
        self._pack = msgpack.Packer(use_bin_type=True, default=_pack_default).pack

    # -- connection --------------------------------------------------------

    async def connect(self) -> Client:
        """Connects and says hello (idempotent)."""
        async with self._lock:
            if self._transport is not None or self._lost is not None:
                self._check()
                return self
            loop = asyncio.get_running_loop()
            self._closed_waiter = loop.create_future()
            try:
                await loop.create_unix_connection(lambda: _Protocol(self), self.socket)
            except OSError as e:
                self._lost = ConnectionLost(f"cannot connect to rowd at {self.socket}: "
                                            f"{e.strerror or e}")
                self._closed_waiter.set_result(None)
                raise self._lost from e
            self.server = await self.call("hello", version=PROTOCOL_VERSION, client=self.name)
            if self.server.get("protocol") != PROTOCOL_VERSION:
                err = ProtocolError("EPROTO", f"rowd speaks protocol "
                                    f"{self.server.get('protocol')}, this client "
                                    f"{PROTOCOL_VERSION}")
                self._abort(err)
                raise err
            self._limits.update({k: v for k, v in self.server.get("limits", {}).items()
                                 if isinstance(v, int)})
            log.debug("connected to %s: rowd %s", self.socket, self.server.get("version"))
            return self

    @property
    def connected(self) -> bool:
        """True while the socket is up."""
        return self._transport is not None and self._lost is None

    @property
    def limits(self) -> dict[str, int]:
        """The daemon's limits (from hello)."""
        return self._limits

    async def close(self) -> None:
        """Closes the socket; pending requests fail with ConnectionLost."""
        if self._transport is not None and self._lost is None:
            self._lost = ConnectionLost("connection closed by the client")
            self._transport.close()
        if self._closed_waiter is not None:
            await asyncio.shield(self._closed_waiter)

    async def __aenter__(self) -> Client:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _check(self) -> None:
        if self._lost is not None:
            raise self._lost.with_traceback(None)
        if self._transport is None:
            raise ConnectionLost("not connected: call 'await client.connect()' first")

    def _abort(self, err: RowdError) -> None:
        """Drops the connection after a fatal error."""
        self._fatal = err
        if self._lost is None:
            self._lost = ConnectionLost(f"connection to rowd lost: {err}")
        if self._transport is not None:
            self._transport.abort()

    def _connection_lost(self, exc: Exception | None) -> None:
        if self._lost is None:
            why = self._fatal or exc
            self._lost = ConnectionLost("connection to rowd lost" + (f": {why}" if why else ""))
        err = self._lost
        handlers, self._handlers = self._handlers, {}
        for h in handlers.values():
            if isinstance(h, asyncio.Future):
                if not h.done():
                    h.set_exception(err)
            else:
                h({"ok": False, "lost": True})
        self._wake_drainers()
        if self._closed_waiter is not None and not self._closed_waiter.done():
            self._closed_waiter.set_result(None)

    # -- requests ----------------------------------------------------------

    def _dispatch(self, msg: Any) -> None:
        rid = msg.get("id") if isinstance(msg, dict) else None
        h = self._handlers.get(rid) if rid is not None else None
        if h is None:
            if isinstance(msg, dict) and msg.get("ok") is False and rid is None:
                # A frame-level refusal: the daemon closes the connection next.
                self._fatal = error_from_answer(msg)
            log.debug("rowd: answer for no pending request: %.200r", msg)
            return
        if isinstance(h, asyncio.Future):
            del self._handlers[rid]
            if not h.done():
                if msg.get("ok", False):
                    h.set_result(msg)
                else:
                    h.set_exception(error_from_answer(msg))
        elif h(msg):
            self._handlers.pop(rid, None)

    def send(self, op: str, fields: Mapping[str, Any],
             handler: asyncio.Future[Answer] | Handler) -> int:
        """Sends one request; its answers go to handler. Returns its id."""
        self._check()
        rid = self._next_id
        self._next_id = rid + 1
        req = {"op": op, "id": rid}
        req.update(fields)
        data = self._pack(req)
        if len(data) > self._limits["frame_bytes"]:
            raise LimitError("ELIMIT", f"a {op} request of {len(data)} bytes exceeds the "
                             f"frame_bytes limit ({self._limits['frame_bytes']})")
        self._handlers[rid] = handler
        assert self._transport is not None
        self._transport.write(data)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("-> %s id=%d %.160r", op, rid,
                      {k: v for k, v in fields.items() if k not in ("rows", "row")})
        return rid

    async def drain(self) -> None:
        """Waits while the socket's send buffer is over its high watermark."""
        while self._write_paused and self._lost is None:
            fut = asyncio.get_running_loop().create_future()
            self._drainers.append(fut)
            await fut
        self._check()

    def _wake_drainers(self) -> None:
        waiters, self._drainers = self._drainers, []
        for f in waiters:
            if not f.done():
                f.set_result(None)

    async def call(self, op: str, **fields: Any) -> Answer:
        """Sends one request and returns its answer; an error answer raises."""
        fut: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self.send(op, {k: v for k, v in fields.items() if v is not None}, fut)
        if self._write_paused:
            await self.drain()
        return await fut

    def fire(self, op: str, **fields: Any) -> None:
        """Sends a request whose answer does not matter (cancel)."""
        if self._lost is None and self._transport is not None:
            self.send(op, fields, lambda msg: True)

    # -- ops -----------------------------------------------------------------

    async def hello(self) -> Answer:
        """Server version, protocol, formats and codecs, limits."""
        self.server = await self.call("hello", version=PROTOCOL_VERSION, client=self.name)
        return self.server

    async def ping(self) -> float:
        """Round-trip time through the daemon's loop thread, in seconds."""
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await self.call("ping")
        return loop.time() - t0

    async def stats(self) -> Answer:
        """Connections, handles, jobs, rows and bytes served, loop latency."""
        return await self.call("stats")

    async def detect(self, path: str | os.PathLike[str]) -> Answer:
        """The format and codec rowd detects for path."""
        return await self.call("detect", path=resolve_path(path))

    async def tables(self, path: str | os.PathLike[str]) -> list[str]:
        """Names of the tables / sheets of a multi-table source."""
        return list((await self.call("tables", path=resolve_path(path)))["tables"])

    async def open(self, path: str | os.PathLike[str], mode: str = "r", *,
                   format: str | None = None, codec: str | None = None,
                   engine: str | None = None, options: Mapping[str, Any] | None = None,
                   codec_options: Mapping[str, Any] | None = None,
                   batch: int = 1000) -> AsyncRowIterable:
        """Opens a file on the daemon; see :func:`rowd.aopen_iterable`."""
        from .iterable import AsyncRowIterable

        await self.connect()
        fields = {"path": resolve_path(path, mode), "mode": mode, "format": format,
                  "codec": codec, "engine": engine,
                  "options": dict(options) if options else None,
                  "codec_options": dict(codec_options) if codec_options else None}
        try:
            answer = await self.call("open", **fields)
        except PathError as e:
            e.path = e.path or os.fspath(path)
            raise
        return AsyncRowIterable(self, answer, os.fspath(path), batch=batch)

    async def convert(self, source: OpenSpec, target: OpenSpec, *, batch: int | None = None,
                      progress: ProgressCallback | None = None) -> Answer:
        """Copies rows from source to target on the daemon (no rows cross the
        socket); target is replaced atomically. source and target are paths
        or maps of open fields (path, format, codec, options, …). progress,
        sync or async, gets ``{bytes_read, bytes_total, rows}`` about four
        times a second. Returns ``{rows_in, rows_out, rows_skipped,
        bytes_in, bytes_out, seconds}``. Cancelling the awaiting task
        cancels the conversion and leaves the target untouched."""
        await self.connect()
        loop = asyncio.get_running_loop()
        inbox: deque[Answer] = deque()
        waiter: list[asyncio.Future[None]] = []
        done = False

        def on_message(msg: Answer) -> bool:
            inbox.append(msg)
            if waiter and not waiter[0].done():
                waiter[0].set_result(None)
            return not msg.get("ok") or "rows_in" in msg

        rid = self.send("convert", {"from": _open_fields(source, "r"),
                                    "to": _open_fields(target, "w"),
                                    **({"batch": batch} if batch else {}),
                                    "progress": progress is not None}, on_message)
        try:
            while True:
                while not inbox:
                    waiter[:] = [loop.create_future()]
                    await waiter[0]
                msg = inbox.popleft()
                if msg.get("lost"):
                    done = True
                    self._check()
                if not msg.get("ok"):
                    done = True
                    raise error_from_answer(msg)
                if "rows_in" in msg:
                    done = True
                    return msg
                if progress is not None and "progress" in msg:
                    r = progress(msg["progress"])
                    if inspect.isawaitable(r):
                        await r
        finally:
            if not done:
                self.fire("cancel", target=rid)


def _open_fields(spec: OpenSpec, mode: str) -> dict[str, Any]:
    if isinstance(spec, Mapping):
        fields = {k: v for k, v in spec.items() if v is not None}
        if "path" in fields:
            fields["path"] = resolve_path(fields["path"], mode)
        return fields
    return {"path": resolve_path(spec, mode)}
