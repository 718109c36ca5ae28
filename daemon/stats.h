/* Daemon-wide counters for the `stats` op. Workers bump the row/byte
 * counters, so they are atomics; the rest is touched on the loop only. */
#ifndef ROWD_STATS_H
#define ROWD_STATS_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "rowd_proto.h"

struct rowd_stats {
	time_t started;
	uint64_t conns_now, conns_total, conns_rejected;
	uint64_t handles_now;
	uint64_t requests;
	_Atomic uint64_t jobs_queued, jobs_running;
	_Atomic uint64_t rows_out, rows_in, bytes_out;
	_Atomic uint64_t errors[ROWD_ERR_COUNT];
	_Atomic uint64_t limits_hit;
	uint64_t loop_lag_us_last, loop_lag_us_max;
};

extern struct rowd_stats g_stats;

static inline void stats_error(enum rowd_err code)
{
	if (code > 0 && code < ROWD_ERR_COUNT)
		atomic_fetch_add_explicit(&g_stats.errors[code], 1, memory_order_relaxed);
	if (code == ROWD_ELIMIT)
		atomic_fetch_add_explicit(&g_stats.limits_hit, 1, memory_order_relaxed);
}

#endif
