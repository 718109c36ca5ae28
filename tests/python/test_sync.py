"""The synchronous facade: open_iterable for scripts."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

import rowd
from conftest import BIG_ROWS, SIX


def test_read_methods(sock: str) -> None:
    with rowd.open_iterable("iterabledata/2cols6rows.csv") as source:
        assert source.format == "csv" and source.columns == ["id", "name"]
        assert source.read() == SIX[0]
        assert source.read_bulk(2) == SIX[1:3]
        assert list(source) == SIX[3:]
        with pytest.raises(StopIteration):
            source.read()
        assert source.read_bulk() == []
        assert source.totals() == 6
        source.reset()
        assert [row for row in source] == SIX
        assert source.rows_read == 6
    assert source.closed
    source.close()  # idempotent


def test_iterate_a_large_file(sock: str) -> None:
    source = rowd.open_iterable("big.csv")
    try:
        n = 0
        for row in source:
            n += 1
            assert int(row["id"]) == n
        assert n == BIG_ROWS
    finally:
        source.close()


def test_write_methods(sock: str, root: Path) -> None:
    target = root / "out" / "sync.jsonl"
    with rowd.open_iterable(target, mode="w") as dest:
        dest.write({"a": 1})
        dest.write_bulk([{"a": 2}, {"a": 3}])
        assert not target.exists()
    assert dest.rows_written == 3
    assert [json.loads(x) for x in target.read_text().splitlines()] == [{"a": i}
                                                                       for i in (1, 2, 3)]


def test_errors(sock: str) -> None:
    with pytest.raises(rowd.PathError):
        rowd.open_iterable("nope.csv")
    with rowd.open_iterable("ragged.csv") as source:
        assert source.read_bulk(10) == [{"a": "1", "b": "2"}, {"a": "3", "b": "4"}]
        with pytest.raises(rowd.FormatError) as e:
            source.read()
        assert e.value.line == 4


def test_not_inside_a_running_loop(sock: str) -> None:
    async def main() -> None:
        with pytest.raises(RuntimeError, match="aopen_iterable"):
            rowd.open_iterable("iterabledata/2cols6rows.csv")

    asyncio.run(main())
