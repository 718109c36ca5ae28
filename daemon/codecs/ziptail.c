/* The end of a zip archive (see ziptail.h). Records per APPNOTE 4.3.14-16;
 * all integers little-endian. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "zipsource.h"
#include "ziptail.h"

#define END_LEN    22
#define LOC64_LEN  20
#define END64_LEN  56                      /* without extensible data */
#define TAIL_MAX   (END_LEN + 0xffff)      /* the end record and its comment */

static uint64_t le(const unsigned char *p, int bytes)
{
	uint64_t v = 0;

	while (bytes-- > 0)
		v = v << 8 | p[bytes];
	return v;
}

/* The end record is buf[i], base the file offset of buf[0]. What precedes
 * it must end where it (or the ZIP64 end record) starts. */
static int check_layout(const unsigned char *buf, size_t i, uint64_t base, uint64_t *entries,
                        struct rowd_error *err)
{
	uint64_t next = base + i, cd_end;

	*entries = le(buf + i + 10, 2);

	if (i >= LOC64_LEN && memcmp(buf + i - LOC64_LEN, "PK\x06\x07", 4) == 0) {
		uint64_t loc = next - LOC64_LEN, end64 = le(buf + i - LOC64_LEN + 8, 8);
		const unsigned char *r;

		if (end64 > loc || loc - end64 < END64_LEN)
			return zipsrc_fail(err, loc, "corrupt data: the ZIP64 locator points past "
			                   "itself");
		/* A record beyond the window: libzip checks it. */
		if (end64 < base)
			return 0;
		r = buf + (end64 - base);
		if (memcmp(r, "PK\x06\x06", 4) != 0)
			return zipsrc_fail(err, end64, "corrupt data: no ZIP64 end record where its "
			                   "locator points");
		if (end64 + 12 + le(r + 4, 8) != loc)
			return zipsrc_fail(err, end64, "corrupt data: the ZIP64 end record's size "
			                   "(%llu) does not reach its locator",
			                   (unsigned long long)le(r + 4, 8));
		cd_end = le(r + 48, 8) + le(r + 40, 8);
		*entries = le(r + 32, 8);
		next = end64;
	} else {
		cd_end = le(buf + i + 16, 4) + le(buf + i + 12, 4);
	}
	if (cd_end > next)
		return zipsrc_fail(err, next, "corrupt data: the central directory overlaps the end "
		                   "record (by %llu bytes)", (unsigned long long)(cd_end - next));
	if (cd_end < next)
		return zipsrc_fail(err, cd_end, "corrupt data: %llu bytes no record accounts for "
		                   "before the end record (archives joined end to end?)",
		                   (unsigned long long)(next - cd_end));
	return 0;
}

int ziptail_check(int fd, uint64_t size, struct ziptail *t, struct rowd_error *err)
{
	size_t n = size < TAIL_MAX ? (size_t)size : TAIL_MAX, got = 0;
	struct rawin raw = { .fd = fd, .pos = size - n, .size = size };
	uint64_t stray = 0;
	unsigned char *buf;
	int rc = 0;

	t->at_end = false;
	t->entries = 0;
	if (n < END_LEN)
		return 0;
	buf = malloc(n);
	if (!buf)
		return rowd_error_set(err, ROWD_ENOMEM, "zip: out of memory");
	while (got < n) {
		ssize_t r = rawin_read(&raw, buf + got, n - got, err);

		if (r <= 0) {
			free(buf);
			return r < 0 ? -1 : rowd_error_set(err, ROWD_EIO, "zip: the archive shrank while read");
		}
		got += (size_t)r;
	}
	for (size_t i = n - END_LEN + 1; i-- > 0;) {
		size_t end;

		if (memcmp(buf + i, "PK\x05\x06", 4) != 0)
			continue;
		end = i + END_LEN + (size_t)le(buf + i + 20, 2);
		if (end == n) {
			t->at_end = true;
			rc = check_layout(buf, i, size - n, &t->entries, err);
			free(buf);
			if (rc == 0 && t->entries > ZIPTAIL_ENTRIES_MAX)
				rc = rowd_error_set(err, ROWD_ELIMIT, "zip: the archive lists %llu entries, "
				                    "more than the limit of %u", (unsigned long long)t->entries,
				                    ZIPTAIL_ENTRIES_MAX);
			return rc;
		}
		if (end < n && !stray)
			stray = size - n + end;
	}
	free(buf);
	if (stray)
		return zipsrc_fail(err, stray, "trailing garbage: %llu bytes after the end of "
		                   "central directory record", (unsigned long long)(size - stray));
	return 0;
}
