/* Path confinement (see paths.h). */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#ifdef HAVE_LINUX_OPENAT2_H
#include <linux/openat2.h>
#endif

#include "paths.h"

int roots_open(struct roots *r, char *const *paths, size_t n, char *errmsg, size_t errlen)
{
	r->v = calloc(n, sizeof *r->v);
	r->n = 0;
	if (!r->v) {
		snprintf(errmsg, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		struct root *rt = &r->v[i];

		rt->path = realpath(paths[i], NULL);
		if (!rt->path) {
			snprintf(errmsg, errlen, "root %s: %s", paths[i], strerror(errno));
			roots_close(r);
			return -1;
		}
		rt->len = strlen(rt->path);
		rt->fd = open(rt->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
		r->n++;
		if (rt->fd < 0) {
			snprintf(errmsg, errlen, "root %s: %s", paths[i], strerror(errno));
			roots_close(r);
			return -1;
		}
	}
	return 0;
}

void roots_close(struct roots *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i].path);
		if (r->v[i].fd >= 0)
			close(r->v[i].fd);
	}
	free(r->v);
	r->v = NULL;
	r->n = 0;
}

/* Maps a client path to a root and a path relative to it (in buf). */
static int split_root(const struct roots *r, const char *path, size_t len, char *buf,
                      const struct root **root, struct rowd_error *err)
{
	if (len == 0)
		return rowd_error_set(err, ROWD_EINVAL, "empty path");
	if (memchr(path, 0, len))
		return rowd_error_set(err, ROWD_EINVAL, "path contains a NUL byte");
	if (len >= PATH_MAX)
		return rowd_error_set(err, ROWD_EINVAL, "path is longer than %d bytes", PATH_MAX - 1);
	if (r->n == 0)
		return rowd_error_set(err, ROWD_EACCES, "no data roots are configured");
	if (path[0] != '/') {
		*root = &r->v[0];
		memcpy(buf, path, len);
		buf[len] = 0;
		return 0;
	}
	for (size_t i = 0; i < r->n; i++) {
		const struct root *rt = &r->v[i];
		size_t rl = rt->len == 1 ? 0 : rt->len;   /* root "/" */

		if (len >= rl && memcmp(path, rt->path, rl) == 0 &&
		    (len == rl || path[rl] == '/')) {
			const char *rest = path + rl;
			size_t restlen = len - rl;

			while (restlen && *rest == '/') {
				rest++;
				restlen--;
			}
			if (restlen == 0) {
				strcpy(buf, ".");
			} else {
				memcpy(buf, rest, restlen);
				buf[restlen] = 0;
			}
			*root = rt;
			return 0;
		}
	}
	return rowd_error_set(err, ROWD_EACCES, "path is outside the data roots");
}

/* Without openat2 (kernels before 5.6, valgrind): open normally, then ask
 * the kernel where the fd really is and refuse it unless that lies
 * beneath the root. The check is on the opened object itself, so a path
 * swapped during the lookup cannot slip out. */
/* True when rel climbs above its start by its own ".." (or is absolute):
 * refused before any lookup, as openat2 would (EXDEV), so a missing file
 * outside the root answers EACCES there too, never ENOENT. */
static bool climbs_out(const char *rel)
{
	long depth = 0;

	if (rel[0] == '/')
		return true;
	for (const char *p = rel; *p;) {
		size_t len = strcspn(p, "/");

		if (len == 2 && p[0] == '.' && p[1] == '.') {
			if (--depth < 0)
				return true;
		} else if (len > 0 && !(len == 1 && p[0] == '.')) {
			depth++;
		}
		p += len;
		p += *p == '/';
	}
	return false;
}

static int open_then_check(int dirfd, const char *rel, int flags)
{
	char link[64], real[PATH_MAX], root[PATH_MAX];
	ssize_t n, rn;
	int fd;

	if (climbs_out(rel)) {
		errno = EXDEV;
		return -1;
	}
	fd = openat(dirfd, rel, flags);
	if (fd < 0)
		return -1;
	snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
	rn = readlink(link, root, sizeof root - 1);
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	n = readlink(link, real, sizeof real - 1);
	if (n < 0 || rn < 0) {
		close(fd);
		errno = EACCES;
		return -1;
	}
	real[n] = root[rn] = 0;
	if (!(rn == 1 || (strncmp(real, root, (size_t)rn) == 0 && (real[rn] == '/' || real[rn] == 0)))) {
		close(fd);
		errno = EXDEV;
		return -1;
	}
	return fd;
}

static int openat2_beneath(int dirfd, const char *rel, int flags)
{
#if defined(SYS_openat2) && defined(RESOLVE_BENEATH)
	struct open_how how = {
		.flags = (uint64_t)flags,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	int fd = (int)syscall(SYS_openat2, dirfd, rel, &how, sizeof how);

	if (fd >= 0 || errno != ENOSYS)
		return fd;
#endif
	/* An absolute path in a symlink's target still resolves from "/";
	 * the check below refuses it when it lands outside. */
	return open_then_check(dirfd, rel, flags);
}

static int map_errno(int e, struct rowd_error *err)
{
	switch (e) {
	case ENOENT:
	case ENOTDIR:
		return rowd_error_set(err, ROWD_ENOENT, "no such file");
	case EXDEV:
	case ELOOP:
		return rowd_error_set(err, ROWD_EACCES, "path leads outside the data roots");
	case EACCES:
	case EPERM:
		return rowd_error_set(err, ROWD_EACCES, "permission denied");
	case ENAMETOOLONG:
		return rowd_error_set(err, ROWD_EINVAL, "path too long");
	case EMFILE:
	case ENFILE:
		return rowd_error_set(err, ROWD_ELIMIT, "out of file descriptors");
	default:
		return rowd_error_set(err, ROWD_EIO, "cannot open: %s", strerror(e));
	}
}

int paths_open_read(const struct roots *r, const char *path, size_t len,
                    struct rowd_error *err)
{
	char rel[PATH_MAX], self[64];
	const struct root *rt;
	struct stat st;
	int fd, pfd, e;

	if (split_root(r, path, len, rel, &rt, err) < 0)
		return -1;
	/* Look before opening: an O_PATH fd opens nothing, so a FIFO or a
	 * device inside the root is refused without being opened. */
	pfd = openat2_beneath(rt->fd, rel, O_PATH | O_CLOEXEC);
	if (pfd < 0)
		return map_errno(errno, err);
	if (fstat(pfd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(pfd);
		return rowd_error_set(err, ROWD_EACCES, "not a regular file");
	}
	snprintf(self, sizeof self, "/proc/self/fd/%d", pfd);
	fd = open(self, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	e = errno;
	close(pfd);
	if (fd < 0)
		return map_errno(e, err);
	return fd;
}

int paths_open_parent(const struct roots *r, const char *path, size_t len,
                      char **name, struct rowd_error *err)
{
	char rel[PATH_MAX];
	const struct root *rt;
	const char *base, *dir;
	struct stat st;
	char *slash;
	int dfd;

	if (split_root(r, path, len, rel, &rt, err) < 0)
		return -1;
	slash = strrchr(rel, '/');
	if (slash) {
		*slash = 0;
		base = slash + 1;
		dir = rel[0] ? rel : ".";
	} else {
		base = rel;
		dir = ".";
	}
	if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
		return rowd_error_set(err, ROWD_EINVAL, "path does not name a file");
	/* A readable fd, not O_PATH: the commit fsyncs the directory. */
	dfd = openat2_beneath(rt->fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return map_errno(errno, err);
	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode)) {
		close(dfd);
		if (S_ISDIR(st.st_mode))
			return rowd_error_set(err, ROWD_EEXIST, "target is a directory");
		return rowd_error_set(err, ROWD_EACCES, "target exists and is not a regular file");
	}
	*name = strdup(base);
	if (!*name) {
		close(dfd);
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory");
	}
	return dfd;
}
