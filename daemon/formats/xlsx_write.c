/* XLSX writing: one sheet, streamed.
 *
 * Our own writer, not libxlsxwriter: that library is not in Debian's
 * reach here, and a workbook of one sheet is a handful of fixed XML parts
 * plus the sheet, which zipwrite.c (a streaming zip writer over zlib) can
 * deflate as it comes. libxlsxwriter's constant_memory mode streams the
 * same way; without it, it would hold the whole sheet.
 *
 * Layout: [Content_Types].xml, _rels/.rels, xl/workbook.xml,
 * xl/_rels/workbook.xml.rels, xl/styles.xml (one default style) are
 * written at open; then xl/worksheets/sheet1.xml, one member streamed row
 * by row (rows gathered into 64 KiB of XML between zip writes): the
 * header row (the column names as strings), then one row per row
 * written. No <dimension>: it would have to come before the rows; it is
 * optional. Strings are inline (no shared strings table, which would
 * hold every distinct string in memory). See xlsx_cell.c for the cells.
 *
 * Columns: option `fieldnames`, else the first row's keys in order; a
 * later row missing a key leaves the cell empty; a key that is not a
 * column is EINVAL naming the row and key (as the csv writer). A row
 * refused leaves nothing in the file: its XML is complete before it goes
 * out. Excel's limits: 16384 columns and 1048576 sheet rows (the header
 * is one) are ELIMIT; a cell over 32767 characters is EINVAL.
 *
 * Options: `sheet` (the sheet's name, default "Sheet1", Excel's rules:
 * 1-31 characters, none of []:*?/\ or control characters, no apostrophe
 * at either end, not "History"), `fieldnames`, `header` (default true:
 * false writes no header row). The reader's `types` is EINVAL (reading
 * only); anything else is EINVAL naming it.
 *
 * Read back (xlsx.c): numbers that are whole read as ints (1.0 -> 1), and
 * a row whose every value is nil is blank and skipped; with the reader's
 * default types "strings" every value is its text (TRUE/FALSE for bools).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "codecs/zipwrite.h"
#include "options.h"
#include "output.h"
#include "xlsx_write.h"

#define XML_HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
#define NS_MAIN "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
#define NS_REL "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
#define NS_PKG_REL "http://schemas.openxmlformats.org/package/2006/relationships"
#define CT_PREFIX "application/vnd.openxmlformats-officedocument.spreadsheetml."
#define ZIP_LEVEL 6
#define ROWS_CHUNK (64 * 1024)     /* sheet XML gathered per zip write */

static const char CONTENT_TYPES[] = XML_HEAD
	"<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">"
	"<Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>"
	"<Default Extension=\"xml\" ContentType=\"application/xml\"/>"
	"<Override PartName=\"/xl/workbook.xml\" ContentType=\"" CT_PREFIX "sheet.main+xml\"/>"
	"<Override PartName=\"/xl/worksheets/sheet1.xml\" ContentType=\"" CT_PREFIX "worksheet+xml\"/>"
	"<Override PartName=\"/xl/styles.xml\" ContentType=\"" CT_PREFIX "styles+xml\"/>"
	"</Types>";

static const char ROOT_RELS[] = XML_HEAD
	"<Relationships xmlns=\"" NS_PKG_REL "\">"
	"<Relationship Id=\"rId1\" Type=\"" NS_REL "/officeDocument\" Target=\"xl/workbook.xml\"/>"
	"</Relationships>";

static const char BOOK_RELS[] = XML_HEAD
	"<Relationships xmlns=\"" NS_PKG_REL "\">"
	"<Relationship Id=\"rId1\" Type=\"" NS_REL "/worksheet\" Target=\"worksheets/sheet1.xml\"/>"
	"<Relationship Id=\"rId2\" Type=\"" NS_REL "/styles\" Target=\"styles.xml\"/>"
	"</Relationships>";

/* The least a stylesheet holds for Excel to open it without a repair. */
static const char STYLES[] = XML_HEAD
	"<styleSheet xmlns=\"" NS_MAIN "\">"
	"<fonts count=\"1\"><font><sz val=\"11\"/><name val=\"Calibri\"/><family val=\"2\"/></font></fonts>"
	"<fills count=\"2\"><fill><patternFill patternType=\"none\"/></fill>"
	"<fill><patternFill patternType=\"gray125\"/></fill></fills>"
	"<borders count=\"1\"><border><left/><right/><top/><bottom/><diagonal/></border></borders>"
	"<cellStyleXfs count=\"1\"><xf numFmtId=\"0\" fontId=\"0\" fillId=\"0\" borderId=\"0\"/></cellStyleXfs>"
	"<cellXfs count=\"1\"><xf numFmtId=\"0\" fontId=\"0\" fillId=\"0\" borderId=\"0\" xfId=\"0\"/></cellXfs>"
	"<cellStyles count=\"1\"><cellStyle name=\"Normal\" xfId=\"0\" builtinId=\"0\"/></cellStyles>"
	"</styleSheet>";

static const char BOOK_HEAD[] = XML_HEAD
	"<workbook xmlns=\"" NS_MAIN "\" xmlns:r=\"" NS_REL "\"><sheets><sheet name=\"";
static const char BOOK_TAIL[] = "\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>";

static const char SHEET_HEAD[] = XML_HEAD
	"<worksheet xmlns=\"" NS_MAIN "\" xmlns:r=\"" NS_REL "\"><sheetData>";
static const char SHEET_TAIL[] = "</sheetData></worksheet>";

static const char *const wr_known[] = { "sheet", "fieldnames", "header", "types", NULL };

struct xlsx_wr {
	struct output *out;
	struct zipw *zip;
	time_t mtime;
	bool header;               /* write the header row */
	bool started;              /* the header row is out (or not wanted) */
	bool done;                 /* wr_finish ran */

	/* Columns: names back to back, a hash from name to column. */
	bool have_cols;
	uint32_t ncols;
	char *names;
	size_t *name_off;          /* ncols + 1 */
	uint32_t *hash;            /* column + 1, 0 = empty; hash_cap slots */
	size_t hash_cap;
	const msgpack_object **vals;   /* the current row, by column */

	uint64_t row;              /* rows handed to wr_row, for messages */
	uint32_t sheet_row;        /* sheet rows written */
	struct mpbuf xml;          /* sheet XML not yet given to the zip */
	struct mpbuf scratch;      /* JSON text of nested values */
};

static int nomem(struct rowd_error *err)
{
	return rowd_error_set(err, ROWD_ENOMEM, "out of memory writing xlsx");
}

/* The archive's bytes go to the output (codec none: xlsx is a raw format,
 * so the output writes the temp file that close renames). */
static int to_output(void *ctx, const void *buf, size_t n, struct rowd_error *err)
{
	struct output *out = ctx;

	if (mpbuf_append(&out->buf, buf, n) < 0)
		return nomem(err);
	return output_flush_if_full(out, err);
}

static int put_member(struct xlsx_wr *w, const char *name, const char *a, size_t an,
                      const char *b, size_t bn, struct rowd_error *err)
{
	if (zipw_member_begin(w->zip, name, ZIP_LEVEL, w->mtime, err) < 0 ||
	    zipw_member_write(w->zip, a, an, err) < 0 ||
	    zipw_member_write(w->zip, b, bn, err) < 0)
		return -1;
	return zipw_member_end(w->zip, err);
}

/* ---- columns ------------------------------------------------------------ */

static uint32_t hash_bytes(const char *p, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 16777619u;
	return h;
}

static bool name_is(const struct xlsx_wr *w, uint32_t c, const char *p, size_t n)
{
	return w->name_off[c + 1] - w->name_off[c] == n &&
	       (n == 0 || memcmp(w->names + w->name_off[c], p, n) == 0);
}

/* Column of name p, or -1. */
static int64_t column_of(const struct xlsx_wr *w, const char *p, size_t n)
{
	size_t mask = w->hash_cap - 1;

	for (size_t i = hash_bytes(p, n) & mask; w->hash[i]; i = (i + 1) & mask)
		if (name_is(w, w->hash[i] - 1, p, n))
			return w->hash[i] - 1;
	return -1;
}

static const char *why_text(enum xlsx_cell_rc rc)
{
	switch (rc) {
	case XLSX_CELL_BIN:
		return "binary values cannot be written to xlsx";
	case XLSX_CELL_EXT:
		return "msgpack ext values cannot be written to xlsx";
	case XLSX_CELL_UTF8:
		return "text is not valid UTF-8";
	case XLSX_CELL_LONG:
		return "text is longer than Excel's 32767 characters per cell";
	default:
		return "out of memory";
	}
}

/* Takes the n names (str objects), each once (dup: EINVAL, or skipped
 * when skip_dups: the first row's keys). */
static int set_columns(struct xlsx_wr *w, const msgpack_object *const *strs, uint32_t n,
                       bool skip_dups, struct rowd_error *err)
{
	size_t total = 0, at = 0;
	uint32_t k = 0;

	/* A first row refused for want of memory may have left some. */
	free(w->names);
	free(w->name_off);
	free(w->vals);
	free(w->hash);
	w->names = NULL;
	w->name_off = NULL;
	w->vals = NULL;
	w->hash = NULL;
	if (n > XLSX_MAX_COLS)
		return rowd_error_set(err, ROWD_ELIMIT, "xlsx: %u columns, over Excel's limit of %u columns",
		                      n, XLSX_MAX_COLS);
	for (uint32_t i = 0; i < n; i++) {
		const msgpack_object *s = strs[i];
		size_t units = xlsx_text_units(s->via.str.ptr, s->via.str.size);

		if (units == SIZE_MAX || units > XLSX_MAX_CELL_CHARS)
			return rowd_error_set(err, ROWD_EINVAL, "xlsx: column name '%.*s...': %s",
			                      (int)(s->via.str.size > 32 ? 32 : s->via.str.size),
			                      s->via.str.ptr,
			                      why_text(units == SIZE_MAX ? XLSX_CELL_UTF8 : XLSX_CELL_LONG));
		total += s->via.str.size;
	}
	for (w->hash_cap = 16; w->hash_cap < 2 * (size_t)n; w->hash_cap *= 2)
		;
	w->names = malloc(total ? total : 1);
	w->name_off = malloc(((size_t)n + 1) * sizeof *w->name_off);
	w->vals = calloc(n ? n : 1, sizeof *w->vals);
	w->hash = calloc(w->hash_cap, sizeof *w->hash);
	if (!w->names || !w->name_off || !w->vals || !w->hash)
		return nomem(err);
	w->name_off[0] = 0;
	for (uint32_t i = 0; i < n; i++) {
		const char *p = strs[i]->via.str.ptr;
		size_t len = strs[i]->via.str.size, mask = w->hash_cap - 1, h;

		w->ncols = k;      /* column_of sees the names taken so far */
		if (column_of(w, p, len) >= 0) {
			if (skip_dups)
				continue;
			return rowd_error_set(err, ROWD_EINVAL, "option 'fieldnames' names '%.*s' twice",
			                      (int)(len > 64 ? 64 : len), p);
		}
		if (len)          /* "" has a NULL pointer */
			memcpy(w->names + at, p, len);
		at += len;
		w->name_off[k + 1] = at;
		for (h = hash_bytes(p, len) & mask; w->hash[h]; h = (h + 1) & mask)
			;
		w->hash[h] = ++k;
	}
	w->ncols = k;
	w->have_cols = true;
	return 0;
}

static int columns_from_row(struct xlsx_wr *w, const msgpack_object_map *m, struct rowd_error *err)
{
	const msgpack_object **keys;
	int rc;

	if (m->size == 0)
		return rowd_error_set(err, ROWD_EINVAL,
		                      "row %llu: an empty row gives no columns; pass options.fieldnames",
		                      (unsigned long long)w->row);
	keys = malloc(m->size * sizeof *keys);
	if (!keys)
		return nomem(err);
	for (uint32_t i = 0; i < m->size; i++)
		keys[i] = &m->ptr[i].key;
	rc = set_columns(w, keys, m->size, true, err);
	free(keys);
	return rc;
}

static int unknown_key(const struct xlsx_wr *w, const msgpack_object *k, struct rowd_error *err)
{
	char cols[160];
	size_t at = 0;

	cols[0] = 0;
	for (uint32_t i = 0; i < w->ncols && at < sizeof cols; i++) {
		int m = snprintf(cols + at, sizeof cols - at, "%s%.*s", i ? ", " : "",
		                 (int)(w->name_off[i + 1] - w->name_off[i]), w->names + w->name_off[i]);

		at += m > 0 ? (size_t)m : 0;
	}
	if (at >= sizeof cols)
		memcpy(cols + sizeof cols - 4, "...", 4);
	return rowd_error_set(err, ROWD_EINVAL, "row %llu: key '%.*s' is not a column (columns: %s)",
	                      (unsigned long long)w->row,
	                      (int)(k->via.str.size > 64 ? 64 : k->via.str.size), k->via.str.ptr,
	                      cols);
}

/* ---- the sheet ---------------------------------------------------------- */

static int flush_xml(struct xlsx_wr *w, struct rowd_error *err)
{
	if (zipw_member_write(w->zip, w->xml.data, w->xml.len, err) < 0)
		return -1;
	w->xml.len = 0;
	return 0;
}

static int row_open(struct xlsx_wr *w, struct rowd_error *err)
{
	char tag[32];
	int n;

	if (w->sheet_row >= XLSX_MAX_ROWS)
		return rowd_error_set(err, ROWD_ELIMIT, "row %llu: a sheet holds at most %u rows (Excel's limit)",
		                      (unsigned long long)w->row, XLSX_MAX_ROWS);
	n = snprintf(tag, sizeof tag, "<row r=\"%u\">", w->sheet_row + 1);
	return mpbuf_append(&w->xml, tag, (size_t)n) < 0 ? nomem(err) : 0;
}

/* The header row, once, before the first row (or at finish). */
static int header_row(struct xlsx_wr *w, struct rowd_error *err)
{
	size_t mark = w->xml.len;

	w->started = true;
	if (!w->header)
		return 0;
	if (row_open(w, err) < 0)
		return -1;
	for (uint32_t c = 0; c < w->ncols; c++)
		if (xlsx_put_str_cell(&w->xml, c, w->sheet_row + 1, w->names + w->name_off[c],
		                      w->name_off[c + 1] - w->name_off[c]) != XLSX_CELL_OK) {
			w->xml.len = mark;
			return nomem(err);       /* the names were checked */
		}
	if (mpbuf_append(&w->xml, "</row>", 6) < 0) {
		w->xml.len = mark;
		return nomem(err);
	}
	w->sheet_row++;
	return 0;
}

/* The row's values by column; keys that are no column are refused. */
static int place_values(struct xlsx_wr *w, const msgpack_object_map *m, struct rowd_error *err)
{
	for (uint32_t c = 0; c < w->ncols; c++)
		w->vals[c] = NULL;
	for (uint32_t i = 0; i < m->size; i++) {
		const msgpack_object *k = &m->ptr[i].key;
		int64_t c;

		if (k->type != MSGPACK_OBJECT_STR)
			return rowd_error_set(err, ROWD_EINVAL, "row %llu: keys must be strings",
			                      (unsigned long long)w->row);
		c = column_of(w, k->via.str.ptr, k->via.str.size);
		if (c < 0)
			return unknown_key(w, k, err);
		w->vals[c] = &m->ptr[i].val;
	}
	return 0;
}

/* Appends the row's XML; on error the XML is cut back to where it was. */
static int put_row(struct xlsx_wr *w, struct rowd_error *err)
{
	size_t mark = w->xml.len;

	if (row_open(w, err) < 0)
		return -1;
	for (uint32_t c = 0; c < w->ncols; c++) {
		enum xlsx_cell_rc rc;

		if (!w->vals[c])
			continue;
		rc = xlsx_put_cell(&w->xml, &w->scratch, c, w->sheet_row + 1, w->vals[c]);
		if (rc != XLSX_CELL_OK) {
			w->xml.len = mark;
			if (rc == XLSX_CELL_NOMEM)
				return nomem(err);
			return rowd_error_set(err, ROWD_EINVAL, "row %llu, key '%.*s': %s",
			                      (unsigned long long)w->row,
			                      (int)(w->name_off[c + 1] - w->name_off[c] > 64
			                            ? 64 : w->name_off[c + 1] - w->name_off[c]),
			                      w->names + w->name_off[c], why_text(rc));
		}
	}
	if (mpbuf_append(&w->xml, "</row>", 6) < 0) {
		w->xml.len = mark;
		return nomem(err);
	}
	w->sheet_row++;
	return 0;
}

/* ---- options ------------------------------------------------------------ */

/* Excel's rules for a sheet name. */
static int check_sheet_name(const char *p, size_t n, struct rowd_error *err)
{
	size_t units = xlsx_text_units(p, n);
	int shown = (int)(n > 64 ? 64 : n);

	if (n == 0)
		return rowd_error_set(err, ROWD_EINVAL, "option 'sheet': a sheet name cannot be empty");
	if (units == SIZE_MAX)
		return rowd_error_set(err, ROWD_EINVAL, "option 'sheet' is not valid UTF-8");
	if (units > 31)
		return rowd_error_set(err, ROWD_EINVAL,
		                      "option 'sheet': '%.*s' is longer than Excel's 31 characters", shown, p);
	for (size_t i = 0; i < n; i++)
		if (strchr("[]:*?/\\", p[i]) || (unsigned char)p[i] < 0x20)
			return rowd_error_set(err, ROWD_EINVAL,
			                      "option 'sheet': '%.*s' holds a character Excel forbids in "
			                      "sheet names ([ ] : * ? / \\ or a control character)", shown, p);
	if (p[0] == '\'' || p[n - 1] == '\'')
		return rowd_error_set(err, ROWD_EINVAL,
		                      "option 'sheet': '%.*s' begins or ends with an apostrophe", shown, p);
	if (n == 7 && strncasecmp(p, "History", 7) == 0)
		return rowd_error_set(err, ROWD_EINVAL, "option 'sheet': 'History' is reserved by Excel");
	return 0;
}

static int wr_options(struct xlsx_wr *w, const msgpack_object *o, const char **sheet,
                      size_t *sheet_len, struct rowd_error *err)
{
	const msgpack_object *fn = NULL;
	int rc;

	if (opts_check_known(o, wr_known, "format xlsx", err) < 0)
		return -1;
	if (opts_get(o, "types"))
		return rowd_error_set(err, ROWD_EINVAL, "option 'types' applies to reading only");
	w->header = true;
	*sheet = "Sheet1";
	*sheet_len = 6;
	if ((rc = opts_str(o, "sheet", sheet, sheet_len, err)) < 0 ||
	    (rc == 1 && check_sheet_name(*sheet, *sheet_len, err) < 0) ||
	    opts_bool(o, "header", &w->header, err) < 0 ||
	    opts_str_array(o, "fieldnames", &fn, err) < 0)
		return -1;
	if (fn) {
		const msgpack_object_array *arr = &fn->via.array;
		const msgpack_object **strs;

		if (arr->size == 0)
			return rowd_error_set(err, ROWD_EINVAL, "option 'fieldnames' must not be empty");
		strs = malloc(arr->size * sizeof *strs);
		if (!strs)
			return nomem(err);
		for (uint32_t i = 0; i < arr->size; i++)
			strs[i] = &arr->ptr[i];
		rc = set_columns(w, strs, arr->size, false, err);
		free(strs);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* ---- the format hooks ---------------------------------------------------- */

void fmt_xlsx_wr_close(void *state)
{
	struct xlsx_wr *w = state;

	if (!w)
		return;
	zipw_free(w->zip);
	free(w->names);
	free(w->name_off);
	free(w->hash);
	free(w->vals);
	mpbuf_free(&w->xml);
	mpbuf_free(&w->scratch);
	free(w);
}

/* The fixed parts, then the sheet's member left open for the rows. */
static int wr_begin(struct xlsx_wr *w, const char *sheet, size_t sheet_len, struct rowd_error *err)
{
	struct mpbuf name;
	int rc;

	mpbuf_init(&name);
	if (xlsx_put_text(&name, sheet, sheet_len, true) < 0)
		return nomem(err);
	rc = put_member(w, "[Content_Types].xml", CONTENT_TYPES, sizeof CONTENT_TYPES - 1, "", 0, err);
	rc = rc < 0 ? -1 : put_member(w, "_rels/.rels", ROOT_RELS, sizeof ROOT_RELS - 1, "", 0, err);
	/* The sheet's name sits between the head and the tail. */
	if (rc == 0)
		rc = zipw_member_begin(w->zip, "xl/workbook.xml", ZIP_LEVEL, w->mtime, err) < 0 ||
		     zipw_member_write(w->zip, BOOK_HEAD, sizeof BOOK_HEAD - 1, err) < 0 ||
		     zipw_member_write(w->zip, name.data, name.len, err) < 0 ||
		     zipw_member_write(w->zip, BOOK_TAIL, sizeof BOOK_TAIL - 1, err) < 0 ||
		     zipw_member_end(w->zip, err) < 0 ? -1 : 0;
	mpbuf_free(&name);
	if (rc < 0 ||
	    put_member(w, "xl/_rels/workbook.xml.rels", BOOK_RELS, sizeof BOOK_RELS - 1, "", 0, err) < 0 ||
	    put_member(w, "xl/styles.xml", STYLES, sizeof STYLES - 1, "", 0, err) < 0 ||
	    zipw_member_begin(w->zip, "xl/worksheets/sheet1.xml", ZIP_LEVEL, w->mtime, err) < 0)
		return -1;
	return mpbuf_append(&w->xml, SHEET_HEAD, sizeof SHEET_HEAD - 1) < 0 ? nomem(err) : 0;
}

int fmt_xlsx_wr_open(const struct fmt_args *a, void **state, struct rowd_error *err)
{
	struct xlsx_wr *w = calloc(1, sizeof *w);
	const char *sheet;
	size_t sheet_len;

	*state = NULL;
	if (!w)
		return nomem(err);
	w->out = a->out;
	w->mtime = time(NULL);
	mpbuf_init(&w->xml);
	mpbuf_init(&w->scratch);
	if (wr_options(w, a->options, &sheet, &sheet_len, err) < 0 ||
	    !(w->zip = zipw_open(to_output, a->out, err)) ||
	    wr_begin(w, sheet, sheet_len, err) < 0) {
		fmt_xlsx_wr_close(w);
		return -1;
	}
	*state = w;
	return 0;
}

int fmt_xlsx_wr_row(void *state, const msgpack_object *row, struct rowd_error *err)
{
	struct xlsx_wr *w = state;
	const msgpack_object_map *m;

	w->row++;
	if (w->done)
		return rowd_error_set(err, ROWD_EINVAL, "xlsx: the workbook is already finished");
	if (row->type != MSGPACK_OBJECT_MAP)
		return rowd_error_set(err, ROWD_EINVAL, "row %llu: a row must be a map",
		                      (unsigned long long)w->row);
	m = &row->via.map;
	if (!w->have_cols) {
		for (uint32_t i = 0; i < m->size; i++)
			if (m->ptr[i].key.type != MSGPACK_OBJECT_STR)
				return rowd_error_set(err, ROWD_EINVAL, "row %llu: keys must be strings",
				                      (unsigned long long)w->row);
		if (columns_from_row(w, m, err) < 0)
			return -1;
	}
	if (place_values(w, m, err) < 0)
		return -1;
	/* Only a row that is whole goes out; the header goes with the first. */
	if (!w->started && header_row(w, err) < 0)
		return -1;
	if (put_row(w, err) < 0)
		return -1;
	return w->xml.len >= ROWS_CHUNK ? flush_xml(w, err) : 0;
}

int fmt_xlsx_wr_finish(void *state, struct rowd_error *err)
{
	struct xlsx_wr *w = state;

	if (w->done)
		return 0;
	if (w->have_cols && !w->started && header_row(w, err) < 0)
		return -1;
	if (mpbuf_append(&w->xml, SHEET_TAIL, sizeof SHEET_TAIL - 1) < 0)
		return nomem(err);
	if (flush_xml(w, err) < 0 || zipw_member_end(w->zip, err) < 0 || zipw_finish(w->zip, err) < 0)
		return -1;
	w->done = true;
	return 0;
}

#ifndef ROWD_WITH_XLSX
/* Without libzip and libxml2 there is no reader: xlsx is write only. */
static int xlsx_no_read(const struct fmt_args *a, void **state, struct rowd_error *err)
{
	(void)a;
	*state = NULL;
	return rowd_error_set(err, ROWD_ENOTSUP,
	                      "format xlsx cannot be read: this build lacks libzip and libxml2");
}

static const char *const xlsx_extensions[] = { "xlsx", NULL };

const struct format_ops format_xlsx = {
	.name = "xlsx",
	.extensions = xlsx_extensions,
	.caps = FMT_CAP_WRITE | FMT_CAP_BINARY | FMT_CAP_RAW,
	.rd_open = xlsx_no_read,
	.wr_open = fmt_xlsx_wr_open,
	.wr_row = fmt_xlsx_wr_row,
	.wr_finish = fmt_xlsx_wr_finish,
	.wr_close = fmt_xlsx_wr_close,
};
#endif
