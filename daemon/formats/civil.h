/* Calendar dates of day counts, for the readers that write dates as ISO
 * 8601 text (avro, bson, dbf, the spreadsheets). */
#ifndef ROWD_FORMATS_CIVIL_H
#define ROWD_FORMATS_CIVIL_H

#include <stdint.h>

/* Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's
 * civil_from_days): exact for any day count an int64 of milliseconds or
 * microseconds gives, where gmtime_r would stop at its int year. Years
 * before 1 are 0, -1, ... (astronomical numbering). */
void civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);

#endif
