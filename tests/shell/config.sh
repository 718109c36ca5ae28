#!/usr/bin/env bash
# The config file and the daemon's life: bad files refused with file:line
# and exit 78, flags over the file, SIGHUP reloading roots, limits and
# workers without dropping connections (and keeping the old configuration
# when the file is bad), and SIGTERM draining: running work answered,
# new requests ESHUTDOWN, uncommitted writes discarded, exit 0.
. "$(dirname "$0")/lib.sh"

conf=$tmp/rowd.conf
rootA=$tmp/rootA
rootB=$tmp/rootB
mkdir "$rootA" "$rootB" || setup_error "mkdir roots"
cp "$SAMPLE" "$rootA/a.csv" && cp "$SAMPLE" "$rootB/b.csv" || setup_error "cp sample"

# run_rowd ARGS...: runs rowd in the foreground (for the failures), prints
# its stderr, then "exit=N".
run_rowd() {
	local st=0 err
	err=$(timeout 10 "$ROWD" "$@" 2>&1 >/dev/null) || st=$?
	printf '%s\nexit=%s' "$err" "$st"
}

# start_conf ARGS...: rowd with exactly these arguments (no -s/-r added:
# the config file gives them); waits for "listening".
start_conf() {
	: >"$log"
	"$ROWD" "$@" 2>>"$log" &
	rowd_pid=$!
	for _ in $(seq 200); do
		grep -q 'listening' "$log" 2>/dev/null && [ -S "$sock" ] && return 0
		kill -0 "$rowd_pid" 2>/dev/null || break
		sleep 0.05
	done
	cat "$log"
	setup_error "rowd did not start"
}

# ---- bad files: exit 78 with file:line -------------------------------------

printf 'socket = %s\n# a comment\n\nroot %s\n' "$sock" "$rootA" >"$conf"
out=$(run_rowd -c "$conf")
check_contains "a line without '=': file:line in the message" "$out" "$conf:4: expected 'key = value'"
check_contains "a line without '=': exit 78 (EX_CONFIG)" "$out" "exit=78"

printf 'root = %s\nfrobnicate = 1\n' "$rootA" >"$conf"
out=$(run_rowd -c "$conf")
check_contains "an unknown key: file:line and the key" "$out" "$conf:2: unknown setting 'frobnicate'"
check_contains "an unknown key: exit 78" "$out" "exit=78"

printf 'workers = lots\n' >"$conf"
out=$(run_rowd -c "$conf")
check_contains "a bad number: file:line" "$out" "$conf:1: workers: expected a number"
check_contains "a bad number: exit 78" "$out" "exit=78"

printf '\n\nbatch_rows = 0\n' >"$conf"
out=$(run_rowd -c "$conf")
check_contains "a limit below its minimum: file:line" "$out" "$conf:3: batch_rows: expected a size of at least 1"

printf 'log_level = chatty\n' >"$conf"
out=$(run_rowd -c "$conf")
check_contains "a bad log level: file:line" "$out" "$conf:1: log_level: expected error, warn, info or debug"

out=$(run_rowd -c "$tmp/nonexistent.conf")
check_contains "a missing config file: named, exit 78" "$out" "$tmp/nonexistent.conf: No such file or directory"
check_contains "a missing config file: exit 78" "$out" "exit=78"

out=$(run_rowd -s "$sock" -r "$tmp/no-such-root")
check_contains "a root that does not exist: named, exit 78" "$out" "no-such-root"
check_contains "a root that does not exist: exit 78" "$out" "exit=78"

out=$(run_rowd -s "$sock" -r "$rootA" -o nosuch=1)
check_contains "an unknown --set key: exit 78" "$out" "exit=78"
check_contains "an unknown --set key: named" "$out" "unknown setting 'nosuch'"

check "no socket is left by the failed starts" [ ! -e "$sock" ]

# The example installed as /etc/rowd/rowd.conf parses (its socket and
# root, which need not exist here, overridden by flags).
start_conf -c "$ROWD_TOP_SRCDIR/systemd/rowd.conf" -s "$sock" -r "$root"
ok "the example config systemd/rowd.conf starts rowd"
stop_daemon

# ---- a running daemon, driven from Python ----------------------------------

# The helpers of the Python scenarios: text-mode connections (inline
# commands are answered with their request number as id), signals, and
# waiting for the daemon's log.
cat >"$tmp/drive.py" <<'PYEOF'
import json, os, signal, socket, sys, time

SOCK, LOG, PID = os.environ["SOCK"], os.environ["LOG"], int(os.environ["PID"])


class Conn:
    def __init__(self):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(20)
        self.s.connect(SOCK)
        self.f = self.s.makefile("rb")

    def send(self, line):
        self.s.sendall(line.encode() + b"\n")

    def line(self):
        raw = self.f.readline()
        return json.loads(raw) if raw else None

    def ask(self, line):
        self.send(line)
        return self.line()

    def rest(self):
        """Every answer until the daemon closes the connection."""
        out = []
        while True:
            a = self.line()
            if a is None:
                return out
            out.append(a)


def log_count(text):
    with open(LOG, errors="replace") as f:
        return f.read().count(text)


def wait_log(text, before, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        if log_count(text) > before:
            return True
        time.sleep(0.02)
    return False


def hup():
    """SIGHUP; True once the reload is done (applied or refused)."""
    ok, bad = log_count("SIGHUP: reloaded"), log_count("keeping the current configuration")
    os.kill(PID, signal.SIGHUP)
    end = time.time() + 20
    while time.time() < end:
        if log_count("SIGHUP: reloaded") > ok or log_count("keeping the current configuration") > bad:
            return True
        time.sleep(0.02)
    return False


def threads():
    with open("/proc/%d/status" % PID) as f:
        for l in f:
            if l.startswith("Threads:"):
                return int(l.split()[1])


R = {}


def done():
    print(json.dumps(R))
PYEOF

drive() {
	SOCK=$sock LOG=$log PID=$rowd_pid PYTHONPATH=$tmp "$PY" -c "from drive import *
$1
done()" 2>&1
}

# ---- flags over the file -------------------------------------------------------

cat >"$conf" <<EOF
socket = $sock
root = $rootA
workers = 3
handles_per_conn = 100
batch_rows = 1000
log_level = info
EOF
start_conf -c "$conf" -o handles_per_conn=5 -w 2
out=$(drive '
c = Conn()
R["hello"] = c.ask("hello")
R["stats"] = c.ask("stats")
R["a"] = c.ask("open a.csv")
')
check_json "the file gives the socket and the root" 'a[0]["a"]["ok"] and a[0]["a"]["handle"] == 1' "$out"
check_json "a flag (-o) overrides a limit of the file" 'a[0]["hello"]["limits"]["handles_per_conn"] == 5' "$out"
check_json "the file sets what no flag names (batch_rows)" 'a[0]["hello"]["limits"]["batch_rows"] == 1000' "$out"
check_json "-w overrides the file's workers" 'a[0]["stats"]["workers"] == 2' "$out"
stop_daemon

# idle_timeout: a connection that asks nothing for that long is told so
# (one ELIMIT answer naming the limit), then closed.
start_conf -c "$conf" -o idle_timeout=1
out=$(drive '
c = Conn()
R["ping"] = c.ask("ping")
t = time.time()
R["why"] = c.line()
R["eof"] = c.line() is None                   # blocks until the daemon closes
R["after"] = time.time() - t
')
check_json "idle_timeout: an idle connection is closed after 1-2 s" \
	'a[0]["ping"]["pong"] and a[0]["eof"] and 0.9 <= a[0]["after"] <= 4' "$out"
check_json "idle_timeout: with one ELIMIT answer naming the limit" \
	'a[0]["why"]["error"]["code"] == "ELIMIT" and "idle_timeout limit (1 s)" in a[0]["why"]["error"]["message"]' "$out"
check_contains "idle_timeout: the log says why" "$(cat "$log")" "closed by the idle_timeout limit (1 s), closing"
stop_daemon

# -r on the command line replaces the file's roots.
start_conf -c "$conf" -r "$rootB"
out=$(drive '
c = Conn()
R["b"] = c.ask("open b.csv")
R["a"] = c.ask("open a.csv")
')
check_json "-r replaces the roots of the file" \
	'a[0]["b"]["ok"] and a[0]["a"]["ok"] is False and a[0]["a"]["error"]["code"] == "ENOENT"' "$out"
stop_daemon

# ---- SIGHUP ----------------------------------------------------------------------

start_conf -c "$conf" -o handles_per_conn=50
pid0=$rowd_pid
out=$(drive "
import shutil
c = Conn()                                    # open across every reload below
R['before_a'] = c.ask('open a.csv')           # handle 1, root A
R['before_bulk'] = c.ask('read_bulk 1 2')
R['t0'] = threads()

# New root: B instead of A; batch_rows down to 3; workers 3 -> 4.
with open('$conf', 'w') as f:
    f.write('socket = $sock\nroot = $rootB\nworkers = 4\nbatch_rows = 3\nhandles_per_conn = 100\n')
R['hup1'] = hup()
R['same_b'] = c.ask('open b.csv')             # the existing connection sees B
R['same_a'] = c.ask('open a.csv')             # ... and no longer A
R['old_handle'] = c.ask('read_bulk 1 3')      # a handle opened before keeps reading
R['limit'] = c.ask('read_bulk 1 4')           # batch_rows 3 applies at once
R['hello'] = c.ask('hello')
R['stats'] = c.ask('stats')
time.sleep(0.3)
R['t1'] = threads()
n = Conn()
R['new_b'] = n.ask('open b.csv')
R['new_a'] = n.ask('open a.csv')

# A bad file: refused, the configuration in force stays.
with open('$conf', 'w') as f:
    f.write('root = $rootA\nworkers = 1\nbatch_rows = 1000\nthis line is wrong\n')
R['hup2'] = hup()
R['bad_ping'] = c.ask('ping')
R['bad_b'] = c.ask('open b.csv')
R['bad_limit'] = c.ask('read_bulk 1 4')
R['bad_stats'] = c.ask('stats')

# Fewer workers (4 -> 1): the extra threads exit.
with open('$conf', 'w') as f:
    f.write('socket = $sock\nroot = $rootB\nworkers = 1\nbatch_rows = 3\n')
R['hup3'] = hup()
R['stats3'] = c.ask('stats')
end = time.time() + 10
while threads() != R['t0'] - 2 and time.time() < end:
    time.sleep(0.05)
R['t3'] = threads()
R['after3'] = c.ask('open b.csv')

# A new socket path needs a restart: the daemon says so and stays put.
with open('$conf', 'w') as f:
    f.write('socket = $tmp/elsewhere.sock\nroot = $rootB\nworkers = 1\n')
R['hup4'] = hup()
R['after4'] = Conn().ask('ping')
")
check_json "SIGHUP reloads (log says so)" 'a[0]["hup1"] and a[0]["hup2"] and a[0]["hup3"] and a[0]["hup4"]' "$out"
check_json "before the reload: root A serves a.csv" 'a[0]["before_a"]["ok"] and len(a[0]["before_bulk"]["rows"]) == 2' "$out"
check_json "after SIGHUP an existing connection reads the new root" 'a[0]["same_b"]["ok"]' "$out"
check_json "after SIGHUP an existing connection no longer reaches the old root" \
	'a[0]["same_a"]["ok"] is False and a[0]["same_a"]["error"]["code"] == "ENOENT"' "$out"
check_json "a handle opened before the reload keeps reading" \
	'a[0]["old_handle"]["ok"] and a[0]["old_handle"]["rows"] == SIX[2:5]' "$out"
check_json "a new connection reads the new root, not the old one" \
	'a[0]["new_b"]["ok"] and a[0]["new_a"]["error"]["code"] == "ENOENT"' "$out"
check_json "a reloaded limit (batch_rows 3) applies to the next request of an existing connection" \
	'a[0]["limit"]["ok"] is False and a[0]["limit"]["error"]["code"] == "ELIMIT" and a[0]["hello"]["limits"]["batch_rows"] == 3' "$out"
check_json "a flag keeps overriding the file after a reload" 'a[0]["hello"]["limits"]["handles_per_conn"] == 50' "$out"
check_json "SIGHUP grows the worker pool (stats and threads)" \
	'a[0]["stats"]["workers"] == 4 and a[0]["t1"] == a[0]["t0"] + 1 and a[0]["stats"]["reloads"] == 1 and a[0]["stats"]["config_generation"] == 2' "$out"
check_json "a bad file on SIGHUP: the daemon serves with the old configuration" \
	'a[0]["bad_ping"]["pong"] and a[0]["bad_b"]["ok"] and a[0]["bad_limit"]["error"]["code"] == "ELIMIT" and a[0]["bad_stats"]["workers"] == 4 and a[0]["bad_stats"]["reload_failures"] == 1' "$out"
check_json "SIGHUP shrinks the worker pool (stats and threads)" \
	'a[0]["stats3"]["workers"] == 1 and a[0]["t3"] == a[0]["t0"] - 2 and a[0]["after3"]["ok"]' "$out"
check_json "a changed socket path is not applied live" 'a[0]["after4"]["pong"]' "$out"
check_contains "a bad file on SIGHUP is logged with file:line" "$(cat "$log")" "$conf:4: expected 'key = value'; keeping the current configuration"
check_contains "a changed socket path: the log says it needs a restart" "$(cat "$log")" "that needs a restart"
check_eq "the daemon survived every reload" "$rowd_pid" "$pid0"
stop_daemon

# ---- SIGTERM: drain ------------------------------------------------------------

# 300000 rows (18 MB): a stream outruns the socket buffers and a convert
# runs for a while (several 50 ms steps).
"$PY" -c '
import sys
with open(sys.argv[1], "w") as f:
    f.write("id,name,text\n")
    for i in range(300000):
        f.write("%d,name%d,%s\n" % (i, i, "x" * 40))
' "$rootB/big.csv" || setup_error "big.csv"
printf 'OLD\n' >"$rootB/keep.jsonl"
printf 'OLD\n' >"$rootB/conv.jsonl"
cat >"$conf" <<EOF
socket = $sock
root = $rootB
workers = 2
out_high = 64K
out_low = 16K
shutdown_timeout = 8
EOF
start_conf -c "$conf"
t0=$(date +%s)
out=$(drive "
w = Conn()                                    # an uncommitted write
R['w_open'] = w.ask('open keep.jsonl mode=w')
R['w_bulk'] = w.ask('write_bulk 1 [{\"a\": 1}, {\"a\": 2}]')
s = Conn()                                    # a stream the client does not read
R['s_open'] = s.ask('open big.csv')
s.send('stream 1 batch=50')
time.sleep(0.5)                               # the stream blocks on backpressure
v = Conn()                                    # a long convert
v.send('convert big.csv conv.jsonl batch=100')
import glob
end = time.time() + 10                        # running once its temp file is there
while not glob.glob('$rootB/.conv.jsonl.rowd-tmp-*') and time.time() < end:
    time.sleep(0.002)
before = log_count('stopping')
os.kill(PID, signal.SIGTERM)
R['stopping'] = wait_log('stopping', before)
s.send('ping')                                # a new request after SIGTERM
R['s_rest'] = s.rest()
R['v_rest'] = v.rest()
R['w_rest'] = w.rest()
")
st=0
for _ in $(seq 200); do kill -0 "$rowd_pid" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$rowd_pid" 2>/dev/null; then
	kill -KILL "$rowd_pid"
	st=124
fi
wait "$rowd_pid" || st=$?
rowd_pid=
t1=$(date +%s)
check_json "SIGTERM: the daemon logs that it stops" 'a[0]["stopping"]' "$out"
check_json "SIGTERM: the unread stream's rows are still delivered, then it ends with ESHUTDOWN" \
	'[m for m in a[0]["s_rest"] if m["id"] == 2 and "rows" in m] and [m for m in a[0]["s_rest"] if m["id"] == 2][-1]["error"]["code"] == "ESHUTDOWN"' "$out"
check_json "SIGTERM: a request sent after it gets ESHUTDOWN" \
	'[m for m in a[0]["s_rest"] if m["id"] == 3][0]["error"]["code"] == "ESHUTDOWN"' "$out"
check_json "SIGTERM: a running convert is answered (ESHUTDOWN, or done if it finished first)" \
	'len(a[0]["v_rest"]) >= 1 and (a[0]["v_rest"][-1].get("error", {}).get("code") == "ESHUTDOWN" or a[0]["v_rest"][-1].get("rows_out") == 300000)' "$out"
check_json "SIGTERM: an idle connection is closed without a word" 'a[0]["w_rest"] == [] and a[0]["w_bulk"]["written"] == 2' "$out"
check_eq "SIGTERM: rowd exits 0" "$st" 0
check "SIGTERM: rowd exits within the shutdown timeout" [ $((t1 - t0)) -le 8 ]
check_eq "SIGTERM: an uncommitted write leaves its target untouched" "$(cat "$rootB/keep.jsonl")" "OLD"
conv=$(head -c 4 "$rootB/conv.jsonl")
if printf '%s' "$out" | grep -q '"rows_out": 300000'; then
	check_eq "SIGTERM: a finished convert committed all rows" "$(wc -l <"$rootB/conv.jsonl")" 300000
else
	check_eq "SIGTERM: a stopped convert leaves its target untouched" "$conv" "OLD"
fi
check_eq "SIGTERM: no temp file remains" "$(find "$rootB" -name '*.rowd-tmp-*' | wc -l)" 0
check_eq "SIGTERM: the socket is removed" "$(test -e "$sock" && echo yes || echo no)" no

# A client that never reads: the shutdown timeout ends the wait, exit 0.
cat >"$conf" <<EOF
socket = $sock
root = $rootB
out_high = 64K
out_low = 16K
shutdown_timeout = 1
EOF
start_conf -c "$conf"
SOCK=$sock "$PY" -c '
import os, socket, time
s = socket.socket(socket.AF_UNIX); s.connect(os.environ["SOCK"])
s.sendall(b"open big.csv\nstream 1 batch=50\n")
time.sleep(30)
' &
stuck=$!
sleep 0.7
t0=$(date +%s%N)
kill -TERM "$rowd_pid"
st=0
for _ in $(seq 100); do kill -0 "$rowd_pid" 2>/dev/null || break; sleep 0.05; done
kill -0 "$rowd_pid" 2>/dev/null && { kill -KILL "$rowd_pid"; st=124; }
wait "$rowd_pid" || st=$?
rowd_pid=
t1=$(date +%s%N)
kill "$stuck" 2>/dev/null
wait "$stuck" 2>/dev/null
check_eq "a client that never reads: exit 0 after shutdown_timeout" "$st" 0
check "a client that never reads: the wait lasts about shutdown_timeout (1 s)" \
	[ $(((t1 - t0) / 1000000)) -ge 900 -a $(((t1 - t0) / 1000000)) -le 4000 ]
check_contains "a client that never reads: the log names the timeout" "$(cat "$log")" "shutdown timeout"

finish
