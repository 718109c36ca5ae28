/* Raw file I/O under the codecs: pread at a private position (so that a
 * counting pass can share the handle's fd) and full writes with errors
 * mapped to EIO. */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"

ssize_t rawin_read(struct rawin *in, void *buf, size_t n, struct rowd_error *err)
{
	for (;;) {
		ssize_t r = pread(in->fd, buf, n, (off_t)in->pos);

		if (r >= 0) {
			in->pos += (uint64_t)r;
			return r;
		}
		if (errno != EINTR) {
			rowd_error_set(err, ROWD_EIO, "read failed: %s", strerror(errno));
			err->offset = (int64_t)in->pos;
			return -1;
		}
	}
}

int rawout_write(struct rawout *out, const void *buf, size_t n, struct rowd_error *err)
{
	const char *p = buf;

	while (n) {
		ssize_t w = write(out->fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return rowd_error_set(err, ROWD_EIO, "write failed: %s", strerror(errno));
		}
		p += w;
		n -= (size_t)w;
		out->written += (uint64_t)w;
	}
	return 0;
}
