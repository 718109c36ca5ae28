/* Helpers shared by the codec tests (test_codec.c, test_codecs.c). */
#ifndef ROWD_CODEC_HARNESS_H
#define ROWD_CODEC_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

#endif
