/* Drives a rowd_async context from a libevent event_base.
 *
 * Header-only, so that librowd itself never links libevent: a program
 * that uses this adapter links libevent on its own.
 *
 *     rowd_async *ac = rowd_async_connect(NULL);
 *     if (!ac || rowd_async_broken(ac) || rowd_libevent_attach(ac, base) < 0) ...
 *     rowd_async_open(ac, "data.csv", NULL, on_open, state);
 *     event_base_dispatch(base);
 *
 * The adapter's events are freed with the context (rowd_async_free); they
 * are removed from the base as soon as the connection is lost, so the
 * loop ends once nothing else is pending.
 */
#ifndef ROWD_ADAPTERS_LIBEVENT_H
#define ROWD_ADAPTERS_LIBEVENT_H

#include <stdlib.h>
#include <event2/event.h>

#include "../rowd.h"

struct rowd_libevent {
	rowd_async *ac;
	struct event *rev, *wev;
};

/* The handler may free the context and with it this adapter: nothing is
 * touched after it. */
static inline void rowd_libevent_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct rowd_libevent *e = (struct rowd_libevent *)arg;

	(void)fd;
	(void)what;
	rowd_async_handle_read(e->ac);
}

static inline void rowd_libevent_on_write(evutil_socket_t fd, short what, void *arg)
{
	struct rowd_libevent *e = (struct rowd_libevent *)arg;

	(void)fd;
	(void)what;
	rowd_async_handle_write(e->ac);
}

static inline void rowd_libevent_add_read(void *data)
{
	event_add(((struct rowd_libevent *)data)->rev, NULL);
}

static inline void rowd_libevent_del_read(void *data)
{
	event_del(((struct rowd_libevent *)data)->rev);
}

static inline void rowd_libevent_add_write(void *data)
{
	event_add(((struct rowd_libevent *)data)->wev, NULL);
}

static inline void rowd_libevent_del_write(void *data)
{
	event_del(((struct rowd_libevent *)data)->wev);
}

static inline void rowd_libevent_cleanup(void *data)
{
	struct rowd_libevent *e = (struct rowd_libevent *)data;

	if (e->rev)
		event_free(e->rev);
	if (e->wev)
		event_free(e->wev);
	free(e);
}

/* 0, or -1 when the context is broken, already attached, or out of
 * memory. */
static inline int rowd_libevent_attach(rowd_async *ac, struct event_base *base)
{
	struct rowd_libevent *e;
	struct rowd_async_events ev;
	int fd = rowd_async_fd(ac);

	if (fd < 0)
		return -1;
	e = (struct rowd_libevent *)calloc(1, sizeof *e);
	if (!e)
		return -1;
	e->ac = ac;
	e->rev = event_new(base, fd, EV_READ | EV_PERSIST, rowd_libevent_on_read, e);
	e->wev = event_new(base, fd, EV_WRITE | EV_PERSIST, rowd_libevent_on_write, e);
	ev.data = e;
	ev.add_read = rowd_libevent_add_read;
	ev.del_read = rowd_libevent_del_read;
	ev.add_write = rowd_libevent_add_write;
	ev.del_write = rowd_libevent_del_write;
	ev.cleanup = rowd_libevent_cleanup;
	if (!e->rev || !e->wev || rowd_async_set_events(ac, &ev) < 0) {
		rowd_libevent_cleanup(e);
		return -1;
	}
	return 0;
}

#endif
