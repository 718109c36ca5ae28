/* Avro writer: object container files with a schema inferred from the
 * rows.
 *
 * Schema. The first row's keys, in order, are the fields of record "Row";
 * every field is the union ["null", T] (default null) and T is fixed by
 * the first non-null value the field gets:
 *   bool -> boolean, integer -> long, float -> double, str -> string,
 *   bin -> bytes, array -> array of ["null", T'] (T' from its first
 *   non-null item), map -> record "RowN" of its keys (the same rules,
 *   recursively).
 * The schema must be in the file's header, before the first block, so
 * types are fixed while the first block fills; a field still without a
 * non-null value when the header is written is ["null", "string"].
 * Keys are written as given (Avro names are stricter: a key such as
 * "first name" reads back here but may be refused by other readers).
 *
 * Rows that do not fit are EINVAL naming the row and the field path: a
 * key not in the record (missing keys are null), a value of another type
 * than the field's (an integer into a double field is converted, nothing
 * else is), a uint above 2^63-1, invalid UTF-8, ext values. A rejected
 * row leaves nothing behind, not even the types it would have fixed.
 *
 * Options: codec ("null" default, "deflate", "snappy" when built),
 * level (deflate 1-9, default 6), block_rows (rows per block, default
 * 4000; a block also ends at 64 KiB of data, as the Java writer does).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "format.h"
#include "formats/avro.h"
#include "options.h"

#define BLOCK_BYTES (64 * 1024)
#define PATH_MAX_LEN 200


/* A schema field name against a str key ("" comes with a NULL pointer). */
static bool same_name(const char *name, size_t len, const msgpack_object *key)
{
	return key->via.str.size == len && (len == 0 || memcmp(name, key->via.str.ptr, len) == 0);
}
static const char *const wr_known[] = { "codec", "level", "block_rows", NULL };
static const char *const codec_choices[] = { "null", "deflate", "snappy", NULL };

enum wkind { W_UNKNOWN, W_BOOLEAN, W_LONG, W_DOUBLE, W_STRING, W_BYTES, W_RECORD, W_ARRAY };

/* A value's schema: always the union ["null", T], T given by kind. */
struct wnode {
	enum wkind kind;
	uint32_t n;                /* record: fields */
	char **names;
	size_t *name_lens;
	struct wnode **fields;     /* record */
	struct wnode *items;       /* array */
	unsigned id;               /* record: RowN */
};

struct avro_wr {
	struct output *out;
	const struct rowd_limits *lim;
	enum avro_codec codec;
	int level;
	uint64_t block_rows;
	struct wnode *root;        /* the row record, from the first row */
	bool header_done;          /* the schema is frozen */
	uint8_t sync[AVRO_SYNC_LEN];
	struct mpbuf blk, z;       /* the block's rows; compressed */
	uint64_t blk_rows, row;
	unsigned next_id;
	/* Nodes typed by the row being written, untyped again if it fails. */
	struct wnode **undo;
	size_t nundo, undocap;
	char path[PATH_MAX_LEN];
	size_t path_len;
};

/* ---- schema nodes ----------------------------------------------------------- */

static void wnode_clear(struct wnode *n)
{
	for (uint32_t i = 0; i < n->n; i++) {
		free(n->names[i]);
		wnode_clear(n->fields[i]);
		free(n->fields[i]);
	}
	free(n->names);
	free(n->name_lens);
	free(n->fields);
	if (n->items) {
		wnode_clear(n->items);
		free(n->items);
	}
	memset(n, 0, sizeof *n);
}

static void wnode_free(struct wnode *n)
{
	if (n) {
		wnode_clear(n);
		free(n);
	}
}

/* ---- errors ----------------------------------------------------------------- */

static int row_err(struct avro_wr *w, struct rowd_error *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int row_err(struct avro_wr *w, struct rowd_error *err, const char *fmt, ...)
{
	char why[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	err->row = (int64_t)w->row;
	if (w->path_len)
		return rowd_error_set(err, ROWD_EINVAL, "row %" PRIu64 ", field \"%s\": %s", w->row,
		                      w->path, why);
	return rowd_error_set(err, ROWD_EINVAL, "row %" PRIu64 ": %s", w->row, why);
}

static int nomem(struct rowd_error *err)
{
	return rowd_error_set(err, ROWD_ENOMEM, "out of memory in the avro writer");
}

/* The field path in messages: "a.b.c", items as "a[]". */
static size_t path_push(struct avro_wr *w, const char *name, size_t len)
{
	size_t saved = w->path_len;
	size_t room = sizeof w->path - w->path_len - 1;

	if (w->path_len && room > 0) {
		w->path[w->path_len++] = '.';
		room--;
	}
	if (len > room)
		len = room;
	memcpy(w->path + w->path_len, name, len);
	w->path_len += len;
	w->path[w->path_len] = 0;
	return saved;
}

static void path_pop(struct avro_wr *w, size_t saved)
{
	w->path_len = saved;
	w->path[saved] = 0;
}

/* ---- encoding ----------------------------------------------------------------- */

static int put_long(struct mpbuf *b, int64_t v)
{
	uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);

	if (mpbuf_reserve(b, 10) < 0)
		return -1;
	while (u >= 0x80) {
		mp_put_u8(b, (uint8_t)(u | 0x80));
		u >>= 7;
	}
	mp_put_u8(b, (uint8_t)u);
	return 0;
}

static int put_bytes(struct mpbuf *b, const void *p, size_t n)
{
	return put_long(b, (int64_t)n) < 0 || mpbuf_append(b, p, n) < 0 ? -1 : 0;
}

static const char *kind_name(enum wkind k)
{
	static const char *const names[] = { "unknown", "boolean", "long", "double", "string",
	                                     "bytes", "record", "array" };

	return names[k];
}

static const char *obj_kind(const msgpack_object *o)
{
	switch (o->type) {
	case MSGPACK_OBJECT_BOOLEAN: return "a boolean";
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
	case MSGPACK_OBJECT_NEGATIVE_INTEGER: return "an integer";
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64: return "a float";
	case MSGPACK_OBJECT_STR: return "a string";
	case MSGPACK_OBJECT_BIN: return "binary data";
	case MSGPACK_OBJECT_ARRAY: return "an array";
	case MSGPACK_OBJECT_MAP: return "a map";
	default: return "an ext value";
	}
}

static int remember(struct avro_wr *w, struct wnode *n, struct rowd_error *err)
{
	if (w->nundo == w->undocap) {
		size_t cap = w->undocap ? w->undocap * 2 : 16;
		struct wnode **p = realloc(w->undo, cap * sizeof *p);

		if (!p)
			return nomem(err);
		w->undo = p;
		w->undocap = cap;
	}
	w->undo[w->nundo++] = n;
	return 0;
}

/* Fields of a record from a map's keys. */
static int record_from(struct avro_wr *w, struct wnode *n, const msgpack_object *map,
                       struct rowd_error *err)
{
	uint32_t count = map->via.map.size;

	n->kind = W_RECORD;
	n->id = w->next_id++;
	n->names = calloc(count ? count : 1, sizeof *n->names);
	n->name_lens = calloc(count ? count : 1, sizeof *n->name_lens);
	n->fields = calloc(count ? count : 1, sizeof *n->fields);
	if (!n->names || !n->name_lens || !n->fields)
		return nomem(err);
	for (uint32_t i = 0; i < count; i++) {
		const msgpack_object *k = &map->via.map.ptr[i].key;

		if (k->type != MSGPACK_OBJECT_STR)
			return row_err(w, err, "a key is %s, not a string", obj_kind(k));
		if (!proto_utf8_valid(k->via.str.ptr, k->via.str.size))
			return row_err(w, err, "a key is not valid UTF-8");
		if (k->via.str.size == 0 || memchr(k->via.str.ptr, 0, k->via.str.size))
			return row_err(w, err, "an empty key or one holding a NUL byte cannot name an "
			               "Avro field");
		for (uint32_t j = 0; j < i; j++)
			if (same_name(n->names[j], n->name_lens[j], k))
				return row_err(w, err, "key \"%.*s\" appears twice",
				               (int)(k->via.str.size > 60 ? 60 : k->via.str.size),
				               k->via.str.ptr);
		/* msgpack-c gives "" a NULL pointer: no strndup of NULL. */
		n->names[i] = k->via.str.size ? strndup(k->via.str.ptr, k->via.str.size) : strdup("");
		n->fields[i] = calloc(1, sizeof *n->fields[i]);
		n->n = i + 1;
		if (!n->names[i] || !n->fields[i])
			return nomem(err);
		n->name_lens[i] = k->via.str.size;
	}
	return 0;
}

/* Types an unknown node from its first non-null value. */
static int learn(struct avro_wr *w, struct wnode *n, const msgpack_object *v, struct rowd_error *err)
{
	if (remember(w, n, err) < 0)
		return -1;
	switch (v->type) {
	case MSGPACK_OBJECT_BOOLEAN: n->kind = W_BOOLEAN; return 0;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
	case MSGPACK_OBJECT_NEGATIVE_INTEGER: n->kind = W_LONG; return 0;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64: n->kind = W_DOUBLE; return 0;
	case MSGPACK_OBJECT_STR: n->kind = W_STRING; return 0;
	case MSGPACK_OBJECT_BIN: n->kind = W_BYTES; return 0;
	case MSGPACK_OBJECT_ARRAY:
		n->kind = W_ARRAY;
		n->items = calloc(1, sizeof *n->items);
		return n->items ? 0 : nomem(err);
	case MSGPACK_OBJECT_MAP:
		return record_from(w, n, v, err);
	default:
		return row_err(w, err, "%s has no Avro type", obj_kind(v));
	}
}

static int encode(struct avro_wr *w, struct wnode *n, const msgpack_object *v, size_t depth,
                  struct rowd_error *err);

static int encode_record(struct avro_wr *w, struct wnode *n, const msgpack_object *map,
                         size_t depth, struct rowd_error *err)
{
	const msgpack_object_kv *kv = map->via.map.ptr;
	uint32_t size = map->via.map.size, found = 0;

	if (depth > w->lim->depth)
		return row_err(w, err, "nested deeper than the depth limit (%zu)", w->lim->depth);
	for (uint32_t i = 0; i < n->n; i++) {
		const msgpack_object *v = NULL;
		size_t saved;
		int rc;

		/* Rows usually repeat the first row's key order. */
		for (uint32_t k = 0; k < size && !v; k++) {
			const msgpack_object_kv *e = &kv[(i + k) % size];

			if (e->key.type == MSGPACK_OBJECT_STR && same_name(n->names[i], n->name_lens[i], &e->key))
				v = &e->val;
		}
		saved = path_push(w, n->names[i], n->name_lens[i]);
		if (v) {
			found++;
			rc = encode(w, n->fields[i], v, depth + 1, err);
		} else {
			rc = put_long(&w->blk, 0) < 0 ? nomem(err) : 0;
		}
		if (rc < 0)
			return -1;
		path_pop(w, saved);
	}
	if (found == size)
		return 0;
	/* Some key is not a field (or is there twice): name it. */
	for (uint32_t k = 0; k < size; k++) {
		const msgpack_object *key = &kv[k].key;
		uint32_t i;

		if (key->type != MSGPACK_OBJECT_STR)
			return row_err(w, err, "a key is %s, not a string", obj_kind(key));
		for (i = 0; i < n->n; i++)
			if (same_name(n->names[i], n->name_lens[i], key))
				break;
		if (i == n->n)
			return row_err(w, err, "key \"%.*s\" is not in the schema (made from the first row)",
			               (int)(key->via.str.size > 60 ? 60 : key->via.str.size),
			               key->via.str.ptr);
	}
	return row_err(w, err, "a key appears twice");
}

static int encode(struct avro_wr *w, struct wnode *n, const msgpack_object *v, size_t depth,
                  struct rowd_error *err)
{
	struct mpbuf *b = &w->blk;

	if (v->type == MSGPACK_OBJECT_NIL)
		return put_long(b, 0) < 0 ? nomem(err) : 0;
	if (n->kind == W_UNKNOWN) {
		if (w->header_done)
			n->kind = W_STRING;          /* frozen: see the header comment */
		else if (learn(w, n, v, err) < 0)
			return -1;
	}
	if (put_long(b, 1) < 0)
		return nomem(err);
	switch (n->kind) {
	case W_BOOLEAN:
		if (v->type != MSGPACK_OBJECT_BOOLEAN)
			break;
		return mpbuf_append(b, v->via.boolean ? "\x01" : "\x00", 1) < 0 ? nomem(err) : 0;
	case W_LONG:
		if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 > INT64_MAX)
			return row_err(w, err, "%" PRIu64 " is above the largest Avro long", v->via.u64);
		if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER && v->type != MSGPACK_OBJECT_NEGATIVE_INTEGER)
			break;
		return put_long(b, v->via.i64) < 0 ? nomem(err) : 0;
	case W_DOUBLE: {
		double d;
		uint64_t u;

		if (v->type == MSGPACK_OBJECT_FLOAT32 || v->type == MSGPACK_OBJECT_FLOAT64)
			d = v->via.f64;
		else if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
			d = (double)v->via.u64;
		else if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
			d = (double)v->via.i64;
		else
			break;
		memcpy(&u, &d, 8);
		if (mpbuf_reserve(b, 8) < 0)
			return nomem(err);
		for (int i = 0; i < 8; i++)
			mp_put_u8(b, (uint8_t)(u >> (8 * i)));
		return 0;
	}
	case W_STRING:
		if (v->type != MSGPACK_OBJECT_STR)
			break;
		if (!proto_utf8_valid(v->via.str.ptr, v->via.str.size))
			return row_err(w, err, "a string that is not valid UTF-8");
		return put_bytes(b, v->via.str.ptr, v->via.str.size) < 0 ? nomem(err) : 0;
	case W_BYTES:
		if (v->type != MSGPACK_OBJECT_BIN)
			break;
		return put_bytes(b, v->via.bin.ptr, v->via.bin.size) < 0 ? nomem(err) : 0;
	case W_RECORD:
		if (v->type != MSGPACK_OBJECT_MAP)
			break;
		return encode_record(w, n, v, depth, err);
	case W_ARRAY: {
		uint32_t count = v->via.array.size;

		if (v->type != MSGPACK_OBJECT_ARRAY)
			break;
		if (depth > w->lim->depth)
			return row_err(w, err, "nested deeper than the depth limit (%zu)", w->lim->depth);
		if (count > 0) {
			size_t saved = path_push(w, "[]", 2);

			if (put_long(b, count) < 0)
				return nomem(err);
			for (uint32_t i = 0; i < count; i++)
				if (encode(w, n->items, &v->via.array.ptr[i], depth + 1, err) < 0)
					return -1;
			path_pop(w, saved);
		}
		return put_long(b, 0) < 0 ? nomem(err) : 0;
	}
	default:
		break;
	}
	return row_err(w, err, "%s where the schema (from the first rows) has %s", obj_kind(v),
	               kind_name(n->kind));
}

/* ---- the header --------------------------------------------------------------- */

static int json_str(struct mpbuf *b, const char *s, size_t n)
{
	if (mpbuf_append(b, "\"", 1) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			if (mpbuf_append(b, esc, 2) < 0)
				return -1;
		} else if (c < 0x20) {
			snprintf(esc, sizeof esc, "\\u%04x", c);
			if (mpbuf_append(b, esc, 6) < 0)
				return -1;
		} else if (mpbuf_append(b, &s[i], 1) < 0) {
			return -1;
		}
	}
	return mpbuf_append(b, "\"", 1);
}

static int cat(struct mpbuf *b, const char *s)
{
	return mpbuf_append(b, s, strlen(s));
}

/* ["null", T] for n; unknown types become string here for good. */
static int schema_json(struct mpbuf *b, struct wnode *n)
{
	char name[32];

	if (n->kind == W_UNKNOWN)
		n->kind = W_STRING;
	if (cat(b, "[\"null\",") < 0)
		return -1;
	switch (n->kind) {
	case W_RECORD:
		snprintf(name, sizeof name, n->id ? "Row%u" : "Row", n->id);
		if (cat(b, "{\"type\":\"record\",\"name\":\"") < 0 || cat(b, name) < 0 ||
		    cat(b, "\",\"fields\":[") < 0)
			return -1;
		for (uint32_t i = 0; i < n->n; i++)
			if ((i && cat(b, ",") < 0) || cat(b, "{\"name\":") < 0 ||
			    json_str(b, n->names[i], n->name_lens[i]) < 0 || cat(b, ",\"type\":") < 0 ||
			    schema_json(b, n->fields[i]) < 0 || cat(b, ",\"default\":null}") < 0)
				return -1;
		if (cat(b, "]}") < 0)
			return -1;
		break;
	case W_ARRAY:
		if (cat(b, "{\"type\":\"array\",\"items\":") < 0 || schema_json(b, n->items) < 0 ||
		    cat(b, "}") < 0)
			return -1;
		break;
	default:
		if (cat(b, "\"") < 0 || cat(b, kind_name(n->kind)) < 0 || cat(b, "\"") < 0)
			return -1;
	}
	return cat(b, "]");
}

static int write_header(struct avro_wr *w, struct rowd_error *err)
{
	struct mpbuf js, *o = &w->out->buf;
	const char *codec = avro_codec_name(w->codec);
	int rc;

	mpbuf_init(&js);
	if (!w->root) {
		/* No rows: a record without fields. */
		w->root = calloc(1, sizeof *w->root);
		if (!w->root)
			return nomem(err);
		w->root->kind = W_RECORD;
	}
	/* The row record itself is not nullable: drop the union around it. */
	rc = schema_json(&js, w->root);
	if (rc == 0 && js.len >= 9) {
		memmove(js.data, js.data + 8, js.len - 9);
		js.len -= 9;
	}
	rc = rc < 0 || mpbuf_append(o, AVRO_MAGIC, 4) < 0 || put_long(o, 2) < 0 ||
	     put_bytes(o, "avro.schema", 11) < 0 || put_bytes(o, js.data, js.len) < 0 ||
	     put_bytes(o, "avro.codec", 10) < 0 || put_bytes(o, codec, strlen(codec)) < 0 ||
	     put_long(o, 0) < 0 || mpbuf_append(o, w->sync, AVRO_SYNC_LEN) < 0 ? -1 : 0;
	mpbuf_free(&js);
	if (rc < 0)
		return nomem(err);
	w->header_done = true;
	return 0;
}

static int flush_block(struct avro_wr *w, struct rowd_error *err)
{
	struct mpbuf *o = &w->out->buf;

	if (!w->header_done && write_header(w, err) < 0)
		return -1;
	if (w->blk_rows == 0)
		return 0;
	if (avro_block_compress(w->codec, w->level, (const uint8_t *)w->blk.data, w->blk.len, &w->z,
	                        err) < 0)
		return -1;
	if (put_long(o, (int64_t)w->blk_rows) < 0 || put_bytes(o, w->z.data, w->z.len) < 0 ||
	    mpbuf_append(o, w->sync, AVRO_SYNC_LEN) < 0)
		return nomem(err);
	w->blk.len = 0;
	w->blk_rows = 0;
	return output_flush_if_full(w->out, err);
}

/* ---- vtable ------------------------------------------------------------------- */

int avro_wr_open(const struct fmt_args *a, void **state, struct rowd_error *err)
{
	struct avro_wr *w;
	int codec = 0;
	int64_t level = 6, rows = 4000;

	if (opts_check_known(a->options, wr_known, "writing format avro", err) < 0 ||
	    opts_choice(a->options, "codec", codec_choices, &codec, err) < 0 ||
	    opts_int(a->options, "level", 1, 9, &level, err) < 0 ||
	    opts_int(a->options, "block_rows", 1, 1000000, &rows, err) < 0)
		return -1;
	w = calloc(1, sizeof *w);
	if (!w)
		return nomem(err);
	w->out = a->out;
	w->lim = a->limits;
	w->level = (int)level;
	w->block_rows = (uint64_t)rows;
	w->next_id = 0;
	mpbuf_init(&w->blk);
	mpbuf_init(&w->z);
	if (avro_codec_find(codec_choices[codec], strlen(codec_choices[codec]), &w->codec, err) < 0) {
		free(w);
		return -1;
	}
	/* The sync marker only has to be unlikely inside the data. */
	if (getrandom(w->sync, sizeof w->sync, GRND_NONBLOCK) != (ssize_t)sizeof w->sync) {
		uint64_t seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)w;

		for (int i = 0; i < AVRO_SYNC_LEN; i++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			w->sync[i] = (uint8_t)(seed >> 56);
		}
	}
	*state = w;
	return 0;
}

int avro_wr_row(void *state, const msgpack_object *row, struct rowd_error *err)
{
	struct avro_wr *w = state;
	size_t start = w->blk.len;
	bool new_root = false;

	w->row++;
	w->nundo = 0;
	w->path_len = 0;
	w->path[0] = 0;
	if (row->type != MSGPACK_OBJECT_MAP)
		return row_err(w, err, "a row must be a map, not %s", obj_kind(row));
	if (!w->root) {
		w->root = calloc(1, sizeof *w->root);
		if (!w->root)
			return nomem(err);
		new_root = true;
		if (record_from(w, w->root, row, err) < 0)
			goto fail;
	}
	if (encode_record(w, w->root, row, 1, err) < 0)
		goto fail;
	w->blk_rows++;
	if (w->blk_rows >= w->block_rows || w->blk.len >= BLOCK_BYTES)
		return flush_block(w, err);
	return 0;
fail:
	w->blk.len = start;
	for (size_t i = w->nundo; i-- > 0;)
		wnode_clear(w->undo[i]);
	if (new_root) {
		wnode_free(w->root);
		w->root = NULL;
		w->next_id = 0;
	}
	return -1;
}

int avro_wr_finish(void *state, struct rowd_error *err)
{
	return flush_block(state, err);
}

void avro_wr_close(void *state)
{
	struct avro_wr *w = state;

	if (!w)
		return;
	wnode_free(w->root);
	mpbuf_free(&w->blk);
	mpbuf_free(&w->z);
	free(w->undo);
	free(w);
}
