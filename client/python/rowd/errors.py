"""Exceptions raised by the rowd client: one class per daemon error code."""
from __future__ import annotations

from typing import Any, Mapping

__all__ = [
    "RowdError", "FormatError", "PathError", "LimitError", "CodecError",
    "ProtocolError", "NotSupported", "BadHandle", "InvalidRequest", "Cancelled",
    "ConnectionLost", "error_from_answer",
]


class RowdError(Exception):
    """An error answered by rowd: its stable code, message and position."""

    def __init__(self, code: str, message: str, line: int | None = None,
                 row: int | None = None, offset: int | None = None,
                 path: str | None = None) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message
        self.line = line
        self.row = row
        self.offset = offset
        self.path = path

    def __str__(self) -> str:
        where = [f"{k} {v}" for k, v in (("path", self.path), ("line", self.line),
                                          ("row", self.row), ("offset", self.offset))
                 if v is not None]
        return f"{self.code}: {self.message}" + (f" ({', '.join(where)})" if where else "")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.code, self.message, self.line, self.row, self.offset,
                             self.path))


class FormatError(RowdError):
    """Bad input in a row (EFORMAT): ragged CSV, a JSON line that is not an object…"""


class PathError(RowdError):
    """The path does not exist (ENOENT) or is outside the daemon's roots (EACCES)."""


class LimitError(RowdError):
    """A daemon limit was exceeded (ELIMIT)."""


class CodecError(RowdError):
    """Corrupt or truncated compressed data (ECODEC)."""


class ProtocolError(RowdError):
    """The peer broke the wire protocol (EPROTO)."""


class NotSupported(RowdError):
    """The daemon cannot do that: format, engine, op (ENOTSUP)."""


class BadHandle(RowdError):
    """No such handle, or a handle used in the wrong mode (EBADHANDLE)."""


class InvalidRequest(RowdError, ValueError):
    """A field or option the daemon refused (EINVAL)."""


class Cancelled(RowdError):
    """The daemon cancelled the request (ECANCELLED)."""


class ConnectionLost(RowdError, ConnectionError):
    """The socket to rowd dropped; every pending request fails with this."""

    def __init__(self, message: str = "connection to rowd lost") -> None:
        super().__init__("ECONNLOST", message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message,))


_BY_CODE: dict[str, type[RowdError]] = {
    "EFORMAT": FormatError,
    "ENOENT": PathError,
    "EACCES": PathError,
    "ELIMIT": LimitError,
    "ECODEC": CodecError,
    "EPROTO": ProtocolError,
    "ENOTSUP": NotSupported,
    "EBADHANDLE": BadHandle,
    "EINVAL": InvalidRequest,
    "ECANCELLED": Cancelled,
}


def _int_or_none(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def error_from_answer(answer: Mapping[str, Any]) -> RowdError:
    """Builds the exception for an answer with ok false."""
    err = answer.get("error")
    if not isinstance(err, Mapping):
        return ProtocolError("EPROTO", f"answer without an error object: {answer!r:.200}")
    code = str(err.get("code", "EPROTO"))
    path = err.get("path")
    return _BY_CODE.get(code, RowdError)(
        code, str(err.get("message", "")), _int_or_none(err.get("line")),
        _int_or_none(err.get("row")), _int_or_none(err.get("offset")),
        path if isinstance(path, str) else None)
