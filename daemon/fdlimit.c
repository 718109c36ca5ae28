/* Descriptor limits and accept() under descriptor exhaustion (see fdlimit.h). */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "fdlimit.h"
#include "log.h"
#include "server.h"

#define ACCEPT_PAUSE_MS 100
/* The soft limit is raised no further: nothing here needs more, and a
 * huge hard limit (containers say 2^30) would only hide a leak. */
#define NOFILE_MAX (1u << 20)

void fdlimit_raise(void)
{
	struct rlimit rl;
	rlim_t want;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > NOFILE_MAX ? NOFILE_MAX : rl.rlim_max;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_warn("cannot raise the open files limit: %s", strerror(errno));
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		log_info("open files limit: %llu", (unsigned long long)rl.rlim_cur);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;

	if (s->listener && !s->stopping)
		evconnlistener_enable(s->listener);
}

/* libevent retries EINTR, EAGAIN and ECONNABORTED itself; anything else
 * lands here. Out of descriptors or memory, the pending connection stays
 * in the backlog and the listening socket stays readable: without a
 * pause the loop would spin on it. */
static void on_listen_error(struct evconnlistener *l, void *arg)
{
	struct server *s = arg;
	int e = EVUTIL_SOCKET_ERROR();
	struct timeval tv = { 0, ACCEPT_PAUSE_MS * 1000 };

	if (!s->accept_starved)
		log_warn("accept: %s (%zu connections open): pausing accept for %d ms at a time "
		         "until it works again", strerror(e), s->nconns, ACCEPT_PAUSE_MS);
	s->accept_starved = true;
	evconnlistener_disable(l);
	if (!s->ev_accept_resume || evtimer_add(s->ev_accept_resume, &tv) < 0) {
		log_error("cannot schedule accepting again: re-enabling now");
		evconnlistener_enable(l);
	}
}

int fdlimit_guard_accept(struct server *s)
{
	s->ev_accept_resume = evtimer_new(s->base, on_resume, s);
	if (!s->ev_accept_resume)
		return -1;
	evconnlistener_set_error_cb(s->listener, on_listen_error);
	return 0;
}

void fdlimit_accepted(struct server *s)
{
	if (s->accept_starved)
		log_info("accepting connections again (%zu open)", s->nconns);
	s->accept_starved = false;
}

void fdlimit_free(struct server *s)
{
	if (s->ev_accept_resume)
		event_free(s->ev_accept_resume);
	s->ev_accept_resume = NULL;
}
