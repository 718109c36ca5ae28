/* Unit tests of the XML format (daemon/formats/xml.c). */
#define _GNU_SOURCE
#include <check.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fmt_harness.h"

extern const struct format_ops format_xml;
extern const struct codec_ops codec_gzip;

#define CONF TOP_SRCDIR "/tests/data/conformance"
#define BOOK "{\"tagname\": \"book\"}"

/* ---- helpers -------------------------------------------------------------- */

static struct fmt_result rd(const char *doc, const char *opts, size_t batch)
{
	return fmt_read_all(&format_xml, doc, strlen(doc), opts, batch);
}

/* Maps compare as sets of entries: key order is not part of a row. */
static bool same_value(const msgpack_object *a, const msgpack_object *b)
{
	if (a->type != b->type)
		return false;
	if (a->type == MSGPACK_OBJECT_ARRAY) {
		if (a->via.array.size != b->via.array.size)
			return false;
		for (uint32_t i = 0; i < a->via.array.size; i++)
			if (!same_value(&a->via.array.ptr[i], &b->via.array.ptr[i]))
				return false;
		return true;
	}
	if (a->type != MSGPACK_OBJECT_MAP)
		return msgpack_object_equal(*a, *b);
	if (a->via.map.size != b->via.map.size)
		return false;
	for (uint32_t i = 0; i < a->via.map.size; i++) {
		const msgpack_object_kv *ka = &a->via.map.ptr[i];
		bool found = false;

		for (uint32_t j = 0; j < b->via.map.size && !found; j++)
			found = msgpack_object_equal(ka->key, b->via.map.ptr[j].key) &&
			        same_value(&ka->val, &b->via.map.ptr[j].val);
		if (!found)
			return false;
	}
	return true;
}

/* The rows of r equal the JSON Lines expected, up to key order. */
static void assert_same_rows(const struct fmt_result *r, const char *expected)
{
	struct rowd_limits lim;
	struct rowd_error err;
	struct mpbuf want;
	msgpack_unpacked ua, ub;
	size_t oa = 0, ob = 0, n = 0;
	const char *p = expected;

	ck_assert_msg(r->rc == 0, "%s: %s", rowd_err_name(r->err.code), r->err.message);
	rowd_limits_default(&lim);
	mpbuf_init(&want);
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		size_t trimmed = len;

		while (trimmed && (p[trimmed - 1] == '\r' || p[trimmed - 1] == ' '))
			trimmed--;
		if (trimmed)
			ck_assert_msg(proto_json_to_msgpack(p, trimmed, &lim, &want, &err) == 0, "bad expected row: %s",
			              err.message);
		p += len + (nl ? 1 : 0);
	}
	msgpack_unpacked_init(&ua);
	msgpack_unpacked_init(&ub);
	while (ob < want.len) {
		ck_assert(msgpack_unpack_next(&ub, want.data, want.len, &ob) == MSGPACK_UNPACK_SUCCESS);
		ck_assert_msg(msgpack_unpack_next(&ua, r->packed, r->packed_len, &oa) == MSGPACK_UNPACK_SUCCESS,
		              "row %zu missing; got:\n%s\nwant:\n%s", n + 1, r->jsonl, expected);
		ck_assert_msg(same_value(&ua.data, &ub.data), "row %zu differs; got:\n%s\nwant:\n%s", n + 1,
		              r->jsonl, expected);
		n++;
	}
	ck_assert_msg(oa == r->packed_len, "more rows than expected:\n%s", r->jsonl);
	ck_assert_int_eq(r->nrows, n);
	msgpack_unpacked_destroy(&ua);
	msgpack_unpacked_destroy(&ub);
	mpbuf_free(&want);
}

static void assert_fails(const struct fmt_result *r, enum rowd_err code, const char *needle)
{
	ck_assert_msg(r->rc == -1, "expected %s, got success:\n%s", rowd_err_name(code), r->jsonl);
	ck_assert_msg(r->err.code == code, "expected %s, got %s: %s", rowd_err_name(code),
	              rowd_err_name(r->err.code), r->err.message);
	if (needle)
		ck_assert_msg(strstr(r->err.message, needle), "message '%s' lacks '%s'", r->err.message,
		              needle);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- rows ----------------------------------------------------------------- */

START_TEST(books_conformance)
{
	char *want = fmt_slurp(CONF "/iterabledata/books.jsonl", NULL);
	struct fmt_result r = fmt_read_file(&format_xml, CONF "/iterabledata/books.xml", BOOK, NULL);

	ck_assert_ptr_nonnull(want);
	assert_same_rows(&r, want);
	ck_assert_int_eq(r.nrows, 3);
	fmt_result_free(&r);
	free(want);
}
END_TEST

static const char shapes_doc[] =
	"<?xml version=\"1.0\"?>\n"
	"<!-- a comment -->\n"
	"<root xmlns:p=\"urn:p\">\n"
	"  <item id=\"1\" p:flag=\"y\">\n"
	"    <name>Widget</name>\n"
	"    <tag>a</tag>\n"
	"    <tag>b</tag>\n"
	"    <empty/>\n"
	"    <blank> </blank>\n"
	"    <size unit=\"cm\">12</size>\n"
	"    <dims><w>1</w><h>2</h><h>3</h></dims>\n"
	"    <p:note>hi</p:note>\n"
	"    <mixed>\n  before <b>bold</b> after\n  </mixed>\n"
	"    <cdata><![CDATA[<x> & y]]></cdata>\n"
	"    <?pi ignored?><!-- ignored -->\n"
	"    <esc>a &amp; b &#233; &lt;</esc>\n"
	"    <ns xmlns=\"urn:d\" xmlns:q=\"urn:q\" q:a=\"1\"/>\n"
	"    <spaced a=\"1\">  x  </spaced>\n"
	"  </item>\n"
	"  <other><item>nested in other</item></other>\n"
	"  <item/>\n"
	"  <item>just text</item>\n"
	"  <item><item>inner</item></item>\n"
	"</root>\n";

START_TEST(shapes)
{
	struct fmt_result r = rd(shapes_doc, "{\"tagname\": \"item\"}", 1000);

	assert_same_rows(&r,
		"{\"@id\":\"1\",\"@p:flag\":\"y\",\"name\":\"Widget\",\"tag\":[\"a\",\"b\"],\"empty\":null,"
		"\"blank\":\" \",\"size\":{\"@unit\":\"cm\",\"#text\":\"12\"},"
		"\"dims\":{\"w\":\"1\",\"h\":[\"2\",\"3\"]},\"p:note\":\"hi\","
		"\"mixed\":{\"b\":\"bold\",\"#text\":\"before  after\"},\"cdata\":\"<x> & y\","
		"\"esc\":\"a & b \xc3\xa9 <\","
		"\"ns\":{\"@xmlns\":\"urn:d\",\"@xmlns:q\":\"urn:q\",\"@q:a\":\"1\"},"
		"\"spaced\":{\"@a\":\"1\",\"#text\":\"  x  \"}}\n"
		"{\"#text\":\"nested in other\"}\n"
		"{}\n"
		"{\"#text\":\"just text\"}\n"
		"{\"item\":\"inner\"}\n");
	fmt_result_free(&r);
}
END_TEST

START_TEST(repeated_children_keep_first_place)
{
	struct fmt_result r = rd("<r><row><b>1</b><a>2</a><b>3</b><c/><b>4</b></row></r>",
	                         "{\"tagname\": \"row\"}", 10);

	ck_assert_int_eq(r.rc, 0);
	ck_assert_str_eq(r.jsonl, "{\"b\":[\"1\",\"3\",\"4\"],\"a\":\"2\",\"c\":null}\n");
	fmt_result_free(&r);
	/* A prefixed name matches by its local name too. */
	r = rd("<r xmlns:x=\"urn:x\"><x:row k=\"v\"/><row/></r>", "{\"tagname\": \"row\"}", 10);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_str_eq(r.jsonl, "{\"@k\":\"v\"}\n{}\n");
	fmt_result_free(&r);
}
END_TEST

START_TEST(batch_sizes_equal)
{
	struct mpbuf doc;
	struct fmt_result r[3];
	static const size_t batches[] = { 1, 2, 1000 };

	mpbuf_init(&doc);
	ck_assert_int_eq(mpbuf_append(&doc, "<list>\n", 7), 0);
	for (int i = 0; i < 1000; i++) {
		char row[160];

		snprintf(row, sizeof row, "<book n=\"%d\"><title>T%d</title><a>x</a><a>y%d</a></book>\n", i, i, i);
		ck_assert_int_eq(mpbuf_append(&doc, row, strlen(row)), 0);
	}
	ck_assert_int_eq(mpbuf_append(&doc, "</list>\n", 9), 0);
	for (int i = 0; i < 3; i++) {
		r[i] = rd(doc.data, BOOK, batches[i]);
		ck_assert_msg(r[i].rc == 0, "%s", r[i].err.message);
		ck_assert_int_eq(r[i].nrows, 1000);
	}
	for (int i = 1; i < 3; i++) {
		ck_assert_uint_eq(r[i].packed_len, r[0].packed_len);
		ck_assert(memcmp(r[i].packed, r[0].packed, r[0].packed_len) == 0);
	}
	ck_assert(strstr(r[0].jsonl, "{\"@n\":\"999\",\"title\":\"T999\",\"a\":[\"x\",\"y999\"]}\n"));
	for (int i = 0; i < 3; i++)
		fmt_result_free(&r[i]);
	mpbuf_free(&doc);
}
END_TEST

/* tables: the element names that repeat under one parent, in the order
 * they first repeat; bad XML is an error with its line. */
static char *tables_of(const char *xml, const char *options, struct rowd_error *err)
{
	char path[] = "/tmp/rowd-xml-XXXXXX";
	int fd = mkstemp(path);
	char *res;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, xml, strlen(xml)), (ssize_t)strlen(xml));
	close(fd);
	res = fmt_tables_raw(&format_xml, path, options, err);
	unlink(path);
	return res;
}

START_TEST(tables_list_repeated_elements)
{
	struct rowd_error err;
	char *t = fmt_tables_raw(&format_xml, CONF "/iterabledata/books.xml", NULL, &err);

	ck_assert_msg(t, "%s", err.message);
	ck_assert_str_eq(t, "[\"book\"]");
	free(t);
	t = tables_of("<r><a><x/><x k='1'/></a><a><y/><y/><x/></a><b/><p:c xmlns:p='u'/>"
	              "<p:c xmlns:p='u'/></r>", NULL, &err);
	ck_assert_msg(t, "%s", err.message);
	ck_assert_str_eq(t, "[\"x\",\"a\",\"y\",\"p:c\"]");
	free(t);
	t = tables_of("<only><one/></only>", NULL, &err);
	ck_assert_str_eq(t, "[]");
	free(t);
	ck_assert(tables_of("<r><a></r>", NULL, &err) == NULL);
	ck_assert_int_eq(err.code, ROWD_EFORMAT);
	ck_assert_int_eq(err.line, 1);
	ck_assert(tables_of("<r/>", "{\"tagname\":\"a\"}", &err) == NULL);
	ck_assert_int_eq(err.code, ROWD_EINVAL);
}
END_TEST

START_TEST(gzip_codec)
{
	char path[] = "/tmp/rowd-xml-XXXXXX";
	int fd = mkstemp(path);
	struct rowd_error err;
	struct output out;
	struct fmt_result r;
	size_t n;
	char *xml = fmt_slurp(CONF "/iterabledata/books.xml", &n);
	char *want = fmt_slurp(CONF "/iterabledata/books.jsonl", NULL);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(output_open(&out, fd, &codec_gzip, NULL, &err), 0);
	ck_assert_int_eq(mpbuf_append(&out.buf, xml, n), 0);
	ck_assert_int_eq(output_finish(&out, &err), 0);
	output_close(&out);
	close(fd);
	r = fmt_read_file(&format_xml, path, BOOK, &codec_gzip);
	assert_same_rows(&r, want);
	fmt_result_free(&r);
	unlink(path);
	free(xml);
	free(want);
}
END_TEST

START_TEST(encodings)
{
	struct fmt_result r = rd("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><r><book><n>caf\xe9</n></book></r>",
	                         BOOK, 10);

	ck_assert_int_eq(r.rc, 0);
	ck_assert_str_eq(r.jsonl, "{\"n\":\"caf\xc3\xa9\"}\n");
	fmt_result_free(&r);
	/* A UTF-8 document must be UTF-8. */
	r = rd("<r><book><n>caf\xe9</n></book></r>", BOOK, 10);
	assert_fails(&r, ROWD_EFORMAT, "line 1:");
	fmt_result_free(&r);
	/* A BOM is fine. */
	r = rd("\xef\xbb\xbf<r><book><n>x</n></book></r>", BOOK, 10);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_str_eq(r.jsonl, "{\"n\":\"x\"}\n");
	fmt_result_free(&r);
}
END_TEST

/* ---- errors --------------------------------------------------------------- */

/* A document with a good row, pad bytes of comment, then a broken row on
 * line 4 (and more after it). */
static char *broken_doc(size_t pad)
{
	static const char head[] = "<r>\n<book><x>1</x></book>\n<!--";
	static const char tail[] = "-->\n<book><x>2</y></book>\n<book/></r>\n";
	char *doc = malloc(sizeof head + pad + sizeof tail);

	ck_assert_ptr_nonnull(doc);
	memcpy(doc, head, sizeof head - 1);
	memset(doc + sizeof head - 1, 'c', pad);
	memcpy(doc + sizeof head - 1 + pad, tail, sizeof tail);
	return doc;
}

START_TEST(malformed_has_line)
{
	char *doc = broken_doc(0);
	struct fmt_result r = rd(doc, BOOK, 10);

	/* The parser reads ahead: a row just before the error may not come. */
	assert_fails(&r, ROWD_EFORMAT, "line 4: Opening and ending tag mismatch");
	ck_assert_int_eq(r.err.line, 4);
	ck_assert_int_le(r.nrows, 1);
	fmt_result_free(&r);
	free(doc);
	/* Far enough before it, it does; not even skip goes past broken XML. */
	doc = broken_doc(8192);
	r = rd(doc, BOOK, 10);
	assert_fails(&r, ROWD_EFORMAT, "line 4: ");
	ck_assert_int_eq(r.nrows, 1);
	ck_assert_str_eq(r.jsonl, "{\"x\":\"1\"}\n");
	fmt_result_free(&r);
	r = rd(doc, "{\"tagname\": \"book\", \"on_error\": \"skip\"}", 1);
	assert_fails(&r, ROWD_EFORMAT, "line 4: ");
	ck_assert_int_eq(r.nrows, 1);
	fmt_result_free(&r);
	free(doc);
}
END_TEST

START_TEST(truncated_and_not_xml)
{
	struct fmt_result r = rd("<r><book><x>1</x></book>\n<book><x>", BOOK, 10);

	assert_fails(&r, ROWD_EFORMAT, "line 2");
	ck_assert_int_eq(r.nrows, 1);
	fmt_result_free(&r);
	r = rd("just some text\n", BOOK, 10);
	assert_fails(&r, ROWD_EFORMAT, "line 1: ");
	fmt_result_free(&r);
	r = rd("", BOOK, 10);
	ck_assert_int_eq(r.rc, -1);
	ck_assert_int_eq(r.err.code, ROWD_EFORMAT);
	fmt_result_free(&r);
	/* No element of that name: no rows, no error. */
	r = rd("<r><a/></r>", BOOK, 10);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_int_eq(r.nrows, 0);
	fmt_result_free(&r);
}
END_TEST

START_TEST(options)
{
	struct fmt_result r = rd("<r/>", NULL, 10);

	assert_fails(&r, ROWD_EINVAL, "option 'tagname' is required for xml");
	fmt_result_free(&r);
	r = rd("<r/>", "{\"tagname\": \"\"}", 10);
	assert_fails(&r, ROWD_EINVAL, "'tagname'");
	fmt_result_free(&r);
	r = rd("<r/>", "{\"tagname\": 3}", 10);
	assert_fails(&r, ROWD_EINVAL, "'tagname'");
	fmt_result_free(&r);
	r = rd("<r/>", "{\"tagname\": \"r\", \"xpath\": \"/r\"}", 10);
	assert_fails(&r, ROWD_EINVAL, "unknown option 'xpath'");
	fmt_result_free(&r);
	r = rd("<r/>", "{\"tagname\": \"r\", \"on_error\": \"warn\"}", 10);
	assert_fails(&r, ROWD_EINVAL, "on_error");
	fmt_result_free(&r);
}
END_TEST

START_TEST(limits)
{
	struct rowd_limits lim;
	struct mpbuf doc;
	struct fmt_result r;
	double t0;

	rowd_limits_default(&lim);
	lim.row_bytes = 16384;
	mpbuf_init(&doc);
	/* A small row, then a row of 30 MB (it must stop long before). */
	ck_assert_int_eq(mpbuf_append(&doc, "<r><book><t>ok</t></book><book><t>", 34), 0);
	ck_assert_int_eq(mpbuf_reserve(&doc, 30u << 20), 0);
	memset(doc.data + doc.len, 'x', 30u << 20);
	doc.len += 30u << 20;
	ck_assert_int_eq(mpbuf_append(&doc, "</t></book></r>", 16), 0);
	t0 = now_s();
	r = fmt_read_all_limits(&format_xml, doc.data, doc.len - 1, BOOK, 10, &lim);
	assert_fails(&r, ROWD_ELIMIT, "row 2: ");
	ck_assert_int_eq(r.nrows, 1);
	ck_assert_int_eq(r.err.row, 2);
	ck_assert_msg(now_s() - t0 < 5, "took %.1f s", now_s() - t0);
	fmt_result_free(&r);
	/* Many small children add up too. */
	doc.len = 0;
	ck_assert_int_eq(mpbuf_append(&doc, "<r><book>", 9), 0);
	for (int i = 0; i < 5000; i++)
		ck_assert_int_eq(mpbuf_append(&doc, "<c>v</c>", 8), 0);
	ck_assert_int_eq(mpbuf_append(&doc, "</book></r>", 12), 0);
	r = fmt_read_all_limits(&format_xml, doc.data, doc.len - 1, BOOK, 10, &lim);
	assert_fails(&r, ROWD_ELIMIT, "row_bytes");
	fmt_result_free(&r);
	/* Nesting deeper than the depth limit. */
	doc.len = 0;
	ck_assert_int_eq(mpbuf_append(&doc, "<r><book>", 9), 0);
	for (int i = 0; i < 40; i++)
		ck_assert_int_eq(mpbuf_append(&doc, "<d a=\"1\">", 9), 0);
	for (int i = 0; i < 40; i++)
		ck_assert_int_eq(mpbuf_append(&doc, "</d>", 4), 0);
	ck_assert_int_eq(mpbuf_append(&doc, "</book></r>", 12), 0);
	r = rd(doc.data, BOOK, 10);
	assert_fails(&r, ROWD_ELIMIT, "depth");
	fmt_result_free(&r);
	mpbuf_free(&doc);
}
END_TEST

/* ---- hostile documents ---------------------------------------------------- */

static char *hostname_text(void)
{
	char *s = fmt_slurp("/etc/hostname", NULL);
	size_t n;

	if (!s)
		return NULL;
	n = strlen(s);
	while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = 0;
	return s;
}

static void assert_absent(const struct fmt_result *r, const char *secret)
{
	if (!secret || !*secret)
		return;
	ck_assert_msg(!memmem(r->packed, r->packed_len, secret, strlen(secret)), "leaked: %s", r->jsonl);
	ck_assert_msg(!strstr(r->err.message, secret), "leaked in message: %s", r->err.message);
}

START_TEST(xxe_not_expanded)
{
	static const char doc[] =
		"<?xml version=\"1.0\"?>\n"
		"<!DOCTYPE r [<!ENTITY e SYSTEM \"file:///etc/hostname\">]>\n"
		"<r><book><t>before</t></book>\n"
		"<book><t>&e;</t></book><book><t>after</t></book></r>\n";
	char *secret = hostname_text();
	struct fmt_result r = rd(doc, BOOK, 10);

	assert_fails(&r, ROWD_EFORMAT, "entity reference &e; is not expanded");
	ck_assert_int_eq(r.err.line, 4);
	ck_assert_int_eq(r.err.row, 2);
	ck_assert_int_eq(r.nrows, 1);
	assert_absent(&r, secret);
	fmt_result_free(&r);
	r = rd(doc, "{\"tagname\": \"book\", \"on_error\": \"skip\"}", 10);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_str_eq(r.jsonl, "{\"t\":\"before\"}\n{\"t\":\"after\"}\n");
	ck_assert_int_eq(r.skipped, 1);
	assert_absent(&r, secret);
	fmt_result_free(&r);
	/* In an attribute: not allowed by XML at all. */
	r = rd("<!DOCTYPE r [<!ENTITY e SYSTEM \"file:///etc/hostname\">]><r><book a=\"&e;\"/></r>", BOOK, 10);
	ck_assert_int_eq(r.rc, -1);
	ck_assert_int_eq(r.err.code, ROWD_EFORMAT);
	assert_absent(&r, secret);
	fmt_result_free(&r);
	free(secret);
}
END_TEST

START_TEST(external_dtd_not_loaded)
{
	char *passwd = fmt_slurp("/etc/passwd", NULL);
	struct fmt_result r;

	/* External subset and external parameter entity: neither is read. */
	r = rd("<!DOCTYPE r SYSTEM \"file:///etc/passwd\"><r><book><t>x</t></book></r>", BOOK, 10);
	ck_assert_msg(r.rc == 0, "%s", r.err.message);
	ck_assert_str_eq(r.jsonl, "{\"t\":\"x\"}\n");
	fmt_result_free(&r);
	r = rd("<!DOCTYPE r [<!ENTITY % p SYSTEM \"file:///etc/passwd\"> %p;]><r><book><t>x</t></book></r>",
	       BOOK, 10);
	if (r.rc == 0)
		ck_assert_str_eq(r.jsonl, "{\"t\":\"x\"}\n");
	else
		ck_assert_int_eq(r.err.code, ROWD_EFORMAT);
	ck_assert(!strstr(r.jsonl, "root:") && !strstr(r.err.message, "root:"));
	fmt_result_free(&r);
	/* Network: never fetched (and would not be: no DTD loading). */
	r = rd("<!DOCTYPE r SYSTEM \"http://127.0.0.1:9/x.dtd\"><r><book/></r>", BOOK, 10);
	ck_assert_msg(r.rc == 0, "%s", r.err.message);
	ck_assert_str_eq(r.jsonl, "{}\n");
	fmt_result_free(&r);
	free(passwd);
}
END_TEST

static const char laughs_decl[] =
	"<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n"
	" <!ENTITY lol \"lol\">\n"
	" <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
	" <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"
	" <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
	" <!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n"
	" <!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">\n"
	" <!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">\n"
	" <!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">\n"
	" <!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">\n"
	" <!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">\n"
	"]>\n";

static void laughs(const char *body)
{
	char doc[2048];
	struct fmt_result r;
	double t0 = now_s();

	snprintf(doc, sizeof doc, "%s%s", laughs_decl, body);
	r = rd(doc, BOOK, 10);
	ck_assert_msg(r.rc == -1 && r.err.code == ROWD_EFORMAT, "%s: %s %s", body,
	              rowd_err_name(r.err.code), r.jsonl);
	ck_assert_int_eq(r.nrows, 0);
	ck_assert_msg(!strstr(r.jsonl, "lollol"), "expanded");
	ck_assert_msg(now_s() - t0 < 5, "took %.1f s", now_s() - t0);
	fmt_result_free(&r);
}

START_TEST(billion_laughs)
{
	laughs("<lolz><book><t>&lol9;</t></book></lolz>\n");
	laughs("<lolz><book t=\"&lol9;\"/></lolz>\n");
	laughs("<lolz><book><t>&lol9;&lol9;&lol9;&lol9;&lol9;&lol9;&lol9;&lol9;</t></book></lolz>\n");
}
END_TEST

/* ---- detection and registry ----------------------------------------------- */

START_TEST(probe_and_registry)
{
	ck_assert_int_eq(format_xml.probe("<?xml version=\"1.0\"?><r/>", 25), 80);
	ck_assert_int_eq(format_xml.probe("\xef\xbb\xbf  \n<?xml", 11), 80);
	ck_assert_int_eq(format_xml.probe("<bookstore>", 11), 60);
	ck_assert_int_eq(format_xml.probe("<!-- c --><r/>", 14), 60);
	ck_assert_int_eq(format_xml.probe("{\"a\": 1}", 8), 0);
	ck_assert_int_eq(format_xml.probe("a,b\n<x>,2\n", 10), 0);
	ck_assert_int_eq(format_xml.probe("< a", 3), 0);
	ck_assert_int_eq(format_xml.probe("<", 1), 0);
	ck_assert_ptr_eq(format_find("xml", 3), &format_xml);
	ck_assert_ptr_eq(format_by_extension("books.xml.gz"), &format_xml);
	ck_assert_ptr_eq(format_by_content("<?xml version=\"1.0\"?>\n<r/>\n", 27), &format_xml);
	ck_assert_ptr_null(format_xml.unavailable);
	ck_assert_ptr_null(format_xml.wr_open);
	ck_assert_uint_eq(format_xml.caps,
	                 FMT_CAP_READ | FMT_CAP_TOTALS | FMT_CAP_NESTED | FMT_CAP_STREAM | FMT_CAP_TABLES);
}
END_TEST

START_TEST(probe_books)
{
	size_t n;
	char *books = fmt_slurp(CONF "/iterabledata/books.xml", &n);
	const char *root = strstr(books, "<bookstore>");

	ck_assert_ptr_eq(format_by_content(books, n), &format_xml);
	/* Without the declaration too. */
	ck_assert_ptr_eq(format_by_content(root, n - (size_t)(root - books)), &format_xml);
	free(books);
}
END_TEST

static TCase *tcase(Suite *s, const char *name)
{
	TCase *t = tcase_create(name);

	tcase_set_timeout(t, 120);
	suite_add_tcase(s, t);
	return t;
}

static Suite *xml_suite(void)
{
	Suite *s = suite_create("xml");
	TCase *t = tcase(s, "rows");

	tcase_add_test(t, books_conformance);
	tcase_add_test(t, shapes);
	tcase_add_test(t, repeated_children_keep_first_place);
	tcase_add_test(t, batch_sizes_equal);
	tcase_add_test(t, gzip_codec);
	tcase_add_test(t, tables_list_repeated_elements);
	tcase_add_test(t, encodings);

	t = tcase(s, "errors");
	tcase_add_test(t, malformed_has_line);
	tcase_add_test(t, truncated_and_not_xml);
	tcase_add_test(t, options);
	tcase_add_test(t, limits);

	t = tcase(s, "hostile");
	tcase_add_test(t, xxe_not_expanded);
	tcase_add_test(t, external_dtd_not_loaded);
	tcase_add_test(t, billion_laughs);

	t = tcase(s, "detect");
	tcase_add_test(t, probe_and_registry);
	tcase_add_test(t, probe_books);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(xml_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);   /* CK_VERBOSITY=verbose lists every test */
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
