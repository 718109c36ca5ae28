/* Spreadsheet rows: options, keys and the packing of cells (see sheet.h).
 *
 * Rows. A row whose cells hold no value is blank and left out (as CSV's
 * blank lines are), wherever it stands. With `header` (the default) the
 * first non-blank row gives the keys: a cell's text, or the column
 * letters for an empty one; every later row has all those keys, nil where
 * its cell is empty. A value in a column the header left unnamed (or any
 * column, without a header) gets that column's letters as key, from that
 * row on. Header names met twice are one key at the first one's place,
 * holding the rightmost value, as with repeated CSV columns.
 *
 * Values. With types "native" a number is an int when it is integral and
 * fits int64, else a float; a number under a date or time format is ISO
 * 8601 text; booleans are bool, text is str. With types "strings" every
 * value is str: numbers in their shortest round-trip form ("1", "0.1"),
 * booleans "TRUE"/"FALSE" (the iterator library's XLSX reader gives the
 * text of every value; its "None" for an empty cell is not copied).
 * Empty cells are nil in both.
 */
#include "config.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"
#include "sheet.h"

static const char *const sheet_known[] = { "sheet", "header", "types", NULL };
static const char *const types_choices[] = { "native", "strings", NULL };

static int nomem(struct rowd_error *err)
{
	return rowd_error_set(err, ROWD_ENOMEM, "out of memory reading a spreadsheet");
}

/* ---- options ------------------------------------------------------------ */

int sheet_opts_parse(const struct fmt_args *a, const char *what, enum sheet_types def_types,
                     struct sheet_opts *o, struct rowd_error *err)
{
	const msgpack_object *v;
	int types = (int)def_types;

	memset(o, 0, sizeof *o);
	o->header = true;
	if (opts_check_known(a->options, sheet_known, what, err) < 0 ||
	    opts_bool(a->options, "header", &o->header, err) < 0 ||
	    opts_choice(a->options, "types", types_choices, &types, err) < 0)
		return -1;
	o->types = (enum sheet_types)types;
	v = opts_get(a->options, "sheet");
	if (!v || v->type == MSGPACK_OBJECT_NIL)
		return 0;
	if (v->type == MSGPACK_OBJECT_STR && !memchr(v->via.str.ptr, 0, v->via.str.size)) {
		o->name = v->via.str.ptr;
		o->name_len = v->via.str.size;
		return 0;
	}
	if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 <= INT64_MAX) {
		o->index = (int64_t)v->via.u64;
		return 0;
	}
	return rowd_error_set(err, ROWD_EINVAL,
	                      "option 'sheet' must be a sheet name or a 0-based sheet index");
}

/* "a, b, c" for messages, cut short. */
static void list_names(size_t n, sheet_name_fn name, void *ctx, char *buf, size_t cap)
{
	size_t at = 0;

	buf[0] = 0;
	for (size_t i = 0; i < n && at < cap; i++) {
		int k = snprintf(buf + at, cap - at, "%s'%s'", i ? ", " : "", name(ctx, i));

		if (k < 0 || (size_t)k >= cap - at || at + (size_t)k > 120) {
			snprintf(buf + at, cap - at, "%s...", i ? ", " : "");
			return;
		}
		at += (size_t)k;
	}
	if (n == 0)
		snprintf(buf, cap, "none");
}

long sheet_pick(const struct sheet_opts *o, size_t n, sheet_name_fn name, void *ctx,
                struct rowd_error *err)
{
	char list[160];

	if (o->name) {
		for (size_t i = 0; i < n; i++)
			if (strlen(name(ctx, i)) == o->name_len &&
			    memcmp(name(ctx, i), o->name, o->name_len) == 0)
				return (long)i;
		list_names(n, name, ctx, list, sizeof list);
		return rowd_error_set(err, ROWD_EINVAL, "option 'sheet': no sheet '%.*s' in the workbook (sheets: %s)",
		                      (int)(o->name_len > 64 ? 64 : o->name_len), o->name, list);
	}
	if ((uint64_t)o->index < n)
		return (long)o->index;
	if (n == 0 && o->index == 0)
		return rowd_error_set(err, ROWD_EFORMAT, "the workbook has no sheets");
	list_names(n, name, ctx, list, sizeof list);
	return rowd_error_set(err, ROWD_EINVAL,
	                      "option 'sheet': index %" PRId64 " is out of range: the workbook has %zu sheet%s (%s)",
	                      o->index, n, n == 1 ? "" : "s", list);
}

int sheet_pack_names(struct mpbuf *out, size_t n, sheet_name_fn name, void *ctx,
                     struct rowd_error *err)
{
	if (n > UINT32_MAX || mpbuf_array_hdr(out, (uint32_t)n) < 0)
		return nomem(err);
	for (size_t i = 0; i < n; i++)
		if (mpbuf_cstr(out, name(ctx, i)) < 0)
			return nomem(err);
	return 0;
}

/* ---- keys --------------------------------------------------------------- */

static uint32_t hash_bytes(const char *p, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 16777619u;
	return h;
}

static const char *slot_key(const struct sheet_rows *s, uint32_t slot, size_t *n)
{
	*n = s->key_off[slot + 1] - s->key_off[slot];
	return s->keys.data + s->key_off[slot];
}

/* Where name (msgpack str bytes) is or would go in the hash. */
static size_t hash_find(const struct sheet_rows *s, const char *p, size_t n)
{
	size_t mask = s->hash_cap - 1, i = hash_bytes(p, n) & mask;

	for (;; i = (i + 1) & mask) {
		const char *k;
		size_t kn;

		if (!s->hash[i])
			return i;
		k = slot_key(s, s->hash[i] - 1, &kn);
		if (kn == n && memcmp(k, p, n) == 0)
			return i;
	}
}

static int hash_grow(struct sheet_rows *s)
{
	size_t cap = s->hash_cap ? s->hash_cap * 2 : 64;
	uint32_t *old = s->hash;
	size_t old_cap = s->hash_cap;

	s->hash = calloc(cap, sizeof *s->hash);
	if (!s->hash) {
		s->hash = old;
		return -1;
	}
	s->hash_cap = cap;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i]) {
			size_t kn;
			const char *k = slot_key(s, old[i] - 1, &kn);

			s->hash[hash_find(s, k, kn)] = old[i];
		}
	free(old);
	return 0;
}

/* Gives column col the key name (text): a new slot, or the slot of that
 * name already. */
static int name_column(struct sheet_rows *s, uint32_t col, const char *p, size_t n,
                       struct rowd_error *err)
{
	size_t start = s->keys.len, h;

	if (mpbuf_str(&s->keys, p, n) < 0)
		return nomem(err);
	if ((s->nslots + 1) * 2 > s->hash_cap && hash_grow(s) < 0)
		return nomem(err);
	h = hash_find(s, s->keys.data + start, s->keys.len - start);
	if (s->hash[h]) {
		s->keys.len = start;
		s->col_slot[col] = s->hash[h] - 1;
		return 0;
	}
	if (s->nslots + 2 > s->slots_cap) {
		size_t cap = s->slots_cap ? s->slots_cap * 2 : 16;
		size_t *ko = realloc(s->key_off, cap * sizeof *ko);

		if (!ko)
			return nomem(err);
		s->key_off = ko;
		s->slots_cap = cap;
	}
	s->key_off[s->nslots + 1] = s->keys.len;
	s->hash[h] = s->nslots + 1;
	s->col_slot[col] = s->nslots++;
	return 0;
}

static int name_by_letters(struct sheet_rows *s, uint32_t col, struct rowd_error *err)
{
	char name[4];

	return name_column(s, col, name, sheet_col_name(col, name), err);
}

int sheet_rows_columns(struct sheet_rows *s, uint32_t first, uint32_t last,
                       struct rowd_error *err)
{
	for (uint32_t c = first; c <= last && c < SHEET_MAX_COLS; c++)
		if (s->col_slot[c] == UINT32_MAX && name_by_letters(s, c, err) < 0)
			return -1;
	return 0;
}

int sheet_rows_init(struct sheet_rows *s, const struct sheet_opts *o,
                    const struct rowd_limits *lim, struct rowd_error *err)
{
	memset(s, 0, sizeof *s);
	s->lim = lim;
	s->header = s->need_header = o->header;
	s->strings = o->types == SHEET_TYPES_STRINGS;
	mpbuf_init(&s->keys);
	mpbuf_init(&s->vals);
	s->col_slot = malloc(SHEET_MAX_COLS * sizeof *s->col_slot);
	s->key_off = calloc(16, sizeof *s->key_off);
	if (!s->col_slot || !s->key_off)
		return nomem(err);
	s->slots_cap = 16;
	memset(s->col_slot, 0xff, SHEET_MAX_COLS * sizeof *s->col_slot);
	return 0;
}

void sheet_rows_free(struct sheet_rows *s)
{
	free(s->col_slot);
	free(s->key_off);
	free(s->hash);
	free(s->cells);
	free(s->slot_cell);
	mpbuf_free(&s->keys);
	mpbuf_free(&s->vals);
	memset(s, 0, sizeof *s);
}

int sheet_rows_keys(const struct sheet_rows *s, struct mpbuf *out)
{
	if (s->nslots == 0 || s->need_header)
		return 0;
	if (mpbuf_array_hdr(out, s->nslots) < 0 ||
	    mpbuf_append(out, s->keys.data, s->key_off[s->nslots]) < 0)
		return 0;      /* the caller drops what was packed */
	return 1;
}

/* ---- cells -------------------------------------------------------------- */

void sheet_row_begin(struct sheet_rows *s, uint64_t row)
{
	s->row = row;
	s->ncells = 0;
	s->vals.len = 0;
}

/* Header cells are text whatever the types. */
static bool as_text(const struct sheet_rows *s)
{
	return s->strings || s->need_header;
}

/* Opens a cell: its value goes at s->vals.len. */
static int cell_add(struct sheet_rows *s, uint32_t col, size_t start, struct rowd_error *err)
{
	if (s->ncells == s->cells_cap) {
		size_t cap = s->cells_cap ? s->cells_cap * 2 : 32;
		struct sheet_cell *c = realloc(s->cells, cap * sizeof *c);

		if (!c)
			return nomem(err);
		s->cells = c;
		s->cells_cap = cap;
	}
	s->cells[s->ncells++] = (struct sheet_cell){ .col = col, .off = start,
	                                             .len = s->vals.len - start };
	if (s->vals.len > s->lim->row_bytes) {
		err->row = (int64_t)s->row;
		return rowd_error_set(err, ROWD_ELIMIT, "sheet row %llu is larger than the row_bytes limit (%zu)",
		                      (unsigned long long)s->row, s->lim->row_bytes);
	}
	return 0;
}

int sheet_put_str(struct sheet_rows *s, uint32_t col, const char *p, size_t n,
                  struct rowd_error *err)
{
	size_t start = s->vals.len;

	if (n > s->lim->str_bytes) {
		err->row = (int64_t)s->row;
		return rowd_error_set(err, ROWD_ELIMIT,
		                      "sheet row %llu: a cell holds %zu bytes of text, over the str_bytes limit (%zu)",
		                      (unsigned long long)s->row, n, s->lim->str_bytes);
	}
	if (!proto_utf8_valid(p, n)) {
		err->row = (int64_t)s->row;
		return rowd_error_set(err, ROWD_EFORMAT, "sheet row %llu: a cell holds text that is not valid UTF-8",
		                      (unsigned long long)s->row);
	}
	if (mpbuf_str(&s->vals, p, n) < 0)
		return nomem(err);
	return cell_add(s, col, start, err);
}

int sheet_put_int(struct sheet_rows *s, uint32_t col, int64_t v, struct rowd_error *err)
{
	size_t start = s->vals.len;
	char text[24];

	if (as_text(s))
		return sheet_put_str(s, col, text, (size_t)snprintf(text, sizeof text, "%" PRId64, v), err);
	if (mpbuf_int(&s->vals, v) < 0)
		return nomem(err);
	return cell_add(s, col, start, err);
}

/* The shortest text that reads back as v. %g drops trailing zeros, so
 * 15 digits already give the shortest form of any number that has one
 * within 15 digits (a double's error is far below the 15th digit). */
static size_t number_text(double v, char out[32])
{
	int n = 0;

	for (int prec = 15; prec <= 17; prec++) {
		n = snprintf(out, 32, "%.*g", prec, v);
		if (strtod(out, NULL) == v)
			break;
	}
	return (size_t)n;
}

int sheet_put_number(struct sheet_rows *s, uint32_t col, double v, struct rowd_error *err)
{
	size_t start = s->vals.len;
	char text[32];

	/* 2^63 is the first double past int64. */
	if (v == trunc(v) && v >= -9223372036854775808.0 && v < 9223372036854775808.0)
		return sheet_put_int(s, col, (int64_t)v, err);
	if (!isfinite(v)) {
		err->row = (int64_t)s->row;
		return rowd_error_set(err, ROWD_EFORMAT, "sheet row %llu: a cell holds a number that is not finite",
		                      (unsigned long long)s->row);
	}
	if (as_text(s))
		return sheet_put_str(s, col, text, number_text(v, text), err);
	if (mpbuf_double(&s->vals, v) < 0)
		return nomem(err);
	return cell_add(s, col, start, err);
}

int sheet_put_bool(struct sheet_rows *s, uint32_t col, bool v, struct rowd_error *err)
{
	size_t start = s->vals.len;

	if (as_text(s))
		return sheet_put_str(s, col, v ? "TRUE" : "FALSE", v ? 4 : 5, err);
	if (mpbuf_bool(&s->vals, v) < 0)
		return nomem(err);
	return cell_add(s, col, start, err);
}

int sheet_put_serial(struct sheet_rows *s, uint32_t col, double v, bool date1904,
                     enum sheet_kind kind, struct rowd_error *err)
{
	char iso[40];
	size_t n = kind == SHEET_NUMBER ? 0 : sheet_serial_iso(v, date1904, kind, iso);

	return n ? sheet_put_str(s, col, iso, n, err) : sheet_put_number(s, col, v, err);
}

/* ---- rows --------------------------------------------------------------- */

/* The text of a packed str (header cells are always str). */
static const char *str_body(const char *p, size_t len, size_t *n)
{
	unsigned char t = (unsigned char)p[0];
	size_t h = (t & 0xe0) == 0xa0 ? 1 : t == 0xd9 ? 2 : t == 0xda ? 3 : 5;

	*n = len - h;
	return p + h;
}

static int take_header(struct sheet_rows *s, struct rowd_error *err)
{
	uint32_t last = 0, *at;
	int rc = 0;

	for (size_t i = 0; i < s->ncells; i++)
		if (s->cells[i].col > last)
			last = s->cells[i].col;
	at = calloc((size_t)last + 1, sizeof *at);
	if (!at)
		return nomem(err);
	/* A column given twice in the row: the later cell wins. */
	for (size_t i = 0; i < s->ncells; i++)
		at[s->cells[i].col] = (uint32_t)i + 1;
	for (uint32_t c = 0; rc == 0 && c <= last; c++) {
		const struct sheet_cell *cell = at[c] ? &s->cells[at[c] - 1] : NULL;
		size_t n = 0;
		const char *p = cell ? str_body(s->vals.data + cell->off, cell->len, &n) : NULL;

		rc = p && n ? name_column(s, c, p, n, err) : name_by_letters(s, c, err);
	}
	free(at);
	s->need_header = false;
	return rc;
}

int sheet_row_end(struct sheet_rows *s, struct mpbuf *out, int *emitted, struct rowd_error *err)
{
	size_t start = out->len;

	*emitted = 0;
	if (s->ncells == 0)
		return 0;
	if (s->need_header)
		return take_header(s, err);
	for (size_t i = 0; i < s->ncells; i++)
		if (s->col_slot[s->cells[i].col] == UINT32_MAX &&
		    name_by_letters(s, s->cells[i].col, err) < 0)
			return -1;
	if (s->nslots > s->slot_cell_cap) {
		uint32_t *sc = realloc(s->slot_cell, s->nslots * sizeof *sc);

		if (!sc)
			return nomem(err);
		s->slot_cell = sc;
		s->slot_cell_cap = s->nslots;
	}
	memset(s->slot_cell, 0, s->nslots * sizeof *s->slot_cell);
	for (size_t i = 0; i < s->ncells; i++)
		s->slot_cell[s->col_slot[s->cells[i].col]] = (uint32_t)i + 1;
	if (mpbuf_reserve(out, s->keys.len + s->vals.len + s->nslots + 5) < 0)
		return nomem(err);
	mp_put_map_hdr(out, s->nslots);
	for (uint32_t k = 0; k < s->nslots; k++) {
		const struct sheet_cell *c = s->slot_cell[k] ? &s->cells[s->slot_cell[k] - 1] : NULL;
		size_t kn;
		const char *key = slot_key(s, k, &kn);

		memcpy(out->data + out->len, key, kn);
		out->len += kn;
		if (c) {
			memcpy(out->data + out->len, s->vals.data + c->off, c->len);
			out->len += c->len;
		} else {
			mp_put_u8(out, 0xc0);
		}
	}
	if (out->len - start > s->lim->row_bytes) {
		out->len = start;
		err->row = (int64_t)s->row;
		return rowd_error_set(err, ROWD_ELIMIT, "sheet row %llu is larger than the row_bytes limit (%zu)",
		                      (unsigned long long)s->row, s->lim->row_bytes);
	}
	*emitted = 1;
	return 0;
}

/* ---- reading ------------------------------------------------------------ */

int sheet_read_header(struct sheet_read *rd, const struct sheet_rows *rows,
                      struct rowd_error *err)
{
	struct mpbuf none;       /* no row is packed before the header */
	int rc = 0;

	mpbuf_init(&none);
	while (rd->state == 0 && rows->need_header) {
		int emitted;

		rc = rd->step(rd->ctx, &none, &emitted, err);
		if (rc < 0)
			break;
		if (rc == 1)
			rd->state = 1;
	}
	mpbuf_free(&none);
	return rc < 0 ? -1 : 0;
}

int sheet_read_next(struct sheet_read *rd, struct mpbuf *out, size_t max, size_t *nrows,
                    struct rowd_error *err)
{
	*nrows = 0;
	if (rd->state < 0) {
		*err = rd->fail;
		return -1;
	}
	while (rd->state == 0 && *nrows < max) {
		int emitted, rc = rd->step(rd->ctx, out, &emitted, err);

		if (rc < 0) {
			rd->state = -1;
			rd->fail = *err;
			return -1;
		}
		if (rc == 1)
			rd->state = 1;
		*nrows += (size_t)emitted;
	}
	return rd->state == 1;
}
