"""The Client: hello, ping, stats, detect, tables, convert, open."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

import rowd
from conftest import BIG_ROWS, SIX, run


def test_default_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROWD_SOCKET", raising=False)
    assert rowd.default_socket() == "/run/rowd/rowd.sock" == rowd.Client().socket
    monkeypatch.setenv("ROWD_SOCKET", "/tmp/x.sock")
    assert rowd.default_socket() == "/tmp/x.sock" == rowd.Client().socket


def test_hello_ping_stats(sock: str) -> None:
    async def main() -> None:
        async with rowd.Client() as client:
            assert client.connected
            info = client.server
            assert info["server"] == "rowd" and info["protocol"] == rowd.PROTOCOL_VERSION
            assert {"csv", "jsonl", "json"} <= {f["name"] for f in info["formats"]}
            assert "gzip" in {c["name"] for c in info["codecs"]}
            assert client.limits["batch_rows"] == info["limits"]["batch_rows"]
            assert (await client.hello())["version"] == info["version"]
            assert 0 <= await client.ping() < 5
            async with await client.open("iterabledata/2cols6rows.csv") as source:
                await source.aread()
                stats = await client.stats()
                assert stats["handles"] >= 1 and stats["connections"]["now"] >= 1
                assert stats["rows_out"] >= 1 and stats["workers"] >= 1
        assert not client.connected
        with pytest.raises(rowd.ConnectionLost):
            await client.ping()

    run(main())


def test_detect_and_tables(sock: str) -> None:
    async def main() -> None:
        async with rowd.Client() as client:
            d = await client.detect("iterabledata/2cols6rows.csv.gz")
            assert (d["format"], d["codec"]) == ("csv", "gzip")
            d = await client.detect("iterabledata/2cols6rows_flat.ndjson")
            assert d["format"] == "jsonl"
            with pytest.raises(rowd.NotSupported, match="no tables"):
                await client.tables("iterabledata/2cols6rows.csv")
            # XML: the element names that can be a tagname.
            assert await client.tables("iterabledata/books.xml") == ["book"]
            with pytest.raises(rowd.PathError):
                await client.detect("missing.csv")

    run(main())


def test_convert_with_async_progress(sock: str, root: Path) -> None:
    target = root / "out" / "big.jsonl.gz"
    seen: list[dict] = []

    async def progress(p: dict) -> None:
        await asyncio.sleep(0)
        seen.append(p)

    async def main() -> dict:
        async with rowd.Client() as client:
            result = await client.convert("big.csv", target, progress=progress)
            async with await client.open(target) as source:
                assert source.codec == "gzip" and source.format == "jsonl"
                assert await source.atotals() == BIG_ROWS
            return result

    result = run(main())
    assert result["rows_in"] == result["rows_out"] == BIG_ROWS
    assert result["rows_skipped"] == 0 and result["bytes_out"] > 0 and result["seconds"] > 0
    assert seen, "no progress message"
    assert all(set(p) == {"bytes_read", "bytes_total", "rows"} for p in seen)
    assert [p["rows"] for p in seen] == sorted(p["rows"] for p in seen)


def test_convert_with_open_fields_and_errors(sock: str, root: Path) -> None:
    target = root / "out" / "six.json"

    async def main() -> None:
        async with rowd.Client() as client:
            calls: list[dict] = []
            result = await client.convert(
                {"path": "iterabledata/2cols6rows_tag.json", "options": {"tagname": "persons"}},
                {"path": target, "format": "json"}, batch=2, progress=calls.append)
            assert result["rows_out"] == 6
            with pytest.raises(rowd.PathError):
                await client.convert("missing.csv", root / "out" / "never.jsonl")
            with pytest.raises(rowd.FormatError):
                await client.convert("ragged.csv", root / "out" / "never.jsonl")
            assert await client.ping() < 5

    run(main())
    assert json.loads(target.read_text()) == SIX
    assert not (root / "out" / "never.jsonl").exists()


def test_progress_callback_error_cancels_convert(sock: str, root: Path) -> None:
    target = root / "out" / "boom.jsonl.gz"

    def progress(p: dict) -> None:
        raise RuntimeError("boom")

    async def main() -> None:
        async with rowd.Client() as client:
            with pytest.raises(RuntimeError, match="boom"):
                await client.convert("big.csv", target, batch=1, progress=progress)
            await asyncio.sleep(0.2)
            assert await client.ping() < 5

    run(main())
    assert not target.exists()


def test_explicit_client_outlives_its_iterables(sock: str) -> None:
    async def main() -> None:
        async with rowd.Client() as client:
            for _ in range(3):
                async with await rowd.aopen_iterable("iterabledata/2cols6rows.csv",
                                                     client=client) as source:
                    assert source.client is client
                    assert await source.aread_bulk(6) == SIX
                assert client.connected
            src = await client.open("iterabledata/2cols6rows.csv")
            assert repr(src).startswith("<AsyncRowIterable 'iterabledata/2cols6rows.csv'")
            await src.aclose()

    run(main())


def test_shared_connection_closes_with_its_last_iterable(sock: str) -> None:
    async def main() -> None:
        a = await rowd.aopen_iterable("iterabledata/2cols6rows.csv")
        b = await rowd.aopen_iterable("iterabledata/2cols6rows.csv.gz")
        assert a.client is b.client
        await a.aclose()
        assert b.client.connected
        await b.aclose()
        assert not b.client.connected
        c = await rowd.aopen_iterable("iterabledata/2cols6rows.csv")
        assert c.client is not a.client
        await c.aclose()

    run(main())


def test_unclosed_iterable_warns(sock: str) -> None:
    async def main() -> None:
        async with rowd.Client() as client:
            source = await client.open("iterabledata/2cols6rows.csv")
            with pytest.warns(ResourceWarning, match="unclosed"):
                del source
                import gc
                gc.collect()

    run(main())
