/* Row checks shared by the format harnesses (see fuzz.h). */
#include <stdlib.h>
#include <string.h>

#include "rowd_proto.h"
#include "fuzz.h"

static void check_value(const msgpack_object *o, bool nested, unsigned depth, const char *fmt)
{
	switch (o->type) {
	case MSGPACK_OBJECT_STR:
		if (!proto_utf8_valid(o->via.str.ptr, o->via.str.size))
			fuzz_fail("%s: a str that is not UTF-8", fmt);
		break;
	case MSGPACK_OBJECT_ARRAY:
		if (depth > 0 && !nested)
			fuzz_fail("%s: an array value from a flat format", fmt);
		for (uint32_t i = 0; i < o->via.array.size; i++)
			check_value(&o->via.array.ptr[i], nested, depth + 1, fmt);
		break;
	case MSGPACK_OBJECT_MAP:
		if (depth > 0 && !nested)
			fuzz_fail("%s: a map value from a flat format", fmt);
		for (uint32_t i = 0; i < o->via.map.size; i++) {
			const msgpack_object *k = &o->via.map.ptr[i].key;

			/* Nested maps keep their keys (clients unpack them with
			 * strict_map_key off); a row's are str. */
			if (depth == 0 && k->type != MSGPACK_OBJECT_STR)
				fuzz_fail("%s: a row key that is not a str (type %d)", fmt, (int)k->type);
			check_value(k, nested, depth + 1, fmt);
			check_value(&o->via.map.ptr[i].val, nested, depth + 1, fmt);
		}
		break;
	default:
		break;
	}
}

void fuzz_check_rows(const char *packed, size_t len, size_t nrows, bool nested, const char *fmt)
{
	msgpack_unpacked up;
	size_t off = 0, n = 0;

	msgpack_unpacked_init(&up);
	while (off < len) {
		if (msgpack_unpack_next(&up, packed, len, &off) != MSGPACK_UNPACK_SUCCESS)
			fuzz_fail("%s: row %zu does not unpack", fmt, n + 1);
		if (up.data.type != MSGPACK_OBJECT_MAP)
			fuzz_fail("%s: row %zu is not a map", fmt, n + 1);
		check_value(&up.data, nested, 0, fmt);
		n++;
	}
	msgpack_unpacked_destroy(&up);
	if (n != nrows)
		fuzz_fail("%s: %zu rows counted, %zu packed", fmt, nrows, n);
}

void fuzz_check_error(const struct rowd_error *err, const char *what, bool positioned)
{
	if (err->code == ROWD_OK || err->code >= ROWD_ERR_COUNT || !err->message[0])
		fuzz_fail("%s: refused without a code or message", what);
	/* Bad content names where it is. */
	if (positioned && err->code == ROWD_EFORMAT && err->line < 1 && err->row < 1 &&
	    err->offset < 0)
		fuzz_fail("%s: EFORMAT without a line, row or offset: %s", what, err->message);
}

bool fuzz_plain(const msgpack_object *o)
{
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
	case MSGPACK_OBJECT_BOOLEAN:
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return true;
	case MSGPACK_OBJECT_FLOAT64:
		return o->via.f64 - o->via.f64 == 0;     /* finite */
	case MSGPACK_OBJECT_STR:
		return proto_utf8_valid(o->via.str.ptr, o->via.str.size);
	case MSGPACK_OBJECT_ARRAY:
		for (uint32_t i = 0; i < o->via.array.size; i++)
			if (!fuzz_plain(&o->via.array.ptr[i]))
				return false;
		return true;
	case MSGPACK_OBJECT_MAP:
		for (uint32_t i = 0; i < o->via.map.size; i++)
			if (o->via.map.ptr[i].key.type != MSGPACK_OBJECT_STR ||
			    !fuzz_plain(&o->via.map.ptr[i].key) || !fuzz_plain(&o->via.map.ptr[i].val))
				return false;
		return true;
	default:
		return false;
	}
}
