# tests/: Check unit tests, end-to-end tests against the real daemon, shell
# tests (socat text mode, rowcat). All run by `make check`.
TEST_CPPFLAGS = $(AM_CPPFLAGS) $(CHECK_CFLAGS) $(LIBEVENT_CFLAGS) \
	-DTOP_SRCDIR='"$(abs_top_srcdir)"' -DTOP_BUILDDIR='"$(abs_top_builddir)"'
TEST_LDADD = daemon/librowdcore.la $(CHECK_LIBS)

check_PROGRAMS += tests/unit/test_proto tests/unit/test_csv tests/unit/test_json \
	tests/unit/test_codec tests/unit/test_paths tests/e2e/test_e2e

tests_unit_test_proto_SOURCES = tests/unit/test_proto.c
tests_unit_test_proto_CPPFLAGS = $(TEST_CPPFLAGS)
tests_unit_test_proto_LDADD = proto/librowdproto.la $(CHECK_LIBS)

tests_unit_test_csv_SOURCES = tests/unit/test_csv.c tests/unit/fmt_harness.h tests/unit/fmt_harness.c
tests_unit_test_csv_CPPFLAGS = $(TEST_CPPFLAGS)
tests_unit_test_csv_LDADD = $(TEST_LDADD)

tests_unit_test_json_SOURCES = tests/unit/test_json.c tests/unit/fmt_harness.h tests/unit/fmt_harness.c
tests_unit_test_json_CPPFLAGS = $(TEST_CPPFLAGS)
tests_unit_test_json_LDADD = $(TEST_LDADD)

tests_unit_test_codec_SOURCES = tests/unit/test_codec.c
tests_unit_test_codec_CPPFLAGS = $(TEST_CPPFLAGS)
tests_unit_test_codec_LDADD = $(TEST_LDADD)

tests_unit_test_paths_SOURCES = tests/unit/test_paths.c
tests_unit_test_paths_CPPFLAGS = $(TEST_CPPFLAGS)
tests_unit_test_paths_LDADD = $(TEST_LDADD)

tests_e2e_test_e2e_SOURCES = tests/e2e/test_e2e.c tests/e2e/daemon_fixture.h tests/e2e/daemon_fixture.c
tests_e2e_test_e2e_CPPFLAGS = $(TEST_CPPFLAGS)
tests_e2e_test_e2e_LDADD = client/librowd.la proto/librowdproto.la $(CHECK_LIBS) $(MSGPACK_LIBS)

TESTS += $(check_PROGRAMS) tests/shell/text_mode.sh tests/shell/rowcat.sh
dist_noinst_SCRIPTS += tests/shell/text_mode.sh tests/shell/rowcat.sh tests/shell/lib.sh
AM_TESTS_ENVIRONMENT = \
	ROWD_TOP_SRCDIR='$(abs_top_srcdir)'; export ROWD_TOP_SRCDIR; \
	ROWD_TOP_BUILDDIR='$(abs_top_builddir)'; export ROWD_TOP_BUILDDIR; \
	SOCAT='$(SOCAT)'; export SOCAT; \
	CK_DEFAULT_TIMEOUT=60; export CK_DEFAULT_TIMEOUT;

# Benchmarks: built by `make bench`, never by `make check`.
EXTRA_PROGRAMS = tests/bench/inproc
tests_bench_inproc_SOURCES = tests/bench/inproc.c
tests_bench_inproc_CPPFLAGS = $(TEST_CPPFLAGS)
tests_bench_inproc_LDADD = daemon/librowdcore.la
CLEANFILES += $(EXTRA_PROGRAMS)
