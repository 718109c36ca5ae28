/* Raw-socket helpers for end-to-end tests that need bytes the client
 * libraries would never send (frames at and over a limit, a client that
 * does not read): requests written as JSON, answers read as msgpack or
 * as text lines, with a deadline. */
#ifndef ROWD_WIRE_H
#define ROWD_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <msgpack.h>

#include "mpbuf.h"

/* Appends the msgpack of a JSON text (default limits) to b; false if the
 * JSON is bad. */
bool wire_json(struct mpbuf *b, const char *json);
/* Sends all of p; false on error (EPIPE included). */
bool wire_send(int fd, const void *p, size_t n);

/* Answers read from a socket: each kept until wire_answers_free. */
#define WIRE_MAX 256
struct wire_answers {
	msgpack_unpacked up[WIRE_MAX];
	int n;
	bool eof;              /* the daemon closed the connection */
	char *buf;             /* the bytes of the answers */
	size_t len;
};

/* Reads until `want` answers are complete, the peer closes, or wait_ms.
 * Returns the number of answers; false-y eof means the wait ran out. */
int wire_read(int fd, struct wire_answers *w, int want, int wait_ms);
void wire_answers_free(struct wire_answers *w);
/* True when nothing more comes and the peer closes within wait_ms. */
bool wire_closed(int fd, int wait_ms);

/* Text mode: reads until `want` lines, the peer closes, or wait_ms.
 * Returns the text (malloc'd, NUL-terminated); *lines and *eof tell. */
char *wire_text(int fd, int want, int wait_ms, int *lines, bool *eof);

/* Field of a map, NULL when absent. */
const msgpack_object *wire_get(const msgpack_object *map, const char *key);
/* The error code of an answer ("" when it is ok or has none). */
const char *wire_code(const msgpack_object *ans);
/* True when the answer's error message contains needle. */
bool wire_msg_has(const msgpack_object *ans, const char *needle);
/* The error message of an answer ("" when none), for failure messages. */
const char *wire_msg(const msgpack_object *ans);
/* The answer whose id is the integer id, or NULL. */
const msgpack_object *wire_by_id(const struct wire_answers *w, uint64_t id);

#endif
