/* Helpers shared by the codec tests (test_codec.c, test_codecs.c). */
#ifndef ROWD_CODEC_HARNESS_H
#define ROWD_CODEC_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "rowd_proto.h"

struct buf {
	unsigned char *p;
	size_t n, cap;
};

void buf_add(struct buf *b, const void *p, size_t n);
void buf_free(struct buf *b);
bool buf_eq(const struct buf *b, const void *p, size_t n);
/* A memfd holding p[0..n), for rawin/input. */
int memfd_of(const void *p, size_t n);
/* Everything in fd, read with pread from 0. */
struct buf fd_contents(int fd);
struct buf slurp(const char *path);
/* Deterministic CSV-like text: compressible, but not trivially. */
struct buf gen_text(size_t n, uint32_t seed);

/* What a codec read produced: rc 0 (to the end) or -1 with err. */
struct result {
	int rc;
	struct rowd_error err;
	struct buf out;
};

void result_free(struct result *r);
/* Everything through rd_read with step-byte reads; checks that the end,
 * once reported, stays the end and that an ECODEC stays. */
struct result read_direct(const struct codec_ops *c, const void *p, size_t n, size_t step);
/* Everything through input.h, as a format reads. */
struct result read_input(const struct codec_ops *c, const void *p, size_t n);

#endif
