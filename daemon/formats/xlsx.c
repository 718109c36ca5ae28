/* XLSX (Office Open XML workbooks), read only: the rows of one sheet.
 *
 * The workbook is a zip archive read from the daemon's fd (xlsx_zip.c);
 * xlsx_book.c finds the sheets, the date system, shared strings and
 * styles. The sheet's XML is streamed: libxml2's xmlTextReader pulls it
 * through zip_fread node by node and each <row> is packed as it ends, so
 * a sheet of any size takes the memory of one row (plus the shared
 * strings table). Writing is xlsx_write.c's (our own writer over
 * codecs/zipwrite.c).
 *
 * Options `sheet` (name or 0-based index, default the first), `header`
 * (default true: the first non-blank row gives the keys; false: keys are
 * the column letters "A", "B", ..., every column of the sheet's declared
 * dimension in each row), `types` ("strings", the default here, or
 * "native"). Strings by default because that is what the iterator
 * library's XLSX reader gives (every value as text, iterabledata's
 * 2cols6rows.xlsx reads as ids "1".."6"); "native" keeps the cell types.
 * See sheet.c for rows and values.
 *
 * Cells: t="s" shared string, "str" formula text, "inlineStr" (<is> text,
 * rich runs joined, phonetic runs left out), "b" boolean, "e" error text
 * ("#DIV/0!"), "d" ISO date text as written, numbers (no t, or "n"): a
 * number under a date or time format (built-in ids 14-22, 45-47, or a
 * custom format using d/m/y/h/s outside quotes) is ISO 8601 text from the
 * 1900 or 1904 (workbookPr date1904) serial. A cell's column is its `r`
 * reference (the next column when it has none), so sparse rows keep their
 * places; empty cells are nil.
 *
 * Errors: not a zip, a missing workbook or sheet part, a corrupt member
 * are EFORMAT naming the part; bad XML and bad cells are EFORMAT with the
 * part's line (err->line) and the sheet row (err->row).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xlsx.h"
#include "xlsx_write.h"

struct xlsx_rd {
	struct xlsx_book book;
	struct xlsx_part part;
	struct sheet_rows rows;
	bool header;

	/* Where the stream is. */
	bool in_data, in_row, in_cell, in_is;
	int rph;                   /* depth of phonetic runs */
	uint64_t row;              /* sheet row number of the current row */
	uint32_t next_col;

	/* The cell being read. */
	uint32_t col;
	char type[12];
	unsigned style;
	bool has_v, has_is;
	struct mpbuf v, is;

	struct sheet_read read;
};

static int nomem(struct rowd_error *err)
{
	return rowd_error_set(err, ROWD_ENOMEM, "out of memory reading an xlsx sheet");
}

static const char *book_name(void *ctx, size_t i)
{
	return ((struct xlsx_book *)ctx)->sheets[i].name;
}

/* ---- cells -------------------------------------------------------------- */

/* An error about the current cell: part line, sheet row and reference. */
static int cell_error(struct xlsx_rd *r, struct rowd_error *err, const char *what)
{
	char ref[4];
	size_t n = sheet_col_name(r->col, ref);

	err->row = (int64_t)r->row;
	return xlsx_part_error(&r->part, ROWD_EFORMAT, err, "sheet row %llu, cell %.*s%llu: %s",
	                       (unsigned long long)r->row, (int)n, ref, (unsigned long long)r->row,
	                       what);
}

/* The text of v, NUL-terminated, without surrounding blanks. */
static char *v_text(struct xlsx_rd *r)
{
	char *p;
	size_t n;

	if (mpbuf_append(&r->v, "", 1) < 0)
		return NULL;
	r->v.len--;
	p = r->v.data;
	n = r->v.len;
	while (n && isspace((unsigned char)p[n - 1]))
		p[--n] = 0;
	while (isspace((unsigned char)*p))
		p++;
	return p;
}

/* A number as Excel writes it: decimal, no hex, inf or nan. */
static int parse_number(const char *s, double *out)
{
	char *end;

	if (!*s || strspn(s, "0123456789+-.eE") != strlen(s))
		return -1;
	errno = 0;
	*out = strtod(s, &end);
	return *end || !isfinite(*out) ? -1 : 0;
}

static int put_shared(struct xlsx_rd *r, const char *s, struct rowd_error *err)
{
	const struct xlsx_book *b = &r->book;
	char *end;
	unsigned long long i;

	errno = 0;
	i = strtoull(s, &end, 10);
	if (!*s || *end || errno || !isdigit((unsigned char)*s))
		return cell_error(r, err, "the shared string index is not a number");
	if (i >= b->nsst)
		return cell_error(r, err, "the shared string index is past the shared strings table");
	return sheet_put_str(&r->rows, r->col, b->sst.data + b->sst_off[i],
	                     b->sst_off[i + 1] - b->sst_off[i], err);
}

static int put_number(struct xlsx_rd *r, const char *s, struct rowd_error *err)
{
	enum sheet_kind kind = r->style < r->book.nxf ? (enum sheet_kind)r->book.xf_kind[r->style]
	                                             : SHEET_NUMBER;
	double d;

	if (parse_number(s, &d) < 0)
		return cell_error(r, err, "the value is not a number");
	return sheet_put_serial(&r->rows, r->col, d, r->book.date1904, kind, err);
}

static int finish_cell(struct xlsx_rd *r, struct rowd_error *err)
{
	const char *t = r->type;
	char *s;

	r->in_cell = r->in_is = false;
	if (strcmp(t, "inlineStr") == 0 && r->has_is) {
		xlsx_unescape(&r->is, 0);
		return sheet_put_str(&r->rows, r->col, r->is.data ? r->is.data : "", r->is.len, err);
	}
	if (!r->has_v)
		return 0;                  /* empty */
	if (strcmp(t, "str") == 0 || strcmp(t, "inlineStr") == 0) {
		xlsx_unescape(&r->v, 0);
		return sheet_put_str(&r->rows, r->col, r->v.data ? r->v.data : "", r->v.len, err);
	}
	if (!(s = v_text(r)))
		return nomem(err);
	if (!*t || strcmp(t, "n") == 0)
		return *s ? put_number(r, s, err) : 0;
	if (strcmp(t, "s") == 0)
		return put_shared(r, s, err);
	if (strcmp(t, "b") == 0) {
		if (strcmp(s, "1") && strcmp(s, "0") && strcmp(s, "true") && strcmp(s, "false"))
			return cell_error(r, err, "the boolean is neither 0 nor 1");
		return sheet_put_bool(&r->rows, r->col, s[0] == '1' || s[0] == 't', err);
	}
	if (strcmp(t, "e") == 0 || strcmp(t, "d") == 0)
		return sheet_put_str(&r->rows, r->col, s, strlen(s), err);
	return cell_error(r, err, "unknown cell type");
}

static int start_cell(struct xlsx_rd *r, struct rowd_error *err)
{
	static const char *const names[] = { "r", "t", "s" };
	char *a[3], *ref, *t, *st;
	uint32_t col = r->next_col, row;
	int rc = 0;

	xlsx_part_attrs(&r->part, names, a, 3);
	ref = a[0], t = a[1], st = a[2];
	if (ref && sheet_parse_ref(ref, &col, &row) < 0) {
		err->row = (int64_t)r->row;
		rc = xlsx_part_error(&r->part, ROWD_EFORMAT, err, "sheet row %llu: bad cell reference '%.20s'",
		                     (unsigned long long)r->row, ref);
	} else if (col >= SHEET_MAX_COLS) {
		err->row = (int64_t)r->row;
		rc = xlsx_part_error(&r->part, ROWD_EFORMAT, err, "sheet row %llu: a cell lies past column XFD",
		                     (unsigned long long)r->row);
	} else if (t && strlen(t) >= sizeof r->type) {
		r->col = col;
		rc = cell_error(r, err, "unknown cell type");
	}
	if (rc == 0) {
		r->col = col;
		r->next_col = col + 1;
		snprintf(r->type, sizeof r->type, "%s", t ? t : "");
		r->style = st ? (unsigned)strtoul(st, NULL, 10) : 0;
		r->has_v = r->has_is = false;
		r->v.len = r->is.len = 0;
		r->in_cell = true;
		r->rph = 0;
	}
	free(ref);
	free(t);
	free(st);
	return rc;
}

/* ---- rows --------------------------------------------------------------- */

static void start_row(struct xlsx_rd *r)
{
	char *n = xlsx_part_attr(&r->part, "r");
	unsigned long long v = n ? strtoull(n, NULL, 10) : 0;

	r->row = v ? v : r->row + 1;
	r->next_col = 0;
	r->in_row = true;
	sheet_row_begin(&r->rows, r->row);
	free(n);
}

/* Without a header, the declared dimension ("A1:D20") names the columns. */
static int dimension(struct xlsx_rd *r, struct rowd_error *err)
{
	char *ref = xlsx_part_attr(&r->part, "ref"), *colon;
	uint32_t c0, c1, row;
	int rc = 0;

	if (!ref)
		return 0;
	colon = strchr(ref, ':');
	if (colon)
		*colon = 0;
	if (sheet_parse_ref(ref, &c0, &row) == 0 &&
	    (!colon ? (c1 = c0, 1) : sheet_parse_ref(colon + 1, &c1, &row) == 0) && c0 <= c1)
		rc = sheet_rows_columns(&r->rows, c0, c1, err);
	free(ref);
	return rc;
}

static int on_element(struct xlsx_rd *r, const char *el, struct rowd_error *err)
{
	bool empty = xmlTextReaderIsEmptyElement(r->part.rd) == 1;

	if (r->in_cell) {
		if (strcmp(el, "v") == 0) {
			r->has_v = true;
			r->v.len = 0;
			return xlsx_part_text(&r->part, &r->v, err);
		}
		if (strcmp(el, "is") == 0) {
			r->has_is = true;
			r->in_is = !empty;
		} else if (strcmp(el, "rPh") == 0 && r->in_is && !empty) {
			r->rph++;
		} else if (strcmp(el, "t") == 0 && r->in_is && !r->rph) {
			return xlsx_part_text(&r->part, &r->is, err);
		}
		return 0;
	}
	if (strcmp(el, "c") == 0) {
		if (!r->in_row)
			return xlsx_part_error(&r->part, ROWD_EFORMAT, err, "a cell outside a row");
		if (start_cell(r, err) < 0)
			return -1;
		return empty ? finish_cell(r, err) : 0;
	}
	if (strcmp(el, "row") == 0 && r->in_data) {
		start_row(r);
		return 0;
	}
	if (strcmp(el, "sheetData") == 0)
		r->in_data = !empty;
	else if (strcmp(el, "dimension") == 0 && !r->header)
		return dimension(r, err);
	return 0;
}

/* Reads nodes until a row ends: *emitted 1 when it was packed into out.
 * Returns 1 at the end of the sheet. */
static int step(void *ctx, struct mpbuf *out, int *emitted, struct rowd_error *err)
{
	struct xlsx_rd *r = ctx;

	*emitted = 0;
	for (;;) {
		int rc = xlsx_part_next(&r->part, err);
		const char *el;
		bool row_done = false;

		if (rc <= 0) {
			/* The last row begun (none: the error came first). */
			if (rc < 0 && r->row)
				err->row = (int64_t)r->row;
			return rc < 0 ? -1 : 1;
		}
		if ((el = xlsx_part_element(&r->part, false))) {
			if (on_element(r, el, err) < 0)
				return -1;
			/* <row/>: a row with no cells. */
			row_done = strcmp(el, "row") == 0 && r->in_row &&
			           xmlTextReaderIsEmptyElement(r->part.rd) == 1;
		} else if ((el = xlsx_part_element(&r->part, true))) {
			if (strcmp(el, "rPh") == 0 && r->rph)
				r->rph--;
			else if (strcmp(el, "is") == 0)
				r->in_is = false;
			else if (strcmp(el, "c") == 0 && r->in_cell && finish_cell(r, err) < 0)
				return -1;
			else if (strcmp(el, "sheetData") == 0)
				r->in_data = false;
			row_done = strcmp(el, "row") == 0 && r->in_row;
		}
		if (row_done) {
			r->in_row = false;
			if (sheet_row_end(&r->rows, out, emitted, err) < 0)
				return -1;
			return 0;
		}
	}
}

/* ---- the format --------------------------------------------------------- */

static void xlsx_rd_close(void *state)
{
	struct xlsx_rd *r = state;

	if (!r)
		return;
	xlsx_part_close(&r->part);
	xlsx_book_close(&r->book);
	sheet_rows_free(&r->rows);
	mpbuf_free(&r->v);
	mpbuf_free(&r->is);
	free(r);
}

static int open_sheet(struct xlsx_rd *r, const struct fmt_args *a, const struct sheet_opts *o,
                      struct rowd_error *err)
{
	long pick;
	int64_t index;
	const struct xlsx_sheet *sh;

	if (xlsx_book_open(&r->book, a->fd, a->limits, true, err) < 0)
		return -1;
	pick = sheet_pick(o, r->book.nsheets, book_name, &r->book, err);
	if (pick < 0)
		return -1;
	sh = &r->book.sheets[pick];
	if (!sh->part)
		return rowd_error_set(err, ROWD_EFORMAT, "xlsx: sheet '%.64s' has no part in the workbook's relationships",
		                      sh->name);
	index = xlsx_zip_find(r->book.za, sh->part);
	if (index < 0)
		return rowd_error_set(err, ROWD_EFORMAT, "xlsx: sheet '%.64s': the archive has no part %.100s",
		                      sh->name, sh->part);
	return xlsx_part_open(&r->part, r->book.za, index, 0, a->limits, err);
}

static int xlsx_rd_open(const struct fmt_args *a, void **state, struct rowd_error *err)
{
	struct sheet_opts o;
	struct xlsx_rd *r;

	if (sheet_opts_parse(a, "format xlsx", SHEET_TYPES_STRINGS, &o, err) < 0)
		return -1;
	r = calloc(1, sizeof *r);
	if (!r)
		return nomem(err);
	r->header = o.header;
	mpbuf_init(&r->v);
	mpbuf_init(&r->is);
	r->read.step = step;
	r->read.ctx = r;
	if (sheet_rows_init(&r->rows, &o, a->limits, err) < 0 || open_sheet(r, a, &o, err) < 0 ||
	    sheet_read_header(&r->read, &r->rows, err) < 0) {
		xlsx_rd_close(r);
		return -1;
	}
	*state = r;
	return 0;
}

static int xlsx_rd_next(void *state, struct mpbuf *out, size_t max, size_t *nrows,
                        uint64_t *skipped, struct rowd_error *err)
{
	return sheet_read_next(&((struct xlsx_rd *)state)->read, out, max, nrows, err);
}

static int xlsx_rd_columns(void *state, struct mpbuf *out)
{
	return sheet_rows_keys(&((struct xlsx_rd *)state)->rows, out);
}

static int xlsx_tables(const struct fmt_args *a, struct mpbuf *out, struct rowd_error *err)
{
	struct xlsx_book b;
	int rc;

	if (xlsx_book_open(&b, a->fd, a->limits, false, err) < 0)
		return -1;
	rc = sheet_pack_names(out, b.nsheets, book_name, &b, err);
	xlsx_book_close(&b);
	return rc;
}

/* Only reached with codec none: a zip whose first member is OPC's. */
static int xlsx_probe(const char *head, size_t n)
{
	if (n < 30 || memcmp(head, "PK\3\4", 4) != 0)
		return 0;
	return memmem(head, n, "[Content_Types].xml", 19) || memmem(head, n, "xl/", 3) ? 90 : 0;
}

static const char *const xlsx_extensions[] = { "xlsx", NULL };

const struct format_ops format_xlsx = {
	.name = "xlsx",
	.extensions = xlsx_extensions,
	.caps = FMT_CAP_READ | FMT_CAP_WRITE | FMT_CAP_TOTALS | FMT_CAP_TABLES | FMT_CAP_BINARY |
	        FMT_CAP_RAW,
	.probe = xlsx_probe,
	.tables = xlsx_tables,
	.rd_open = xlsx_rd_open,
	.rd_next = xlsx_rd_next,
	.rd_columns = xlsx_rd_columns,
	.rd_close = xlsx_rd_close,
	.wr_open = fmt_xlsx_wr_open,
	.wr_row = fmt_xlsx_wr_row,
	.wr_finish = fmt_xlsx_wr_finish,
	.wr_close = fmt_xlsx_wr_close,
};
