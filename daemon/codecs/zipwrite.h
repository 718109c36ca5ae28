/* A streaming zip archive writer: members one after another, each
 * deflated as its bytes come (a member is never held whole in memory),
 * the archive's bytes handed to a sink in order (no seeking back).
 *
 * Each member has a local header with sizes unknown (general purpose
 * flag bit 3) and a data descriptor after its data with the CRC-32 and
 * sizes; zipw_finish writes the central directory and end records.
 * ZIP64: a descriptor carries 8-byte sizes when a size reaches 4 GiB (the
 * convention of Go's archive/zip and Java's ZipOutputStream), and central
 * entries and end records get ZIP64 extra fields / records when a size,
 * offset or the member count passes the 32/16-bit fields.
 *
 * Usage: zipw_open, then per member zipw_member_begin, zipw_member_write
 * (any number), zipw_member_end; then zipw_finish; zipw_free always (it
 * abandons an unfinished archive). After a sink failure every call fails
 * with EIO; calls out of order are EINVAL. Messages start with "zip: ".
 */
#ifndef ROWD_CODECS_ZIPWRITE_H
#define ROWD_CODECS_ZIPWRITE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "rowd_proto.h"

/* Writes all of buf[0..n) or fails (0 / -1 with err set). */
typedef int (*zipw_sink)(void *ctx, const void *buf, size_t n, struct rowd_error *err);

struct zipw;

/* NULL with ENOMEM. */
struct zipw *zipw_open(zipw_sink sink, void *ctx, struct rowd_error *err);

/* Starts a member: name is a relative path with '/' separators (no
 * leading '/', no ".." component, not a directory, not already in the
 * archive: EINVAL otherwise); level 0 (stored in deflate blocks) .. 9;
 * mtime is recorded as DOS local time and as a UTC extended timestamp. */
int zipw_member_begin(struct zipw *w, const char *name, int level, time_t mtime,
                      struct rowd_error *err);
int zipw_member_write(struct zipw *w, const void *buf, size_t n, struct rowd_error *err);
int zipw_member_end(struct zipw *w, struct rowd_error *err);

/* Central directory and end records. A member still open is ended. */
int zipw_finish(struct zipw *w, struct rowd_error *err);
void zipw_free(struct zipw *w);

/* ZIP64 fields and records whatever the sizes (as Python's force_zip64):
 * for tests, and for consumers that must append past 4 GiB. Call before
 * the first member. */
void zipw_force_zip64(struct zipw *w);

/* Bytes handed to the sink or buffered so far: the archive's size. */
uint64_t zipw_offset(const struct zipw *w);

#endif
