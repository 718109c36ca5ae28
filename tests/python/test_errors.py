"""Errors: exceptions per code with message and line; lost connections."""
from __future__ import annotations

import asyncio
import pickle
from pathlib import Path

import msgpack
import pytest

import rowd
from conftest import SIX, run


def test_error_classes() -> None:
    e = rowd.errors.error_from_answer({"ok": False, "error": {
        "code": "EFORMAT", "message": "line 3: bad", "line": 3, "row": 2}})
    assert isinstance(e, rowd.FormatError) and isinstance(e, rowd.RowdError)
    assert (e.code, e.message, e.line, e.row, e.offset) == ("EFORMAT", "line 3: bad", 3, 2, None)
    assert str(e) == "EFORMAT: line 3: bad (line 3, row 2)"
    again = pickle.loads(pickle.dumps(e))
    assert type(again) is rowd.FormatError and again.line == 3
    for code, cls in [("ENOENT", rowd.PathError), ("EACCES", rowd.PathError),
                      ("ELIMIT", rowd.LimitError), ("ECODEC", rowd.CodecError),
                      ("EPROTO", rowd.ProtocolError), ("ENOTSUP", rowd.NotSupported),
                      ("EBADHANDLE", rowd.BadHandle), ("EINVAL", rowd.InvalidRequest),
                      ("EIO", rowd.RowdError), ("ENEW", rowd.RowdError)]:
        err = rowd.errors.error_from_answer({"ok": False,
                                             "error": {"code": code, "message": "m"}})
        assert type(err) is cls and err.code == code
    lost = rowd.ConnectionLost("gone")
    assert isinstance(lost, ConnectionError) and lost.code == "ECONNLOST"
    assert pickle.loads(pickle.dumps(lost)).message == "gone"


def test_path_errors(sock: str, root: Path) -> None:
    async def main() -> None:
        with pytest.raises(rowd.PathError) as e:
            await rowd.aopen_iterable("no/such/file.csv")
        assert e.value.code == "ENOENT" and e.value.path == "no/such/file.csv"
        with pytest.raises(rowd.PathError) as e:
            await rowd.aopen_iterable("/etc/passwd")
        assert e.value.code == "EACCES"
        with pytest.raises(rowd.PathError, match="EACCES"):
            await rowd.aopen_iterable("../../../etc/passwd", format="csv")
        with pytest.raises(rowd.PathError):
            await rowd.aopen_iterable(root.parent / "elsewhere.jsonl", mode="w")

    run(main())


def test_format_error_names_the_line_after_the_good_rows(sock: str) -> None:
    """ragged.csv: two good rows, then line 4 has one field. The good rows
    come first, the error carries line and row, and it stays until reset."""
    async def main() -> None:
        async with await rowd.aopen_iterable("ragged.csv") as source:
            got = []
            with pytest.raises(rowd.FormatError) as e:
                async for row in source:
                    got.append(row)
            assert got == [{"a": "1", "b": "2"}, {"a": "3", "b": "4"}]
            assert (e.value.code, e.value.line, e.value.row) == ("EFORMAT", 4, 3)
            assert "line 4" in str(e.value)
            with pytest.raises(rowd.FormatError):
                await source.aread()
            await source.areset()
            assert await source.aread_bulk(10) == got  # the good rows, then ...
            with pytest.raises(rowd.FormatError):
                await source.aread_bulk(10)  # ... the error on the next call
        async with await rowd.aopen_iterable(
                "ragged.csv", iterableargs={"on_error": "skip"}) as source:
            assert [r["a"] async for r in source] == ["1", "3", "6"]
            assert source.skipped == 1

    run(main())


def test_not_supported_and_invalid(sock: str) -> None:
    async def main() -> None:
        with pytest.raises(rowd.NotSupported, match="duckdb"):
            await rowd.aopen_iterable("iterabledata/2cols6rows.csv", engine="duckdb")
        with pytest.raises(rowd.InvalidRequest):
            await rowd.aopen_iterable("iterabledata/2cols6rows.csv", mode="x")
        with pytest.raises(rowd.InvalidRequest, match="types"):
            await rowd.aopen_iterable("iterabledata/2cols6rows.csv",
                                      iterableargs={"types": "guess"})
        async with rowd.Client() as client:
            with pytest.raises(rowd.ProtocolError, match="unknown op"):
                await client.call("fly")
            with pytest.raises(rowd.InvalidRequest, match="unknown field"):
                await client.call("ping", wings=2)
            with pytest.raises(rowd.BadHandle):
                await client.call("read", handle=99)
            with pytest.raises(rowd.LimitError):
                await client.call("read_bulk", handle=1, n=10**9)
            # The connection goes on after every refusal.
            assert await client.ping() < 5
            async with await client.open("iterabledata/2cols6rows.csv") as source:
                assert await source.aread_bulk(6) == SIX

    run(main())


def test_closed_iterable_refuses(sock: str) -> None:
    async def main() -> None:
        source = await rowd.aopen_iterable("iterabledata/2cols6rows.csv")
        await source.aclose()
        await source.aclose()  # idempotent
        for call in (source.aread(), source.aread_bulk(1), source.areset(),
                     source.atotals(), source.awrite({"a": 1})):
            with pytest.raises(ValueError, match="closed"):
                await call
        with pytest.raises(ValueError, match="closed"):
            await source.__anext__()

    run(main())


def test_no_daemon_is_connection_lost(tmp_path: Path) -> None:
    async def main() -> None:
        with pytest.raises(rowd.ConnectionLost, match="cannot connect"):
            await rowd.aopen_iterable("x.csv", socket=tmp_path / "none.sock")
        client = rowd.Client(tmp_path / "none.sock")
        with pytest.raises(rowd.ConnectionLost):
            await client.connect()
        with pytest.raises(rowd.ConnectionLost):
            await client.stats()

    run(main())


async def fake_rowd(path: Path, script):
    """A stand-in daemon: answers hello, then runs script(request, writer)."""
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        unpacker = msgpack.Unpacker(raw=False)
        try:
            while data := await reader.read(65536):
                unpacker.feed(data)
                for req in unpacker:
                    if req["op"] == "hello":
                        writer.write(msgpack.packb({"id": req["id"], "ok": True,
                                                    "protocol": 1, "limits": {}}))
                    elif await script(req, writer):
                        return
        finally:
            writer.close()

    return await asyncio.start_unix_server(serve, path)


def test_dropped_socket_fails_every_pending_request(tmp_path: Path) -> None:
    """Every pending future fails with ConnectionLost, the client stays
    broken, and a new aopen_iterable makes a new connection."""
    path = tmp_path / "fake.sock"

    async def script(req: dict, writer: asyncio.StreamWriter) -> bool:
        if req["op"] == "open":
            writer.write(msgpack.packb({"id": req["id"], "ok": True, "handle": 1,
                                        "mode": "r", "format": "csv", "codec": "none",
                                        "capabilities": ["read", "stream"]}))
            return False
        if req["op"] == "close":
            writer.write(msgpack.packb({"id": req["id"], "ok": True, "rows_read": 0}))
            return False
        return req["op"] == "ping"  # hang up on ping; leave the others pending

    async def main() -> None:
        server = await fake_rowd(path, script)
        async with server:
            source = await rowd.aopen_iterable("x.csv", socket=path)
            client = source.client
            reads = [asyncio.create_task(source.aread()),
                     asyncio.create_task(source.aread_bulk(5)),
                     asyncio.create_task(client.stats()),
                     asyncio.create_task(client.detect("x.csv"))]
            await asyncio.sleep(0.05)
            assert not any(t.done() for t in reads)
            with pytest.raises(rowd.ConnectionLost):
                await client.ping()
            for t in reads:
                with pytest.raises(rowd.ConnectionLost):
                    await t
            assert not client.connected
            with pytest.raises(rowd.ConnectionLost):
                await source.aread()
            with pytest.raises(rowd.ConnectionLost):
                await client.stats()
            await source.aclose()  # a read handle: nothing to lose
            again = await rowd.aopen_iterable("y.csv", socket=path)
            assert again.client is not client and again.client.connected
            await again.aclose()

    run(main())


def test_undecodable_answer_is_a_protocol_error(tmp_path: Path) -> None:
    path = tmp_path / "fake.sock"

    async def script(req: dict, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"\xc1garbage")  # 0xc1 is never valid msgpack
        return False

    async def main() -> None:
        async with await fake_rowd(path, script):
            async with rowd.Client(path) as client:
                with pytest.raises(rowd.ConnectionLost, match="undecodable"):
                    await client.stats()

    run(main())


def test_daemon_stopping_fails_pending_and_discards_writes(spawn_daemon) -> None:
    # The drain waits for clients to read what was queued for them, up to
    # shutdown_timeout; this client is blocked in d.stop(), so keep it short.
    d = spawn_daemon("-o", "shutdown_timeout=2")
    (d.root / "in.jsonl").write_text("".join(f'{{"i": {i}}}\n' for i in range(50_000)))

    async def main() -> None:
        async with rowd.Client(d.socket) as client:
            dest = await client.open(d.root / "out.jsonl", mode="w")
            await dest.awrite_bulk([{"a": 1}] * 10)
            source = await client.open("in.jsonl")
            await source.aread()
            rc = d.stop()
            assert rc == 0, d.output()
            # A draining daemon answers what it had queued, then ends the
            # stream with ESHUTDOWN (or the connection is already gone).
            with pytest.raises(rowd.RowdError) as stopped:
                async for _ in source:
                    pass
            assert isinstance(stopped.value, rowd.ConnectionLost) or \
                stopped.value.code == "ESHUTDOWN", stopped.value
            with pytest.raises(rowd.RowdError) as closed:
                await dest.aclose()
            assert isinstance(closed.value, rowd.ConnectionLost) or \
                closed.value.code == "ESHUTDOWN", closed.value
            await source.aclose()

    run(main())
    assert not (d.root / "out.jsonl").exists()


def test_protocol_version_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "v2.sock"

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        unpacker = msgpack.Unpacker(raw=False)
        unpacker.feed(await reader.read(65536))
        req = next(unpacker)
        writer.write(msgpack.packb({"id": req["id"], "ok": True, "protocol": 2}))
        await reader.read()
        writer.close()

    async def main() -> None:
        async with await asyncio.start_unix_server(serve, path):
            client = rowd.Client(path)
            with pytest.raises(rowd.ProtocolError, match="protocol 2"):
                await client.connect()
            with pytest.raises(rowd.ConnectionLost):
                await client.ping()

    run(main())


def test_debug_logs_requests(sock: str, caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        async with await rowd.aopen_iterable("iterabledata/2cols6rows.csv",
                                             debug=True) as source:
            await source.aread_bulk(2)

    try:
        with caplog.at_level("DEBUG", logger="rowd"):
            run(main())
    finally:
        import logging
        logging.getLogger("rowd").setLevel(logging.NOTSET)
    assert any("-> open" in r.getMessage() for r in caplog.records)
    assert any("-> read_bulk" in r.getMessage() for r in caplog.records)
