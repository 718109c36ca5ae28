# client/: librowd (public API rowd_*), rowcat.
lib_LTLIBRARIES += client/librowd.la
client_librowd_la_SOURCES = client/rowd/rowd.h client/librowd.c
client_librowd_la_LIBADD = proto/librowdproto.la $(MSGPACK_LIBS)
client_librowd_la_LDFLAGS = -version-info $(LIBROWD_LT_VERSION) \
	-export-symbols-regex '^rowd_'
rowdincludedir = $(includedir)/rowd
rowdinclude_HEADERS = client/rowd/rowd.h
pkgconfigdir = $(libdir)/pkgconfig
pkgconfig_DATA = client/librowd.pc
EXTRA_DIST += client/librowd.pc.in

bin_PROGRAMS += client/rowcat
client_rowcat_SOURCES = client/rowcat.c
client_rowcat_LDADD = client/librowd.la proto/librowdproto.la $(MSGPACK_LIBS)
