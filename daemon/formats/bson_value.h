/* BSON scalars the reader turns into text (ObjectId, UTC datetime,
 * decimal128) and the little-endian accessors both directions share.
 * Pure functions, no allocation: formats/bson.c uses them, the unit tests
 * check them against the BSON specification's examples. */
#ifndef ROWD_BSON_VALUE_H
#define ROWD_BSON_VALUE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Room for the texts below, with a NUL. */
#define BSON_OID_TEXT 25      /* 24 hex digits */
#define BSON_DATE_TEXT 40     /* "+292278994-08-17T07:12:55.807Z" is 30 */
#define BSON_DEC128_TEXT 48   /* the longest is 42 ("-0.000...", "1.23E-6176") */

/* 12 bytes as 24 lowercase hex digits (what mongosh and pymongo print). */
size_t bson_oid_text(const uint8_t *oid, char *out);

/* Milliseconds since the Unix epoch as ISO 8601 UTC with milliseconds,
 * "1970-01-01T00:00:00.000Z". Years outside 0000..9999 take the expanded
 * form JavaScript's Date.prototype.toISOString uses: a sign and at least
 * six digits ("+010000-01-01T...", "-000001-12-31T..."). Every int64 has a
 * text; nothing is clamped. */
size_t bson_datetime_text(int64_t ms, char *out);

/* IEEE 754-2008 decimal128 (BID encoding, 16 bytes little-endian) as the
 * BSON decimal128 specification's to-string algorithm writes it: "1.5",
 * "-0.00", "1.23E+10", "Infinity", "-Infinity", "NaN"; a non-canonical
 * coefficient reads as zero, as the specification says. */
size_t bson_decimal128_text(const uint8_t *b, char *out);

static inline uint32_t bson_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline int32_t bson_i32(const uint8_t *p) { return (int32_t)bson_u32(p); }

static inline uint64_t bson_u64(const uint8_t *p)
{
	return (uint64_t)bson_u32(p) | (uint64_t)bson_u32(p + 4) << 32;
}

static inline int64_t bson_i64(const uint8_t *p) { return (int64_t)bson_u64(p); }

static inline double bson_double(const uint8_t *p)
{
	uint64_t u = bson_u64(p);
	double d;

	memcpy(&d, &u, sizeof d);
	return d;
}

static inline void bson_put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline void bson_put_u64(uint8_t *p, uint64_t v)
{
	bson_put_u32(p, (uint32_t)v);
	bson_put_u32(p + 4, (uint32_t)(v >> 32));
}

#endif
