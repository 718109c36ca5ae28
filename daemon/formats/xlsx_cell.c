/* The XML of one worksheet cell, for the XLSX writer (xlsx_write.h).
 *
 * Values: str -> inline string (t="inlineStr", <is><t xml:space="preserve">
 * so that blanks at the ends survive); int -> number when |v| <= 2^53, else
 * the decimal digits as a string (Excel keeps numbers as doubles: a bigger
 * integer would come back changed); float -> number, the shortest text
 * that reads back as the same double (float32: the same float), and
 * nan/inf as the strings "nan", "inf", "-inf" (no cell number holds
 * them; the text formats write them the same way); bool -> t="b"; nil ->
 * no cell (empty); map and array -> their JSON text as a string, as the
 * flat text formats write them; bin and ext -> refused.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sheet.h"
#include "xlsx_write.h"

/* 2^53: the last integer from which every smaller one is a double. */
#define EXACT_INT 9007199254740992ull

size_t xlsx_text_units(const char *p, size_t n)
{
	const unsigned char *s = (const unsigned char *)p;
	size_t units = 0;

	for (size_t i = 0; i < n;) {
		size_t k = s[i] < 0x80 ? 1 : proto_utf8_seq_len(s + i, n - i);

		if (k == 0)
			return SIZE_MAX;
		units += k == 4 ? 2 : 1;     /* above the BMP: a surrogate pair */
		i += k;
	}
	return units;
}

static bool hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/* The replacement of p[i], or NULL when it goes as it is; *skip is how
 * many bytes it replaces. */
static const char *escape_of(const unsigned char *p, size_t n, size_t i, bool attr,
                             char esc[8], size_t *skip)
{
	unsigned char c = p[i];

	*skip = 1;
	switch (c) {
	case '&':
		return "&amp;";
	case '<':
		return "&lt;";
	case '>':
		return "&gt;";
	case '"':
		return attr ? "&quot;" : NULL;
	case '\t':
	case '\n':
		return NULL;
	case '_':
		/* Literal text that the reader would decode as an escape. */
		if (n - i >= 7 && p[i + 1] == 'x' && hex(p[i + 2]) && hex(p[i + 3]) &&
		    hex(p[i + 4]) && hex(p[i + 5]) && p[i + 6] == '_')
			return "_x005F_";
		return NULL;
	case 0xef:
		/* U+FFFE and U+FFFF are not XML characters. */
		if (n - i >= 3 && p[i + 1] == 0xbf && (p[i + 2] == 0xbe || p[i + 2] == 0xbf)) {
			*skip = 3;
			return p[i + 2] == 0xbe ? "_xFFFE_" : "_xFFFF_";
		}
		return NULL;
	default:
		if (c >= 0x20)
			return NULL;
		snprintf(esc, 8, "_x%04X_", c);
		return esc;
	}
}

int xlsx_put_text(struct mpbuf *b, const char *p, size_t n, bool attr)
{
	const unsigned char *s = (const unsigned char *)p;
	size_t run = 0, i = 0;

	if (n == 0)          /* "" comes with a NULL pointer */
		return 0;
	while (i < n) {
		char esc[8];
		size_t skip;
		const char *rep = escape_of(s, n, i, attr, esc, &skip);

		if (!rep) {
			i++;
			continue;
		}
		if (mpbuf_append(b, p + run, i - run) < 0 || mpbuf_append(b, rep, strlen(rep)) < 0)
			return -1;
		i += skip;
		run = i;
	}
	return mpbuf_append(b, p + run, n - run);
}

/* <c r="B7" plus the type attribute, if any, and '>'. */
static int cell_open(struct mpbuf *b, uint32_t col, uint32_t row, const char *type)
{
	char ref[48], name[4];
	size_t k = sheet_col_name(col, name);
	int n = snprintf(ref, sizeof ref, "<c r=\"%.*s%u\"%s%s%s>", (int)k, name, row,
	                 type ? " t=\"" : "", type ? type : "", type ? "\"" : "");

	return mpbuf_append(b, ref, (size_t)n);
}

static enum xlsx_cell_rc number_cell(struct mpbuf *b, uint32_t col, uint32_t row,
                                     const char *num, size_t n)
{
	if (cell_open(b, col, row, NULL) < 0 || mpbuf_append(b, "<v>", 3) < 0 ||
	    mpbuf_append(b, num, n) < 0 || mpbuf_append(b, "</v></c>", 8) < 0)
		return XLSX_CELL_NOMEM;
	return XLSX_CELL_OK;
}

enum xlsx_cell_rc xlsx_put_str_cell(struct mpbuf *b, uint32_t col, uint32_t row,
                                    const char *p, size_t n)
{
	size_t units = xlsx_text_units(p, n);

	if (units == SIZE_MAX)
		return XLSX_CELL_UTF8;
	if (units > XLSX_MAX_CELL_CHARS)
		return XLSX_CELL_LONG;
	if (cell_open(b, col, row, "inlineStr") < 0 ||
	    mpbuf_append(b, "<is><t xml:space=\"preserve\">", 28) < 0 ||
	    xlsx_put_text(b, p, n, false) < 0 || mpbuf_append(b, "</t></is></c>", 13) < 0)
		return XLSX_CELL_NOMEM;
	return XLSX_CELL_OK;
}

/* Shortest text that reads back as the same value (float32: as the same
 * float). %g never gives ".0": Excel has one number type. */
static size_t double_text(char *buf, size_t cap, double v, bool single)
{
	size_t n = 0;

	for (int prec = single ? 6 : 15; prec <= (single ? 9 : 17); prec++) {
		n = (size_t)snprintf(buf, cap, "%.*g", prec, v);
		if (single ? (float)strtod(buf, NULL) == (float)v : strtod(buf, NULL) == v)
			break;
	}
	return n;
}

enum xlsx_cell_rc xlsx_put_cell(struct mpbuf *b, struct mpbuf *scratch, uint32_t col,
                                uint32_t row, const msgpack_object *v)
{
	char num[48];
	size_t n;

	switch (v->type) {
	case MSGPACK_OBJECT_NIL:
		return XLSX_CELL_OK;
	case MSGPACK_OBJECT_BOOLEAN:
		if (cell_open(b, col, row, "b") < 0 ||
		    mpbuf_append(b, v->via.boolean ? "<v>1</v></c>" : "<v>0</v></c>", 12) < 0)
			return XLSX_CELL_NOMEM;
		return XLSX_CELL_OK;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		n = (size_t)snprintf(num, sizeof num, "%llu", (unsigned long long)v->via.u64);
		return v->via.u64 <= EXACT_INT ? number_cell(b, col, row, num, n)
		                               : xlsx_put_str_cell(b, col, row, num, n);
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		n = (size_t)snprintf(num, sizeof num, "%lld", (long long)v->via.i64);
		return v->via.i64 >= -(int64_t)EXACT_INT ? number_cell(b, col, row, num, n)
		                                         : xlsx_put_str_cell(b, col, row, num, n);
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		if (isnan(v->via.f64))
			return xlsx_put_str_cell(b, col, row, "nan", 3);
		if (isinf(v->via.f64))
			return v->via.f64 < 0 ? xlsx_put_str_cell(b, col, row, "-inf", 4)
			                      : xlsx_put_str_cell(b, col, row, "inf", 3);
		n = double_text(num, sizeof num, v->via.f64, v->type == MSGPACK_OBJECT_FLOAT32);
		return number_cell(b, col, row, num, n);
	case MSGPACK_OBJECT_STR:
		return xlsx_put_str_cell(b, col, row, v->via.str.ptr, v->via.str.size);
	case MSGPACK_OBJECT_ARRAY:
	case MSGPACK_OBJECT_MAP:
		scratch->len = 0;
		if (proto_object_to_json(v, scratch) < 0)
			return XLSX_CELL_NOMEM;
		n = scratch->len;
		while (n && scratch->data[n - 1] == '\n')
			n--;
		return xlsx_put_str_cell(b, col, row, scratch->data, n);
	case MSGPACK_OBJECT_BIN:
		return XLSX_CELL_BIN;
	default:
		return XLSX_CELL_EXT;
	}
}
