/* Input helpers shared by the harnesses (see fuzz.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

int fuzz_split(const uint8_t *in, size_t n, struct fuzz_named *out)
{
	const uint8_t *nul = memchr(in, 0, n < FUZZ_HEAD_MAX ? n : FUZZ_HEAD_MAX);
	const uint8_t *brace;
	size_t head;

	memset(out, 0, sizeof *out);
	if (!nul)
		return -1;
	head = (size_t)(nul - in);
	brace = memchr(in, '{', head);
	out->name_len = brace ? (size_t)(brace - in) : head;
	memcpy(out->name, in, out->name_len);
	out->name[out->name_len] = 0;
	if (brace) {
		size_t olen = head - out->name_len;

		out->options = malloc(olen + 1);
		if (!out->options)
			abort();
		memcpy(out->options, brace, olen);
		out->options[olen] = 0;
	}
	out->data = nul + 1;
	out->size = n - head - 1;
	return 0;
}

void fuzz_named_free(struct fuzz_named *nm)
{
	free(nm->options);
	nm->options = NULL;
}

uint32_t fuzz_hash(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

void fuzz_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("fuzz: invariant broken: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}
