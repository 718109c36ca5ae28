/* iconv between the codec and the format (see transcode.h). */
#include "config.h"

#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "input.h"
#include "transcode.h"

#define STAGE_CAP (256 * 1024)

struct transcode {
	iconv_t cd;
	char name[32];
	char *stage;                /* codec output not yet converted */
	size_t start, end, cap;
	bool eof;                   /* the codec has ended */
	bool flushed;               /* iconv's final shift written */
	uint64_t offset;            /* text bytes before stage[start] */
};

int input_set_encoding(struct input *in, const char *encoding, struct rowd_error *err)
{
	struct transcode *tc;
	size_t have = input_avail(in);

	if (in->consumed || in->tc)
		return rowd_error_set(err, ROWD_EINVAL, "internal: encoding set after reading began");
	if (strlen(encoding) >= sizeof tc->name)
		return rowd_error_set(err, ROWD_EINVAL, "unknown encoding '%.40s'", encoding);
	tc = calloc(1, sizeof *tc);
	if (tc) {
		tc->cap = have > STAGE_CAP ? have : STAGE_CAP;
		tc->stage = malloc(tc->cap);
	}
	if (!tc || !tc->stage) {
		free(tc);
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory");
	}
	tc->cd = iconv_open("UTF-8", encoding);
	if (tc->cd == (iconv_t)-1) {
		/* Python's spellings: latin_1, latin-1, koi8_r. */
		char alt[sizeof tc->name];
		size_t j = 0;

		for (const char *c = encoding; *c; c++) {
			if ((*c == '-' || *c == '_') && j == 5 && strncasecmp(alt, "latin", 5) == 0)
				continue;
			alt[j++] = *c == '_' ? '-' : *c;
		}
		alt[j] = 0;
		tc->cd = iconv_open("UTF-8", alt);
	}
	if (tc->cd == (iconv_t)-1) {
		free(tc->stage);
		free(tc);
		return rowd_error_set(err, ROWD_EINVAL, "unknown encoding '%s' (option 'encoding')",
		                      encoding);
	}
	strcpy(tc->name, encoding);
	/* What the reader has peeked at is still in the file's encoding. */
	if (have)              /* nothing read yet: in->buf may be NULL */
		memcpy(tc->stage, input_ptr(in), have);
	tc->end = have;
	tc->eof = in->eof;
	in->start = in->end = 0;
	in->eof = false;
	in->tc = tc;
	return 0;
}

/* More codec output into the stage, after what is left there. */
static int stage_fill(struct input *in, struct transcode *tc, struct rowd_error *err)
{
	ssize_t r;

	if (tc->start > 0) {
		memmove(tc->stage, tc->stage + tc->start, tc->end - tc->start);
		tc->end -= tc->start;
		tc->start = 0;
	}
	r = in->codec->rd_read(in->codec_state, tc->stage + tc->end, tc->cap - tc->end, err);
	if (r < 0)
		return -1;
	if (r == 0)
		tc->eof = true;
	tc->end += (size_t)r;
	return 0;
}

ssize_t transcode_read(struct input *in, char *dst, size_t cap, struct rowd_error *err)
{
	struct transcode *tc = in->tc;
	char *out = dst;
	size_t outleft = cap;

	while (out == dst) {
		char *src = tc->stage + tc->start;
		size_t left = tc->end - tc->start;
		size_t rc;

		if (left == 0 && tc->eof) {
			if (!tc->flushed) {
				tc->flushed = true;
				if (iconv(tc->cd, NULL, NULL, &out, &outleft) == (size_t)-1)
					return rowd_error_set(err, ROWD_EFORMAT, "cannot end the %s text",
					                      tc->name);
			}
			break;
		}
		rc = left ? iconv(tc->cd, &src, &left, &out, &outleft) : 0;
		tc->offset += (uint64_t)(src - (tc->stage + tc->start));
		tc->start = (size_t)(src - tc->stage);
		if (rc != (size_t)-1 && left == 0 && !tc->eof) {
			if (stage_fill(in, tc, err) < 0)
				return -1;
			continue;
		}
		if (rc != (size_t)-1)
			continue;
		if (errno == E2BIG)
			break;
		if (errno == EINVAL && !tc->eof) {
			/* A sequence cut by the stage's end: read on. */
			if (stage_fill(in, tc, err) < 0)
				return -1;
			continue;
		}
		err->offset = (int64_t)tc->offset;
		return rowd_error_set(err, ROWD_EFORMAT, "%s at byte %llu of the text: not valid %s",
		                      errno == EINVAL ? "truncated character" : "invalid byte sequence",
		                      (unsigned long long)tc->offset, tc->name);
	}
	return out - dst;
}

void transcode_rewind(struct transcode *tc)
{
	iconv(tc->cd, NULL, NULL, NULL, NULL);
	tc->start = tc->end = 0;
	tc->eof = tc->flushed = false;
	tc->offset = 0;
}

void transcode_free(struct transcode *tc)
{
	if (!tc)
		return;
	iconv_close(tc->cd);
	free(tc->stage);
	free(tc);
}
