/* Daemon-wide counters for the `stats` op. Workers bump the row/byte
 * counters, so they are atomics; the rest is touched on the loop only. */
#ifndef ROWD_STATS_H
#define ROWD_STATS_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "rowd_proto.h"

struct format_ops;

/* Per format: rows parsed from / packed into files of that format, and
 * the file bytes (as stored: compressed when a codec is in between)
 * consumed / produced. Reads count handles and convert sources, writes
 * count handles and convert targets. */
struct fmt_stats {
	_Atomic uint64_t rows_read, bytes_read, rows_written, bytes_written;
};

#define STATS_MAX_FORMATS 48

struct rowd_stats {
	time_t started;
	uint64_t conns_now, conns_total, conns_rejected;
	uint64_t handles_now;
	uint64_t requests;
	uint64_t reloads, reload_failures;
	_Atomic uint64_t jobs_queued, jobs_running;
	_Atomic uint64_t rows_out, rows_in;     /* rows sent to / received from clients */
	_Atomic uint64_t bytes_out, bytes_in;   /* socket bytes */
	_Atomic uint64_t errors[ROWD_ERR_COUNT];
	_Atomic uint64_t limits_hit;
	uint64_t loop_lag_us_last, loop_lag_us_max;
	struct fmt_stats formats[STATS_MAX_FORMATS];   /* by format_list() index */
};

extern struct rowd_stats g_stats;

static inline void stats_error(enum rowd_err code)
{
	if (code > 0 && code < ROWD_ERR_COUNT)
		atomic_fetch_add_explicit(&g_stats.errors[code], 1, memory_order_relaxed);
	if (code == ROWD_ELIMIT)
		atomic_fetch_add_explicit(&g_stats.limits_hit, 1, memory_order_relaxed);
}

/* The counters of format f (NULL when f is not in the registry). */
struct fmt_stats *stats_format(const struct format_ops *f);
void stats_format_read(const struct format_ops *f, uint64_t rows, uint64_t bytes);
void stats_format_written(const struct format_ops *f, uint64_t rows, uint64_t bytes);

#endif
