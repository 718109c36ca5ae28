"""Many iterables on one connection, a loop that never blocks, cancellation."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

import rowd
from conftest import BIG_ROWS, SIX, run

SIX_FILES = ["iterabledata/2cols6rows.csv", "iterabledata/2cols6rows.csv.gz",
             "iterabledata/2cols6rows_flat.jsonl", "iterabledata/2cols6rows_flat.ndjson",
             "iterabledata/2cols6rows_array.json"]


def test_gather_over_files_shares_one_connection(sock: str) -> None:
    """The seed's example: count rows of several files with asyncio.gather."""
    clients: set[int] = set()
    handles: list[int] = []

    async def count_rows(filename: str) -> int:
        count = 0
        source = await rowd.aopen_iterable(filename)
        clients.add(id(source.client))
        handles.append(source.handle)
        async with source:
            async for _ in source:
                count += 1
        return count

    async def main() -> list[int]:
        return await asyncio.gather(*[count_rows(f) for f in SIX_FILES + ["big.csv"]])

    assert run(main()) == [6] * len(SIX_FILES) + [BIG_ROWS]
    assert len(clients) == 1
    assert sorted(handles) == list(range(1, len(SIX_FILES) + 2))


def test_many_iterables_on_one_connection(sock: str) -> None:
    async def read_all(client: rowd.Client, name: str, how: int) -> list[dict]:
        async with await client.open(name) as source:
            if how == 0:
                return [r async for r in source]
            if how == 1:
                return await source.aread_bulk(100)
            rows = []
            while True:
                try:
                    rows.append(await source.aread())
                except StopAsyncIteration:
                    return rows

    async def main() -> None:
        async with rowd.Client() as client:
            jobs = [read_all(client, SIX_FILES[i % len(SIX_FILES)], i % 3) for i in range(60)]
            assert await asyncio.gather(*jobs) == [SIX] * 60
            stats = await client.stats()
            assert stats["connections"]["now"] >= 1

    run(main())


def test_interleaved_reads_never_deadlock(sock: str) -> None:
    """Reading one file while waiting on another over the same socket: the
    client never stops reading the socket, so neither stalls the other."""
    async def main() -> None:
        async with rowd.Client() as client:
            a = await client.open("big.csv", batch=100)
            b = await client.open("big.csv", batch=100)
            async with a, b:
                n = 0
                async for row in a:
                    other = await b.aread()
                    assert row == other
                    n += 1
                    if n % 10_000 == 0:
                        assert await b.atotals() == BIG_ROWS
                assert n == BIG_ROWS

    run(main())


def test_ticker_keeps_ticking_while_a_large_file_streams(sock: str) -> None:
    """The proof that nothing blocks the loop: a task that sleeps 2 ms at a
    time keeps ticking all along while 200,000 rows stream in."""
    async def main() -> None:
        ticks: list[float] = []
        stop = asyncio.Event()

        async def ticker() -> None:
            while not stop.is_set():
                ticks.append(time.perf_counter())
                await asyncio.sleep(0.002)

        t = asyncio.create_task(ticker())
        await asyncio.sleep(0.01)
        start = time.perf_counter()
        n = 0
        async with await rowd.aopen_iterable("big.csv") as source:
            async for _ in source:
                n += 1
        end = time.perf_counter()
        stop.set()
        await t
        assert n == BIG_ROWS
        during = [x for x in ticks if start <= x <= end]
        gaps = sorted(b - a for a, b in zip(during, during[1:]))
        assert len(during) >= (end - start) / 0.05, (len(during), end - start)
        # A blocking client would stop the ticker for the whole file (over a
        # second); allow the preemptions of a loaded 2-core machine (load
        # ~14 gave a p95 of 28 ms), not more.
        p95 = gaps[int(len(gaps) * 0.95)]
        assert p95 < 0.05, f"95% of the gaps under {p95 * 1000:.1f} ms"
        assert gaps[-1] < 0.4, f"the loop was blocked for {gaps[-1] * 1000:.1f} ms"

    run(main())


def test_cancelling_the_task_cancels_the_stream(sock: str) -> None:
    """The stream windows queue behind a counting pass; the task waiting for
    them is cancelled: the daemon ends them (no rows come), the handle stays
    where it was and the connection goes on."""
    async def main() -> None:
        async with await rowd.aopen_iterable("big.csv") as source:
            totals = asyncio.create_task(source.atotals())
            reader = asyncio.create_task(source.aread())
            await asyncio.sleep(0.005)
            assert not reader.done() and source._windows
            reader.cancel()
            with pytest.raises(asyncio.CancelledError):
                await reader
            assert await totals == BIG_ROWS
            for _ in range(200):  # the cancelled windows end with no rows
                if not source._windows:
                    break
                await asyncio.sleep(0.005)
            assert not source._windows and source._buffered == 0
            assert (await source.aread())["id"] == "1"
            assert await source.aread_bulk(2) == [{"id": "2", "name": "name2", "city": "city2",
                                                   "score": "1.0", "note": "a, b 2"},
                                                  {"id": "3", "name": "name3", "city": "city3",
                                                   "score": "1.5", "note": "a, b 3"}]
            async with await rowd.aopen_iterable("iterabledata/2cols6rows.csv") as other:
                assert [r async for r in other] == SIX

    run(main())


@pytest.mark.parametrize("after", [1, 999, 5000, 31_337])
def test_cancel_mid_stream_loses_and_repeats_nothing(sock: str, after: int) -> None:
    async def main() -> None:
        async with await rowd.aopen_iterable("big.csv") as source:
            seen: list[int] = []
            reached = asyncio.Event()

            async def consume() -> None:
                async for row in source:
                    seen.append(int(row["id"]))
                    if len(seen) == after:
                        reached.set()
                    if len(seen) >= after:
                        await asyncio.sleep(0)

            task = asyncio.create_task(consume())
            await reached.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            async for row in source:
                seen.append(int(row["id"]))
            assert seen == list(range(1, BIG_ROWS + 1))

    run(main())


def test_wait_for_timeout_then_read_on(sock: str) -> None:
    async def main() -> None:
        async with await rowd.aopen_iterable("big.csv") as source:
            slow = asyncio.create_task(source.atotals())  # holds the strand a while
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(source.aread(), 0.001)
            await slow
            assert (await source.aread())["id"] == "1"

    run(main())


def test_aclose_while_another_task_iterates(sock: str) -> None:
    async def main() -> None:
        source = await rowd.aopen_iterable("big.csv")
        started = asyncio.Event()

        async def consume() -> int:
            n = 0
            async for _ in source:
                n += 1
                started.set()
            return n

        task = asyncio.create_task(consume())
        await started.wait()
        await source.aclose()
        with pytest.raises(ValueError, match="closed"):
            await task

    run(main())


def test_convert_cancelled_leaves_no_target(sock: str, root: Path) -> None:
    target = root / "out" / "cancelled.jsonl.gz"

    async def main() -> None:
        async with rowd.Client() as client:
            task = asyncio.create_task(client.convert("big.csv", target))
            await asyncio.sleep(0.02)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert await client.ping() < 5
            await asyncio.sleep(0.2)

    run(main())
    assert not target.exists()
