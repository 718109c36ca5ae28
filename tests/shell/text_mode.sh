#!/usr/bin/env bash
# Text mode through socat, as a person would use it: one request per line
# (inline command or JSON object), one JSON answer per line.
. "$(dirname "$0")/lib.sh"

[ -n "${SOCAT:-}" ] || skip "socat not found (SOCAT is empty)"

# talk TEXT: sends TEXT (printf %b escapes allowed), shuts down the sending
# side as `printf ... | socat` does, prints every answer until rowd closes.
talk() {
	printf '%b' "$1" | timeout 20 "$SOCAT" -t 10 - "UNIX-CONNECT:$sock"
}

# A small limit so that the over-limit line stays small.
start_daemon -o text_line=4096
put_conf iterabledata/2cols6rows.csv f.csv
printf 'a,b\n1,2\n3,4\n5\n6,7\n' >"$root/rag.csv"
printf 'a;b\n1;2\n' >"$root/semi.csv"
cp "$SAMPLE" "$root/my file.csv"

out=$(talk 'ping\n')
check_json "ping" 'a == [{"id": 1, "ok": True, "pong": True}]' "$out"

out=$(talk 'help\n')
check_json "help lists the commands" \
	'len(a) == 1 and a[0]["ok"] and all(w in a[0]["help"] for w in ("open", "read_bulk", "close", "ping"))' "$out"

out=$(talk 'open f.csv\nread_bulk 1 3\n')
check_json "open answers handle 1 and the columns" \
	'I[1]["ok"] and I[1]["handle"] == 1 and I[1]["format"] == "csv" and I[1]["columns"] == ["id", "name"]' "$out"
check_json "read_bulk 1 3 gives the first 3 rows" \
	'len(a) == 2 and I[2]["rows"] == SIX[:3] and I[2]["eof"] is False' "$out"
check_json "answers of one handle keep request order" '[x["id"] for x in a] == [1, 2]' "$out"

out=$(talk 'open f.csv\nread 1\nread_bulk 1 10\nread 1\ntotals 1\nreset 1\nread 1\nclose 1\n')
check_json "read, read_bulk to the end, eof, totals, reset, close" \
	'[x["id"] for x in a] == list(range(1, 9)) and I[2]["row"] == SIX[0] and I[3]["rows"] == SIX[1:] and I[3]["eof"] is True and I[4]["eof"] is True and "row" not in I[4] and I[5]["rows"] == 6 and I[6]["ok"] and I[7]["row"] == SIX[0] and I[8]["ok"]' "$out"

out=$(talk 'ping\nhello\n\n   \nping\n')
check_json "inline commands carry the request number as id (blank lines are no request)" \
	'[x["id"] for x in a] == [1, 2, 3] and a[2]["pong"]' "$out"

out=$(talk '{"op":"ping","id":"abc"}\n{"op":"ping","id":42}\n{"op":"open","path":"f.csv","id":"o"}\n{"op":"read_bulk","handle":1,"n":2,"id":-7}\n{"op":"ping","id":{"k":1}}\n{"op":"ping"}\n')
check_json "JSON request lines echo their id" \
	'len(a) == 6 and I["abc"]["pong"] and I[42]["pong"] and I["o"]["handle"] == 1' "$out"
check_json "JSON request lines work like inline ones" 'I[-7]["rows"] == SIX[:2]' "$out"
check_json "an id of a type the daemon refuses: EINVAL, the connection goes on" \
	'I[5]["ok"] is False and I[5]["error"]["code"] == "EINVAL" and I[6]["pong"]' "$out"
check_json "a JSON request without id gets the request number" '6 in I and "pong" in I[6]' "$out"

out=$(talk 'frobnicate 1 2\nping\n{"op": \nping\n')
check_json "unknown command: EPROTO, the connection goes on" \
	'I[1]["ok"] is False and I[1]["error"]["code"] == "EPROTO" and I[2]["pong"]' "$out"
check_json "a line that is not JSON: EPROTO, the connection goes on" \
	'len(a) == 4 and I[3]["error"]["code"] == "EPROTO" and I[4]["pong"]' "$out"

long=$(head -c 5000 /dev/zero | tr '\0' x)
out=$(talk "ping\n$long\nping\n")
check_json "a line over text_line: ELIMIT, then the connection closes" \
	'len(a) == 2 and I[1]["pong"] and a[1]["ok"] is False and a[1]["error"]["code"] == "ELIMIT"' "$out"
check "the daemon survives the long line" daemon_alive

out=$(talk 'ping')
check_json "a last line without newline is answered" 'a == [{"id": 1, "ok": True, "pong": True}]' "$out"
out=$(talk 'ping\r\nping\r\n')
check_json "CRLF line ends" 'len(a) == 2 and all(x["pong"] for x in a)' "$out"

out=$(talk 'open rag.csv\nread_bulk 1 10\nread_bulk 1 10\nping\n')
check_json "ragged CSV: the good rows, then EFORMAT naming line 4" \
	'I[2]["rows"] == [{"a": "1", "b": "2"}, {"a": "3", "b": "4"}] and I[3]["error"]["code"] == "EFORMAT" and I[3]["error"]["line"] == 4 and I[4]["pong"]' "$out"

out=$(talk 'open semi.csv delimiter=;\nread_bulk 1 5\nopen "my file.csv"\nread_bulk 2 1\nopen f.csv bogus=1\nopen ../x.csv\nopen missing.csv\n')
check_json "open key=value options" 'I[2]["rows"] == [{"a": "1", "b": "2"}]' "$out"
check_json "open a quoted path with a space" 'I[4]["rows"] == SIX[:1]' "$out"
check_json "open errors: EINVAL naming the option, EACCES, ENOENT" \
	'I[5]["error"]["code"] == "EINVAL" and "bogus" in I[5]["error"]["message"] and I[6]["error"]["code"] == "EACCES" and I[7]["error"]["code"] == "ENOENT"' "$out"

out=$(talk 'open out.jsonl mode=w\nwrite 1 {"a":1,"n":{"x":[1,2.5,null]},"s":"\\u00e9"}\nwrite_bulk 1 [{"a":2},{"a":3}]\nclose 1\n')
check_json "write, write_bulk, close commits" \
	'I[1]["handle"] == 1 and I[2]["written"] == 1 and I[3]["written"] == 2 and I[4]["rows_written"] == 3' "$out"
out=$(talk 'open out.jsonl\nread_bulk 1 10\n')
check_json "the written rows read back" \
	'I[2]["rows"] == [{"a": 1, "n": {"x": [1, 2.5, None]}, "s": "\u00e9"}, {"a": 2}, {"a": 3}]' "$out"

# BUG: daemon/dispatch.c answer_stats() declares one map entry more than it
# packs (count + 15 for 14 fields): the JSON conversion of the answer fails
# and text mode gets no answer to `stats` at all.
out=$(talk 'stats\nping\n')
check_json "stats answers with counters" \
	'len(a) == 2 and I[1]["ok"] and "connections" in I[1] and I[2]["pong"]' "$out"

check "the daemon is alive after all that" daemon_alive
stop_daemon
finish
