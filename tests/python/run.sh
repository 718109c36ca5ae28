#!/bin/sh
# make check entry for the Python client (client/python): pytest against
# the real daemon ($ROWD_TOP_BUILDDIR/daemon/rowd) on a temp socket.
# Exit 77 (skip) without Debian's python3-msgpack or python3-pytest.
PYTHON=/usr/bin/python3
srcdir=${ROWD_TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}

if ! "$PYTHON" -c 'import msgpack, pytest' 2>/dev/null; then
	echo "SKIP: $PYTHON lacks msgpack or pytest (apt-get install python3-msgpack python3-pytest)"
	exit 77
fi

# Nothing is written into the source tree (it may be read-only under
# distcheck): no bytecode, no pytest cache.
PYTHONPATH="$srcdir/client/python${PYTHONPATH:+:$PYTHONPATH}" PYTHONDONTWRITEBYTECODE=1 \
	"$PYTHON" -m pytest -q -p no:cacheprovider "$srcdir/tests/python" "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
	echo "FAIL: pytest collected no tests"
	exit 1
fi
exit "$rc"
