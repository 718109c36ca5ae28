/* Every format reader: the input is "FORMAT[OPTIONS]\0FILE". The file is
 * read through the unit tests' harness as jobs.c reads it (a memfd behind
 * the input layer; fd and fd_path given, for formats that read the file
 * themselves), in batches of a size drawn from the input; formats with
 * tables list them too.
 *
 * Options come as JSON or msgpack (see fuzz.h).
 *
 * Invariants: the rows are exactly as many maps as counted, fit for a
 * client (str keys, UTF-8, flat unless the format nests); a refusal has a
 * code, a message and, for bad content, a position. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fmt_harness.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t batches[] = { 1, 2, 7, 100, 1000 };
	const struct format_ops *f;
	const msgpack_object *opts;
	struct fuzz_named in;
	struct fmt_result r;
	struct mpbuf raw;
	msgpack_unpacked up;
	char path[64];
	int fd;

	if (fuzz_split(data, size, &in) < 0)
		return 0;
	mpbuf_init(&raw);
	msgpack_unpacked_init(&up);
	f = format_find(in.name, in.name_len);
	if (!f || f->unavailable || !f->rd_open || fuzz_options(&in, &up, &raw, &opts) < 0)
		goto out;
	fd = fmt_memfd(in.data, in.size);
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	r = fmt_read_raw_obj(f, path, opts,
	                     batches[fuzz_hash(data, size) % (sizeof batches / sizeof batches[0])]);
	/* A file SQLite finds corrupt as a whole has no line or row. */
	if (r.rc < 0)
		fuzz_check_error(&r.err, f->name, !(f->caps & FMT_CAP_RAW));
	fuzz_check_rows(r.packed, r.packed_len, r.nrows, f->caps & FMT_CAP_NESTED, f->name);
	fmt_result_free(&r);
	if (f->tables) {
		struct rowd_error err;
		char *names = fmt_tables_raw_obj(f, path, opts, &err);

		if (!names)
			fuzz_check_error(&err, "tables", false);
		free(names);
	}
	close(fd);
out:
	mpbuf_free(&raw);
	msgpack_unpacked_destroy(&up);
	fuzz_named_free(&in);
	return 0;
}
