/* XLS (Excel 97-2003, BIFF in an OLE2 compound file), read only, through
 * FreeXL.
 *
 * FreeXL opens a path: it is given fmt_args.fd_path (/proc/self/fd/N),
 * which opens the very file the daemon opened beneath its roots, never
 * the client's path again. It parses the whole workbook into memory on
 * open, a table of rows x columns cells per sheet sized from the sheet's
 * declared dimensions. So the dimensions are read first (a metadata-only
 * open) and a workbook whose tables would pass 64 x row_bytes (16 bytes a
 * cell) is ELIMIT instead of a huge allocation a crafted file asks for.
 *
 * Options `sheet` (name or 0-based index, default the first), `header`
 * (default true: the first non-blank row gives the keys; false: keys are
 * the column letters "A", "B", ...), `types` ("native", the default here,
 * or "strings"); see sheet.c for rows and values. Cells: integers and
 * numbers as numbers (integral ones as int), text as str, dates, times
 * and date-times as ISO 8601 text ("2024-01-31", "13:45:00",
 * "2024-01-31T13:45:00"; FreeXL has applied the workbook's 1900/1904 date
 * system), empty cells nil.
 *
 * Errors: a file FreeXL refuses (not OLE2, not BIFF, corrupt, password
 * protected, truncated) is EFORMAT with FreeXL's reason.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <freexl.h>

#include "format.h"
#include "sheet.h"

#define XLS_CELL_BYTES 16u      /* FreeXL's cell: type + value union */

struct xls_rd {
	const void *xl;
	struct sheet_rows rows;
	unsigned nrows;
	unsigned short ncols;
	unsigned next;             /* next row to read (0-based) */
	struct sheet_read read;
};

static const char *freexl_reason(int rc)
{
	switch (rc) {
	case FREEXL_FILE_NOT_FOUND: return "the file cannot be opened";
	case FREEXL_INSUFFICIENT_MEMORY: return "out of memory";
	case FREEXL_INVALID_CFBF_HEADER: case FREEXL_CFBF_INVALID_SIGNATURE:
		return "not an Excel 97-2003 workbook (no OLE2 compound file header)";
	case FREEXL_CFBF_READ_ERROR: case FREEXL_CFBF_SEEK_ERROR:
		return "the compound file is truncated or corrupt";
	case FREEXL_CFBF_INVALID_SECTOR_SIZE: case FREEXL_CFBF_EMPTY_FAT_CHAIN:
	case FREEXL_CFBF_ILLEGAL_FAT_ENTRY: case FREEXL_INVALID_MINI_STREAM:
	case FREEXL_CFBF_ILLEGAL_MINI_FAT_ENTRY:
		return "the compound file's allocation tables are corrupt";
	case FREEXL_BIFF_INVALID_BOF: return "the workbook stream is not BIFF";
	case FREEXL_BIFF_INVALID_SST: case FREEXL_BIFF_ILLEGAL_SST_INDEX:
		return "the shared string table is corrupt";
	case FREEXL_BIFF_WORKBOOK_NOT_FOUND: return "the file holds no workbook stream";
	case FREEXL_INVALID_CHARACTER: case FREEXL_UNSUPPORTED_CHARSET:
		return "text in an unknown or invalid character set";
	case FREEXL_ILLEGAL_RK_VALUE: return "a number record is corrupt";
	case FREEXL_CRAFTED_FILE: return "the file is corrupt (its structure contradicts itself)";
	default: return "the workbook cannot be read";
	}
}

static int xls_fail(int rc, const char *what, struct rowd_error *err)
{
	if (rc == FREEXL_INSUFFICIENT_MEMORY)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory %s", what);
	return rowd_error_set(err, ROWD_EFORMAT, "xls: %s: %s (FreeXL error %d)", what,
	                      freexl_reason(rc), rc);
}

/* ---- workbook ----------------------------------------------------------- */

struct xls_names {
	const void *xl;
};

static const char *xls_name(void *ctx, size_t i)
{
	const char *s = NULL;

	if (freexl_get_worksheet_name(((struct xls_names *)ctx)->xl, (unsigned short)i, &s) != FREEXL_OK ||
	    !s)
		return "";
	return s;
}

/* Opens the workbook for its metadata (names, dimensions) only. */
static int open_info(const struct fmt_args *a, const void **xl, unsigned *nsheets,
                     struct rowd_error *err)
{
	int rc;

	*xl = NULL;
	rc = freexl_open_info(a->fd_path, xl);
	if (rc != FREEXL_OK) {
		freexl_close(*xl);
		*xl = NULL;
		return xls_fail(rc, "cannot open the workbook", err);
	}
	rc = freexl_get_info(*xl, FREEXL_BIFF_SHEET_COUNT, nsheets);
	if (rc != FREEXL_OK) {
		freexl_close(*xl);
		*xl = NULL;
		return xls_fail(rc, "cannot count the sheets", err);
	}
	if (*nsheets > 65535)
		*nsheets = 65535;
	return 0;
}

/* What FreeXL will allocate for the cells of every sheet. */
static int check_size(const void *xl, unsigned nsheets, const struct rowd_limits *lim,
                      struct rowd_error *err)
{
	uint64_t cells = 0, budget = (uint64_t)lim->row_bytes * 64 / XLS_CELL_BYTES;

	for (unsigned i = 0; i < nsheets; i++) {
		unsigned rows = 0;
		unsigned short cols = 0;
		int rc = freexl_select_active_worksheet(xl, (unsigned short)i);

		if (rc == FREEXL_OK)
			rc = freexl_worksheet_dimensions(xl, &rows, &cols);
		if (rc != FREEXL_OK)
			return xls_fail(rc, "cannot read a sheet's dimensions", err);
		cells += (uint64_t)rows * cols;
	}
	if (cells > budget)
		return rowd_error_set(err, ROWD_ELIMIT,
		                      "xls: the workbook's sheets declare %llu cells; held in memory they would "
		                      "pass 64 x the row_bytes limit (%zu)",
		                      (unsigned long long)cells, lim->row_bytes);
	return 0;
}

static int xls_tables(const struct fmt_args *a, struct mpbuf *out, struct rowd_error *err)
{
	struct xls_names names;
	unsigned n;
	int rc;

	if (open_info(a, &names.xl, &n, err) < 0)
		return -1;
	rc = sheet_pack_names(out, n, xls_name, &names, err);
	freexl_close(names.xl);
	return rc;
}

/* ---- reader ------------------------------------------------------------- */

static void xls_rd_close(void *state)
{
	struct xls_rd *r = state;

	if (!r)
		return;
	if (r->xl)
		freexl_close(r->xl);
	sheet_rows_free(&r->rows);
	free(r);
}

/* Feeds the cells of sheet row i (0-based). */
static int feed_row(struct xls_rd *r, unsigned i, struct rowd_error *err)
{
	struct sheet_rows *s = &r->rows;

	sheet_row_begin(s, (uint64_t)i + 1);
	for (unsigned short c = 0; c < r->ncols; c++) {
		FreeXL_CellValue v;
		int rc = freexl_get_cell_value(r->xl, i, c, &v);
		char iso[24];
		size_t n;

		if (rc != FREEXL_OK) {
			err->row = (int64_t)i + 1;
			return xls_fail(rc, "cannot read a cell", err);
		}
		switch (v.type) {
		case FREEXL_CELL_INT:
			rc = sheet_put_int(s, c, v.value.int_value, err);
			break;
		case FREEXL_CELL_DOUBLE:
			rc = sheet_put_number(s, c, v.value.double_value, err);
			break;
		case FREEXL_CELL_TEXT:
		case FREEXL_CELL_SST_TEXT:
			rc = sheet_put_str(s, c, v.value.text_value, strlen(v.value.text_value), err);
			break;
		case FREEXL_CELL_DATE:
		case FREEXL_CELL_DATETIME:
		case FREEXL_CELL_TIME:
			/* "YYYY-MM-DD HH:MM:SS" -> ISO 8601's "T". */
			n = (size_t)snprintf(iso, sizeof iso, "%s", v.value.text_value);
			if (n >= sizeof iso)
				n = sizeof iso - 1;
			if (v.type == FREEXL_CELL_DATETIME && n > 10 && iso[10] == ' ')
				iso[10] = 'T';
			rc = sheet_put_str(s, c, iso, n, err);
			break;
		default:
			rc = 0;     /* empty */
			break;
		}
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* The next row with values into out (*emitted 1), or the header taken or
 * a blank row skipped (*emitted 0); 1 when the sheet is exhausted. */
static int step(void *ctx, struct mpbuf *out, int *emitted, struct rowd_error *err)
{
	struct xls_rd *r = ctx;

	*emitted = 0;
	if (r->next >= r->nrows)
		return 1;
	if (feed_row(r, r->next, err) < 0)
		return -1;
	r->next++;
	return sheet_row_end(&r->rows, out, emitted, err);
}

static int open_sheet(struct xls_rd *r, const struct fmt_args *a, const struct sheet_opts *o,
                      struct rowd_error *err)
{
	struct xls_names names;
	unsigned n;
	long pick;
	int rc;

	if (open_info(a, &names.xl, &n, err) < 0)
		return -1;
	if (check_size(names.xl, n, a->limits, err) < 0 ||
	    (pick = sheet_pick(o, n, xls_name, &names, err)) < 0) {
		freexl_close(names.xl);
		return -1;
	}
	freexl_close(names.xl);
	rc = freexl_open(a->fd_path, &r->xl);
	if (rc != FREEXL_OK)
		return xls_fail(rc, "cannot open the workbook", err);
	rc = freexl_select_active_worksheet(r->xl, (unsigned short)pick);
	if (rc == FREEXL_OK)
		rc = freexl_worksheet_dimensions(r->xl, &r->nrows, &r->ncols);
	if (rc != FREEXL_OK)
		return xls_fail(rc, "cannot select the sheet", err);
	if (r->ncols > 256)
		r->ncols = 256;
	return 0;
}

static int xls_rd_open(const struct fmt_args *a, void **state, struct rowd_error *err)
{
	struct sheet_opts o;
	struct xls_rd *r;

	if (sheet_opts_parse(a, "format xls", SHEET_TYPES_NATIVE, &o, err) < 0)
		return -1;
	r = calloc(1, sizeof *r);
	if (!r)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory for the xls reader");
	r->read.step = step;
	r->read.ctx = r;
	if (sheet_rows_init(&r->rows, &o, a->limits, err) < 0 || open_sheet(r, a, &o, err) < 0 ||
	    (!o.header && r->ncols && sheet_rows_columns(&r->rows, 0, r->ncols - 1u, err) < 0) ||
	    sheet_read_header(&r->read, &r->rows, err) < 0) {
		xls_rd_close(r);
		return -1;
	}
	*state = r;
	return 0;
}

static int xls_rd_next(void *state, struct mpbuf *out, size_t max, size_t *nrows,
                       uint64_t *skipped, struct rowd_error *err)
{
	return sheet_read_next(&((struct xls_rd *)state)->read, out, max, nrows, err);
}

static int xls_rd_columns(void *state, struct mpbuf *out)
{
	return sheet_rows_keys(&((struct xls_rd *)state)->rows, out);
}

/* The OLE2 compound file signature (Word and PowerPoint files share it). */
static int xls_probe(const char *head, size_t n)
{
	return n >= 8 && memcmp(head, "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 8) == 0 ? 60 : 0;
}

static const char *const xls_extensions[] = { "xls", NULL };

const struct format_ops format_xls = {
	.name = "xls",
	.extensions = xls_extensions,
	.caps = FMT_CAP_READ | FMT_CAP_TOTALS | FMT_CAP_TABLES | FMT_CAP_BINARY | FMT_CAP_RAW,
	.probe = xls_probe,
	.tables = xls_tables,
	.rd_open = xls_rd_open,
	.rd_next = xls_rd_next,
	.rd_columns = xls_rd_columns,
	.rd_close = xls_rd_close,
};
