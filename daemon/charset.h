/* Text encoding detection for the head of a decoded file.
 *
 * DESIGN names uchardet for this; its package cannot be installed on the
 * machines this project is built on, so rowd carries a small detector of
 * its own for the cases users meet: BOMs, UTF-16 without a BOM, UTF-8,
 * the Cyrillic code pages (windows-1251, KOI8-R, IBM866, told apart by
 * Russian letter frequencies) and windows-1252 for other 8-bit text.
 */
#ifndef ROWD_CHARSET_H
#define ROWD_CHARSET_H

#include <stdbool.h>
#include <stddef.h>

/* The encoding's name as iconv knows it ("utf-8", "utf-8-sig",
 * "utf-16le", "windows-1251", ...). `cut` says the head stops before the
 * end of the file, so a sequence cut by its end is not an error. */
const char *charset_detect(const unsigned char *head, size_t n, bool cut);

/* The name to give iconv for a detected encoding: "utf-16" when the head
 * starts with a byte order mark (iconv then reads and drops it). */
const char *charset_iconv_name(const char *detected, const unsigned char *head, size_t n);

/* True for the names that mean UTF-8 (any case, with or without "-sig"). */
bool charset_is_utf8(const char *name, size_t len);

#endif
