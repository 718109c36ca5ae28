/* Conversion of decoded input to UTF-8 (iconv), between the codec and the
 * format: a format reader sees UTF-8 whatever the file's encoding.
 */
#ifndef ROWD_TRANSCODE_H
#define ROWD_TRANSCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "rowd_proto.h"

struct input;
struct transcode;

/* Converts in's bytes from `encoding` from now on; bytes already in its
 * window (nothing may have been consumed yet) are converted again. EINVAL
 * naming the encoding when iconv does not know it. */
int input_set_encoding(struct input *in, const char *encoding, struct rowd_error *err);

/* For input.c: fills dst (up to cap bytes) with UTF-8; returns the bytes
 * written, 0 at the end, -1 with EFORMAT (the byte offset in the file's
 * text) for a sequence the encoding does not allow, or the codec's error. */
ssize_t transcode_read(struct input *in, char *dst, size_t cap, struct rowd_error *err);
void transcode_rewind(struct transcode *tc);
void transcode_free(struct transcode *tc);

#endif
