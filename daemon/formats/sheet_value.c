/* Spreadsheet values: Excel date serials and number formats, cell
 * references, numbers as text. See sheet.h. */
#include "config.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "civil.h"
#include "sheet.h"

/* ---- number formats ----------------------------------------------------- */

enum sheet_kind sheet_builtin_kind(unsigned id)
{
	if (id >= 14 && id <= 17)
		return SHEET_DATE;
	if (id >= 18 && id <= 21)
		return SHEET_TIME;
	if (id == 22)
		return SHEET_DATETIME;
	if (id >= 45 && id <= 47)
		return SHEET_TIME;
	return SHEET_NUMBER;
}

/* A format code is a date when it uses y/d (or m without h/s: months), a
 * time when it uses h/s (m beside them: minutes), outside quoted text,
 * escaped characters (\x, _x, *x) and [...] blocks other than the
 * elapsed-time ones ([h], [mm], [ss]). */
enum sheet_kind sheet_format_kind(const char *code, size_t n)
{
	bool date = false, time = false, month = false;

	for (size_t i = 0; i < n; i++) {
		char c = (char)tolower((unsigned char)code[i]);

		if (c == '"') {
			const char *q = memchr(code + i + 1, '"', n - i - 1);

			if (!q)
				break;
			i = (size_t)(q - code);
		} else if (c == '\\' || c == '_' || c == '*') {
			i++;
		} else if (c == '[') {
			const char *q = memchr(code + i + 1, ']', n - i - 1);
			char e;

			if (!q)
				break;
			e = (char)tolower((unsigned char)code[i + 1]);
			if (q > code + i + 1 && (e == 'h' || e == 'm' || e == 's') &&
			    strspn(code + i + 1, "hHmMsS") == (size_t)(q - code - i - 1))
				time = true;
			i = (size_t)(q - code);
		} else if (c == 'y' || c == 'd') {
			date = true;
		} else if (c == 'h' || c == 's') {
			time = true;
		} else if (c == 'm') {
			month = true;
		}
	}
	if (month && !time)
		date = true;
	if (date && time)
		return SHEET_DATETIME;
	return date ? SHEET_DATE : time ? SHEET_TIME : SHEET_NUMBER;
}

/* ---- dates -------------------------------------------------------------- */

#define MS_PER_DAY 86400000LL
/* 9999-12-31, the last day Excel shows, in either date system. */
#define LAST_SERIAL_1900 2958465.0
#define LAST_SERIAL_1904 2957003.0

size_t sheet_serial_iso(double serial, bool date1904, enum sheet_kind kind, char out[40])
{
	long long ms, days, msd;
	unsigned m = 0, d = 0;
	int64_t y = 0;
	int n = 0;
	bool show_date, show_time;

	if (!isfinite(serial) || serial < 0 ||
	    serial >= (date1904 ? LAST_SERIAL_1904 : LAST_SERIAL_1900) + 1)
		return 0;
	ms = llround(serial * (double)MS_PER_DAY);
	days = ms / MS_PER_DAY;
	msd = ms % MS_PER_DAY;
	if (date1904) {
		civil_from_days(days - 24107, &y, &m, &d);
	} else if (days == 60) {
		/* Excel's 1900-02-29, a day that never was (Lotus 1-2-3's
		 * leap year bug): shown as Excel shows it. */
		y = 1900, m = 2, d = 29;
	} else {
		/* Serial 1 is 1900-01-01; after the false leap day the days
		 * count from 1899-12-30. */
		civil_from_days(days - (days < 60 ? 25568 : 25569), &y, &m, &d);
	}
	show_date = kind != SHEET_TIME || days > 0;
	show_time = kind != SHEET_DATE;
	if (y > 9999)
		return 0;
	if (show_date)
		n = snprintf(out, 40, "%04" PRId64 "-%02u-%02u", y, m, d);
	if (show_time) {
		n += snprintf(out + n, (size_t)(40 - n), "%s%02lld:%02lld:%02lld", show_date ? "T" : "",
		              msd / 3600000, msd / 60000 % 60, msd / 1000 % 60);
		if (msd % 1000)
			n += snprintf(out + n, (size_t)(40 - n), ".%03lld", msd % 1000);
	}
	return (size_t)n;
}

/* ---- references --------------------------------------------------------- */

size_t sheet_col_name(uint32_t col, char out[4])
{
	char tmp[4];
	size_t n = 0;

	col++;
	while (col && n < 3) {
		col--;
		tmp[n++] = (char)('A' + col % 26);
		col /= 26;
	}
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

int sheet_parse_ref(const char *s, uint32_t *col, uint32_t *row)
{
	uint32_t c = 0, r = 0;
	size_t i = 0;

	for (; isalpha((unsigned char)s[i]); i++) {
		if (i == 3)
			return -1;
		c = c * 26 + (uint32_t)(toupper((unsigned char)s[i]) - 'A' + 1);
	}
	if (i == 0 || c > SHEET_MAX_COLS)
		return -1;
	for (; isdigit((unsigned char)s[i]); i++) {
		if (r > 100000000)
			return -1;
		r = r * 10 + (uint32_t)(s[i] - '0');
	}
	if (s[i])
		return -1;
	*col = c - 1;
	*row = r;
	return 0;
}
