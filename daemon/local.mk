# daemon/: rowd. Everything but main.c is a convenience library so that
# the unit tests link the same objects.
noinst_LTLIBRARIES += daemon/librowdcore.la
daemon_librowdcore_la_CPPFLAGS = $(AM_CPPFLAGS) $(LIBEVENT_CFLAGS) $(SQLITE_CFLAGS) $(ZLIB_CFLAGS)
daemon_librowdcore_la_SOURCES = \
	daemon/codec.h daemon/input.h daemon/output.h daemon/format.h daemon/options.h \
	daemon/rawio.c daemon/input.c daemon/output.c daemon/options.c \
	daemon/paths.h daemon/paths.c \
	daemon/wfile.h daemon/wfile.c \
	daemon/detect.h daemon/detect.c \
	daemon/charset.h daemon/charset.c daemon/transcode.h daemon/transcode.c \
	daemon/settings.h daemon/settings.c \
	daemon/log.h daemon/log.c \
	daemon/notify.h daemon/notify.c \
	daemon/runtime.h daemon/runtime.c \
	daemon/stats.h daemon/stats.c \
	daemon/workers.h daemon/workers.c \
	daemon/handle.h daemon/handle.c \
	daemon/jobs.h daemon/jobs.c \
	daemon/conn.h daemon/conn.c \
	daemon/dispatch.c daemon/convert.c \
	daemon/reqmsg.c \
	daemon/fdlimit.h daemon/fdlimit.c \
	daemon/server.h daemon/server.c \
	daemon/codecs/registry.c daemon/codecs/none.c daemon/codecs/gzip.c \
	daemon/codecs/stream.h daemon/codecs/stream.c \
	daemon/formats/registry.c daemon/formats/csv.c \
	daemon/formats/csv_sniff.h daemon/formats/csv_sniff.c \
	daemon/formats/jsonl.c daemon/formats/json.c daemon/formats/unavailable.c
daemon_librowdcore_la_LIBADD = proto/librowdproto.la $(LIBEVENT_LIBS) $(SQLITE_LIBS) \
	$(ZLIB_LIBS) $(ISAL_LIBS) $(MSGPACK_LIBS) $(YAJL_LIBS) $(PTHREAD_LIBS) \
	$(BZIP2_LIBS) $(LZMA_LIBS) $(ZSTD_LIBS) $(LZ4_LIBS) $(BROTLI_LIBS) $(LIBZIP_LIBS) \
	$(LIBXML2_LIBS) $(FREEXL_LIBS)
daemon_librowdcore_la_CPPFLAGS += $(LZMA_CFLAGS) $(ZSTD_CFLAGS) $(LZ4_CFLAGS) $(BROTLI_CFLAGS) \
	$(LIBZIP_CFLAGS) $(LIBXML2_CFLAGS) $(FREEXL_CFLAGS)

# Path walk without openat2; peer credentials; packed size of written rows.
daemon_librowdcore_la_SOURCES += daemon/beneath.h daemon/beneath.c daemon/peer.h daemon/peer.c \
	daemon/rowsize.h daemon/rowsize.c

# Optional formats and codecs: each implemented one is listed here under
# its library's conditional with -DROWD_WITH_<NAME>; without it, the
# registry keeps a stub that answers ENOTSUP naming the library.
# These need no library beyond msgpack-c: always built.
daemon_librowdcore_la_SOURCES += daemon/formats/msgpack.c daemon/formats/ltsv.c \
	daemon/formats/fwf.c daemon/formats/textline.h daemon/formats/textline.c
# Day counts to dates, for the readers that write ISO dates (avro, bson,
# dbf, spreadsheets).
daemon_librowdcore_la_SOURCES += daemon/formats/civil.h daemon/formats/civil.c
# msgpack bin values, for the readers that pass bytes through.
daemon_librowdcore_la_SOURCES += daemon/formats/mpbin.h daemon/formats/mpbin.c
# dBase tables: our own reader, iconv for their code pages (see formats/dbf.c).
daemon_librowdcore_la_SOURCES += daemon/formats/dbf.h daemon/formats/dbf.c \
	daemon/formats/dbf_text.c daemon/formats/dbf_value.c
# BSON: our own reader and writer, no libbson (see formats/bson.c).
daemon_librowdcore_la_SOURCES += daemon/formats/bson.c daemon/formats/bson_value.h \
	daemon/formats/bson_value.c
# Avro: our own container reader/writer over yajl and zlib (always built);
# snappy blocks when libsnappy is found; bzip2/xz/zstd blocks follow HAVE_*.
daemon_librowdcore_la_SOURCES += daemon/formats/avro.h daemon/formats/avro.c \
	daemon/formats/avro_schema.c daemon/formats/avro_decode.c daemon/formats/avro_codec.c \
	daemon/formats/avro_write.c
daemon_librowdcore_la_CPPFLAGS += $(SNAPPY_CFLAGS)
daemon_librowdcore_la_LIBADD += $(SNAPPY_LIBS)
# sqlite3 is a required dependency.
daemon_librowdcore_la_SOURCES += daemon/formats/sqlite.c
if HAVE_LIBXML2
daemon_librowdcore_la_SOURCES += daemon/formats/xmlinit.h daemon/formats/xmlinit.c
daemon_librowdcore_la_SOURCES += daemon/formats/xml.c
daemon_librowdcore_la_CPPFLAGS += -DROWD_WITH_XML
endif
# Spreadsheets: rows from cells, shared by the xls and xlsx readers (no
# library of its own).
daemon_librowdcore_la_SOURCES += daemon/formats/sheet.h daemon/formats/sheet.c \
	daemon/formats/sheet_value.c
if HAVE_FREEXL
daemon_librowdcore_la_SOURCES += daemon/formats/xls.c
daemon_librowdcore_la_CPPFLAGS += -DROWD_WITH_XLS
endif
# The zip writer needs only zlib; the XLSX writer only it (always built:
# without the reader below, xlsx_write.c registers xlsx as write only).
daemon_librowdcore_la_SOURCES += daemon/codecs/zipwrite.h daemon/codecs/zipwrite.c \
	daemon/formats/xlsx_write.h daemon/formats/xlsx_write.c daemon/formats/xlsx_cell.c
# XLSX reading needs libzip (the container) and libxml2 (its parts).
if HAVE_XLSX_READ
daemon_librowdcore_la_SOURCES += daemon/formats/xlsx.h daemon/formats/xlsx.c \
	daemon/formats/xlsx_book.c daemon/formats/xlsx_zip.c
daemon_librowdcore_la_CPPFLAGS += -DROWD_WITH_XLSX
endif
if HAVE_BZIP2
daemon_librowdcore_la_SOURCES += daemon/codecs/bzip2.c
daemon_librowdcore_la_CPPFLAGS += -DROWD_WITH_BZIP2
endif
if HAVE_LZMA
daemon_librowdcore_la_SOURCES += daemon/codecs/xz.c
daemon_librowdcore_la_CPPFLAGS += -DROWD_WITH_XZ
endif
if HAVE_ZSTD
daemon_librowdcore_la_SOURCES += daemon/codecs/zstd.c
daemon_librowdcore_la_CPPFLAGS += -DROWD_WITH_ZSTD
endif
if HAVE_LZ4
daemon_librowdcore_la_SOURCES += daemon/codecs/lz4.c
daemon_librowdcore_la_CPPFLAGS += -DROWD_WITH_LZ4
endif
if HAVE_BROTLI
daemon_librowdcore_la_SOURCES += daemon/codecs/brotli.c
daemon_librowdcore_la_CPPFLAGS += -DROWD_WITH_BROTLI
endif
if HAVE_LIBZIP
daemon_librowdcore_la_SOURCES += daemon/codecs/zip.c \
	daemon/codecs/ziptail.h daemon/codecs/ziptail.c
# The pread source is shared with the XLSX reader (which needs libzip).
daemon_librowdcore_la_SOURCES += daemon/codecs/zipsource.h daemon/codecs/zipsource.c
daemon_librowdcore_la_CPPFLAGS += -DROWD_WITH_ZIP
endif

sbin_PROGRAMS += daemon/rowd
daemon_rowd_SOURCES = daemon/main.c
daemon_rowd_CPPFLAGS = $(AM_CPPFLAGS) $(LIBEVENT_CFLAGS)
daemon_rowd_LDADD = daemon/librowdcore.la
