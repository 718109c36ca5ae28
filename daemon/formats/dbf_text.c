/* dBase text to UTF-8, one field at a time.
 *
 * A table's character fields are in the code page its language driver
 * byte (header offset 29) names. Fields are short and converted one by
 * one, so this is plain iconv on each field rather than the stream
 * transcoder the text formats use (which would also convert the binary
 * numbers between them). ASCII passes through untouched: every code page
 * here agrees with it below 0x80.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "charset.h"
#include "dbf.h"

/* Language driver IDs (the dBase/FoxPro/Esri table). 0x98, Mac Greek,
 * is left out: glibc iconv has no such table. */
static const struct {
	uint8_t id;
	const char *enc;
} ldids[] = {
	{ 0x01, "CP437" }, { 0x02, "CP850" }, { 0x03, "CP1252" }, { 0x04, "MACINTOSH" },
	{ 0x08, "CP865" }, { 0x09, "CP437" }, { 0x0a, "CP850" }, { 0x0b, "CP437" },
	{ 0x0d, "CP437" }, { 0x0e, "CP850" }, { 0x0f, "CP437" }, { 0x10, "CP850" },
	{ 0x11, "CP437" }, { 0x12, "CP850" }, { 0x13, "CP932" }, { 0x14, "CP850" },
	{ 0x15, "CP437" }, { 0x16, "CP850" }, { 0x17, "CP865" }, { 0x18, "CP437" },
	{ 0x19, "CP437" }, { 0x1a, "CP850" }, { 0x1b, "CP437" }, { 0x1c, "CP863" },
	{ 0x1d, "CP850" }, { 0x1f, "CP852" }, { 0x22, "CP852" }, { 0x23, "CP852" },
	{ 0x24, "CP860" }, { 0x25, "CP850" }, { 0x26, "CP866" }, { 0x37, "CP850" },
	{ 0x40, "CP852" }, { 0x4d, "CP936" }, { 0x4e, "CP949" }, { 0x4f, "CP950" },
	{ 0x50, "CP874" }, { 0x57, "CP1252" }, { 0x58, "CP1252" }, { 0x59, "CP1252" },
	{ 0x64, "CP852" }, { 0x65, "CP866" }, { 0x66, "CP865" }, { 0x67, "CP861" },
	{ 0x6a, "CP737" }, { 0x6b, "CP857" }, { 0x6c, "CP863" }, { 0x78, "CP950" },
	{ 0x79, "CP949" }, { 0x7a, "CP936" }, { 0x7b, "CP932" }, { 0x7c, "CP874" },
	{ 0x7d, "CP1255" }, { 0x7e, "CP1256" }, { 0x86, "CP737" }, { 0x87, "CP852" },
	{ 0x88, "CP857" }, { 0x96, "MAC-CYRILLIC" }, { 0x97, "MAC-CENTRALEUROPE" },
	{ 0xc8, "CP1250" }, { 0xc9, "CP1251" }, { 0xca, "CP1254" },
	{ 0xcb, "CP1253" }, { 0xcc, "CP1257" },
};

const char *dbf_ldid_encoding(uint8_t ldid)
{
	for (size_t i = 0; i < sizeof ldids / sizeof ldids[0]; i++)
		if (ldids[i].id == ldid)
			return ldids[i].enc;
	return NULL;
}

int dbf_text_open(struct dbf_text *t, const char *enc, size_t n, uint8_t ldid,
                  struct rowd_error *err)
{
	memset(t, 0, sizeof *t);
	t->cd = (iconv_t)-1;
	if (enc) {
		if (charset_is_utf8(enc, n)) {
			strcpy(t->name, "UTF-8");
			return 0;
		}
		if (n >= sizeof t->name || memchr(enc, 0, n))
			return rowd_error_set(err, ROWD_EINVAL, "unknown encoding '%.*s' (option "
			                      "'encoding')", (int)(n > 40 ? 40 : n), enc);
		memcpy(t->name, enc, n);
		t->name[n] = 0;
	} else if (dbf_ldid_encoding(ldid)) {
		strcpy(t->name, dbf_ldid_encoding(ldid));
	} else {
		/* No code page: tables written today are mostly UTF-8; older ones
		 * are mostly Windows ANSI. */
		strcpy(t->name, "CP1252");
		t->utf8_first = true;
	}
	t->cd = iconv_open("UTF-8", t->name);
	/* glibc reports a failed allocation while it loads a converter as
	 * EINVAL, like a name it does not know: a second try tells them
	 * apart when the shortage has passed. */
	if (t->cd == (iconv_t)-1 && errno != ENOMEM)
		t->cd = iconv_open("UTF-8", t->name);
	if (t->cd == (iconv_t)-1) {
		if (errno == ENOMEM)
			return rowd_error_set(err, ROWD_ENOMEM, "out of memory opening iconv for %s",
			                      t->name);
		if (enc)
			return rowd_error_set(err, ROWD_EINVAL, "unknown encoding '%s' (option "
			                      "'encoding')", t->name);
		return rowd_error_set(err, ROWD_ENOTSUP, "this iconv cannot convert %s, the code "
		                      "page of language driver 0x%02x: name another with the "
		                      "'encoding' option", t->name, ldid);
	}
	return 0;
}

static bool ascii(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return false;
	return true;
}

int dbf_text_utf8(struct dbf_text *t, const char *s, size_t n, const char **out,
                  size_t *outn, size_t *bad)
{
	char *in = (char *)s, *o;
	size_t left = n, room;

	*out = s;
	*outn = n;
	if (ascii(s, n))
		return 0;
	if (t->cd == (iconv_t)-1 || t->utf8_first) {
		size_t ok = proto_utf8_prefix(s, n);

		if (ok == n)
			return 0;
		if (t->cd == (iconv_t)-1) {
			*bad = ok;
			return 1;
		}
	}
	/* Single-byte code pages take at most 3 UTF-8 bytes a byte; the
	 * double-byte ones (932, 936, ...) less. */
	if (t->cap < 3 * n + 4) {
		char *nb = realloc(t->buf, 3 * n + 4);

		if (!nb)
			return -1;
		t->buf = nb;
		t->cap = 3 * n + 4;
	}
	iconv(t->cd, NULL, NULL, NULL, NULL);
	o = t->buf;
	room = t->cap;
	if (iconv(t->cd, &in, &left, &o, &room) == (size_t)-1 ||
	    iconv(t->cd, NULL, NULL, &o, &room) == (size_t)-1) {
		*bad = (size_t)(in - s);
		return 1;
	}
	*out = t->buf;
	*outn = (size_t)(o - t->buf);
	return 0;
}

void dbf_text_close(struct dbf_text *t)
{
	if (t->cd != (iconv_t)-1)
		iconv_close(t->cd);
	t->cd = (iconv_t)-1;
	free(t->buf);
	t->buf = NULL;
}
