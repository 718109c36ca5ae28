#!/usr/bin/env bash
# rowcat, the command line client, against a private daemon.
. "$(dirname "$0")/lib.sh"

[ -x "$ROWCAT" ] || setup_error "no $ROWCAT (build it first)"

start_daemon
put_conf iterabledata/2cols6rows.csv f.csv
put_conf iterabledata/2cols6rows.csv.gz f.csv.gz
put_conf iterabledata/2cols6rows_flat.jsonl g.jsonl
printf 'a;b\n1;2\n3;4\n' >"$root/semi.csv"
printf '{"a":1}\n{"a":2}\n' >"$root/rows.txt"
export ROWD_SOCKET=$sock
err=$tmp/stderr

# run CMD...: stdout in $out, stderr in $errout, exit status in $rc.
run() {
	out=$("$@" 2>"$err")
	rc=$?
	errout=$(cat "$err")
}

run "$ROWCAT" "$root/f.csv"
check_eq "rowcat FILE exits 0" "$rc" 0
check_json "rowcat FILE prints the 6 rows as JSON lines" 'a == SIX' "$out"
check_eq "rowcat FILE prints nothing on stderr" "$errout" ""

run "$ROWCAT" "$root/f.csv.gz"
check_json "rowcat FILE.csv.gz" 'a == SIX' "$out"

run "$ROWCAT" --head 2 "$root/f.csv"
check_json "--head 2" 'a == SIX[:2]' "$out"
run "$ROWCAT" --head 0 "$root/f.csv"
check_eq "--head 0 prints nothing" "$rc:$out" "0:"

run "$ROWCAT" --count "$root/f.csv"
check_eq "--count" "$rc:$out" "0:6"
run "$ROWCAT" --count "$root/f.csv.gz"
check_eq "--count of a gzip file" "$rc:$out" "0:6"

run "$ROWCAT" --detect "$root/f.csv.gz"
check_json "--detect" 'len(a) == 1 and a[0]["format"] == "csv" and a[0]["codec"] == "gzip"' "$out"

run "$ROWCAT" "$root/f.csv" "$root/g.jsonl"
check_json "two files, one after the other" 'a == SIX + SIX' "$out"

# Relative paths are sent as absolute ones.
out=$(cd "$root" && "$ROWCAT" f.csv 2>"$err")
check_json "a path relative to the current directory" 'a == SIX' "$out"

# Conversion on the daemon.
run "$ROWCAT" -o "$root/out.jsonl" "$root/f.csv"
check_eq "-o out.jsonl FILE exits 0" "$rc" 0
check_json "out.jsonl holds the rows as JSON lines" 'a == SIX' "$(cat "$root/out.jsonl" 2>&1)"
run "$ROWCAT" "$root/out.jsonl"
check_json "out.jsonl reads back" 'a == SIX' "$out"
run "$ROWCAT" -o "$root/out.csv.gz" "$root/g.jsonl"
check_eq "-o out.csv.gz is gzip" "$(head -c 2 "$root/out.csv.gz" | od -An -tx1 | tr -d ' ')" "1f8b"
run "$ROWCAT" "$root/out.csv.gz"
check_json "out.csv.gz reads back" 'a == SIX' "$out"
check_eq "no temp files left by conversions" "$(ls -A "$root" | grep -c rowd-tmp)" 0

# JSON Lines from stdin.
out=$(printf '{"a":"1","b":"x, y"}\n{"a":"2","b":"say \\"hi\\""}\n' | "$ROWCAT" -o "$root/out.csv" - 2>"$err")
rc=$?
check_eq "-o out.csv - exits 0" "$rc" 0
check_eq "out.csv from stdin" "$(cat "$root/out.csv")" "$(printf 'a,b\n1,"x, y"\n2,"say ""hi"""')"
run "$ROWCAT" "$root/out.csv"
check_json "out.csv reads back" 'a == [{"a": "1", "b": "x, y"}, {"a": "2", "b": "say \"hi\""}]' "$out"
out=$(printf '{"a":1}\nnot json\n' | "$ROWCAT" -o "$root/bad.jsonl" - 2>"$err")
rc=$?
check "bad JSON on stdin fails" [ "$rc" -ne 0 ]
check "bad JSON on stdin leaves no target" [ ! -e "$root/bad.jsonl" ]

# Errors.
run "$ROWCAT" "$root/missing.csv"
check "a missing file exits non-zero" [ "$rc" -ne 0 ]
check_contains "the daemon's ENOENT is on stderr" "$errout" "ENOENT"
check_eq "nothing on stdout for a missing file" "$out" ""
run "$ROWCAT" /etc/hostname
check "a file outside the root exits non-zero" [ "$rc" -ne 0 ]
check_contains "... with EACCES on stderr" "$errout" "EACCES"
run "$ROWCAT" -O bogus=1 "$root/f.csv"
check "an unknown option exits non-zero" [ "$rc" -ne 0 ]
check_contains "... with EINVAL naming it" "$errout" "bogus"
run "$ROWCAT"
check_eq "no FILE is a usage error (exit 2)" "$rc" 2

# Options pass through.
run "$ROWCAT" --option 'delimiter=;' "$root/semi.csv"
check_json "--option delimiter=;" 'a == [{"a": "1", "b": "2"}, {"a": "3", "b": "4"}]' "$out"
run "$ROWCAT" -O 'delimiter=;' "$root/semi.csv"
check_json "-O delimiter=;" 'a == [{"a": "1", "b": "2"}, {"a": "3", "b": "4"}]' "$out"
run "$ROWCAT" -O header=false -O 'fieldnames=["x","y"]' --head 1 "$root/f.csv"
check_json "-O with JSON values" 'a == [{"x": "id", "y": "name"}]' "$out"
run "$ROWCAT" -f jsonl "$root/rows.txt"
check_json "-f jsonl on a .txt file" 'a == [{"a": 1}, {"a": 2}]' "$out"
run "$ROWCAT" --format jsonl --count "$root/rows.txt"
check_eq "--format with --count" "$rc:$out" "0:2"

# Finding the daemon: -s, $ROWD_SOCKET, -s over $ROWD_SOCKET.
out=$(env -u ROWD_SOCKET "$ROWCAT" -s "$sock" --count "$root/f.csv" 2>"$err")
check_eq "-s PATH" "$out" 6
out=$(env -u ROWD_SOCKET "$ROWCAT" --socket "$sock" --count "$root/f.csv" 2>"$err")
check_eq "--socket PATH" "$out" 6
out=$(ROWD_SOCKET=$sock "$ROWCAT" --count "$root/f.csv" 2>"$err")
check_eq "ROWD_SOCKET" "$out" 6
out=$(ROWD_SOCKET=$tmp/nothing.sock "$ROWCAT" -s "$sock" --count "$root/f.csv" 2>"$err")
check_eq "-s wins over ROWD_SOCKET" "$out" 6
ROWD_SOCKET=$tmp/nothing.sock "$ROWCAT" --count "$root/f.csv" >/dev/null 2>"$err"
rc=$?
check "no daemon on the socket exits non-zero" [ "$rc" -ne 0 ]
check_contains "... saying which socket" "$(cat "$err")" "$tmp/nothing.sock"

check "the daemon is alive after all that" daemon_alive
stop_daemon
finish
