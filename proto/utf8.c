/* Strict UTF-8 validation (RFC 3629), shared by the JSON converter, the
 * format readers and detection. */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "rowd_proto.h"

/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF), 0 if invalid. */
size_t proto_utf8_seq_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t k;
	unsigned char lo = 0x80, hi = 0xbf;

	if (c >= 0xc2 && c <= 0xdf)
		k = 2;
	else if (c >= 0xe0 && c <= 0xef)
		k = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		k = 4;
	else
		return 0;
	if (k > n)
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < k; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	}
	return k;
}

/* The length of the longest valid UTF-8 prefix: n when all is valid,
 * else the offset of the first bad byte. ASCII goes 8 bytes at a time. */
size_t proto_utf8_prefix(const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t i = 0;

	while (i < n) {
		uint64_t w;
		size_t k;

		if (n - i >= 8) {
			memcpy(&w, s + i, 8);
			if (!(w & 0x8080808080808080ull)) {
				i += 8;
				continue;
			}
		}
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((k = proto_utf8_seq_len(s + i, n - i)) == 0)
			return i;
		i += k;
	}
	return n;
}

bool proto_utf8_valid(const void *p, size_t n)
{
	return proto_utf8_prefix(p, n) == n;
}
