/* The daemon: event base, listener, connections, workers, signals. */
#ifndef ROWD_SERVER_H
#define ROWD_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "paths.h"
#include "settings.h"

struct event_base;
struct evconnlistener;
struct event;
struct conn;
struct workers;

struct server {
	struct event_base *base;
	struct rowd_config cfg;
	/* Limits as formats see them: rows sit two levels deep in an answer
	 * ({rows: [row]}) and msgpack-c cannot unpack past 32 levels, so rows
	 * get two levels less than requests. */
	struct rowd_limits row_limits;
	struct roots roots;
	struct workers *workers;
	struct evconnlistener *listener;
	int listen_fd;
	bool socket_owned;          /* we created it (unlink at exit) */
	struct conn *conns;
	size_t nconns;
	uint64_t next_conn_id;
	size_t queued;              /* requests waiting on strands + in workers */
	bool stopping;
	struct event *ev_term, *ev_int, *ev_hup, *ev_tick, *ev_stop_timeout;
	unsigned long ticks;
};

/* Sets everything up (socket, roots, workers) from cfg (taken over). */
int server_init(struct server *s, struct rowd_config *cfg);
int server_run(struct server *s);
void server_free(struct server *s);

/* conn.c <-> server.c */
void server_conn_gone(struct server *s, struct conn *c);
/* Called when the last connection went away during a stop. */
void server_check_stopped(struct server *s);

#endif
