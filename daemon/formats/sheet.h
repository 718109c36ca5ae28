/* What the spreadsheet readers (xls.c, xlsx*.c) share: their options, the
 * turning of cells into rows (header keys, sparse cells, blank rows), and
 * the conversion of Excel's date serials and numbers to values.
 *
 * A reader feeds one sheet row at a time: sheet_row_begin(), one put per
 * cell that holds a value (any column order), sheet_row_end(). The first
 * non-blank row is the header when option `header` is on; every later
 * non-blank row is packed as one map. Library-free: always built.
 */
#ifndef ROWD_SHEET_H
#define ROWD_SHEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format.h"

/* XLSX's widest sheet (column XFD); XLS sheets have 256 columns. */
#define SHEET_MAX_COLS 16384u

/* What a number cell holds once its number format is known. */
enum sheet_kind { SHEET_NUMBER = 0, SHEET_DATE, SHEET_DATETIME, SHEET_TIME };

/* Option `types`: what a cell becomes. */
enum sheet_types {
	SHEET_TYPES_NATIVE,    /* int, float, bool, str, dates as ISO str */
	SHEET_TYPES_STRINGS,   /* every value as the text of it */
};

struct sheet_opts {
	const char *name;      /* option `sheet` as a name, or NULL */
	size_t name_len;
	int64_t index;         /* option `sheet` as a 0-based index (default 0) */
	bool header;           /* option `header` (default true) */
	enum sheet_types types;
};

/* Reads options sheet, header, types (default given) and rejects others.
 * what = "format xlsx", for messages. */
int sheet_opts_parse(const struct fmt_args *a, const char *what, enum sheet_types def_types,
                     struct sheet_opts *o, struct rowd_error *err);

/* The sheet the options choose among n sheets whose names name(ctx, i)
 * gives (UTF-8, NUL-terminated): its index, or -1 with EINVAL naming
 * option 'sheet' and listing the sheets. */
typedef const char *(*sheet_name_fn)(void *ctx, size_t i);
long sheet_pick(const struct sheet_opts *o, size_t n, sheet_name_fn name, void *ctx,
                struct rowd_error *err);
/* Packs the n names as an array (the tables hook). */
int sheet_pack_names(struct mpbuf *out, size_t n, sheet_name_fn name, void *ctx,
                     struct rowd_error *err);

/* ---- values ------------------------------------------------------------ */

/* The kind of a built-in number format id (14-22, 45-47 are dates and
 * times) and of a format code ("yyyy-mm-dd", "h:mm", ...). */
enum sheet_kind sheet_builtin_kind(unsigned id);
enum sheet_kind sheet_format_kind(const char *code, size_t n);

/* An Excel date serial as ISO 8601 text: "2024-01-31", "2024-01-31T13:45:00",
 * "13:45:00" (milliseconds when there are any). A time with a whole day
 * or more is a date-time. Returns the length, or 0 when the serial is no
 * date Excel can show (negative, after 9999-12-31, not finite). */
size_t sheet_serial_iso(double serial, bool date1904, enum sheet_kind kind, char out[40]);

/* Column letters of a 0-based column: 0 -> "A", 26 -> "AA". */
size_t sheet_col_name(uint32_t col, char out[4]);
/* A cell reference ("B7", "b7", "XFD1048576"): *col 0-based, *row 1-based
 * (0 when the reference has no digits). -1 when it is not a reference or
 * past column XFD. */
int sheet_parse_ref(const char *s, uint32_t *col, uint32_t *row);

/* ---- rows -------------------------------------------------------------- */

struct sheet_cell {
	uint32_t col;
	size_t off, len;         /* packed value in sheet_rows.vals */
};

struct sheet_rows {
	const struct rowd_limits *lim;
	bool header;             /* the first non-blank row gives the keys */
	bool strings;            /* option types: strings */
	bool need_header;        /* header on and not read yet */

	/* Keys: a column gets one when the header names it, or its letters
	 * when a value first turns up in it. Columns sharing a name share a
	 * slot (one key, at the first one's place; the rightmost value). */
	uint32_t *col_slot;      /* SHEET_MAX_COLS entries, UINT32_MAX = none */
	uint32_t nslots;
	struct mpbuf keys;       /* slot names, msgpack str each */
	size_t *key_off;         /* nslots + 1 offsets into keys */
	size_t slots_cap;
	uint32_t *hash;          /* open addressing: slot + 1, 0 = empty */
	size_t hash_cap;

	/* The row being fed. */
	uint64_t row;            /* its sheet row number, for messages */
	struct mpbuf vals;
	struct sheet_cell *cells;
	size_t ncells, cells_cap;
	uint32_t *slot_cell;     /* nslots: cell index + 1 for this row */
	size_t slot_cell_cap;
};

int sheet_rows_init(struct sheet_rows *s, const struct sheet_opts *o,
                    const struct rowd_limits *lim, struct rowd_error *err);
void sheet_rows_free(struct sheet_rows *s);
/* Without a header: columns first..last get their letters up front (the
 * sheet's declared dimension), so every row has them. */
int sheet_rows_columns(struct sheet_rows *s, uint32_t first, uint32_t last,
                       struct rowd_error *err);

void sheet_row_begin(struct sheet_rows *s, uint64_t row);
/* Cell values. col < SHEET_MAX_COLS. A str must be valid UTF-8
 * (EFORMAT otherwise) and within str_bytes (ELIMIT). */
int sheet_put_str(struct sheet_rows *s, uint32_t col, const char *p, size_t n,
                  struct rowd_error *err);
int sheet_put_int(struct sheet_rows *s, uint32_t col, int64_t v, struct rowd_error *err);
/* An int when integral and within int64, else a float. */
int sheet_put_number(struct sheet_rows *s, uint32_t col, double v, struct rowd_error *err);
int sheet_put_bool(struct sheet_rows *s, uint32_t col, bool v, struct rowd_error *err);
/* A number under a date format: ISO text, or the number when it is no
 * date. */
int sheet_put_serial(struct sheet_rows *s, uint32_t col, double v, bool date1904,
                     enum sheet_kind kind, struct rowd_error *err);
/* Ends the row: packs it into out and sets *emitted to 1, or takes it as
 * the header, or skips it when blank (*emitted 0). ELIMIT for a row over
 * row_bytes. */
int sheet_row_end(struct sheet_rows *s, struct mpbuf *out, int *emitted, struct rowd_error *err);
/* Packs the keys known so far as an array and returns 1; 0 when none
 * are (or out of memory: the caller drops what was packed). */
int sheet_rows_keys(const struct sheet_rows *s, struct mpbuf *out);

/* ---- reading ------------------------------------------------------------ */

/* A reader's step: reads on until one sheet row is done (packed into out
 * with *emitted 1, or taken as the header or skipped as blank with
 * *emitted 0). 1 at the sheet's end, 0 otherwise, -1 failed. */
typedef int (*sheet_step_fn)(void *ctx, struct mpbuf *out, int *emitted, struct rowd_error *err);

/* A reader's progress through its steps (set step and ctx, the rest zero). */
struct sheet_read {
	sheet_step_fn step;
	void *ctx;
	int state;               /* 0 reading, 1 exhausted, -1 failed */
	struct rowd_error fail;  /* repeated on every later call */
};

/* Steps until rows has its header (or the sheet ends), so that the open
 * answer has the columns. */
int sheet_read_header(struct sheet_read *rd, const struct sheet_rows *rows,
                      struct rowd_error *err);
/* rd_next: up to max rows into out; 1 when the sheet is done. */
int sheet_read_next(struct sheet_read *rd, struct mpbuf *out, size_t max, size_t *nrows,
                    struct rowd_error *err);

#endif
