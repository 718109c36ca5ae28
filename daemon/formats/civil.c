/* Day counts to calendar dates (see civil.h). */
#include "config.h"

#include "civil.h"

void civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d)
{
	/* Counted from 0000-03-01, so that the leap day ends a year; an era
	 * is the 400-year cycle of 146097 days. */
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;

	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}
