/* The static table of codecs compiled in. */
#include "config.h"

#include <string.h>
#include <strings.h>

#include "codec.h"
#include "options.h"

extern const struct codec_ops codec_none, codec_gzip, codec_bzip2, codec_xz, codec_lzma,
	codec_zstd, codec_lz4, codec_brotli, codec_zip;

/* A codec whose library this build lacks: known by name and extension,
 * so that it is refused with a reason rather than misread. */
#define MISSING(sym, nm, lib, ...)                                          \
	const struct codec_ops sym = {                                      \
		.name = nm, .extensions = (const char *const[]){ __VA_ARGS__, NULL }, \
		.unavailable = lib,                                         \
	}

#ifndef ROWD_WITH_BZIP2
MISSING(codec_bzip2, "bzip2", "libbz2", "bz2");
#endif
#ifndef ROWD_WITH_XZ
MISSING(codec_xz, "xz", "liblzma", "xz");
MISSING(codec_lzma, "lzma", "liblzma", "lzma");
#endif
#ifndef ROWD_WITH_ZSTD
MISSING(codec_zstd, "zstd", "libzstd", "zst", "zstd");
#endif
#ifndef ROWD_WITH_LZ4
MISSING(codec_lz4, "lz4", "liblz4", "lz4");
#endif
#ifndef ROWD_WITH_BROTLI
MISSING(codec_brotli, "brotli", "libbrotli", "br");
#endif
#ifndef ROWD_WITH_ZIP
MISSING(codec_zip, "zip", "libzip", "zip");
#endif

static const struct codec_ops *const codecs[] = {
	&codec_none,
	&codec_gzip,
	&codec_bzip2,
	&codec_xz,
	&codec_lzma,
	&codec_zstd,
	&codec_lz4,
	&codec_brotli,
	&codec_zip,
	NULL
};

const struct codec_ops *const *codec_list(void)
{
	return codecs;
}

const struct codec_ops *codec_find(const char *name, size_t len)
{
	for (size_t i = 0; codecs[i]; i++)
		if (strlen(codecs[i]->name) == len && memcmp(codecs[i]->name, name, len) == 0)
			return codecs[i];
	return NULL;
}

const struct codec_ops *codec_by_extension(const char *filename)
{
	const char *dot = strrchr(filename, '.');
	const char *slash = strrchr(filename, '/');

	if (!dot || (slash && dot < slash))
		return NULL;
	dot++;
	for (size_t i = 0; codecs[i]; i++)
		for (const char *const *e = codecs[i]->extensions; *e; e++)
			if (strcasecmp(*e, dot) == 0)
				return codecs[i];
	return NULL;
}

const struct codec_ops *codec_by_magic(const unsigned char *head, size_t n)
{
	for (size_t i = 0; codecs[i]; i++)
		if (codecs[i]->magic && codecs[i]->magic(head, n))
			return codecs[i];
	return &codec_none;
}

int codec_options_level(const msgpack_object *codec_options, int min, int max,
                        int dflt, int *level, struct rowd_error *err)
{
	static const char *const with_level[] = { "level", NULL };
	static const char *const nothing[] = { NULL };
	int64_t v = dflt;

	if (opts_check_known(codec_options, level ? with_level : nothing, "this codec", err) < 0)
		return -1;
	if (level) {
		if (opts_int(codec_options, "level", min, max, &v, err) < 0)
			return -1;
		*level = (int)v;
	}
	return 0;
}
