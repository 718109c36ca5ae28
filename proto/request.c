/* Request decoding: one msgpack map in, one typed struct rowd_request out.
 *
 * Every field is type-checked here so that the daemon's handlers see only
 * well-formed values, and every refusal names the field and what it
 * should have been. Unknown fields are errors, not ignored: a misspelt
 * option must not silently change nothing.
 */
#include "rowd_proto.h"

#include <inttypes.h>
#include <string.h>

/* Longest id string accepted; its packed form must fit id_raw. */
#define ID_STR_MAX 48
_Static_assert(ID_STR_MAX + MP_STR_HDR_MAX <= ROWD_ID_MAX, "id_raw too small");

/* Bytes of client text quoted back in a message. */
#define ECHO_MAX 40

enum field {
	F_OP, F_ID, F_HANDLE, F_N, F_ROW, F_ROWS, F_PATH, F_MODE, F_FORMAT,
	F_CODEC, F_ENGINE, F_OPTIONS, F_CODEC_OPTIONS, F_BATCH, F_LIMIT,
	F_PROGRESS, F_TARGET, F_FROM, F_TO, F_VERSION, F_CLIENT,
	F_COUNT
};

static const char *const field_names[F_COUNT] = {
	[F_OP] = "op", [F_ID] = "id", [F_HANDLE] = "handle", [F_N] = "n",
	[F_ROW] = "row", [F_ROWS] = "rows", [F_PATH] = "path", [F_MODE] = "mode",
	[F_FORMAT] = "format", [F_CODEC] = "codec", [F_ENGINE] = "engine",
	[F_OPTIONS] = "options", [F_CODEC_OPTIONS] = "codec_options",
	[F_BATCH] = "batch", [F_LIMIT] = "limit", [F_PROGRESS] = "progress",
	[F_TARGET] = "target", [F_FROM] = "from", [F_TO] = "to",
	[F_VERSION] = "version", [F_CLIENT] = "client",
};

#define B(f) (1u << (f))
#define ALWAYS (B(F_OP) | B(F_ID))
#define OPEN_FIELDS (B(F_PATH) | B(F_MODE) | B(F_FORMAT) | B(F_CODEC) | B(F_ENGINE) | \
                     B(F_OPTIONS) | B(F_CODEC_OPTIONS))
#define H B(F_HANDLE)

static const struct op_spec {
	uint32_t allowed;
	uint32_t required;
} op_specs[OP_COUNT] = {
	[OP_HELLO] = { B(F_VERSION) | B(F_CLIENT), 0 },
	[OP_PING] = { 0, 0 },
	[OP_OPEN] = { OPEN_FIELDS, B(F_PATH) },
	[OP_READ] = { H, H },
	[OP_READ_BULK] = { H | B(F_N), H | B(F_N) },
	[OP_STREAM] = { H | B(F_BATCH) | B(F_LIMIT) | B(F_PROGRESS), H },
	[OP_CANCEL] = { B(F_TARGET), B(F_TARGET) },
	[OP_WRITE] = { H | B(F_ROW), H | B(F_ROW) },
	[OP_WRITE_BULK] = { H | B(F_ROWS), H | B(F_ROWS) },
	[OP_RESET] = { H, H },
	[OP_TOTALS] = { H, H },
	[OP_CLOSE] = { H, H },
	[OP_CONVERT] = { B(F_FROM) | B(F_TO) | B(F_BATCH) | B(F_PROGRESS), B(F_FROM) | B(F_TO) },
	[OP_DETECT] = { B(F_PATH), B(F_PATH) },
	[OP_TABLES] = { B(F_PATH), B(F_PATH) },
	[OP_STATS] = { 0, 0 },
	[OP_HELP] = { 0, 0 },
};

/* Where a field sits, for messages: top level of an op, or inside the
 * `from`/`to` map of convert. */
struct scope {
	const char *op;       /* op name */
	const char *prefix;   /* "" or "from." / "to." */
};

/* Length of client text to quote: at most ECHO_MAX bytes, never ending
 * inside a UTF-8 sequence. */
static int echo_len(const char *s, size_t n)
{
	size_t k = n;

	if (k > ECHO_MAX) {
		k = ECHO_MAX;
		while (k > 0 && ((unsigned char)s[k] & 0xc0) == 0x80)
			k--;
	}
	return (int)k;
}

bool proto_str_eq(const msgpack_object *o, const char *s)
{
	size_t n = strlen(s);

	return o->type == MSGPACK_OBJECT_STR && o->via.str.size == n &&
	       memcmp(o->via.str.ptr, s, n) == 0;
}

const msgpack_object *proto_map_get(const msgpack_object *o, const char *key)
{
	if (o->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (uint32_t i = 0; i < o->via.map.size; i++) {
		const msgpack_object_kv *kv = &o->via.map.ptr[i];

		if (proto_str_eq(&kv->key, key))
			return &kv->val;
	}
	return NULL;
}

/* Packs an id-like value (nil, integer, short string) into raw. */
static int pack_id(const msgpack_object *v, char raw[ROWD_ID_MAX], size_t *len)
{
	/* A fixed buffer seen as an mpbuf: every value accepted below fits,
	 * so the writers never try to grow it. */
	struct mpbuf b = { .data = raw, .len = 0, .cap = ROWD_ID_MAX };

	switch (v->type) {
	case MSGPACK_OBJECT_NIL:
		mpbuf_nil(&b);
		break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		mpbuf_uint(&b, v->via.u64);
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		mpbuf_int(&b, v->via.i64);
		break;
	case MSGPACK_OBJECT_STR:
		if (v->via.str.size > ID_STR_MAX)
			return -1;
		mpbuf_str(&b, v->via.str.ptr, v->via.str.size);
		break;
	default:
		return -1;
	}
	*len = b.len;
	return 0;
}

static int bad_id(struct rowd_error *err, const char *name)
{
	return rowd_error_set(err, ROWD_EINVAL,
	                      "field '%s' must be nil, an integer or a string of at most %d bytes",
	                      name, ID_STR_MAX);
}

static int decode_id(const msgpack_object *obj, struct rowd_request *req,
                     struct rowd_error *err)
{
	const msgpack_object *v = proto_map_get(obj, "id");

	if (!v)
		return 0;
	if (pack_id(v, req->id_raw, &req->id_len) < 0) {
		req->id_len = 0;
		return bad_id(err, "id");
	}
	return 0;
}

static int decode_op(const msgpack_object *obj, struct rowd_request *req,
                     struct rowd_error *err)
{
	const msgpack_object *v = proto_map_get(obj, "op");

	if (!v)
		return rowd_error_set(err, ROWD_EPROTO, "missing field 'op'");
	if (v->type != MSGPACK_OBJECT_STR)
		return rowd_error_set(err, ROWD_EPROTO, "field 'op' must be a string");
	for (int i = 0; i < OP_COUNT; i++) {
		if (proto_str_eq(v, rowd_op_name((enum rowd_op)i))) {
			req->op = (enum rowd_op)i;
			return 0;
		}
	}
	return rowd_error_set(err, ROWD_EPROTO,
	                      "unknown op '%.*s' (ops: hello ping open read read_bulk stream "
	                      "cancel write write_bulk reset totals close convert detect "
	                      "tables stats help)",
	                      echo_len(v->via.str.ptr, v->via.str.size), v->via.str.ptr);
}

static int field_index(const msgpack_object_str *k)
{
	for (int f = 0; f < F_COUNT; f++) {
		if (strlen(field_names[f]) == k->size &&
		    memcmp(field_names[f], k->ptr, k->size) == 0)
			return f;
	}
	return -1;
}

static int unknown_field(struct rowd_error *err, const struct scope *sc,
                         const msgpack_object_str *k)
{
	if (sc->prefix[0])
		return rowd_error_set(err, ROWD_EINVAL, "unknown field '%.*s' in '%.*s' of op '%s'",
		                      echo_len(k->ptr, k->size), k->ptr,
		                      (int)strlen(sc->prefix) - 1, sc->prefix, sc->op);
	return rowd_error_set(err, ROWD_EINVAL, "unknown field '%.*s' for op '%s'",
	                      echo_len(k->ptr, k->size), k->ptr, sc->op);
}

/* Sorts the entries of map m into vals[] by field, refusing keys that are
 * not strings, not allowed, or repeated, and checking required ones. */
static int collect(const msgpack_object *m, uint32_t allowed, uint32_t required,
                   const struct scope *sc, const msgpack_object *vals[F_COUNT],
                   struct rowd_error *err)
{
	uint32_t seen = 0;

	for (uint32_t i = 0; i < m->via.map.size; i++) {
		const msgpack_object_kv *kv = &m->via.map.ptr[i];
		int f;

		if (kv->key.type != MSGPACK_OBJECT_STR)
			return rowd_error_set(err, ROWD_EPROTO, "request keys must be strings");
		f = field_index(&kv->key.via.str);
		if (f < 0 || !(allowed & B(f)))
			return unknown_field(err, sc, &kv->key.via.str);
		if (seen & B(f))
			return rowd_error_set(err, ROWD_EINVAL, "duplicate field '%s%s'",
			                      sc->prefix, field_names[f]);
		seen |= B(f);
		vals[f] = &kv->val;
	}
	for (int f = 0; f < F_COUNT; f++) {
		if ((required & B(f)) && !(seen & B(f)))
			return rowd_error_set(err, ROWD_EINVAL, "missing field '%s%s' for op '%s'",
			                      sc->prefix, field_names[f], sc->op);
	}
	return 0;
}

/* Optional fields may be sent as nil, meaning absent: clients built on
 * dicts with None defaults do that. */
static const msgpack_object *given(const msgpack_object *vals[F_COUNT], enum field f)
{
	const msgpack_object *v = vals[f];

	return v && v->type != MSGPACK_OBJECT_NIL ? v : NULL;
}

static int get_positive(const msgpack_object *v, const struct scope *sc, enum field f,
                        uint64_t max, uint64_t *out, struct rowd_error *err)
{
	if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER || v->via.u64 == 0 || v->via.u64 > max) {
		if (max < UINT64_MAX)
			return rowd_error_set(err, ROWD_EINVAL,
			                      "field '%s%s' must be a positive integer (at most %" PRIu64 ")",
			                      sc->prefix, field_names[f], max);
		return rowd_error_set(err, ROWD_EINVAL, "field '%s%s' must be a positive integer",
		                      sc->prefix, field_names[f]);
	}
	*out = v->via.u64;
	return 0;
}

static int get_str(const msgpack_object *v, const struct scope *sc, enum field f,
                   const char **p, size_t *n, struct rowd_error *err)
{
	if (v->type != MSGPACK_OBJECT_STR || v->via.str.size == 0)
		return rowd_error_set(err, ROWD_EINVAL, "field '%s%s' must be a non-empty string",
		                      sc->prefix, field_names[f]);
	*p = v->via.str.ptr;
	*n = v->via.str.size;
	return 0;
}

static bool keys_are_str(const msgpack_object *m)
{
	for (uint32_t i = 0; i < m->via.map.size; i++) {
		if (m->via.map.ptr[i].key.type != MSGPACK_OBJECT_STR)
			return false;
	}
	return true;
}

static int get_row(const msgpack_object *v, const char *name, struct rowd_error *err)
{
	if (v->type != MSGPACK_OBJECT_MAP)
		return rowd_error_set(err, ROWD_EINVAL, "%s must be a map", name);
	if (!keys_are_str(v))
		return rowd_error_set(err, ROWD_EINVAL, "%s must have string keys", name);
	return 0;
}

static int get_rows(const msgpack_object *v, const struct rowd_limits *lim,
                    struct rowd_error *err)
{
	if (v->type != MSGPACK_OBJECT_ARRAY)
		return rowd_error_set(err, ROWD_EINVAL, "field 'rows' must be an array of maps");
	if (v->via.array.size > lim->batch_rows)
		return rowd_error_set(err, ROWD_ELIMIT,
		                      "%" PRIu32 " rows exceed the batch_rows limit (%zu)",
		                      v->via.array.size, lim->batch_rows);
	for (uint32_t i = 0; i < v->via.array.size; i++) {
		const msgpack_object *row = &v->via.array.ptr[i];

		if (row->type != MSGPACK_OBJECT_MAP)
			return rowd_error_set(err, ROWD_EINVAL, "rows[%" PRIu32 "] must be a map", i);
		if (!keys_are_str(row))
			return rowd_error_set(err, ROWD_EINVAL, "rows[%" PRIu32 "] must have string keys", i);
	}
	return 0;
}

static int get_mode(const msgpack_object *v, const struct scope *sc, const char *allowed,
                    char *mode, struct rowd_error *err)
{
	if (v->type != MSGPACK_OBJECT_STR || v->via.str.size != 1 ||
	    !memchr(allowed, v->via.str.ptr[0], strlen(allowed))) {
		if (allowed[1])
			return rowd_error_set(err, ROWD_EINVAL, "field '%smode' must be 'r' or 'w'",
			                      sc->prefix);
		return rowd_error_set(err, ROWD_EINVAL, "field '%smode' must be '%c'",
		                      sc->prefix, allowed[0]);
	}
	*mode = v->via.str.ptr[0];
	return 0;
}

static int get_map(const msgpack_object *v, const struct scope *sc, enum field f,
                   const msgpack_object **out, struct rowd_error *err)
{
	if (v->type != MSGPACK_OBJECT_MAP)
		return rowd_error_set(err, ROWD_EINVAL, "field '%s%s' must be a map",
		                      sc->prefix, field_names[f]);
	*out = v;
	return 0;
}

static int get_path(const msgpack_object *v, const struct scope *sc,
                    struct rowd_open_spec *o, struct rowd_error *err)
{
	if (get_str(v, sc, F_PATH, &o->path, &o->path_len, err) < 0)
		return -1;
	/* The daemon hands the path to C file APIs: an embedded NUL would
	 * silently name another file. */
	if (memchr(o->path, '\0', o->path_len))
		return rowd_error_set(err, ROWD_EINVAL, "field '%spath' must not contain NUL bytes",
		                      sc->prefix);
	return 0;
}

/* The open fields, at top level (open, detect, tables) or inside the
 * from/to maps of convert. modes lists the accepted modes, the first
 * being the default. */
static int get_open(const msgpack_object *vals[F_COUNT], const struct scope *sc,
                    const char *modes, struct rowd_open_spec *o, struct rowd_error *err)
{
	const msgpack_object *v;

	o->mode = modes[0];
	if (get_path(vals[F_PATH], sc, o, err) < 0)
		return -1;
	if ((v = given(vals, F_MODE)) && get_mode(v, sc, modes, &o->mode, err) < 0)
		return -1;
	if ((v = given(vals, F_FORMAT)) && get_str(v, sc, F_FORMAT, &o->format, &o->format_len, err) < 0)
		return -1;
	if ((v = given(vals, F_CODEC)) && get_str(v, sc, F_CODEC, &o->codec, &o->codec_len, err) < 0)
		return -1;
	if ((v = given(vals, F_ENGINE)) && get_str(v, sc, F_ENGINE, &o->engine, &o->engine_len, err) < 0)
		return -1;
	if ((v = given(vals, F_OPTIONS)) && get_map(v, sc, F_OPTIONS, &o->options, err) < 0)
		return -1;
	if ((v = given(vals, F_CODEC_OPTIONS)) &&
	    get_map(v, sc, F_CODEC_OPTIONS, &o->codec_options, err) < 0)
		return -1;
	return 0;
}

static int get_side(const msgpack_object *v, const char *op, const char *prefix,
                    const char *modes, struct rowd_open_spec *o, struct rowd_error *err)
{
	const msgpack_object *vals[F_COUNT] = { 0 };
	struct scope sc = { op, prefix };

	if (v->type != MSGPACK_OBJECT_MAP)
		return rowd_error_set(err, ROWD_EINVAL, "field '%.*s' must be a map of open fields",
		                      (int)strlen(prefix) - 1, prefix);
	if (collect(v, OPEN_FIELDS, B(F_PATH), &sc, vals, err) < 0)
		return -1;
	return get_open(vals, &sc, modes, o, err);
}

/* handle, n, batch, limit, progress: the numeric and flag fields. */
static int get_counts(const msgpack_object *vals[F_COUNT], const struct scope *sc,
                      const struct rowd_limits *lim, struct rowd_request *req,
                      struct rowd_error *err)
{
	const msgpack_object *v;
	uint64_t h = 0;

	if (vals[F_HANDLE]) {
		if (get_positive(vals[F_HANDLE], sc, F_HANDLE, UINT32_MAX, &h, err) < 0)
			return -1;
		req->handle = (uint32_t)h;
	}
	if (vals[F_N]) {
		if (get_positive(vals[F_N], sc, F_N, UINT64_MAX, &req->n, err) < 0)
			return -1;
		if (req->n > lim->batch_rows)
			return rowd_error_set(err, ROWD_ELIMIT,
			                      "n %" PRIu64 " exceeds the batch_rows limit (%zu)",
			                      req->n, lim->batch_rows);
	}
	if ((v = given(vals, F_BATCH))) {
		if (get_positive(v, sc, F_BATCH, UINT64_MAX, &req->batch, err) < 0)
			return -1;
		if (req->batch > lim->batch_rows)
			return rowd_error_set(err, ROWD_ELIMIT,
			                      "batch %" PRIu64 " exceeds the batch_rows limit (%zu)",
			                      req->batch, lim->batch_rows);
	}
	if ((v = given(vals, F_LIMIT)) && get_positive(v, sc, F_LIMIT, UINT64_MAX, &req->limit, err) < 0)
		return -1;
	if ((v = given(vals, F_PROGRESS))) {
		if (v->type != MSGPACK_OBJECT_BOOLEAN)
			return rowd_error_set(err, ROWD_EINVAL, "field 'progress' must be a boolean");
		req->progress = v->via.boolean;
	}
	return 0;
}

/* hello's fields are informative; they are only type-checked. A client
 * may state its version as the protocol number or as its own version
 * string: both are accepted. */
static int get_hello(const msgpack_object *vals[F_COUNT], const struct scope *sc,
                     struct rowd_error *err)
{
	const msgpack_object *v;
	const char *s;
	size_t n;

	if ((v = given(vals, F_VERSION)) && v->type != MSGPACK_OBJECT_POSITIVE_INTEGER &&
	    v->type != MSGPACK_OBJECT_STR)
		return rowd_error_set(err, ROWD_EINVAL,
		                      "field 'version' must be a protocol version number or a string");
	if ((v = given(vals, F_CLIENT)) && get_str(v, sc, F_CLIENT, &s, &n, err) < 0)
		return -1;
	return 0;
}

static int get_fields(const msgpack_object *vals[F_COUNT], const struct scope *sc,
                      const struct rowd_limits *lim, struct rowd_request *req,
                      struct rowd_error *err)
{
	if (get_counts(vals, sc, lim, req, err) < 0)
		return -1;
	switch (req->op) {
	case OP_HELLO:
		return get_hello(vals, sc, err);
	case OP_OPEN:
		return get_open(vals, sc, "rw", &req->open, err);
	case OP_DETECT:
	case OP_TABLES:
		return get_path(vals[F_PATH], sc, &req->open, err);
	case OP_WRITE:
		req->row = vals[F_ROW];
		return get_row(req->row, "field 'row'", err);
	case OP_WRITE_BULK:
		req->rows = vals[F_ROWS];
		return get_rows(req->rows, lim, err);
	case OP_CANCEL:
		if (pack_id(vals[F_TARGET], req->target_raw, &req->target_len) < 0)
			return bad_id(err, "target");
		return 0;
	case OP_CONVERT:
		if (get_side(vals[F_FROM], sc->op, "from.", "r", &req->open, err) < 0)
			return -1;
		return get_side(vals[F_TO], sc->op, "to.", "w", &req->to, err);
	default:
		return 0;
	}
}

int proto_request_decode(const msgpack_object *obj, const struct rowd_limits *lim,
                         struct rowd_request *req, struct rowd_error *err)
{
	const msgpack_object *vals[F_COUNT] = { 0 };
	const struct op_spec *spec;
	struct scope sc;

	memset(req, 0, sizeof *req);
	req->open.mode = 'r';
	req->to.mode = 'w';
	if (obj->type != MSGPACK_OBJECT_MAP)
		return rowd_error_set(err, ROWD_EPROTO, "a request must be a map");
	/* The id first: every later refusal can then be matched by the
	 * client to its request. */
	if (decode_id(obj, req, err) < 0 || decode_op(obj, req, err) < 0)
		return -1;
	spec = &op_specs[req->op];
	sc.op = rowd_op_name(req->op);
	sc.prefix = "";
	if (collect(obj, spec->allowed | ALWAYS, spec->required | B(F_OP), &sc, vals, err) < 0)
		return -1;
	return get_fields(vals, &sc, lim, req, err);
}
