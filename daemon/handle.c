/* Handles as strands (see handle.h). Loop thread only. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "handle.h"
#include "jobs.h"
#include "runtime.h"
#include "server.h"
#include "stats.h"

struct handle *handle_new(struct conn *c, struct rowd_error *err)
{
	size_t max = c->srv->cfg.limits.handles_per_conn;
	size_t slot = 0;
	struct handle *h;

	/* Lowest free number, like file descriptors: predictable at socat. */
	while (slot < c->nslots && c->slots[slot])
		slot++;
	if (slot >= max) {
		rowd_error_set(err, ROWD_ELIMIT, "too many open handles (handles_per_conn limit %zu)", max);
		return NULL;
	}
	if (slot == c->nslots) {
		size_t n = c->nslots ? c->nslots * 2 : 8;
		struct handle **v;

		if (n > max)
			n = max;
		v = realloc(c->slots, n * sizeof *v);
		if (!v) {
			rowd_error_set(err, ROWD_ENOMEM, "out of memory");
			return NULL;
		}
		memset(v + c->nslots, 0, (n - c->nslots) * sizeof *v);
		c->slots = v;
		c->nslots = n;
	}
	h = calloc(1, sizeof *h);
	if (!h) {
		rowd_error_set(err, ROWD_ENOMEM, "out of memory");
		return NULL;
	}
	h->conn = c;
	h->num = (uint32_t)slot + 1;
	h->fd = -1;
	h->wf.fd = h->wf.dirfd = -1;
	atomic_init(&h->cancel, false);
	c->slots[slot] = h;
	c->nhandles++;
	g_stats.handles_now++;
	return h;
}

void handle_enqueue(struct handle *h, struct reqmsg *m)
{
	m->next = NULL;
	if (h->q_tail)
		h->q_tail->next = m;
	else
		h->q_head = m;
	h->q_tail = m;
	h->conn->srv->queued++;
	handle_kick(h);
}

void handle_kick(struct handle *h)
{
	struct conn *c = h->conn;
	struct reqmsg *m;

	if (h->busy || !h->q_head || c->dead)
		return;
	/* Backpressure: a connection that does not read gets no more work
	 * done for it until its output drains (the write callback kicks).
	 * A stopping daemon runs what was asked regardless: streams end at
	 * their next step, so the connection can close. */
	if (conn_output_full(c) && !c->srv->stopping) {
		if (!h->blocked) {
			h->blocked = true;
			h->next_blocked = c->blocked;
			c->blocked = h;
		}
		return;
	}
	m = h->q_head;
	h->q_head = m->next;
	if (!h->q_head)
		h->q_tail = NULL;
	h->busy = true;
	h->running = m;
	jobs_submit(c, h, m);
}

void handle_requeue_front(struct handle *h, struct reqmsg *m)
{
	m->next = h->q_head;
	h->q_head = m;
	if (!h->q_tail)
		h->q_tail = m;
	h->conn->srv->queued++;
}

static bool same_id(const struct reqmsg *m, const char *id_raw, size_t id_len)
{
	return m && m->req.op == OP_STREAM && m->req.id_len == id_len &&
	       memcmp(m->req.id_raw, id_raw, id_len) == 0;
}

struct reqmsg *handle_find_stream(struct conn *c, const char *id_raw, size_t id_len)
{
	for (size_t i = 0; i < c->nslots; i++) {
		struct handle *h = c->slots[i];

		if (!h)
			continue;
		if (h->busy && same_id(h->running, id_raw, id_len))
			return h->running;
		for (struct reqmsg *m = h->q_head; m; m = m->next)
			if (same_id(m, id_raw, id_len))
				return m;
	}
	return NULL;
}

void handle_detach(struct handle *h)
{
	struct conn *c = h->conn;

	if (h->detached)
		return;
	h->detached = true;
	if (h->num && h->num <= c->nslots && c->slots[h->num - 1] == h)
		c->slots[h->num - 1] = NULL;
}

void handle_teardown(struct handle *h)
{
	struct conn *c = h->conn;

	atomic_store(&h->cancel, true);
	while (h->q_head) {
		struct reqmsg *m = h->q_head;

		h->q_head = m->next;
		c->srv->queued--;
		reqmsg_free(m);
	}
	h->q_tail = NULL;
	h->blocked = false;
	h->next_blocked = NULL;
	handle_detach(h);
	/* A busy handle is released when its job comes back. */
	if (!h->busy && !h->released)
		jobs_submit_release(c, h);
}

void handle_maybe_free(struct handle *h)
{
	struct conn *c = h->conn;

	if (!h->released || h->busy)
		return;
	handle_detach(h);
	reqmsg_free(h->open_msg);
	runtime_unref(h->rt);
	free(h);
	c->nhandles--;
	g_stats.handles_now--;
	conn_maybe_free(c);
}
