/* Jobs: the work of one request, run on a worker. A job builds its whole
 * answer in out (msgpack, or JSON for text connections) so that the loop
 * thread only appends bytes to the socket. */
#ifndef ROWD_JOBS_H
#define ROWD_JOBS_H

#include "conn.h"
#include "handle.h"
#include "mpbuf.h"
#include "workers.h"

struct rjob {
	struct job base;
	struct conn *conn;
	struct handle *h;         /* NULL for requests without a handle */
	struct reqmsg *msg;       /* NULL for a release job */
	enum conn_enc enc;
	struct mpbuf out;
	bool failed;              /* answer is an error */
	bool more;                /* a stream with batches still to come */
	struct rowd_error err;    /* why it failed */
	/* Set at submit, read on the worker: the configuration this step
	 * runs with (a reference, dropped in done), and whether the daemon
	 * was stopping (streams and converts end with ESHUTDOWN). */
	struct runtime *rt;
	bool stopping;
};

struct roots;

/* What a job reads of the daemon's configuration. */
struct job_env {
	const struct roots *roots;
	const struct rowd_limits *limits;
};

/* Opening a source or target into a handle's strand state (also used by
 * convert with handles of its own). On failure the caller releases. */
int jobs_open_reader(struct handle *h, const struct job_env *env,
                     const struct rowd_open_spec *spec, struct rowd_error *err);
int jobs_open_writer(struct handle *h, const struct job_env *env,
                     const struct rowd_open_spec *spec, struct rowd_error *err);
/* Commits a writer: format trailer, codec end, fsync + rename. */
int jobs_commit_writer(struct handle *h, struct rowd_error *err);

/* convert.c: one step of a convert (sets rj->more while rows remain). */
int convert_step(struct rjob *rj, struct mpbuf *b, struct rowd_error *err);
/* Frees a convert's state after a failed or abandoned step. */
void convert_free(struct reqmsg *m);

/* Submits the request as a job (strand-bound when h != NULL). */
void jobs_submit(struct conn *c, struct handle *h, struct reqmsg *m);
/* Submits a job that releases h's resources on a worker. */
void jobs_submit_release(struct conn *c, struct handle *h);

#endif
