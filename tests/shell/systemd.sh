#!/usr/bin/env bash
# rowd under systemd, without systemd running: the units verified and
# scored by systemd-analyze, socket activation through
# systemd-socket-activate (rowd must use the inherited socket and create
# none), the notify protocol received on a fake NOTIFY_SOCKET, and the
# journal's <N> priority prefixes.
. "$(dirname "$0")/lib.sh"

ANALYZE=$(command -v systemd-analyze || true)
ACTIVATE=$(command -v systemd-socket-activate || true)
[ -n "$ANALYZE" ] || skip "no systemd-analyze (Debian package systemd)"
[ -n "$ACTIVATE" ] || skip "no systemd-socket-activate (Debian package systemd)"
[ -n "${SOCAT:-}" ] || skip "socat not found (SOCAT is empty)"

# The highest exposure score systemd-analyze security may give the unit.
MAX_EXPOSURE=3.0

put_conf iterabledata/2cols6rows.csv f.csv

# wait_for FILE TEXT: up to 10 s for TEXT to show up in FILE.
wait_for() {
	for _ in $(seq 200); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# stop_rowd: SIGTERM, up to 10 s; the exit status in $st (124: killed).
stop_rowd() {
	kill -TERM "$rowd_pid"
	st=0
	for _ in $(seq 200); do
		kill -0 "$rowd_pid" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$rowd_pid" 2>/dev/null; then
		kill -KILL "$rowd_pid"
		wait "$rowd_pid" 2>/dev/null
		st=124
	else
		wait "$rowd_pid" || st=$?
	fi
	rowd_pid=
}

# ---- the units ---------------------------------------------------------------

# The service as make builds it, ExecStart pointing at the built daemon.
units=$tmp/units
mkdir "$units" || setup_error "mkdir $units"
sed -e "s|@sbindir@/rowd|$ROWD|" -e "s|@sysconfdir@|/etc|" \
	"$ROWD_TOP_SRCDIR/systemd/rowd.service.in" >"$units/rowd.service" || setup_error "sed unit"
cp "$ROWD_TOP_SRCDIR/systemd/rowd.socket" "$units/" || setup_error "cp socket unit"
grep -q "^ExecStart=$ROWD " "$units/rowd.service" || setup_error "ExecStart not rewritten"

st=0
out=$(cd "$units" && "$ANALYZE" verify --man=no ./rowd.socket ./rowd.service 2>&1) || st=$?
check_eq "systemd-analyze verify: exit 0" "$st" 0
# Other units of this machine may be reported; nothing about ours may.
check_eq "systemd-analyze verify: nothing about rowd's units" \
	"$(printf '%s\n' "$out" | grep -i 'rowd' || true)" ""

st=0
out=$("$ANALYZE" security --offline=true --no-pager "$units/rowd.service" 2>&1) || st=$?
score=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for rowd.service: \([0-9.]*\).*/\1/p')
echo "# systemd-analyze security --offline=true rowd.service: exposure ${score:-?}"
printf '%s\n' "$out" | grep '✗' | sed 's/^/#   /'
check "systemd-analyze security gives an exposure score" [ -n "$score" ]
check "the exposure score ($score) is at most $MAX_EXPOSURE" \
	"$PY" -c "import sys; sys.exit(not float('${score:-99}') <= $MAX_EXPOSURE)"

# ---- socket activation ---------------------------------------------------------

asock=$tmp/activated.sock
own=$tmp/own.sock
: >"$log"
# systemd-socket-activate binds asock, waits for the first connection and
# then execs rowd with it as fd 3 (LISTEN_FDS=1, LISTEN_PID = its pid).
"$ACTIVATE" -l "$asock" "$ROWD" -s "$own" -r "$root" -w 2 2>>"$log" &
rowd_pid=$!
for _ in $(seq 200); do
	[ -S "$asock" ] && break
	sleep 0.05
done
out=$(printf 'ping\nopen f.csv\nread_bulk 1 2\n' | timeout 20 "$SOCAT" -t 10 - "UNIX-CONNECT:$asock")
check_json "socket activation: the first client (which started rowd) is answered" \
	'I[1]["pong"] and I[2]["handle"] == 1 and I[3]["rows"] == SIX[:2]' "$out"
out=$(printf 'ping\n' | timeout 20 "$SOCAT" -t 10 - "UNIX-CONNECT:$asock")
check_json "socket activation: a second client is answered" 'I[1]["pong"]' "$out"
check "socket activation: rowd says it uses the socket passed by systemd" \
	grep -q "using the socket passed by systemd" "$log"
check "socket activation: rowd created no socket of its own" [ ! -e "$own" ]
stop_rowd
check_eq "socket activation: rowd exits 0 on SIGTERM" "$st" 0

# LISTEN_FDS naming something that is not a listening Unix socket: refused,
# and still no socket of rowd's own (systemd meant it to use that one).
: >"$log"
st=0
LISTEN_FDS=1 ROWD=$ROWD OWN=$own ROOT=$root timeout 10 \
	sh -c 'export LISTEN_PID=$$; exec "$ROWD" -s "$OWN" -r "$ROOT"' 3<"$root/f.csv" 2>>"$log" || st=$?
check "LISTEN_FDS with a file as fd 3: rowd fails" [ "$st" -ne 0 ]
check "LISTEN_FDS with a file as fd 3: the log says why" grep -q "is not a Unix stream socket" "$log"
check "LISTEN_FDS with a file as fd 3: no socket of its own" [ ! -e "$own" ]

# ---- the notify protocol ---------------------------------------------------------

# A datagram socket standing in for systemd: one line per message
# (newlines inside a message shown as |), until STOPPING=1.
nsock=$tmp/notify.sock
msgs=$tmp/notify.msgs
conf=$tmp/rowd.conf
printf 'log_level = info\n' >"$conf"
"$PY" - "$nsock" "$msgs" <<'PYEOF' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(30)
with open(sys.argv[2], "a") as f:
    f.write("bound\n")
    f.flush()
    try:
        while True:
            m = s.recv(4096).decode()
            f.write(m.replace("\n", "|") + "\n")
            f.flush()
            if "STOPPING=1" in m:
                break
    except socket.timeout:
        pass
PYEOF
listener=$!
wait_for "$msgs" bound || setup_error "the notify listener did not start"
: >"$log"
NOTIFY_SOCKET=$nsock "$ROWD" -s "$sock" -r "$root" -c "$conf" 2>>"$log" &
rowd_pid=$!
wait_for "$msgs" "READY=1"
check "notify: READY=1 once listening" grep -q "^READY=1|MAINPID=$rowd_pid|" "$msgs"
out=$(printf 'ping\n' | timeout 20 "$SOCAT" -t 10 - "UNIX-CONNECT:$sock")
check_json "notify: the daemon serves after READY=1" 'I[1]["pong"]' "$out"
wait_for "$msgs" "^STATUS=.*connections"
check "notify: STATUS= with connections and handles (about once a second)" \
	grep -q "^STATUS=[0-9]* connections, [0-9]* handles" "$msgs"
kill -HUP "$rowd_pid"
wait_for "$log" "SIGHUP: reloaded"
wait_for "$msgs" "^READY=1|STATUS=reloaded"
check "notify: SIGHUP sends RELOADING=1 (with MONOTONIC_USEC)" grep -q "^RELOADING=1|MONOTONIC_USEC=[0-9]*|" "$msgs"
check "notify: then READY=1 when the reload is done" grep -q "^READY=1|STATUS=reloaded" "$msgs"
printf 'this is not a setting\n' >"$conf"
kill -HUP "$rowd_pid"
wait_for "$msgs" "reload failed"
check "notify: a failed reload sends READY=1 and a STATUS saying so" \
	grep -q "^READY=1|STATUS=reload failed ($conf:1: expected 'key = value'); old configuration in force" "$msgs"
stop_rowd
check_eq "notify: rowd exits 0 on SIGTERM" "$st" 0
check "notify: STOPPING=1 on SIGTERM" grep -q "^STOPPING=1" "$msgs"
wait "$listener" 2>/dev/null
order=$(grep -oE '^(READY|RELOADING|STOPPING)=1' "$msgs" | tr '\n' ' ')
check_eq "notify: the messages in order" "$order" "READY=1 RELOADING=1 READY=1 RELOADING=1 READY=1 STOPPING=1 "

# An abstract-namespace NOTIFY_SOCKET ("@name"), as systemd may pass.
abstract="@rowd-test-$$-$RANDOM"
"$PY" - "$abstract" "$msgs.abstract" <<'PYEOF' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + sys.argv[1][1:])
s.settimeout(30)
with open(sys.argv[2], "a") as f:
    f.write("bound\n")
    f.flush()
    try:
        m = s.recv(4096).decode()
        f.write(m.replace("\n", "|") + "\n")
    except socket.timeout:
        pass
PYEOF
listener=$!
wait_for "$msgs.abstract" bound || setup_error "the abstract notify listener did not start"
NOTIFY_SOCKET=$abstract "$ROWD" -s "$sock" -r "$root" 2>>"$log" &
rowd_pid=$!
wait_for "$msgs.abstract" "READY=1"
check "notify: an abstract NOTIFY_SOCKET gets READY=1" grep -q "^READY=1" "$msgs.abstract"
stop_rowd
check_eq "notify (abstract): rowd exits 0" "$st" 0
wait "$listener" 2>/dev/null

# ---- the journal ---------------------------------------------------------------

# systemd sets JOURNAL_STREAM to the device:inode of the stream it gave as
# stderr; only then does rowd write "<6>" priorities instead of a timestamp.
jlog=$tmp/journal.log
: >"$jlog"
jstream=$(stat -c '%d:%i' "$jlog")
JOURNAL_STREAM=$jstream "$ROWD" -s "$sock" -r "$root" 2>>"$jlog" &
rowd_pid=$!
wait_for "$jlog" "listening" || setup_error "rowd did not start (journal)"
printf 'ping\n' | timeout 20 "$SOCAT" -t 10 - "UNIX-CONNECT:$sock" >/dev/null
wait_for "$jlog" "connected"
stop_rowd
check_eq "journal: rowd exits 0" "$st" 0
check "journal: info lines start with <6> and no timestamp" grep -q "^<6>rowd [0-9.]* listening on" "$jlog"
check "journal: the peer's uid and pid on connect, at info" grep -q "^<6>conn 1: connected: uid $(id -u) gid $(id -g) pid [0-9]*" "$jlog"
check_eq "journal: every line has a priority prefix" "$(grep -cv '^<[0-7]>' "$jlog")" 0
: >"$log"
JOURNAL_STREAM=1:1 "$ROWD" -s "$sock" -r "$root" 2>>"$log" &
rowd_pid=$!
wait_for "$log" "listening" || setup_error "rowd did not start (not the journal)"
stop_rowd
check_eq "not the journal: rowd exits 0" "$st" 0
check "a JOURNAL_STREAM naming another stream: timestamps, no prefix" \
	grep -q "^[0-9-]*T[0-9:.]*Z rowd\[[0-9]*\] info: rowd .* listening on" "$log"

finish
