/* XLSX internals shared by xlsx.c (the format: rows of one sheet),
 * xlsx_book.c (workbook, relationships, shared strings, styles) and
 * xlsx_zip.c (the zip archive and its parts as XML streams). */
#ifndef ROWD_XLSX_H
#define ROWD_XLSX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zip.h>
#include <libxml/xmlreader.h>

#include "format.h"
#include "sheet.h"

/* ---- parts (xlsx_zip.c) ------------------------------------------------- */

/* One part (zip member) read as a stream of XML nodes: libxml2's
 * xmlTextReader pulls it through zip_fread, so it is never whole in
 * memory. Entities, DTDs and the network are off as in xml.c. */
struct xlsx_part {
	const char *name;          /* the member's name (owned by the archive) */
	zip_file_t *zf;
	xmlTextReaderPtr rd;
	uint64_t read, max_read;   /* bytes decompressed; cap (0: none) */
	const struct rowd_limits *lim;
	/* Set by the callbacks, read once the reader fails. */
	bool io_failed;
	struct rowd_error io_err;
	bool xml_failed;
	int xml_line;
	char xml_msg[160];
};

/* Opens the archive in fd (a dup of it is kept; read with pread, so the
 * fd's offset is never used). Not a zip: EFORMAT. */
zip_t *xlsx_zip_open(int fd, struct rowd_error *err);
/* Index of the member named name (OPC names ignore ASCII case), or -1. */
int64_t xlsx_zip_find(zip_t *za, const char *name);
/* Opens member index as an XML stream; max_read caps the bytes it may
 * decompress (ELIMIT past it; 0 = no cap). */
int xlsx_part_open(struct xlsx_part *p, zip_t *za, int64_t index, uint64_t max_read,
                   const struct rowd_limits *lim, struct rowd_error *err);
/* The next node: 1, 0 at the end of the part, -1 with err (EFORMAT naming
 * the part and line for bad XML, the zip's error for a corrupt member). */
int xlsx_part_next(struct xlsx_part *p, struct rowd_error *err);
/* Appends the text (and CDATA) inside the current element, which the
 * reader leaves at its end tag, to buf (bounded by the str_bytes limit;
 * entity references are EFORMAT). */
int xlsx_part_text(struct xlsx_part *p, struct mpbuf *buf, struct rowd_error *err);
/* Attribute of the current element by local name (any or no namespace),
 * malloc'd, or NULL. */
char *xlsx_part_attr(struct xlsx_part *p, const char *local);
/* Several at once: out[i] for local[i] (malloc'd or NULL), one pass. */
void xlsx_part_attrs(struct xlsx_part *p, const char *const *local, char **out, size_t n);
/* An error at the reader's current line: "PART line N: msg". */
int xlsx_part_error(struct xlsx_part *p, enum rowd_err code, struct rowd_error *err,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void xlsx_part_close(struct xlsx_part *p);

/* Local name of the current node when it is an element start (or end, as
 * asked), else NULL. */
const char *xlsx_part_element(struct xlsx_part *p, bool end);

/* ---- workbook (xlsx_book.c) --------------------------------------------- */

struct xlsx_sheet {
	char *name;
	char *part;                /* member name of its XML, NULL if none */
};

struct xlsx_book {
	zip_t *za;
	const struct rowd_limits *lim;
	uint64_t budget;           /* bytes of metadata parts and tables */
	struct xlsx_sheet *sheets;
	size_t nsheets;
	bool date1904;
	/* Shared strings: string i is sst.data[sst_off[i] .. sst_off[i + 1]). */
	struct mpbuf sst;
	size_t *sst_off;
	size_t nsst;
	/* cellXfs: the kind of number each style index shows. */
	uint8_t *xf_kind;
	size_t nxf;
};

/* Opens the workbook: the archive, sheet names and parts, the date
 * system; with data, also shared strings and styles. */
int xlsx_book_open(struct xlsx_book *b, int fd, const struct rowd_limits *lim, bool data,
                   struct rowd_error *err);
void xlsx_book_close(struct xlsx_book *b);
/* Decodes OOXML's _xHHHH_ escapes in buf[from ..] in place. */
void xlsx_unescape(struct mpbuf *buf, size_t from);

#endif
