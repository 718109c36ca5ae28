# tests/: Check unit tests, end-to-end tests against the real daemon, shell
# tests (socat text mode, rowcat). All run by `make check`.
TEST_CPPFLAGS = $(AM_CPPFLAGS) $(CHECK_CFLAGS) $(LIBEVENT_CFLAGS) \
	-DTOP_SRCDIR='"$(abs_top_srcdir)"' -DTOP_BUILDDIR='"$(abs_top_builddir)"'
TEST_LDADD = daemon/librowdcore.la $(CHECK_LIBS)

check_PROGRAMS += tests/unit/test_proto tests/unit/test_csv tests/unit/test_json \
	tests/unit/test_codec tests/unit/test_paths tests/unit/test_cursor \
	tests/e2e/test_e2e tests/e2e/test_async

tests_unit_test_proto_SOURCES = tests/unit/test_proto.c
tests_unit_test_proto_CPPFLAGS = $(TEST_CPPFLAGS)
tests_unit_test_proto_LDADD = proto/librowdproto.la $(CHECK_LIBS)

tests_unit_test_csv_SOURCES = tests/unit/test_csv.c tests/unit/fmt_harness.h tests/unit/fmt_harness.c
tests_unit_test_csv_CPPFLAGS = $(TEST_CPPFLAGS)
tests_unit_test_csv_LDADD = $(TEST_LDADD)

tests_unit_test_json_SOURCES = tests/unit/test_json.c tests/unit/fmt_harness.h tests/unit/fmt_harness.c
tests_unit_test_json_CPPFLAGS = $(TEST_CPPFLAGS)
tests_unit_test_json_LDADD = $(TEST_LDADD)

# The sqlite test makes its databases with the sqlite3 API.
check_PROGRAMS += tests/unit/test_sqlite
tests_unit_test_sqlite_SOURCES = tests/unit/test_sqlite.c tests/unit/fmt_harness.h tests/unit/fmt_harness.c
tests_unit_test_sqlite_CPPFLAGS = $(TEST_CPPFLAGS) $(SQLITE_CFLAGS)
tests_unit_test_sqlite_LDADD = $(TEST_LDADD) $(SQLITE_LIBS)
if HAVE_LIBXML2
check_PROGRAMS += tests/unit/test_xml
endif
tests_unit_test_xml_SOURCES = tests/unit/test_xml.c tests/unit/fmt_harness.h tests/unit/fmt_harness.c
tests_unit_test_xml_CPPFLAGS = $(TEST_CPPFLAGS)
tests_unit_test_xml_LDADD = $(TEST_LDADD)

# Avro: the test builds containers itself, compressing blocks with each
# library the format was built with.
check_PROGRAMS += tests/unit/test_avro
tests_unit_test_avro_SOURCES = tests/unit/test_avro.c tests/unit/fmt_harness.h tests/unit/fmt_harness.c
tests_unit_test_avro_CPPFLAGS = $(TEST_CPPFLAGS) $(ZLIB_CFLAGS) $(SNAPPY_CFLAGS) $(LZMA_CFLAGS) \
	$(ZSTD_CFLAGS)
tests_unit_test_avro_LDADD = $(TEST_LDADD) $(ZLIB_LIBS) $(SNAPPY_LIBS) $(BZIP2_LIBS) \
	$(LZMA_LIBS) $(ZSTD_LIBS)

# Spreadsheets: the shared pieces always, each reader when it is built;
# XLSX workbooks are made in the test with libzip.
check_PROGRAMS += tests/unit/test_sheets
tests_unit_test_sheets_SOURCES = tests/unit/test_sheets.c tests/unit/fmt_harness.h tests/unit/fmt_harness.c
tests_unit_test_sheets_CPPFLAGS = $(TEST_CPPFLAGS)
tests_unit_test_sheets_LDADD = $(TEST_LDADD)
if HAVE_FREEXL
tests_unit_test_sheets_CPPFLAGS += -DROWD_WITH_XLS
endif
if HAVE_XLSX_READ
tests_unit_test_sheets_CPPFLAGS += -DROWD_WITH_XLSX $(LIBZIP_CFLAGS)
tests_unit_test_sheets_LDADD += $(LIBZIP_LIBS)
endif

# The XLSX writer, checked through the reader (so only with it), libzip,
# libxml2 and Python's zipfile.
if HAVE_XLSX_READ
check_PROGRAMS += tests/unit/test_xlsx_write
endif
tests_unit_test_xlsx_write_SOURCES = tests/unit/test_xlsx_write.c tests/unit/fmt_harness.h \
	tests/unit/fmt_harness.c
tests_unit_test_xlsx_write_CPPFLAGS = $(TEST_CPPFLAGS) $(LIBZIP_CFLAGS) $(LIBXML2_CFLAGS)
tests_unit_test_xlsx_write_LDADD = $(TEST_LDADD) $(LIBZIP_LIBS) $(LIBXML2_LIBS)

check_PROGRAMS += tests/unit/test_formats
tests_unit_test_formats_SOURCES = tests/unit/test_formats.c tests/unit/fmt_harness.h tests/unit/fmt_harness.c
tests_unit_test_formats_CPPFLAGS = $(TEST_CPPFLAGS)
tests_unit_test_formats_LDADD = $(TEST_LDADD)
check_PROGRAMS += tests/unit/test_bson
tests_unit_test_bson_SOURCES = tests/unit/test_bson.c tests/unit/fmt_harness.h tests/unit/fmt_harness.c
tests_unit_test_bson_CPPFLAGS = $(TEST_CPPFLAGS)
tests_unit_test_bson_LDADD = $(TEST_LDADD)
check_PROGRAMS += tests/unit/test_dbf
tests_unit_test_dbf_SOURCES = tests/unit/test_dbf.c tests/unit/fmt_harness.h tests/unit/fmt_harness.c
tests_unit_test_dbf_CPPFLAGS = $(TEST_CPPFLAGS)
tests_unit_test_dbf_LDADD = $(TEST_LDADD)
# Library codecs; the test also calls each library to make foreign streams.
check_PROGRAMS += tests/unit/test_codecs
tests_unit_test_codecs_SOURCES = tests/unit/test_codecs.c tests/unit/codec_harness.h tests/unit/codec_harness.c
tests_unit_test_codecs_CPPFLAGS = $(TEST_CPPFLAGS) $(LZMA_CFLAGS) $(ZSTD_CFLAGS) $(LZ4_CFLAGS) \
	$(BROTLI_CFLAGS) $(LIBZIP_CFLAGS)
tests_unit_test_codecs_LDADD = $(TEST_LDADD) $(BZIP2_LIBS) $(LZMA_LIBS) $(ZSTD_LIBS) \
	$(LZ4_LIBS) $(BROTLI_LIBS) $(LIBZIP_LIBS)

tests_unit_test_codec_SOURCES = tests/unit/test_codec.c tests/unit/codec_harness.h tests/unit/codec_harness.c
tests_unit_test_codec_CPPFLAGS = $(TEST_CPPFLAGS)
tests_unit_test_codec_LDADD = $(TEST_LDADD)

tests_unit_test_paths_SOURCES = tests/unit/test_paths.c
tests_unit_test_paths_CPPFLAGS = $(TEST_CPPFLAGS)
tests_unit_test_paths_LDADD = $(TEST_LDADD)

tests_unit_test_cursor_SOURCES = tests/unit/test_cursor.c
tests_unit_test_cursor_CPPFLAGS = $(TEST_CPPFLAGS)
tests_unit_test_cursor_LDADD = client/librowd.la $(CHECK_LIBS) $(MSGPACK_LIBS)

check_PROGRAMS += tests/e2e/test_stream
tests_e2e_test_stream_SOURCES = tests/e2e/test_stream.c tests/e2e/daemon_fixture.h tests/e2e/daemon_fixture.c
tests_e2e_test_stream_CPPFLAGS = $(TEST_CPPFLAGS)
tests_e2e_test_stream_LDADD = $(CHECK_LIBS) $(MSGPACK_LIBS)

tests_e2e_test_e2e_SOURCES = tests/e2e/test_e2e.c tests/e2e/daemon_fixture.h tests/e2e/daemon_fixture.c
tests_e2e_test_e2e_CPPFLAGS = $(TEST_CPPFLAGS)
tests_e2e_test_e2e_LDADD = client/librowd.la proto/librowdproto.la $(CHECK_LIBS) $(MSGPACK_LIBS)

tests_e2e_test_async_SOURCES = tests/e2e/test_async.c tests/e2e/daemon_fixture.h tests/e2e/daemon_fixture.c
tests_e2e_test_async_CPPFLAGS = $(TEST_CPPFLAGS)
tests_e2e_test_async_LDADD = client/librowd.la proto/librowdproto.la $(CHECK_LIBS) \
	$(LIBEVENT_LIBS) $(MSGPACK_LIBS)

TESTS += $(check_PROGRAMS) tests/shell/text_mode.sh tests/shell/rowcat.sh
TESTS += tests/shell/systemd.sh tests/shell/config.sh
TESTS += tests/python/run.sh
dist_noinst_SCRIPTS += tests/python/run.sh
# Listed one by one: a directory here would also ship test logs and
# byte code left by an in-tree run.
EXTRA_DIST += tests/bench/py_bench.py client/python/README.md \
	tests/python/conftest.py \
	tests/python/test_client.py \
	tests/python/test_concurrency.py \
	tests/python/test_conformance.py \
	tests/python/test_errors.py \
	tests/python/test_matrix.py \
	tests/python/test_read.py \
	tests/python/test_sync.py \
	tests/python/test_write.py \
	client/python/rowd/__init__.py \
	client/python/rowd/client.py \
	client/python/rowd/errors.py \
	client/python/rowd/iterable.py \
	client/python/rowd/sync.py
dist_noinst_SCRIPTS += tests/shell/text_mode.sh tests/shell/rowcat.sh tests/shell/lib.sh
dist_noinst_SCRIPTS += tests/shell/systemd.sh tests/shell/config.sh
AM_TESTS_ENVIRONMENT = \
	ROWD_TOP_SRCDIR='$(abs_top_srcdir)'; export ROWD_TOP_SRCDIR; \
	ROWD_TOP_BUILDDIR='$(abs_top_builddir)'; export ROWD_TOP_BUILDDIR; \
	SOCAT='$(SOCAT)'; export SOCAT; \
	CK_DEFAULT_TIMEOUT=60; export CK_DEFAULT_TIMEOUT;

# Benchmarks: built by `make bench`, never by `make check`.
EXTRA_PROGRAMS = tests/bench/inproc tests/bench/bench
tests_bench_inproc_SOURCES = tests/bench/inproc.c
tests_bench_inproc_CPPFLAGS = $(TEST_CPPFLAGS)
tests_bench_inproc_LDADD = daemon/librowdcore.la client/librowd.la
tests_bench_bench_SOURCES = tests/bench/bench.c
tests_bench_bench_CPPFLAGS = $(TEST_CPPFLAGS)
tests_bench_bench_LDADD = client/librowd.la $(MSGPACK_LIBS)
CLEANFILES += $(EXTRA_PROGRAMS)
EXTRA_DIST += tests/bench/run.sh

bench: daemon/rowd $(EXTRA_PROGRAMS)
	ROWD_TOP_SRCDIR='$(abs_top_srcdir)' ROWD_TOP_BUILDDIR='$(abs_top_builddir)' \
		$(SHELL) $(srcdir)/tests/bench/run.sh
.PHONY: bench

# Encoding detection and conversion to UTF-8.
check_PROGRAMS += tests/unit/test_charset
tests_unit_test_charset_SOURCES = tests/unit/test_charset.c tests/unit/fmt_harness.h tests/unit/fmt_harness.c
tests_unit_test_charset_CPPFLAGS = $(TEST_CPPFLAGS)
tests_unit_test_charset_LDADD = $(TEST_LDADD)

# Allocation failure injection (malloc interposed in the test itself).
check_PROGRAMS += tests/unit/test_alloc_fail
tests_unit_test_alloc_fail_SOURCES = tests/unit/test_alloc_fail.c tests/unit/fmt_harness.h \
	tests/unit/fmt_harness.c
tests_unit_test_alloc_fail_CPPFLAGS = $(TEST_CPPFLAGS)
# The compiler must not treat malloc as the builtin it knows (it would move
# the arming of the hooks across the calls).
tests_unit_test_alloc_fail_CFLAGS = $(AM_CFLAGS) -fno-builtin
tests_unit_test_alloc_fail_LDADD = $(TEST_LDADD)

# Misbehaving clients and conditions against the real daemon.
check_PROGRAMS += tests/e2e/test_abuse
tests_e2e_test_abuse_SOURCES = tests/e2e/test_abuse.c tests/e2e/daemon_fixture.h tests/e2e/daemon_fixture.c
tests_e2e_test_abuse_CPPFLAGS = $(TEST_CPPFLAGS)
tests_e2e_test_abuse_LDADD = client/librowd.la $(CHECK_LIBS) $(MSGPACK_LIBS)
# The soak test: run by hand (README, "Soak test"), never by make check.
dist_noinst_SCRIPTS += tests/soak/soak.py

# Limits at their boundary, peer credentials, paths as a client sends them.
check_PROGRAMS += tests/e2e/test_limits
tests_e2e_test_limits_SOURCES = tests/e2e/test_limits.c tests/e2e/wire.h tests/e2e/wire.c \
	tests/e2e/daemon_fixture.h tests/e2e/daemon_fixture.c
tests_e2e_test_limits_CPPFLAGS = $(TEST_CPPFLAGS)
tests_e2e_test_limits_LDADD = client/librowd.la proto/librowdproto.la $(CHECK_LIBS) \
	$(MSGPACK_LIBS) $(PTHREAD_LIBS)
