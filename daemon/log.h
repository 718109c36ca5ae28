/* Logging: one line per event on stderr, with a syslog priority prefix
 * ("<3>") when stderr is the journal, else a timestamp. Thread-safe. */
#ifndef ROWD_LOG_H
#define ROWD_LOG_H

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_init(void);
void log_set_level(enum log_level l);
enum log_level log_get_level(void);
/* Parses "error|warn|info|debug"; -1 if unknown. */
int log_level_parse(const char *s);
void log_msg(enum log_level l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) do { if (log_get_level() >= LOG_LVL_DEBUG) log_msg(LOG_LVL_DEBUG, __VA_ARGS__); } while (0)

#endif
