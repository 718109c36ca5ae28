/* The zip archive as a libzip source over pread (see zipsource.h). */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "codec.h"
#include "zipsource.h"

static zip_int64_t zipsrc_read(struct zipsrc *s, void *data, zip_uint64_t len)
{
	struct rawin raw = { .fd = s->fd, .pos = s->pos, .size = s->size };
	ssize_t r;

	if (len > SIZE_MAX / 2)
		len = SIZE_MAX / 2;
	rowd_error_clear(&s->io);
	/* A short read is fine: libzip asks again, and 0 is the end (a file
	 * shrunk since reads as truncated). */
	r = rawin_read(&raw, data, (size_t)len, &s->io);
	if (r < 0) {
		s->io_failed = true;
		zip_error_set(&s->error, ZIP_ER_READ, EIO);
		return -1;
	}
	s->last_start = s->pos;
	s->pos += (uint64_t)r;
	s->last_end = s->pos;
	return r;
}

static zip_int64_t zipsrc_cb(void *ud, void *data, zip_uint64_t len, zip_source_cmd_t cmd)
{
	struct zipsrc *s = ud;
	zip_int64_t np;
	zip_stat_t *st;

	switch (cmd) {
	case ZIP_SOURCE_OPEN:
		s->pos = 0;
		return 0;
	case ZIP_SOURCE_READ:
		return zipsrc_read(s, data, len);
	case ZIP_SOURCE_CLOSE:
		return 0;
	case ZIP_SOURCE_FREE:
		if (s->owned) {
			close(s->fd);
			zip_error_fini(&s->error);
			free(s);
		}
		return 0;
	case ZIP_SOURCE_STAT:
		st = ZIP_SOURCE_GET_ARGS(zip_stat_t, data, len, &s->error);
		if (!st)
			return -1;
		zip_stat_init(st);
		st->size = s->size;
		st->valid |= ZIP_STAT_SIZE;
		return sizeof *st;
	case ZIP_SOURCE_ERROR:
		return zip_error_to_data(&s->error, data, len);
	case ZIP_SOURCE_SEEK:
		np = zip_source_seek_compute_offset(s->pos, s->size, data, len, &s->error);
		if (np < 0)
			return -1;
		s->pos = (uint64_t)np;
		return 0;
	case ZIP_SOURCE_TELL:
		return (zip_int64_t)s->pos;
	case ZIP_SOURCE_SUPPORTS:
		return ZIP_SOURCE_SUPPORTS_SEEKABLE;
	default:
		zip_error_set(&s->error, ZIP_ER_OPNOTSUPP, 0);
		return -1;
	}
}

zip_source_t *zipsrc_create(struct zipsrc *s, zip_error_t *ze)
{
	return zip_source_function_create(zipsrc_cb, s, ze);
}

int zipsrc_fail(struct rowd_error *err, uint64_t offset, const char *fmt, ...)
{
	char what[ROWD_ERRMSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	rowd_error_set(err, ROWD_ECODEC, "zip: %s", what);
	err->offset = (int64_t)offset;
	return -1;
}
