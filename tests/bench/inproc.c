/* In-process baseline for the benchmarks: the daemon's own format reader
 * and codec, packing msgpack batches exactly as a stream job does, with
 * no socket and no daemon; optionally decoding every row as a client
 * would. Usage: inproc FORMAT FILE [decode]
 * Prints rows and seconds for parse+pack (and +decode). */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "format.h"
#include "rowd_proto.h"
#include "rowd/rowd.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Walks every field of every row with librowd's cursor, exactly as the
 * benchmark client does with what the daemon sends. */
static uint64_t decode_batch(const struct mpbuf *b, size_t nrows)
{
	struct rowd_cursor cur;
	struct rowd_value v;
	const char *key;
	size_t keylen;
	uint64_t bytes = 0;

	rowd_cursor_init(&cur, b->data, b->len);
	for (size_t i = 0; i < nrows; i++) {
		if (rowd_cursor_next_row(&cur, NULL) != 1)
			abort();
		while (rowd_cursor_next_field(&cur, &key, &keylen, &v) == 1)
			bytes += keylen + (v.type == ROWD_STR ? v.via.str.len : 8);
	}
	return bytes;
}

int main(int argc, char **argv)
{
	const struct format_ops *fmt;
	const struct codec_ops *codec;
	struct rowd_limits lim;
	struct rowd_error err;
	struct fmt_args a = { 0 };
	struct input in;
	struct mpbuf b;
	void *st;
	uint64_t rows = 0, skipped = 0, bytes = 0;
	bool decode = argc > 3 && strcmp(argv[3], "decode") == 0;
	double t0;
	int fd, r;

	if (argc < 3) {
		fprintf(stderr, "usage: inproc FORMAT FILE [decode]\n");
		return 2;
	}
	fmt = format_find(argv[1], strlen(argv[1]));
	fd = open(argv[2], O_RDONLY);
	if (!fmt || fd < 0) {
		fprintf(stderr, "inproc: bad format or file\n");
		return 2;
	}
	codec = codec_by_extension(argv[2]);
	if (!codec)
		codec = codec_find("none", 4);
	rowd_limits_default(&lim);
	rowd_error_clear(&err);
	mpbuf_init(&b);
	t0 = now();
	if (input_open(&in, fd, codec, NULL, lim.row_bytes, &err) < 0)
		goto fail;
	a.fmt = fmt;
	a.in = &in;
	a.limits = &lim;
	if (fmt->rd_open(&a, &st, &err) < 0)
		goto fail;
	do {
		size_t got = 0;

		b.len = 0;
		r = fmt->rd_next(st, &b, 1000, &got, &skipped, &err);
		rows += got;
		if (decode)
			bytes += decode_batch(&b, got);
	} while (r == 0);
	if (r < 0)
		goto fail;
	printf("%s %s: %llu rows in %.3f s%s\n", argv[1], argv[2], (unsigned long long)rows,
	       now() - t0, decode ? " (parse+pack+decode)" : " (parse+pack)");
	fmt->rd_close(st);
	input_close(&in);
	mpbuf_free(&b);
	close(fd);
	return bytes == 1 ? 1 : 0;
fail:
	fprintf(stderr, "inproc: %s: %s\n", rowd_err_name(err.code), err.message);
	return 1;
}
