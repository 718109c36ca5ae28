/* A msgpack bin value (see mpbin.h). */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "mpbin.h"

int mpbin_put(struct mpbuf *b, const void *p, size_t n)
{
	if (n > UINT32_MAX || mpbuf_reserve(b, n + 5) < 0)
		return -1;
	if (n < 256) {
		mp_put_u8(b, 0xc4);
		mp_put_u8(b, (uint8_t)n);
	} else if (n < 65536) {
		mp_put_u8(b, 0xc5);
		mp_put_be16(b, (uint16_t)n);
	} else {
		mp_put_u8(b, 0xc6);
		mp_put_be32(b, (uint32_t)n);
	}
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}
