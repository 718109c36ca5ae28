/* Path confinement (see paths.h). */
#include "config.h"

#include <errno.h>
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

#include "beneath.h"
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

/* A component the kernel would refuse with ENAMETOOLONG, said clearly. */
static bool long_component(const char *path, size_t len, struct rowd_error *err)
{
	for (size_t i = 0, start = 0; i <= len; i++) {
		if (i < len && path[i] != '/')
			continue;
		if (i - start > NAME_MAX) {
			rowd_error_set(err, ROWD_EINVAL, "a path component of %zu bytes is longer than NAME_MAX (%d)",
			               i - start, NAME_MAX);
			return true;
		}
		start = i + 1;
	}
	return false;
}

/* What a non-regular file is, for the refusal. */
static const char *file_kind(mode_t m)
{
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISCHR(m))
		return "a character device";
	if (S_ISBLK(m))
		return "a block device";
	if (S_ISSOCK(m))
		return "a socket";
	if (S_ISLNK(m))
		return "a symlink";
	return "a special file";
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
		return rowd_error_set(err, ROWD_EINVAL, "path of %zu bytes is longer than PATH_MAX - 1 (%d)",
		                      len, PATH_MAX - 1);
	if (long_component(path, len, err))
		return -1;
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

static bool use_openat2 = true;

void paths_set_openat2(bool on)
{
	use_openat2 = on;
}

/* openat2 where the kernel has it; the component walk of beneath.c,
 * which refuses the same paths, where it does not (kernels before 5.6,
 * valgrind; a seccomp filter may answer EPERM instead of ENOSYS). */
static int openat2_beneath(int dirfd, const char *rel, int flags)
{
#if defined(SYS_openat2) && defined(RESOLVE_BENEATH)
	if (use_openat2) {
		struct open_how how = {
			.flags = (uint64_t)flags,
			.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
		};
		int fd = (int)syscall(SYS_openat2, dirfd, rel, &how, sizeof how);

		if (fd >= 0 || (errno != ENOSYS && errno != EPERM))
			return fd;
	}
#endif
	return beneath_open(dirfd, rel, flags);
}

static int map_errno(int e, struct rowd_error *err)
{
	switch (e) {
	case ENOENT:
	case ENOTDIR:
		return rowd_error_set(err, ROWD_ENOENT, "no such file");
	case EXDEV:
		return rowd_error_set(err, ROWD_EACCES, "path leads outside the data roots");
	case ELOOP:
		/* RESOLVE_NO_MAGICLINKS says ELOOP for a /proc link too. */
		return rowd_error_set(err, ROWD_EACCES,
		                      "path goes through too many symlinks or a /proc magic link");
	case EACCES:
	case EPERM:
		return rowd_error_set(err, ROWD_EACCES, "permission denied");
	case ENAMETOOLONG:
		return rowd_error_set(err, ROWD_EINVAL, "path too long once its symlinks are expanded");
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
	if (fstat(pfd, &st) < 0) {
		e = errno;
		close(pfd);
		return map_errno(e, err);
	}
	if (!S_ISREG(st.st_mode)) {
		close(pfd);
		return rowd_error_set(err, ROWD_EACCES, "%s, not a regular file: only regular files are read",
		                      file_kind(st.st_mode));
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
			return rowd_error_set(err, ROWD_EEXIST, "target is a directory: it is left as it is");
		return rowd_error_set(err, ROWD_EACCES, "target exists and is %s, not a regular file",
		                      file_kind(st.st_mode));
	}
	*name = strdup(base);
	if (!*name) {
		close(dfd);
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory");
	}
	return dfd;
}
