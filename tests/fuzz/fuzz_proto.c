/* Binary protocol: the resumable frame scanner over the input fed in
 * chunks of varying size (as a socket delivers it), then every complete
 * frame unpacked and decoded as a request, and answered, as conn.c and
 * dispatch.c do.
 *
 * Invariants: the scanner gives the same answer fed in pieces as fed at
 * once; msgpack-c unpacks every frame it accepts, to exactly the bytes it
 * measured; a refusal carries a code, a message and the offset; answers
 * convert to JSON (text mode). */
#include <stdlib.h>
#include <string.h>

#include "rowd_proto.h"
#include "fuzz.h"

/* Limits as the daemon runs them: the defaults, or (for some inputs) the
 * smallest a configuration may set, so that refusals happen at fuzzing
 * sizes. */
static void pick_limits(uint32_t h, struct rowd_limits *lim)
{
	rowd_limits_default(lim);
	if (h % 4)
		return;
	lim->frame_bytes = 1024 + (h >> 4) % 4096;
	lim->depth = 2 + (h >> 8) % 31;
	lim->elements = 16 + (h >> 12) % 64;
	lim->str_bytes = 256 + (h >> 16) % 512;
}

/* An answer as the text mode sends it. */
static void to_json(const struct mpbuf *answer)
{
	struct rowd_error err;
	struct mpbuf js;

	rowd_error_clear(&err);
	mpbuf_init(&js);
	if (proto_msgpack_to_json(answer->data, answer->len, &js, &err) < 0)
		fuzz_fail("an answer does not convert to JSON: %s", err.message);
	mpbuf_free(&js);
}

/* The answer the loop thread would send (an error, or the start of an ok
 * answer with the request's id), as JSON too. */
static void answer(const struct rowd_request *req, int ok, const struct rowd_error *err)
{
	struct mpbuf b;
	uint32_t count;
	size_t at;

	mpbuf_init(&b);
	if (!ok && req->open.path)
		proto_answer_error_path(&b, req->id_raw, req->id_len, err, req->open.path,
		                        req->open.path_len);
	else if (!ok)
		proto_answer_error(&b, req->id_raw, req->id_len, err);
	else if ((at = proto_answer_begin(&b, req->id_raw, req->id_len, true, &count)) != PROTO_POS_NONE)
		proto_map_close(&b, at, count);
	to_json(&b);
	mpbuf_free(&b);
}

/* A map key that is a map or an array (its JSON text becomes the key,
 * bounded in size: proto/json.c JSON_KEY_MAX). */
static bool has_container_key(const msgpack_object *o)
{
	if (o->type == MSGPACK_OBJECT_ARRAY) {
		for (uint32_t i = 0; i < o->via.array.size; i++)
			if (has_container_key(&o->via.array.ptr[i]))
				return true;
	} else if (o->type == MSGPACK_OBJECT_MAP) {
		for (uint32_t i = 0; i < o->via.map.size; i++) {
			const msgpack_object *k = &o->via.map.ptr[i].key;

			if (k->type == MSGPACK_OBJECT_MAP || k->type == MSGPACK_OBJECT_ARRAY ||
			    has_container_key(&o->via.map.ptr[i].val))
				return true;
		}
	}
	return false;
}

/* Rows of write and write_bulk as a JSON writer sees them: they convert,
 * unless a key too large to print is in them. */
static void rows_to_json(const struct rowd_request *req)
{
	struct mpbuf js;

	mpbuf_init(&js);
	if (req->row && proto_object_to_json(req->row, &js) < 0 && !has_container_key(req->row))
		fuzz_fail("a row within the limits does not convert to JSON");
	if (req->rows && proto_object_to_json(req->rows, &js) < 0 && !has_container_key(req->rows))
		fuzz_fail("rows within the limits do not convert to JSON");
	mpbuf_free(&js);
}

static void decode_frame(const char *p, size_t n, const struct rowd_limits *lim)
{
	struct rowd_request req;
	struct rowd_error err;
	msgpack_unpacked up;
	size_t off = 0;

	int r;

	msgpack_unpacked_init(&up);
	/* The depth limit stays within msgpack-c's 32-level stack: what the
	 * scanner accepts, msgpack-c unpacks (else conn.c answers EPROTO
	 * "undecodable", a gap between the two). */
	if (msgpack_unpack_next(&up, p, n, &off) != MSGPACK_UNPACK_SUCCESS || off != n)
		fuzz_fail("the scanner accepted %zu bytes, msgpack-c unpacked %zu", n, off);
	memset(&req, 0, sizeof req);
	rowd_error_clear(&err);
	r = proto_request_decode(&up.data, lim, &req, &err);
	if (r < 0)
		fuzz_check_error(&err, "request", true);
	if (req.id_len > ROWD_ID_MAX)
		fuzz_fail("id of %zu bytes", req.id_len);
	if (r == 0)
		rows_to_json(&req);
	answer(&req, r == 0, &err);
	msgpack_unpacked_destroy(&up);
}

/* The scanner over p[0..n) at once, for comparison. */
static int scan_once(const char *p, size_t n, const struct rowd_limits *lim, size_t *flen,
                     struct rowd_error *err)
{
	struct proto_scanner s;

	proto_scanner_init(&s);
	rowd_error_clear(err);
	return proto_scan(&s, p, n, lim, flen, err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	uint32_t h = fuzz_hash(data, size), rnd = h;
	struct rowd_limits lim;
	struct proto_scanner sc;
	size_t start = 0, have = 0;

	pick_limits(h, &lim);
	proto_scanner_init(&sc);
	while (start < size) {
		struct rowd_error err, err1;
		size_t flen = 0, flen1 = 0;
		int r, r1;

		/* More bytes arrive: 1 to 256, sometimes many. */
		rnd = rnd * 1103515245u + 12345u;
		have += (rnd >> 16) % 8 == 0 ? 4096 : 1 + (rnd >> 20) % 256;
		if (have > size)
			have = size;
		for (;;) {
			rowd_error_clear(&err);
			r = proto_scan(&sc, p + start, have - start, &lim, &flen, &err);
			if (r == 0 && have < size)
				break;
			r1 = scan_once(p + start, size - start, &lim, &flen1, &err1);
			if (r != r1 || (r == 1 && flen != flen1) || (r < 0 && err.code != err1.code))
				fuzz_fail("scanner in pieces %d/%zu, at once %d/%zu", r, flen, r1, flen1);
			if (r < 0) {
				fuzz_check_error(&err, "frame", true);
				if (err.offset < 0 || (size_t)err.offset > size - start)
					fuzz_fail("frame refused at offset %lld", (long long)err.offset);
				return 0;      /* the connection closes */
			}
			if (r == 0)
				return 0;      /* a partial frame at the end */
			if (flen == 0 || flen > have - start)
				fuzz_fail("frame of %zu bytes with %zu in hand", flen, have - start);
			decode_frame(p + start, flen, &lim);
			start += flen;
			if (start == have)
				break;
		}
	}
	return 0;
}
