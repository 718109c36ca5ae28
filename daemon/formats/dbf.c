/* dBase tables (.dbf): dBase III/IV/5, FoxBASE, FoxPro and Visual FoxPro.
 * Read only, through struct input, so any codec works (x.dbf.gz).
 *
 * Layout: a 32-byte header (version, last update YYMMDD, record count,
 * header length, record length, language driver at byte 29), 32-byte
 * field descriptors ended by 0x0D (Visual FoxPro then keeps a 263-byte
 * backlink inside the header length), then fixed-length records, each a
 * deletion flag (' ' or '*') and the fields side by side, and maybe 0x1A.
 *
 * Checked before any row: descriptor names and types, the header length
 * holding the descriptors (and at most 264 bytes after them: the backlink
 * and a stray NUL), the record length equal to 1 + the field lengths and
 * within row_bytes (ELIMIT), the column count within the elements limit,
 * no duplicate names (EFORMAT: a table cannot hold two, so they mean a
 * damaged header). dBase 7 (level 7: 48-byte descriptors) is ENOTSUP.
 *
 * Rows are read until 0x1A or the end of the data; the header's record
 * count is not used (writers that append often leave it stale). Bytes
 * after 0x1A are ignored. A record cut short by the end of the data, or
 * whose flag is neither ' ' nor '*' (a wrong record length), is EFORMAT
 * with the record number (err->row) and its offset. Deleted records ('*')
 * are skipped and not counted. totals counts the records present with a
 * pass over their flags only, without decoding values (with on_error
 * "skip" it decodes them, to leave out what a read would skip).
 *
 * Keys are the field names (up to the first NUL), in the table's code
 * page. Values, by field type:
 *   C   str, right-trimmed of spaces and NULs, converted to UTF-8 from the
 *       `encoding` option, else the language driver's code page (0x03 and
 *       0x57 windows-1252, 0x01 cp437, 0x26/0x65 cp866, 0xc9 windows-1251,
 *       ... see dbf_text.c), else (driver 0 or unknown) UTF-8 when the bytes
 *       are UTF-8 and windows-1252 when not. Visual FoxPro binary C fields
 *       (NOCPTRANS) are bin. Lengths above 255 use the decimal count byte
 *       as the high byte (FoxPro and Clipper).
 *   N F int when the field has no decimals and the text is an integer that
 *       fits int64, else float; blank -> nil; ',' is read as the point.
 *   L   T t Y y -> true, F f N n -> false, ? space NUL -> nil.
 *   D   YYYYMMDD -> "YYYY-MM-DD"; blank or 00000000 -> nil.
 *   I   int32 (little endian).  B (8 bytes) O  float64.
 *   T   Julian day + milliseconds -> "YYYY-MM-DDTHH:MM:SS" (".mmm" added
 *       when the milliseconds are not whole seconds); zero -> nil.
 *   Y   currency, int64 ten-thousandths -> exact decimal text "12.3400"
 *       (a float would round large amounts).
 *   M G P, B (10 bytes)  the memo's block number in the .dbt/.fpt file, as
 *       int, nil when 0 or blank: the memo file is not opened.
 *   0   Visual FoxPro's _NullFlags: not a key; it makes nullable fields nil.
 * Other types (V, Q, W, @, +, ...) are EFORMAT naming the field.
 *
 * A value that does not parse, or text that is not in the code page, is
 * EFORMAT naming the record, the field and the offset; on_error "skip"
 * skips that record (its length is known, so the next one is intact).
 */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbf.h"
#include "format.h"
#include "mpbin.h"
#include "options.h"

#define DBF_HEADER 32
#define DBF_DESC 32
/* After the 0x0D: Visual FoxPro's 263-byte backlink, and a NUL some add. */
#define DBF_HEADER_SLACK 264

static const char *const dbf_rd_known[] = { "encoding", "on_error", NULL };
static const char *const on_error_choices[] = { "raise", "skip", NULL };

struct dbf_field {
	uint8_t type;
	bool system;            /* _NullFlags: not a key */
	bool binary;            /* Visual FoxPro NOCPTRANS: bytes, not text */
	int null_bit;           /* bit in _NullFlags, -1 when not nullable */
	size_t off, len;        /* in the record, after the deletion flag */
	unsigned dec;
	size_t key_at, key_len; /* its packed name in keys */
};

struct dbf_rd {
	struct input *in;
	struct rowd_limits lim;
	bool skip_bad;
	size_t rec_len;
	size_t nfields, ncols;
	struct dbf_field *f;
	const struct dbf_field *nullflags;
	struct mpbuf keys;
	struct dbf_text text;
	uint64_t record;        /* records met so far, deleted ones too */
	int state;              /* 0 reading, 1 exhausted, -1 failed */
	struct rowd_error err;  /* a failed reader stays failed */
	struct mpbuf scratch;   /* rd_count's rows with on_error "skip" */
};

static uint16_t u16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static bool visual_foxpro(uint8_t version)
{
	return version == 0x30 || version == 0x31 || version == 0x32;
}

__attribute__((format(printf, 3, 4)))
static int header_error(struct rowd_error *err, uint64_t at, const char *fmt, ...)
{
	char why[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	err->line = -1;
	err->row = 0;
	err->offset = (int64_t)at;
	return rowd_error_set(err, ROWD_EFORMAT, "dBase header at offset %" PRIu64 ": %s", at, why);
}

/* The field name (up to the first NUL of 11 bytes) as UTF-8, for keys. */
static int field_name(struct dbf_rd *r, const unsigned char *d, size_t at, const char **name,
                      size_t *n, struct rowd_error *err)
{
	const unsigned char *z = memchr(d, 0, 11);
	size_t len = z ? (size_t)(z - d) : 11, bad = 0;
	int rc;

	while (len && d[len - 1] == ' ')
		len--;
	if (len == 0)
		return header_error(err, at, "field %zu has no name", r->nfields + 1);
	rc = dbf_text_utf8(&r->text, (const char *)d, len, name, n, &bad);
	if (rc < 0)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory for the dbf reader");
	if (rc > 0)
		return header_error(err, at + bad, "field %zu: its name is not %s text",
		                    r->nfields + 1, r->text.name);
	return 0;
}

/* Checks a descriptor's type and length; sets f's type, len, dec. */
static int field_type(struct dbf_rd *r, uint8_t version, const unsigned char *d, size_t at,
                      struct dbf_field *f, const char *name, size_t nlen, struct rowd_error *err)
{
	const char *want = NULL;
	uint8_t t = d[11];

	f->type = t;
	f->len = d[16];
	f->dec = d[17];
	switch (t) {
	case 'C':
		f->len |= (size_t)d[17] << 8;
		f->dec = 0;
		if (f->len == 0)
			want = "at least 1";
		break;
	case 'N': case 'F':
		if (f->len == 0 || (f->dec && f->dec >= f->len))
			want = "at least 1, above its decimal count";
		break;
	case 'L':
		if (f->len != 1)
			want = "1";
		break;
	case 'D': case 'T': case 'Y': case 'O':
		if (f->len != 8)
			want = "8";
		break;
	case 'I':
		if (f->len != 4)
			want = "4";
		break;
	case 'B':
		if (f->len != 8 && f->len != 10)
			want = "8 (a double) or 10 (a memo block)";
		break;
	case 'M': case 'G': case 'P':
		if (f->len != 10 && f->len != 4)
			want = "10 or 4";
		break;
	case '0':
		f->system = true;
		if (f->len == 0)
			want = "at least 1";
		break;
	default:
		/* Level 7 has 48-byte descriptors: the first type byte lands in
		 * the language driver name and means nothing. */
		if (r->nfields == 0 && (version == 0x04 || version == 0x8c))
			return rowd_error_set(err, ROWD_ENOTSUP, "dBase 7 tables (version 0x%02x, "
			                      "48-byte field descriptors) are not read", version);
		return header_error(err, at + 11, "field '%.*s' has type '%c' (0x%02x), which this "
		                    "reader does not know", (int)nlen, name,
		                    t >= 0x20 && t < 0x7f ? t : '?', t);
	}
	if (want)
		return header_error(err, at + 16, "field '%.*s' (type %c) is %zu bytes long; it must "
		                    "be %s", (int)nlen, name, t, f->len, want);
	return 0;
}

static bool duplicate(const struct dbf_rd *r, const char *name, size_t n)
{
	for (size_t i = 0; i < r->nfields; i++) {
		const struct dbf_field *g = &r->f[i];
		const char *k = r->keys.data + g->key_at;

		if (!g->system && g->key_len == n && memcmp(k, name, n) == 0)
			return true;
	}
	return false;
}

/* The descriptors from 32 up to the 0x0D, inside the header length. */
static int read_fields(struct dbf_rd *r, const unsigned char *h, size_t hdr_len,
                       struct rowd_error *err)
{
	uint8_t version = h[0];
	size_t at = DBF_HEADER, off = 0, nnull = 0;

	r->f = calloc((hdr_len - DBF_HEADER) / DBF_DESC + 1, sizeof *r->f);
	if (!r->f)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory for the dbf reader");
	while (at < hdr_len && h[at] != 0x0d) {
		struct dbf_field *f = &r->f[r->nfields];
		const char *name;
		size_t nlen;

		if (hdr_len - at < DBF_DESC)
			return header_error(err, at, "the header length (%zu) ends inside field "
			                    "descriptor %zu", hdr_len, r->nfields + 1);
		if (field_name(r, h + at, at, &name, &nlen, err) < 0 ||
		    field_type(r, version, h + at, at, f, name, nlen, err) < 0)
			return -1;
		if (!f->system && duplicate(r, name, nlen))
			return header_error(err, at, "two fields are named '%.*s'", (int)nlen, name);
		/* Packed once (str header, then the name) and copied into every
		 * row; key_at is where the name itself starts. */
		if (mpbuf_str(&r->keys, name, nlen) < 0)
			return rowd_error_set(err, ROWD_ENOMEM, "out of memory for the dbf reader");
		f->key_len = nlen;
		f->key_at = r->keys.len - nlen;
		f->off = off;
		off += f->len;
		f->null_bit = -1;
		if (visual_foxpro(version)) {
			f->binary = f->type == 'C' && (h[at + 18] & 0x04);
			if (!f->system && (h[at + 18] & 0x02))
				f->null_bit = (int)nnull++;
		}
		if (f->system)
			r->nullflags = f;
		else
			r->ncols++;
		r->nfields++;
		at += DBF_DESC;
	}
	if (at >= hdr_len)
		return header_error(err, at, "no 0x0D ends the field descriptors within the header "
		                    "length (%zu)", hdr_len);
	if (r->ncols == 0)
		return header_error(err, at, "the table has no fields");
	if (hdr_len - at - 1 > DBF_HEADER_SLACK)
		return header_error(err, 8, "the header length (%zu) leaves %zu bytes after the %zu "
		                    "field descriptors, more than the %d a header can hold",
		                    hdr_len, hdr_len - at - 1, r->nfields, DBF_HEADER_SLACK);
	if (off + 1 != r->rec_len)
		return header_error(err, 10, "the record length (%zu) is not 1 + the field lengths "
		                    "(%zu)", r->rec_len, off + 1);
	if (nnull && (!r->nullflags || nnull > 8 * r->nullflags->len))
		return header_error(err, at, "%zu nullable fields but %s", nnull,
		                    r->nullflags ? "too few _NullFlags bits" : "no _NullFlags field");
	if (r->ncols > r->lim.elements) {
		err->row = 0;
		err->offset = 0;
		return rowd_error_set(err, ROWD_ELIMIT, "the table has %zu fields, more than the "
		                      "elements limit (%zu)", r->ncols, r->lim.elements);
	}
	return 0;
}

static int read_header(struct dbf_rd *r, const msgpack_object *opts, struct rowd_error *err)
{
	struct input *in = r->in;
	const unsigned char *h;
	const char *enc = NULL;
	size_t enc_len = 0, hdr_len;

	if (opts_str(opts, "encoding", &enc, &enc_len, err) < 0)
		return -1;
	while (input_avail(in) < DBF_HEADER && !in->eof)
		if (input_fill(in, err) < 0)
			return -1;
	if (input_avail(in) < DBF_HEADER)
		return header_error(err, input_avail(in), "the data ends after %zu bytes, inside the "
		                    "32-byte header", input_avail(in));
	h = (const unsigned char *)input_ptr(in);
	hdr_len = u16(h + 8);
	r->rec_len = u16(h + 10);
	if (hdr_len < DBF_HEADER + DBF_DESC + 1)
		return header_error(err, 8, "header length %zu is below 65 (the header, one field "
		                    "descriptor and 0x0D)", hdr_len);
	if (r->rec_len < 2)
		return header_error(err, 10, "record length %zu is below 2", r->rec_len);
	if (r->rec_len > r->lim.row_bytes) {
		err->row = 0;
		err->offset = 10;
		return rowd_error_set(err, ROWD_ELIMIT, "the record length, %zu bytes, is above the "
		                      "row_bytes limit (%zu)", r->rec_len, r->lim.row_bytes);
	}
	if (dbf_text_open(&r->text, enc, enc_len, h[29], err) < 0)
		return -1;
	while (input_avail(in) < hdr_len && !in->eof)
		if (input_fill(in, err) < 0)
			return -1;
	if (input_avail(in) < hdr_len)
		return header_error(err, input_avail(in), "the data ends after %zu bytes, inside the "
		                    "%zu-byte header", input_avail(in), hdr_len);
	h = (const unsigned char *)input_ptr(in);
	if (read_fields(r, h, hdr_len, err) < 0)
		return -1;
	input_consume(in, hdr_len);
	return 0;
}

static void dbf_rd_close(void *state)
{
	struct dbf_rd *r = state;

	if (!r)
		return;
	dbf_text_close(&r->text);
	mpbuf_free(&r->keys);
	mpbuf_free(&r->scratch);
	free(r->f);
	free(r);
}

static int dbf_rd_open(const struct fmt_args *a, void **state, struct rowd_error *err)
{
	struct dbf_rd *r;
	int idx = 0;

	if (opts_check_known(a->options, dbf_rd_known, "format dbf", err) < 0 ||
	    opts_choice(a->options, "on_error", on_error_choices, &idx, err) < 0)
		return -1;
	r = calloc(1, sizeof *r);
	if (!r)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory for the dbf reader");
	r->in = a->in;
	r->lim = *a->limits;
	r->skip_bad = idx == 1;
	r->text.cd = (iconv_t)-1;
	mpbuf_init(&r->keys);
	mpbuf_init(&r->scratch);
	rowd_error_clear(&r->err);
	if (read_header(r, a->options, err) < 0) {
		dbf_rd_close(r);
		return -1;
	}
	*state = r;
	return 0;
}

/* ---- records ------------------------------------------------------------ */

/* Makes the next record whole in the input window. Returns 1, 0 at the
 * end (0x1A or no more data), -1 on error. */
static int next_record(struct dbf_rd *r, struct rowd_error *err)
{
	struct input *in = r->in;

	for (;;) {
		size_t avail = input_avail(in);
		const unsigned char *p = (const unsigned char *)input_ptr(in);

		if (avail >= 1 && p[0] == 0x1a)
			return 0;
		if (avail >= 1 && p[0] != ' ' && p[0] != '*') {
			err->line = -1;
			err->row = (int64_t)(r->record + 1);
			err->offset = (int64_t)in->consumed;
			return rowd_error_set(err, ROWD_EFORMAT, "record %" PRIu64 " at offset %" PRIu64
			                      ": its deletion flag is 0x%02x, neither ' ' nor '*' (a "
			                      "wrong record length?)", r->record + 1, in->consumed, p[0]);
		}
		if (avail >= r->rec_len)
			return 1;
		if (in->eof) {
			if (avail == 0)
				return 0;
			err->line = -1;
			err->row = (int64_t)(r->record + 1);
			err->offset = (int64_t)in->consumed;
			return rowd_error_set(err, ROWD_EFORMAT, "truncated dBase table at offset %"
			                      PRIu64 ": record %" PRIu64 " has %zu of its %zu bytes",
			                      in->consumed, r->record + 1, avail, r->rec_len);
		}
		if (input_fill(in, err) < 0)
			return -1;
	}
}

/* A value that cannot be packed: which field, where in it, why. */
struct dbf_fault {
	const struct dbf_field *f;
	size_t at;
	enum rowd_err code;
	const char *why;
	char detail[64];
};

static int put_text(struct dbf_rd *r, struct mpbuf *out, const struct dbf_field *f,
                    const char *v, struct dbf_fault *fault)
{
	size_t n = f->len, bad = 0, un;
	const char *u;
	int rc;

	while (n && (v[n - 1] == ' ' || v[n - 1] == 0))
		n--;
	if (f->binary)
		return mpbin_put(out, v, n);
	rc = dbf_text_utf8(&r->text, v, n, &u, &un, &bad);
	if (rc < 0)
		return -1;
	if (rc > 0) {
		fault->at = bad;
		fault->why = "is not text in the table's encoding";
		snprintf(fault->detail, sizeof fault->detail, " (%s: byte 0x%02x)", r->text.name,
		         (unsigned char)v[bad]);
		return 1;
	}
	if (un > r->lim.str_bytes) {
		fault->code = ROWD_ELIMIT;
		fault->why = "is longer than the str_bytes limit";
		snprintf(fault->detail, sizeof fault->detail, " (%zu)", r->lim.str_bytes);
		return 1;
	}
	return mpbuf_str(out, u, un);
}

static bool is_null(const struct dbf_rd *r, const struct dbf_field *f, const unsigned char *rec)
{
	const unsigned char *flags;

	if (f->null_bit < 0)
		return false;
	flags = rec + 1 + r->nullflags->off;
	return flags[f->null_bit / 8] & (1u << (f->null_bit % 8));
}

/* Packs the record at rec as one map. Returns 0, 1 with *fault, -1 out
 * of memory. */
static int pack_record(struct dbf_rd *r, const unsigned char *rec, struct mpbuf *out,
                       struct dbf_fault *fault)
{
	if (mpbuf_map_hdr(out, (uint32_t)r->ncols) < 0)
		return -1;
	for (size_t i = 0; i < r->nfields; i++) {
		const struct dbf_field *f = &r->f[i];
		const char *v = (const char *)rec + 1 + f->off;
		const unsigned char *u = (const unsigned char *)v;
		size_t hdr = f->key_len < 32 ? 1 : f->key_len < 256 ? 2 : 3;
		int rc;

		if (f->system)
			continue;
		fault->f = f;
		fault->at = 0;
		if (mpbuf_append(out, r->keys.data + f->key_at - hdr, f->key_len + hdr) < 0)
			return -1;
		if (is_null(r, f, rec)) {
			if (mpbuf_nil(out) < 0)
				return -1;
			continue;
		}
		switch (f->type) {
		case 'C':
			rc = put_text(r, out, f, v, fault);
			break;
		case 'N': case 'F':
			rc = dbf_put_number(out, v, f->len, f->dec, &fault->why);
			break;
		case 'L':
			rc = dbf_put_logical(out, v, &fault->why);
			break;
		case 'D':
			rc = dbf_put_date(out, v, &fault->why);
			break;
		case 'T':
			rc = dbf_put_datetime(out, u, &fault->why);
			break;
		case 'Y':
			rc = dbf_put_currency(out, u);
			break;
		case 'I':
			rc = mpbuf_int(out, (int32_t)dbf_u32(u));
			break;
		case 'B': case 'O':
			if (f->len == 8) {
				uint64_t bits = dbf_u64(u);
				double d;

				memcpy(&d, &bits, sizeof d);
				rc = mpbuf_double(out, d);
				break;
			}
			/* B of 10 bytes is a dBase IV memo. */
			/* fall through */
		default:          /* M G P */
			rc = dbf_put_memo(out, v, f->len, &fault->why);
			break;
		}
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Up to 24 bytes of a value for a message, non-printing ones as '?'. */
static void shown(const char *v, size_t n, char *text, size_t cap)
{
	size_t i;

	for (i = 0; i < n && i + 1 < cap; i++)
		text[i] = v[i] >= 0x20 && v[i] < 0x7f ? v[i] : '?';
	text[i] = 0;
}

static int value_error(const struct dbf_rd *r, const unsigned char *rec,
                       const struct dbf_fault *fault, struct rowd_error *err)
{
	const struct dbf_field *f = fault->f;
	uint64_t at = r->in->consumed + 1 + f->off + fault->at;
	char v[25];

	shown((const char *)rec + 1 + f->off, f->len, v, sizeof v);
	err->line = -1;
	err->row = (int64_t)r->record;
	err->offset = (int64_t)at;
	return rowd_error_set(err, fault->code, "record %" PRIu64 " at offset %" PRIu64 ": field "
	                      "'%.*s' (type %c) '%s' %s%s, at offset %" PRIu64, r->record,
	                      r->in->consumed, (int)f->key_len, r->keys.data + f->key_at,
	                      f->type, v, fault->why, fault->detail, at);
}

static int dbf_fail(struct dbf_rd *r, struct rowd_error *err)
{
	r->state = -1;
	r->err = *err;
	return -1;
}

static int dbf_rd_next(void *state, struct mpbuf *out, size_t max, size_t *nrows,
                       uint64_t *skipped, struct rowd_error *err)
{
	struct dbf_rd *r = state;
	struct input *in = r->in;
	size_t n = 0;

	*nrows = 0;
	if (r->state < 0) {
		*err = r->err;
		return -1;
	}
	while (r->state == 0 && n < max) {
		const unsigned char *rec;
		struct dbf_fault fault = { .code = ROWD_EFORMAT };
		size_t mark = out->len;
		int rc = next_record(r, err);

		if (rc == 0) {
			r->state = 1;
			break;
		}
		if (rc < 0) {
			*nrows = n;
			return dbf_fail(r, err);
		}
		r->record++;
		rec = (const unsigned char *)input_ptr(in);
		if (rec[0] == '*') {
			input_consume(in, r->rec_len);
			continue;
		}
		rc = pack_record(r, rec, out, &fault);
		if (rc != 0) {
			out->len = mark;
			if (rc > 0 && fault.code == ROWD_EFORMAT && r->skip_bad) {
				input_consume(in, r->rec_len);
				++*skipped;
				continue;
			}
			if (rc < 0)
				rowd_error_set(err, ROWD_ENOMEM, "out of memory for rows");
			else
				value_error(r, rec, &fault, err);
			*nrows = n;
			return dbf_fail(r, err);
		}
		input_consume(in, r->rec_len);
		n++;
	}
	*nrows = n;
	return r->state;
}

/* totals: the records present and not deleted, a stretch at a time. */
static int dbf_rd_count(void *state, uint64_t *rows, struct rowd_error *err)
{
	struct dbf_rd *r = state;

	if (r->state < 0) {
		*err = r->err;
		return -1;
	}
	if (r->skip_bad) {
		/* Which records a read skips is known only by decoding them. */
		uint64_t skipped = 0;
		size_t got = 0;
		int rc;

		r->scratch.len = 0;
		rc = dbf_rd_next(r, &r->scratch, 4096, &got, &skipped, err);
		*rows += got;
		return rc;
	}
	for (int i = 0; i < 65536; i++) {
		int rc = next_record(r, err);

		if (rc < 0)
			return dbf_fail(r, err);
		if (rc == 0) {
			r->state = 1;
			return 1;
		}
		r->record++;
		if (*input_ptr(r->in) == ' ')
			++*rows;
		input_consume(r->in, r->rec_len);
	}
	return 0;
}

static int dbf_rd_columns(void *state, struct mpbuf *out)
{
	struct dbf_rd *r = state;

	if (mpbuf_array_hdr(out, (uint32_t)r->ncols) < 0)
		return 0;
	for (size_t i = 0; i < r->nfields; i++) {
		const struct dbf_field *f = &r->f[i];

		if (!f->system && mpbuf_str(out, r->keys.data + f->key_at, f->key_len) < 0)
			return 0;
	}
	return 1;
}

/* ---- detection ---------------------------------------------------------- */

static bool known_version(uint8_t v)
{
	static const uint8_t versions[] = { 0x02, 0x03, 0x04, 0x05, 0x30, 0x31, 0x32, 0x43,
	                                    0x63, 0x83, 0x8b, 0x8e, 0xcb, 0xf5, 0xfb };

	return memchr(versions, v, sizeof versions) != NULL;
}

/* A descriptor that looks right: a name of printable bytes padded with
 * NULs, a type this reader knows, a non-zero length. */
static bool plausible_field(const unsigned char *d)
{
	size_t i = 0;

	if (d[0] == 0)
		return false;
	for (; i < 11 && d[i]; i++)
		if (d[i] < 0x20 || d[i] == 0x7f)
			return false;
	for (; i < 11; i++)
		if (d[i] != 0)
			return false;
	return memchr("CNFLDTYIBOMGP0", d[11], 14) && d[11] && (d[16] || d[17]);
}

/* A dBase header: a known version byte, a real month and day, header and
 * record lengths that can hold the fields, and descriptors that look
 * right; when the head holds them all, their lengths must add up to the
 * record length. Text fails at once (its first bytes are no version and
 * date, and its names are not NUL-padded), so CSV and JSON keep theirs. */
static int dbf_probe(const char *head, size_t n)
{
	const unsigned char *h = (const unsigned char *)head;
	size_t hdr_len, rec_len, at, sum = 0;

	if (n < DBF_HEADER + DBF_DESC || !known_version(h[0]))
		return 0;
	if (h[2] < 1 || h[2] > 12 || h[3] < 1 || h[3] > 31)
		return 0;
	hdr_len = u16(h + 8);
	rec_len = u16(h + 10);
	if (hdr_len < DBF_HEADER + DBF_DESC + 1 || rec_len < 2)
		return 0;
	for (at = DBF_HEADER; at + DBF_DESC <= n && at < hdr_len && h[at] != 0x0d; at += DBF_DESC) {
		if (!plausible_field(h + at))
			return 0;
		sum += h[at + 11] == 'C' ? (size_t)(h[at + 16] | h[at + 17] << 8) : h[at + 16];
	}
	if (at >= hdr_len)
		return 0;
	if (at >= n || h[at] != 0x0d)
		return 70;                       /* cut by the head: what was seen is right */
	if (sum + 1 != rec_len || hdr_len - at - 1 > DBF_HEADER_SLACK)
		return 0;
	return 90;
}

static const char *const dbf_extensions[] = { "dbf", NULL };

const struct format_ops format_dbf = {
	.name = "dbf",
	.extensions = dbf_extensions,
	.caps = FMT_CAP_READ | FMT_CAP_TOTALS | FMT_CAP_BINARY | FMT_CAP_STREAM,
	.probe = dbf_probe,
	.rd_open = dbf_rd_open,
	.rd_next = dbf_rd_next,
	.rd_columns = dbf_rd_columns,
	.rd_count = dbf_rd_count,
	.rd_close = dbf_rd_close,
};
