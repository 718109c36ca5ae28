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
};

/* Submits the request as a job (strand-bound when h != NULL). */
void jobs_submit(struct conn *c, struct handle *h, struct reqmsg *m);
/* Submits a job that releases h's resources on a worker. */
void jobs_submit_release(struct conn *c, struct handle *h);

#endif
