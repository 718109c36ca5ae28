/* Logging to stderr (see log.h). */
#include "config.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static _Atomic int level = LOG_LVL_INFO;
static bool to_journal;

/* systemd sets JOURNAL_STREAM=dev:ino of the stream it connected to
 * stderr; only then are "<N>" prefixes understood. */
void log_init(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long dev, ino;
	struct stat st;

	if (js && sscanf(js, "%lu:%lu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0)
		to_journal = st.st_dev == dev && st.st_ino == ino;
}

void log_set_level(enum log_level l) { level = l; }
enum log_level log_get_level(void) { return level; }

int log_level_parse(const char *s)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };

	for (int i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	if (strcmp(s, "warning") == 0)
		return LOG_LVL_WARN;
	return -1;
}

void log_msg(enum log_level l, const char *fmt, ...)
{
	static const char *const tag[] = { "error", "warn", "info", "debug" };
	static const int prio[] = { 3, 4, 6, 7 };
	char line[1024];
	int n = 0;
	va_list ap;

	if ((int)l > level)
		return;
	if (to_journal) {
		n = snprintf(line, sizeof line, "<%d>", prio[l]);
	} else {
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n = (int)strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
		n += snprintf(line + n, sizeof line - (size_t)n, ".%03ldZ rowd[%d] %s: ",
		              ts.tv_nsec / 1000000, (int)getpid(), tag[l]);
	}
	va_start(ap, fmt);
	if (n < (int)sizeof line)
		n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof line - 1)
		n = (int)sizeof line - 2;
	line[n++] = '\n';
	/* One write per line keeps lines whole across threads. */
	if (write(STDERR_FILENO, line, (size_t)n) < 0) {
		/* nowhere left to report it */
	}
}
