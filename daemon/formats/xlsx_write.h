/* The XLSX writer: xlsx_write.c (the workbook streamed through our zip
 * writer) and xlsx_cell.c (the XML of one cell). Library-free beyond zlib,
 * so it is built whether or not the reader (libzip + libxml2) is. */
#ifndef ROWD_XLSX_WRITE_H
#define ROWD_XLSX_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format.h"

/* Excel's sheet size and cell length (characters = UTF-16 code units). */
#define XLSX_MAX_ROWS       1048576u
#define XLSX_MAX_COLS       16384u
#define XLSX_MAX_CELL_CHARS 32767u

/* The format hooks (format_xlsx in xlsx.c, or the write-only entry in
 * xlsx_write.c when the reader is not built). */
int fmt_xlsx_wr_open(const struct fmt_args *a, void **state, struct rowd_error *err);
int fmt_xlsx_wr_row(void *state, const msgpack_object *row, struct rowd_error *err);
int fmt_xlsx_wr_finish(void *state, struct rowd_error *err);
void fmt_xlsx_wr_close(void *state);

/* ---- cells (xlsx_cell.c) ------------------------------------------------ */

/* Why a value cannot be a cell; the caller names the row and key. */
enum xlsx_cell_rc {
	XLSX_CELL_OK = 0,
	XLSX_CELL_NOMEM,
	XLSX_CELL_BIN,       /* msgpack bin: no cell type holds bytes */
	XLSX_CELL_EXT,       /* msgpack ext */
	XLSX_CELL_UTF8,      /* text that is not valid UTF-8 */
	XLSX_CELL_LONG,      /* text over XLSX_MAX_CELL_CHARS */
};

/* Length of UTF-8 text in UTF-16 code units (what Excel counts), or
 * SIZE_MAX when it is not valid UTF-8. */
size_t xlsx_text_units(const char *p, size_t n);

/* Appends valid UTF-8 text as XML character data: & < > as entities (and
 * '"' too when attr); characters XML 1.0 cannot hold (C0 controls but tab
 * and newline, U+FFFE, U+FFFF) and carriage return (which XML parsers turn
 * into newline) as Excel's _xHHHH_ escapes; a '_' that would start such an
 * escape as _x005F_. -1 when out of memory. */
int xlsx_put_text(struct mpbuf *b, const char *p, size_t n, bool attr);

/* Appends the cell of value v at column col (0-based) of sheet row row
 * (1-based): nothing for nil; scratch holds the JSON text of maps and
 * arrays. On failure b is as it was at the call's start or partly
 * written (the caller drops the row). */
enum xlsx_cell_rc xlsx_put_cell(struct mpbuf *b, struct mpbuf *scratch, uint32_t col,
                                uint32_t row, const msgpack_object *v);

/* Appends an inline string cell holding text p (checked: UTF-8, length). */
enum xlsx_cell_rc xlsx_put_str_cell(struct mpbuf *b, uint32_t col, uint32_t row,
                                    const char *p, size_t n);

#endif
