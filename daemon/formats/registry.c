/* The static table of formats compiled in. */
#include "config.h"

#include <string.h>
#include <strings.h>

#include "codec.h"
#include "format.h"

extern const struct format_ops format_csv, format_tsv, format_psv;
extern const struct format_ops format_jsonl, format_json;
extern const struct format_ops format_msgpack, format_ltsv, format_fwf;
extern const struct format_ops format_sqlite;
extern const struct format_ops format_bson, format_xml, format_avro, format_xls, format_xlsx;
extern const struct format_ops format_dbf;
extern const struct format_ops format_parquet, format_orc, format_arrow, format_duckdb;

/* Order matters for content detection ties only: better probes first. */
static const struct format_ops *const formats[] = {
	&format_csv, &format_tsv, &format_psv,
	&format_jsonl, &format_json,
	&format_msgpack, &format_ltsv, &format_fwf,
	&format_sqlite,
	&format_bson, &format_xml, &format_avro, &format_xls, &format_xlsx,
	&format_dbf,
	&format_parquet, &format_orc, &format_arrow, &format_duckdb,
	NULL
};

const struct format_ops *const *format_list(void)
{
	return formats;
}

const struct format_ops *format_find(const char *name, size_t len)
{
	for (size_t i = 0; formats[i]; i++)
		if (strlen(formats[i]->name) == len && strncasecmp(formats[i]->name, name, len) == 0)
			return formats[i];
	return NULL;
}

static const struct format_ops *by_ext(const char *ext, size_t len)
{
	for (size_t i = 0; formats[i]; i++)
		for (const char *const *e = formats[i]->extensions; *e; e++)
			if (strlen(*e) == len && strncasecmp(*e, ext, len) == 0)
				return formats[i];
	return NULL;
}

const struct format_ops *format_by_extension(const char *filename)
{
	const char *base = strrchr(filename, '/');
	const char *end, *dot;

	base = base ? base + 1 : filename;
	end = base + strlen(base);
	/* Drop one codec extension ("x.csv.gz" -> "x.csv"). */
	dot = memrchr(base, '.', (size_t)(end - base));
	if (dot && dot > base && codec_by_extension(base) && codec_by_extension(base) != codec_find("none", 4))
		end = dot;
	dot = memrchr(base, '.', (size_t)(end - base));
	if (!dot || dot == base)
		return NULL;
	return by_ext(dot + 1, (size_t)(end - dot - 1));
}

const struct format_ops *format_by_content(const char *head, size_t n)
{
	const struct format_ops *best = NULL;
	int best_score = 0;

	for (size_t i = 0; formats[i]; i++) {
		int s = formats[i]->probe ? formats[i]->probe(head, n) : 0;

		if (s > best_score) {
			best = formats[i];
			best_score = s;
		}
	}
	return best;
}
