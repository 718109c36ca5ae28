#!/bin/sh
# The fuzz corpus ships file by file, listed in corpus.mk.
#   corpus.sh list    rewrites corpus.mk from tests/fuzz/corpus/ (after
#                     adding a seed or a regression file)
#   corpus.sh         (make check) fails when a corpus file is not listed,
#                     or a listed one is missing
set -eu
top=${ROWD_TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$top"
mk=tests/fuzz/corpus.mk

files() {
	find tests/fuzz/corpus -type f ! -name '.*' | LC_ALL=C sort
}

listed() {
	sed -n 's/^	\(tests\/fuzz\/corpus\/[^ ]*\).*/\1/p' "$mk" | LC_ALL=C sort
}

case ${1:-check} in
list)
	{
		echo "# Written by tests/fuzz/corpus.sh list: every corpus file, for the tarball."
		files | awk 'BEGIN { printf "FUZZ_CORPUS =" } { printf " \\\n\t%s", $0 } END { print "" }'
	} >"$mk.tmp"
	mv "$mk.tmp" "$mk"
	echo "corpus.sh: $(files | wc -l) files listed in $mk"
	;;
check)
	tmp=$(mktemp -d)
	trap 'rm -f "$tmp/files" "$tmp/listed"; rmdir "$tmp"' EXIT
	files >"$tmp/files"
	listed >"$tmp/listed"
	if ! cmp -s "$tmp/files" "$tmp/listed"; then
		diff "$tmp/listed" "$tmp/files" | sed -n 's/^[<>] /  /p' >&2
		echo "corpus.sh: corpus.mk and tests/fuzz/corpus/ differ (run tests/fuzz/corpus.sh list)" >&2
		exit 1
	fi
	echo "corpus.sh: $(wc -l <"$tmp/files") corpus files, all listed"
	;;
*)
	echo "usage: corpus.sh [list|check]" >&2
	exit 2
	;;
esac
