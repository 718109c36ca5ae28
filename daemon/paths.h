/* Confinement of client paths beneath the data roots.
 *
 * Roots are opened once (O_PATH directory fds). Every lookup goes through
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) from a root fd, so "..",
 * absolute symlinks and symlinks leading out are refused by the kernel with
 * no window between check and use. Without openat2 (kernels before 5.6,
 * valgrind) beneath.c walks the path one component at a time and refuses
 * the same paths. Only regular files are opened. */
#ifndef ROWD_PATHS_H
#define ROWD_PATHS_H

#include <stdbool.h>
#include <stddef.h>

#include "rowd_proto.h"

struct root {
	char *path;     /* canonical absolute path (realpath) */
	size_t len;
	int fd;         /* O_PATH | O_DIRECTORY */
};

struct roots {
	struct root *v;
	size_t n;
};

int roots_open(struct roots *r, char *const *paths, size_t n, char *errmsg, size_t errlen);
void roots_close(struct roots *r);

/* Opens path (a client string, not NUL-terminated) for reading: a regular
 * file beneath a root. Returns the fd or -1 (ENOENT, EACCES, EINVAL). */
int paths_open_read(const struct roots *r, const char *path, size_t len,
                    struct rowd_error *err);

/* For writing: opens the directory that will hold the file (beneath a
 * root) and returns its fd; *name is the final component (malloc'd). The
 * target itself must not be a directory or a non-regular file. */
int paths_open_parent(const struct roots *r, const char *path, size_t len,
                      char **name, struct rowd_error *err);

/* Whether to try openat2 first (default true). false forces the
 * component walk: tests, and $ROWD_TEST_NO_OPENAT2 at start. Set before
 * any worker runs. */
void paths_set_openat2(bool on);

#endif
