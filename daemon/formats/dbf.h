/* dBase tables (formats/dbf.c): the pieces shared by the reader's files,
 * dbf_text.c (code pages to UTF-8) and dbf_value.c (field values). */
#ifndef ROWD_DBF_H
#define ROWD_DBF_H

#include <iconv.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mpbuf.h"
#include "rowd_proto.h"

/* ---- text: a table's code page to UTF-8 (dbf_text.c) ------------------- */

struct dbf_text {
	iconv_t cd;          /* (iconv_t)-1: the bytes are taken as UTF-8 */
	bool utf8_first;     /* no code page known: UTF-8 when valid, else cd */
	char name[32];       /* the encoding, for messages */
	char *buf;           /* converted text */
	size_t cap;
};

/* The iconv name of a language driver byte, NULL when 0 or unknown. */
const char *dbf_ldid_encoding(uint8_t ldid);
/* Chooses the encoding: the option (enc, n; enc NULL = none given), else
 * the language driver byte, else UTF-8 with windows-1252 for bytes that
 * are not UTF-8. EINVAL for an encoding iconv does not know. */
int dbf_text_open(struct dbf_text *t, const char *enc, size_t n, uint8_t ldid,
                  struct rowd_error *err);
/* Converts s[0..n) to UTF-8; *out is s itself or t->buf. Returns 0; 1 when
 * the bytes do not convert (*bad = offset of the first that does not);
 * -1 out of memory. */
int dbf_text_utf8(struct dbf_text *t, const char *s, size_t n, const char **out,
                  size_t *outn, size_t *bad);
void dbf_text_close(struct dbf_text *t);

/* ---- values (dbf_value.c) ------------------------------------------------
 * Each packs one field's bytes into b. Returns 0, 1 for a value that does
 * not parse (*why says what is wrong), -1 out of memory. */

int dbf_put_number(struct mpbuf *b, const char *s, size_t n, unsigned decimals,
                   const char **why);
int dbf_put_logical(struct mpbuf *b, const char *s, const char **why);
int dbf_put_date(struct mpbuf *b, const char *s, const char **why);
/* FoxPro T: int32 Julian day number, int32 milliseconds since midnight. */
int dbf_put_datetime(struct mpbuf *b, const unsigned char *s, const char **why);
/* FoxPro Y: int64 count of 1/10000 units, as exact decimal text. */
int dbf_put_currency(struct mpbuf *b, const unsigned char *s);
/* Memo block number: 10 ASCII digits, or (n == 4) an int32. */
int dbf_put_memo(struct mpbuf *b, const char *s, size_t n, const char **why);

static inline uint32_t dbf_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t dbf_u64(const unsigned char *p)
{
	return (uint64_t)dbf_u32(p) | (uint64_t)dbf_u32(p + 4) << 32;
}

#endif
