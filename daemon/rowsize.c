/* Packed size of a msgpack object (see rowsize.h). Recursion is bounded
 * by the depth limit the request was decoded under. */
#include "config.h"

#include <stdint.h>

#include "rowsize.h"

static size_t len_header(uint64_t n, size_t fix_max, size_t b8)
{
	if (n <= fix_max)
		return 1;
	if (b8 && n <= UINT8_MAX)
		return 2;
	if (n <= UINT16_MAX)
		return 3;
	return 5;
}

static size_t int_size(const msgpack_object *o)
{
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
		uint64_t v = o->via.u64;

		return v <= 127 ? 1 : v <= UINT8_MAX ? 2 : v <= UINT16_MAX ? 3 : v <= UINT32_MAX ? 5 : 9;
	}
	int64_t v = o->via.i64;

	return v >= -32 ? 1 : v >= INT8_MIN ? 2 : v >= INT16_MIN ? 3 : v >= INT32_MIN ? 5 : 9;
}

static size_t ext_header(uint32_t n)
{
	if (n == 1 || n == 2 || n == 4 || n == 8 || n == 16)
		return 2;
	return n <= UINT8_MAX ? 3 : n <= UINT16_MAX ? 4 : 6;
}

size_t row_packed_size(const msgpack_object *o)
{
	size_t n = 0;

	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
	case MSGPACK_OBJECT_BOOLEAN:
		return 1;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return int_size(o);
	case MSGPACK_OBJECT_FLOAT32:
		return 5;
	case MSGPACK_OBJECT_FLOAT64:
		return 9;
	case MSGPACK_OBJECT_STR:
		return len_header(o->via.str.size, 31, 1) + o->via.str.size;
	case MSGPACK_OBJECT_BIN:
		/* bin has no fix form: bin8 from 0 bytes on. */
		return (o->via.bin.size <= UINT8_MAX ? 2 : o->via.bin.size <= UINT16_MAX ? 3 : 5) +
		       o->via.bin.size;
	case MSGPACK_OBJECT_EXT:
		return ext_header(o->via.ext.size) + o->via.ext.size;
	case MSGPACK_OBJECT_ARRAY:
		n = len_header(o->via.array.size, 15, 0);
		for (uint32_t i = 0; i < o->via.array.size; i++)
			n += row_packed_size(&o->via.array.ptr[i]);
		return n;
	case MSGPACK_OBJECT_MAP:
		n = len_header(o->via.map.size, 15, 0);
		for (uint32_t i = 0; i < o->via.map.size; i++)
			n += row_packed_size(&o->via.map.ptr[i].key) +
			     row_packed_size(&o->via.map.ptr[i].val);
		return n;
	}
	return 1;
}
