/* Handles: one open file of a connection, run as a strand (at most one job
 * at a time, answers in request order). The loop thread owns the queue
 * and flags; the format/codec state below "strand state" is touched only
 * by the handle's running job (on a worker) or, when idle, by nobody. */
#ifndef ROWD_HANDLE_H
#define ROWD_HANDLE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "codec.h"
#include "format.h"
#include "input.h"
#include "output.h"
#include "wfile.h"

struct conn;
struct reqmsg;

struct handle {
	struct conn *conn;
	uint32_t num;
	bool detached;          /* slot freed: closed, failed or conn gone */
	bool busy;              /* a job of this handle is in flight */
	bool released;          /* resources freed; struct may go */
	struct handle *next_blocked;
	bool blocked;
	struct reqmsg *q_head, *q_tail;
	struct reqmsg *running;         /* the request its job is running */
	atomic_bool cancel;

	/* strand state */
	struct reqmsg *open_msg;        /* keeps the options alive */
	/* The configuration the handle was opened with: its format state
	 * points into it, so it lives as long as the handle (runtime.h). */
	struct runtime *rt;
	char mode;                      /* 'r' or 'w'; 0 until opened */
	int fd;
	char fd_path[32];               /* /proc/self/fd/N, for raw formats */
	const struct codec_ops *codec;
	const struct format_ops *fmt;
	struct input in;
	struct output out;
	void *fst;                      /* format reader/writer state */
	struct wfile wf;
	bool eof;
	struct rowd_error pending_err;  /* error to report on the next read */
	bool has_pending_err;
	uint64_t rows_read, rows_written, skipped;

	/* A stream runs as a series of jobs, one batch each, so that other
	 * handles and backpressure get a say between batches. */
	struct {
		bool active;
		uint64_t seq, rows_total, remaining;
		size_t batch;
		bool progress;
		uint64_t next_progress_us;
	} stream;
};

/* Loop thread. */
struct handle *handle_new(struct conn *c, struct rowd_error *err);
void handle_enqueue(struct handle *h, struct reqmsg *m);
/* Starts the next queued job if the handle is idle and output has room. */
void handle_kick(struct handle *h);
/* Frees the slot (close, failed open, teardown). */
void handle_detach(struct handle *h);
/* Connection teardown: drop the queue, cancel, release resources. */
void handle_teardown(struct handle *h);
/* Requeues a stream's request at the front for its next batch. */
void handle_requeue_front(struct handle *h, struct reqmsg *m);
/* Finds a queued or running stream of c by its request id. */
struct reqmsg *handle_find_stream(struct conn *c, const char *id_raw, size_t id_len);
/* Frees the struct once released and idle. */
void handle_maybe_free(struct handle *h);

/* Worker side (jobs.c): frees format/codec/file state; uncommitted writes
 * are discarded. */
void handle_release_state(struct handle *h);

#endif
