/* Configuration snapshots for jobs (see runtime.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "runtime.h"
#include "settings.h"

struct runtime *runtime_new(const struct rowd_config *cfg, uint64_t generation,
                            char *errmsg, size_t errlen)
{
	struct runtime *rt = calloc(1, sizeof *rt);

	if (!rt) {
		snprintf(errmsg, errlen, "out of memory");
		return NULL;
	}
	atomic_init(&rt->refs, 1);
	rt->generation = generation;
	rt->limits = cfg->limits;
	rt->row_limits = cfg->limits;
	rt->row_limits.depth = cfg->limits.depth > 2 ? cfg->limits.depth - 2 : 1;
	if (roots_open(&rt->roots, cfg->roots, cfg->nroots, errmsg, errlen) < 0) {
		free(rt);
		return NULL;
	}
	return rt;
}

struct runtime *runtime_ref(struct runtime *rt)
{
	atomic_fetch_add_explicit(&rt->refs, 1, memory_order_relaxed);
	return rt;
}

void runtime_unref(struct runtime *rt)
{
	if (!rt || atomic_fetch_sub_explicit(&rt->refs, 1, memory_order_acq_rel) != 1)
		return;
	roots_close(&rt->roots);
	free(rt);
}
