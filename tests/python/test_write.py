"""Writing: awrite, awrite_bulk, commit on close, the seed's pipeline."""
from __future__ import annotations

import asyncio
import datetime
import decimal
import gzip
import json
import time
from pathlib import Path

import pytest

import rowd
import rowd.iterable
from conftest import SIX, run


def read_jsonl(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_awrite_and_awrite_bulk_commit_on_close(sock: str, root: Path) -> None:
    target = root / "out" / "w.jsonl"

    async def main() -> None:
        dest = await rowd.aopen_iterable(target, mode="w")
        async with dest:
            assert dest.mode == "w" and dest.format == "jsonl"
            await dest.awrite({"a": 1})
            await dest.awrite_bulk([{"a": i, "nested": {"x": [i]}} for i in range(2, 5)])
            await dest.awrite_bulk([])
            assert not target.exists()  # nothing shows before the commit
        assert dest.rows_written == 4

    run(main())
    assert read_jsonl(target) == [{"a": 1}] + [{"a": i, "nested": {"x": [i]}}
                                               for i in range(2, 5)]


def test_write_csv_gz_and_read_back(sock: str, root: Path) -> None:
    target = root / "out" / "w.csv.gz"

    async def main() -> None:
        async with await rowd.aopen_iterable(target, mode="w") as dest:
            assert dest.codec == "gzip"
            await dest.awrite_bulk(SIX)
        async with await rowd.aopen_iterable(target) as source:
            assert [r async for r in source] == SIX

    run(main())
    assert gzip.decompress(target.read_bytes()).decode().splitlines()[0] == "id,name"


def test_read_enrich_write_pipeline(sock: str, root: Path) -> None:
    """The seed's example: read, enrich with an awaited call, write."""
    async def enrich(row: dict) -> dict:
        await asyncio.sleep(0)
        return {**row, "enriched": True, "name_len": len(row["name"])}

    async def main() -> None:
        source = await rowd.aopen_iterable("iterabledata/2cols6rows.csv")
        dest = await rowd.aopen_iterable(root / "out" / "enriched.jsonl", mode="w")
        async with source, dest:
            async for row in source:
                await dest.awrite(await enrich(row))
        assert source.client is dest.client  # one shared connection
        assert dest.rows_written == 6

    run(main())
    assert read_jsonl(root / "out" / "enriched.jsonl") == [
        {**r, "enriched": True, "name_len": len(r["name"])} for r in SIX]


def test_values_msgpack_cannot_pack_natively(sock: str, root: Path) -> None:
    async def main() -> None:
        async with await rowd.aopen_iterable(root / "out" / "v.jsonl", mode="w") as dest:
            await dest.awrite({"d": datetime.date(2024, 6, 1), "x": decimal.Decimal("1.50"),
                               "t": (1, 2), "b": None, "f": 0.5, "yes": True})
            with pytest.raises(TypeError, match="object"):
                await dest.awrite({"o": object()})
            await dest.awrite({"after": "error"})

    run(main())
    assert read_jsonl(root / "out" / "v.jsonl") == [
        {"d": "2024-06-01", "x": "1.50", "t": [1, 2], "b": None, "f": 0.5, "yes": True},
        {"after": "error"}]


def test_write_errors_carry_the_row(sock: str, root: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rowd.iterable, "WRITE_CHUNK", 2)

    async def main() -> None:
        async with await rowd.aopen_iterable(root / "out" / "e.csv", mode="w") as dest:
            rows = [{"a": 1}, {"a": 2}, {"a": 3}, {"b": 4}, {"a": 5}]
            with pytest.raises(rowd.InvalidRequest) as e:
                await dest.awrite_bulk(rows)
            assert e.value.code == "EINVAL" and "'b'" in e.value.message
            assert e.value.row == 4  # counted from the start of the call
            assert any("parts" in n for n in e.value.__notes__)
            assert dest.rows_written == 3
            with pytest.raises(rowd.InvalidRequest):
                await dest.awrite({"zzz": 1})
            with pytest.raises(TypeError):
                await dest.awrite([1, 2])  # type: ignore[arg-type]
            await dest.awrite({"a": 6})
        assert dest.rows_written == 4

    run(main())
    assert (root / "out" / "e.csv").read_text() == "a\n1\n2\n3\n6\n"


def test_reading_a_write_handle_is_bad(sock: str, root: Path) -> None:
    async def main() -> None:
        async with await rowd.aopen_iterable(root / "out" / "r.jsonl", mode="w") as dest:
            with pytest.raises(rowd.BadHandle, match="writing"):
                await dest.aread()
            with pytest.raises(rowd.BadHandle):
                await dest.aread_bulk(3)
            await dest.awrite({"still": "fine"})

    run(main())


def test_unclosed_write_leaves_no_target(sock: str, root: Path) -> None:
    """A connection that goes away discards the uncommitted rows; closing
    the iterable then says the write was lost."""
    target = root / "out" / "lost.jsonl"

    async def main() -> None:
        client = await rowd.Client().connect()
        dest = await client.open(target, mode="w")
        await dest.awrite_bulk([{"a": 1}] * 100)
        await client.close()
        with pytest.raises(rowd.ConnectionLost):
            await dest.aclose()
        assert dest.closed

    run(main())
    assert not target.exists()
    # The daemon removes its temporary file once it has seen the hang-up.
    deadline = time.monotonic() + 5
    while [p for p in (root / "out").iterdir() if "lost" in p.name]:
        assert time.monotonic() < deadline, "the temporary file stayed"
        time.sleep(0.01)


def test_frame_limit_splits_write_bulk(spawn_daemon) -> None:
    """awrite_bulk halves a request that would exceed frame_bytes (the
    daemon would close the connection); one row too big is a LimitError
    raised before anything is sent."""
    d = spawn_daemon("-o", "frame_bytes=65536")

    async def main() -> None:
        async with rowd.Client(d.socket) as client:
            assert client.limits["frame_bytes"] == 65536
            rows = [{"i": i, "pad": "x" * 1000} for i in range(300)]
            async with await client.open(d.root / "big.jsonl", mode="w") as dest:
                await dest.awrite_bulk(rows)
                with pytest.raises(rowd.LimitError, match="frame_bytes"):
                    await dest.awrite({"huge": "y" * 70_000})
            assert dest.rows_written == 300
            async with await client.open(d.root / "big.jsonl") as source:
                assert [r async for r in source] == rows

    run(main())
