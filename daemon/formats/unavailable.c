/* Formats this build cannot serve: known by name and extension so that
 * opening one is a clear ENOTSUP naming what is missing, never a misread
 * as CSV. An optional format is stubbed here unless its file is built
 * (ROWD_WITH_<NAME>, set in daemon/local.mk under its library's
 * conditional). */
#include "config.h"

#include "format.h"

#define UNAVAILABLE(sym, nm, why, ...)                                     \
	const struct format_ops sym = {                                    \
		.name = nm, .extensions = (const char *const[]){ __VA_ARGS__, NULL }, \
		.unavailable = why,                                        \
	}

#define NOT_IN_DEBIAN "a library Debian does not ship"

UNAVAILABLE(format_parquet, "parquet", NOT_IN_DEBIAN " (Apache Arrow/Parquet C++)", "parquet");
UNAVAILABLE(format_orc, "orc", NOT_IN_DEBIAN " (Apache ORC)", "orc");
UNAVAILABLE(format_arrow, "arrow", NOT_IN_DEBIAN " (Apache Arrow)", "arrow", "feather", "ipc");
UNAVAILABLE(format_duckdb, "duckdb", NOT_IN_DEBIAN " (DuckDB)", "duckdb");

#ifndef ROWD_WITH_XML
UNAVAILABLE(format_xml, "xml", "libxml2", "xml");
#endif
#ifndef ROWD_WITH_XLS
UNAVAILABLE(format_xls, "xls", "libfreexl", "xls");
#endif
/* xlsx is always writable: without its reader, xlsx_write.c registers it. */
