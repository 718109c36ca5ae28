/* A zip archive as libzip reads it from the daemon's fd: a libzip source
 * whose callbacks pread at a private position (no path is resolved again,
 * so the confinement of paths.c holds; the fd's offset is never moved, so
 * several readers share it), and the codec's error at an archive offset.
 * Used by the zip codec and the XLSX reader. */
#ifndef ROWD_CODECS_ZIPSOURCE_H
#define ROWD_CODECS_ZIPSOURCE_H

#include <stdbool.h>
#include <stdint.h>
#include <zip.h>

#include "rowd_proto.h"

struct zipsrc {
	int fd;
	uint64_t size;                   /* the file's, when opened */
	uint64_t pos;                    /* libzip's position */
	uint64_t last_start, last_end;   /* the last range read */
	zip_error_t error;               /* what libzip asks for */
	bool io_failed;
	struct rowd_error io;            /* the pread failure, as EIO */
	/* Set when the struct was malloc'ed for the source alone: freeing
	 * the source then closes fd and frees the struct. */
	bool owned;
};

/* A source over s (fd and size set, error initialised; the rest zero).
 * NULL with ze set when libzip cannot make one. */
zip_source_t *zipsrc_create(struct zipsrc *s, zip_error_t *ze);

/* ECODEC "zip: <fmt>" at offset; returns -1. */
int zipsrc_fail(struct rowd_error *err, uint64_t offset, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
