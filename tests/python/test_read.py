"""Reading: async for, aread, aread_bulk, areset, atotals, options."""
from __future__ import annotations

import gzip
from pathlib import Path

import pytest

import rowd
from conftest import BIG_ROWS, SIX, run


def test_async_for_and_metadata(sock: str) -> None:
    async def main() -> None:
        source = await rowd.aopen_iterable("iterabledata/2cols6rows.csv")
        async with source:
            assert (source.format, source.codec, source.mode) == ("csv", "none", "r")
            assert source.columns == ["id", "name"]
            assert "stream" in source.capabilities
            assert [row async for row in source] == SIX
            assert source.rows_read == 6
            assert [row async for row in source] == []
        assert source.closed

    run(main())


def test_aread_and_aread_bulk(sock: str) -> None:
    async def main() -> None:
        async with await rowd.aopen_iterable("iterabledata/2cols6rows.csv") as source:
            assert await source.aread() == SIX[0]
            assert await source.aread_bulk(2) == SIX[1:3]
            assert await source.aread() == SIX[3]
            assert await source.aread_bulk(10) == SIX[4:]
            assert await source.aread_bulk(10) == []
            with pytest.raises(StopAsyncIteration):
                await source.aread()
            assert await source.aread_bulk(0) == []

    run(main())


def test_areset_and_atotals(sock: str) -> None:
    async def main() -> None:
        async with await rowd.aopen_iterable("iterabledata/2cols6rows.csv.gz") as source:
            assert source.codec == "gzip"
            assert await source.atotals() == 6
            assert await source.aread_bulk(4) == SIX[:4]
            assert await source.atotals() == 6  # counting keeps the position
            assert await source.aread() == SIX[4]
            await source.areset()
            assert source.rows_read == 0
            assert [r async for r in source] == SIX
            await source.areset()
            assert await source.aread_bulk(6) == SIX

    run(main())


def test_reset_during_read_ahead(sock: str) -> None:
    """A reset while stream windows are in flight drops them cleanly."""
    async def main() -> None:
        async with await rowd.aopen_iterable("big.csv") as source:
            first = [await source.aread() for _ in range(3)]
            await source.areset()
            assert [await source.aread() for _ in range(3)] == first
            await source.areset()
            n = 0
            async for row in source:
                n += 1
                assert int(row["id"]) == n
            assert n == BIG_ROWS

    run(main())


def test_break_and_continue_lose_nothing(sock: str) -> None:
    """Rows read ahead stay buffered: breaking out of async for and reading
    on with aread/aread_bulk continues exactly where the loop stopped."""
    async def main() -> None:
        async with await rowd.aopen_iterable("big.csv", batch=500) as source:
            seen = 0
            async for row in source:
                seen += 1
                assert int(row["id"]) == seen
                if seen == 1234:
                    break
            assert int((await source.aread())["id"]) == 1235
            bulk = await source.aread_bulk(20_000)
            assert [int(r["id"]) for r in bulk] == list(range(1236, 21236))
            rest = 0
            async for row in source:
                rest += 1
            assert 21235 + rest == BIG_ROWS
            assert source.rows_read == BIG_ROWS

    run(main())


def test_aread_bulk_over_the_batch_limit(sock: str) -> None:
    """aread_bulk(n) above the daemon's batch_rows is asked in parts."""
    async def main() -> None:
        async with await rowd.aopen_iterable("big.csv") as source:
            limit = source.client.limits["batch_rows"]
            assert limit < BIG_ROWS
            rows = await source.aread_bulk(limit + 10)
            assert len(rows) == limit + 10
            assert rows[-1]["id"] == str(limit + 10)
            assert len(await source.aread_bulk(BIG_ROWS)) == BIG_ROWS - limit - 10

    run(main())


def test_skip_empty(sock: str, root: Path) -> None:
    (root / "empties.jsonl").write_text('{"a": 1}\n{}\n{"a": 2}\n{}\n')

    async def main() -> None:
        async with await rowd.aopen_iterable("empties.jsonl") as source:
            assert [r async for r in source] == [{"a": 1}, {"a": 2}]
            await source.areset()
            assert await source.aread(skip_empty=False) == {"a": 1}
            assert await source.aread(skip_empty=False) == {}
            assert await source.aread() == {"a": 2}
            await source.areset()
            assert await source.aread_bulk(10) == [{"a": 1}, {}, {"a": 2}, {}]

    run(main())


def test_iterableargs_and_codecargs(sock: str, root: Path) -> None:
    (root / "semi.csv").write_text("1;x\n2;y\n")
    with gzip.open(root / "t.jsonl.gz", "wt") as f:
        f.write('{"n": {"deep": [1, 2]}}\n')

    async def main() -> None:
        args = {"delimiter": ";", "header": False, "keys": ["num", "letter"]}
        async with await rowd.aopen_iterable("semi.csv", iterableargs=args) as source:
            assert [r async for r in source] == [{"num": "1", "letter": "x"},
                                                 {"num": "2", "letter": "y"}]
        async with await rowd.aopen_iterable("iterabledata/2cols6rows_tag.json",
                                             iterableargs={"tagname": "persons"}) as source:
            assert [r async for r in source] == SIX
        async with await rowd.aopen_iterable("t.jsonl.gz", codec="gzip",
                                             format="jsonl") as source:
            assert await source.aread() == {"n": {"deep": [1, 2]}}
        with pytest.raises(rowd.InvalidRequest, match="no_such_option"):
            await rowd.aopen_iterable("semi.csv", iterableargs={"no_such_option": 1})

    run(main())


def test_local_paths_are_sent_absolute(sock: str, root: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A file that exists here is sent as its absolute path."""
    monkeypatch.chdir(root / "iterabledata")
    assert rowd.resolve_path("2cols6rows.csv") == str(root / "iterabledata" / "2cols6rows.csv")
    assert rowd.resolve_path("nope/x.csv") == "nope/x.csv"
    assert rowd.resolve_path("new.csv", "w") == str(root / "iterabledata" / "new.csv")

    async def main() -> None:
        async with await rowd.aopen_iterable(Path("2cols6rows.csv")) as source:
            assert await source.aread_bulk(10) == SIX

    run(main())


def test_batch_sizes_and_close_mid_stream(sock: str) -> None:
    """Any batch size gives the same rows; closing while stream windows are
    in flight is clean, and the connection goes on serving."""
    async def main() -> None:
        client = await rowd.Client().connect()
        async with client:
            for batch in (1, 7, 5000):
                async with await rowd.aopen_iterable("big.csv", client=client,
                                                     batch=batch) as source:
                    n = 0
                    async for row in source:
                        n += 1
                        assert int(row["id"]) == n
                        if n == 5_000:
                            break
            async with await client.open("iterabledata/2cols6rows.csv") as source:
                assert [r async for r in source] == SIX

    run(main())


def test_aread_bulk_double_buffers(sock: str) -> None:
    """aread_bulk keeps one read_bulk of the same size in flight; mixing it
    with aread, async for and areset stays exact."""
    async def main() -> None:
        async with await rowd.aopen_iterable("big.csv") as source:
            ids: list[int] = []
            for _ in range(5):
                ids += [int(r["id"]) for r in await source.aread_bulk(100)]
                assert source._owed == 100  # the next hundred are on their way
            ids.append(int((await source.aread())["id"]))
            ids += [int(r["id"]) for r in await source.aread_bulk(50)]
            assert ids == list(range(1, 552))
            await source.areset()
            assert [int(r["id"]) for r in await source.aread_bulk(3)] == [1, 2, 3]
            rest = [int(r["id"]) async for r in source]
            assert rest == list(range(4, BIG_ROWS + 1))
            assert await source.aread_bulk(10) == []

    run(main())


def test_other_encodings_read_without_option(sock: str, root: Path) -> None:
    """A windows-1251 (or KOI8-R, UTF-16, gzip'd) CSV reads as UTF-8 rows
    with no option; detect names the encoding; reset and totals agree."""
    text = "id,город\n1,Москва\n2,Санкт-Петербург\n3,Нижний Новгород\n"
    rows = [{"id": "1", "город": "Москва"}, {"id": "2", "город": "Санкт-Петербург"},
            {"id": "3", "город": "Нижний Новгород"}]
    (root / "cp1251.csv").write_bytes(text.encode("cp1251"))
    (root / "koi8.csv.gz").write_bytes(gzip.compress(text.encode("koi8-r")))
    (root / "utf16.tsv").write_bytes(text.replace(",", "\t").encode("utf-16"))

    async def main() -> None:
        async with rowd.Client() as client:
            d = await client.detect("cp1251.csv")
            assert (d["format"], d["encoding"], d["delimiter"]) == ("csv", "windows-1251", ",")
            assert (await client.detect("koi8.csv.gz"))["encoding"] == "koi8-r"
        for name in ("cp1251.csv", "koi8.csv.gz", "utf16.tsv"):
            async with await rowd.aopen_iterable(name) as source:
                assert [row async for row in source] == rows, name
                assert await source.atotals() == 3
                await source.areset()
                assert await source.aread() == rows[0]

    run(main())
