/* Where a zip archive ends, checked before libzip reads it: libzip takes
 * the last end record it can make sense of, so bytes after an archive, or
 * a second archive appended to a first (`cat a.zip b.zip`), would go
 * unnoticed and the first archive be read as if it were the file. */
#ifndef ROWD_CODECS_ZIPTAIL_H
#define ROWD_CODECS_ZIPTAIL_H

#include <stdbool.h>
#include <stdint.h>

#include "rowd_proto.h"

/* libzip holds every entry of the central directory in memory (some 250
 * bytes each): more than this many is ELIMIT, not a few hundred MB. */
#define ZIPTAIL_ENTRIES_MAX (256u * 1024)

struct ziptail {
	bool at_end;          /* the file ends with an end record */
	uint64_t entries;     /* as that record (or the ZIP64 one) says */
};

/* Reads the last 64 KiB of the size-byte file fd. When an end of central
 * directory record (with its comment) ends exactly at the file's end,
 * sets t->at_end and checks that the central directory, or the ZIP64 end
 * record and locator, end where the next record starts, and the entry
 * count. ECODEC "zip: ..." with the offset of the first unexplained byte;
 * ELIMIT; EIO; 0 otherwise (also when no end record is there: libzip then
 * tells what the file is). */
int ziptail_check(int fd, uint64_t size, struct ziptail *t, struct rowd_error *err);

#endif
