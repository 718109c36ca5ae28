/* BSON scalars as text (see bson_value.h). */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>

#include "bson_value.h"
#include "civil.h"

size_t bson_oid_text(const uint8_t *oid, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < 12; i++) {
		out[2 * i] = hex[oid[i] >> 4];
		out[2 * i + 1] = hex[oid[i] & 15];
	}
	out[24] = 0;
	return 24;
}

size_t bson_datetime_text(int64_t ms, char *out)
{
	const int64_t day_ms = 86400000;
	int64_t days = ms / day_ms, rem = ms % day_ms, y;
	unsigned mo, d, hh, mi, ss, mss;
	int n;

	if (rem < 0) {
		rem += day_ms;
		days--;
	}
	civil_from_days(days, &y, &mo, &d);
	hh = (unsigned)(rem / 3600000);
	mi = (unsigned)(rem / 60000 % 60);
	ss = (unsigned)(rem / 1000 % 60);
	mss = (unsigned)(rem % 1000);
	if (y >= 0 && y <= 9999)
		n = snprintf(out, BSON_DATE_TEXT, "%04" PRId64 "-%02u-%02uT%02u:%02u:%02u.%03uZ",
		             y, mo, d, hh, mi, ss, mss);
	else
		n = snprintf(out, BSON_DATE_TEXT, "%+07" PRId64 "-%02u-%02uT%02u:%02u:%02u.%03uZ",
		             y, mo, d, hh, mi, ss, mss);
	return n < 0 ? 0 : (size_t)n;
}

/* ---- decimal128 -------------------------------------------------------- */

__extension__ typedef unsigned __int128 u128;

size_t bson_decimal128_text(const uint8_t *b, char *out)
{
	uint64_t lo = bson_u64(b), hi = bson_u64(b + 8);
	unsigned comb = (unsigned)(hi >> 58) & 0x1f;
	int64_t exponent, sci;
	u128 coef = 0;
	char digits[40];
	int nd = 0;
	char *o = out;

	if (hi >> 63)
		*o++ = '-';
	if ((comb >> 3) == 3) {
		if (comb == 30)
			return (size_t)(o - out) + (size_t)sprintf(o, "Infinity");
		if (comb == 31)
			return (size_t)sprintf(out, "NaN");   /* NaN has no sign */
		/* 11 in the top bits: the coefficient would start 100..., past
		 * 10^34 - 1, so it is zero; the exponent sits two bits lower. */
		exponent = (int64_t)((hi >> 47) & 0x3fff) - 6176;
	} else {
		exponent = (int64_t)((hi >> 49) & 0x3fff) - 6176;
		coef = (u128)(hi & 0x1ffffffffffffULL) << 64 | lo;
		/* 10^34 - 1, written (10^16 - 1) * 10^18 + (10^18 - 1), is the
		 * largest coefficient; a larger one reads as 0. */
		if (coef > (u128)9999999999999999ULL * 1000000000000000000ULL + 999999999999999999ULL)
			coef = 0;
	}
	do {
		digits[nd++] = (char)('0' + (int)(coef % 10));
		coef /= 10;
	} while (coef);
	/* digits[] holds the coefficient least significant first. */
	sci = nd - 1 + exponent;
	if (sci < -6 || exponent > 0) {
		*o++ = digits[nd - 1];
		if (nd > 1) {
			*o++ = '.';
			for (int i = nd - 2; i >= 0; i--)
				*o++ = digits[i];
		}
		o += sprintf(o, "E%+" PRId64, sci);
		return (size_t)(o - out);
	}
	if (exponent == 0) {
		for (int i = nd - 1; i >= 0; i--)
			*o++ = digits[i];
	} else {
		int64_t radix = nd + exponent;     /* digits before the point */

		if (radix > 0) {
			for (int64_t i = 0; i < radix; i++)
				*o++ = digits[nd - 1 - i];
		} else {
			*o++ = '0';
		}
		*o++ = '.';
		for (int64_t i = radix; i < 0; i++)
			*o++ = '0';
		for (int64_t i = radix > 0 ? radix : 0; i < nd; i++)
			*o++ = digits[nd - 1 - i];
	}
	*o = 0;
	return (size_t)(o - out);
}
