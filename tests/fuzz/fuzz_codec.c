/* Every codec reader: the input is "CODEC[OPTIONS]\0FILE". The file is
 * decompressed to its end (or to OUT_CAP bytes: a small input may expand
 * without bound) twice, once in small reads of changing sizes, once in
 * large ones.
 *
 * Invariants: a read returns at most what was asked; both passes give the
 * same bytes and end the same way (the output does not depend on how it
 * is read); a refusal is ECODEC (with the compressed offset, inside the
 * file) or EINVAL for options. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "fmt_harness.h"
#include "fuzz.h"

#define OUT_CAP (1u << 20)

struct pass {
	unsigned char *out;
	size_t len;
	int status;                 /* 0 end of stream or cap, -1 error, -2 open failed */
	struct rowd_error err;
};

static void run(const struct codec_ops *c, int fd, uint64_t size, const msgpack_object *opts,
                bool small, struct pass *p)
{
	static const size_t sizes[] = { 1, 3, 64, 4096, 7, 700, 2 };
	struct rawin in = { .fd = fd, .pos = 0, .size = size };
	void *st = NULL;
	unsigned k = 0;

	p->len = 0;
	p->status = 0;
	rowd_error_clear(&p->err);
	if (c->rd_open(&in, opts, &st, &p->err) < 0) {
		p->status = -2;
		return;
	}
	while (p->len < OUT_CAP) {
		size_t want = small ? sizes[k++ % (sizeof sizes / sizeof sizes[0])] : 65536;
		ssize_t r;

		if (want > OUT_CAP - p->len)
			want = OUT_CAP - p->len;
		r = c->rd_read(st, p->out + p->len, want, &p->err);
		if (r < 0) {
			p->status = -1;
			break;
		}
		if ((size_t)r > want)
			fuzz_fail("%s: read %zd bytes into %zu", c->name, r, want);
		if (r == 0)
			break;
		p->len += (size_t)r;
	}
	c->rd_close(st);
}

static void check_refusal(const struct codec_ops *c, const struct pass *p, uint64_t size)
{
	fuzz_check_error(&p->err, c->name, true);
	if (p->err.code == ROWD_ECODEC && (p->err.offset < 0 || (uint64_t)p->err.offset > size))
		fuzz_fail("%s: ECODEC at offset %lld of a %llu-byte file: %s", c->name,
		          (long long)p->err.offset, (unsigned long long)size, p->err.message);
	if (p->err.code != ROWD_ECODEC && p->err.code != ROWD_EINVAL && p->err.code != ROWD_ELIMIT)
		fuzz_fail("%s: unexpected %s: %s", c->name, rowd_err_name(p->err.code), p->err.message);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct codec_ops *c;
	const msgpack_object *opts = NULL;
	static struct pass a, b;
	struct fuzz_named nm;
	struct mpbuf raw;
	msgpack_unpacked up;
	int fd;

	if (fuzz_split(data, size, &nm) < 0)
		return 0;
	c = codec_find(nm.name, nm.name_len);
	mpbuf_init(&raw);
	msgpack_unpacked_init(&up);
	if (!c || c->unavailable || !c->rd_open || fuzz_options(&nm, &up, &raw, &opts) < 0)
		goto out;
	/* Kept across runs: a fresh megabyte costs ASan more than a run. */
	if (!a.out && (!(a.out = malloc(OUT_CAP)) || !(b.out = malloc(OUT_CAP))))
		abort();
	fd = fmt_memfd(nm.data, nm.size);
	run(c, fd, nm.size, opts, true, &a);
	run(c, fd, nm.size, opts, false, &b);
	close(fd);
	if (a.status != b.status)
		fuzz_fail("%s: small reads end %d (%s), large reads %d (%s)", c->name, a.status,
		          a.err.message, b.status, b.err.message);
	if (a.status < 0)
		check_refusal(c, &a, nm.size);
	/* Before an error, one pass may have decoded a little further. */
	if ((a.status == 0 && a.len != b.len) ||
	    memcmp(a.out, b.out, a.len < b.len ? a.len : b.len) != 0)
		fuzz_fail("%s: small reads gave %zu bytes, large reads %zu, not the same", c->name,
		          a.len, b.len);
out:
	mpbuf_free(&raw);
	msgpack_unpacked_destroy(&up);
	fuzz_named_free(&nm);
	return 0;
}
