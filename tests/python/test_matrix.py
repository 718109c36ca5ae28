"""Every writable format x every codec, as hello lists them: rows written
through rowd read back equal (after the format's documented flattening);
and corrupt input for every readable format and codec is an error with a
position while the daemon goes on serving."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

import rowd
from conftest import run

# Formats that read and write the file themselves: never behind a codec.
RAW = {"sqlite", "xlsx", "xls"}
# Options a format needs to write and read these rows.
WIDE = 80
OPTIONS: dict[str, dict[str, Any]] = {
    "fwf": {"widths": [WIDE] * 10,
            "names": ["id", "name", "empty", "big", "neg", "f", "ok", "nothing", "nested",
                      "arr"]},
}

ROWS: list[dict[str, Any]] = [
    {"id": 1, "name": "Zoë — ünïcødé ✓", "empty": "", "big": 2**53 + 1, "neg": -2**63,
     "f": 1.5, "ok": True, "nothing": None, "nested": {"a": [1, 2, {"b": "ü"}], "c": {}},
     "arr": [1, "x", None]},
    {"id": 2, "name": "日本語 テキスト", "empty": "", "big": 2**63 - 1, "neg": -1,
     "f": -2.5e-300, "ok": False, "nothing": None, "nested": {}, "arr": []},
    {"id": 3, "name": "quote\"comma, semi;", "empty": "", "big": 0, "neg": -7, "f": 0.1,
     "ok": True, "nothing": None, "nested": {"deep": {"er": [[1.25]]}}, "arr": ["é"]},
]

# Avro infers one schema from the first rows: nested values keep one shape
# from row to row (records with the same fields, arrays of one type).
AVRO_ROWS: list[dict[str, Any]] = [
    {"id": 1, "name": "Zoë — ünïcødé ✓", "empty": "", "big": 2**53 + 1, "neg": -2**63,
     "f": 1.5, "ok": True, "nothing": None, "nested": {"a": [1, 2], "b": {"c": "ü"}},
     "arr": ["x", "é"]},
    {"id": 2, "name": "日本語 テキスト", "empty": "", "big": 2**63 - 1, "neg": -1,
     "f": -2.5e-300, "ok": False, "nothing": None, "nested": {"a": [], "b": {"c": ""}},
     "arr": []},
    {"id": 3, "name": "quote\"comma, semi;", "empty": "", "big": 0, "neg": -7, "f": 0.1,
     "ok": True, "nothing": None, "nested": None, "arr": ["y"]},
]
ROWS_OF = {"avro": AVRO_ROWS}


def text_of(v: Any) -> str:
    """A value as the flat text formats write it (textline_value)."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, str)):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))


def flat_equal(fmt: str, want: Any, got: Any) -> bool:
    """Equal after the flattening a flat format documents: text for the
    text formats; SQLite keeps numbers and text, bool as 0/1, nested as
    JSON text, NULL as None; XLSX read as strings has TRUE/FALSE and None."""
    if fmt == "sqlite":
        if isinstance(want, bool):
            return got == int(want) and not isinstance(got, bool)
        if isinstance(want, (dict, list)):
            return isinstance(got, str) and json.loads(got) == want
        return got == want and type(got) is type(want)
    if isinstance(want, (dict, list)):
        return isinstance(got, str) and json.loads(got) == want
    if fmt == "xlsx":
        # Read back with the reader's default types "strings": an empty
        # cell is None, a boolean cell reads as Excel shows it.
        if want is None or isinstance(want, bool):
            return got == (None if want is None else "TRUE" if want else "FALSE")
    return got == text_of(want)


@pytest.fixture(scope="module")
def server(daemon) -> dict[str, Any]:
    async def hello() -> dict[str, Any]:
        async with rowd.Client(daemon.socket) as client:
            return client.server

    return run(hello())


def cells(server: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    # Written and read back: a write-only format (xlsx without its reader's
    # libraries) has nothing to compare with.
    fmts = [f for f in server["formats"]
            if f.get("available") and f.get("write") and f.get("read")]
    codecs = [c for c in server["codecs"] if c.get("available") and c.get("write")]
    return [(f["name"], f["extensions"][0], c["name"], c["extensions"][0] if c["extensions"] else "")
            for f in fmts for c in codecs]


def test_matrix_covers_the_build(server: dict[str, Any]) -> None:
    names = {f for f, _, _, _ in cells(server)}
    assert {"csv", "jsonl", "json", "msgpack", "sqlite", "ltsv", "fwf"} <= names
    assert {c for _, _, c, _ in cells(server)} >= {"none", "gzip"}


def test_round_trip_every_format_and_codec(sock: str, root: Path, server: dict[str, Any]) -> None:
    (root / "m").mkdir(exist_ok=True)
    done: list[str] = []
    refused: list[str] = []

    async def one(fmt: str, ext: str, codec: str, cext: str) -> None:
        name = f"m/rt.{ext}" + (f".{cext}" if cext else "")
        args = OPTIONS.get(fmt)
        rows = ROWS_OF.get(fmt, ROWS)
        if fmt in RAW and codec != "none":
            with pytest.raises(rowd.NotSupported, match="codec"):
                await rowd.aopen_iterable(name, mode="w", iterableargs=args)
            refused.append(f"{fmt}+{codec}")
            return
        async with await rowd.aopen_iterable(name, mode="w", iterableargs=args) as dest:
            assert (dest.format, dest.codec) == (fmt, codec)
            await dest.awrite_bulk(rows)
        async with await rowd.aopen_iterable(name, iterableargs=args) as source:
            assert (source.format, source.codec) == (fmt, codec), name
            got = [r async for r in source]
            assert await source.atotals() == len(rows)
            await source.areset()  # reset works through every codec
            assert await source.aread() == got[0], name
        assert len(got) == len(rows), name
        for want, row in zip(rows, got):
            if fmt in ("jsonl", "json", "msgpack", "bson", "avro"):
                assert row == want, (name, row)
                assert all(type(row[k]) is type(want[k]) for k in want), (name, row)
            else:
                assert list(row) == list(want), (name, list(row))
                bad = {k: row[k] for k in want if not flat_equal(fmt, want[k], row[k])}
                assert not bad, (name, bad)
        done.append(f"{fmt}+{codec}")

    async def main() -> None:
        for cell in cells(server):
            await one(*cell)

    run(main(), timeout=120)
    print(f"round trips: {len(done)}; refused raw+codec: {len(refused)}")
    assert len(done) >= 7 * 2


def corrupt_variants(good: bytes) -> dict[str, bytes]:
    half = good[: max(1, len(good) // 2)]
    garbage = bytes((i * 131 + 7) % 256 for i in range(max(64, len(good))))
    wrong_magic = bytes([good[0] ^ 0xFF]) + good[1:] if good else b"\x00"
    return {"truncated": half, "garbage": garbage, "wrong-magic": wrong_magic}


def test_corrupt_codec_streams(sock: str, root: Path, server: dict[str, Any]) -> None:
    """Truncated, garbage and wrong-magic compressed streams: ECODEC with a
    byte offset, never a short read; the connection keeps serving."""
    (root / "cc").mkdir(exist_ok=True)
    rows = [{"id": str(i), "text": f"row {i} " + "x" * (i % 50)} for i in range(3000)]
    codecs = [c for c in server["codecs"]
              if c.get("available") and c.get("write") and c["name"] != "none"]
    checked = []

    async def main() -> None:
        async with rowd.Client() as client:
            for c in codecs:
                ext = c["extensions"][0]
                good = f"cc/good.csv.{ext}"
                async with await client.open(good, mode="w") as dest:
                    await dest.awrite_bulk(rows)
                data = (root / good).read_bytes()
                for kind, bad in corrupt_variants(data).items():
                    if kind == "wrong-magic" and c["name"] == "brotli":
                        continue  # brotli has no magic to be wrong
                    path = f"cc/{kind}.csv.{ext}"
                    (root / path).write_bytes(bad)
                    with pytest.raises(rowd.RowdError) as e:
                        async with await client.open(path) as source:
                            [r async for r in source]
                    assert e.value.code == "ECODEC", (path, e.value)
                    assert e.value.offset is not None, (path, e.value)
                    checked.append(path)
                assert await client.ping() < 5

    run(main(), timeout=120)
    assert len(checked) >= 2 * len(codecs)


# Per readable format: a good file's bytes cut or spoiled, with the
# extension that names the format. Each must be refused with a position.
CORRUPT_FORMATS: dict[str, list[tuple[str, bytes, dict[str, Any] | None]]] = {
    "csv": [("ragged", b"a,b\n1,2\n3\n", None), ("quote", b"a,b\n1,\"2\n", None)],
    "jsonl": [("not-object", b'{"a":1}\n[1]\n', None), ("cut", b'{"a":1}\n{"a":', None)],
    "json": [("cut", b'[{"a":1},{"a"', None), ("garbage", b"[{\"a\":1}]\x00\x01garbage", None)],
    "msgpack": [("cut", b"\x81\xa1a\x01\x82\xa1a", None), ("not-map", b"\x81\xa1a\x01\x01", None)],
    "ltsv": [("no-colon", b"a:1\nplain\n", None)],
    "fwf": [("split-utf8", "ab\néx\n".encode(), {"widths": [1, 2], "names": ["a", "b"],
                                                  "encoding": "utf-8"})],
    "xml": [("cut", b"<r><row><a>1</a></row><row><a>", {"tagname": "row"}),
            ("mismatch", b"<r><row><a>1</b></row></r>", {"tagname": "row"})],
    "sqlite": [("garbage", b"SQLite format 3\x00" + bytes(range(256)) * 8, None),
               ("cut", b"SQLite format 3\x00\x10\x00", None)],
}
# Formats written by rowd whose good bytes are cut here.
CUT_WRITTEN = ("bson", "avro", "xlsx")


def test_corrupt_format_inputs(sock: str, root: Path, server: dict[str, Any]) -> None:
    (root / "cf").mkdir(exist_ok=True)
    available = {f["name"]: f for f in server["formats"] if f.get("available") and f.get("read")}
    checked = []

    async def main() -> None:
        async with rowd.Client() as client:
            for fmt, cases in CORRUPT_FORMATS.items():
                if fmt not in available:
                    continue
                ext = available[fmt]["extensions"][0]
                for kind, data, opts in cases:
                    path = f"cf/{kind}.{ext}"
                    (root / path).write_bytes(data)
                    with pytest.raises(rowd.RowdError) as e:
                        async with await client.open(path, options=opts) as source:
                            [r async for r in source]
                    assert e.value.code in ("EFORMAT", "ELIMIT"), (path, e.value)
                    assert (e.value.line, e.value.row, e.value.offset) != (None, None, None) \
                        or fmt in RAW, (path, e.value)
                    checked.append(path)
            for fmt in CUT_WRITTEN:
                if fmt not in available or not available[fmt].get("write"):
                    continue
                ext = available[fmt]["extensions"][0]
                good = f"cf/good.{ext}"
                async with await client.open(good, mode="w") as dest:
                    await dest.awrite_bulk([{"a": i, "b": "x" * i} for i in range(200)])
                data = (root / good).read_bytes()
                for kind, bad in corrupt_variants(data).items():
                    path = f"cf/{kind}.{ext}"
                    (root / path).write_bytes(bad)
                    with pytest.raises(rowd.RowdError) as e:
                        async with await client.open(path, format=fmt) as source:
                            [r async for r in source]
                    assert e.value.code in ("EFORMAT", "ECODEC", "ELIMIT"), (path, e.value)
                    checked.append(path)
            assert await client.ping() < 5

    run(main(), timeout=120)
    assert len(checked) >= 12
    print(f"corrupt inputs refused: {len(checked)}")
