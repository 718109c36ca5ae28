/* Connections: owned by the loop thread. A connection with jobs in flight
 * is parked (marked dead, socket closed) and freed when the last job and
 * the last handle come back. */
#ifndef ROWD_CONN_H
#define ROWD_CONN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <msgpack.h>

#include "mpbuf.h"
#include "rowd_proto.h"

struct server;
struct handle;
struct bufferevent;
struct evbuffer_cb_entry;

enum conn_enc { ENC_UNKNOWN, ENC_BINARY, ENC_TEXT };

/* One decoded request; owns its bytes (objects point into buf). */
struct reqmsg {
	struct reqmsg *next;
	char *buf;
	size_t len;
	msgpack_unpacked up;
	struct rowd_request req;
	atomic_bool cancel;         /* stream/convert: `cancel` arrived */
	struct reqmsg *next_active; /* conn's list of running converts */
	void *state;                /* a convert's state between steps */
};

struct conn {
	struct conn *prev, *next;
	struct server *srv;
	struct bufferevent *bev;
	uint64_t id;
	enum conn_enc enc;

	struct mpbuf in;            /* unparsed input is in.data[in_off..in.len) */
	size_t in_off;
	struct proto_scanner scan;

	struct handle **slots;      /* handle number n lives in slots[n-1] */
	size_t nslots;
	size_t nhandles;            /* handle objects alive (slots + detached) */
	struct handle *blocked;     /* handles waiting for the output to drain */
	struct reqmsg *converts;    /* running converts (for cancel) */

	uint64_t text_lines;        /* requests read in text mode (default ids) */
	unsigned jobs;              /* jobs in flight */
	bool eof;                   /* peer shut down its sending side */
	bool closing;               /* close once the output is written */
	bool dead;                  /* socket gone: nothing more is sent */

	uint64_t last_active_ms;    /* last input or output taken, CLOCK_MONOTONIC */
	struct evbuffer_cb_entry *out_cb;

	pid_t pid;
	uid_t uid;
	gid_t gid;
};

struct peer;

/* Takes fd; p: the peer as read at accept. */
struct conn *conn_new(struct server *srv, int fd, const struct peer *p);
/* Takes ownership of data (malloc'd): appended to the output without a
 * copy, or freed when the connection is dead. */
void conn_send(struct conn *c, char *data, size_t len);
/* Sends a msgpack answer built in b (converted for text connections). */
void conn_send_answer(struct conn *c, struct mpbuf *b);
void conn_send_error(struct conn *c, const char *id_raw, size_t id_len,
                     const struct rowd_error *err);
bool conn_output_full(const struct conn *c);
/* Closes now: drops the socket, cancels handles, frees when possible. */
void conn_kill(struct conn *c);
/* Re-checks whether a half-closed connection is finished. */
void conn_check_done(struct conn *c);
/* Called when a job or handle of c is finished. */
void conn_maybe_free(struct conn *c);
/* The daemon is stopping: what was asked runs on (ignoring backpressure:
 * streams end at their next step), then the connection closes once idle
 * with its answers written and nothing more sent by the peer. */
void conn_drain(struct conn *c);
/* A reload changed the limits: apply what the connection holds. */
void conn_limits_changed(struct conn *c);
/* Closes c when nothing moved for timeout seconds (conn.c says what
 * counts): an idle one with an ELIMIT answer, a stalled one at once. */
void conn_check_idle(struct conn *c, unsigned timeout);

/* reqmsg.c. Takes buf (malloc'd, one whole frame), also on failure:
 * NULL with ENOMEM, or EPROTO when the bytes do not decode. */
struct reqmsg *reqmsg_from(char *buf, size_t len, struct rowd_error *err);
void reqmsg_free(struct reqmsg *m);
void conn_forget_convert(struct conn *c, struct reqmsg *m);
/* Text mode: a request without an id is answered with its request number
 * on the connection, so a person can match answers to lines. */
void conn_default_id(const struct conn *c, char *id_raw, size_t *id_len);

/* dispatch.c: one decoded frame (bytes owned by m). */
void dispatch_request(struct conn *c, struct reqmsg *m);

#endif
