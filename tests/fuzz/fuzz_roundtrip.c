/* Rows -> format -> rows: the input is "FORMAT[OPTIONS]\0ROWS", ROWS being
 * msgpack objects when the first byte is a map header, JSON Lines else.
 * Objects that are not maps are dropped: the daemon's write op refuses
 * them before a writer sees one. The rows are written as a client writes
 * them (to a memfd, or for formats that write the file themselves to a
 * temp file in a private directory, committed), going on after a row the
 * writer refuses with EINVAL or ELIMIT, and read back with the same
 * format and options.
 *
 * Invariants: a file a writer made reads back without error and with one
 * row per accepted row; for nested formats each accepted row inside the
 * types every nested format carries exactly (fuzz_plain) comes back equal;
 * a writer refuses a row only with EINVAL or ELIMIT (and its options
 * with ENOTSUP too). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fmt_harness.h"
#include "fuzz.h"

#define MAX_ROWS 1000

static char tmpdir[64];

static void remove_tmpdir(void)
{
	rmdir(tmpdir);
}

/* A private directory for formats that write files (on tmpfs when there
 * is one: commits fsync). Only what this harness made is removed. */
static const char *private_dir(void)
{
	if (!tmpdir[0]) {
		const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

		snprintf(tmpdir, sizeof tmpdir, "%s/rowd-fuzz-XXXXXX", base);
		if (!mkdtemp(tmpdir)) {
			perror("mkdtemp");
			abort();
		}
		atexit(remove_tmpdir);
	}
	return tmpdir;
}

static bool is_map_head(uint8_t b)
{
	return (b & 0xf0) == 0x80 || b == 0xde || b == 0xdf;
}

/* The rows of a write request: within the limits, one level below the
 * request map. Appends the maps to rows; returns how many. */
static size_t collect(const uint8_t *p, size_t n, struct mpbuf *rows)
{
	struct rowd_limits lim;
	msgpack_unpacked up;
	size_t count = 0, off = 0;

	rowd_limits_default(&lim);
	lim.depth--;
	msgpack_unpacked_init(&up);
	while (off < n && count < MAX_ROWS) {
		struct rowd_error err;
		size_t len, at = rows->len, uoff = 0;

		if (is_map_head(p[0])) {
			struct proto_scanner sc;

			proto_scanner_init(&sc);
			if (proto_scan(&sc, (const char *)p + off, n - off, &lim, &len, &err) != 1)
				break;
			if (mpbuf_append(rows, p + off, len) < 0)
				abort();
			off += len;
		} else {
			const uint8_t *nl = memchr(p + off, '\n', n - off);

			len = nl ? (size_t)(nl - (p + off)) : n - off;
			if (proto_json_to_msgpack((const char *)p + off, len, &lim, rows, &err) < 0)
				rows->len = at;
			off += len + (nl ? 1 : 0);
			if (rows->len == at)
				continue;
		}
		if (msgpack_unpack_next(&up, rows->data + at, rows->len - at, &uoff) !=
		            MSGPACK_UNPACK_SUCCESS || up.data.type != MSGPACK_OBJECT_MAP) {
			rows->len = at;
			continue;
		}
		count++;
	}
	msgpack_unpacked_destroy(&up);
	return count;
}

/* Options that are not JSON are the harness's input, not a refusal; the
 * writer and reader here take JSON options only. */
static bool options_usable(const struct fuzz_named *nm)
{
	const msgpack_object *o;
	struct mpbuf raw;
	msgpack_unpacked up;
	bool ok;

	mpbuf_init(&raw);
	msgpack_unpacked_init(&up);
	ok = !nm->mp_options && fuzz_options(nm, &up, &raw, &o) == 0;
	mpbuf_free(&raw);
	msgpack_unpacked_destroy(&up);
	return ok;
}

static void check_refused(const struct format_ops *f, const struct rowd_error *err)
{
	fuzz_check_error(err, f->name, true);
	/* ENOTSUP: an option value this build does not serve (an encoding). */
	if (err->code != ROWD_EINVAL && err->code != ROWD_ELIMIT && err->code != ROWD_ENOTSUP)
		fuzz_fail("%s: the writer failed with %s: %s", f->name, rowd_err_name(err->code),
		          err->message);
}

static const msgpack_object *map_get(const msgpack_object *m, const msgpack_object *key)
{
	for (uint32_t i = 0; i < m->via.map.size; i++)
		if (msgpack_object_equal(m->via.map.ptr[i].key, *key))
			return &m->via.map.ptr[i].val;
	return NULL;
}

static bool is_int(const msgpack_object *o)
{
	return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER || o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER;
}

/* Avro rows all have the schema's fields: a key a row lacks comes back as
 * null, and an int written to a field the first rows made double comes
 * back as that double. Otherwise equal. */
static bool same_in_schema(const msgpack_object *w, const msgpack_object *b)
{
	if (w->type == MSGPACK_OBJECT_MAP && b->type == MSGPACK_OBJECT_MAP) {
		for (uint32_t i = 0; i < w->via.map.size; i++) {
			const msgpack_object *v = map_get(b, &w->via.map.ptr[i].key);

			if (!v || !same_in_schema(&w->via.map.ptr[i].val, v))
				return false;
		}
		for (uint32_t i = 0; i < b->via.map.size; i++)
			if (!map_get(w, &b->via.map.ptr[i].key) &&
			    b->via.map.ptr[i].val.type != MSGPACK_OBJECT_NIL)
				return false;
		return true;
	}
	if (w->type == MSGPACK_OBJECT_ARRAY && b->type == MSGPACK_OBJECT_ARRAY) {
		if (w->via.array.size != b->via.array.size)
			return false;
		for (uint32_t i = 0; i < w->via.array.size; i++)
			if (!same_in_schema(&w->via.array.ptr[i], &b->via.array.ptr[i]))
				return false;
		return true;
	}
	if (is_int(w) && (b->type == MSGPACK_OBJECT_FLOAT64 || b->type == MSGPACK_OBJECT_FLOAT32))
		return (w->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (double)w->via.u64
		                                                   : (double)w->via.i64) == b->via.f64;
	return msgpack_object_equal(*w, *b);
}

/* A row whose every value is nil: no cell is written for it. */
static bool blank_row(const msgpack_object *row)
{
	if (row->type != MSGPACK_OBJECT_MAP)
		return false;
	for (uint32_t i = 0; i < row->via.map.size; i++)
		if (row->via.map.ptr[i].val.type != MSGPACK_OBJECT_NIL)
			return false;
	return true;
}

/* Accepted rows against what came back. */
static void compare(const struct format_ops *f, const struct mpbuf *rows, const bool *accepted,
                    size_t n, const struct fmt_result *r)
{
	msgpack_unpacked w, b;
	size_t woff = 0, boff = 0, accepted_n = 0;
	/* A spreadsheet row with no cell that shows is a blank row, and the
	 * readers skip blank rows (as CSV skips blank lines). */
	bool blank_skipped = strcmp(f->name, "xlsx") == 0;

	msgpack_unpacked_init(&w);
	for (size_t i = 0; i < n; i++) {
		if (msgpack_unpack_next(&w, rows->data, rows->len, &woff) != MSGPACK_UNPACK_SUCCESS)
			abort();
		accepted_n += accepted[i] && !(blank_skipped && blank_row(&w.data));
	}
	msgpack_unpacked_destroy(&w);
	woff = 0;
	if (accepted_n != r->nrows)
		fuzz_fail("%s: %zu rows written, %zu read back", f->name, accepted_n, r->nrows);
	if (!(f->caps & FMT_CAP_NESTED))
		return;
	msgpack_unpacked_init(&w);
	msgpack_unpacked_init(&b);
	for (size_t i = 0; i < n; i++) {
		if (msgpack_unpack_next(&w, rows->data, rows->len, &woff) != MSGPACK_UNPACK_SUCCESS)
			abort();
		if (!accepted[i])
			continue;
		if (msgpack_unpack_next(&b, r->packed, r->packed_len, &boff) != MSGPACK_UNPACK_SUCCESS)
			abort();
		if (fuzz_plain(&w.data) &&
		    !(strcmp(f->name, "avro") == 0 ? same_in_schema(&w.data, &b.data)
		                                   : msgpack_object_equal(w.data, b.data))) {
			struct mpbuf js;

			mpbuf_init(&js);
			proto_object_to_json(&w.data, &js);
			mpbuf_append(&js, "\n    read: ", 11);
			proto_object_to_json(&b.data, &js);
			fuzz_fail("%s: row %zu changed:\n written: %.*s", f->name, i + 1,
			          (int)(js.len > 2000 ? 2000 : js.len), js.data);
		}
	}
	msgpack_unpacked_destroy(&w);
	msgpack_unpacked_destroy(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct format_ops *f;
	struct fuzz_named nm;
	struct rowd_error err;
	struct fmt_result r = { .rc = 0 };
	struct mpbuf rows;
	bool *accepted = NULL;
	size_t n;

	if (fuzz_split(data, size, &nm) < 0)
		return 0;
	f = format_find(nm.name, nm.name_len);
	mpbuf_init(&rows);
	if (!f || f->unavailable || !f->wr_open || !f->rd_open || nm.size == 0 ||
	    !options_usable(&nm))
		goto out;
	n = collect(nm.data, nm.size, &rows);
	accepted = calloc(n + 1, sizeof *accepted);
	if (!accepted)
		abort();
	if (f->caps & FMT_CAP_RAW) {
		char name[64], path[128];

		snprintf(name, sizeof name, "rt.%s", f->extensions[0] ? f->extensions[0] : "out");
		snprintf(path, sizeof path, "%s/%s", private_dir(), name);
		if (fmt_write_raw_packed(f, private_dir(), name, rows.data, rows.len, nm.options,
		                         accepted, &err) < 0) {
			check_refused(f, &err);
			goto out;
		}
		r = fmt_read_raw(f, path, nm.options, 1000);
		unlink(path);
	} else {
		size_t len;
		char *bytes = fmt_write_packed(f, rows.data, rows.len, nm.options, accepted, &len, &err);

		if (!bytes) {
			check_refused(f, &err);
			goto out;
		}
		r = fmt_read_all(f, bytes, len, nm.options, 1000);
		free(bytes);
	}
	if (r.rc < 0) {
		/* Options only a writer takes: the reader names them. */
		if (nm.options && (r.err.code == ROWD_EINVAL || r.err.code == ROWD_ENOTSUP) &&
		    r.nrows == 0)
			goto out;
		fuzz_fail("%s: a file written from %zu rows reads back with %s: %s", f->name, n,
		          rowd_err_name(r.err.code), r.err.message);
	}
	fuzz_check_rows(r.packed, r.packed_len, r.nrows, f->caps & FMT_CAP_NESTED, f->name);
	compare(f, &rows, accepted, n, &r);
out:
	fmt_result_free(&r);
	free(accepted);
	mpbuf_free(&rows);
	fuzz_named_free(&nm);
	return 0;
}
