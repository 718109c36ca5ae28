/* Avro object container files (.avro): framing and the format vtable.
 *
 * Implemented without libavro (see formats/avro.h for the split). The
 * container is read through struct input like every streamed format, so
 * an outer codec works too (.avro.gz): the magic "Obj\x01", the file
 * metadata (a map of bytes: avro.schema, avro.codec), a 16-byte sync
 * marker, then blocks of (row count, byte size, data, sync marker).
 *
 * Rows. A top-level record is a row whose keys are its fields, in schema
 * order; any other top-level schema (a union, an array, a string ...)
 * gives rows {"value": datum}. Values are described in avro_decode.c.
 *
 * Limits, checked before anything is allocated: the header and each
 * block (as stored and once decompressed) must fit in row_bytes; a
 * block's row count must fit in its bytes (given the fewest bytes a row
 * of the schema takes), or in the elements limit for rows that take no
 * bytes at all. A block of the null codec is decoded in place in the
 * input window; others are decompressed into a buffer kept across
 * blocks.
 *
 * Errors are EFORMAT naming the block (1-based), its byte offset in the
 * container (after any outer codec) and the row: a bad magic or header, a
 * sync marker that differs from the header's, a block or tail cut short
 * (never taken for a clean end), a datum that does not decode, bytes left
 * over after a block's rows. The reader cannot resynchronise inside a
 * bad block, so an error ends the read.
 *
 * totals sums the blocks' row counts (rd_count), checking each block's
 * framing and sync marker but neither decompressing nor decoding it.
 *
 * The writer (avro_write.c) infers the schema from the rows.
 */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "formats/avro.h"
#include "options.h"

static const char *const avro_rd_known[] = { NULL };

struct avro_rd {
	struct input *in;
	struct rowd_limits lim;
	struct avro_schema schema;
	enum avro_codec codec;
	uint8_t sync[AVRO_SYNC_LEN];
	size_t min_row;            /* fewest bytes one row can take */

	uint64_t block;            /* blocks started so far (the current one's number) */
	uint64_t block_off;        /* container offset of the current block */
	uint64_t data_off;         /* container offset of its data */
	uint64_t rows_left;        /* rows of the current block not yet decoded */
	const uint8_t *base, *p, *end;   /* its data */
	size_t hold;               /* null codec: window bytes it occupies */
	struct mpbuf blk;          /* decompressed data */

	uint64_t row;              /* rows returned so far */
	int state;                 /* 0 reading, 1 exhausted, -1 failed */
	struct rowd_error err;     /* a failed reader stays failed */
};

/* ---- header --------------------------------------------------------------- */

struct avro_hdr {
	const char *schema, *codec;
	size_t schema_len, codec_len;
	uint64_t schema_off;
	const uint8_t *sync;
};

static int hdr_error(uint64_t at, struct rowd_error *err, const char *why)
{
	err->line = -1;
	err->row = -1;
	err->offset = (int64_t)at;
	return rowd_error_set(err, ROWD_EFORMAT, "avro header: %s at offset %" PRIu64, why, at);
}

/* Parses the header from p[0..n). Returns 1 with *used when complete, 0
 * when more bytes are needed, -1 with err. */
static int parse_header(const uint8_t *p, size_t n, const struct rowd_limits *lim,
                        struct avro_hdr *h, size_t *used, struct rowd_error *err)
{
	size_t pos = 4;
	uint64_t entries = 0;

	memset(h, 0, sizeof *h);
	if (n < 4)
		return memcmp(p, AVRO_MAGIC, n) == 0 ? 0 : hdr_error(0, err, "bad magic (not an Avro object container file)");
	if (memcmp(p, AVRO_MAGIC, 4) != 0)
		return hdr_error(0, err, "bad magic (not an Avro object container file)");
	for (;;) {
		int64_t count, size;
		size_t u;
		int rc = avro_read_long(p + pos, p + n, &count, &u);

		if (rc <= 0)
			return rc == 0 ? 0 : hdr_error(pos, err, "overlong varint in the metadata count");
		pos += u;
		if (count == 0)
			break;
		if (count < 0) {
			if (count == INT64_MIN)
				return hdr_error(pos - u, err, "bad metadata count");
			count = -count;
			rc = avro_read_long(p + pos, p + n, &size, &u);
			if (rc <= 0)
				return rc == 0 ? 0 : hdr_error(pos, err, "overlong varint in the metadata size");
			pos += u;
		}
		if ((uint64_t)count > lim->elements - entries)
			return hdr_error(pos, err, "more metadata entries than the elements limit");
		entries += (uint64_t)count;
		for (int64_t i = 0; i < count; i++) {
			const uint8_t *kv[2];
			int64_t len[2];

			for (int k = 0; k < 2; k++) {
				rc = avro_read_long(p + pos, p + n, &len[k], &u);
				if (rc <= 0)
					return rc == 0 ? 0 : hdr_error(pos, err, "overlong varint in a metadata length");
				if (len[k] < 0)
					return hdr_error(pos, err, "negative metadata length");
				pos += u;
				if ((uint64_t)len[k] > n - pos)
					return 0;
				kv[k] = p + pos;
				pos += (size_t)len[k];
			}
			if (len[0] == 11 && memcmp(kv[0], "avro.schema", 11) == 0) {
				h->schema = (const char *)kv[1];
				h->schema_len = (size_t)len[1];
				h->schema_off = (uint64_t)(kv[1] - p);
			} else if (len[0] == 10 && memcmp(kv[0], "avro.codec", 10) == 0) {
				h->codec = (const char *)kv[1];
				h->codec_len = (size_t)len[1];
			}
		}
	}
	if (n - pos < AVRO_SYNC_LEN)
		return 0;
	h->sync = p + pos;
	*used = pos + AVRO_SYNC_LEN;
	if (!h->schema)
		return hdr_error(0, err, "no avro.schema in the file metadata");
	return 1;
}

static int read_header(struct avro_rd *r, struct rowd_error *err)
{
	struct input *in = r->in;
	struct avro_hdr h;
	size_t used = 0;
	int rc;

	for (;;) {
		/* Nothing read yet: no buffer to point into either. */
		rc = input_avail(in) == 0 ? 0 :
		     parse_header((const uint8_t *)input_ptr(in), input_avail(in), &r->lim, &h, &used, err);
		if (rc < 0)
			return -1;
		if (rc > 0)
			break;
		if (input_avail(in) > r->lim.row_bytes) {
			err->offset = 0;
			return rowd_error_set(err, ROWD_ELIMIT,
			                      "avro header larger than the row_bytes limit (%zu)",
			                      r->lim.row_bytes);
		}
		if (in->eof)
			return hdr_error(input_avail(in), err, input_avail(in) < 4 ?
			                 "the file is too short to be Avro" : "the header is truncated");
		if (input_fill(in, err) < 0)
			return -1;
	}
	if (avro_schema_parse(&r->schema, h.schema, h.schema_len, r->lim.depth, err) < 0) {
		err->offset = (int64_t)h.schema_off;
		return -1;
	}
	if (h.codec && avro_codec_find(h.codec, h.codec_len, &r->codec, err) < 0)
		return -1;
	memcpy(r->sync, h.sync, AVRO_SYNC_LEN);
	r->min_row = r->schema.nodes[r->schema.root].min_size;
	input_consume(in, used);
	return 0;
}

/* ---- blocks --------------------------------------------------------------- */

static int block_error(struct avro_rd *r, enum rowd_err code, uint64_t at, struct rowd_error *err,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int block_error(struct avro_rd *r, enum rowd_err code, uint64_t at, struct rowd_error *err,
                       const char *fmt, ...)
{
	char why[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	err->line = -1;
	err->row = -1;
	err->offset = (int64_t)at;
	return rowd_error_set(err, code, "avro block %" PRIu64 " at offset %" PRIu64 ": %s",
	                      r->block, r->block_off, why);
}

static void block_done(struct avro_rd *r)
{
	if (r->hold) {
		input_consume(r->in, r->hold);
		r->hold = 0;
	}
	r->base = r->p = r->end = NULL;
}

/* Makes the next block whole in the window. Returns 1 with its count,
 * data size and header length, 0 at a clean end, -1 on error. */
static int frame_block(struct avro_rd *r, int64_t *count, int64_t *size, size_t *hlen,
                       struct rowd_error *err)
{
	struct input *in = r->in;
	const uint8_t *p;
	size_t avail, u1 = 0, u2 = 0;
	int rc;

	for (;;) {
		avail = input_avail(in);
		p = (const uint8_t *)input_ptr(in);
		if (avail == 0 && in->eof)
			return 0;
		r->block_off = in->consumed;
		rc = avro_read_long(p, p + avail, count, &u1);
		if (rc > 0)
			rc = avro_read_long(p + u1, p + avail, size, &u2);
		if (rc > 0)
			break;
		if (rc < 0) {
			r->block++;
			return block_error(r, ROWD_EFORMAT, r->block_off, err,
			                   "overlong varint in the block header");
		}
		if (in->eof) {
			r->block++;
			return block_error(r, ROWD_EFORMAT, r->block_off, err,
			                   "truncated block header (the data ends after %zu bytes)", avail);
		}
		if (input_fill(in, err) < 0)
			return -1;
	}
	r->block++;
	if (*count < 0 || *size < 0)
		return block_error(r, ROWD_EFORMAT, r->block_off, err,
		                   "negative row count (%" PRId64 ") or size (%" PRId64 ")", *count, *size);
	if ((uint64_t)*size > r->lim.row_bytes)
		return block_error(r, ROWD_ELIMIT, r->block_off, err,
		                   "%" PRId64 " bytes exceed the row_bytes limit (%zu)", *size,
		                   r->lim.row_bytes);
	if (r->min_row == 0 && (uint64_t)*count > r->lim.elements)
		return block_error(r, ROWD_ELIMIT, r->block_off, err,
		                   "%" PRId64 " rows exceed the elements limit (%zu)", *count,
		                   r->lim.elements);
	*hlen = u1 + u2;
	while (input_avail(in) < *hlen + (size_t)*size + AVRO_SYNC_LEN) {
		if (in->eof)
			return block_error(r, ROWD_EFORMAT, r->block_off, err,
			                   "truncated: %" PRId64 " bytes of data and the sync marker "
			                   "announced, the file ends %zu bytes later", *size,
			                   input_avail(in) - *hlen);
		if (input_fill(in, err) < 0)
			return -1;
	}
	p = (const uint8_t *)input_ptr(in) + *hlen + *size;
	if (memcmp(p, r->sync, AVRO_SYNC_LEN) != 0)
		return block_error(r, ROWD_EFORMAT, in->consumed + *hlen + (uint64_t)*size, err,
		                   "sync marker mismatch after the block's data (offset %" PRIu64 ")",
		                   in->consumed + *hlen + (uint64_t)*size);
	return 1;
}

/* Checks a row count against the bytes its rows have. */
static int count_fits(struct avro_rd *r, int64_t count, size_t bytes, struct rowd_error *err)
{
	if (r->min_row > 0 && (uint64_t)count > bytes / r->min_row)
		return block_error(r, ROWD_EFORMAT, r->block_off, err,
		                   "%" PRId64 " rows cannot fit in %zu bytes of data", count, bytes);
	return 0;
}

static int next_block(struct avro_rd *r, struct rowd_error *err)
{
	struct input *in = r->in;
	int64_t count, size;
	size_t hlen;
	const uint8_t *data;
	int rc = frame_block(r, &count, &size, &hlen, err);

	if (rc <= 0)
		return rc;
	data = (const uint8_t *)input_ptr(in) + hlen;
	r->data_off = in->consumed + hlen;
	if (r->codec == AVRO_CODEC_NULL) {
		/* Decoded in place: consumed when its last row is. */
		r->base = data;
		r->hold = hlen + (size_t)size + AVRO_SYNC_LEN;
	} else {
		struct rowd_error e;

		rowd_error_clear(&e);
		if (avro_block_decompress(r->codec, data, (size_t)size, r->lim.row_bytes, &r->blk,
		                          &e) < 0)
			return block_error(r, e.code, r->block_off, err, "%s", e.message);
		input_consume(in, hlen + (size_t)size + AVRO_SYNC_LEN);
		r->base = (const uint8_t *)r->blk.data;
		size = (int64_t)r->blk.len;
	}
	r->p = r->base;
	r->end = r->base + size;
	r->rows_left = (uint64_t)count;
	return count_fits(r, count, (size_t)size, err) < 0 ? -1 : 1;
}

/* ---- reader ----------------------------------------------------------------- */

static int avro_rd_open(const struct fmt_args *a, void **state, struct rowd_error *err)
{
	struct avro_rd *r;

	if (opts_check_known(a->options, avro_rd_known, "format avro", err) < 0)
		return -1;
	r = calloc(1, sizeof *r);
	if (!r)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory for the avro reader");
	r->in = a->in;
	r->lim = *a->limits;
	mpbuf_init(&r->blk);
	rowd_error_clear(&r->err);
	if (read_header(r, err) < 0) {
		avro_schema_free(&r->schema);
		free(r);
		return -1;
	}
	*state = r;
	return 0;
}

static int rd_fail(struct avro_rd *r, struct rowd_error *err)
{
	r->state = -1;
	r->err = *err;
	return -1;
}

static int row_error(struct avro_rd *r, const struct avro_dec *d, struct rowd_error *err)
{
	unsigned long long row = (unsigned long long)r->row + 1;

	err->line = -1;
	err->row = (int64_t)row;
	/* In place, the position is exact; in a decompressed block, the
	 * block's offset with the position inside its data. */
	err->offset = (int64_t)(r->codec == AVRO_CODEC_NULL ? r->data_off + d->at : r->block_off);
	if (r->codec == AVRO_CODEC_NULL)
		return rowd_error_set(err, d->code,
		                      "avro block %" PRIu64 " at offset %" PRIu64 ", row %llu: %s "
		                      "at offset %" PRIu64, r->block, r->block_off, row, d->why,
		                      r->data_off + d->at);
	return rowd_error_set(err, d->code,
	                      "avro block %" PRIu64 " at offset %" PRIu64 ", row %llu: %s "
	                      "(byte %zu of the block's data once %s-decompressed)",
	                      r->block, r->block_off, row, d->why, d->at,
	                      avro_codec_name(r->codec));
}

static int avro_rd_next(void *state, struct mpbuf *out, size_t max, size_t *nrows,
                        uint64_t *skipped, struct rowd_error *err)
{
	struct avro_rd *r = state;
	struct avro_dec d;
	size_t n = 0;

	(void)skipped;
	*nrows = 0;
	if (r->state < 0) {
		*err = r->err;
		return -1;
	}
	memset(&d, 0, sizeof d);
	d.s = &r->schema;
	d.out = out;
	d.max_depth = r->lim.depth;
	d.max_elements = r->lim.elements;
	d.max_str = r->lim.str_bytes;
	d.max_row = r->lim.row_bytes;
	while (r->state == 0 && n < max) {
		if (r->rows_left == 0) {
			int rc;

			if (r->p != r->end) {
				block_error(r, ROWD_EFORMAT, r->codec == AVRO_CODEC_NULL ?
				            r->data_off + (uint64_t)(r->p - r->base) : r->block_off, err,
				            "%zu bytes left over after its rows", (size_t)(r->end - r->p));
				*nrows = n;
				return rd_fail(r, err);
			}
			block_done(r);
			rc = next_block(r, err);
			if (rc < 0) {
				*nrows = n;
				return rd_fail(r, err);
			}
			if (rc == 0)
				r->state = 1;
			continue;
		}
		d.base = r->base;
		d.p = r->p;
		d.end = r->end;
		if (avro_decode_row(&d) < 0) {
			row_error(r, &d, err);
			*nrows = n;
			return rd_fail(r, err);
		}
		r->p = d.p;
		r->rows_left--;
		r->row++;
		n++;
	}
	*nrows = n;
	return r->state;
}

/* Counts the rest of the rows a block at a time, skipping block data. */
static int avro_rd_count(void *state, uint64_t *rows, struct rowd_error *err)
{
	struct avro_rd *r = state;

	if (r->state < 0) {
		*err = r->err;
		return -1;
	}
	if (r->state > 0)
		return 1;
	*rows += r->rows_left;
	r->rows_left = 0;
	block_done(r);
	for (int i = 0; i < 1024; i++) {
		int64_t count, size;
		size_t hlen;
		int rc = frame_block(r, &count, &size, &hlen, err);

		if (rc < 0)
			return rd_fail(r, err);
		if (rc == 0) {
			r->state = 1;
			return 1;
		}
		if (r->codec == AVRO_CODEC_NULL && count_fits(r, count, (size_t)size, err) < 0)
			return rd_fail(r, err);
		input_consume(r->in, hlen + (size_t)size + AVRO_SYNC_LEN);
		*rows += (uint64_t)count;
	}
	return 0;
}

static int avro_rd_columns(void *state, struct mpbuf *out)
{
	struct avro_rd *r = state;
	const struct avro_node *root = &r->schema.nodes[r->schema.root];

	if (root->type != AVRO_RECORD)
		return mpbuf_array_hdr(out, 1) < 0 || mpbuf_cstr(out, "value") < 0 ? 0 : 1;
	if (mpbuf_array_hdr(out, root->n) < 0 ||
	    mpbuf_append(out, root->packed_keys, root->key_offs[root->n]) < 0)
		return 0;
	return 1;
}

static void avro_rd_close(void *state)
{
	struct avro_rd *r = state;

	if (!r)
		return;
	avro_schema_free(&r->schema);
	mpbuf_free(&r->blk);
	free(r);
}

static int avro_probe(const char *head, size_t n)
{
	return n >= 4 && memcmp(head, AVRO_MAGIC, 4) == 0 ? 100 : 0;
}

static const char *const avro_extensions[] = { "avro", NULL };

const struct format_ops format_avro = {
	.name = "avro",
	.extensions = avro_extensions,
	.caps = FMT_CAP_READ | FMT_CAP_WRITE | FMT_CAP_TOTALS | FMT_CAP_NESTED |
	        FMT_CAP_STREAM | FMT_CAP_BINARY,
	.probe = avro_probe,
	.rd_open = avro_rd_open,
	.rd_next = avro_rd_next,
	.rd_count = avro_rd_count,
	.rd_columns = avro_rd_columns,
	.rd_close = avro_rd_close,
	.wr_open = avro_wr_open,
	.wr_row = avro_wr_row,
	.wr_finish = avro_wr_finish,
	.wr_close = avro_wr_close,
};
