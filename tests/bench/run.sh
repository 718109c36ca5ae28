#!/usr/bin/env bash
# rowd benchmarks B1-B7 (issue "streaming and async"): every figure and
# ratio is measured in this one run, against a baseline run right beside it.
#   make bench                     (builds what it needs, then runs this)
#   tests/bench/run.sh [DATA_DIR]  (default: tests/bench/data in the build tree)
# The data is ../shared/bench/gen.py's 1M-row people.csv / people.jsonl;
# the gzip copy is made with gzip -6 -n. Build with -O2 (the default
# CFLAGS of ./configure) for meaningful figures.
set -euo pipefail
top_src=${ROWD_TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
top_build=${ROWD_TOP_BUILDDIR:-$top_src}
data=${1:-$top_build/tests/bench/data}
PY=/usr/bin/python3
bench=$top_build/tests/bench/bench
inproc=$top_build/tests/bench/inproc
rowd=$top_build/daemon/rowd

mkdir -p "$data"
if [ ! -f "$data/people.csv" ] || [ ! -f "$data/people.jsonl" ]; then
	gen=$top_src/../shared/bench/gen.py
	[ -f "$gen" ] || { echo "bench: $gen not found"; exit 1; }
	echo "bench: generating the 1M-row data set in $data"
	"$PY" "$gen" "$data"
fi
[ -f "$data/people.csv.gz" ] || gzip -6 -k -n "$data/people.csv"

tmp=$(mktemp -d)
sock=$tmp/rowd.sock
"$rowd" -s "$sock" -r "$data" -r "$tmp" -l warn &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
secs() { awk '{ print $1 }'; }
best() { # best of 3 runs of a command printing "SECONDS ..."
	local b=
	for _ in 1 2 3; do
		local t; t=$("$@" | secs)
		if [ -z "$b" ] || awk -v t="$t" -v b="$b" 'BEGIN { exit !(t < b) }'; then b=$t; fi
	done
	echo "$b"
}
inproc_secs() { "$inproc" "$@" | sed -E 's/.* in ([0-9.]+) s.*/\1/'; }
py_time() { "$PY" -c "import time,sys;t=time.perf_counter();exec(sys.argv[1]);print(f'{time.perf_counter()-t:.3f}')" "$1"; }

echo "rowd benchmarks, $(nproc) cores, data $data"

# B1 CSV
b1_in=$(best inproc_secs csv "$data/people.csv" decode)
b1_rd=$(best "$bench" stream "$sock" people.csv)
b1_py=$(py_time "import csv
for r in csv.DictReader(open('$data/people.csv', newline='')): pass")
echo "B1 csv: rowd stream+decode ${b1_rd}s, in-process parse+pack+decode ${b1_in}s (x$(ratio "$b1_rd" "$b1_in")), python csv.DictReader ${b1_py}s (rowd is x$(ratio "$b1_py" "$b1_rd") faster)"
echo "   reproduce: tests/bench/bench stream SOCK people.csv; tests/bench/inproc csv people.csv decode"

# B2 JSONL
b2_in=$(best inproc_secs jsonl "$data/people.jsonl" decode)
b2_rd=$(best "$bench" stream "$sock" people.jsonl)
b2_py=$(py_time "import json
for l in open('$data/people.jsonl'): json.loads(l)")
echo "B2 jsonl: rowd ${b2_rd}s, in-process yajl+pack+decode ${b2_in}s (x$(ratio "$b2_rd" "$b2_in")), python json.loads ${b2_py}s"

# B3 gzip
b3_rd=$(best "$bench" stream "$sock" people.csv.gz)
b3_z=$(py_time "import subprocess
subprocess.run('zcat $data/people.csv.gz > /dev/null', shell=True, check=True)")
echo "B3 csv.gz: rowd ${b3_rd}s, zcat > /dev/null ${b3_z}s (x$(ratio "$b3_rd" "$b3_z"))"

# B4 two files at once on one connection
b4_seq=$(best "$bench" sequential "$sock" people.csv people.jsonl)
b4_con=$(best "$bench" concurrent "$sock" people.csv people.jsonl)
echo "B4 csv+jsonl: concurrent on one connection ${b4_con}s, one after the other ${b4_seq}s (x$(ratio "$b4_con" "$b4_seq"))"

# B5 ping latency while 4 gz streams run
read -r p50 p99 n < <("$bench" ping "$sock" people.csv.gz 4)
echo "B5 ping under 4 gz streams: p50 ${p50}us p99 ${p99}us ($n pings)"

# B6 memory
read -r r0 r1 < <("$bench" stall "$sock" people.csv "$pid")
echo "B6 stalled reader on 1M rows: daemon RSS ${r0} KiB -> ${r1} KiB (+$(( (r1 - r0) / 1024 )) MiB)"
read -r i0 i1 < <("$bench" idle "$sock" 1000 "$pid")
echo "B6 1000 idle connections: daemon RSS ${i0} KiB -> ${i1} KiB (+$(( (i1 - i0) / 1024 )) MiB)"

# B7 write path: JSON Lines rows -> CSV.gz through write_bulk
read -r w_s w_n < <("$bench" write "$sock" people.jsonl "$tmp/out.csv.gz")
echo "B7 write_bulk jsonl rows -> csv.gz: $w_n rows in ${w_s}s ($(awk -v n="$w_n" -v s="$w_s" 'BEGIN { printf "%.0f", n / s }') rows/s)"
