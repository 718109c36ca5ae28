# client/: librowd (public API rowd_*), rowcat.
lib_LTLIBRARIES += client/librowd.la
client_librowd_la_SOURCES = client/rowd/rowd.h client/librowd.c \
	client/conn_common.h client/conn_common.c client/librowd_async.c client/cursor.c
client_librowd_la_LIBADD = proto/librowdproto.la $(MSGPACK_LIBS)
# An explicit list: proto's rowd_err_name & co. are linked in but private.
client_librowd_la_LDFLAGS = -version-info $(LIBROWD_LT_VERSION) \
	-export-symbols $(srcdir)/client/librowd.sym
EXTRA_client_librowd_la_DEPENDENCIES = client/librowd.sym
rowdincludedir = $(includedir)/rowd
rowdinclude_HEADERS = client/rowd/rowd.h
rowdadaptersdir = $(includedir)/rowd/adapters
rowdadapters_HEADERS = client/rowd/adapters/libevent.h
pkgconfigdir = $(libdir)/pkgconfig
pkgconfig_DATA = client/librowd.pc
EXTRA_DIST += client/librowd.pc.in client/librowd.sym

bin_PROGRAMS += client/rowcat
client_rowcat_SOURCES = client/rowcat.c
client_rowcat_LDADD = client/librowd.la proto/librowdproto.la $(MSGPACK_LIBS)

# Examples of the async API, driven by the header-only libevent adapter.
noinst_PROGRAMS += examples/async_gather examples/async_enrich
EXAMPLE_CPPFLAGS = $(AM_CPPFLAGS) $(LIBEVENT_CFLAGS)
EXAMPLE_LDADD = client/librowd.la $(LIBEVENT_LIBS) $(MSGPACK_LIBS)
examples_async_gather_SOURCES = examples/async_gather.c
examples_async_gather_CPPFLAGS = $(EXAMPLE_CPPFLAGS)
examples_async_gather_LDADD = $(EXAMPLE_LDADD)
examples_async_enrich_SOURCES = examples/async_enrich.c
examples_async_enrich_CPPFLAGS = $(EXAMPLE_CPPFLAGS)
examples_async_enrich_LDADD = $(EXAMPLE_LDADD)
