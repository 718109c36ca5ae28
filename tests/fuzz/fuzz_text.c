/* Text mode: the input is what a person types at socat, split into lines
 * as conn.c does (a trailing \r dropped, leading blanks skipped, a line
 * over the text_line limit ends the connection). Each line, a JSON object
 * or an inline command, becomes a msgpack request that is then decoded.
 *
 * Invariants: a refused line has a code and a message; a request built
 * from a line is exactly one msgpack object that the frame scanner
 * accepts under the same limits; JSON -> msgpack -> JSON -> msgpack comes
 * back to the same object (within the types JSON carries exactly);
 * answers convert to JSON. */
#include <stdlib.h>
#include <string.h>

#include "rowd_proto.h"
#include "fuzz.h"

static void answer_error(const char *id_raw, size_t id_len, const struct rowd_error *err)
{
	struct rowd_error e2;
	struct mpbuf b, js;

	mpbuf_init(&b);
	mpbuf_init(&js);
	rowd_error_clear(&e2);
	if (proto_answer_error(&b, id_raw, id_len, err) == 0 &&
	    proto_msgpack_to_json(b.data, b.len, &js, &e2) < 0)
		fuzz_fail("an error answer does not convert to JSON: %s", e2.message);
	mpbuf_free(&b);
	mpbuf_free(&js);
}

/* The request back to JSON (as a person would type it) and in again. */
static void json_round_trip(const msgpack_object *req, const struct mpbuf *packed,
                            const struct rowd_limits *lim)
{
	struct rowd_error err;
	struct mpbuf js, again;
	msgpack_unpacked up;
	size_t off = 0;

	rowd_error_clear(&err);
	mpbuf_init(&js);
	mpbuf_init(&again);
	msgpack_unpacked_init(&up);
	if (proto_msgpack_to_json(packed->data, packed->len, &js, &err) < 0)
		fuzz_fail("a request does not convert to JSON: %s", err.message);
	if (js.len == 0 || js.data[js.len - 1] != '\n')
		fuzz_fail("JSON answer line without its newline");
	if (proto_json_to_msgpack(js.data, js.len - 1, lim, &again, &err) < 0)
		fuzz_fail("JSON of a request does not parse back: %s: %.*s", err.message,
		          (int)(js.len > 200 ? 200 : js.len), js.data);
	if (msgpack_unpack_next(&up, again.data, again.len, &off) != MSGPACK_UNPACK_SUCCESS ||
	    !msgpack_object_equal(*req, up.data))
		fuzz_fail("request changed through JSON: %.*s", (int)(js.len > 200 ? 200 : js.len),
		          js.data);
	msgpack_unpacked_destroy(&up);
	mpbuf_free(&js);
	mpbuf_free(&again);
}

static void process_line(const char *line, size_t len, uint64_t *lineno,
                         const struct rowd_limits *lim)
{
	struct rowd_error err;
	struct proto_scanner sc;
	struct rowd_request req;
	struct mpbuf b;
	msgpack_unpacked up;
	char id_raw[ROWD_ID_MAX];
	size_t id_len, off = 0, flen = 0;

	if (len && line[len - 1] == '\r')
		len--;
	while (len && (*line == ' ' || *line == '\t')) {
		line++;
		len--;
	}
	if (len == 0)
		return;
	/* conn_default_id: the line's number stands for a missing id. */
	b = (struct mpbuf){ .data = id_raw, .cap = sizeof id_raw };
	mpbuf_uint(&b, ++*lineno);
	id_len = b.len;

	rowd_error_clear(&err);
	mpbuf_init(&b);
	if (proto_text_to_request(line, len, lim, &b, &err) < 0) {
		fuzz_check_error(&err, "text line", true);
		answer_error(id_raw, id_len, &err);
		mpbuf_free(&b);
		return;
	}
	proto_scanner_init(&sc);
	if (proto_scan(&sc, b.data, b.len, lim, &flen, &err) != 1 || flen != b.len)
		fuzz_fail("a request built from text is not one frame within the limits: %s",
		          err.message);
	msgpack_unpacked_init(&up);
	if (msgpack_unpack_next(&up, b.data, b.len, &off) != MSGPACK_UNPACK_SUCCESS || off != b.len)
		fuzz_fail("a request built from text does not unpack");
	/* Non-finite floats (1e400) become null in JSON, as documented. */
	if (fuzz_plain(&up.data))
		json_round_trip(&up.data, &b, lim);
	memset(&req, 0, sizeof req);
	rowd_error_clear(&err);
	if (proto_request_decode(&up.data, lim, &req, &err) < 0) {
		fuzz_check_error(&err, "request", true);
		answer_error(req.id_len ? req.id_raw : id_raw, req.id_len ? req.id_len : id_len, &err);
	}
	msgpack_unpacked_destroy(&up);
	mpbuf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	struct rowd_limits lim;
	uint64_t lineno = 0;

	rowd_limits_default(&lim);
	/* Some inputs run under the smallest limits a configuration allows. */
	if (fuzz_hash(data, size) % 4 == 0) {
		lim.text_line = 256;
		lim.depth = 2;
		lim.elements = 16;
		lim.str_bytes = 256;
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (len > lim.text_line)
			return 0;      /* ELIMIT, the connection closes */
		process_line(p, len, &lineno, &lim);
		p += len + (nl ? 1 : 0);
	}
	return 0;
}
