/* The worker pool. Jobs go in through one mutex-protected queue; finished
 * jobs come back through a completion queue and one event_active() on the
 * loop (only when that queue goes from empty to non-empty; the loop takes
 * the whole list at once). Workers never touch libevent I/O. */
#ifndef ROWD_WORKERS_H
#define ROWD_WORKERS_H

#include <stddef.h>

struct event_base;
struct job;

struct job_ops {
	/* Runs on a worker. */
	void (*run)(struct job *j);
	/* Runs on the loop thread after run. */
	void (*done)(struct job *j);
};

struct job {
	struct job *next;
	const struct job_ops *ops;
};

struct workers;

struct workers *workers_start(struct event_base *base, unsigned n);
void workers_submit(struct workers *w, struct job *j);
/* Jobs submitted and not yet done (run + done). */
size_t workers_in_flight(const struct workers *w);
unsigned workers_count(const struct workers *w);
/* Grows or shrinks the pool to n threads (loop thread). Threads beyond n
 * exit after the job they are running; queued jobs are not lost. */
int workers_resize(struct workers *w, unsigned n);
/* Lets queued jobs finish, joins the threads and runs the last done
 * callbacks; must be called on the loop thread. */
void workers_stop(struct workers *w);

#endif
