/* Starts the real daemon/rowd on a temp socket with a temp data root, for
 * end-to-end tests. With ROWD_VALGRIND=1 in the environment the daemon
 * runs under valgrind memcheck and any error or definite leak makes
 * daemon_stop() report failure. */
#ifndef ROWD_DAEMON_FIXTURE_H
#define ROWD_DAEMON_FIXTURE_H

#include <stdbool.h>
#include <sys/types.h>

struct daemon {
	pid_t pid;
	char dir[256];      /* temp dir: holds root/ and the socket */
	char root[300];     /* the data root */
	char sock[300];     /* the socket path */
	char log[300];      /* daemon stderr */
};

/* The temp dir is made under $TMPDIR (default /tmp).
 * extra: NULL-terminated extra arguments (e.g. "-o", "row_bytes=1K"). */
bool daemon_start(struct daemon *d, const char *const *extra);
/* Restarts on the same root and socket (e.g. after a SIGKILL). */
bool daemon_restart(struct daemon *d, const char *const *extra);
/* SIGTERM and wait; true when the daemon exited 0 (and valgrind was clean). */
bool daemon_stop(struct daemon *d);
/* SIGKILL and reap. */
void daemon_kill(struct daemon *d);
/* Removes the temp dir. */
void daemon_cleanup(struct daemon *d);

/* Writes a file under the root (relative path). */
bool daemon_put(const struct daemon *d, const char *rel, const void *data, size_t n);
/* Copies a file of the source tree (relative to the top) under the root. */
bool daemon_put_src(const struct daemon *d, const char *src_rel, const char *rel);
/* Reads a file under the root (malloc'd, NUL-terminated) or NULL. */
char *daemon_get(const struct daemon *d, const char *rel, size_t *n);
/* Number of entries in the root dir whose name contains needle. */
int daemon_count_files(const struct daemon *d, const char *needle);
/* Raw socket to the daemon, or -1. */
int daemon_connect_raw(const struct daemon *d);

#endif
