/* Codec and format detection (see detect.h). */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "charset.h"
#include "detect.h"
#include "input.h"

#define SNIFF_BYTES (64 * 1024)

static int names_list(char *buf, size_t len, bool codecs)
{
	size_t off = 0;

	buf[0] = 0;
	if (codecs) {
		for (const struct codec_ops *const *c = codec_list(); *c; c++)
			off += (size_t)snprintf(buf + off, off < len ? len - off : 0, "%s%s",
			                        off ? ", " : "", (*c)->name);
	} else {
		for (const struct format_ops *const *f = format_list(); *f; f++)
			off += (size_t)snprintf(buf + off, off < len ? len - off : 0, "%s%s",
			                        off ? ", " : "", (*f)->name);
	}
	return 0;
}

static int explicit_codec(const struct rowd_open_spec *spec, const struct codec_ops **codec,
                          struct rowd_error *err)
{
	char known[256];

	*codec = codec_find(spec->codec, spec->codec_len);
	if (*codec)
		return 0;
	names_list(known, sizeof known, true);
	return rowd_error_set(err, ROWD_EINVAL, "unknown codec '%.*s' (known: %s)",
	                      (int)(spec->codec_len > 32 ? 32 : spec->codec_len), spec->codec, known);
}

static int explicit_format(const struct rowd_open_spec *spec, const struct format_ops **fmt,
                           struct rowd_error *err)
{
	char known[256];

	*fmt = format_find(spec->format, spec->format_len);
	if (*fmt)
		return 0;
	names_list(known, sizeof known, false);
	return rowd_error_set(err, ROWD_EINVAL, "unknown format '%.*s' (known: %s)",
	                      (int)(spec->format_len > 32 ? 32 : spec->format_len), spec->format, known);
}

static int codec_available(const struct codec_ops *c, struct rowd_error *err)
{
	if (!c->unavailable)
		return 0;
	return rowd_error_set(err, ROWD_ENOTSUP, "codec %s is not available in this build: it needs %s",
	                      c->name, c->unavailable);
}

static int format_available(const struct format_ops *f, struct rowd_error *err)
{
	if (!f->unavailable)
		return 0;
	return rowd_error_set(err, ROWD_ENOTSUP, "format %s is not available in this build: it needs %s",
	                      f->name, f->unavailable);
}

/* The client path as a C string, for extension matching. */
static void path_cstr(const char *path, size_t len, char *buf, size_t cap)
{
	if (len >= cap)
		len = cap - 1;
	memcpy(buf, path, len);
	buf[len] = 0;
}

int detect_head(struct input *in, int fd, const struct codec_ops *codec,
                const msgpack_object *codec_options, size_t max_buf, struct rowd_error *err)
{
	if (input_open(in, fd, codec, codec_options, max_buf, err) < 0)
		return -1;
	while (input_avail(in) < SNIFF_BYTES && !in->eof)
		if (input_fill(in, err) < 0)
			return -1;
	return 0;
}

const char *detect_encoding(const char *head, size_t n)
{
	return charset_detect((const unsigned char *)head, n, n >= SNIFF_BYTES);
}

int detect_to_utf8(struct input *in, const char *encoding, struct rowd_error *err)
{
	if (strncmp(encoding, "utf-8", 5) == 0)
		return 0;
	encoding = charset_iconv_name(encoding, (const unsigned char *)input_ptr(in), input_avail(in));
	if (input_set_encoding(in, encoding, err) < 0)
		return -1;
	while (input_avail(in) < SNIFF_BYTES && !in->eof)
		if (input_fill(in, err) < 0)
			return -1;
	return 0;
}

/* A container's member (x.zip holding data.jsonl) is named like a file:
 * its extension decides before the content does. A member that is
 * itself compressed would need a second codec: refused, not misread. */
static int member_format(const struct input *in, const struct format_ops **fmt,
                         struct rowd_error *err)
{
	const char *member = in->codec->rd_name ? in->codec->rd_name(in->codec_state) : NULL;
	const struct codec_ops *inner;

	if (!member)
		return 0;
	inner = codec_by_extension(member);
	if (inner && strcmp(inner->name, "none") != 0)
		return rowd_error_set(err, ROWD_ENOTSUP,
		                      "%s member '%.60s' is itself %s-compressed: nested codecs are "
		                      "not read", in->codec->name, member, inner->name);
	*fmt = format_by_extension(member);
	return 0;
}

static int sniff_format(int fd, const struct codec_ops *codec, const struct rowd_open_spec *spec,
                        size_t max_buf, const struct format_ops **fmt, struct rowd_error *err)
{
	struct input in;
	int rc = 0;

	if (detect_head(&in, fd, codec, spec->codec_options, max_buf, err) < 0 ||
	    member_format(&in, fmt, err) < 0) {
		input_close(&in);
		return -1;
	}
	if (!*fmt)
		*fmt = format_by_content(input_ptr(&in), input_avail(&in));
	if (!*fmt) {
		/* Text in another encoding: probe it as UTF-8. */
		const char *enc = detect_encoding(input_ptr(&in), input_avail(&in));

		if (strncmp(enc, "utf-8", 5) != 0 && detect_to_utf8(&in, enc, err) == 0)
			*fmt = format_by_content(input_ptr(&in), input_avail(&in));
	}
	if (!*fmt)
		rc = rowd_error_set(err, ROWD_EFORMAT,
		                    "cannot tell the format from the name or the content; "
		                    "name it with the format field");
	input_close(&in);
	return rc;
}

int detect_read(int fd, const char *path, size_t path_len, const struct rowd_open_spec *spec,
                size_t max_buf, const struct codec_ops **codec,
                const struct format_ops **fmt, struct rowd_error *err)
{
	char name[PATH_MAX];

	path_cstr(path, path_len, name, sizeof name);
	*fmt = NULL;
	if (spec->format) {
		if (explicit_format(spec, fmt, err) < 0)
			return -1;
	} else {
		*fmt = format_by_extension(name);
	}
	if (spec->codec) {
		if (explicit_codec(spec, codec, err) < 0)
			return -1;
	} else if (*fmt && ((*fmt)->caps & FMT_CAP_RAW)) {
		/* XLSX is a zip and SQLite has a header of its own: a format
		 * that reads the file itself is never behind a sniffed codec. */
		*codec = codec_find("none", 4);
	} else if (!(*codec = codec_by_extension(name))) {
		unsigned char head[16];
		struct rawin raw = { .fd = fd };
		ssize_t n = rawin_read(&raw, head, sizeof head, err);

		if (n < 0)
			return -1;
		*codec = codec_by_magic(head, (size_t)n);
	}
	if (codec_available(*codec, err) < 0)
		return -1;
	if (!*fmt && sniff_format(fd, *codec, spec, max_buf, fmt, err) < 0)
		return -1;
	return format_available(*fmt, err);
}

int detect_write(const char *name, const struct rowd_open_spec *spec,
                 const struct codec_ops **codec, const struct format_ops **fmt,
                 struct rowd_error *err)
{
	if (spec->codec) {
		if (explicit_codec(spec, codec, err) < 0)
			return -1;
	} else if (!(*codec = codec_by_extension(name))) {
		*codec = codec_find("none", 4);
	}
	if (codec_available(*codec, err) < 0)
		return -1;
	if (spec->format) {
		if (explicit_format(spec, fmt, err) < 0)
			return -1;
	} else if (!(*fmt = format_by_extension(name))) {
		return rowd_error_set(err, ROWD_EINVAL,
		                      "cannot tell the format from the name; give the format field");
	}
	return format_available(*fmt, err);
}
