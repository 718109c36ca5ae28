/* Requests as the loop thread holds them: one frame's bytes and its
 * decoded msgpack object (see struct reqmsg in conn.h). Apart from the
 * connection code so that the unit tests can drive it. */
#include "config.h"

#include <stdlib.h>

#include "conn.h"

void reqmsg_free(struct reqmsg *m)
{
	if (!m)
		return;
	msgpack_unpacked_destroy(&m->up);
	free(m->buf);
	free(m);
}

struct reqmsg *reqmsg_from(char *buf, size_t len, struct rowd_error *err)
{
	struct reqmsg *m = calloc(1, sizeof *m);
	msgpack_unpack_return r;
	size_t off = 0;

	if (!m) {
		free(buf);
		rowd_error_set(err, ROWD_ENOMEM, "out of memory for a request");
		return NULL;
	}
	m->buf = buf;
	m->len = len;
	msgpack_unpacked_init(&m->up);
	r = msgpack_unpack_next(&m->up, buf, len, &off);
	if (r != MSGPACK_UNPACK_SUCCESS) {
		reqmsg_free(m);
		/* The scanner has vouched for the frame: a failure here is
		 * msgpack-c's zone running out of memory, not bad bytes. */
		if (r == MSGPACK_UNPACK_NOMEM_ERROR)
			rowd_error_set(err, ROWD_ENOMEM, "out of memory decoding a request");
		else
			rowd_error_set(err, ROWD_EPROTO, "undecodable msgpack frame");
		return NULL;
	}
	return m;
}
