/* A msgpack bin value, for the readers that pass bytes through as they
 * are (avro bytes/fixed, bson binary, dbf binary fields, sqlite blobs).
 * Its natural home is proto/mpbuf.c beside mpbuf_str. */
#ifndef ROWD_FORMATS_MPBIN_H
#define ROWD_FORMATS_MPBIN_H

#include <stddef.h>

#include "mpbuf.h"

/* Appends bin 8/16/32 with the n bytes at p; -1 when out of memory or n
 * is over UINT32_MAX. */
int mpbin_put(struct mpbuf *b, const void *p, size_t n);

#endif
