/* Text encoding detection (see charset.h). */
#include "config.h"

#include <string.h>
#include <strings.h>

#include "charset.h"
#include "rowd_proto.h"

/* Russian letters in alphabet order, а..я then ё: how often each occurs
 * in running text, per mille. */
enum { RU_LETTERS = 33, RU_YO = 32 };
static const unsigned char ru_freq[RU_LETTERS] = {
	80, 16, 45, 17, 30, 85, 9, 16, 74, 12, 35, 44, 32, 67, 110, 28,
	47, 55, 63, 26, 3, 10, 5, 14, 7, 4, 1, 19, 17, 3, 6, 20, 1,
};

/* A byte's meaning under one code page: a letter index (0..32) and its
 * case, or none. */
struct cyr_letter {
	signed char idx;     /* -1: not a Russian letter */
	bool upper;
};

/* KOI8-R orders its letters by the Latin ones they sound like. */
static const signed char koi8_order[32] = {
	30, 0, 1, 22, 4, 5, 20, 3, 21, 8, 9, 10, 11, 12, 13, 14,
	15, 31, 16, 17, 18, 19, 6, 2, 28, 27, 7, 24, 29, 25, 23, 26,
};

static struct cyr_letter cp1251(unsigned char b)
{
	if (b >= 0xe0)
		return (struct cyr_letter){ (signed char)(b - 0xe0), false };
	if (b >= 0xc0)
		return (struct cyr_letter){ (signed char)(b - 0xc0), true };
	if (b == 0xb8 || b == 0xa8)
		return (struct cyr_letter){ RU_YO, b == 0xa8 };
	return (struct cyr_letter){ -1, false };
}

static struct cyr_letter koi8r(unsigned char b)
{
	if (b >= 0xc0)
		return (struct cyr_letter){ koi8_order[b & 31], b >= 0xe0 };
	if (b == 0xa3 || b == 0xb3)
		return (struct cyr_letter){ RU_YO, b == 0xb3 };
	return (struct cyr_letter){ -1, false };
}

static struct cyr_letter ibm866(unsigned char b)
{
	if (b < 0xa0)
		return (struct cyr_letter){ (signed char)(b - 0x80), true };
	if (b < 0xb0)
		return (struct cyr_letter){ (signed char)(b - 0xa0), false };
	if (b >= 0xe0 && b < 0xf0)
		return (struct cyr_letter){ (signed char)(b - 0xe0 + 16), false };
	if (b == 0xf0 || b == 0xf1)
		return (struct cyr_letter){ RU_YO, b == 0xf0 };
	return (struct cyr_letter){ -1, false };
}

static const struct {
	const char *name;
	struct cyr_letter (*letter)(unsigned char b);
} cyrillic[] = {
	{ "windows-1251", cp1251 },
	{ "koi8-r", koi8r },
	{ "ibm866", ibm866 },
};

/* Lower case letters weigh what they weigh in text; capitals mostly start
 * words; anything else under a code page counts against it. */
static long cyr_score(const unsigned char *p, size_t n, struct cyr_letter (*letter)(unsigned char))
{
	long score = 0;

	for (size_t i = 0; i < n; i++) {
		struct cyr_letter l;

		if (p[i] < 0x80)
			continue;
		l = letter(p[i]);
		if (l.idx < 0)
			score -= 20;
		else
			score += l.upper ? ru_freq[l.idx] / 4 : ru_freq[l.idx];
	}
	return score;
}

/* UTF-16 without a BOM: text has NULs in the high bytes of its ASCII
 * characters (delimiters, digits, line ends), nearly all on one side, and
 * no U+0000 at all. Stray NULs in UTF-8 text (values holding some) fail
 * one of these: a third of the characters, a few of them, none paired. */
static const char *utf16_guess(const unsigned char *p, size_t n)
{
	size_t even = 0, odd = 0, pairs = n / 2;

	if (pairs < 2)
		return NULL;
	for (size_t i = 0; i + 1 < n; i += 2) {
		if (p[i] == 0 && p[i + 1] == 0)
			return NULL;
		even += p[i] == 0;
		odd += p[i + 1] == 0;
	}
	if (odd >= 4 && odd * 10 >= pairs * 3 && even * 20 <= odd)
		return "utf-16le";
	if (even >= 4 && even * 10 >= pairs * 3 && odd * 20 <= even)
		return "utf-16be";
	return NULL;
}

/* 8-bit text that is not UTF-8. In Cyrillic text the high bytes are whole
 * words; in Western text they are accents between ASCII letters. */
static const char *eight_bit(const unsigned char *p, size_t n)
{
	size_t high = 0, paired = 0, undefined1252 = 0;
	const char *best = NULL;
	long best_score = 0;

	for (size_t i = 0; i < n; i++) {
		if (p[i] < 0x80)
			continue;
		high++;
		if ((i > 0 && p[i - 1] >= 0x80) || (i + 1 < n && p[i + 1] >= 0x80))
			paired++;
		if (p[i] == 0x81 || p[i] == 0x8d || p[i] == 0x8f || p[i] == 0x90 || p[i] == 0x9d)
			undefined1252++;
	}
	if (paired * 5 >= high * 2) {
		for (size_t c = 0; c < sizeof cyrillic / sizeof cyrillic[0]; c++) {
			long s = cyr_score(p, n, cyrillic[c].letter);

			if (!best || s > best_score) {
				best = cyrillic[c].name;
				best_score = s;
			}
		}
		if (best_score > 0)
			return best;
	}
	/* windows-1252 leaves five bytes undefined; ISO-8859-1 takes all. */
	return undefined1252 ? "iso-8859-1" : "windows-1252";
}

const char *charset_detect(const unsigned char *p, size_t n, bool cut)
{
	const char *u16;
	size_t ok;

	if (n >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		return "utf-8-sig";
	if (n >= 2 && p[0] == 0xff && p[1] == 0xfe)
		return "utf-16le";
	if (n >= 2 && p[0] == 0xfe && p[1] == 0xff)
		return "utf-16be";
	if ((u16 = utf16_guess(p, n)))
		return u16;
	ok = proto_utf8_prefix((const char *)p, n);
	if (ok == n || (cut && n - ok < 4))
		return "utf-8";
	return eight_bit(p, n);
}

const char *charset_iconv_name(const char *detected, const unsigned char *p, size_t n)
{
	if (strncmp(detected, "utf-16", 6) == 0 && n >= 2 &&
	    ((p[0] == 0xff && p[1] == 0xfe) || (p[0] == 0xfe && p[1] == 0xff)))
		return "utf-16";
	return detected;
}

bool charset_is_utf8(const char *s, size_t n)
{
	return (n == 5 && strncasecmp(s, "utf-8", 5) == 0) ||
	       (n == 4 && strncasecmp(s, "utf8", 4) == 0) ||
	       (n == 9 && strncasecmp(s, "utf-8-sig", 9) == 0) ||
	       (n == 8 && strncasecmp(s, "utf8-sig", 8) == 0);
}
