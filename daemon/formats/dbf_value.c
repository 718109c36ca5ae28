/* dBase field values to msgpack (see formats/dbf.c for the mapping). */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "civil.h"
#include "dbf.h"

static bool blank(char c)
{
	return c == ' ' || c == 0;
}

/* Trims spaces and NULs (writers pad with either) at both ends. */
static void trim(const char **s, size_t *n)
{
	while (*n && blank(**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n && blank((*s)[*n - 1]))
		(*n)--;
}

static bool digit(char c)
{
	return c >= '0' && c <= '9';
}

/* [+-]digits[.digits][e[+-]digits], ',' taken as the point (some
 * European writers); at least one digit. Copies it to t for strtod. */
static bool number_text(const char *s, size_t n, char *t, bool *integral)
{
	size_t i = 0, digits = 0;

	*integral = true;
	if (i < n && (s[i] == '+' || s[i] == '-'))
		t[i] = s[i], i++;
	for (; i < n && digit(s[i]); i++, digits++)
		t[i] = s[i];
	if (i < n && (s[i] == '.' || s[i] == ',')) {
		*integral = false;
		t[i++] = '.';
		for (; i < n && digit(s[i]); i++, digits++)
			t[i] = s[i];
	}
	if (digits && i < n && (s[i] == 'e' || s[i] == 'E')) {
		size_t exp = 0;

		*integral = false;
		t[i] = s[i], i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			t[i] = s[i], i++;
		for (; i < n && digit(s[i]); i++, exp++)
			t[i] = s[i];
		if (!exp)
			return false;
	}
	t[i] = 0;
	return digits && i == n;
}

int dbf_put_number(struct mpbuf *b, const char *s, size_t n, unsigned decimals,
                   const char **why)
{
	char t[256];
	bool integral;

	trim(&s, &n);
	if (n == 0)
		return mpbuf_nil(b);
	/* N and F are at most 255 wide: n < sizeof t. */
	if (n >= sizeof t || !number_text(s, n, t, &integral)) {
		*why = "is not a number";
		return 1;
	}
	if (integral && decimals == 0) {
		char *end;
		long long v;

		errno = 0;
		v = strtoll(t, &end, 10);
		if (errno == 0)
			return mpbuf_int(b, v);
		/* Past int64: a float, as Python's dbfread would not give. */
	}
	return mpbuf_double(b, strtod(t, NULL));
}

int dbf_put_logical(struct mpbuf *b, const char *s, const char **why)
{
	switch (*s) {
	case 'T': case 't': case 'Y': case 'y':
		return mpbuf_bool(b, true);
	case 'F': case 'f': case 'N': case 'n':
		return mpbuf_bool(b, false);
	case '?': case ' ': case 0:
		return mpbuf_nil(b);
	default:
		*why = "is not a logical (T, F, Y, N or ?)";
		return 1;
	}
}

static bool leap(long y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static bool valid_date(long y, long m, long d)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (y < 1 || y > 9999 || m < 1 || m > 12 || d < 1)
		return false;
	return d <= days[m - 1] + (m == 2 && leap(y));
}

int dbf_put_date(struct mpbuf *b, const char *s, const char **why)
{
	char text[11];
	long y = 0, m, d;

	if (memcmp(s, "        ", 8) == 0 || memcmp(s, "00000000", 8) == 0 ||
	    memcmp(s, "\0\0\0\0\0\0\0\0", 8) == 0)
		return mpbuf_nil(b);
	for (int i = 0; i < 8; i++) {
		if (!digit(s[i])) {
			*why = "is not a date (YYYYMMDD)";
			return 1;
		}
		y = y * 10 + (s[i] - '0');
	}
	d = y % 100;
	m = y / 100 % 100;
	y /= 10000;
	if (!valid_date(y, m, d)) {
		*why = "is not a valid date";
		return 1;
	}
	snprintf(text, sizeof text, "%04ld-%02ld-%02ld", y, m, d);
	return mpbuf_str(b, text, 10);
}

/* 0001-01-01 and 9999-12-31 as Julian day numbers. */
#define JDN_MIN 1721426L
#define JDN_MAX 5373484L
/* 1970-01-01, day 0 of civil_from_days. */
#define JDN_UNIX_EPOCH 2440588L

int dbf_put_datetime(struct mpbuf *b, const unsigned char *s, const char **why)
{
	int32_t jdn = (int32_t)dbf_u32(s);
	int32_t ms = (int32_t)dbf_u32(s + 4);
	unsigned m, d;
	char text[32];
	int64_t y;
	int len;

	if ((jdn == 0 && ms == 0) || memcmp(s, "        ", 8) == 0)
		return mpbuf_nil(b);
	if (jdn < JDN_MIN || jdn > JDN_MAX || ms < 0 || ms >= 86400000) {
		*why = "is not a datetime (Julian day from year 1 to 9999, milliseconds in a day)";
		return 1;
	}
	civil_from_days(jdn - JDN_UNIX_EPOCH, &y, &m, &d);
	len = snprintf(text, sizeof text, "%04" PRId64 "-%02u-%02uT%02d:%02d:%02d", y, m, d,
	               ms / 3600000, ms / 60000 % 60, ms / 1000 % 60);
	/* Milliseconds only when there are some: FoxPro keeps whole seconds. */
	if (ms % 1000)
		len += snprintf(text + len, sizeof text - (size_t)len, ".%03d", ms % 1000);
	return mpbuf_str(b, text, (size_t)len);
}

int dbf_put_currency(struct mpbuf *b, const unsigned char *s)
{
	int64_t v = (int64_t)dbf_u64(s);
	uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
	char text[32];
	int len;

	len = snprintf(text, sizeof text, "%s%" PRIu64 ".%04" PRIu64, v < 0 ? "-" : "",
	               mag / 10000, mag % 10000);
	return mpbuf_str(b, text, (size_t)len);
}

int dbf_put_memo(struct mpbuf *b, const char *s, size_t n, const char **why)
{
	uint64_t v = 0;

	if (n == 4) {
		v = dbf_u32((const unsigned char *)s);
		return v ? mpbuf_uint(b, v) : mpbuf_nil(b);
	}
	trim(&s, &n);
	for (size_t i = 0; i < n; i++) {
		if (!digit(s[i])) {
			*why = "is not a memo block number";
			return 1;
		}
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > UINT32_MAX) {
			*why = "is a memo block number past 2^32";
			return 1;
		}
	}
	return v ? mpbuf_uint(b, v) : mpbuf_nil(b);
}
