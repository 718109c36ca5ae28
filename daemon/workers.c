/* Worker pool (see workers.h). */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <event2/event.h>

#include "log.h"
#include "stats.h"
#include "workers.h"

struct workers {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job *head, *tail;        /* queued */
	bool stopping;

	pthread_mutex_t done_lock;
	struct job *done;               /* finished, newest first */
	struct event *done_ev;

	size_t in_flight;               /* loop thread only */
	/* Threads by slot. A slot told to quit (the pool shrank) exits once
	 * it is between jobs and is joined later, when it has: the loop
	 * thread never waits for a running job. */
	struct wslot {
		pthread_t tid;
		bool quit;              /* under lock */
		bool exited;            /* under lock */
		bool joined;            /* loop thread: slot free */
	} *t;
	unsigned nt, cap;               /* slots in use (loop thread) */
	unsigned n;                     /* threads wanted */
};

struct wstart {
	struct workers *w;
	unsigned slot;
};

static void *worker_main(void *arg)
{
	struct wstart *ws = arg;
	struct workers *w = ws->w;
	unsigned slot = ws->slot;

	free(ws);
	for (;;) {
		struct job *j;
		bool wake;

		pthread_mutex_lock(&w->lock);
		while (!w->head && !w->stopping && !w->t[slot].quit)
			pthread_cond_wait(&w->cond, &w->lock);
		j = w->t[slot].quit ? NULL : w->head;
		if (!j) {
			w->t[slot].exited = true;
			pthread_mutex_unlock(&w->lock);
			return NULL;
		}
		w->head = j->next;
		if (!w->head)
			w->tail = NULL;
		pthread_mutex_unlock(&w->lock);

		atomic_fetch_sub(&g_stats.jobs_queued, 1);
		atomic_fetch_add(&g_stats.jobs_running, 1);
		j->ops->run(j);
		atomic_fetch_sub(&g_stats.jobs_running, 1);

		pthread_mutex_lock(&w->done_lock);
		wake = w->done == NULL;
		j->next = w->done;
		w->done = j;
		pthread_mutex_unlock(&w->done_lock);
		if (wake)
			event_active(w->done_ev, EV_READ, 0);
	}
}

static void run_done(struct workers *w)
{
	struct job *list, *rev = NULL;

	pthread_mutex_lock(&w->done_lock);
	list = w->done;
	w->done = NULL;
	pthread_mutex_unlock(&w->done_lock);
	/* Completion order = submission order per strand only matters within
	 * a handle (one job at a time), but FIFO keeps answers fair. */
	while (list) {
		struct job *next = list->next;

		list->next = rev;
		rev = list;
		list = next;
	}
	while (rev) {
		struct job *next = rev->next;

		w->in_flight--;
		rev->ops->done(rev);
		rev = next;
	}
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
	run_done(arg);
}

/* Joins the threads that have exited; with all, every thread (the caller
 * has told them to stop). Slots keep their index: a thread finds its
 * flags by it. Loop thread. */
static void join_exited(struct workers *w, bool all)
{
	for (unsigned i = 0; i < w->nt; i++) {
		bool gone;

		if (w->t[i].joined)
			continue;
		pthread_mutex_lock(&w->lock);
		gone = w->t[i].exited;
		pthread_mutex_unlock(&w->lock);
		if (gone || all) {
			pthread_join(w->t[i].tid, NULL);
			w->t[i].joined = true;
		}
	}
}

/* A free slot: a joined one, or a new one at the end. */
static int free_slot(struct workers *w, unsigned *slot)
{
	for (unsigned i = 0; i < w->nt; i++)
		if (w->t[i].joined) {
			*slot = i;
			return 0;
		}
	if (w->nt == w->cap) {
		unsigned cap = w->cap ? 2 * w->cap : 8;
		struct wslot *t;

		pthread_mutex_lock(&w->lock);
		t = realloc(w->t, cap * sizeof *t);
		if (t) {
			w->t = t;
			w->cap = cap;
		}
		pthread_mutex_unlock(&w->lock);
		if (!t)
			return -1;
	}
	*slot = w->nt++;
	w->t[*slot].joined = true;
	return 0;
}

/* Starts threads until n are wanted and running. */
static int grow(struct workers *w, unsigned n)
{
	while (w->n < n) {
		struct wstart *ws = malloc(sizeof *ws);
		unsigned slot;
		int rc;

		if (!ws || free_slot(w, &slot) < 0) {
			free(ws);
			return -1;
		}
		ws->w = w;
		ws->slot = slot;
		pthread_mutex_lock(&w->lock);
		w->t[slot].quit = w->t[slot].exited = false;
		rc = pthread_create(&w->t[slot].tid, NULL, worker_main, ws);
		pthread_mutex_unlock(&w->lock);
		if (rc) {
			free(ws);
			log_error("cannot start worker thread: %s", strerror(rc));
			return -1;
		}
		w->t[slot].joined = false;
		w->n++;
	}
	return 0;
}

struct workers *workers_start(struct event_base *base, unsigned n)
{
	struct workers *w = calloc(1, sizeof *w);

	if (!w)
		return NULL;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	pthread_mutex_init(&w->done_lock, NULL);
	w->done_ev = event_new(base, -1, 0, on_done, w);
	if (!w->done_ev || grow(w, n) < 0) {
		workers_stop(w);
		return NULL;
	}
	return w;
}

int workers_resize(struct workers *w, unsigned n)
{
	join_exited(w, false);
	if (n > w->n)
		return grow(w, n);
	/* The newest threads go: each finishes the job it is running. */
	pthread_mutex_lock(&w->lock);
	for (unsigned i = w->nt; i-- > 0 && w->n > n;)
		if (!w->t[i].joined && !w->t[i].quit) {
			w->t[i].quit = true;
			w->n--;
		}
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	return 0;
}

void workers_submit(struct workers *w, struct job *j)
{
	j->next = NULL;
	w->in_flight++;
	atomic_fetch_add(&g_stats.jobs_queued, 1);
	pthread_mutex_lock(&w->lock);
	if (w->tail)
		w->tail->next = j;
	else
		w->head = j;
	w->tail = j;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

size_t workers_in_flight(const struct workers *w)
{
	return w->in_flight;
}

unsigned workers_count(const struct workers *w)
{
	return w->n;
}

void workers_stop(struct workers *w)
{
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	join_exited(w, true);
	/* The threads are gone. Done callbacks may still submit work (the
	 * release of a handle whose job was running): run it here, so that
	 * nothing is leaked and no temp file is left behind. */
	for (;;) {
		struct job *j;

		run_done(w);
		pthread_mutex_lock(&w->lock);
		j = w->head;
		if (j) {
			w->head = j->next;
			if (!w->head)
				w->tail = NULL;
		}
		pthread_mutex_unlock(&w->lock);
		if (!j)
			break;
		atomic_fetch_sub(&g_stats.jobs_queued, 1);
		j->ops->run(j);
		pthread_mutex_lock(&w->done_lock);
		j->next = w->done;
		w->done = j;
		pthread_mutex_unlock(&w->done_lock);
	}
	if (w->done_ev)
		event_free(w->done_ev);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->done_lock);
	free(w->t);
	free(w);
}
