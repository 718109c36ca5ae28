/* The zip codec: one member of an archive as a byte stream.
 *
 * Reading goes through libzip over the handle's own fd: a libzip source
 * (zipsource.c) whose callbacks pread at a private position (never a path
 * re-resolved, so the confinement of paths.c holds, and several readers
 * share the fd: `totals` counts while the handle keeps its place). The archive is opened
 * on the first rd_read, as the stream codecs read their headers there.
 * The member is codec_options.member, else the only data member
 * (directories and macOS' __MACOSX/ resource forks are not data); an
 * archive without one reads as an empty stream. ziptail.c first checks
 * that the file ends with the archive (no trailing bytes, no second
 * archive behind the first) and bounds the entry count; libzip checks the
 * rest (ZIP_CHECKCONS: local headers against the central directory) and
 * each member's CRC-32 and size; we check the size once more, so that a
 * member can never end early unnoticed.
 *
 * Errors: not a zip, cut short, inconsistent, bad deflate data, CRC
 * mismatch: ECODEC "zip: ..." with the archive offset where libzip's
 * reading stood (the start of the chunk being decoded; for a CRC or size
 * mismatch the end of the member's data; for a missing end record the
 * file's end; for stray bytes the first of them). Encryption and
 * compression methods libzip lacks: ENOTSUP. A failed pread while opening
 * is EIO and the next read tries again; any other failure repeats on
 * every later read.
 *
 * Writing is zipwrite.c: exactly one member, deflated as it streams, named
 * codec_options.member or after the target file without its ".zip".
 * Its time is now, or SOURCE_DATE_EPOCH when set (reproducible output).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zip.h>

#include "codec.h"
#include "options.h"
#include "zipsource.h"
#include "ziptail.h"
#include "zipwrite.h"

#define ZP_LEVEL_DEFAULT 6
/* Bytes of member names listed in an error message (limit 256). */
#define ZP_NAMES_MAX 140

/* ---- reader ------------------------------------------------------------- */

enum zp_phase { ZP_START, ZP_BODY, ZP_END, ZP_FAILED };

struct zp_rd {
	struct rawin *in;
	char *member;                /* codec_options.member, or NULL */
	enum zp_phase phase;
	struct rowd_error failure;   /* repeated once failed */
	struct zipsrc src;
	struct ziptail tail;         /* what the end record says */
	zip_t *za;
	zip_file_t *zf;
	const char *name;            /* the member read (owned by za) */
	bool size_known;
	uint64_t want, got;
};

/* The first bytes are (a prefix of) a local header or an empty archive's
 * end record: an archive whose end is missing, rather than no archive. */
static bool zp_looks_cut(const struct zipsrc *s)
{
	unsigned char head[4];
	ssize_t n = pread(s->fd, head, sizeof head, 0);

	return n > 0 && (memcmp(head, "PK\x03\x04", (size_t)n) == 0 ||
	                 memcmp(head, "PK\x05\x06", (size_t)n) == 0);
}

/* libzip's verdict on opening the archive as a rowd error. */
static int zp_open_error(struct zp_rd *s, zip_error_t *ze, struct rowd_error *err)
{
	if (s->src.io_failed) {
		*err = s->src.io;
		return -1;
	}
	switch (zip_error_code_zip(ze)) {
	case ZIP_ER_MEMORY:
		return rowd_error_set(err, ROWD_ENOMEM, "zip: out of memory");
	case ZIP_ER_NOZIP:
		/* libzip says so of a missing end record, and of any header
		 * without its signature. */
		if (s->tail.at_end)
			return zipsrc_fail(err, s->src.last_start,
			                   "corrupt data: a header lacks its signature");
		if (zp_looks_cut(&s->src))
			return zipsrc_fail(err, s->src.size,
			                   "truncated stream: no end of central directory record "
			                   "(the archive is cut short or damaged)");
		return zipsrc_fail(err, 0, "not a zip archive (no end of central directory record)");
	case ZIP_ER_MULTIDISK:
		/* A split archive's last part alone, or a damaged end record:
		 * this file by itself is no readable archive. */
		return zipsrc_fail(err, s->src.last_start,
		                   "corrupt data: the end record names another disk "
		                   "(split archives are not read)");
	default:
		return zipsrc_fail(err, s->src.last_start, "corrupt data: %s",
		                   zip_error_strerror(ze));
	}
}

static bool zp_is_data(const char *name)
{
	size_t len = strlen(name);

	return len > 0 && name[len - 1] != '/' && strncmp(name, "__MACOSX/", 9) != 0;
}

/* "'a.csv', 'b.csv', ..." into buf, bounded. */
static void zp_names(zip_t *za, zip_int64_t n, char *buf, size_t cap)
{
	size_t off = 0;

	buf[0] = '\0';
	for (zip_int64_t i = 0; i < n; i++) {
		const char *name = zip_get_name(za, (zip_uint64_t)i, 0);
		int k;

		if (!name || !zp_is_data(name))
			continue;
		if (off > ZP_NAMES_MAX) {
			snprintf(buf + off, cap - off, ", ...");
			return;
		}
		k = snprintf(buf + off, cap - off, "%s'%.60s'", off ? ", " : "", name);
		if (k < 0 || (size_t)k >= cap - off)
			return;
		off += (size_t)k;
	}
}

/* The member to read: *idx, or -1 for an archive with no data member. */
static int zp_choose(struct zp_rd *s, zip_int64_t *idx, struct rowd_error *err)
{
	zip_int64_t n = zip_get_num_entries(s->za, 0), found = -1;
	char names[ZP_NAMES_MAX + 80];

	for (zip_int64_t i = 0; i < n; i++) {
		const char *name = zip_get_name(s->za, (zip_uint64_t)i, 0);

		if (!name)
			return zipsrc_fail(err, s->src.last_start,
			                   "corrupt data: entry %lld has no usable name: %s",
			                   (long long)i, zip_error_strerror(zip_get_error(s->za)));
		/* Without `member`, the first data member (DESIGN); detect names
		 * it. Every entry is still looked at: a nameless one is corrupt. */
		if (found < 0 && (s->member ? strcmp(name, s->member) == 0 : zp_is_data(name)))
			found = i;
	}
	*idx = found;
	if (s->member && found < 0) {
		zp_names(s->za, n, names, sizeof names);
		return rowd_error_set(err, ROWD_EINVAL, "zip: no member '%.60s' in the archive (members: %s)",
		                      s->member, names[0] ? names : "none");
	}
	if (s->member && *s->member && s->member[strlen(s->member) - 1] == '/')
		return rowd_error_set(err, ROWD_EINVAL, "zip: member '%.60s' is a directory", s->member);
	return 0;
}

static const char *zp_method_name(unsigned m)
{
	switch (m) {
	case 1: return "shrink";
	case 2: case 3: case 4: case 5: return "reduce";
	case 6: case 10: return "implode";
	case 9: return "deflate64";
	case 12: return "bzip2";
	case 14: return "lzma";
	case 93: case 20: return "zstd";
	case 95: return "xz";
	case 98: return "ppmd";
	default: return NULL;
	}
}

/* A method the APPNOTE defines but libzip cannot read is ENOTSUP; a
 * number it does not define is damage. */
static int zp_method_error(struct zp_rd *s, unsigned m, struct rowd_error *err)
{
	const char *what = zp_method_name(m);

	if (what || (m <= 20 && m != 11 && m != 13 && m != 15 && m != 17) || (m >= 94 && m <= 97))
		return rowd_error_set(err, ROWD_ENOTSUP,
		                      "zip: member '%.60s' uses compression method %u (%s), which "
		                      "this build's libzip cannot read", s->name, m, what ? what : "?");
	return zipsrc_fail(err, s->src.last_start,
	                   "corrupt data: member '%.60s' has unknown compression method %u",
	                   s->name, m);
}

/* zip_fopen_index and zip_fread failures. */
static int zp_member_error(struct zp_rd *s, zip_error_t *ze, struct rowd_error *err)
{
	if (s->src.io_failed) {
		*err = s->src.io;
		return -1;
	}
	switch (zip_error_code_zip(ze)) {
	case ZIP_ER_MEMORY:
		return rowd_error_set(err, ROWD_ENOMEM, "zip: out of memory");
	case ZIP_ER_ENCRNOTSUPP:
	case ZIP_ER_NOPASSWD:
	case ZIP_ER_WRONGPASSWD:
		return rowd_error_set(err, ROWD_ENOTSUP, "zip: member '%.60s' is encrypted: rowd reads "
		                      "unencrypted archives only", s->name);
	case ZIP_ER_COMPNOTSUPP:
		return rowd_error_set(err, ROWD_ENOTSUP, "zip: member '%.60s': %s", s->name,
		                      zip_error_strerror(ze));
	case ZIP_ER_CRC:
		return zipsrc_fail(err, s->src.last_end,
		                   "corrupt data: CRC-32 mismatch in member '%.60s'", s->name);
	case ZIP_ER_EOF:
		return zipsrc_fail(err, s->src.last_end,
		                   "truncated stream: member '%.60s' ends early", s->name);
	case ZIP_ER_INCONS:
		return zipsrc_fail(err, s->src.last_start,
		                   "corrupt data: member '%.60s' does not match the central "
		                   "directory", s->name);
	default:
		return zipsrc_fail(err, s->src.last_start, "corrupt data: member '%.60s': %s",
		                   s->name, zip_error_strerror(ze));
	}
}

static void zp_release(struct zp_rd *s)
{
	if (s->zf)
		zip_fclose(s->zf);
	if (s->za)
		zip_discard(s->za);      /* frees the source too */
	s->zf = NULL;
	s->za = NULL;
	s->name = NULL;
	zip_error_fini(&s->src.error);
}

/* Opens the archive and the member; phase BODY, or END when there is no
 * data member. */
static int zp_open_member(struct zp_rd *s, struct rowd_error *err)
{
	zip_int64_t idx = -1;
	zip_stat_t st;

	if (zp_choose(s, &idx, err) < 0)
		return -1;
	if (idx < 0) {
		s->phase = ZP_END;
		return 0;
	}
	s->name = zip_get_name(s->za, (zip_uint64_t)idx, 0);
	zip_stat_init(&st);
	if (zip_stat_index(s->za, (zip_uint64_t)idx, 0, &st) < 0)
		return zp_member_error(s, zip_get_error(s->za), err);
	if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE)
		return rowd_error_set(err, ROWD_ENOTSUP, "zip: member '%.60s' is encrypted: rowd reads "
		                      "unencrypted archives only", s->name);
	if ((st.valid & ZIP_STAT_COMP_METHOD) && !zip_compression_method_supported(st.comp_method, 0))
		return zp_method_error(s, st.comp_method, err);
	s->size_known = st.valid & ZIP_STAT_SIZE;
	s->want = st.size;
	s->zf = zip_fopen_index(s->za, (zip_uint64_t)idx, 0);
	if (!s->zf)
		return zp_member_error(s, zip_get_error(s->za), err);
	s->phase = ZP_BODY;
	return 0;
}

static int zp_start(struct zp_rd *s, struct rowd_error *err)
{
	zip_source_t *zs;
	zip_error_t ze;
	struct stat st;

	memset(&s->src, 0, sizeof s->src);
	s->src.fd = s->in->fd;
	zip_error_init(&s->src.error);
	if (fstat(s->src.fd, &st) < 0) {
		rowd_error_set(err, ROWD_EIO, "zip: cannot stat the archive: %s", strerror(errno));
		err->offset = 0;
		return -1;
	}
	s->src.size = (uint64_t)st.st_size;
	if (ziptail_check(s->src.fd, s->src.size, &s->tail, err) < 0)
		return -1;
	zip_error_init(&ze);
	zs = zipsrc_create(&s->src, &ze);
	if (!zs) {
		zip_error_fini(&ze);
		return rowd_error_set(err, ROWD_ENOMEM, "zip: out of memory");
	}
	s->za = zip_open_from_source(zs, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
	if (!s->za) {
		int rc = zp_open_error(s, &ze, err);

		zip_source_free(zs);
		zip_error_fini(&ze);
		return rc;
	}
	zip_error_fini(&ze);
	return zp_open_member(s, err);
}

static ssize_t zp_fail(struct zp_rd *s, struct rowd_error *err)
{
	zp_release(s);
	if (err->code == ROWD_EIO && s->phase == ZP_START)
		return -1;               /* nothing consumed: try again next time */
	s->phase = ZP_FAILED;
	s->failure = *err;
	return -1;
}

static ssize_t zp_rd_read(void *state, void *buf, size_t n, struct rowd_error *err)
{
	struct zp_rd *s = state;
	zip_int64_t r;

	/* As read(2) with count 0: nothing read, no state touched. */
	if (n == 0)
		return 0;
	if (s->phase == ZP_START && zp_start(s, err) < 0)
		return zp_fail(s, err);
	if (s->phase == ZP_END)
		return 0;
	if (s->phase == ZP_FAILED) {
		*err = s->failure;
		return -1;
	}
	r = zip_fread(s->zf, buf, n);
	s->in->pos = s->src.last_end;
	if (r < 0) {
		zp_member_error(s, zip_file_get_error(s->zf), err);
		return zp_fail(s, err);
	}
	s->got += (uint64_t)r;
	if (s->size_known && (r == 0 ? s->got < s->want : s->got > s->want)) {
		zipsrc_fail(err, s->src.last_end,
		            "corrupt data: member '%.60s' has %s bytes than the %llu its entry says",
		            s->name, r == 0 ? "fewer" : "more", (unsigned long long)s->want);
		return zp_fail(s, err);
	}
	if (r == 0)
		s->phase = ZP_END;
	return (ssize_t)r;
}

static const char *zp_rd_name(void *state)
{
	const struct zp_rd *s = state;

	return s->phase == ZP_BODY || s->phase == ZP_END ? s->name : NULL;
}

static void zp_rd_close(void *state)
{
	struct zp_rd *s = state;

	if (!s)
		return;
	if (s->phase != ZP_START)
		zp_release(s);
	free(s->member);
	free(s);
}

/* codec_options.member as a C string in *out (NULL when absent). */
static int zp_member_option(const msgpack_object *copts, char **out, struct rowd_error *err)
{
	const char *m;
	size_t len;
	int rc = opts_str(copts, "member", &m, &len, err);

	*out = NULL;
	if (rc <= 0)
		return rc;
	if (memchr(m, '\0', len))
		return rowd_error_set(err, ROWD_EINVAL, "option 'member' must not contain NUL");
	*out = strndup(m, len);
	if (!*out)
		return rowd_error_set(err, ROWD_ENOMEM, "zip: out of memory");
	return 1;
}

static int zp_rd_open(struct rawin *in, const msgpack_object *copts, void **state,
                      struct rowd_error *err)
{
	static const char *const known[] = { "member", NULL };
	struct zp_rd *s;

	if (opts_check_known(copts, known, "codec zip (reading)", err) < 0)
		return -1;
	s = calloc(1, sizeof *s);
	if (!s)
		return rowd_error_set(err, ROWD_ENOMEM, "zip: out of memory");
	if (zp_member_option(copts, &s->member, err) < 0) {
		free(s);
		return -1;
	}
	s->in = in;
	s->phase = ZP_START;
	*state = s;
	return 0;
}

/* ---- writer ------------------------------------------------------------- */

static int zp_sink(void *ctx, const void *buf, size_t n, struct rowd_error *err)
{
	return rawout_write(ctx, buf, n, err);
}

/* The target's name without directories and ".zip"; "data" without one. */
static char *zp_default_member(const char *target)
{
	const char *base = target ? strrchr(target, '/') : NULL;
	size_t len;

	base = base ? base + 1 : target;
	if (!base || !*base)
		base = "data";
	len = strlen(base);
	if (len > 4 && strcasecmp(base + len - 4, ".zip") == 0)
		len -= 4;
	return strndup(base, len);
}

static time_t zp_mtime(void)
{
	const char *e = getenv("SOURCE_DATE_EPOCH");

	if (e && *e) {
		char *end;
		long long v;

		errno = 0;
		v = strtoll(e, &end, 10);
		if (*end == '\0' && errno == 0 && v >= 0)
			return (time_t)v;
	}
	return time(NULL);
}

static int zp_wr_open(struct rawout *out, const msgpack_object *copts, void **state,
                      struct rowd_error *err)
{
	static const char *const known[] = { "level", "member", NULL };
	int64_t level = ZP_LEVEL_DEFAULT;
	struct zipw *w;
	char *name;
	int rc;

	if (opts_check_known(copts, known, "codec zip", err) < 0 ||
	    opts_int(copts, "level", 0, 9, &level, err) < 0)
		return -1;
	rc = zp_member_option(copts, &name, err);
	if (rc < 0)
		return -1;
	if (rc == 0 && !(name = zp_default_member(out->name)))
		return rowd_error_set(err, ROWD_ENOMEM, "zip: out of memory");
	w = zipw_open(zp_sink, out, err);
	if (!w || zipw_member_begin(w, name, (int)level, zp_mtime(), err) < 0) {
		zipw_free(w);
		free(name);
		return -1;
	}
	free(name);
	*state = w;
	return 0;
}

static int zp_wr_write(void *state, const void *buf, size_t n, struct rowd_error *err)
{
	return zipw_member_write(state, buf, n, err);
}

static int zp_wr_finish(void *state, struct rowd_error *err)
{
	return zipw_finish(state, err);
}

static void zp_wr_close(void *state)
{
	zipw_free(state);
}

/* ---- the codec --------------------------------------------------------- */

/* A local file header, or the end record of an empty archive. */
static bool zp_magic(const unsigned char *head, size_t n)
{
	return n >= 4 && head[0] == 'P' && head[1] == 'K' &&
	       ((head[2] == 3 && head[3] == 4) || (head[2] == 5 && head[3] == 6));
}

const struct codec_ops codec_zip = {
	.name = "zip",
	.extensions = (const char *const[]){ "zip", NULL },
	.magic = zp_magic,
	.rd_open = zp_rd_open,
	.rd_read = zp_rd_read,
	.rd_name = zp_rd_name,
	.rd_close = zp_rd_close,
	.wr_open = zp_wr_open,
	.wr_write = zp_wr_write,
	.wr_finish = zp_wr_finish,
	.wr_close = zp_wr_close,
};
