/* The counters themselves (see stats.h); packing them is dispatch's job. */
#include "config.h"

#include <stddef.h>

#include "format.h"
#include "stats.h"

struct rowd_stats g_stats;

struct fmt_stats *stats_format(const struct format_ops *f)
{
	const struct format_ops *const *list = format_list();

	/* The registry is a short static table: a scan beats a lookup
	 * structure that would need initialising. */
	for (size_t i = 0; f && list[i] && i < STATS_MAX_FORMATS; i++)
		if (list[i] == f)
			return &g_stats.formats[i];
	return NULL;
}

void stats_format_read(const struct format_ops *f, uint64_t rows, uint64_t bytes)
{
	struct fmt_stats *s = stats_format(f);

	if (!s || (!rows && !bytes))
		return;
	atomic_fetch_add_explicit(&s->rows_read, rows, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->bytes_read, bytes, memory_order_relaxed);
}

void stats_format_written(const struct format_ops *f, uint64_t rows, uint64_t bytes)
{
	struct fmt_stats *s = stats_format(f);

	if (!s || (!rows && !bytes))
		return;
	atomic_fetch_add_explicit(&s->rows_written, rows, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->bytes_written, bytes, memory_order_relaxed);
}
