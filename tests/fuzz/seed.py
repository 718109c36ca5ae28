#!/usr/bin/python3
"""Writes the seed corpus of the fuzz harnesses into tests/fuzz/corpus/.

Run from anywhere with a python3 that has msgpack; it rewrites only the
seed files it names (regression files, named regress-*, stay). Then run
tests/fuzz/corpus.sh list. Seeds are small: the conformance fixtures with
their format or codec name in front ("csv\\0..."), hand-made protocol
frames for every op, text-mode lines, rows for every writer.
"""
import bz2
import gzip
import json
import lzma
import os
import sqlite3
import subprocess
import sys
import tempfile

import msgpack

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
CONF = os.path.join(TOP, "tests", "data", "conformance")
ITER = os.path.join(CONF, "iterabledata")
OUT = os.path.join(HERE, "corpus")
LIMIT = 64 * 1024


def read(*parts):
    with open(os.path.join(*parts), "rb") as f:
        return f.read()


def put(harness, name, data):
    assert len(data) < LIMIT, (harness, name, len(data))
    d = os.path.join(OUT, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def named(name, data, options=None):
    head = name.encode() + (json.dumps(options, separators=(",", ":")).encode() if options else b"")
    return head + b"\0" + data


def named_mp(name, data, options):
    """Options as msgpack (after \\x01): what JSON cannot spell."""
    return name.encode() + b"\x01" + options + data


def pack(*objs):
    return b"".join(msgpack.packb(o, use_bin_type=True) for o in objs)


SIX = [{"id": str(i), "name": n} for i, n in
       enumerate(["John", "Mary", "Michael", "Anna", "Orban", "Lucy"], 1)]


# ---- fuzz_read: every format reader ---------------------------------------

def sqlite_db():
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "x.db")
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE people (id INTEGER, name TEXT, score REAL, pic BLOB, note)")
        db.executemany("INSERT INTO people VALUES (?, ?, ?, ?, ?)",
                       [(1, "John", 1.5, b"\x00\x01", None), (2, "Mary", -2.0, b"", "x"),
                        (3, "Ünïcode", 1e300, b"\xff", 7)])
        db.execute("CREATE TABLE empty (a)")
        db.execute("CREATE VIEW v AS SELECT name FROM people")
        db.commit()
        db.close()
        return read(path)


def seed_read():
    h = "fuzz_read"
    for fn, fmt, opts in [
        ("2cols6rows.csv", "csv", None),
        ("2cols6rows.csv", "csv", {"types": "infer", "on_error": "skip"}),
        ("2cols6rows.csv", "csv", {"header": False, "fieldnames": ["a", "b"], "skip_rows": 1}),
        ("2cols6rows_flat.jsonl", "jsonl", None),
        ("2cols6rows_flat.ndjson", "jsonl", {"on_error": "skip"}),
        ("2cols6rows_array.json", "json", None),
        ("2cols6rows_tag.json", "json", {"tagname": "persons"}),
        ("2cols6rows_flat.msgpack", "msgpack", None),
        ("2cols6rows.ltsv", "ltsv", None),
        ("2cols6rows.fwf", "fwf", {"widths": [3, 10], "names": ["id", "name"]}),
        ("2cols6rows.fwf", "fwf", {"widths": [3, 10]}),
        ("books.xml", "xml", {"tagname": "book"}),
        ("books.jsonl", "jsonl", None),
        # Formats other branches add: covered once they are in the registry.
        ("2cols6rows_flat.bson", "bson", None),
        ("2cols6rows.avro", "avro", None),
        ("2cols6rows.xls", "xls", None),
        ("2cols6rows.xlsx", "xlsx", None),
    ]:
        tag = "-".join(f"{k}" for k in (opts or {}))
        put(h, f"{fmt}-{fn}{'-' + tag if tag else ''}", named(fmt, read(ITER, fn), opts))
    for fn in sorted(os.listdir(os.path.join(CONF, "csv-spectrum", "csvs"))):
        put(h, f"csv-spectrum-{fn}", named("csv", read(CONF, "csv-spectrum", "csvs", fn)))
    put(h, "csv-semicolon", named("csv", b"a;b\n1;\"x;y\"\n2;z\n", {"delimiter": ";"}))
    put(h, "csv-ragged", named("csv", b"a,b\n1\n1,2,3\n\xef\xbb\xbfx,y\n\xff,1\n"))
    put(h, "csv-ragged-skip", named("csv", b"a,b\n1\n1,2,3\n\xff,1\n4,5\n", {"on_error": "skip"}))
    put(h, "csv-quotes-cr", named("csv", b"\xef\xbb\xbfa,b\r\"x\"\"y\",\"multi\nline\"\r\r1,2"))
    put(h, "tsv-basic", named("tsv", b"a\tb\n1\t2\n\"q\t\"\t3\n"))
    put(h, "psv-basic", named("psv", b"a|b\n1|2\n"))
    put(h, "csv-infer", named("csv", b"i,f,b,s\n1,2.5,true,x\n-7,1e400,false,\n", {"types": "infer"}))
    put(h, "jsonl-mixed", named("jsonl", b'{"a":1,"b":[1,{"c":null}]}\n\n[1]\n{"x":"\\u00e9\\ud83d\\ude00"}\n{"bad":\n'))
    put(h, "json-nested", named("json", b'[{"a":{"b":[1,2,{"c":"d"}]}},{"e":1.5e10},{}]'))
    put(h, "json-tag-deep", named("json", b'{"x":1,"rows":[{"a":1},{"b":[[[]]]}],"y":{}}', {"tagname": "rows"}))
    put(h, "msgpack-types", named("msgpack", pack(
        {"i": -1, "u": 2 ** 64 - 1, "f": 1.5, "b": b"\x00\xff", "s": "é", "n": None,
         "t": True, "a": [1, [2]], "m": {"k": {}}},
        {"ext": msgpack.ExtType(5, b"abc")}) + b"\x92\x01\x02" + b"\x81\xa1a"))
    put(h, "ltsv-mixed", named("ltsv", b"a:1\tb:x:y\n\nc:\t:d\nnolabel\n"))
    put(h, "fwf-header", named("fwf", b"id name\n1  John\n22 Mary\n", {"widths": [3, 4]}))
    put(h, "xml-attrs", named("xml", b'<?xml version="1.0"?><r><i a="1">t<j>x</j><j>y</j></i>'
                                      b'<i><k b="2">z</k></i><i/></r>', {"tagname": "i"}))
    put(h, "xml-entity", named("xml", b'<!DOCTYPE r [<!ENTITY e "boom">]><r><i>&e;&amp;</i></r>',
                               {"tagname": "i"}))
    # Options only a binary client can send.
    put(h, "mp-csv-bin-delimiter", named_mp("csv", b"a;b\n1;2\n", pack({"delimiter": b";", "header": 1})))
    put(h, "mp-csv-fieldnames-types", named_mp("csv", b"1,2\n", pack({"fieldnames": [1, b"x", None], "header": False})))
    put(h, "mp-xml-tagname-bin", named_mp("xml", b"<r><i>1</i></r>", pack({"tagname": b"i", "on_error": "skip"})))
    put(h, "mp-json-tagname-ext", named_mp("json", b'{"t":[{"a":1}]}', pack({"tagname": msgpack.ExtType(1, b"t")})))
    put(h, "mp-fwf-widths", named_mp("fwf", b"1  John\n", pack({"widths": [3, -1, 2 ** 40], "names": ["a", "b", "c"]})))
    put(h, "mp-jsonl-options-not-map", named_mp("jsonl", b'{"a":1}\n', pack([1, 2])))
    put(h, "mp-ltsv-int-keys", named_mp("ltsv", b"a:1\n", b"\x81\x01\x02"))
    db = sqlite_db()
    put(h, "mp-sqlite-query-bin", named_mp("sqlite", db, pack({"query": b"SELECT 1", "table": None})))
    put(h, "sqlite-db", named("sqlite", db))
    put(h, "sqlite-table", named("sqlite", db, {"table": "people"}))
    put(h, "sqlite-query", named("sqlite", db, {"query": "SELECT name, length(pic) FROM people"}))
    for fn in ["y_object_duplicated_key.json", "y_object_string_unicode.json",
               "y_structure_lonely_null.json", "n_object_missing_value.json",
               "n_array_invalid_utf8.json", "i_string_UTF8_surrogate_U+D800.json",
               "i_number_too_big_neg_int.json", "n_structure_open_object_open_array.json"]:
        doc = read(CONF, "json-test-suite", "test_parsing", fn).strip()
        put(h, f"jsonl-suite-{fn}", named("jsonl", b'{"v":' + doc + b"}\n"))
        put(h, f"json-suite-{fn}", named("json", b'[{"v":' + doc + b"}]"))


# ---- fuzz_codec: every codec reader ---------------------------------------

def tool(args, data):
    return subprocess.run(args, input=data, stdout=subprocess.PIPE, check=True).stdout


def seed_codec():
    h = "fuzz_codec"
    csv = read(ITER, "2cols6rows.csv")
    for ext, codec in [("gz", "gzip"), ("bz2", "bzip2"), ("xz", "xz"), ("zst", "zstd"),
                       ("lz4", "lz4"), ("br", "brotli"), ("zip", "zip")]:
        put(h, f"{codec}-2cols6rows.csv.{ext}", named(codec, read(ITER, "2cols6rows.csv." + ext)))
    put(h, "brotli-jsonl", named("brotli", read(ITER, "2cols6rows_flat.jsonl.br")))
    put(h, "zip-member", named("zip", read(ITER, "2cols6rows.csv.zip"), {"member": "2cols6rows.csv"}))
    text = b"".join(b"%d,word%d,%d.%02d\n" % (i, i % 17, i * 7, i % 100) for i in range(2000))
    put(h, "none-plain", named("none", csv))
    put(h, "gzip-two-members", named("gzip", gzip.compress(text[:3000]) + gzip.compress(text[3000:6000])))
    put(h, "gzip-level1", named("gzip", gzip.compress(text, 1), {"level": 1}))
    put(h, "gzip-truncated", named("gzip", gzip.compress(text)[:200]))
    put(h, "bzip2-two-streams", named("bzip2", bz2.compress(text[:4000]) + bz2.compress(b"tail\n")))
    put(h, "xz-two-streams", named("xz", lzma.compress(text[:5000]) + lzma.compress(b"x")))
    put(h, "lzma-alone", named("lzma", lzma.compress(text[:5000], format=lzma.FORMAT_ALONE)))
    put(h, "xz-check-sha256", named("xz", lzma.compress(text[:2000], check=lzma.CHECK_SHA256)))
    put(h, "zstd-two-frames", named("zstd", tool(["zstd", "-q", "-c"], text[:5000]) +
                                    tool(["zstd", "-q", "-c", "--no-check"], b"more\n")))
    put(h, "lz4-two-frames", named("lz4", tool(["lz4", "-q", "-c"], text[:5000]) +
                                   tool(["lz4", "-q", "-c", "-BD"], text[:9000])))
    put(h, "lz4-content-size", named("lz4", tool(["lz4", "-q", "-c", "--content-size"], text[:3000])))
    put(h, "gzip-empty", named("gzip", b""))
    put(h, "mp-gzip-level-bin", named_mp("gzip", gzip.compress(b"x\n"), pack({"level": b"9"})))
    put(h, "mp-zip-member-int", named_mp("zip", read(ITER, "2cols6rows.csv.zip"), pack({"member": 1})))


# ---- fuzz_proto: binary frames for every op --------------------------------

def seed_proto():
    h = "fuzz_proto"
    spec = {"path": "data/x.csv.gz", "format": "csv", "codec": "gzip",
            "options": {"delimiter": ";", "fieldnames": ["a", "b"], "header": False},
            "codec_options": {"level": 3}}
    reqs = {
        "hello": {"op": "hello", "id": 1, "version": 1, "client": "fuzz"},
        "ping": {"op": "ping", "id": "p"},
        "open": dict({"op": "open", "id": 3, "mode": "r", "engine": "internal"}, **spec),
        "open-write": {"op": "open", "id": 4, "path": "out.jsonl", "mode": "w"},
        "read": {"op": "read", "id": 5, "handle": 1},
        "read_bulk": {"op": "read_bulk", "id": 6, "handle": 1, "n": 100},
        "stream": {"op": "stream", "id": 7, "handle": 1, "batch": 10, "limit": 50, "progress": True},
        "cancel": {"op": "cancel", "id": 8, "target": 7},
        "write": {"op": "write", "id": 9, "handle": 2, "row": {"a": 1, "b": [1, {"c": None}]}},
        "write_bulk": {"op": "write_bulk", "id": 10, "handle": 2,
                       "rows": [{"a": 1}, {"b": b"\x00"}, {"c": 1.5, "d": -3}]},
        "reset": {"op": "reset", "id": 11, "handle": 1},
        "totals": {"op": "totals", "id": 12, "handle": 1},
        "close": {"op": "close", "id": 13, "handle": 1},
        "convert": {"op": "convert", "id": 14, "from": spec,
                    "to": {"path": "o.jsonl.zst", "codec_options": {"level": 19}},
                    "batch": 500, "progress": True},
        "detect": {"op": "detect", "id": 15, "path": "x.csv"},
        "tables": {"op": "tables", "id": 16, "path": "x.sqlite"},
        "stats": {"op": "stats", "id": [1, "x"]},
        "help": {"op": "help"},
    }
    for name, r in reqs.items():
        put(h, f"op-{name}", pack(r))
    put(h, "pipelined", b"".join(pack(r) for r in reqs.values()))
    put(h, "bad-unknown-field", pack({"op": "read", "id": 1, "handle": 1, "bogus": 1}))
    put(h, "bad-types", pack({"op": "read_bulk", "id": None, "handle": -1, "n": "x"}))
    put(h, "bad-not-map", pack([1, 2, 3]) + pack("ping"))
    put(h, "bad-reserved", b"\x81\xa2op\xc1")
    put(h, "bad-huge-array", b"\x81\xa4rows\xdd\xff\xff\xff\xff")
    put(h, "bad-huge-str", b"\x81\xa2op\xdb\x7f\xff\xff\xff")
    put(h, "bad-deep", b"\x81\xa1a" + b"\x91" * 40 + b"\xc0")
    put(h, "bad-truncated", pack(reqs["write_bulk"])[:-3])
    put(h, "id-long", pack({"op": "ping", "id": "x" * 60}))
    put(h, "map16-ext", b"\xde\x00\x03\xa2op\xa4ping\xa2id\xd4\x01\x02\xa1x\xc7\x03\x05abc")


# ---- fuzz_text: lines a person types ----------------------------------------

def seed_text():
    h = "fuzz_text"
    lines = {
        "help": b"help\n",
        "session": b"ping\nstats\nopen data/x.csv delimiter=; header=false fieldnames=[\"a b\",\"c\"]\n"
                   b"read 1\nread_bulk 1 3\nstream 1\nreset 1\ntotals 1\nclose 1\n",
        "quoted": b'open "dir with space/f.csv" delimiter="\\"" quotechar=\'\r\n  \t detect  "a\\\\b"\n',
        "json": b'{"op":"open","id":"a","path":"x.jsonl","options":{"on_error":"skip"}}\n'
                b'{"op":"read_bulk","id":2,"handle":1,"n":5}\r\n',
        "json-bad": b'{"op":\n{"op":"read","handle":1,"id":1.5e400}\n[1,2]\n',
        "inline-bad": b"read\nread_bulk x y\nbogus 1 2\nopen\nclose 99999999999999999999\n",
        "write": b'write 1 {"a":1,"b":[true,null]}\nwrite_bulk 1 [{"a":1},{"b":"\\u00e9"}]\n',
        "convert": b"convert in.csv out.jsonl.gz\ncancel 7\ntables x.sqlite\n",
        "unicode": "open données/é.csv encoding=cp1251\n".encode() + b"ping \xff\xfe\n",
        "deep-json": b'{"op":"write","id":1,"handle":1,"row":' + b"[" * 40 + b"]" * 40 + b"}\n",
        "numbers": b'{"op":"read_bulk","id":-0,"handle":1.0,"n":1e2}\n{"id":-9223372036854775808,'
                   b'"op":"ping","x":18446744073709551615}\n',
    }
    for name, data in lines.items():
        put(h, name, data)


# ---- fuzz_roundtrip: rows for every writer ---------------------------------

def seed_roundtrip():
    h = "fuzz_roundtrip"
    flat = "".join(json.dumps(r) + "\n" for r in SIX).encode()
    nested = (b'{"a":1,"b":[1,2,{"c":null}],"d":{"e":"\\u00e9"}}\n{"a":-2.5,"f":true}\n{}\n'
              b'{"s":"line\\nbreak, \\"quoted\\"\\ttab"}\n')
    mp = pack({"i": 1, "s": "x", "b": b"\x00\xff", "f": 1.25, "n": None},
              {"i": 2, "s": "", "b": b"", "f": -0.0, "n": True},
              {"ext": msgpack.ExtType(1, b"z"), "big": 2 ** 64 - 1, "neg": -2 ** 63},
              {"nested": {"a": [1, {"b": []}]}}, [1, 2], "not a row")
    for fmt in ["csv", "tsv", "psv", "jsonl", "json", "msgpack", "ltsv", "fwf", "sqlite",
                "bson", "avro", "xlsx"]:
        put(h, f"{fmt}-six", named(fmt, flat))
        put(h, f"{fmt}-nested", named(fmt, nested))
        put(h, f"{fmt}-msgpack", named(fmt, mp))
    put(h, "csv-options", named("csv", flat, {"delimiter": ";", "crlf": True}))
    put(h, "csv-fieldnames", named("csv", b'{"a":"1","b":""}\n{"b":"x,y","a":"\\""}\n{"a":""}\n',
                                   {"fieldnames": ["a", "b"]}))
    put(h, "json-tagname", named("json", nested, {"tagname": "rows"}))
    put(h, "sqlite-table", named("sqlite", flat + b'{"id":"7","extra":1}\n', {"table": "t", "add_columns": True}))
    put(h, "fwf-widths", named("fwf", flat, {"widths": [3, 10], "names": ["id", "name"]}))
    put(h, "ltsv-odd", named("ltsv", b'{"a:b":"c","d":"e\\tf"}\n{"":"x"}\n{"k":"line\\nbreak"}\n'))


def main():
    seed_read()
    seed_codec()
    seed_proto()
    seed_text()
    seed_roundtrip()
    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(OUT) for f in fs)
    print(f"seed.py: corpus in {OUT}: {total} bytes")


if __name__ == "__main__":
    sys.exit(main())
