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
/* The text encoding of a head (see charset_detect): "utf-8", "utf-8-sig",
 * "utf-16le", "windows-1251", ... */
const char *detect_encoding(const char *head, size_t n);
/* Converts the rest of a detect head to UTF-8 when `encoding` (from
 * detect_encoding) is another, and refills it, so the format's own
 * sniffing (delimiter, header) sees text. */
int detect_to_utf8(struct input *in, const char *encoding, struct rowd_error *err);

#endif
