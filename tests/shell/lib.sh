# Helpers of the shell tests, sourced by tests/shell/*.sh: a private rowd on
# a temp root and socket (removed on exit), assertions, a TAP-like report.
#
#   . "$(dirname "$0")/lib.sh"
#   start_daemon [ROWD ARGS...]
#   check "what" COMMAND...            COMMAND must succeed
#   check_eq "what" "$got" "$want"
#   check_json "what" PYEXPR "$text"   PYEXPR over a = the JSON lines of text
#   stop_daemon; finish
#
# make check exports ROWD_TOP_SRCDIR, ROWD_TOP_BUILDDIR and SOCAT; run by
# hand, the tree of the script is used for both. Exit: 0 pass, 1 fail,
# 77 skip, 99 set-up error.

set -u

: "${ROWD_TOP_SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${ROWD_TOP_BUILDDIR:=$ROWD_TOP_SRCDIR}"
ROWD=$ROWD_TOP_BUILDDIR/daemon/rowd
ROWCAT=$ROWD_TOP_BUILDDIR/client/rowcat
CONF=$ROWD_TOP_SRCDIR/tests/data/conformance
SAMPLE=$CONF/iterabledata/2cols6rows.csv
# Explicitly the system interpreter: a python3 earlier in PATH may lack
# the modules of the system one.
PY=/usr/bin/python3

# The six rows every 2cols6rows* file holds, as Python.
SIX='[{"id":"1","name":"John"},{"id":"2","name":"Mary"},{"id":"3","name":"Michael"},{"id":"4","name":"Anna"},{"id":"5","name":"Orban"},{"id":"6","name":"Lucy"}]'

skip() {
	echo "SKIP: $*"
	exit 77
}

setup_error() {
	echo "ERROR: $*"
	exit 99
}

[ -x "$ROWD" ] || setup_error "no $ROWD (build it first)"
[ -x "$PY" ] || skip "no $PY to check JSON answers"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rowd-sh-XXXXXX") || setup_error "mktemp failed"
root=$tmp/root
sock=$tmp/rowd.sock
log=$tmp/rowd.log
mkdir "$root" || setup_error "mkdir $root"
rowd_pid=
n=0

cleanup() {
	if [ -n "$rowd_pid" ]; then
		kill -KILL "$rowd_pid" 2>/dev/null
		wait "$rowd_pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP PIPE

# ---- the daemon ------------------------------------------------------------

start_daemon() {
	"$ROWD" -s "$sock" -r "$root" -w 2 "$@" 2>>"$log" &
	rowd_pid=$!
	for _ in $(seq 200); do
		if [ -S "$sock" ] && grep -q 'listening on' "$log" 2>/dev/null; then
			return 0
		fi
		kill -0 "$rowd_pid" 2>/dev/null || break
		sleep 0.05
	done
	cat "$log"
	setup_error "rowd did not start"
}

# SIGTERM; rowd must exit 0 within 20 s.
stop_daemon() {
	local st=0 i
	[ -n "$rowd_pid" ] || return 0
	kill -TERM "$rowd_pid" 2>/dev/null
	for i in $(seq 400); do
		kill -0 "$rowd_pid" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$rowd_pid" 2>/dev/null; then
		kill -KILL "$rowd_pid" 2>/dev/null
		st=124
	fi
	wait "$rowd_pid" 2>/dev/null || st=$?
	rowd_pid=
	if [ "$st" -eq 0 ]; then
		ok "rowd exits 0 on SIGTERM"
	else
		not_ok "rowd exits 0 on SIGTERM" "exit status $st" "log: $(tail -5 "$log")"
	fi
}

daemon_alive() {
	[ -n "$rowd_pid" ] && kill -0 "$rowd_pid" 2>/dev/null
}

# Copies a file of the tree (relative to tests/data/conformance) into the root.
put_conf() {
	cp "$CONF/$1" "$root/${2:-$(basename "$1")}" || setup_error "cp $1"
}

# ---- assertions --------------------------------------------------------------
#
# Checks are recorded in $tmp/checks/NNNN/ and reported by finish(), which
# evaluates every JSON check in one Python process (starting one per check
# costs more than the whole test).

checks=$tmp/checks
mkdir "$checks" || setup_error "mkdir $checks"

# record WHAT: a new check directory, path in $rec.
record() {
	n=$((n + 1))
	rec=$checks/$(printf '%04d' "$n")
	mkdir "$rec"
	printf '%s' "$1" >"$rec/what"
}

ok() {
	record "$1"
	: >"$rec/ok"
}

# not_ok WHAT [DETAIL...]
not_ok() {
	record "$1"
	shift
	printf '%s\n' "$@" >"$rec/fail"
}

check() {
	local what=$1
	shift
	if "$@"; then
		ok "$what"
	else
		not_ok "$what" "failed: $*"
	fi
}

check_eq() {
	if [ "$2" = "$3" ]; then
		ok "$1"
	else
		not_ok "$1" "got:      $2" "expected: $3"
	fi
}

# check_contains WHAT TEXT NEEDLE
check_contains() {
	case $2 in
	*"$3"*) ok "$1" ;;
	*) not_ok "$1" "text:     $2" "lacks:    $3" ;;
	esac
}

# check_json WHAT PYEXPR TEXT: each non-empty line of TEXT must be JSON;
# PYEXPR (Python) must hold, over `a`, the list of parsed lines, `I`, the
# answers by id (answers of different handles may interleave), and `SIX`.
check_json() {
	record "$1"
	printf '%s' "$2" >"$rec/expr"
	printf '%s' "$3" >"$rec/text"
}

# Ends the script: evaluates and prints every check (TAP), a summary, and
# exits 0 when every check passed, else 1.
finish() {
	local rc=0
	"$PY" - "$checks" "$SIX" <<'PYEOF' || rc=$?
import json, os, sys

checks, SIX = sys.argv[1], json.loads(sys.argv[2])
failed = 0

def evaluate(d):
    """None when the check holds, else the lines saying why."""
    if os.path.exists(os.path.join(d, "ok")):
        return None
    if os.path.exists(os.path.join(d, "fail")):
        return open(os.path.join(d, "fail"), errors="replace").read().splitlines()
    expr = open(os.path.join(d, "expr")).read()
    text = open(os.path.join(d, "text"), errors="replace").read()
    why = ["check:    " + expr, "answers:  " + text[:3000]]
    try:
        a = [json.loads(l) for l in text.split("\n") if l.strip()]
    except ValueError as e:
        return why + ["not JSON lines: %s" % e]
    I = {x["id"]: x for x in a
         if isinstance(x, dict) and isinstance(x.get("id"), (int, str))}
    try:
        if eval(expr, {"json": json, "a": a, "I": I, "SIX": SIX}):
            return None
        return why
    except Exception as e:
        return why + ["python:   %s: %s" % (type(e).__name__, e)]

names = sorted(os.listdir(checks))
for i, name in enumerate(names, 1):
    d = os.path.join(checks, name)
    what = open(os.path.join(d, "what")).read()
    why = evaluate(d)
    if why is None:
        print("ok %d - %s" % (i, what))
    else:
        failed += 1
        print("not ok %d - %s" % (i, what))
        for line in why:
            for part in line.splitlines() or [""]:
                print("#   " + part)
print("1..%d" % len(names))
print("# %d passed, %d failed" % (len(names) - failed, failed))
sys.exit(1 if failed else 0)
PYEOF
	if [ "$rc" -ne 0 ]; then
		echo "# daemon log ($log):"
		tail -30 "$log" | sed 's/^/#   /'
		exit 1
	fi
	exit 0
}
