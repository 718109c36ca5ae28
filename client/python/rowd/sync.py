"""A small synchronous facade for scripts: open_iterable().

Each iterable runs its own private event loop (an :class:`asyncio.Runner`)
and connection; rows already received are handed out without entering the
loop, so iterating costs about what the async API does.
"""
from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine, Iterable, Iterator, Mapping
from typing import Any, TypeVar

from .client import Client
from .iterable import AsyncRowIterable, Row, aopen_iterable

__all__ = ["RowIterable", "open_iterable"]

T = TypeVar("T")


class RowIterable:
    """The blocking API of the iterator library over an AsyncRowIterable:
    read, read_bulk, write, write_bulk, reset, totals, close, ``for`` and
    ``with``. ``read`` raises StopIteration at the end."""

    def __init__(self, runner: asyncio.Runner, client: Client, it: AsyncRowIterable) -> None:
        self._runner = runner
        self._client = client
        self._it = it
        self._done = False

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._runner.run(coro)

    def __repr__(self) -> str:
        return repr(self._it).replace("AsyncRowIterable", type(self).__name__, 1)

    @property
    def aio(self) -> AsyncRowIterable:
        """The underlying async iterable (for its metadata)."""
        return self._it

    filename = property(lambda self: self._it.filename)
    mode = property(lambda self: self._it.mode)
    format = property(lambda self: self._it.format)
    codec = property(lambda self: self._it.codec)
    columns = property(lambda self: self._it.columns)
    rows_read = property(lambda self: self._it.rows_read)
    rows_written = property(lambda self: self._it.rows_written)
    skipped = property(lambda self: self._it.skipped)
    closed = property(lambda self: self._it.closed)

    def read(self, skip_empty: bool = True) -> Row:
        """The next row; StopIteration at the end."""
        row = self._it._take(skip_empty)
        if row is not None:
            return row
        try:
            return self._run(self._it._next_slow(skip_empty))
        except StopAsyncIteration:
            raise StopIteration from None

    def read_bulk(self, num: int = 1000) -> list[Row]:
        """Up to num rows; fewer (or none) at the end."""
        return self._run(self._it.aread_bulk(num))

    def write(self, record: Mapping[str, Any]) -> None:
        self._run(self._it.awrite(record))

    def write_bulk(self, records: Iterable[Mapping[str, Any]]) -> None:
        self._run(self._it.awrite_bulk(records))

    def reset(self) -> None:
        self._run(self._it.areset())

    def totals(self) -> int:
        return self._run(self._it.atotals())

    def close(self) -> None:
        """Closes (commits, for ``w``) and drops the connection."""
        if self._done:
            return
        self._done = True
        try:
            self._run(self._it.aclose())
        finally:
            try:
                self._run(self._client.close())
            finally:
                self._runner.close()

    def __iter__(self) -> Iterator[Row]:
        return self

    def __next__(self) -> Row:
        it = self._it  # the fast path of read(): a row already received
        cur, i = it._cur, it._i
        if i < len(cur):
            row = cur[i]
            if row:
                it._i = i + 1
                it.rows_read += 1
                return row
        return self.read()

    def __enter__(self) -> RowIterable:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_iterable(filename: str | os.PathLike[str], mode: str = "r", engine: str = "internal",
                  iterableargs: Mapping[str, Any] | None = None,
                  codecargs: Mapping[str, Any] | None = None, debug: bool = False, *,
                  socket: str | os.PathLike[str] | None = None, format: str | None = None,
                  codec: str | None = None, batch: int = 1000) -> RowIterable:
    """Blocking counterpart of :func:`rowd.aopen_iterable` (same arguments).
    Inside a running event loop, use ``await aopen_iterable(...)``."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("open_iterable() blocks; in a running event loop use "
                           "'await aopen_iterable(...)'")
    runner = asyncio.Runner()
    client = Client(socket)
    try:
        it = runner.run(aopen_iterable(filename, mode, engine, iterableargs, codecargs, debug,
                                       client=client, format=format, codec=codec,
                                       batch=batch))
    except BaseException:
        runner.run(client.close())
        runner.close()
        raise
    return RowIterable(runner, client, it)
