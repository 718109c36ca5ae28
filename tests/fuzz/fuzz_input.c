/* Input helpers shared by the harnesses (see fuzz.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rowd_proto.h"
#include "fuzz.h"

int fuzz_split(const uint8_t *in, size_t n, struct fuzz_named *out)
{
	size_t max = n < FUZZ_HEAD_MAX ? n : FUZZ_HEAD_MAX, i = 0;

	memset(out, 0, sizeof *out);
	while (i < max && in[i] != 0 && in[i] != '{' && in[i] != FUZZ_MSGPACK_OPTIONS)
		i++;
	if (i == max)
		return -1;
	out->name_len = i;
	memcpy(out->name, in, i);
	out->name[i] = 0;
	if (in[i] == '{') {
		const uint8_t *nul = memchr(in + i, 0, max - i);
		size_t olen;

		if (!nul)
			return -1;
		olen = (size_t)(nul - (in + i));
		out->options = malloc(olen + 1);
		if (!out->options)
			abort();
		memcpy(out->options, in + i, olen);
		out->options[olen] = 0;
		i += olen;
	} else if (in[i] == FUZZ_MSGPACK_OPTIONS) {
		/* As far as the frame scanner lets it, below a request map. */
		struct rowd_limits lim;
		struct rowd_error err;
		struct proto_scanner sc;
		size_t len = 0;

		rowd_limits_default(&lim);
		lim.depth--;
		proto_scanner_init(&sc);
		i++;
		if (proto_scan(&sc, (const char *)in + i, n - i, &lim, &len, &err) != 1)
			return -1;
		out->mp_options = (const char *)in + i;
		out->mp_options_len = len;
		out->data = in + i + len;
		out->size = n - i - len;
		return 0;
	}
	out->data = in + i + 1;
	out->size = n - i - 1;
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
