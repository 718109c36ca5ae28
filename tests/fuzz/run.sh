#!/bin/sh
# make fuzz: builds the harnesses with clang, libFuzzer, ASan and UBSan,
# then runs each for SECONDS, one after the other. Run through make, which
# passes the source lists and flags (FUZZ_*) from the Makefile:
#   make fuzz [FUZZ_SECONDS=120] [FUZZ_RUN="fuzz_read fuzz_codec"]
# (FUZZ_SECONDS=0 only builds.)
# Objects and binaries go to tests/fuzz/libfuzzer/ in the build tree, new
# corpus entries to tests/fuzz/libfuzzer/corpus/NAME (scratch: copy what
# is worth keeping into tests/fuzz/corpus/NAME, then corpus.sh list),
# crashes, leaks and timeouts to tests/fuzz/crashes/ in the source tree.
# Replay one with the check build: tests/fuzz/NAME FILE.
set -eu
seconds=${1:?usage: make fuzz [FUZZ_SECONDS=N] [FUZZ_RUN=\"harness...\"]}
shift
: "${FUZZ_LIB_SOURCES:?run through make fuzz}"
cc=${FUZZ_CC:-clang}
out=tests/fuzz/libfuzzer
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
cflags="-g -O1 -Wno-unused-command-line-argument $san"
crashes=$FUZZ_SRCDIR/tests/fuzz/crashes
mkdir -p "$out/obj" "$crashes"

# One object per source, rebuilt when the source, a header or the flags
# changed since the last build.
stamp=$out/obj/.stamp
flags_now="$cc $cflags $FUZZ_CPPFLAGS"
rebuild_all=no
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$flags_now" ] ||
   [ -n "$(find "$FUZZ_SRCDIR/proto" "$FUZZ_SRCDIR/daemon" "$FUZZ_SRCDIR/tests/unit" \
             "$FUZZ_SRCDIR/tests/fuzz" config.h -name '*.h' -newer "$stamp" 2>/dev/null | head -1)" ]; then
	rebuild_all=yes
fi
obj_of() {
	echo "$out/obj/$(echo "$1" | tr / _ | sed 's/\.c$/.o/')"
}
compile_list=
all_sources=$(for src in $FUZZ_LIB_SOURCES $(for h in $FUZZ_HARNESSES_ALL; do eval "echo \$FUZZ_SRC_$h"; done); do
	echo "$src"
done | sort -u)
for src in $all_sources; do
	o=$(obj_of "$src")
	if [ $rebuild_all = yes ] || [ ! -f "$o" ] || [ "$FUZZ_SRCDIR/$src" -nt "$o" ]; then
		compile_list="$compile_list $src"
	fi
done
if [ -n "$compile_list" ]; then
	echo "fuzz: compiling$(echo "$compile_list" | wc -w | sed 's/^/ /') sources with $cc"
	# Everything is instrumented (fuzzer-no-link); libFuzzer's main comes
	# in at link time.
	for src in $compile_list; do
		echo "$src $(obj_of "$src")"
	done | xargs -P 2 -n 2 sh -c "$cc $cflags -fsanitize=fuzzer-no-link $FUZZ_CPPFLAGS -c \"$FUZZ_SRCDIR/\$0\" -o \"\$1\" || exit 255"
	echo "$flags_now" >"$stamp"
fi
rm -f "$out/librowdfuzz.a"
ar rcs "$out/librowdfuzz.a" $(for src in $FUZZ_LIB_SOURCES; do obj_of "$src"; done)

status=0
for h in "$@"; do
	srcs=$(eval "echo \$FUZZ_SRC_$h")
	[ -n "$srcs" ] || { echo "fuzz: no harness $h (have: $FUZZ_HARNESSES_ALL)" >&2; exit 2; }
	# shellcheck disable=SC2046
	$cc $san -fsanitize=fuzzer $(for src in $srcs; do obj_of "$src"; done) "$out/librowdfuzz.a" \
		$FUZZ_LIBS -o "$out/$h"
	case $h in
	fuzz_read|fuzz_codec) max_len=65536 ;;
	*) max_len=16384 ;;
	esac
	if [ "$seconds" = 0 ]; then
		echo "fuzz: built $out/$h (replay a file: $out/$h FILE)"
		continue
	fi
	mkdir -p "$out/corpus/$h"
	echo "fuzz: $h for ${seconds}s"
	# New inputs go to the scratch corpus (first directory), seeds are read
	# from the tree.
	if ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
		UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} "$out/$h" -max_total_time="$seconds" \
		-max_len=$max_len -timeout=25 -rss_limit_mb=2560 -print_final_stats=1 \
		-artifact_prefix="$crashes/$h-" "$out/corpus/$h" "$FUZZ_SRCDIR/tests/fuzz/corpus/$h" \
		>"$out/$h.log" 2>&1; then
		result=ok
	else
		result="FAILED (see $out/$h.log and $crashes/)"
		status=1
	fi
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$h.log" | tail -1)
	cov=$(grep -o 'cov: [0-9]*' "$out/$h.log" | tail -1)
	echo "fuzz: $h: ${execs:-?} executions, $cov, $result"
done
exit $status
