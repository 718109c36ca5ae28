/* Avro block codecs: each block's data is compressed on its own.
 *
 * Kept apart from daemon/codecs/: those wrap a whole file as a stream
 * (struct rawin), these turn one block already in memory into another
 * buffer, with the decompressed size bounded before it is allocated
 * (ELIMIT past the caller's max, which is row_bytes). Per the Avro 1.11
 * specification:
 *   null       the data as is
 *   deflate    raw deflate (RFC 1951, no zlib header), zlib; bytes after
 *              the end of the deflate stream are ignored: Python's avro
 *              writes zlib.compress(data)[2:-1], which leaves three bytes
 *              of the Adler-32 trailer behind (2cols6rows.avro has them)
 *   snappy     raw snappy, then the CRC32 (big-endian) of the decompressed
 *              data, which is verified
 *   bzip2, xz, zstandard   a stream of that library's format, when the
 *              library is in this build (HAVE_BZIP2, HAVE_LZMA, HAVE_ZSTD)
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#ifdef HAVE_SNAPPY
#include <snappy-c.h>
#endif
#ifdef HAVE_BZIP2
#include <bzlib.h>
#endif
#ifdef HAVE_LZMA
#include <lzma.h>
#endif
#ifdef HAVE_ZSTD
#include <zstd.h>
#endif

#include "formats/avro.h"

static const struct {
	const char *name;
	enum avro_codec codec;
	const char *library;    /* NULL when built in */
} codecs[] = {
	{ "null", AVRO_CODEC_NULL, NULL },
	{ "deflate", AVRO_CODEC_DEFLATE, NULL },
#ifdef HAVE_SNAPPY
	{ "snappy", AVRO_CODEC_SNAPPY, NULL },
#else
	{ "snappy", AVRO_CODEC_SNAPPY, "libsnappy" },
#endif
#ifdef HAVE_BZIP2
	{ "bzip2", AVRO_CODEC_BZIP2, NULL },
#else
	{ "bzip2", AVRO_CODEC_BZIP2, "libbz2" },
#endif
#ifdef HAVE_LZMA
	{ "xz", AVRO_CODEC_XZ, NULL },
#else
	{ "xz", AVRO_CODEC_XZ, "liblzma" },
#endif
#ifdef HAVE_ZSTD
	{ "zstandard", AVRO_CODEC_ZSTD, NULL },
#else
	{ "zstandard", AVRO_CODEC_ZSTD, "libzstd" },
#endif
};

int avro_codec_find(const char *name, size_t len, enum avro_codec *c, struct rowd_error *err)
{
	for (size_t i = 0; i < sizeof codecs / sizeof codecs[0]; i++) {
		if (strlen(codecs[i].name) != len || memcmp(codecs[i].name, name, len) != 0)
			continue;
		if (codecs[i].library)
			return rowd_error_set(err, ROWD_ENOTSUP,
			                      "avro block codec %s needs %s, not in this build",
			                      codecs[i].name, codecs[i].library);
		*c = codecs[i].codec;
		return 0;
	}
	return rowd_error_set(err, ROWD_ENOTSUP, "avro block codec \"%.*s\" is not supported",
	                      (int)(len > 64 ? 64 : len), name);
}

const char *avro_codec_name(enum avro_codec c)
{
	for (size_t i = 0; i < sizeof codecs / sizeof codecs[0]; i++)
		if (codecs[i].codec == c)
			return codecs[i].name;
	return "?";
}

static int too_big(size_t max, struct rowd_error *err)
{
	return rowd_error_set(err, ROWD_ELIMIT,
	                      "the block decompresses to more than the row_bytes limit (%zu)", max);
}

static int corrupt(const char *codec, const char *why, struct rowd_error *err)
{
	return rowd_error_set(err, ROWD_EFORMAT, "%s data %s", codec, why);
}

/* Room for a decompressor to write into at out->data + out->len: grows
 * the buffer (doubling from 64 KiB) but never past max + 1 bytes in all,
 * so that one byte too many is seen without allocating more. */
static int room(struct mpbuf *out, size_t max, size_t *avail, struct rowd_error *err)
{
	size_t limit = max + 1, want;

	if (out->len >= limit)
		return too_big(max, err);
	if (out->cap - out->len < 4096 || out->len == out->cap) {
		want = out->len ? out->len : 65536;
		if (want > limit - out->len)
			want = limit - out->len;
		if (mpbuf_reserve(out, want) < 0)
			return rowd_error_set(err, ROWD_ENOMEM, "out of memory for an avro block");
	}
	*avail = out->cap - out->len;
	if (*avail > limit - out->len)
		*avail = limit - out->len;
	return 0;
}

static int inflate_block(const uint8_t *in, size_t n, size_t max, struct mpbuf *out,
                         struct rowd_error *err)
{
	z_stream z;
	int rc = Z_OK;

	memset(&z, 0, sizeof z);
	if (inflateInit2(&z, -15) != Z_OK)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory for inflate");
	z.next_in = (Bytef *)(uintptr_t)in;
	while (rc != Z_STREAM_END) {
		size_t avail;

		/* zlib counts in uInt: feed at most 1 GiB at a time. */
		if (z.avail_in == 0 && n > 0) {
			z.avail_in = (uInt)(n > (1u << 30) ? (1u << 30) : n);
			n -= z.avail_in;
		}
		if (room(out, max, &avail, err) < 0)
			goto fail;
		z.next_out = (Bytef *)out->data + out->len;
		z.avail_out = (uInt)(avail > (1u << 30) ? (1u << 30) : avail);
		avail = z.avail_out;
		rc = inflate(&z, Z_NO_FLUSH);
		out->len += avail - z.avail_out;
		if (rc == Z_BUF_ERROR && z.avail_in == 0 && n == 0 && z.avail_out > 0) {
			corrupt("deflate", "ends before its last block", err);
			goto fail;
		}
		if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
			corrupt("deflate", z.msg ? z.msg : "is corrupt", err);
			goto fail;
		}
	}
	if (out->len > max) {
		too_big(max, err);
		goto fail;
	}
	inflateEnd(&z);
	return 0;
fail:
	inflateEnd(&z);
	return -1;
}

#ifdef HAVE_SNAPPY
static int snappy_block(const uint8_t *in, size_t n, size_t max, struct mpbuf *out,
                        struct rowd_error *err)
{
	size_t ulen;
	uint32_t want;

	if (n < 4)
		return corrupt("snappy", "is shorter than its checksum", err);
	n -= 4;
	want = (uint32_t)in[n] << 24 | (uint32_t)in[n + 1] << 16 | (uint32_t)in[n + 2] << 8 | in[n + 3];
	if (snappy_uncompressed_length((const char *)in, n, &ulen) != SNAPPY_OK)
		return corrupt("snappy", "is corrupt (bad length header)", err);
	if (ulen > max)
		return too_big(max, err);
	if (mpbuf_reserve(out, ulen ? ulen : 1) < 0)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory for an avro block");
	if (snappy_uncompress((const char *)in, n, out->data, &ulen) != SNAPPY_OK)
		return corrupt("snappy", "is corrupt", err);
	out->len = ulen;
	if ((uint32_t)crc32(0, (const Bytef *)out->data, (uInt)ulen) != want)
		return corrupt("snappy", "fails its CRC32 check", err);
	return 0;
}
#endif

#ifdef HAVE_BZIP2
static int bzip2_block(const uint8_t *in, size_t n, size_t max, struct mpbuf *out,
                       struct rowd_error *err)
{
	bz_stream bz;
	int rc = BZ_OK;

	memset(&bz, 0, sizeof bz);
	if (n > UINT32_MAX)
		return corrupt("bzip2", "is too large", err);
	if (BZ2_bzDecompressInit(&bz, 0, 0) != BZ_OK)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory for bzip2");
	bz.next_in = (char *)(uintptr_t)in;
	bz.avail_in = (unsigned)n;
	while (rc != BZ_STREAM_END) {
		size_t avail;

		if (room(out, max, &avail, err) < 0)
			goto fail;
		bz.next_out = out->data + out->len;
		bz.avail_out = (unsigned)(avail > (1u << 30) ? (1u << 30) : avail);
		avail = bz.avail_out;
		rc = BZ2_bzDecompress(&bz);
		out->len += avail - bz.avail_out;
		if (rc != BZ_OK && rc != BZ_STREAM_END) {
			corrupt("bzip2", "is corrupt", err);
			goto fail;
		}
		if (rc == BZ_OK && bz.avail_in == 0 && bz.avail_out > 0) {
			corrupt("bzip2", "ends before the end of its stream", err);
			goto fail;
		}
	}
	if (out->len > max) {
		too_big(max, err);
		goto fail;
	}
	if (bz.avail_in > 0) {
		corrupt("bzip2", "has bytes after its end", err);
		goto fail;
	}
	BZ2_bzDecompressEnd(&bz);
	return 0;
fail:
	BZ2_bzDecompressEnd(&bz);
	return -1;
}
#endif

#ifdef HAVE_LZMA
static int xz_block(const uint8_t *in, size_t n, size_t max, struct mpbuf *out,
                    struct rowd_error *err)
{
	lzma_stream xz = LZMA_STREAM_INIT;
	lzma_ret rc = LZMA_OK;

	/* 256 MiB of dictionary at most: more is not a block's worth. */
	if (lzma_stream_decoder(&xz, 256u << 20, 0) != LZMA_OK)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory for xz");
	xz.next_in = in;
	xz.avail_in = n;
	while (rc != LZMA_STREAM_END) {
		size_t avail;

		if (room(out, max, &avail, err) < 0)
			goto fail;
		xz.next_out = (uint8_t *)out->data + out->len;
		xz.avail_out = avail;
		rc = lzma_code(&xz, LZMA_FINISH);
		out->len += avail - xz.avail_out;
		if (rc != LZMA_OK && rc != LZMA_STREAM_END) {
			corrupt("xz", rc == LZMA_BUF_ERROR ? "ends before the end of its stream"
			                                   : "is corrupt", err);
			goto fail;
		}
	}
	if (out->len > max) {
		too_big(max, err);
		goto fail;
	}
	if (xz.avail_in > 0) {
		corrupt("xz", "has bytes after its end", err);
		goto fail;
	}
	lzma_end(&xz);
	return 0;
fail:
	lzma_end(&xz);
	return -1;
}
#endif

#ifdef HAVE_ZSTD
static int zstd_block(const uint8_t *in, size_t n, size_t max, struct mpbuf *out,
                      struct rowd_error *err)
{
	ZSTD_DCtx *z = ZSTD_createDCtx();
	ZSTD_inBuffer ib = { in, n, 0 };
	size_t rc = 1;

	if (!z)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory for zstd");
	while (rc != 0) {
		ZSTD_outBuffer ob;
		size_t avail;

		if (room(out, max, &avail, err) < 0)
			goto fail;
		ob.dst = out->data + out->len;
		ob.size = avail;
		ob.pos = 0;
		rc = ZSTD_decompressStream(z, &ob, &ib);
		out->len += ob.pos;
		if (ZSTD_isError(rc)) {
			corrupt("zstandard", ZSTD_getErrorName(rc), err);
			goto fail;
		}
		if (rc != 0 && ib.pos == ib.size && ob.pos < ob.size) {
			corrupt("zstandard", "ends before the end of its frame", err);
			goto fail;
		}
	}
	if (out->len > max) {
		too_big(max, err);
		goto fail;
	}
	if (ib.pos < ib.size) {
		corrupt("zstandard", "has bytes after its frame", err);
		goto fail;
	}
	ZSTD_freeDCtx(z);
	return 0;
fail:
	ZSTD_freeDCtx(z);
	return -1;
}
#endif

int avro_block_decompress(enum avro_codec c, const uint8_t *in, size_t n, size_t max,
                          struct mpbuf *out, struct rowd_error *err)
{
	out->len = 0;
	switch (c) {
	case AVRO_CODEC_NULL:
		if (n > max)
			return too_big(max, err);
		if (mpbuf_append(out, in, n) < 0)
			return rowd_error_set(err, ROWD_ENOMEM, "out of memory for an avro block");
		return 0;
	case AVRO_CODEC_DEFLATE:
		return inflate_block(in, n, max, out, err);
#ifdef HAVE_SNAPPY
	case AVRO_CODEC_SNAPPY:
		return snappy_block(in, n, max, out, err);
#endif
#ifdef HAVE_BZIP2
	case AVRO_CODEC_BZIP2:
		return bzip2_block(in, n, max, out, err);
#endif
#ifdef HAVE_LZMA
	case AVRO_CODEC_XZ:
		return xz_block(in, n, max, out, err);
#endif
#ifdef HAVE_ZSTD
	case AVRO_CODEC_ZSTD:
		return zstd_block(in, n, max, out, err);
#endif
	default:
		return rowd_error_set(err, ROWD_ENOTSUP, "avro block codec %s is not in this build",
		                      avro_codec_name(c));
	}
}

int avro_block_compress(enum avro_codec c, int level, const uint8_t *in, size_t n,
                        struct mpbuf *out, struct rowd_error *err)
{
	z_stream z;
	int rc;

	out->len = 0;
	if (c == AVRO_CODEC_NULL) {
		if (mpbuf_append(out, in, n) < 0)
			return rowd_error_set(err, ROWD_ENOMEM, "out of memory for an avro block");
		return 0;
	}
#ifdef HAVE_SNAPPY
	if (c == AVRO_CODEC_SNAPPY) {
		size_t len = snappy_max_compressed_length(n);
		uint32_t crc = (uint32_t)crc32(0, (const Bytef *)in, (uInt)n);

		if (n > (1u << 30))
			return rowd_error_set(err, ROWD_ELIMIT, "an avro block over 1 GiB");
		if (mpbuf_reserve(out, len + 4) < 0)
			return rowd_error_set(err, ROWD_ENOMEM, "out of memory for an avro block");
		if (snappy_compress((const char *)in, n, out->data, &len) != SNAPPY_OK)
			return rowd_error_set(err, ROWD_EIO, "snappy compression failed");
		out->len = len;
		mp_put_be32(out, crc);
		return 0;
	}
#endif
	if (c != AVRO_CODEC_DEFLATE)
		return rowd_error_set(err, ROWD_ENOTSUP, "writing avro block codec %s is not supported",
		                      avro_codec_name(c));
	if (n > (1u << 30))
		return rowd_error_set(err, ROWD_ELIMIT, "an avro block over 1 GiB");
	memset(&z, 0, sizeof z);
	if (deflateInit2(&z, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory for deflate");
	if (mpbuf_reserve(out, deflateBound(&z, (uLong)n)) < 0) {
		deflateEnd(&z);
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory for an avro block");
	}
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)n;
	z.next_out = (Bytef *)out->data;
	z.avail_out = (uInt)(out->cap > (1u << 31) ? (1u << 31) : out->cap);
	rc = deflate(&z, Z_FINISH);
	out->len = z.total_out;
	deflateEnd(&z);
	if (rc != Z_STREAM_END)
		return rowd_error_set(err, ROWD_EIO, "deflate failed (%d)", rc);
	return 0;
}
