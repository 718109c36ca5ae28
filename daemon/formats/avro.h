/* Avro object container files, implemented here without libavro (avro-c
 * is not packaged for every target and rowd needs only a small, checked
 * subset of it: reading containers into msgpack rows, writing simple
 * ones). The work is split by job:
 *
 *   avro_schema.c  the writer's JSON schema (yajl tree) -> a compact node
 *                  table: named types, namespaces, recursion by index
 *   avro_decode.c  one binary datum -> msgpack, every length checked
 *   avro_codec.c   block codecs: null, deflate, snappy, bzip2, xz, zstd
 *   avro.c         container framing (header, blocks, sync) + the vtable
 *   avro_write.c   the writer: schema inferred from the rows
 *
 * Nothing here is shared outside daemon/formats/avro*.c.
 */
#ifndef ROWD_FORMATS_AVRO_H
#define ROWD_FORMATS_AVRO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "mpbuf.h"
#include "rowd_proto.h"

#define AVRO_MAGIC "Obj\x01"
#define AVRO_SYNC_LEN 16
#define AVRO_DECIMAL_MAX_PRECISION 4096

enum avro_type {
	AVRO_NULL, AVRO_BOOLEAN, AVRO_INT, AVRO_LONG, AVRO_FLOAT, AVRO_DOUBLE,
	AVRO_BYTES, AVRO_STRING, AVRO_RECORD, AVRO_ENUM, AVRO_ARRAY, AVRO_MAP,
	AVRO_UNION, AVRO_FIXED,
};

/* Logical types rendered as text; any other annotation (or one on the
 * wrong base type) is ignored, as the specification asks. */
enum avro_logical {
	AVRO_LT_NONE, AVRO_LT_DATE, AVRO_LT_TIME_MILLIS, AVRO_LT_TIME_MICROS,
	AVRO_LT_TS_MILLIS, AVRO_LT_TS_MICROS, AVRO_LT_LOCAL_TS_MILLIS,
	AVRO_LT_LOCAL_TS_MICROS, AVRO_LT_DECIMAL, AVRO_LT_UUID,
};

/* One schema node. Children are indices into the schema's node table, so
 * a named type referenced again (or recursively) is the same node. */
struct avro_node {
	enum avro_type type;
	enum avro_logical logical;
	uint32_t n;            /* fields, symbols, branches; fixed: size */
	uint32_t *kids;        /* record: field types; union: branches;
	                          array items / map values: kids[0] */
	char **names;          /* record: field names; enum: symbols */
	size_t *name_lens;
	char *packed_keys;     /* record: field names pre-packed as msgpack
	                          str, back to back (a row's keys cost a
	                          memcpy) */
	size_t *key_offs;      /* n + 1 offsets into packed_keys */
	char *fullname;        /* named types (record, enum, fixed) */
	int32_t scale, precision;   /* decimal */
	size_t min_size;       /* fewest bytes one datum can take */
};

struct avro_schema {
	struct avro_node *nodes;
	uint32_t count, cap;
	uint32_t root;
};

/* Parses the JSON text of avro.schema (json[0..len), need not be
 * NUL-terminated). max_depth bounds the nesting of the JSON text and of
 * the schema. Returns 0, or -1 with EFORMAT (message names the problem). */
int avro_schema_parse(struct avro_schema *s, const char *json, size_t len,
                      size_t max_depth, struct rowd_error *err);
void avro_schema_free(struct avro_schema *s);

/* ---- binary decoding ---------------------------------------------------- */

/* Decodes datums from p[0..end) into out. On error, code/why/at say what
 * and where (at: bytes from base). */
struct avro_dec {
	const struct avro_schema *s;
	const uint8_t *base, *p, *end;
	struct mpbuf *out;
	size_t row_start;      /* out->len when the row began */
	size_t max_depth, max_elements, max_str, max_row;
	enum rowd_err code;
	size_t at;
	char why[160];
};

/* Zigzag varints. Return 1 with *v, 0 when p..end stops inside it, -1
 * when it is longer than its type allows (an overlong or corrupt varint). */
int avro_read_long(const uint8_t *p, const uint8_t *end, int64_t *v, size_t *used);

/* Appends one row: a top-level record as a map of its fields, any other
 * datum as {"value": datum}. Returns 0 or -1 (d->code, d->why, d->at);
 * out is left as it was on error. */
int avro_decode_row(struct avro_dec *d);

/* Text renderings of logical types (also used by tests). Each writes a
 * NUL-terminated string into buf and returns its length. */
size_t avro_fmt_date(int64_t days, char *buf, size_t cap);
size_t avro_fmt_time(int64_t t, int unit_digits, char *buf, size_t cap);
size_t avro_fmt_timestamp(int64_t t, int unit_digits, bool utc, char *buf, size_t cap);
/* The two's complement big-endian unscaled value b[0..n) with scale as a
 * decimal number; cap must be at least avro_decimal_cap(n, scale). */
size_t avro_decimal_cap(size_t n, int32_t scale);
size_t avro_fmt_decimal(const uint8_t *b, size_t n, int32_t scale, char *buf, size_t cap);

/* ---- block codecs ------------------------------------------------------- */

enum avro_codec { AVRO_CODEC_NULL, AVRO_CODEC_DEFLATE, AVRO_CODEC_SNAPPY,
	AVRO_CODEC_BZIP2, AVRO_CODEC_XZ, AVRO_CODEC_ZSTD };

/* Maps avro.codec's value to a codec compiled in. Returns 0, or -1 with
 * ENOTSUP naming the codec (unknown, or its library not built in). */
int avro_codec_find(const char *name, size_t len, enum avro_codec *c, struct rowd_error *err);
const char *avro_codec_name(enum avro_codec c);

/* Decompresses one block's data into out (reset first), refusing more
 * than max bytes (ELIMIT) before they are allocated. On a corrupt block
 * returns -1 with EFORMAT and a message without position (the caller
 * adds the block's). */
int avro_block_decompress(enum avro_codec c, const uint8_t *in, size_t n, size_t max,
                          struct mpbuf *out, struct rowd_error *err);
/* Compresses (writer): null, deflate, snappy (when built). */
int avro_block_compress(enum avro_codec c, int level, const uint8_t *in, size_t n,
                        struct mpbuf *out, struct rowd_error *err);

/* ---- writer (avro_write.c) ------------------------------------------------ */

struct fmt_args;
int avro_wr_open(const struct fmt_args *a, void **state, struct rowd_error *err);
int avro_wr_row(void *state, const msgpack_object *row, struct rowd_error *err);
int avro_wr_finish(void *state, struct rowd_error *err);
void avro_wr_close(void *state);

#endif
