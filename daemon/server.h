/* The daemon: event base, listener, connections, workers, signals. */
#ifndef ROWD_SERVER_H
#define ROWD_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "runtime.h"
#include "settings.h"

struct event_base;
struct evconnlistener;
struct event;
struct conn;
struct workers;

struct server {
	struct event_base *base;
	/* The configuration in force, read by the loop thread only (limits of
	 * requests and connections, allowed peers); replaced on reload. The
	 * socket settings are those of the start: they need a restart. */
	struct rowd_config cfg;
	struct config_flags flags;  /* command line, replayed on reload */
	/* What jobs read (roots, limits): see runtime.h. */
	struct runtime *rt;
	bool reloading;             /* a reload job is in flight */
	bool reload_again;          /* SIGHUP during it: reload once more */
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
	/* fdlimit.c: accept() ran out of descriptors; the listener pauses. */
	struct event *ev_accept_resume;
	bool accept_starved;
};

/* Sets everything up (socket, roots, workers) from cfg and flags (both
 * taken over). Returns 0, -1, or SERVER_ECONFIG when the configuration
 * cannot be used (a root that does not exist...). */
#define SERVER_ECONFIG (-2)
int server_init(struct server *s, struct rowd_config *cfg, struct config_flags *flags);
int server_run(struct server *s);
void server_free(struct server *s);

/* conn.c <-> server.c */
void server_conn_gone(struct server *s, struct conn *c);
/* Called when the last connection went away during a stop. */
void server_check_stopped(struct server *s);
/* The number of worker threads cfg asks for (0 = one per core). */
unsigned server_workers_wanted(const struct rowd_config *cfg);

#endif
