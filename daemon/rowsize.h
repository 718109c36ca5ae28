/* The size of a decoded msgpack object once packed again, to hold rows
 * that arrive in write requests to the row_bytes limit. */
#ifndef ROWD_ROWSIZE_H
#define ROWD_ROWSIZE_H

#include <stddef.h>
#include <msgpack.h>

/* Bytes of o packed with the shortest headers (what msgpack-c writes). */
size_t row_packed_size(const msgpack_object *o);

#endif
