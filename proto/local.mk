# proto/: the wire protocol, shared by the daemon and librowd.
noinst_LTLIBRARIES += proto/librowdproto.la
proto_librowdproto_la_SOURCES = \
	proto/rowd_proto.h \
	proto/mpbuf.h proto/mpbuf.c \
	proto/errors.c \
	proto/scan.c \
	proto/request.c \
	proto/answer.c \
	proto/json.c \
	proto/utf8.c \
	proto/text.c
proto_librowdproto_la_LIBADD = $(MSGPACK_LIBS) $(YAJL_LIBS)
