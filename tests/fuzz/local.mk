# tests/fuzz/: libFuzzer harnesses. Each is built twice from the lists
# below: here, with the project's compiler and replay_main.c, as a check
# program that replays its corpus (tests/fuzz/corpus/NAME, regression
# files included); and by `make fuzz` with clang, libFuzzer, ASan and UBSan
# (tests/fuzz/run.sh), which then fuzzes each for FUZZ_SECONDS.
FUZZ_HARNESSES = fuzz_proto fuzz_text fuzz_read fuzz_codec fuzz_roundtrip
FUZZ_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/unit -I$(top_srcdir)/tests/fuzz
FUZZ_COMMON = tests/fuzz/fuzz.h tests/fuzz/fuzz_input.c tests/fuzz/fuzz_rows.c
FUZZ_FMT = tests/unit/fmt_harness.h tests/unit/fmt_harness.c tests/fuzz/fuzz_options.c

check_PROGRAMS += tests/fuzz/fuzz_proto tests/fuzz/fuzz_text tests/fuzz/fuzz_read \
	tests/fuzz/fuzz_codec tests/fuzz/fuzz_roundtrip

tests_fuzz_fuzz_proto_SOURCES = tests/fuzz/fuzz_proto.c $(FUZZ_COMMON) tests/fuzz/replay_main.c
tests_fuzz_fuzz_proto_CPPFLAGS = $(FUZZ_CPPFLAGS) -DFUZZ_HARNESS='"fuzz_proto"'
tests_fuzz_fuzz_proto_LDADD = proto/librowdproto.la

tests_fuzz_fuzz_text_SOURCES = tests/fuzz/fuzz_text.c $(FUZZ_COMMON) tests/fuzz/replay_main.c
tests_fuzz_fuzz_text_CPPFLAGS = $(FUZZ_CPPFLAGS) -DFUZZ_HARNESS='"fuzz_text"'
tests_fuzz_fuzz_text_LDADD = proto/librowdproto.la

tests_fuzz_fuzz_read_SOURCES = tests/fuzz/fuzz_read.c $(FUZZ_COMMON) $(FUZZ_FMT) \
	tests/fuzz/replay_main.c
tests_fuzz_fuzz_read_CPPFLAGS = $(FUZZ_CPPFLAGS) -DFUZZ_HARNESS='"fuzz_read"'
tests_fuzz_fuzz_read_LDADD = daemon/librowdcore.la

tests_fuzz_fuzz_codec_SOURCES = tests/fuzz/fuzz_codec.c $(FUZZ_COMMON) $(FUZZ_FMT) \
	tests/fuzz/replay_main.c
tests_fuzz_fuzz_codec_CPPFLAGS = $(FUZZ_CPPFLAGS) -DFUZZ_HARNESS='"fuzz_codec"'
tests_fuzz_fuzz_codec_LDADD = daemon/librowdcore.la

tests_fuzz_fuzz_roundtrip_SOURCES = tests/fuzz/fuzz_roundtrip.c $(FUZZ_COMMON) $(FUZZ_FMT) \
	tests/fuzz/replay_main.c
tests_fuzz_fuzz_roundtrip_CPPFLAGS = $(FUZZ_CPPFLAGS) -DFUZZ_HARNESS='"fuzz_roundtrip"'
tests_fuzz_fuzz_roundtrip_LDADD = daemon/librowdcore.la

# The corpus ships file by file (a directory would also ship whatever an
# in-tree run left there): corpus.mk is written by `corpus.sh list`, and
# corpus.sh check (a test) fails when it misses a file.
include tests/fuzz/corpus.mk
EXTRA_DIST += $(FUZZ_CORPUS) tests/fuzz/corpus.mk tests/fuzz/run.sh tests/fuzz/seed.py
dist_noinst_SCRIPTS += tests/fuzz/corpus.sh
TESTS += tests/fuzz/corpus.sh

# make fuzz [FUZZ_SECONDS=N] [FUZZ_RUN="fuzz_read ..."]: what to compile
# comes from the lists above and the daemon's and proto's own, so that a
# format or codec added there is fuzzed too.
FUZZ_SECONDS = 120
FUZZ_RUN = $(FUZZ_HARNESSES)
fuzz:
	@echo "fuzz: $(FUZZ_RUN), $(FUZZ_SECONDS)s each"
	@FUZZ_SRCDIR='$(srcdir)' FUZZ_CC='$(FUZZ_CC)' FUZZ_HARNESSES_ALL='$(FUZZ_HARNESSES)' \
	FUZZ_LIB_SOURCES='$(filter %.c,$(daemon_librowdcore_la_SOURCES) $(proto_librowdproto_la_SOURCES))' \
	FUZZ_CPPFLAGS='$(DEFS) -I$(top_builddir) $(daemon_librowdcore_la_CPPFLAGS) $(FUZZ_CPPFLAGS)' \
	FUZZ_LIBS='$(filter-out %.la,$(daemon_librowdcore_la_LIBADD) $(proto_librowdproto_la_LIBADD)) $(LIBS)' \
	$(foreach h,$(FUZZ_HARNESSES),FUZZ_SRC_$(h)='$(filter-out %/replay_main.c,$(filter %.c,$(tests_fuzz_$(h)_SOURCES)))') \
	$(SHELL) $(srcdir)/tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_RUN)
FUZZ_CC = clang
.PHONY: fuzz
