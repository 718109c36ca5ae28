/* Choosing the codec and format of a file: an explicit name wins, then
 * the file name's extensions, then the content (magic bytes for codecs,
 * format probes over the decoded head). */
#ifndef ROWD_DETECT_H
#define ROWD_DETECT_H

#include "codec.h"
#include "format.h"
#include "input.h"
#include "rowd_proto.h"

/* For reading an open fd. */
int detect_read(int fd, const char *path, size_t path_len, const struct rowd_open_spec *spec,
                size_t max_buf, const struct codec_ops **codec,
                const struct format_ops **fmt, struct rowd_error *err);
/* For writing a new file: names only. */
int detect_write(const char *name, const struct rowd_open_spec *spec,
                 const struct codec_ops **codec, const struct format_ops **fmt,
                 struct rowd_error *err);

/* Opens in over fd through codec and reads the head (up to 64 KiB) into
 * its window. The caller closes in, also on failure. */
int detect_head(struct input *in, int fd, const struct codec_ops *codec,
                const msgpack_object *codec_options, size_t max_buf, struct rowd_error *err);
/* "utf-8-sig" (UTF-8 with a BOM), "utf-8", or "unknown" for a head that
 * is not UTF-8 (a multi-byte sequence cut by the end of the head counts
 * as valid). */
const char *detect_encoding(const char *head, size_t n);

#endif
