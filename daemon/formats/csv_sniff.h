/* Guessing a CSV file's dialect from its head, for files that do not say
 * (a .csv with semicolons) and for the detect op. */
#ifndef ROWD_CSV_SNIFF_H
#define ROWD_CSV_SNIFF_H

#include <stddef.h>

/* The delimiter among , ; TAB | whose count (outside quotes) is the same,
 * and not zero, on every complete line of the head; 0 when none is. */
char csv_sniff_delimiter(const char *head, size_t n);
/* 1 when the first record looks like a header (non-empty, distinct, not
 * numbers, while a later record has a number where it has text), 0 when
 * it looks like data, -1 when the head cannot tell. */
int csv_sniff_header(const char *head, size_t n, char delim);

#endif
