/* Unit tests of proto/: scanner, request decoding, answers, JSON, text. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "rowd_proto.h"

#ifndef TOP_SRCDIR
#define TOP_SRCDIR "."
#endif

#define JSON_SUITE TOP_SRCDIR "/tests/data/conformance/json-test-suite/test_parsing"

static struct rowd_limits lim;

static void setup(void)
{
	rowd_limits_default(&lim);
}

#define ck_assert_msg_has(err, s) \
	ck_assert_msg(strstr((err)->message, (s)) != NULL, "message '%s' lacks '%s'", \
	              (err)->message, (s))

/* ---- helpers -------------------------------------------------------------- */

/* JSON text -> msgpack bytes in b (asserts success). */
static void j2m(const char *json, struct mpbuf *b)
{
	struct rowd_error err;

	rowd_error_clear(&err);
	mpbuf_init(b);
	ck_assert_msg(proto_json_to_msgpack(json, strlen(json), &lim, b, &err) == 0,
	              "JSON '%s': %s", json, err.message);
}

/* msgpack bytes -> JSON text without the newline, in a static buffer. */
static const char *m2j(const char *p, size_t n)
{
	static char text[65536];
	struct mpbuf out;
	struct rowd_error err;

	rowd_error_clear(&err);
	mpbuf_init(&out);
	ck_assert_msg(proto_msgpack_to_json(p, n, &out, &err) == 0, "m2j: %s", err.message);
	ck_assert(out.len > 0 && out.data[out.len - 1] == '\n');
	ck_assert(out.len <= sizeof text);
	memcpy(text, out.data, out.len - 1);
	text[out.len - 1] = '\0';
	mpbuf_free(&out);
	return text;
}

/* JSON -> msgpack -> JSON. */
static void roundtrip(const char *in, const char *expect)
{
	struct mpbuf b;

	j2m(in, &b);
	ck_assert_str_eq(m2j(b.data, b.len), expect);
	mpbuf_free(&b);
}

/* A decoded request from JSON; the buffer and zone stay alive with it. */
struct dec {
	struct mpbuf buf;
	msgpack_unpacked u;
	struct rowd_request req;
	struct rowd_error err;
	int rc;
};

static int dec_json(struct dec *d, const char *json)
{
	size_t off = 0;

	j2m(json, &d->buf);
	msgpack_unpacked_init(&d->u);
	ck_assert(msgpack_unpack_next(&d->u, d->buf.data, d->buf.len, &off) ==
	          MSGPACK_UNPACK_SUCCESS);
	rowd_error_clear(&d->err);
	d->rc = proto_request_decode(&d->u.data, &lim, &d->req, &d->err);
	return d->rc;
}

static void dec_free(struct dec *d)
{
	msgpack_unpacked_destroy(&d->u);
	mpbuf_free(&d->buf);
}

static void expect_ok(const char *json)
{
	struct dec d;

	ck_assert_msg(dec_json(&d, json) == 0, "%s: %s", json, d.err.message);
	dec_free(&d);
}

static void expect_err(const char *json, enum rowd_err code, const char *msg)
{
	struct dec d;

	ck_assert_msg(dec_json(&d, json) == -1, "accepted: %s", json);
	ck_assert_msg(d.err.code == code, "%s: got %s (%s), want %s", json,
	              rowd_err_name(d.err.code), d.err.message, rowd_err_name(code));
	ck_assert_msg_has(&d.err, msg);
	dec_free(&d);
}

/* Unpacks the single object of p[0..n). */
static void unpack_one(msgpack_unpacked *u, const char *p, size_t n)
{
	size_t off = 0;

	msgpack_unpacked_init(u);
	ck_assert(msgpack_unpack_next(u, p, n, &off) == MSGPACK_UNPACK_SUCCESS);
	ck_assert_uint_eq(off, n);
}

static char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	char *p;
	long len;

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	p = malloc((size_t)len + 1);
	ck_assert(p != NULL);
	*n = fread(p, 1, (size_t)len, f);
	ck_assert_uint_eq(*n, (size_t)len);
	fclose(f);
	return p;
}

/* ---- errors and limits -------------------------------------------------- */

START_TEST(test_err_names)
{
	for (int i = 0; i < ROWD_ERR_COUNT; i++) {
		const char *n = rowd_err_name((enum rowd_err)i);

		ck_assert_int_eq(rowd_err_from_name(n, strlen(n)), i);
	}
	ck_assert_str_eq(rowd_err_name(ROWD_ELIMIT), "ELIMIT");
	ck_assert_str_eq(rowd_err_name(ROWD_EEXIST), "EEXIST");
	ck_assert_int_eq(rowd_err_from_name("EWHAT", 5), ROWD_EPROTO);
	ck_assert_int_eq(rowd_err_from_name("EIOX", 3), ROWD_EIO);
	ck_assert_str_eq(rowd_err_name(ROWD_ERR_COUNT), "EPROTO");
	ck_assert_str_eq(rowd_op_name(OP_READ_BULK), "read_bulk");
	ck_assert_str_eq(rowd_op_name(OP_HELP), "help");
	ck_assert_str_eq(rowd_op_name(OP_COUNT), "?");
}
END_TEST

START_TEST(test_error_values)
{
	struct rowd_error e;
	char big[600];

	rowd_error_clear(&e);
	ck_assert_int_eq(e.code, ROWD_OK);
	ck_assert_str_eq(e.message, "");
	ck_assert(e.line == -1 && e.row == -1 && e.offset == -1);
	e.line = 3;
	ck_assert_int_eq(rowd_error_set(&e, ROWD_EINVAL, "bad %s %d", "x", 7), -1);
	ck_assert_int_eq(e.code, ROWD_EINVAL);
	ck_assert_str_eq(e.message, "bad x 7");
	ck_assert_int_eq(e.line, 3);
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	rowd_error_set(&e, ROWD_EIO, "%s", big);
	ck_assert_uint_eq(strlen(e.message), ROWD_ERRMSG_MAX - 1);
}
END_TEST

START_TEST(test_limits_default)
{
	struct rowd_limits l;

	rowd_limits_default(&l);
	ck_assert_uint_eq(l.frame_bytes, 16u << 20);
	ck_assert_uint_eq(l.text_line, 1u << 20);
	ck_assert_uint_le(l.depth, PROTO_SCAN_MAX_DEPTH);
	ck_assert_uint_eq(l.elements, 1000000);
	ck_assert_uint_eq(l.batch_rows, 100000);
	ck_assert_uint_gt(l.out_high, l.out_low);
	ck_assert_uint_eq(l.idle_timeout, 0);
}
END_TEST

/* ---- scanner ------------------------------------------------------------- */

/* Real requests of every token type, built with msgpack-c's packer. */
static void build_frames(msgpack_sbuffer sb[], int *count)
{
	static const char *json[] = {
		"{\"op\":\"ping\"}",
		"{\"op\":\"read_bulk\",\"id\":\"abc\",\"handle\":1,\"n\":1000}",
		"{\"op\":\"write_bulk\",\"id\":-5,\"handle\":2,\"rows\":[{\"a\":1.5,\"b\":null},"
		"{\"a\":-70000,\"b\":[true,false,{\"c\":18446744073709551615}]},{}]}",
		"{\"op\":\"open\",\"path\":\"dir/x.csv\",\"options\":{\"delimiter\":\";\","
		"\"fieldnames\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"j\",\"k\","
		"\"l\",\"m\",\"n\",\"o\",\"p\",\"q\"]}}",
	};
	int n = 0;

	for (size_t i = 0; i < sizeof json / sizeof json[0]; i++) {
		struct mpbuf b;

		j2m(json[i], &b);
		msgpack_sbuffer_init(&sb[n]);
		msgpack_sbuffer_write(&sb[n], b.data, b.len);
		mpbuf_free(&b);
		n++;
	}

	/* long headers: str8/16/32, bin, ext, fixext, floats, wide ints */
	{
		msgpack_packer pk;
		static char blob[70000];

		memset(blob, 'x', sizeof blob);
		msgpack_sbuffer_init(&sb[n]);
		msgpack_packer_init(&pk, &sb[n], msgpack_sbuffer_write);
		msgpack_pack_map(&pk, 18);
		msgpack_pack_str_with_body(&pk, "op", 2);
		msgpack_pack_str_with_body(&pk, "write", 5);
		msgpack_pack_str_with_body(&pk, "s8", 2);
		msgpack_pack_str_with_body(&pk, blob, 200);
		msgpack_pack_str_with_body(&pk, "s16", 3);
		msgpack_pack_str_with_body(&pk, blob, 1000);
		msgpack_pack_str_with_body(&pk, "s32", 3);
		msgpack_pack_str_with_body(&pk, blob, 70000);
		msgpack_pack_str_with_body(&pk, "bin", 3);
		msgpack_pack_bin_with_body(&pk, blob, 300);
		msgpack_pack_str_with_body(&pk, "ext", 3);
		msgpack_pack_ext_with_body(&pk, blob, 5, 7);
		msgpack_pack_str_with_body(&pk, "fixext", 6);
		msgpack_pack_ext_with_body(&pk, blob, 16, 1);
		msgpack_pack_str_with_body(&pk, "ext16", 5);
		msgpack_pack_ext_with_body(&pk, blob, 300, 2);
		msgpack_pack_str_with_body(&pk, "f32", 3);
		msgpack_pack_float(&pk, 1.5f);
		msgpack_pack_str_with_body(&pk, "f64", 3);
		msgpack_pack_double(&pk, -2.25);
		msgpack_pack_str_with_body(&pk, "u64", 3);
		msgpack_pack_uint64(&pk, UINT64_MAX);
		msgpack_pack_str_with_body(&pk, "i64", 3);
		msgpack_pack_int64(&pk, INT64_MIN);
		msgpack_pack_str_with_body(&pk, "i16", 3);
		msgpack_pack_int16(&pk, -3000);
		msgpack_pack_str_with_body(&pk, "arr16", 5);
		msgpack_pack_array(&pk, 20);
		for (int i = 0; i < 20; i++)
			msgpack_pack_int(&pk, i);
		msgpack_pack_str_with_body(&pk, "map16", 5);
		msgpack_pack_map(&pk, 17);
		for (int i = 0; i < 17; i++) {
			msgpack_pack_int(&pk, i);
			msgpack_pack_nil(&pk);
		}
		msgpack_pack_str_with_body(&pk, "empty", 5);
		msgpack_pack_array(&pk, 0);
		msgpack_pack_str_with_body(&pk, "t", 1);
		msgpack_pack_true(&pk);
		msgpack_pack_str_with_body(&pk, "neg", 3);
		msgpack_pack_int(&pk, -1);
		n++;
	}
	/* a lone scalar is a (bad, but complete) frame */
	msgpack_sbuffer_init(&sb[n]);
	msgpack_sbuffer_write(&sb[n], "\x07", 1);
	n++;
	*count = n;
}

START_TEST(test_scan_byte_at_a_time)
{
	msgpack_sbuffer sb[8];
	int nf;

	build_frames(sb, &nf);
	for (int f = 0; f < nf; f++) {
		struct proto_scanner s;
		struct rowd_error err;
		size_t len = 0;

		proto_scanner_init(&s);
		rowd_error_clear(&err);
		for (size_t k = 1; k <= sb[f].size; k++) {
			int r = proto_scan(&s, sb[f].data, k, &lim, &len, &err);

			/* plain tests in the loops: every passing ck_assert is a
			 * message to the parent process */
			if (k < sb[f].size && r != 0)
				ck_abort_msg("frame %d: r=%d at %zu/%zu (%s)", f, r, k, sb[f].size,
				             err.message);
			if (k == sb[f].size && (r != 1 || len != sb[f].size))
				ck_abort_msg("frame %d end: r=%d len=%zu", f, r, len);
		}
		msgpack_sbuffer_destroy(&sb[f]);
	}
}
END_TEST

START_TEST(test_scan_every_split)
{
	msgpack_sbuffer sb[8];
	int nf;

	build_frames(sb, &nf);
	for (int f = 0; f < nf; f++) {
		size_t n = sb[f].size;

		for (size_t k = 0; k < n; k++) {
			struct proto_scanner s;
			struct rowd_error err;
			size_t len = 0;

			proto_scanner_init(&s);
			if (proto_scan(&s, sb[f].data, k, &lim, &len, &err) != 0 ||
			    proto_scan(&s, sb[f].data, n, &lim, &len, &err) != 1 || len != n)
				ck_abort_msg("frame %d split at %zu: %s", f, k, err.message);
		}
		msgpack_sbuffer_destroy(&sb[f]);
	}
}
END_TEST

START_TEST(test_scan_pipelined)
{
	msgpack_sbuffer sb[8];
	struct proto_scanner s;
	struct rowd_error err;
	struct mpbuf all;
	size_t len = 0, off = 0;
	int nf;

	build_frames(sb, &nf);
	mpbuf_init(&all);
	for (int f = 0; f < nf; f++)
		ck_assert_int_eq(mpbuf_append(&all, sb[f].data, sb[f].size), 0);
	proto_scanner_init(&s);
	for (int f = 0; f < nf; f++) {
		/* the scanner re-arms itself after a frame */
		ck_assert_int_eq(proto_scan(&s, all.data + off, all.len - off, &lim, &len, &err), 1);
		ck_assert_uint_eq(len, sb[f].size);
		off += len;
		msgpack_sbuffer_destroy(&sb[f]);
	}
	ck_assert_uint_eq(off, all.len);
	ck_assert_int_eq(proto_scan(&s, all.data + off, 0, &lim, &len, &err), 0);
	mpbuf_free(&all);
}
END_TEST

static void scan_refused(const void *p, size_t n, const struct rowd_limits *l,
                         enum rowd_err code, const char *msg)
{
	struct proto_scanner s;
	struct rowd_error err;
	size_t len = 0;

	proto_scanner_init(&s);
	rowd_error_clear(&err);
	ck_assert_int_eq(proto_scan(&s, p, n, l, &len, &err), -1);
	ck_assert_msg(err.code == code, "got %s (%s)", rowd_err_name(err.code), err.message);
	ck_assert_msg_has(&err, msg);
}

START_TEST(test_scan_hostile_headers)
{
	struct rowd_limits big;

	/* decided from the 5 header bytes alone */
	scan_refused("\xdd\xff\xff\xff\xff", 5, &lim, ROWD_ELIMIT,
	             "array of 4294967295 elements exceeds the elements limit (1000000)");
	scan_refused("\xdf\x00\x4c\x4b\x40", 5, &lim, ROWD_ELIMIT,
	             "map of 5000000 entries exceeds the elements limit (1000000)");
	scan_refused("\xdb\xff\xff\xff\xff", 5, &lim, ROWD_ELIMIT,
	             "str of 4294967295 bytes exceeds the str_bytes limit (8388608)");
	scan_refused("\xc6\x01\x00\x00\x00", 5, &lim, ROWD_ELIMIT, "bin of 16777216 bytes");
	scan_refused("\xc9\x01\x00\x00\x00\x05", 6, &lim, ROWD_ELIMIT, "ext of 16777216 bytes");
	/* nested inside a request, same */
	scan_refused("\x81\xa2op\xdd\xff\xff\xff\xff", 9, &lim, ROWD_ELIMIT, "elements limit");
	scan_refused("\xc1", 1, &lim, ROWD_EPROTO, "0xc1");
	scan_refused("\x82\xa1" "a\x01\xa1" "b\xc1", 7, &lim, ROWD_EPROTO, "reserved byte 0xc1 at offset 6");

	/* with the element and string limits out of the way, the frame
	 * limit still refuses what cannot fit */
	big = lim;
	big.elements = SIZE_MAX;
	big.str_bytes = SIZE_MAX;
	scan_refused("\xdd\xff\xff\xff\xff", 5, &big, ROWD_ELIMIT,
	             "frame exceeds frame_bytes limit (16777216)");
	scan_refused("\xdb\xff\xff\xff\xff", 5, &big, ROWD_ELIMIT, "frame_bytes limit (16777216)");
}
END_TEST

START_TEST(test_scan_depth)
{
	char deep[1001];
	struct proto_scanner s;
	struct rowd_error err;
	size_t len, k;
	int r = 0;

	memset(deep, 0x91, 1000);
	deep[1000] = (char)0xc0;
	scan_refused(deep, sizeof deep, &lim, ROWD_ELIMIT, "depth limit (32)");

	/* fed byte by byte, refused at the 33rd level exactly */
	proto_scanner_init(&s);
	for (k = 1; k <= sizeof deep; k++) {
		r = proto_scan(&s, deep, k, &lim, &len, &err);
		if (r != 0)
			break;
	}
	ck_assert_int_eq(r, -1);
	ck_assert_uint_eq(k, 33);
	ck_assert_int_eq(err.offset, 32);

	/* 32 levels are fine, and msgpack-c (whose C unpacker stops at 32
	 * levels) can unpack what the default limit lets through */
	proto_scanner_init(&s);
	memcpy(deep + 32, "\xc0", 1);
	ck_assert_int_eq(proto_scan(&s, deep, 33, &lim, &len, &err), 1);
	ck_assert_uint_eq(len, 33);
	{
		msgpack_unpacked u;

		unpack_one(&u, deep, 33);
		msgpack_unpacked_destroy(&u);
	}

	/* a configured depth above the scanner's capacity is capped */
	{
		struct rowd_limits l = lim;

		l.depth = 1000;
		memset(deep, 0x91, 1000);
		scan_refused(deep, sizeof deep, &l, ROWD_ELIMIT, "depth limit (64)");
	}
}
END_TEST

START_TEST(test_scan_small_limits)
{
	struct rowd_limits l = lim;
	struct proto_scanner s;
	struct rowd_error err;
	size_t len;
	char buf[64];

	l.frame_bytes = 16;
	l.elements = 4;
	l.str_bytes = 8;
	l.depth = 2;

	/* a str promising 20 bytes is refused from its header */
	scan_refused("\xd9\x14", 2, &l, ROWD_ELIMIT, "str_bytes limit (8)");
	l.str_bytes = 100;
	scan_refused("\xd9\x14", 2, &l, ROWD_ELIMIT, "frame_bytes limit (16)");
	l.str_bytes = 8;

	/* exactly frame_bytes is fine, one more is not */
	memcpy(buf, "\x92\xa7" "1234567" "\xa6" "123456", 16);
	proto_scanner_init(&s);
	ck_assert_int_eq(proto_scan(&s, buf, 16, &l, &len, &err), 1);
	ck_assert_uint_eq(len, 16);
	memcpy(buf, "\x92\xa7" "1234567" "\xa7" "1234567", 17);
	scan_refused(buf, 17, &l, ROWD_ELIMIT, "frame_bytes limit (16)");
	/* ... even before the bytes arrive */
	scan_refused(buf, 10, &l, ROWD_ELIMIT, "frame_bytes limit (16)");

	/* element count boundary */
	proto_scanner_init(&s);
	ck_assert_int_eq(proto_scan(&s, "\x94\x01\x02\x03\x04", 5, &l, &len, &err), 1);
	scan_refused("\x95\x01\x02\x03\x04\x05", 6, &l, ROWD_ELIMIT,
	             "array of 5 elements exceeds the elements limit (4)");
	scan_refused("\x85", 1, &l, ROWD_ELIMIT, "map of 5 entries exceeds the elements limit (4)");

	/* str boundary */
	proto_scanner_init(&s);
	ck_assert_int_eq(proto_scan(&s, "\xa8" "12345678", 9, &l, &len, &err), 1);
	scan_refused("\xa9" "123456789", 10, &l, ROWD_ELIMIT, "str of 9 bytes");

	/* depth boundary, empty containers count */
	proto_scanner_init(&s);
	ck_assert_int_eq(proto_scan(&s, "\x91\x90", 2, &l, &len, &err), 1);
	scan_refused("\x91\x91\x90", 3, &l, ROWD_ELIMIT, "depth limit (2)");

	/* a header promising more items than the frame can hold */
	l.elements = 1000;
	scan_refused("\xdc\x00\x20", 3, &l, ROWD_ELIMIT, "frame_bytes limit (16)");
}
END_TEST

/* ---- requests --------------------------------------------------------------- */

START_TEST(test_request_ops_good)
{
	struct dec d;

	ck_assert_int_eq(dec_json(&d, "{\"op\":\"read_bulk\",\"id\":7,\"handle\":3,\"n\":500}"), 0);
	ck_assert_int_eq(d.req.op, OP_READ_BULK);
	ck_assert_uint_eq(d.req.handle, 3);
	ck_assert_uint_eq(d.req.n, 500);
	ck_assert_uint_eq(d.req.id_len, 1);
	ck_assert_int_eq((unsigned char)d.req.id_raw[0], 7);
	dec_free(&d);

	ck_assert_int_eq(dec_json(&d, "{\"id\":\"req-1\",\"op\":\"open\",\"path\":\"a b.csv\","
	                              "\"mode\":\"w\",\"format\":\"csv\",\"codec\":\"gzip\","
	                              "\"engine\":\"internal\",\"options\":{\"header\":false},"
	                              "\"codec_options\":{\"level\":9}}"), 0);
	ck_assert_int_eq(d.req.op, OP_OPEN);
	ck_assert_uint_eq(d.req.id_len, 6);
	ck_assert(memcmp(d.req.id_raw, "\xa5req-1", 6) == 0);
	ck_assert_uint_eq(d.req.open.path_len, 7);
	ck_assert(memcmp(d.req.open.path, "a b.csv", 7) == 0);
	ck_assert_int_eq(d.req.open.mode, 'w');
	ck_assert(d.req.open.format_len == 3 && memcmp(d.req.open.format, "csv", 3) == 0);
	ck_assert(d.req.open.codec_len == 4 && memcmp(d.req.open.codec, "gzip", 4) == 0);
	ck_assert(d.req.open.engine != NULL);
	ck_assert(d.req.open.options && d.req.open.options->type == MSGPACK_OBJECT_MAP);
	ck_assert(d.req.open.codec_options && d.req.open.codec_options->via.map.size == 1);
	dec_free(&d);

	ck_assert_int_eq(dec_json(&d, "{\"op\":\"open\",\"path\":\"x\",\"format\":null,\"options\":null}"), 0);
	ck_assert_int_eq(d.req.open.mode, 'r');
	ck_assert(d.req.open.format == NULL && d.req.open.options == NULL);
	ck_assert_uint_eq(d.req.id_len, 0);
	dec_free(&d);

	ck_assert_int_eq(dec_json(&d, "{\"op\":\"stream\",\"handle\":4294967295,\"batch\":100,"
	                              "\"limit\":5,\"progress\":true}"), 0);
	ck_assert_uint_eq(d.req.handle, UINT32_MAX);
	ck_assert_uint_eq(d.req.batch, 100);
	ck_assert_uint_eq(d.req.limit, 5);
	ck_assert(d.req.progress);
	dec_free(&d);

	ck_assert_int_eq(dec_json(&d, "{\"op\":\"cancel\",\"id\":-3,\"target\":\"s1\"}"), 0);
	ck_assert_uint_eq(d.req.target_len, 3);
	ck_assert(memcmp(d.req.target_raw, "\xa2s1", 3) == 0);
	ck_assert_uint_eq(d.req.id_len, 1);
	ck_assert_int_eq((signed char)d.req.id_raw[0], -3);
	dec_free(&d);

	ck_assert_int_eq(dec_json(&d, "{\"op\":\"write\",\"handle\":1,\"row\":{\"a\":[1,{\"b\":2}]}}"), 0);
	ck_assert(d.req.row && d.req.row->type == MSGPACK_OBJECT_MAP);
	dec_free(&d);

	ck_assert_int_eq(dec_json(&d, "{\"op\":\"write_bulk\",\"handle\":1,\"rows\":[{\"a\":1},{}]}"), 0);
	ck_assert(d.req.rows && d.req.rows->via.array.size == 2);
	dec_free(&d);

	ck_assert_int_eq(dec_json(&d, "{\"op\":\"convert\",\"id\":null,\"from\":{\"path\":\"in.csv\","
	                              "\"options\":{\"delimiter\":\";\"}},\"to\":{\"path\":\"out.jsonl.zst\","
	                              "\"format\":\"jsonl\",\"codec_options\":{\"level\":3}},"
	                              "\"batch\":1000,\"progress\":false}"), 0);
	ck_assert_int_eq(d.req.open.mode, 'r');
	ck_assert_int_eq(d.req.to.mode, 'w');
	ck_assert(d.req.open.path_len == 6 && d.req.to.path_len == 13);
	ck_assert(d.req.open.options != NULL && d.req.to.codec_options != NULL);
	ck_assert_uint_eq(d.req.batch, 1000);
	ck_assert_uint_eq(d.req.id_len, 1);
	ck_assert_int_eq((unsigned char)d.req.id_raw[0], 0xc0);
	dec_free(&d);

	expect_ok("{\"op\":\"hello\",\"version\":1,\"client\":\"test\"}");
	expect_ok("{\"op\":\"hello\",\"version\":\"0.1.0\"}");
	expect_ok("{\"op\":\"ping\"}");
	expect_ok("{\"op\":\"stats\",\"id\":18446744073709551615}");
	expect_ok("{\"op\":\"help\",\"id\":-9223372036854775808}");
	expect_ok("{\"op\":\"read\",\"handle\":1}");
	expect_ok("{\"op\":\"reset\",\"handle\":1}");
	expect_ok("{\"op\":\"totals\",\"handle\":1}");
	expect_ok("{\"op\":\"close\",\"handle\":1}");
	expect_ok("{\"op\":\"detect\",\"path\":\"x.csv.gz\"}");
	expect_ok("{\"op\":\"tables\",\"path\":\"x.sqlite\"}");
	expect_ok("{\"op\":\"convert\",\"from\":{\"path\":\"a\",\"mode\":\"r\"},\"to\":{\"path\":\"b\",\"mode\":\"w\"}}");
	expect_ok("{\"op\":\"read_bulk\",\"handle\":1,\"n\":100000}");
	expect_ok("{\"op\":\"stream\",\"handle\":1,\"batch\":null}");
}
END_TEST

START_TEST(test_request_ops_bad)
{
	expect_err("[1,2]", ROWD_EPROTO, "must be a map");
	expect_err("{\"id\":1}", ROWD_EPROTO, "missing field 'op'");
	expect_err("{\"op\":1}", ROWD_EPROTO, "field 'op' must be a string");
	expect_err("{\"op\":\"frobnicate\"}", ROWD_EPROTO, "unknown op 'frobnicate' (ops: hello ping");
	expect_err("{\"op\":\"read\"}", ROWD_EINVAL, "missing field 'handle'");
	expect_err("{\"op\":\"read\",\"handle\":\"1\"}", ROWD_EINVAL, "field 'handle' must be a positive integer");
	expect_err("{\"op\":\"read\",\"handle\":0}", ROWD_EINVAL, "field 'handle' must be a positive integer");
	expect_err("{\"op\":\"read\",\"handle\":-1}", ROWD_EINVAL, "'handle' must be a positive integer");
	expect_err("{\"op\":\"read\",\"handle\":1.0}", ROWD_EINVAL, "'handle' must be a positive integer");
	expect_err("{\"op\":\"read\",\"handle\":null}", ROWD_EINVAL, "'handle' must be a positive integer");
	expect_err("{\"op\":\"read\",\"handle\":4294967296}", ROWD_EINVAL, "at most 4294967295");
	expect_err("{\"op\":\"read\",\"handle\":1,\"n\":3}", ROWD_EINVAL, "unknown field 'n' for op 'read'");
	expect_err("{\"op\":\"ping\",\"bogus\":3}", ROWD_EINVAL, "unknown field 'bogus' for op 'ping'");
	expect_err("{\"op\":\"read\",\"handle\":1,\"handle\":2}", ROWD_EINVAL, "duplicate field 'handle'");
	expect_err("{\"op\":\"read_bulk\",\"handle\":1}", ROWD_EINVAL, "missing field 'n'");
	expect_err("{\"op\":\"read_bulk\",\"handle\":1,\"n\":0}", ROWD_EINVAL, "field 'n' must be a positive integer");
	expect_err("{\"op\":\"read_bulk\",\"handle\":1,\"n\":100001}", ROWD_ELIMIT,
	           "n 100001 exceeds the batch_rows limit (100000)");
	expect_err("{\"op\":\"stream\",\"handle\":1,\"batch\":100001}", ROWD_ELIMIT, "batch_rows limit");
	expect_err("{\"op\":\"stream\",\"handle\":1,\"progress\":1}", ROWD_EINVAL, "'progress' must be a boolean");
	expect_err("{\"op\":\"stream\",\"handle\":1,\"limit\":\"all\"}", ROWD_EINVAL, "'limit' must be a positive integer");
	expect_err("{\"op\":\"write\",\"handle\":1}", ROWD_EINVAL, "missing field 'row'");
	expect_err("{\"op\":\"write\",\"handle\":1,\"row\":[1]}", ROWD_EINVAL, "field 'row' must be a map");
	expect_err("{\"op\":\"write_bulk\",\"handle\":1,\"rows\":{}}", ROWD_EINVAL, "'rows' must be an array");
	expect_err("{\"op\":\"write_bulk\",\"handle\":1,\"rows\":[{},3]}", ROWD_EINVAL, "rows[1] must be a map");
	expect_err("{\"op\":\"open\"}", ROWD_EINVAL, "missing field 'path' for op 'open'");
	expect_err("{\"op\":\"open\",\"path\":\"\"}", ROWD_EINVAL, "'path' must be a non-empty string");
	expect_err("{\"op\":\"open\",\"path\":\"a\\u0000b\"}", ROWD_EINVAL, "NUL");
	expect_err("{\"op\":\"open\",\"path\":\"a\",\"mode\":\"a\"}", ROWD_EINVAL, "'mode' must be 'r' or 'w'");
	expect_err("{\"op\":\"open\",\"path\":\"a\",\"mode\":\"\\u0000\"}", ROWD_EINVAL, "'mode' must be");
	expect_err("{\"op\":\"open\",\"path\":\"a\",\"format\":3}", ROWD_EINVAL, "'format' must be a non-empty string");
	expect_err("{\"op\":\"open\",\"path\":\"a\",\"options\":[]}", ROWD_EINVAL, "'options' must be a map");
	expect_err("{\"op\":\"open\",\"path\":\"a\",\"codec_options\":\"x\"}", ROWD_EINVAL, "'codec_options' must be a map");
	expect_err("{\"op\":\"open\",\"path\":\"a\",\"delimiter\":\";\"}", ROWD_EINVAL,
	           "unknown field 'delimiter' for op 'open'");
	expect_err("{\"op\":\"detect\",\"path\":\"a\",\"mode\":\"r\"}", ROWD_EINVAL, "unknown field 'mode' for op 'detect'");
	expect_err("{\"op\":\"tables\"}", ROWD_EINVAL, "missing field 'path'");
	expect_err("{\"op\":\"cancel\"}", ROWD_EINVAL, "missing field 'target'");
	expect_err("{\"op\":\"cancel\",\"target\":1.5}", ROWD_EINVAL, "field 'target' must be nil, an integer or a string");
	expect_err("{\"op\":\"convert\",\"from\":{\"path\":\"a\"}}", ROWD_EINVAL, "missing field 'to'");
	expect_err("{\"op\":\"convert\",\"from\":\"a\",\"to\":{\"path\":\"b\"}}", ROWD_EINVAL, "'from' must be a map");
	expect_err("{\"op\":\"convert\",\"from\":{\"path\":\"a\",\"mode\":\"w\"},\"to\":{\"path\":\"b\"}}",
	           ROWD_EINVAL, "'from.mode' must be 'r'");
	expect_err("{\"op\":\"convert\",\"from\":{\"path\":\"a\"},\"to\":{\"path\":\"b\",\"mode\":\"r\"}}",
	           ROWD_EINVAL, "'to.mode' must be 'w'");
	expect_err("{\"op\":\"convert\",\"from\":{\"path\":\"a\"},\"to\":{}}", ROWD_EINVAL, "missing field 'to.path'");
	expect_err("{\"op\":\"convert\",\"from\":{\"path\":\"a\",\"x\":1},\"to\":{\"path\":\"b\"}}",
	           ROWD_EINVAL, "unknown field 'x' in 'from' of op 'convert'");
	expect_err("{\"op\":\"convert\",\"from\":{\"path\":\"a\"},\"to\":{\"path\":\"b\"},\"limit\":3}",
	           ROWD_EINVAL, "unknown field 'limit' for op 'convert'");
	expect_err("{\"op\":\"hello\",\"version\":[1]}", ROWD_EINVAL, "'version' must be a protocol version number");
	expect_err("{\"op\":\"hello\",\"client\":1}", ROWD_EINVAL, "'client' must be a non-empty string");
	expect_err("{\"op\":\"ping\",\"id\":1.5}", ROWD_EINVAL, "field 'id' must be nil, an integer or a string");
	expect_err("{\"op\":\"ping\",\"id\":\"0123456789012345678901234567890123456789012345678\"}",
	           ROWD_EINVAL, "at most 48 bytes");
}
END_TEST

START_TEST(test_request_id_echo)
{
	struct dec d;

	/* the id is read first, so errors found later can echo it */
	ck_assert_int_eq(dec_json(&d, "{\"op\":\"nope\",\"id\":\"abc\"}"), -1);
	ck_assert_uint_eq(d.req.id_len, 4);
	ck_assert(memcmp(d.req.id_raw, "\xa3" "abc", 4) == 0);
	dec_free(&d);

	ck_assert_int_eq(dec_json(&d, "{\"handle\":\"x\",\"op\":\"read\",\"id\":300}"), -1);
	ck_assert_uint_eq(d.req.id_len, 3);
	ck_assert(memcmp(d.req.id_raw, "\xcd\x01\x2c", 3) == 0);
	dec_free(&d);

	/* an id of 48 bytes is fine, and a bad id is not echoed */
	ck_assert_int_eq(dec_json(&d, "{\"op\":\"ping\",\"id\":\"012345678901234567890123456789012345678901234567\"}"), 0);
	ck_assert_uint_eq(d.req.id_len, 50);
	dec_free(&d);
	ck_assert_int_eq(dec_json(&d, "{\"op\":\"ping\",\"id\":[1]}"), -1);
	ck_assert_uint_eq(d.req.id_len, 0);
	dec_free(&d);
}
END_TEST

START_TEST(test_request_keys_and_helpers)
{
	/* {1: "x", "op": "ping"}: non-string keys */
	static const char raw[] = "\x82\x01\xa1x\xa2op\xa4ping";
	msgpack_unpacked u;
	struct rowd_request req;
	struct rowd_error err;
	struct mpbuf b;

	unpack_one(&u, raw, sizeof raw - 1);
	rowd_error_clear(&err);
	ck_assert_int_eq(proto_request_decode(&u.data, &lim, &req, &err), -1);
	ck_assert_int_eq(err.code, ROWD_EPROTO);
	ck_assert_msg_has(&err, "keys must be strings");
	ck_assert(proto_map_get(&u.data, "op") != NULL);
	ck_assert(proto_str_eq(proto_map_get(&u.data, "op"), "ping"));
	ck_assert(!proto_str_eq(proto_map_get(&u.data, "op"), "pin"));
	ck_assert(!proto_str_eq(proto_map_get(&u.data, "op"), "pings"));
	ck_assert(proto_map_get(&u.data, "o") == NULL);
	ck_assert(proto_map_get(&u.data.via.map.ptr[0].key, "op") == NULL);
	msgpack_unpacked_destroy(&u);

	/* write_bulk over batch_rows */
	lim.batch_rows = 2;
	j2m("{\"op\":\"write_bulk\",\"handle\":1,\"rows\":[{},{},{}]}", &b);
	unpack_one(&u, b.data, b.len);
	ck_assert_int_eq(proto_request_decode(&u.data, &lim, &req, &err), -1);
	ck_assert_int_eq(err.code, ROWD_ELIMIT);
	ck_assert_msg_has(&err, "3 rows exceed the batch_rows limit (2)");
	msgpack_unpacked_destroy(&u);
	mpbuf_free(&b);

	/* a row with a non-string key */
	{
		static const char w[] = "\x83\xa2op\xa5write\xa6handle\x01\xa3row\x81\x01\x02";

		unpack_one(&u, w, sizeof w - 1);
		ck_assert_int_eq(proto_request_decode(&u.data, &lim, &req, &err), -1);
		ck_assert_int_eq(err.code, ROWD_EINVAL);
		ck_assert_msg_has(&err, "field 'row' must have string keys");
		msgpack_unpacked_destroy(&u);
	}
}
END_TEST

/* ---- answers ----------------------------------------------------------------- */

START_TEST(test_answer_begin)
{
	struct mpbuf b;
	msgpack_unpacked u;
	uint32_t count = 0;
	size_t at;

	mpbuf_init(&b);
	at = proto_answer_begin(&b, "\xa3" "abc", 4, true, &count);
	ck_assert_uint_ne(at, PROTO_POS_NONE);
	ck_assert_uint_eq(count, 2);
	ck_assert_int_eq(mpbuf_cstr(&b, "handle"), 0);
	ck_assert_int_eq(mpbuf_uint(&b, 1), 0);
	count++;
	proto_map_close(&b, at, count);
	ck_assert_str_eq(m2j(b.data, b.len), "{\"id\":\"abc\",\"ok\":true,\"handle\":1}");
	unpack_one(&u, b.data, b.len);
	ck_assert(proto_str_eq(proto_map_get(&u.data, "id"), "abc"));
	msgpack_unpacked_destroy(&u);

	/* no id: nil */
	b.len = 0;
	at = proto_answer_begin(&b, NULL, 0, false, &count);
	proto_map_close(&b, at, count);
	ck_assert_str_eq(m2j(b.data, b.len), "{\"id\":null,\"ok\":false}");

	/* arrays inside, counts patched big-endian */
	b.len = 0;
	at = proto_map_open(&b);
	ck_assert_int_eq(mpbuf_cstr(&b, "rows"), 0);
	{
		size_t arr = proto_array_open(&b);

		for (int i = 0; i < 70000; i++) {
			if (mpbuf_uint(&b, 1) < 0)
				ck_abort_msg("mpbuf_uint");
		}
		proto_array_close(&b, arr, 70000);
		ck_assert(memcmp(b.data + arr, "\xdd\x00\x01\x11\x70", 5) == 0);
	}
	proto_map_close(&b, at, 1);
	unpack_one(&u, b.data, b.len);
	ck_assert_uint_eq(proto_map_get(&u.data, "rows")->via.array.size, 70000);
	msgpack_unpacked_destroy(&u);

	/* closing a failed open does nothing */
	proto_map_close(&b, PROTO_POS_NONE, 3);
	mpbuf_free(&b);
}
END_TEST

START_TEST(test_answer_error)
{
	struct mpbuf b;
	struct rowd_error err;
	msgpack_unpacked u;
	const msgpack_object *e;

	mpbuf_init(&b);
	rowd_error_clear(&err);
	rowd_error_set(&err, ROWD_EFORMAT, "ragged row: 3 fields, header has 4");
	err.line = 12;
	err.row = 11;
	ck_assert_int_eq(proto_answer_error(&b, "\x07", 1, &err), 0);
	ck_assert_str_eq(m2j(b.data, b.len),
	                 "{\"id\":7,\"ok\":false,\"error\":{\"code\":\"EFORMAT\",\"message\":"
	                 "\"ragged row: 3 fields, header has 4\",\"line\":12,\"row\":11}}");
	unpack_one(&u, b.data, b.len);
	e = proto_map_get(&u.data, "error");
	ck_assert(e && e->via.map.size == 4);
	ck_assert(proto_str_eq(proto_map_get(e, "code"), "EFORMAT"));
	ck_assert(proto_map_get(e, "offset") == NULL);
	msgpack_unpacked_destroy(&u);

	b.len = 0;
	rowd_error_clear(&err);
	rowd_error_set(&err, ROWD_ELIMIT, "too big");
	err.offset = 0;
	ck_assert_int_eq(proto_answer_error(&b, NULL, 0, &err), 0);
	ck_assert_str_eq(m2j(b.data, b.len),
	                 "{\"id\":null,\"ok\":false,\"error\":{\"code\":\"ELIMIT\","
	                 "\"message\":\"too big\",\"offset\":0}}");
	mpbuf_free(&b);
}
END_TEST

/* ---- JSON --------------------------------------------------------------------- */

START_TEST(test_json_roundtrip)
{
	roundtrip("{\"a\":1,\"b\":[true,false,null],\"c\":{\"d\":\"e\"},\"f\":[],\"g\":{}}",
	          "{\"a\":1,\"b\":[true,false,null],\"c\":{\"d\":\"e\"},\"f\":[],\"g\":{}}");
	roundtrip(" [ 1 , -2 , 3.5 ] \n", "[1,-2,3.5]");
	roundtrip("\"h\\u00e9llo \\u2603 \\ud83d\\ude00\"", "\"h\xc3\xa9llo \xe2\x98\x83 \xf0\x9f\x98\x80\"");
	roundtrip("\"caf\xc3\xa9\"", "\"caf\xc3\xa9\"");
	roundtrip("\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u0001\\u001f\\u0000\"",
	          "\"a\\\"b\\\\c/d\\b\\f\\n\\r\\t\\u0001\\u001f\\u0000\"");
	roundtrip("18446744073709551615", "18446744073709551615");
	roundtrip("-9223372036854775808", "-9223372036854775808");
	roundtrip("9223372036854775807", "9223372036854775807");
	roundtrip("-0", "0");
	/* beyond 64 bits: a double */
	roundtrip("18446744073709551616", "1.8446744073709552e+19");
	roundtrip("-9223372036854775809", "-9.223372036854776e+18");
	/* floats: shortest text that reads back, always with a point or exponent */
	roundtrip("0.1", "0.1");
	roundtrip("1.0", "1.0");
	roundtrip("-0.0", "-0.0");
	roundtrip("3e2", "300.0");
	roundtrip("1.5e-7", "1.5e-07");
	roundtrip("123456789.123456789", "123456789.12345679");
	roundtrip("1e15", "1e+15");
	roundtrip("2.2250738585072014e-308", "2.2250738585072014e-308");
	/* out of double range: +-inf, printed as null (JSON has no inf) */
	roundtrip("[1e400,-1e400]", "[null,null]");
	roundtrip("true", "true");
	roundtrip("null", "null");
	roundtrip("\"\"", "\"\"");
}
END_TEST

START_TEST(test_json_canonical_headers)
{
	struct mpbuf b;
	struct mpbuf big;

	j2m("[1,{\"a\":[]}]", &b);
	ck_assert_uint_eq(b.len, 6);
	ck_assert(memcmp(b.data, "\x92\x01\x81\xa1" "a\x90", 6) == 0);
	mpbuf_free(&b);

	/* 20 entries: map16; 70000 elements: array32 */
	mpbuf_init(&big);
	ck_assert_int_eq(mpbuf_append(&big, "{", 1), 0);
	for (int i = 0; i < 20; i++) {
		char kv[32];

		snprintf(kv, sizeof kv, "%s\"k%d\":%d", i ? "," : "", i, i);
		ck_assert_int_eq(mpbuf_append(&big, kv, strlen(kv)), 0);
	}
	ck_assert_int_eq(mpbuf_append(&big, "}", 2), 0);
	j2m(big.data, &b);
	ck_assert(memcmp(b.data, "\xde\x00\x14", 3) == 0);
	mpbuf_free(&b);

	big.len = 0;
	ck_assert_int_eq(mpbuf_append(&big, "[0", 2), 0);
	for (int i = 1; i < 70000; i++) {
		if (mpbuf_append(&big, ",0", 2) < 0)
			ck_abort_msg("mpbuf_append");
	}
	ck_assert_int_eq(mpbuf_append(&big, "]", 2), 0);
	j2m(big.data, &b);
	ck_assert_uint_eq(b.len, 5 + 70000);
	ck_assert(memcmp(b.data, "\xdd\x00\x01\x11\x70", 5) == 0);
	mpbuf_free(&b);
	mpbuf_free(&big);
}
END_TEST

static void json_fails(const char *json, const struct rowd_limits *l, enum rowd_err code,
                       const char *msg, int64_t offset)
{
	struct mpbuf b;
	struct rowd_error err;

	mpbuf_init(&b);
	ck_assert_int_eq(mpbuf_append(&b, "xyz", 3), 0);
	rowd_error_clear(&err);
	ck_assert_msg(proto_json_to_msgpack(json, strlen(json), l, &b, &err) == -1, "accepted %s", json);
	ck_assert_msg(err.code == code, "%s: got %s (%s)", json, rowd_err_name(err.code), err.message);
	ck_assert_msg_has(&err, msg);
	if (offset >= 0)
		ck_assert_int_eq(err.offset, offset);
	else
		ck_assert_int_ge(err.offset, 0);
	/* nothing of a failed conversion is left behind */
	ck_assert_uint_eq(b.len, 3);
	mpbuf_free(&b);
}

START_TEST(test_json_errors)
{
	char deep[200];

	json_fails("", &lim, ROWD_EFORMAT, "empty", -1);
	json_fails(" \r\n\t", &lim, ROWD_EFORMAT, "empty", -1);
	/* the offset is what yajl consumed: just past the bad token */
	json_fails("{\"a\":}", &lim, ROWD_EFORMAT, "invalid JSON", 6);
	json_fails("{\"a\":1", &lim, ROWD_EFORMAT, "premature EOF", 6);
	json_fails("{} x", &lim, ROWD_EFORMAT, "trailing garbage", -1);
	json_fails("1 2", &lim, ROWD_EFORMAT, "invalid JSON", -1);
	json_fails("[1,]", &lim, ROWD_EFORMAT, "invalid JSON", -1);
	json_fails("{'a':1}", &lim, ROWD_EFORMAT, "invalid JSON", 2);
	json_fails("[1]\f", &lim, ROWD_EFORMAT, "control character 0x0c", 3);
	json_fails("\xef\xbb\xbf{}", &lim, ROWD_EFORMAT, "invalid JSON", 1);
	json_fails("[\"\xff\"]", &lim, ROWD_EFORMAT, "UTF-8", -1);
	json_fails("[\"\xc0\x80\"]", &lim, ROWD_EFORMAT, "UTF-8", -1);
	json_fails("[\"\xed\xa0\x80\"]", &lim, ROWD_EFORMAT, "UTF-8", -1);
	json_fails("{\"a\":1 /* no */}", &lim, ROWD_EFORMAT, "invalid JSON", -1);
	json_fails("[NaN]", &lim, ROWD_EFORMAT, "invalid JSON", -1);

	memset(deep, '[', sizeof deep - 1);
	deep[sizeof deep - 1] = '\0';
	json_fails(deep, &lim, ROWD_ELIMIT, "depth limit (32)", 33);
	/* unclosed but within the depth limit: a syntax error at the end */
	deep[32] = '\0';
	json_fails(deep, &lim, ROWD_EFORMAT, "premature EOF", 32);
}
END_TEST

START_TEST(test_json_limits)
{
	struct rowd_limits l = lim;
	char deep[80];
	struct mpbuf b;
	struct rowd_error err;

	l.depth = 3;
	json_fails("[[[[1]]]]", &l, ROWD_ELIMIT, "depth limit (3)", -1);
	json_fails("{\"a\":{\"b\":{\"c\":{}}}}", &l, ROWD_ELIMIT, "depth limit (3)", -1);
	mpbuf_init(&b);
	ck_assert_int_eq(proto_json_to_msgpack("[[[1]]]", 7, &l, &b, &err), 0);
	mpbuf_free(&b);

	l = lim;
	l.elements = 3;
	json_fails("[1,2,3,4]", &l, ROWD_ELIMIT, "array of more than 3 elements exceeds the elements limit (3)", -1);
	json_fails("{\"a\":1,\"b\":2,\"c\":3,\"d\":4}", &l, ROWD_ELIMIT, "object of more than 3 entries", -1);
	mpbuf_init(&b);
	ck_assert_int_eq(proto_json_to_msgpack("{\"a\":[1,2,3],\"b\":2,\"c\":3}", 25, &l, &b, &err), 0);
	mpbuf_free(&b);

	l = lim;
	l.str_bytes = 4;
	json_fails("[\"12345\"]", &l, ROWD_ELIMIT, "string of 5 bytes exceeds the str_bytes limit (4)", -1);
	json_fails("{\"12345\":1}", &l, ROWD_ELIMIT, "str_bytes limit (4)", -1);

	/* 32 levels: exactly the default */
	memset(deep, '[', 32);
	memset(deep + 32, ']', 32);
	deep[64] = '\0';
	j2m(deep, &b);
	mpbuf_free(&b);
}
END_TEST

/* Every file of JSONTestSuite: y_ parse, n_ are refused cleanly, i_ do
 * not crash. */
START_TEST(test_json_suite)
{
	DIR *d = opendir(JSON_SUITE);
	struct dirent *e;
	int y = 0, n = 0, i = 0;

	ck_assert_msg(d != NULL, "%s: %s", JSON_SUITE, strerror(errno));
	while ((e = readdir(d)) != NULL) {
		char path[1024];
		struct rowd_error err;
		struct mpbuf b;
		size_t len;
		char *p;
		int r;

		if (e->d_name[0] == '.' || !strstr(e->d_name, ".json"))
			continue;
		snprintf(path, sizeof path, "%s/%s", JSON_SUITE, e->d_name);
		p = slurp(path, &len);
		mpbuf_init(&b);
		rowd_error_clear(&err);
		r = proto_json_to_msgpack(p, len, &lim, &b, &err);
		if (e->d_name[0] == 'y') {
			ck_assert_msg(r == 0, "%s refused: %s", e->d_name, err.message);
			/* and what came out prints back as JSON */
			{
				struct mpbuf text;

				mpbuf_init(&text);
				ck_assert_int_eq(proto_msgpack_to_json(b.data, b.len, &text, &err), 0);
				mpbuf_free(&text);
			}
			y++;
		} else if (e->d_name[0] == 'n') {
			ck_assert_msg(r == -1, "%s accepted", e->d_name);
			ck_assert_msg(err.code == ROWD_EFORMAT || err.code == ROWD_ELIMIT,
			              "%s: %s", e->d_name, rowd_err_name(err.code));
			ck_assert_uint_eq(b.len, 0);
			n++;
		} else {
			ck_assert(r == 0 || err.code == ROWD_EFORMAT || err.code == ROWD_ELIMIT);
			i++;
		}
		mpbuf_free(&b);
		free(p);
	}
	closedir(d);
	ck_assert_int_ge(y, 90);
	ck_assert_int_ge(n, 180);
	ck_assert_int_ge(i, 30);
}
END_TEST

START_TEST(test_msgpack_to_json_escaping)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	struct mpbuf b, back;
	struct rowd_error err;
	msgpack_unpacked u;
	const char *text;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 11);
	msgpack_pack_str_with_body(&pk, "ctl", 3);
	msgpack_pack_str_with_body(&pk, "\x01\x1f\x7f\"\\\n", 6);
	msgpack_pack_str_with_body(&pk, "bad", 3);
	/* lone 0xff, overlong NUL, encoded surrogate, truncated 3-byte tail */
	msgpack_pack_str_with_body(&pk, "a\xff" "b\xc0\x80" "c\xed\xa0\x80" "d\xe2\x82", 12);
	msgpack_pack_str_with_body(&pk, "ok", 2);
	msgpack_pack_str_with_body(&pk, "\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf", 8);
	msgpack_pack_str_with_body(&pk, "bin", 3);
	msgpack_pack_bin_with_body(&pk, "\x00\x80z", 3);
	msgpack_pack_int(&pk, 5);                            /* int key */
	msgpack_pack_str_with_body(&pk, "five", 4);
	msgpack_pack_nil(&pk);                               /* nil key */
	msgpack_pack_float(&pk, 1.5f);
	msgpack_pack_array(&pk, 2);                          /* array key */
	msgpack_pack_int(&pk, 1);
	msgpack_pack_str_with_body(&pk, "x", 1);
	msgpack_pack_ext_with_body(&pk, "abcd", 4, 3);
	msgpack_pack_str_with_body(&pk, "f32", 3);
	msgpack_pack_float(&pk, 0.1f);
	msgpack_pack_str_with_body(&pk, "nan", 3);
	msgpack_pack_double(&pk, 0.0 / 0.0);
	msgpack_pack_str_with_body(&pk, "neg", 3);
	msgpack_pack_array(&pk, 4);
	msgpack_pack_int8(&pk, -100);
	msgpack_pack_int16(&pk, -30000);
	msgpack_pack_int32(&pk, -2000000000);
	msgpack_pack_int64(&pk, INT64_MIN);
	msgpack_pack_true(&pk);                              /* bool key */
	msgpack_pack_ext_with_body(&pk, "12345678", 8, 1);   /* fixext8 */

	text = m2j(sb.data, sb.size);
	ck_assert_str_eq(text,
	                 "{\"ctl\":\"\\u0001\\u001f\x7f\\\"\\\\\\n\","
	                 "\"bad\":\"a\\ufffdb\\ufffd\\ufffdc\\ufffd\\ufffd\\ufffdd\\ufffd\\ufffd\","
	                 "\"ok\":\"\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\","
	                 "\"bin\":\"\\u0000\\ufffdz\","
	                 "\"5\":\"five\",\"null\":1.5,\"[1,\\\"x\\\"]\":null,"
	                 "\"f32\":0.1,\"nan\":null,"
	                 "\"neg\":[-100,-30000,-2000000000,-9223372036854775808],"
	                 "\"true\":null}");

	/* the output is valid JSON, by our strict parser */
	mpbuf_init(&back);
	rowd_error_clear(&err);
	ck_assert_msg(proto_json_to_msgpack(text, strlen(text), &lim, &back, &err) == 0, "%s", err.message);
	mpbuf_free(&back);

	/* the object walker prints the same */
	unpack_one(&u, sb.data, sb.size);
	mpbuf_init(&b);
	ck_assert_int_eq(proto_object_to_json(&u.data, &b), 0);
	ck_assert_uint_eq(b.len, strlen(text));
	ck_assert(memcmp(b.data, text, b.len) == 0);
	mpbuf_free(&b);
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

START_TEST(test_msgpack_to_json_errors)
{
	struct mpbuf b;
	struct rowd_error err;
	char deep[300];

	mpbuf_init(&b);
	ck_assert_int_eq(mpbuf_append(&b, "keep", 4), 0);
	rowd_error_clear(&err);
	ck_assert_int_eq(proto_msgpack_to_json("\x92\x01", 2, &b, &err), -1);
	ck_assert_int_eq(err.code, ROWD_EFORMAT);
	ck_assert_msg_has(&err, "truncated");
	ck_assert_int_eq(proto_msgpack_to_json("\xdb\xff\xff\xff\xff" "ab", 7, &b, &err), -1);
	ck_assert_msg_has(&err, "truncated");
	ck_assert_int_eq(proto_msgpack_to_json("\xdd\xff\xff\xff\xff", 5, &b, &err), -1);
	ck_assert_int_eq(proto_msgpack_to_json("\x91\xc1", 2, &b, &err), -1);
	ck_assert_msg_has(&err, "0xc1");
	ck_assert_int_eq(err.offset, 1);
	ck_assert_int_eq(proto_msgpack_to_json("", 0, &b, &err), -1);
	memset(deep, 0x91, sizeof deep);
	ck_assert_int_eq(proto_msgpack_to_json(deep, sizeof deep, &b, &err), -1);
	ck_assert_msg_has(&err, "nested too deeply");
	ck_assert_uint_eq(b.len, 4);

	/* several objects: one line each */
	ck_assert_int_eq(proto_msgpack_to_json("\x01\x81\xa1" "a\xc3", 5, &b, &err), 0);
	ck_assert_uint_eq(b.len, 4 + 13);
	ck_assert(memcmp(b.data + 4, "1\n{\"a\":true}\n", 13) == 0);
	mpbuf_free(&b);
}
END_TEST

/* ---- text mode ----------------------------------------------------------- */

/* A text line as the JSON of the request it makes, and that request
 * must pass the decoder. */
static void text_is(const char *line, const char *expect)
{
	struct mpbuf b;
	struct rowd_error err;
	msgpack_unpacked u;
	struct rowd_request req;

	mpbuf_init(&b);
	rowd_error_clear(&err);
	ck_assert_msg(proto_text_to_request(line, strlen(line), &lim, &b, &err) == 0,
	              "'%s': %s", line, err.message);
	ck_assert_str_eq(m2j(b.data, b.len), expect);
	unpack_one(&u, b.data, b.len);
	ck_assert_msg(proto_request_decode(&u.data, &lim, &req, &err) == 0, "'%s': %s", line, err.message);
	msgpack_unpacked_destroy(&u);
	mpbuf_free(&b);
}

static void text_fails(const char *line, enum rowd_err code, const char *msg)
{
	struct mpbuf b;
	struct rowd_error err;

	mpbuf_init(&b);
	rowd_error_clear(&err);
	ck_assert_msg(proto_text_to_request(line, strlen(line), &lim, &b, &err) == -1, "accepted '%s'", line);
	ck_assert_msg(err.code == code, "'%s': got %s (%s)", line, rowd_err_name(err.code), err.message);
	ck_assert_msg_has(&err, msg);
	ck_assert_uint_eq(b.len, 0);
	mpbuf_free(&b);
}

START_TEST(test_text_commands)
{
	text_is("ping", "{\"op\":\"ping\"}");
	text_is("  PING \r", "{\"op\":\"ping\"}");
	text_is("hello", "{\"op\":\"hello\"}");
	text_is("stats", "{\"op\":\"stats\"}");
	text_is("help", "{\"op\":\"help\"}");
	text_is("read 1", "{\"op\":\"read\",\"handle\":1}");
	text_is("read_bulk 1 3", "{\"op\":\"read_bulk\",\"handle\":1,\"n\":3}");
	text_is("reset 2", "{\"op\":\"reset\",\"handle\":2}");
	text_is("totals 2", "{\"op\":\"totals\",\"handle\":2}");
	text_is("close\t2", "{\"op\":\"close\",\"handle\":2}");
	text_is("open sample.csv", "{\"op\":\"open\",\"path\":\"sample.csv\"}");
	text_is("open \"my data.csv\" delimiter=; header=false fieldnames=[\"a b\",\"c\"] skip_rows=2 "
	        "level=9 format=csv mode=r quotechar=\"'\" member=x.csv",
	        "{\"op\":\"open\",\"path\":\"my data.csv\",\"format\":\"csv\",\"mode\":\"r\","
	        "\"options\":{\"delimiter\":\";\",\"header\":false,\"fieldnames\":[\"a b\",\"c\"],"
	        "\"skip_rows\":2,\"quotechar\":\"'\"},\"codec_options\":{\"level\":9,\"member\":\"x.csv\"}}");
	text_is("open dir/\"a \\\"b\\\" \\\\c\".csv", "{\"op\":\"open\",\"path\":\"dir/a \\\"b\\\" \\\\c.csv\"}");
	text_is("open out.csv mode=w encoding=", "{\"op\":\"open\",\"path\":\"out.csv\",\"mode\":\"w\","
	        "\"options\":{\"encoding\":\"\"}}");
	text_is("detect x.csv.gz", "{\"op\":\"detect\",\"path\":\"x.csv.gz\"}");
	text_is("tables \"a b.sqlite\"", "{\"op\":\"tables\",\"path\":\"a b.sqlite\"}");
	text_is("write 1 {\"a\": 1, \"b\": \"x y\"}", "{\"op\":\"write\",\"handle\":1,\"row\":{\"a\":1,\"b\":\"x y\"}}");
	text_is("write_bulk 1 [{\"a\":1},{\"a\":2}]",
	        "{\"op\":\"write_bulk\",\"handle\":1,\"rows\":[{\"a\":1},{\"a\":2}]}");
	text_is("stream 1 batch=100 limit=5 progress=true",
	        "{\"op\":\"stream\",\"handle\":1,\"batch\":100,\"limit\":5,\"progress\":true}");
	text_is("cancel 7", "{\"op\":\"cancel\",\"target\":7}");
	text_is("cancel abc", "{\"op\":\"cancel\",\"target\":\"abc\"}");
	text_is("cancel \"7\"", "{\"op\":\"cancel\",\"target\":\"7\"}");
	text_is("convert in.csv out.jsonl.zst to.format=jsonl to.level=3 from.delimiter=; batch=500",
	        "{\"op\":\"convert\",\"from\":{\"path\":\"in.csv\",\"options\":{\"delimiter\":\";\"}},"
	        "\"to\":{\"path\":\"out.jsonl.zst\",\"format\":\"jsonl\",\"codec_options\":{\"level\":3}},"
	        "\"batch\":500}");
	text_is("{\"op\":\"read\",\"handle\":1,\"id\":9}", "{\"op\":\"read\",\"handle\":1,\"id\":9}");
	text_is("   {\"op\":\"ping\"}  \r", "{\"op\":\"ping\"}");
}
END_TEST

START_TEST(test_text_errors)
{
	struct mpbuf b;
	struct rowd_error err;
	struct rowd_limits l = lim;

	text_fails("", ROWD_EPROTO, "empty line");
	text_fails(" \r", ROWD_EPROTO, "empty line");
	text_fails("frobnicate 1", ROWD_EPROTO, "unknown command 'frobnicate' (try help)");
	text_fails("read_bulk 1 x", ROWD_EPROTO, "read_bulk: N must be a positive integer");
	text_fails("read_bulk 1 0", ROWD_EPROTO, "read_bulk: N must be a positive integer");
	text_fails("read_bulk 1 -3", ROWD_EPROTO, "N must be a positive integer");
	text_fails("read_bulk 1", ROWD_EPROTO, "usage: read_bulk H N");
	text_fails("read 99999999999999999999999", ROWD_EPROTO, "read: H must be a positive integer");
	text_fails("read 1 2", ROWD_EPROTO, "usage: read H");
	text_fails("ping now", ROWD_EPROTO, "usage: ping");
	text_fails("open", ROWD_EPROTO, "usage: open PATH");
	text_fails("open x.csv header", ROWD_EPROTO, "expected key=value, got 'header'");
	text_fails("open x.csv =1", ROWD_EPROTO, "expected key=value");
	text_fails("open \"x.csv", ROWD_EPROTO, "unterminated quote");
	text_fails("write 1", ROWD_EPROTO, "usage: write H");
	text_fails("write 1 {\"a\":", ROWD_EPROTO, "invalid JSON");
	text_fails("write x {}", ROWD_EPROTO, "write: H must be a positive integer");
	text_fails("{\"op\":", ROWD_EPROTO, "invalid JSON");
	text_fails("{\"op\":\"ping\"} x", ROWD_EPROTO, "invalid JSON");
	text_fails("open x.csv fieldnames=[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
	           ROWD_ELIMIT, "depth limit");

	/* the offset of a JSON error counts from the start of the line */
	mpbuf_init(&b);
	rowd_error_clear(&err);
	ck_assert_int_eq(proto_text_to_request("  {\"op\" 1}", 10, &lim, &b, &err), -1);
	ck_assert_int_eq(err.offset, 2 + 7);

	l.text_line = 8;
	ck_assert_int_eq(proto_text_to_request("read_bulk 1 3", 13, &l, &b, &err), -1);
	ck_assert_int_eq(err.code, ROWD_ELIMIT);
	ck_assert_msg_has(&err, "text_line limit (8)");
	mpbuf_free(&b);

	/* handle range is the decoder's to judge */
	{
		struct dec d;

		mpbuf_init(&d.buf);
		ck_assert_int_eq(proto_text_to_request("read 4294967296", 15, &lim, &d.buf, &err), 0);
		unpack_one(&d.u, d.buf.data, d.buf.len);
		ck_assert_int_eq(proto_request_decode(&d.u.data, &lim, &d.req, &err), -1);
		ck_assert_int_eq(err.code, ROWD_EINVAL);
		dec_free(&d);
	}
	/* a convert key without a known home is refused by the decoder, not dropped */
	{
		struct dec d;

		mpbuf_init(&d.buf);
		ck_assert_int_eq(proto_text_to_request("convert a b format=csv", 22, &lim, &d.buf, &err), 0);
		unpack_one(&d.u, d.buf.data, d.buf.len);
		ck_assert_int_eq(proto_request_decode(&d.u.data, &lim, &d.req, &err), -1);
		ck_assert_msg_has(&err, "unknown field 'format' for op 'convert'");
		dec_free(&d);
	}
}
END_TEST

START_TEST(test_text_help)
{
	const char *h = proto_text_help();

	ck_assert(strstr(h, "open sample.csv") != NULL);
	ck_assert(strstr(h, "read_bulk 1 3") != NULL);
	for (int op = 0; op < OP_COUNT; op++)
		ck_assert_msg(strstr(h, rowd_op_name((enum rowd_op)op)) != NULL, "help lacks %s",
		              rowd_op_name((enum rowd_op)op));
}
END_TEST

/* ---- out of memory ---------------------------------------------------------- */

/* A buffer that refuses to grow: mpbuf_grow fails before touching memory
 * when len is near SIZE_MAX / 2, and nothing is written without room. */
static void full_buffer(struct mpbuf *b, char *dummy)
{
	b->data = dummy;
	b->len = SIZE_MAX / 2;
	b->cap = SIZE_MAX / 2;
}

START_TEST(test_nomem)
{
	char dummy[1];
	struct mpbuf b;
	struct rowd_error err;
	uint32_t count;
	msgpack_unpacked u;

	full_buffer(&b, dummy);
	ck_assert_uint_eq(proto_map_open(&b), PROTO_POS_NONE);
	ck_assert_uint_eq(proto_array_open(&b), PROTO_POS_NONE);
	ck_assert_uint_eq(proto_answer_begin(&b, "\x01", 1, true, &count), PROTO_POS_NONE);
	rowd_error_clear(&err);
	rowd_error_set(&err, ROWD_EIO, "disk on fire");
	ck_assert_int_eq(proto_answer_error(&b, NULL, 0, &err), -1);

	ck_assert_int_eq(proto_json_to_msgpack("[1]", 3, &lim, &b, &err), -1);
	ck_assert_int_eq(err.code, ROWD_ENOMEM);
	ck_assert_int_eq(proto_json_to_msgpack("\"x\"", 3, &lim, &b, &err), -1);
	ck_assert_int_eq(err.code, ROWD_ENOMEM);

	rowd_error_clear(&err);
	ck_assert_int_eq(proto_msgpack_to_json("\x81\xa1" "a\x01", 4, &b, &err), -1);
	ck_assert_int_eq(err.code, ROWD_ENOMEM);
	unpack_one(&u, "\x81\xa1" "a\x01", 4);
	ck_assert_int_eq(proto_object_to_json(&u.data, &b), -1);
	msgpack_unpacked_destroy(&u);

	rowd_error_clear(&err);
	ck_assert_int_eq(proto_text_to_request("read_bulk 1 3", 13, &lim, &b, &err), -1);
	ck_assert_int_eq(err.code, ROWD_ENOMEM);
	rowd_error_clear(&err);
	ck_assert_int_eq(proto_text_to_request("{\"op\":\"ping\"}", 13, &lim, &b, &err), -1);
	ck_assert_int_eq(err.code, ROWD_ENOMEM);
	/* nothing was written */
	ck_assert_uint_eq(b.len, SIZE_MAX / 2);
}
END_TEST

/* Maps used as keys of maps used as keys...: each level's JSON text is
 * escaped again as the key, doubling it; a few hundred bytes once made
 * gigabytes (found by fuzz_proto). Such a key's text is cut at 4 KiB. */
START_TEST(test_msgpack_to_json_nested_keys)
{
	struct rowd_error err;
	struct mpbuf in, out;
	msgpack_unpacked up;
	size_t off = 0;

	mpbuf_init(&in);
	mpbuf_init(&out);
	for (int i = 0; i < 25; i++)
		ck_assert_int_eq(mpbuf_append(&in, "\x81", 1), 0);
	ck_assert_int_eq(mpbuf_append(&in, "\xa1" "a", 2), 0);
	for (int i = 0; i < 25; i++)
		ck_assert_int_eq(mpbuf_append(&in, "\xc0", 1), 0);
	rowd_error_clear(&err);
	ck_assert_int_eq(proto_msgpack_to_json(in.data, in.len, &out, &err), 0);
	ck_assert_uint_lt(out.len, 3 * 4096);
	out.len = 0;
	msgpack_unpacked_init(&up);
	ck_assert(msgpack_unpack_next(&up, in.data, in.len, &off) == MSGPACK_UNPACK_SUCCESS);
	ck_assert_int_eq(proto_object_to_json(&up.data, &out), 0);
	ck_assert_uint_lt(out.len, 3 * 4096);
	out.len = 0;
	msgpack_unpacked_destroy(&up);
	/* A few levels stay printable. */
	mpbuf_free(&in);
	mpbuf_init(&in);
	ck_assert_int_eq(mpbuf_append(&in, "\x81\x81\xa1" "a\xc0\xc0", 6), 0);
	ck_assert_int_eq(proto_msgpack_to_json(in.data, in.len, &out, &err), 0);
	{
		static const char want[] = "{\"{\\\"a\\\":null}\":null}\n";

		ck_assert_msg(out.len == sizeof want - 1 && memcmp(out.data, want, out.len) == 0,
		              "%.*s", (int)out.len, out.data);
	}
	mpbuf_free(&in);
	mpbuf_free(&out);
}
END_TEST

static Suite *proto_suite(void)
{
	Suite *s = suite_create("proto");
	struct {
		const char *name;
		const TTest *tests[12];
	} cases[] = {
		{ "errors", { test_err_names, test_error_values, test_limits_default } },
		{ "scan", { test_scan_byte_at_a_time, test_scan_every_split, test_scan_pipelined,
		            test_scan_hostile_headers, test_scan_depth, test_scan_small_limits } },
		{ "request", { test_request_ops_good, test_request_ops_bad, test_request_id_echo,
		               test_request_keys_and_helpers } },
		{ "answer", { test_answer_begin, test_answer_error } },
		{ "json", { test_json_roundtrip, test_json_canonical_headers, test_json_errors,
		            test_json_limits, test_json_suite, test_msgpack_to_json_escaping,
		            test_msgpack_to_json_errors, test_msgpack_to_json_nested_keys } },
		{ "text", { test_text_commands, test_text_errors, test_text_help } },
		{ "nomem", { test_nomem } },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		TCase *tc = tcase_create(cases[i].name);

		tcase_add_checked_fixture(tc, setup, NULL);
		tcase_set_timeout(tc, 60);
		for (size_t j = 0; j < 12 && cases[i].tests[j]; j++)
			tcase_add_test(tc, cases[i].tests[j]);
		suite_add_tcase(s, tc);
	}
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(proto_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0;
}
