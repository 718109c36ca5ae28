/* Byte buffers and temp files shared by the codec tests (see
 * codec_harness.h). Failures end the test through Check's assertions. */
#include "config.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "codec_harness.h"
#include "input.h"

void buf_add(struct buf *b, const void *p, size_t n)
{
	if (n == 0)
		return;
	if (b->cap - b->n < n) {
		size_t cap = b->cap ? b->cap : 4096;

		while (cap - b->n < n)
			cap *= 2;
		b->p = realloc(b->p, cap);
		ck_assert_ptr_nonnull(b->p);
		b->cap = cap;
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

void buf_free(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

bool buf_eq(const struct buf *b, const void *p, size_t n)
{
	return b->n == n && (n == 0 || memcmp(b->p, p, n) == 0);
}



int memfd_of(const void *p, size_t n)
{
	const unsigned char *q = p;
	int fd = memfd_create("rowd-test-codec", MFD_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	while (n > 0) {
		ssize_t w = write(fd, q, n);

		ck_assert_int_gt(w, 0);
		q += w;
		n -= (size_t)w;
	}
	return fd;
}

struct buf fd_contents(int fd)
{
	struct buf b = { 0 };
	unsigned char chunk[65536];
	off_t pos = 0;
	ssize_t r;

	while ((r = pread(fd, chunk, sizeof chunk, pos)) > 0) {
		buf_add(&b, chunk, (size_t)r);
		pos += r;
	}
	ck_assert_int_eq(r, 0);
	return b;
}

struct buf slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	struct buf b = { 0 };
	char chunk[4096];
	size_t r;

	ck_assert_msg(f != NULL, "cannot open %s", path);
	while ((r = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_add(&b, chunk, r);
	fclose(f);
	return b;
}

/* Deterministic CSV-like text: compressible, but not trivially. */
struct buf gen_text(size_t n, uint32_t seed)
{
	static const char *const words[] = {
		"alpha", "beta", "gamma", "delta", "red", "green", "blue", "fast",
		"slow", "new", "old", "big", "small", "open", "closed", "data",
	};
	struct buf b = { 0 };
	uint32_t x = seed;
	char line[256];

	while (b.n < n) {
		int len;

		x = x * 1664525u + 1013904223u;
		len = snprintf(line, sizeof line, "%u,%s,%s,%u.%02u,%s\n", x >> 8,
		               words[x >> 28], words[(x >> 24) & 15], (x >> 12) & 1023,
		               (x >> 4) & 63, words[(x >> 20) & 15]);
		buf_add(&b, line, (size_t)len < n - b.n ? (size_t)len : n - b.n);
	}
	return b;
}

void result_free(struct result *r)
{
	buf_free(&r->out);
}

/* Reads everything through rd_read with a buffer of step bytes; checks
 * that the end, once reported, stays the end, and that an ECODEC stays. */
struct result read_direct(const struct codec_ops *c, const void *p, size_t n,
                                 size_t step)
{
	struct result r = { 0 };
	struct rawin in = { .fd = memfd_of(p, n), .pos = 0, .size = n };
	unsigned char *tmp = malloc(step);
	void *st = NULL;

	ck_assert_ptr_nonnull(tmp);
	rowd_error_clear(&r.err);
	r.rc = c->rd_open(&in, NULL, &st, &r.err);
	while (r.rc == 0) {
		ssize_t got = c->rd_read(st, tmp, step, &r.err);

		if (got < 0) {
			struct rowd_error again;

			rowd_error_clear(&again);
			if (r.err.code == ROWD_ECODEC) {
				ck_assert_int_eq(c->rd_read(st, tmp, step, &again), -1);
				ck_assert_int_eq(again.code, ROWD_ECODEC);
			}
			r.rc = -1;
			break;
		}
		if (got == 0) {
			ck_assert_int_eq(c->rd_read(st, tmp, step, &r.err), 0);
			break;
		}
		ck_assert_uint_le((size_t)got, step);
		buf_add(&r.out, tmp, (size_t)got);
	}
	if (st)
		c->rd_close(st);
	close(in.fd);
	free(tmp);
	return r;
}

/* Reads everything through input.h, as a format does. */
struct result read_input(const struct codec_ops *c, const void *p, size_t n)
{
	struct result r = { 0 };
	struct input in;
	int fd = memfd_of(p, n);

	rowd_error_clear(&r.err);
	r.rc = input_open(&in, fd, c, NULL, 1 << 20, &r.err);
	while (r.rc == 0) {
		ssize_t got = input_fill(&in, &r.err);

		if (got < 0) {
			r.rc = -1;
			break;
		}
		buf_add(&r.out, input_ptr(&in), input_avail(&in));
		input_consume(&in, input_avail(&in));
		if (got == 0)
			break;
	}
	input_close(&in);
	close(fd);
	return r;
}
