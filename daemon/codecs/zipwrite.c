/* The streaming zip writer (see zipwrite.h). Layout per APPNOTE 6.3:
 * local header, deflate data, data descriptor for each member; then the
 * central directory, the ZIP64 end record and locator when needed, and
 * the end of central directory record. All integers little-endian. */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "zipwrite.h"

#define ZW_BUF     (64 * 1024)
#define ZW_STEP    (1u << 30)          /* zlib counts in uInt */
#define ZW_U32_MAX 0xffffffffu
#define ZW_U16_MAX 0xffffu

#define SIG_LOCAL   0x04034b50u
#define SIG_DESC    0x08074b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_END64   0x06064b50u
#define SIG_LOC64   0x07064b50u
#define SIG_END     0x06054b50u

#define FLAG_DESCRIPTOR (1u << 3)      /* sizes and CRC follow the data */
#define FLAG_UTF8       (1u << 11)     /* the name is UTF-8 */
#define METHOD_DEFLATE  8
#define VERSION_DEFLATE 20
#define VERSION_ZIP64   45
#define MADE_BY_UNIX    (3u << 8)
#define ATTR_FILE_0644  (0100644u << 16)

#define EXTRA_ZIP64 0x0001
#define EXTRA_UT    0x5455             /* extended timestamp: UTC mtime */

struct zipw_entry {
	char *name;
	uint16_t name_len, flags, dos_time, dos_date, version;
	bool has_ut;
	uint32_t crc, ut;
	uint64_t offset, csize, usize;
};

struct zipw {
	zipw_sink sink;
	void *ctx;
	uint64_t flushed;          /* bytes already given to the sink */
	size_t used;               /* bytes waiting in buf */
	z_stream z;
	bool z_live, in_member, broken, finished, force64;
	struct zipw_entry *ents;
	size_t n, cap;
	unsigned char buf[ZW_BUF];
};

/* A fixed-size record assembled before it is put. */
struct rec {
	unsigned char b[128];
	size_t n;
};

static void le16(struct rec *r, uint32_t v)
{
	r->b[r->n++] = (unsigned char)(v & 0xff);
	r->b[r->n++] = (unsigned char)((v >> 8) & 0xff);
}

static void le32(struct rec *r, uint32_t v)
{
	le16(r, v & 0xffff);
	le16(r, v >> 16);
}

static void le64(struct rec *r, uint64_t v)
{
	le32(r, (uint32_t)v);
	le32(r, (uint32_t)(v >> 32));
}

static uint32_t cap32(uint64_t v)
{
	return v >= ZW_U32_MAX ? ZW_U32_MAX : (uint32_t)v;
}

/* ---- output ------------------------------------------------------------- */

static int zw_flush(struct zipw *w, struct rowd_error *err)
{
	if (w->used == 0)
		return 0;
	if (w->sink(w->ctx, w->buf, w->used, err) < 0) {
		w->broken = true;
		return -1;
	}
	w->flushed += w->used;
	w->used = 0;
	return 0;
}

static int zw_put(struct zipw *w, const void *p, size_t n, struct rowd_error *err)
{
	const unsigned char *q = p;

	while (n > 0) {
		size_t room = sizeof w->buf - w->used, k = n < room ? n : room;

		memcpy(w->buf + w->used, q, k);
		w->used += k;
		q += k;
		n -= k;
		if (w->used == sizeof w->buf && zw_flush(w, err) < 0)
			return -1;
	}
	return 0;
}

static int zw_put_rec(struct zipw *w, const struct rec *r, struct rowd_error *err)
{
	return zw_put(w, r->b, r->n, err);
}

uint64_t zipw_offset(const struct zipw *w)
{
	return w->flushed + w->used;
}

/* ---- states ------------------------------------------------------------- */

static int zw_usable(const struct zipw *w, struct rowd_error *err)
{
	if (w->broken)
		return rowd_error_set(err, ROWD_EIO, "zip: stream broken by an earlier error");
	if (w->finished)
		return rowd_error_set(err, ROWD_EINVAL, "zip: archive already finished");
	return 0;
}

struct zipw *zipw_open(zipw_sink sink, void *ctx, struct rowd_error *err)
{
	/* Not calloc: the buffer needs no clearing. */
	struct zipw *w = malloc(sizeof *w);

	if (!w) {
		rowd_error_set(err, ROWD_ENOMEM, "zip: out of memory");
		return NULL;
	}
	memset(w, 0, offsetof(struct zipw, buf));
	w->sink = sink;
	w->ctx = ctx;
	return w;
}

void zipw_force_zip64(struct zipw *w)
{
	w->force64 = true;
}

void zipw_free(struct zipw *w)
{
	if (!w)
		return;
	if (w->z_live)
		deflateEnd(&w->z);
	for (size_t i = 0; i < w->n; i++)
		free(w->ents[i].name);
	free(w->ents);
	free(w);
}

/* ---- members ------------------------------------------------------------ */

/* Names that unpack where they say: relative, no "..", not a directory,
 * UTF-8, unique. */
static int zw_check_name(const struct zipw *w, const char *name, size_t len,
                         struct rowd_error *err)
{
	const char *p = name, *end = name + len;

	if (len == 0 || len > ZW_U16_MAX)
		return rowd_error_set(err, ROWD_EINVAL, "zip: a member name must have 1 to %u bytes",
		                      ZW_U16_MAX);
	if (name[0] == '/' || name[len - 1] == '/')
		return rowd_error_set(err, ROWD_EINVAL,
		                      "zip: member name '%.100s' must be a relative file path", name);
	while (p < end) {
		const char *slash = memchr(p, '/', (size_t)(end - p));
		const char *stop = slash ? slash : end;

		if (stop - p == 2 && p[0] == '.' && p[1] == '.')
			return rowd_error_set(err, ROWD_EINVAL,
			                      "zip: member name '%.100s' must not contain '..'", name);
		p = stop + 1;
	}
	if (proto_utf8_prefix(name, len) != len)
		return rowd_error_set(err, ROWD_EINVAL, "zip: member name '%.100s' is not UTF-8", name);
	for (size_t i = 0; i < w->n; i++)
		if (w->ents[i].name_len == len && memcmp(w->ents[i].name, name, len) == 0)
			return rowd_error_set(err, ROWD_EINVAL,
			                      "zip: member '%.100s' is already in the archive", name);
	return 0;
}

/* DOS date and time (local, 2-second steps), clamped to 1980..2107. */
static void dos_datetime(time_t t, uint16_t *dtime, uint16_t *ddate)
{
	struct tm lt;

	if (!localtime_r(&t, &lt) || lt.tm_year < 80) {
		*dtime = 0;
		*ddate = (1 << 5) | 1;
		return;
	}
	if (lt.tm_year > 207) {
		*dtime = (23 << 11) | (59 << 5) | 29;
		*ddate = (127 << 9) | (12 << 5) | 31;
		return;
	}
	*dtime = (uint16_t)((lt.tm_hour << 11) | (lt.tm_min << 5) | (lt.tm_sec / 2));
	*ddate = (uint16_t)(((lt.tm_year - 80) << 9) | ((lt.tm_mon + 1) << 5) | lt.tm_mday);
}

static int zw_add_entry(struct zipw *w, const char *name, size_t len, time_t mtime,
                        struct rowd_error *err)
{
	struct zipw_entry *e;

	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 4;
		struct zipw_entry *p = realloc(w->ents, cap * sizeof *p);

		if (!p)
			return rowd_error_set(err, ROWD_ENOMEM, "zip: out of memory");
		w->ents = p;
		w->cap = cap;
	}
	e = &w->ents[w->n];
	memset(e, 0, sizeof *e);
	e->name = malloc(len + 1);
	if (!e->name)
		return rowd_error_set(err, ROWD_ENOMEM, "zip: out of memory");
	memcpy(e->name, name, len + 1);
	e->name_len = (uint16_t)len;
	e->flags = FLAG_DESCRIPTOR;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)name[i] >= 0x80)
			e->flags |= FLAG_UTF8;
	e->version = w->force64 ? VERSION_ZIP64 : VERSION_DEFLATE;
	dos_datetime(mtime, &e->dos_time, &e->dos_date);
	/* The extended timestamp holds a signed 32-bit time. */
	e->has_ut = mtime >= INT32_MIN && mtime <= INT32_MAX;
	e->ut = (uint32_t)(int32_t)mtime;
	e->offset = zipw_offset(w);
	e->crc = (uint32_t)crc32(0, NULL, 0);
	w->n++;
	return 0;
}

/* Sizes are unknown here (flag bit 3): zeros, or with ZIP64 forced the
 * 0xffffffff markers and a ZIP64 field of zeros, as Python writes. */
static int zw_local_header(struct zipw *w, const struct zipw_entry *e, struct rowd_error *err)
{
	struct rec r = { .n = 0 }, x = { .n = 0 };

	if (w->force64) {
		le16(&x, EXTRA_ZIP64);
		le16(&x, 16);
		le64(&x, 0);
		le64(&x, 0);
	}
	if (e->has_ut) {
		le16(&x, EXTRA_UT);
		le16(&x, 5);
		x.b[x.n++] = 1;              /* mtime present */
		le32(&x, e->ut);
	}
	le32(&r, SIG_LOCAL);
	le16(&r, e->version);
	le16(&r, e->flags);
	le16(&r, METHOD_DEFLATE);
	le16(&r, e->dos_time);
	le16(&r, e->dos_date);
	le32(&r, 0);                         /* CRC-32: in the descriptor */
	le32(&r, w->force64 ? ZW_U32_MAX : 0);
	le32(&r, w->force64 ? ZW_U32_MAX : 0);
	le16(&r, e->name_len);
	le16(&r, (uint32_t)x.n);
	if (zw_put_rec(w, &r, err) < 0 || zw_put(w, e->name, e->name_len, err) < 0)
		return -1;
	return zw_put_rec(w, &x, err);
}

int zipw_member_begin(struct zipw *w, const char *name, int level, time_t mtime,
                      struct rowd_error *err)
{
	size_t len = strlen(name);
	int rc;

	if (zw_usable(w, err) < 0)
		return -1;
	if (w->in_member)
		return rowd_error_set(err, ROWD_EINVAL, "zip: member '%.100s' is still open",
		                      w->ents[w->n - 1].name);
	if (level < 0 || level > 9)
		return rowd_error_set(err, ROWD_EINVAL, "zip: level %d is not between 0 and 9", level);
	if (zw_check_name(w, name, len, err) < 0)
		return -1;
	memset(&w->z, 0, sizeof w->z);
	/* Raw deflate: the zip headers replace zlib's. */
	rc = deflateInit2(&w->z, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
	if (rc != Z_OK)
		return rowd_error_set(err, rc == Z_MEM_ERROR ? ROWD_ENOMEM : ROWD_EIO,
		                      "zip: cannot start deflate (%d)", rc);
	w->z_live = true;
	if (zw_add_entry(w, name, len, mtime, err) < 0) {
		deflateEnd(&w->z);
		w->z_live = false;
		return -1;
	}
	w->in_member = true;
	if (zw_local_header(w, &w->ents[w->n - 1], err) < 0)
		return -1;
	return 0;
}

/* Deflates p[0..n) into buf, flushing it when full; with finish, also
 * ends the deflate stream. */
static int zw_deflate(struct zipw *w, struct zipw_entry *e, const unsigned char *p, size_t n,
                      bool finish, struct rowd_error *err)
{
	for (;;) {
		uInt give = n > ZW_STEP ? ZW_STEP : (uInt)n;
		uInt room = (uInt)(sizeof w->buf - w->used);
		int rc;

		w->z.next_in = (Bytef *)(uintptr_t)p;
		w->z.avail_in = give;
		w->z.next_out = w->buf + w->used;
		w->z.avail_out = room;
		rc = deflate(&w->z, finish && give == n ? Z_FINISH : Z_NO_FLUSH);
		/* p is NULL when finishing with nothing left: no arithmetic on it. */
		if (give - w->z.avail_in) {
			p += give - w->z.avail_in;
			n -= give - w->z.avail_in;
		}
		w->used += room - w->z.avail_out;
		e->csize += room - w->z.avail_out;
		if (rc == Z_STREAM_END)
			return 0;
		if (rc != Z_OK && rc != Z_BUF_ERROR) {
			w->broken = true;
			return rowd_error_set(err, ROWD_EIO, "zip: deflate failed (%d)", rc);
		}
		if (w->used == sizeof w->buf) {
			if (zw_flush(w, err) < 0)
				return -1;
		} else if (!finish && n == 0) {
			return 0;
		}
	}
}

static int zw_in_member(const struct zipw *w, struct rowd_error *err)
{
	if (zw_usable(w, err) < 0)
		return -1;
	if (!w->in_member)
		return rowd_error_set(err, ROWD_EINVAL, "zip: no member is open");
	return 0;
}

int zipw_member_write(struct zipw *w, const void *buf, size_t n, struct rowd_error *err)
{
	struct zipw_entry *e;
	const unsigned char *p = buf;

	if (zw_in_member(w, err) < 0)
		return -1;
	if (n == 0)
		return 0;
	e = &w->ents[w->n - 1];
	for (size_t off = 0; off < n; off += ZW_STEP) {
		size_t k = n - off < ZW_STEP ? n - off : ZW_STEP;

		e->crc = (uint32_t)crc32(e->crc, p + off, (uInt)k);
	}
	e->usize += n;
	if (zw_deflate(w, e, p, n, false, err) < 0) {
		w->broken = true;
		return -1;
	}
	return 0;
}

/* 8-byte sizes where a size reaches the 32-bit marker, or when forced. */
static bool zw_big(const struct zipw *w, uint64_t v)
{
	return w->force64 || v >= ZW_U32_MAX;
}

int zipw_member_end(struct zipw *w, struct rowd_error *err)
{
	struct zipw_entry *e;
	struct rec r = { .n = 0 };

	if (zw_in_member(w, err) < 0)
		return -1;
	e = &w->ents[w->n - 1];
	if (zw_deflate(w, e, NULL, 0, true, err) < 0) {
		w->broken = true;
		return -1;
	}
	deflateEnd(&w->z);
	w->z_live = false;
	w->in_member = false;
	le32(&r, SIG_DESC);
	le32(&r, e->crc);
	if (zw_big(w, e->csize) || zw_big(w, e->usize)) {
		le64(&r, e->csize);
		le64(&r, e->usize);
	} else {
		le32(&r, (uint32_t)e->csize);
		le32(&r, (uint32_t)e->usize);
	}
	return zw_put_rec(w, &r, err);
}

/* ---- central directory and end records ------------------------------------ */

static int zw_central(struct zipw *w, const struct zipw_entry *e, struct rowd_error *err)
{
	struct rec r = { .n = 0 }, x = { .n = 0 };
	bool bu = zw_big(w, e->usize), bc = zw_big(w, e->csize), bo = zw_big(w, e->offset);
	uint16_t version = bu || bc || bo ? VERSION_ZIP64 : e->version;

	/* The ZIP64 field holds exactly the values whose fields are markers,
	 * in this order. */
	if (bu || bc || bo) {
		le16(&x, EXTRA_ZIP64);
		le16(&x, 8u * (unsigned)(bu + bc + bo));
		if (bu)
			le64(&x, e->usize);
		if (bc)
			le64(&x, e->csize);
		if (bo)
			le64(&x, e->offset);
	}
	if (e->has_ut) {
		le16(&x, EXTRA_UT);
		le16(&x, 5);
		x.b[x.n++] = 1;
		le32(&x, e->ut);
	}
	le32(&r, SIG_CENTRAL);
	le16(&r, MADE_BY_UNIX | version);
	le16(&r, version);
	le16(&r, e->flags);
	le16(&r, METHOD_DEFLATE);
	le16(&r, e->dos_time);
	le16(&r, e->dos_date);
	le32(&r, e->crc);
	le32(&r, bc ? ZW_U32_MAX : (uint32_t)e->csize);
	le32(&r, bu ? ZW_U32_MAX : (uint32_t)e->usize);
	le16(&r, e->name_len);
	le16(&r, (uint32_t)x.n);
	le16(&r, 0);                         /* comment */
	le16(&r, 0);                         /* disk */
	le16(&r, 0);                         /* internal attributes */
	le32(&r, ATTR_FILE_0644);
	le32(&r, bo ? ZW_U32_MAX : (uint32_t)e->offset);
	if (zw_put_rec(w, &r, err) < 0 || zw_put(w, e->name, e->name_len, err) < 0)
		return -1;
	return zw_put_rec(w, &x, err);
}

static int zw_end(struct zipw *w, uint64_t cd_start, uint64_t cd_size, struct rowd_error *err)
{
	struct rec r = { .n = 0 };
	uint64_t end64 = zipw_offset(w);
	bool z64 = w->force64 || w->n >= ZW_U16_MAX || cd_start >= ZW_U32_MAX ||
	           cd_size >= ZW_U32_MAX;

	if (z64) {
		le32(&r, SIG_END64);
		le64(&r, 44);                /* the record's size after this field */
		le16(&r, MADE_BY_UNIX | VERSION_ZIP64);
		le16(&r, VERSION_ZIP64);
		le32(&r, 0);                 /* this disk */
		le32(&r, 0);                 /* the central directory's disk */
		le64(&r, w->n);
		le64(&r, w->n);
		le64(&r, cd_size);
		le64(&r, cd_start);
		le32(&r, SIG_LOC64);
		le32(&r, 0);
		le64(&r, end64);
		le32(&r, 1);                 /* disks */
	}
	le32(&r, SIG_END);
	le16(&r, 0);
	le16(&r, 0);
	le16(&r, w->n >= ZW_U16_MAX ? ZW_U16_MAX : (uint32_t)w->n);
	le16(&r, w->n >= ZW_U16_MAX ? ZW_U16_MAX : (uint32_t)w->n);
	le32(&r, w->force64 ? ZW_U32_MAX : cap32(cd_size));
	le32(&r, w->force64 ? ZW_U32_MAX : cap32(cd_start));
	le16(&r, 0);                         /* comment */
	return zw_put_rec(w, &r, err);
}

int zipw_finish(struct zipw *w, struct rowd_error *err)
{
	uint64_t cd_start;

	if (zw_usable(w, err) < 0)
		return -1;
	if (w->in_member && zipw_member_end(w, err) < 0)
		return -1;
	cd_start = zipw_offset(w);
	for (size_t i = 0; i < w->n; i++)
		if (zw_central(w, &w->ents[i], err) < 0)
			return -1;
	if (zw_end(w, cd_start, zipw_offset(w) - cd_start, err) < 0 || zw_flush(w, err) < 0)
		return -1;
	w->finished = true;
	return 0;
}
