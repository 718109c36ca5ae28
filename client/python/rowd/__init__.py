"""rowd: rows from any data file, natively async over the rowd daemon's socket.

The async API of the iterator library (``aopen_iterable``, ``aread``,
``aread_bulk``, ``awrite``, ``awrite_bulk``, ``areset``, ``aclose``,
``async with``, ``async for``) with no thread pool: the daemon reads and
parses files on its workers, and the client only reads a Unix socket.
``open_iterable`` is the blocking facade for scripts; :class:`Client` gives
explicit control of a connection (hello, stats, detect, tables, convert).
"""
from .client import DEFAULT_SOCKET, PROTOCOL_VERSION, Client, default_socket, resolve_path
from .errors import (BadHandle, Cancelled, CodecError, ConnectionLost, FormatError,
                     InvalidRequest, LimitError, NotSupported, PathError, ProtocolError,
                     RowdError)
from .iterable import AsyncRowIterable, Row, aopen_iterable
from .sync import RowIterable, open_iterable

__version__ = "0.1.0"

__all__ = [
    "aopen_iterable", "open_iterable", "AsyncRowIterable", "RowIterable", "Row", "Client",
    "default_socket", "resolve_path", "DEFAULT_SOCKET", "PROTOCOL_VERSION",
    "RowdError", "FormatError", "PathError", "LimitError", "CodecError", "ProtocolError",
    "NotSupported", "BadHandle", "InvalidRequest", "Cancelled", "ConnectionLost",
]
