/* The configuration that jobs see: an immutable, refcounted snapshot.
 *
 * Workers must never read settings the loop thread may change. The server
 * holds the current snapshot; a job takes a reference when it is submitted
 * and drops it when its done callback runs, so a job runs its whole step
 * against one configuration. SIGHUP builds a new snapshot (opening the
 * roots is file I/O, so that happens on a worker), the loop swaps it in,
 * and the old one is freed when its last job drops it. */
#ifndef ROWD_RUNTIME_H
#define ROWD_RUNTIME_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "paths.h"
#include "rowd_proto.h"

struct rowd_config;

struct runtime {
	atomic_uint refs;
	uint64_t generation;            /* 1 at start, +1 per reload */
	struct roots roots;
	struct rowd_limits limits;      /* requests, as configured */
	/* Limits as formats see them: rows sit two levels deep in an answer
	 * ({rows: [row]}) and msgpack-c cannot unpack past 32 levels, so rows
	 * get two levels less than requests. */
	struct rowd_limits row_limits;
};

/* Opens the roots of cfg (I/O: call it on a worker after start). Returns
 * a snapshot holding one reference, or NULL with errmsg. */
struct runtime *runtime_new(const struct rowd_config *cfg, uint64_t generation,
                            char *errmsg, size_t errlen);
struct runtime *runtime_ref(struct runtime *rt);
/* Drops a reference; the last one frees the snapshot. NULL is a no-op. */
void runtime_unref(struct runtime *rt);

#endif
