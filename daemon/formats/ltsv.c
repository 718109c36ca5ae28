/* LTSV, Labeled Tab-separated Values (.ltsv, http://ltsv.org):
 * `label:value<TAB>label:value` per line.
 *
 * Reader. Each line is one row whose keys are its labels, in order, and
 * whose values are strings (the part after the first ':', which may hold
 * more colons). Blank lines are skipped, \r\n is accepted, a leading BOM
 * dropped. Empty fields (two TABs in a row, a trailing TAB) carry no label
 * and no value and are passed over. Labels may be any non-empty text
 * without TAB or ':' (ltsv.org recommends [0-9A-Za-z_.-]; logs in the
 * wild use more). A label given twice in one line keeps the last value at
 * the first label's place, as a Python dict built from the pairs would. A
 * field without ':' (or with an empty label) and invalid UTF-8 are EFORMAT
 * naming the line, skippable with on_error "skip".
 *
 * Writer. Keys must be non-empty and hold no ':', TAB, CR or LF; string
 * values no TAB, CR or LF (LTSV has no quoting, so such text cannot be
 * written: EINVAL). Numbers and booleans are written as text, nil as an
 * empty value, arrays and maps as JSON text. An empty row is refused: it
 * would read back as a blank line, that is, not at all.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "options.h"
#include "textline.h"

static const char *const ltsv_rd_known[] = { "on_error", "encoding", NULL };
static const char *const ltsv_wr_known[] = { "encoding", NULL };
static const char *const on_error_choices[] = { "raise", "skip", NULL };

/* ---- reader ------------------------------------------------------------ */

/* One label:value field of the line being read, as offsets into it. */
struct lfield {
	size_t key, klen;
	size_t val, vlen;
	bool dup;               /* its label came earlier: value moved there */
};

struct ltsv_rd {
	struct textline_reader lr;
	const struct rowd_limits *lim;
	bool skip_bad;
	uint64_t row;           /* non-blank lines seen (good or bad) */
	struct lfield *f;       /* fields of the current line */
	size_t fcap;
	uint32_t *slot;         /* label hash table: field index + 1, 0 = free */
	size_t slots;           /* a power of two, > 2 * fields */
	int state;              /* 0 reading, 1 exhausted, -1 failed */
	struct rowd_error err;  /* a failed reader stays failed */
};

static void ltsv_rd_close(void *state)
{
	struct ltsv_rd *r = state;

	if (!r)
		return;
	free(r->f);
	free(r->slot);
	free(r);
}

static int ltsv_rd_open(const struct fmt_args *a, void **state, struct rowd_error *err)
{
	struct ltsv_rd *r;
	int idx = 0;

	if (opts_check_known(a->options, ltsv_rd_known, "format ltsv", err) < 0 ||
	    textline_input_encoding(a->in, a->options, err) < 0 ||
	    opts_choice(a->options, "on_error", on_error_choices, &idx, err) < 0)
		return -1;
	r = calloc(1, sizeof *r);
	if (!r)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory for the ltsv reader");
	textline_init(&r->lr, a->in, a->limits->row_bytes);
	r->lim = a->limits;
	r->skip_bad = idx == 1;
	rowd_error_clear(&r->err);
	*state = r;
	return 0;
}

/* An EFORMAT/ELIMIT about the current line; err->offset at byte `at` of
 * the line (line_off = the line's offset in the stream). */
static int line_error(const struct ltsv_rd *r, struct rowd_error *err, enum rowd_err code,
                      uint64_t line_off, size_t at, const char *what, size_t field)
{
	textline_locate(err, r->lr.line, r->row, line_off + at);
	if (field)
		return rowd_error_set(err, code, "line %llu: field %zu %s",
		                      (unsigned long long)r->lr.line, field, what);
	return rowd_error_set(err, code, "line %llu: %s", (unsigned long long)r->lr.line, what);
}

static int fields_room(struct ltsv_rd *r, size_t nf, struct rowd_error *err)
{
	size_t cap = r->fcap ? r->fcap * 2 : 16;
	struct lfield *f;

	if (nf < r->fcap)
		return 0;
	f = realloc(r->f, cap * sizeof *f);
	if (!f)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory for LTSV fields");
	r->f = f;
	r->fcap = cap;
	return 0;
}

/* Splits the line into label:value fields. Returns the number of fields,
 * or -1 with err. */
static ssize_t split_line(struct ltsv_rd *r, const char *p, size_t n, uint64_t off,
                          struct rowd_error *err)
{
	size_t nf = 0, pos = 0, field = 0;

	while (pos <= n) {
		const char *tab = memchr(p + pos, '\t', n - pos);
		size_t end = tab ? (size_t)(tab - p) : n;
		const char *colon;

		field++;
		if (end > pos) {                 /* empty fields carry nothing */
			colon = memchr(p + pos, ':', end - pos);
			if (!colon)
				return line_error(r, err, ROWD_EFORMAT, off, pos,
				                  "has no ':' (expected label:value)", field);
			if (colon == p + pos)
				return line_error(r, err, ROWD_EFORMAT, off, pos,
				                  "has an empty label", field);
			if (nf >= r->lim->elements) {
				char what[80];

				snprintf(what, sizeof what, "more than %zu fields (the elements limit)",
				         r->lim->elements);
				return line_error(r, err, ROWD_ELIMIT, off, pos, what, 0);
			}
			if (fields_room(r, nf, err) < 0)
				return -1;
			r->f[nf].key = pos;
			r->f[nf].klen = (size_t)(colon - p) - pos;
			r->f[nf].val = (size_t)(colon - p) + 1;
			r->f[nf].vlen = end - r->f[nf].val;
			r->f[nf].dup = false;
			nf++;
		}
		pos = end + 1;
	}
	return (ssize_t)nf;
}

static uint32_t hash_label(const char *s, size_t n)
{
	uint32_t h = 2166136261u;          /* FNV-1a */

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

/* Marks repeated labels: the last value goes to the first occurrence. A
 * hash table keeps a line of many fields linear. Returns the number of
 * distinct labels, or -1 (ENOMEM). */
static ssize_t merge_duplicates(struct ltsv_rd *r, const char *p, size_t nf,
                                struct rowd_error *err)
{
	size_t want = 16, distinct = 0;

	while (want <= 2 * nf)
		want *= 2;
	if (want > r->slots) {
		uint32_t *s = realloc(r->slot, want * sizeof *s);

		if (!s)
			return rowd_error_set(err, ROWD_ENOMEM, "out of memory for LTSV labels");
		r->slot = s;
		r->slots = want;
	}
	memset(r->slot, 0, want * sizeof *r->slot);
	for (size_t i = 0; i < nf; i++) {
		struct lfield *f = &r->f[i];
		size_t h = hash_label(p + f->key, f->klen) & (want - 1);

		for (;; h = (h + 1) & (want - 1)) {
			struct lfield *g;

			if (!r->slot[h]) {
				r->slot[h] = (uint32_t)i + 1;
				distinct++;
				break;
			}
			g = &r->f[r->slot[h] - 1];
			if (g->klen == f->klen && memcmp(p + g->key, p + f->key, f->klen) == 0) {
				g->val = f->val;
				g->vlen = f->vlen;
				f->dup = true;
				break;
			}
		}
	}
	return (ssize_t)distinct;
}

/* Packs one line as a row. Returns 1 for a row, 0 for a blank line, -1
 * with err (nothing appended to out). */
static int pack_line(struct ltsv_rd *r, const char *p, size_t n, uint64_t off,
                     struct mpbuf *out, struct rowd_error *err)
{
	size_t start = out->len, bad;
	ssize_t nf, ne;

	if (n == 0)
		return 0;
	r->row++;
	bad = proto_utf8_prefix(p, n);
	if (bad < n)
		return line_error(r, err, ROWD_EFORMAT, off, bad, "invalid UTF-8", 0);
	nf = split_line(r, p, n, off, err);
	if (nf < 0)
		return -1;
	ne = nf > 1 ? merge_duplicates(r, p, (size_t)nf, err) : nf;
	if (ne < 0)
		return -1;
	/* One check for the worst case: every label and value takes a 5-byte
	 * header, and together they are shorter than the line. */
	if (mpbuf_reserve(out, 5 + (size_t)nf * 2 * MP_STR_HDR_MAX + n) < 0)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory for rows");
	mp_put_map_hdr(out, (uint32_t)ne);
	for (ssize_t i = 0; i < nf; i++) {
		const struct lfield *f = &r->f[i];

		if (f->dup)
			continue;
		mp_put_str(out, p + f->key, f->klen);
		mp_put_str(out, p + f->val, f->vlen);
	}
	if (out->len - start > r->lim->row_bytes) {
		out->len = start;
		return line_error(r, err, ROWD_ELIMIT, off, 0,
		                  "the row packs to more than the row_bytes limit", 0);
	}
	return 1;
}

static int ltsv_fail(struct ltsv_rd *r, struct rowd_error *err)
{
	r->state = -1;
	r->err = *err;
	return -1;
}

static int ltsv_rd_next(void *state, struct mpbuf *out, size_t max, size_t *nrows,
                        uint64_t *skipped, struct rowd_error *err)
{
	struct ltsv_rd *r = state;
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
		int rc = textline_next(&r->lr, &line, &len, &off, err);

		if (rc == 0) {
			r->state = 1;
			break;
		}
		if (rc > 0)
			rc = pack_line(r, line, len, off, out, err);
		if (rc > 0) {
			n++;
		} else if (rc < 0) {
			if (err->code == ROWD_EFORMAT && r->skip_bad) {
				++*skipped;
				rowd_error_clear(err);
				continue;
			}
			*nrows = n;
			return ltsv_fail(r, err);
		}
	}
	*nrows = n;
	return r->state;
}

/* ---- writer ------------------------------------------------------------ */

struct ltsv_wr {
	struct output *out;
	uint64_t row;
	struct mpbuf scratch;   /* text of numbers and nested values */
};

static void ltsv_wr_close(void *state)
{
	struct ltsv_wr *w = state;

	if (!w)
		return;
	mpbuf_free(&w->scratch);
	free(w);
}

static int ltsv_wr_open(const struct fmt_args *a, void **state, struct rowd_error *err)
{
	struct ltsv_wr *w;

	if (opts_check_known(a->options, ltsv_wr_known, "writing format ltsv", err) < 0 ||
	    textline_check_encoding(a->options, "ltsv", err) < 0)
		return -1;
	w = calloc(1, sizeof *w);
	if (!w)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory for the ltsv writer");
	w->out = a->out;
	mpbuf_init(&w->scratch);
	*state = w;
	return 0;
}

/* The first byte of s[0..n) that is one of set, or NULL. */
static const char *find_any(const char *s, size_t n, const char *set)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] && strchr(set, s[i]))
			return s + i;
	return NULL;
}

static const char *char_name(char c)
{
	switch (c) {
	case '\t': return "a TAB";
	case '\r': return "a CR";
	case '\n': return "a line feed";
	default: return "':'";
	}
}

/* Appends key:value for one entry. Returns 0, or -1 with err. */
static int put_pair(struct ltsv_wr *w, const msgpack_object *k, const msgpack_object *v,
                    struct rowd_error *err)
{
	struct mpbuf *b = &w->out->buf;
	unsigned long long row = (unsigned long long)w->row;
	const char *bad, *p;
	size_t n;

	if (k->type != MSGPACK_OBJECT_STR)
		return rowd_error_set(err, ROWD_EINVAL, "row %llu: keys must be strings", row);
	if (k->via.str.size == 0)
		return rowd_error_set(err, ROWD_EINVAL,
		                      "row %llu: an empty key cannot be written in LTSV", row);
	if (!proto_utf8_valid(k->via.str.ptr, k->via.str.size))
		return rowd_error_set(err, ROWD_EINVAL, "row %llu: a key is not UTF-8 text", row);
	bad = find_any(k->via.str.ptr, k->via.str.size, ":\t\r\n");
	if (bad)
		return rowd_error_set(err, ROWD_EINVAL,
		                      "row %llu: key '%.*s' holds %s and cannot be written in LTSV",
		                      row, (int)(k->via.str.size > 64 ? 64 : k->via.str.size),
		                      k->via.str.ptr, char_name(*bad));
	if (textline_value(v, &w->scratch, &p, &n, err) < 0) {
		char why[ROWD_ERRMSG_MAX];

		memcpy(why, err->message, sizeof why);
		return rowd_error_set(err, err->code, "row %llu: key '%.*s': %s", row,
		                      (int)(k->via.str.size > 64 ? 64 : k->via.str.size),
		                      k->via.str.ptr, why);
	}
	bad = find_any(p, n, "\t\r\n");
	if (bad)
		return rowd_error_set(err, ROWD_EINVAL,
		                      "row %llu: the value of '%.*s' holds %s and cannot be written in LTSV",
		                      row, (int)(k->via.str.size > 64 ? 64 : k->via.str.size),
		                      k->via.str.ptr, char_name(*bad));
	if (mpbuf_reserve(b, k->via.str.size + n + 2) < 0)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory writing a row");
	memcpy(b->data + b->len, k->via.str.ptr, k->via.str.size);
	b->len += k->via.str.size;
	b->data[b->len++] = ':';
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

static int ltsv_wr_row(void *state, const msgpack_object *row, struct rowd_error *err)
{
	struct ltsv_wr *w = state;
	struct mpbuf *b = &w->out->buf;
	size_t start = b->len;
	const msgpack_object_map *m;

	w->row++;
	if (row->type != MSGPACK_OBJECT_MAP)
		return rowd_error_set(err, ROWD_EINVAL, "row %llu: a row must be a map",
		                      (unsigned long long)w->row);
	m = &row->via.map;
	if (m->size == 0)
		return rowd_error_set(err, ROWD_EINVAL,
		                      "row %llu: an empty row cannot be written in LTSV "
		                      "(it would read back as a blank line)",
		                      (unsigned long long)w->row);
	for (uint32_t i = 0; i < m->size; i++) {
		/* put_pair reserved room for the pair plus one separator. */
		if (put_pair(w, &m->ptr[i].key, &m->ptr[i].val, err) < 0) {
			b->len = start;             /* no half line */
			return -1;
		}
		b->data[b->len++] = i + 1 < m->size ? '\t' : '\n';
	}
	return output_flush_if_full(w->out, err);
}

static int ltsv_wr_finish(void *state, struct rowd_error *err)
{
	(void)state;
	(void)err;
	return 0;
}

/* ---- detection --------------------------------------------------------- */

static bool label_char(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       c == '_' || c == '.' || c == '-';
}

/* Whether every non-empty field of p[0..n) is label:value with a label as
 * ltsv.org defines it. *tabs counts the TABs seen. */
static bool ltsv_line(const char *p, size_t n, size_t *tabs)
{
	size_t i = 0;

	while (i < n) {
		size_t j = i;

		while (j < n && label_char((unsigned char)p[j]))
			j++;
		if (j == i && (j == n || p[j] == '\t')) {   /* an empty field */
			i = j + 1;
			*tabs += j < n;
			continue;
		}
		if (j == i || j == n || p[j] != ':')
			return false;
		while (j < n && p[j] != '\t')
			j++;
		*tabs += j < n;
		i = j + 1;
	}
	return true;
}

/* Every complete line of the head is LTSV with the strict label syntax.
 * TSV's probe scores such a file too (same TABs per line), so LTSV, the
 * more specific reading, scores above it when some line has a TAB; lines
 * of a single "word:text" pair could be many things (YAML, headers). */
static int ltsv_probe(const char *head, size_t n)
{
	size_t i = 0, lines = 0, tabs = 0;

	if (n >= 3 && memcmp(head, "\xef\xbb\xbf", 3) == 0)
		i = 3;
	while (i < n && lines < 50) {
		const char *nl = memchr(head + i, '\n', n - i);
		size_t end = nl ? (size_t)(nl - head) : n;
		size_t len = end - i;

		if (!nl && lines > 0)
			break;                  /* probably cut by the head's end */
		if (len && head[end - 1] == '\r')
			len--;
		if (len) {
			if (!ltsv_line(head + i, len, &tabs))
				return 0;
			lines++;
		}
		i = end + 1;
	}
	if (lines == 0)
		return 0;
	return tabs ? 65 : 30;
}

static const char *const ltsv_extensions[] = { "ltsv", NULL };

const struct format_ops format_ltsv = {
	.name = "ltsv",
	.extensions = ltsv_extensions,
	.caps = FMT_CAP_READ | FMT_CAP_WRITE | FMT_CAP_TOTALS | FMT_CAP_STREAM,
	.probe = ltsv_probe,
	.rd_open = ltsv_rd_open,
	.rd_next = ltsv_rd_next,
	.rd_columns = NULL,
	.rd_close = ltsv_rd_close,
	.wr_open = ltsv_wr_open,
	.wr_row = ltsv_wr_row,
	.wr_finish = ltsv_wr_finish,
	.wr_close = ltsv_wr_close,
};
