#!/usr/bin/env bash
# The whole suite: set-up, -Werror build, `make check`, the end-to-end
# tests again with the daemon under valgrind memcheck, then `make distcheck`
# whose build runs the suite again under AddressSanitizer + UBSan (+ LSan).
#   ROWD_TEST_QUICK=1 ./test.sh   skips the valgrind and sanitizer passes
set -euo pipefail
cd "$(dirname "$0")"

./run.sh setup
ROWD_CONFIGURE_FLAGS="--enable-werror" ./run.sh build
# A Makefile from an older configure without -Werror would hide warnings.
grep -q -- '-Werror' Makefile || { ./configure --enable-werror >/dev/null; make -j"$(nproc)" >/dev/null; }

status=0
make -j"$(nproc)" check || status=$?
if [ $status -ne 0 ]; then
	for f in tests/*/*.log; do
		[ -f "$f" ] && ! grep -q '^# PASS' "$f" && grep -qE 'FAIL|ERROR' "${f%.log}.trs" 2>/dev/null && { echo "=== $f"; tail -60 "$f"; }
	done
	exit $status
fi

if [ -z "${ROWD_TEST_QUICK:-}" ]; then
	# The daemon of every end-to-end test under memcheck: any error or a
	# definite/indirect leak makes it exit 99, which fails the test.
	echo "test.sh: end-to-end tests with the daemon under valgrind memcheck"
	ROWD_VALGRIND=1 CK_DEFAULT_TIMEOUT=300 make -j"$(nproc)" check \
		TESTS="tests/e2e/test_e2e tests/e2e/test_async tests/e2e/test_stream" \
		>valgrind.log 2>&1 || { tail -80 valgrind.log; tail -40 tests/e2e/*.log; exit 1; }
	grep -E '^# (TOTAL|PASS|FAIL|ERROR)' valgrind.log | sed 's/^/valgrind: /'

	echo "test.sh: sanitizer pass (make distcheck with ASan + UBSan)"
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
	san="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
	make distcheck DISTCHECK_CONFIGURE_FLAGS="--enable-werror CFLAGS='-g -O1 $san' LDFLAGS='$san'" \
		>distcheck.log 2>&1 || { tail -80 distcheck.log; exit 1; }
	grep -E '^# (TOTAL|PASS|FAIL|ERROR)' distcheck.log | sed 's/^/distcheck: /'
fi
echo "test.sh: all passed"
