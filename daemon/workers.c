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
	pthread_t *threads;
	unsigned n;
};

static void *worker_main(void *arg)
{
	struct workers *w = arg;

	for (;;) {
		struct job *j;
		bool wake;

		pthread_mutex_lock(&w->lock);
		while (!w->head && !w->stopping)
			pthread_cond_wait(&w->cond, &w->lock);
		j = w->head;
		if (!j) {
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

struct workers *workers_start(struct event_base *base, unsigned n)
{
	struct workers *w = calloc(1, sizeof *w);

	if (!w)
		return NULL;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	pthread_mutex_init(&w->done_lock, NULL);
	w->done_ev = event_new(base, -1, 0, on_done, w);
	w->threads = calloc(n, sizeof *w->threads);
	if (!w->done_ev || !w->threads) {
		if (w->done_ev)
			event_free(w->done_ev);
		free(w->threads);
		free(w);
		return NULL;
	}
	for (unsigned i = 0; i < n; i++) {
		int rc = pthread_create(&w->threads[i], NULL, worker_main, w);

		if (rc) {
			log_error("cannot start worker thread: %s", strerror(rc));
			w->n = i;
			workers_stop(w);
			return NULL;
		}
	}
	w->n = n;
	return w;
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
	for (unsigned i = 0; i < w->n; i++)
		pthread_join(w->threads[i], NULL);
	run_done(w);
	event_free(w->done_ev);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->done_lock);
	free(w->threads);
	free(w);
}
