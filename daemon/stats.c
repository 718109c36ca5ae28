/* The counters themselves (see stats.h); packing them is dispatch's job. */
#include "config.h"

#include "stats.h"

struct rowd_stats g_stats;
