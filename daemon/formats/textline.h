/* Pieces shared by the line-oriented text formats (LTSV, fixed width):
 * a line reader over struct input, the text form of a value for writers,
 * and the `encoding` option these UTF-8-only formats accept.
 */
#ifndef ROWD_TEXTLINE_H
#define ROWD_TEXTLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format.h"

struct textline_reader {
	struct input *in;
	size_t max;             /* longest line: the row_bytes limit */
	uint64_t line;          /* lines consumed so far = number of the last one */
	size_t scanned;         /* bytes at in->start known to hold no '\n' */
	bool started;           /* leading BOM handled */
};

void textline_init(struct textline_reader *lr, struct input *in, size_t max);

/* The next line, without its '\n' and a '\r' before it; a leading UTF-8
 * BOM is dropped. The bytes stay valid until the next call. *off is the
 * line's offset in the decoded stream. Returns 1, 0 at the end of the
 * data, -1 on error (ELIMIT "line N: ..." for a line over max, with
 * err->line set; ECODEC/EIO from the input). */
int textline_next(struct textline_reader *lr, const char **line, size_t *len,
                  uint64_t *off, struct rowd_error *err);

/* The text of one value: str and bin as they are, nil as "", true/false,
 * numbers as Python prints them (1, -2, 1.5, 1.0, nan, inf), arrays and
 * maps as JSON text. *p may point into scratch (overwritten by the next
 * call). Returns 0, or -1 with err: EINVAL for msgpack ext and for str or
 * bin that is not UTF-8 (no text form, message without a position: the
 * caller adds it), ENOMEM. */
int textline_value(const msgpack_object *v, struct mpbuf *scratch, const char **p,
                   size_t *n, struct rowd_error *err);

/* The `encoding` option: absent, "utf-8" or "utf8" are fine; anything
 * else is ENOTSUP (a format that cannot honour it must not ignore it). */
int textline_check_encoding(const msgpack_object *opts, const char *fmt_name,
                            struct rowd_error *err);

/* A reader's `encoding` option: UTF-8 names read as they are; another
 * name converts the input to UTF-8 (EINVAL when iconv does not know it);
 * no option detects the encoding from the head of the input. */
int textline_input_encoding(struct input *in, const msgpack_object *opts,
                            struct rowd_error *err);

/* Sets err->line/row/offset in one go (row 0 = does not apply). */
static inline void textline_locate(struct rowd_error *err, uint64_t line, uint64_t row,
                                   uint64_t offset)
{
	err->line = (int64_t)line;
	err->row = row ? (int64_t)row : -1;
	err->offset = (int64_t)offset;
}

#endif
