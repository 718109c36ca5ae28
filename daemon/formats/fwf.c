/* Fixed-width text (.fwf): each line holds the columns at fixed byte
 * widths, values padded with spaces.
 *
 * Options (reader and writer): `widths` (required) the width of each
 * column in bytes; `names` the column names, one per width. Without
 * `names` the first non-blank line is a header cut by the same widths
 * (and the writer writes one, from the first row's keys), so that a file
 * written with some options reads back with the same options.
 *
 * Reader. Values are strings with leading and trailing spaces removed.
 * Widths count bytes, and a column boundary that falls inside a UTF-8
 * character is an error rather than a silent split. A line shorter than
 * the widths gives "" for the columns it does not reach (editors strip
 * trailing spaces); bytes past the last column are an error unless they
 * are spaces. Empty lines are skipped; a line of spaces is a row of empty
 * values. \r\n is accepted, a leading BOM dropped. Bad lines (past the
 * last column, split characters, invalid UTF-8) are EFORMAT naming the
 * line, skippable with on_error "skip"; a bad header is not skippable.
 *
 * Writer. Every value is padded with spaces to its width; one longer than
 * its width, or holding a line end, is EINVAL naming the row and column.
 * Numbers and booleans are written as text, nil as blanks, arrays and maps
 * as JSON text. Spaces around a value do not survive a round trip: the
 * format cannot tell them from padding.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "options.h"
#include "textline.h"

static const char *const fwf_rd_known[] = { "widths", "names", "on_error", "encoding", NULL };
static const char *const fwf_wr_known[] = { "widths", "names", "encoding", NULL };
static const char *const on_error_choices[] = { "raise", "skip", NULL };

/* ---- columns, shared by reader and writer ------------------------------ */

struct fwf_cols {
	uint32_t n;
	size_t *width;
	size_t total;           /* sum of the widths */
	bool named;             /* names known (option or header) */
	char *names;            /* back to back, name_off[i] .. name_off[i + 1] */
	size_t *name_off;
};

static void cols_free(struct fwf_cols *c)
{
	free(c->width);
	free(c->names);
	free(c->name_off);
}

static const char *col_name(const struct fwf_cols *c, uint32_t i, int *len)
{
	size_t n = c->name_off[i + 1] - c->name_off[i];

	*len = (int)(n > 64 ? 64 : n);
	return c->names + c->name_off[i];
}

/* `widths`: a non-empty array of positive integers, each at most the
 * row_bytes limit (a wider column could never be read). */
static int parse_widths(const msgpack_object *opts, const struct rowd_limits *lim,
                        struct fwf_cols *c, struct rowd_error *err)
{
	const msgpack_object *v = opts_get(opts, "widths");

	if (!v || v->type == MSGPACK_OBJECT_NIL)
		return rowd_error_set(err, ROWD_EINVAL,
		                      "format fwf needs option 'widths': the column widths in bytes");
	if (v->type != MSGPACK_OBJECT_ARRAY || v->via.array.size == 0)
		return rowd_error_set(err, ROWD_EINVAL,
		                      "option 'widths' must be a non-empty array of positive integers");
	if (v->via.array.size > lim->elements)
		return rowd_error_set(err, ROWD_ELIMIT,
		                      "option 'widths' has more columns than the elements limit (%zu)",
		                      lim->elements);
	c->n = v->via.array.size;
	c->width = malloc(c->n * sizeof *c->width);
	if (!c->width)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory for fwf columns");
	c->total = 0;
	for (uint32_t i = 0; i < c->n; i++) {
		const msgpack_object *w = &v->via.array.ptr[i];

		if (w->type != MSGPACK_OBJECT_POSITIVE_INTEGER || w->via.u64 == 0)
			return rowd_error_set(err, ROWD_EINVAL,
			                      "option 'widths' must be a non-empty array of positive "
			                      "integers (item %u is not)", i + 1);
		if (w->via.u64 > lim->row_bytes - c->total)
			return rowd_error_set(err, ROWD_EINVAL,
			                      "option 'widths' adds up to more than the row_bytes "
			                      "limit (%zu)", lim->row_bytes);
		c->width[i] = (size_t)w->via.u64;
		c->total += c->width[i];
	}
	return 0;
}

static int cmp_str_obj(const void *a, const void *b)
{
	const msgpack_object *x = *(const msgpack_object *const *)a;
	const msgpack_object *y = *(const msgpack_object *const *)b;
	size_t n = x->via.str.size < y->via.str.size ? x->via.str.size : y->via.str.size;
	int d = n ? memcmp(x->via.str.ptr, y->via.str.ptr, n) : 0;   /* "" may be NULL */

	if (d)
		return d;
	return x->via.str.size < y->via.str.size ? -1 : x->via.str.size > y->via.str.size;
}

/* Copies n names (str objects; the options or the row they come from may
 * not outlive the call). Returns the first name given twice, or NULL. On
 * ENOMEM returns NULL with err set and c->named false. */
static const msgpack_object *set_names(struct fwf_cols *c, const msgpack_object **strs,
                                       uint32_t n, struct rowd_error *err)
{
	size_t total = 0, at = 0;

	c->named = false;
	free(c->names);
	free(c->name_off);
	for (uint32_t i = 0; i < n; i++)
		total += strs[i]->via.str.size;
	c->names = malloc(total ? total : 1);
	c->name_off = malloc((n + 1) * sizeof *c->name_off);
	if (!c->names || !c->name_off) {
		rowd_error_set(err, ROWD_ENOMEM, "out of memory for fwf columns");
		return NULL;
	}
	for (uint32_t i = 0; i < n; i++) {
		c->name_off[i] = at;
		if (strs[i]->via.str.size)      /* else the pointer may be NULL */
			memcpy(c->names + at, strs[i]->via.str.ptr, strs[i]->via.str.size);
		at += strs[i]->via.str.size;
	}
	c->name_off[n] = at;
	/* Sorting the caller's pointers last: the copy above kept the order. */
	qsort(strs, n, sizeof *strs, cmp_str_obj);
	for (uint32_t i = 1; i < n; i++)
		if (cmp_str_obj(&strs[i - 1], &strs[i]) == 0)
			return strs[i];
	c->named = true;
	return NULL;
}

/* Names become row keys and header text: UTF-8 only. */
static int check_names_utf8(const msgpack_object *const *strs, uint32_t n, const char *where,
                            struct rowd_error *err)
{
	for (uint32_t i = 0; i < n; i++)
		if (!proto_utf8_valid(strs[i]->via.str.ptr, strs[i]->via.str.size))
			return rowd_error_set(err, ROWD_EINVAL, "%s: name %u is not UTF-8 text", where,
			                      i + 1);
	return 0;
}

static int dup_name_error(const msgpack_object *d, const char *where, struct rowd_error *err)
{
	return rowd_error_set(err, ROWD_EINVAL, "%s names '%.*s' twice", where,
	                      (int)(d->via.str.size > 64 ? 64 : d->via.str.size), d->via.str.ptr);
}

/* `names`: as many strings as widths, all different. */
static int parse_names(const msgpack_object *opts, struct fwf_cols *c, struct rowd_error *err)
{
	const msgpack_object *arr = NULL, *dup;
	const msgpack_object **strs;
	int rc = opts_str_array(opts, "names", &arr, err);

	if (rc <= 0)
		return rc;
	if (arr->via.array.size != c->n)
		return rowd_error_set(err, ROWD_EINVAL,
		                      "option 'names' has %u names for %u widths: give one per column",
		                      arr->via.array.size, c->n);
	strs = malloc(c->n * sizeof *strs);
	if (!strs)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory for fwf columns");
	for (uint32_t i = 0; i < c->n; i++)
		strs[i] = &arr->via.array.ptr[i];
	if (check_names_utf8(strs, c->n, "option 'names'", err) < 0) {
		free(strs);
		return -1;
	}
	dup = set_names(c, strs, c->n, err);
	free(strs);
	if (dup)
		return dup_name_error(dup, "option 'names'", err);
	return c->named ? 0 : -1;
}

/* Readers (a->in set) convert any encoding; writers write UTF-8. */
static int parse_options(const struct fmt_args *a, const char *const *known, const char *what,
                         struct fwf_cols *c, struct rowd_error *err)
{
	if (opts_check_known(a->options, known, what, err) < 0 ||
	    (a->in ? textline_input_encoding(a->in, a->options, err)
	           : textline_check_encoding(a->options, "fwf", err)) < 0 ||
	    parse_widths(a->options, a->limits, c, err) < 0)
		return -1;
	return parse_names(a->options, c, err);
}

/* ---- reader ------------------------------------------------------------ */

struct span {
	size_t off, len;
};

struct fwf_rd {
	struct textline_reader lr;
	const struct rowd_limits *lim;
	bool skip_bad;
	struct fwf_cols c;
	struct span *v;         /* the values of the current line */
	uint64_t row;           /* data lines seen (good or bad) */
	int state;              /* 0 reading, 1 exhausted, -1 failed */
	struct rowd_error err;  /* a failed reader stays failed */
};

static void fwf_rd_close(void *state)
{
	struct fwf_rd *r = state;

	if (!r)
		return;
	cols_free(&r->c);
	free(r->v);
	free(r);
}

static bool utf8_continuation(char c)
{
	return ((unsigned char)c & 0xc0) == 0x80;
}

/* An error about the current line, err->offset at its byte `at`. */
static int line_error(const struct fwf_rd *r, struct rowd_error *err, uint64_t off, size_t at,
                      const char *what)
{
	textline_locate(err, r->lr.line, r->c.named ? r->row : 0, off + at);
	return rowd_error_set(err, ROWD_EFORMAT, "line %llu: %s", (unsigned long long)r->lr.line,
	                      what);
}

/* The column boundary at byte b of p[0..n) must not split a character. */
static int check_boundary(const struct fwf_rd *r, const char *p, size_t n, size_t b,
                          uint32_t col, uint64_t off, struct rowd_error *err)
{
	char what[160];

	if (b >= n || !utf8_continuation(p[b]))
		return 0;
	if (r->c.named) {
		int len;
		const char *name = col_name(&r->c, col, &len);

		snprintf(what, sizeof what, "the end of column %u ('%.*s', byte %zu) splits a UTF-8 "
		         "character; widths count bytes", col + 1, len, name, b);
	} else {
		snprintf(what, sizeof what, "the end of column %u (byte %zu) splits a UTF-8 "
		         "character; widths count bytes", col + 1, b);
	}
	return line_error(r, err, off, b, what);
}

/* Cuts p[0..n) into r->v, each value trimmed of spaces. Returns 0, or -1
 * with EFORMAT. */
static int cut_line(struct fwf_rd *r, const char *p, size_t n, uint64_t off,
                    struct rowd_error *err)
{
	size_t pos = 0, bad = proto_utf8_prefix(p, n);
	char what[120];

	if (bad < n)
		return line_error(r, err, off, bad, "invalid UTF-8");
	for (uint32_t i = 0; i < r->c.n; i++) {
		size_t s = pos < n ? pos : n;
		size_t e = pos + r->c.width[i] < n ? pos + r->c.width[i] : n;

		pos += r->c.width[i];
		if (check_boundary(r, p, n, pos, i, off, err) < 0)
			return -1;
		while (s < e && p[s] == ' ')
			s++;
		while (e > s && p[e - 1] == ' ')
			e--;
		r->v[i].off = s;
		r->v[i].len = e - s;
	}
	for (size_t i = r->c.total; i < n; i++)
		if (p[i] != ' ') {
			snprintf(what, sizeof what, "%zu bytes past the last column (the widths add "
			         "up to %zu)", n - r->c.total, r->c.total);
			return line_error(r, err, off, r->c.total, what);
		}
	return 0;
}

/* The header line, cut like data, gives the names. */
static int header_from_line(struct fwf_rd *r, const char *p, size_t n, uint64_t off,
                            struct rowd_error *err)
{
	msgpack_object *objs = malloc(r->c.n * sizeof *objs);
	const msgpack_object **strs = malloc(r->c.n * sizeof *strs);
	const msgpack_object *dup = NULL;
	int rc = 0;

	if (!objs || !strs) {
		rc = rowd_error_set(err, ROWD_ENOMEM, "out of memory for the fwf header");
		goto out;
	}
	for (uint32_t i = 0; i < r->c.n; i++) {
		objs[i].type = MSGPACK_OBJECT_STR;
		objs[i].via.str.ptr = p + r->v[i].off;
		objs[i].via.str.size = (uint32_t)r->v[i].len;
		strs[i] = &objs[i];
	}
	dup = set_names(&r->c, strs, r->c.n, err);
	if (dup) {
		char what[160];

		snprintf(what, sizeof what, "the header names '%.*s' twice; name the columns "
		         "with option 'names'", (int)(dup->via.str.size > 64 ? 64 : dup->via.str.size),
		         dup->via.str.ptr);
		rc = line_error(r, err, off, 0, what);
	} else if (!r->c.named) {
		rc = -1;
	}
out:
	free(objs);
	free(strs);
	return rc;
}

/* Without `names`, the first non-blank line names the columns. Read at
 * open, so that the open answer lists them and a bad header fails there
 * (it cannot be skipped: there would be no columns). An empty source has
 * no header and no rows. */
static int read_header(struct fwf_rd *r, struct rowd_error *err)
{
	const char *line = NULL;
	size_t len = 0;
	uint64_t off = 0;
	int rc;

	while ((rc = textline_next(&r->lr, &line, &len, &off, err)) > 0 && len == 0)
		;
	if (rc <= 0)
		return rc;
	if (cut_line(r, line, len, off, err) < 0)
		return -1;
	return header_from_line(r, line, len, off, err);
}

static int fwf_rd_open(const struct fmt_args *a, void **state, struct rowd_error *err)
{
	struct fwf_rd *r = calloc(1, sizeof *r);
	int idx = 0;

	*state = NULL;
	if (!r)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory for the fwf reader");
	if (parse_options(a, fwf_rd_known, "format fwf", &r->c, err) < 0 ||
	    opts_choice(a->options, "on_error", on_error_choices, &idx, err) < 0) {
		fwf_rd_close(r);
		return -1;
	}
	r->v = malloc(r->c.n * sizeof *r->v);
	if (!r->v) {
		fwf_rd_close(r);
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory for the fwf reader");
	}
	textline_init(&r->lr, a->in, a->limits->row_bytes);
	r->lim = a->limits;
	r->skip_bad = idx == 1;
	rowd_error_clear(&r->err);
	if (!r->c.named && read_header(r, err) < 0) {
		fwf_rd_close(r);
		return -1;
	}
	*state = r;
	return 0;
}

/* Packs the values of the line just cut. */
static int pack_row(struct fwf_rd *r, const char *p, size_t n, uint64_t off,
                    struct mpbuf *out, struct rowd_error *err)
{
	const struct fwf_cols *c = &r->c;
	size_t start = out->len;
	/* Worst case: map header, each name and value with a 5-byte header;
	 * the values are parts of the line. */
	size_t need = 5 + (c->name_off[c->n]) + (size_t)c->n * 2 * MP_STR_HDR_MAX + n;

	if (mpbuf_reserve(out, need) < 0)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory for rows");
	mp_put_map_hdr(out, c->n);
	for (uint32_t i = 0; i < c->n; i++) {
		mp_put_str(out, c->names + c->name_off[i], c->name_off[i + 1] - c->name_off[i]);
		mp_put_str(out, p + r->v[i].off, r->v[i].len);
	}
	if (out->len - start > r->lim->row_bytes) {
		out->len = start;
		textline_locate(err, r->lr.line, r->row, off);
		return rowd_error_set(err, ROWD_ELIMIT,
		                      "line %llu: the row packs to more than the row_bytes limit (%zu)",
		                      (unsigned long long)r->lr.line, r->lim->row_bytes);
	}
	return 0;
}

/* One line: 1 a row packed, 0 a blank line, -1 error. */
static int take_line(struct fwf_rd *r, const char *p, size_t n, uint64_t off,
                     struct mpbuf *out, struct rowd_error *err)
{
	if (n == 0)
		return 0;
	r->row++;
	if (cut_line(r, p, n, off, err) < 0 || pack_row(r, p, n, off, out, err) < 0)
		return -1;
	return 1;
}

static int fwf_fail(struct fwf_rd *r, struct rowd_error *err)
{
	r->state = -1;
	r->err = *err;
	return -1;
}

static int fwf_rd_next(void *state, struct mpbuf *out, size_t max, size_t *nrows,
                       uint64_t *skipped, struct rowd_error *err)
{
	struct fwf_rd *r = state;
	size_t n = 0;

	*nrows = 0;
	if (r->state < 0) {
		*err = r->err;
		return -1;
	}
	while (r->state == 0 && n < max) {
		const char *line = NULL;
		size_t len = 0;
		uint64_t off = 0;
		int rc = r->c.named ? textline_next(&r->lr, &line, &len, &off, err) : 0;

		if (rc == 0) {
			r->state = 1;
			break;
		}
		if (rc > 0)
			rc = take_line(r, line, len, off, out, err);
		if (rc > 0) {
			n++;
		} else if (rc < 0) {
			if (err->code == ROWD_EFORMAT && r->skip_bad) {
				++*skipped;
				rowd_error_clear(err);
				continue;
			}
			*nrows = n;
			return fwf_fail(r, err);
		}
	}
	*nrows = n;
	return r->state;
}

static int fwf_rd_columns(void *state, struct mpbuf *out)
{
	const struct fwf_rd *r = state;
	const struct fwf_cols *c = &r->c;

	if (!c->named)
		return 0;
	if (mpbuf_reserve(out, 5 + c->name_off[c->n] + (size_t)c->n * MP_STR_HDR_MAX) < 0)
		return 0;
	mp_put_array_hdr(out, c->n);
	for (uint32_t i = 0; i < c->n; i++)
		mp_put_str(out, c->names + c->name_off[i], c->name_off[i + 1] - c->name_off[i]);
	return 1;
}

/* ---- writer ------------------------------------------------------------ */

struct fwf_wr {
	struct output *out;
	struct fwf_cols c;
	bool header;                    /* names from the first row: write them */
	bool started;                   /* header written */
	const msgpack_object **vals;    /* the current row, by column */
	uint64_t row;
	struct mpbuf scratch;           /* text of numbers and nested values */
};

static void fwf_wr_close(void *state)
{
	struct fwf_wr *w = state;

	if (!w)
		return;
	cols_free(&w->c);
	free(w->vals);
	mpbuf_free(&w->scratch);
	free(w);
}

static int fwf_wr_open(const struct fmt_args *a, void **state, struct rowd_error *err)
{
	struct fwf_wr *w = calloc(1, sizeof *w);

	*state = NULL;
	if (!w)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory for the fwf writer");
	mpbuf_init(&w->scratch);
	if (parse_options(a, fwf_wr_known, "writing format fwf", &w->c, err) < 0) {
		fwf_wr_close(w);
		return -1;
	}
	w->vals = calloc(w->c.n, sizeof *w->vals);
	if (!w->vals) {
		fwf_wr_close(w);
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory for the fwf writer");
	}
	w->out = a->out;
	w->header = !w->c.named;
	*state = w;
	return 0;
}

/* Appends text padded to width bytes. `what` names the row/column or the
 * header in messages. */
static int put_cell(struct fwf_wr *w, uint32_t col, const char *p, size_t n, const char *what,
                    struct rowd_error *err)
{
	struct mpbuf *b = &w->out->buf;
	size_t width = w->c.width[col];
	int nlen;
	const char *name = col_name(&w->c, col, &nlen);

	if (memchr(p, '\n', n) || memchr(p, '\r', n))
		return rowd_error_set(err, ROWD_EINVAL, "%s, column '%.*s': a line end cannot be "
		                      "written in fixed width", what, nlen, name);
	if (n > width)
		return rowd_error_set(err, ROWD_EINVAL, "%s, column '%.*s': %zu bytes do not fit "
		                      "the column's width (%zu)", what, nlen, name, n, width);
	if (mpbuf_reserve(b, width + 1) < 0)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory writing a row");
	if (n)
		memcpy(b->data + b->len, p, n);
	memset(b->data + b->len + n, ' ', width - n);
	b->len += width;
	return 0;
}

static void put_eol(struct fwf_wr *w)
{
	w->out->buf.data[w->out->buf.len++] = '\n';   /* put_cell reserved it */
}

static int put_header(struct fwf_wr *w, struct rowd_error *err)
{
	for (uint32_t i = 0; i < w->c.n; i++)
		if (put_cell(w, i, w->c.names + w->c.name_off[i],
		             w->c.name_off[i + 1] - w->c.name_off[i], "the header", err) < 0)
			return -1;
	put_eol(w);
	return 0;
}

/* Without `names`, the first row's keys are the columns, in its order. */
static int names_from_row(struct fwf_wr *w, const msgpack_object_map *m, struct rowd_error *err)
{
	const msgpack_object **strs;
	const msgpack_object *dup;

	if (m->size != w->c.n)
		return rowd_error_set(err, ROWD_EINVAL, "row %llu has %u keys for %u widths: give "
		                      "one width per key, or the columns in option 'names'",
		                      (unsigned long long)w->row, m->size, w->c.n);
	strs = malloc(m->size * sizeof *strs);
	if (!strs)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory for fwf columns");
	for (uint32_t i = 0; i < m->size; i++)
		strs[i] = &m->ptr[i].key;
	if (check_names_utf8(strs, m->size, "the first row", err) < 0) {
		free(strs);
		return -1;
	}
	dup = set_names(&w->c, strs, m->size, err);
	free(strs);
	if (dup)
		return dup_name_error(dup, "the first row", err);
	return w->c.named ? 0 : -1;
}

/* Column index of key k (rows usually list keys in column order: try the
 * hint first), or -1. */
static int64_t column_of(const struct fwf_cols *c, const msgpack_object *k, uint32_t hint)
{
	size_t n = k->via.str.size;

	/* n == 0: msgpack-c's empty str has a NULL pointer, not for memcmp. */
	if (hint < c->n && c->name_off[hint + 1] - c->name_off[hint] == n &&
	    (n == 0 || memcmp(c->names + c->name_off[hint], k->via.str.ptr, n) == 0))
		return hint;
	for (uint32_t i = 0; i < c->n; i++)
		if (c->name_off[i + 1] - c->name_off[i] == n &&
		    (n == 0 || memcmp(c->names + c->name_off[i], k->via.str.ptr, n) == 0))
			return i;
	return -1;
}

/* Sorts the row's values into w->vals by column. */
static int row_values(struct fwf_wr *w, const msgpack_object_map *m, struct rowd_error *err)
{
	memset(w->vals, 0, w->c.n * sizeof *w->vals);
	for (uint32_t i = 0; i < m->size; i++) {
		const msgpack_object *k = &m->ptr[i].key;
		int64_t col;

		if (k->type != MSGPACK_OBJECT_STR)
			return rowd_error_set(err, ROWD_EINVAL, "row %llu: keys must be strings",
			                      (unsigned long long)w->row);
		col = column_of(&w->c, k, i);
		if (col < 0)
			return rowd_error_set(err, ROWD_EINVAL, "row %llu: key '%.*s' is not a column",
			                      (unsigned long long)w->row,
			                      (int)(k->via.str.size > 64 ? 64 : k->via.str.size),
			                      k->via.str.ptr);
		w->vals[col] = &m->ptr[i].val;
	}
	return 0;
}

static int put_row(struct fwf_wr *w, struct rowd_error *err)
{
	static const msgpack_object nil = { .type = MSGPACK_OBJECT_NIL };
	char what[40];

	snprintf(what, sizeof what, "row %llu", (unsigned long long)w->row);
	for (uint32_t i = 0; i < w->c.n; i++) {
		const char *p;
		size_t n;

		if (textline_value(w->vals[i] ? w->vals[i] : &nil, &w->scratch, &p, &n, err) < 0) {
			char why[ROWD_ERRMSG_MAX];
			int nlen;
			const char *name = col_name(&w->c, i, &nlen);

			memcpy(why, err->message, sizeof why);
			return rowd_error_set(err, err->code, "%s, column '%.*s': %s", what, nlen, name,
			                      why);
		}
		if (put_cell(w, i, p, n, what, err) < 0)
			return -1;
	}
	put_eol(w);
	return 0;
}

static int fwf_wr_row(void *state, const msgpack_object *row, struct rowd_error *err)
{
	struct fwf_wr *w = state;
	size_t start = w->out->buf.len;

	w->row++;
	if (row->type != MSGPACK_OBJECT_MAP)
		return rowd_error_set(err, ROWD_EINVAL, "row %llu: a row must be a map",
		                      (unsigned long long)w->row);
	if (!w->c.named) {
		for (uint32_t i = 0; i < row->via.map.size; i++)
			if (row->via.map.ptr[i].key.type != MSGPACK_OBJECT_STR)
				return rowd_error_set(err, ROWD_EINVAL, "row %llu: keys must be strings",
				                      (unsigned long long)w->row);
		if (names_from_row(w, &row->via.map, err) < 0)
			return -1;
	}
	if (row_values(w, &row->via.map, err) < 0 ||
	    (w->header && !w->started && put_header(w, err) < 0) ||
	    put_row(w, err) < 0) {
		w->out->buf.len = start;        /* no half line, nor a header alone */
		return -1;
	}
	w->started = true;
	return output_flush_if_full(w->out, err);
}

static int fwf_wr_finish(void *state, struct rowd_error *err)
{
	(void)state;
	(void)err;
	return 0;
}

static const char *const fwf_extensions[] = { "fwf", NULL };

const struct format_ops format_fwf = {
	.name = "fwf",
	.extensions = fwf_extensions,
	.caps = FMT_CAP_READ | FMT_CAP_WRITE | FMT_CAP_TOTALS | FMT_CAP_STREAM,
	.probe = NULL,          /* widths cannot be guessed: by extension only */
	.rd_open = fwf_rd_open,
	.rd_next = fwf_rd_next,
	.rd_columns = fwf_rd_columns,
	.rd_close = fwf_rd_close,
	.wr_open = fwf_wr_open,
	.wr_row = fwf_wr_row,
	.wr_finish = fwf_wr_finish,
	.wr_close = fwf_wr_close,
};
