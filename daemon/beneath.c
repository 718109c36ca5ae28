/* Confined lookup without openat2 (see beneath.h).
 *
 * Each component is opened with O_PATH | O_NOFOLLOW from the fd of the
 * directory before it, so the kernel never follows a symlink or ".." for
 * us: a symlink is read through its own O_PATH fd and its target spliced
 * in front of what is left, and ".." returns to the fd we came from, not
 * to whatever the kernel's parent is now. A directory renamed or a
 * symlink swapped in between two steps cannot lead out: every step starts
 * from an fd that is already beneath the start. /proc magic links need
 * no special case: they are read as text like any symlink, and their
 * targets are absolute (refused) or names like "pipe:[7]" (not found). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "beneath.h"

#define MAX_LINKS 40   /* the kernel's MAXSYMLINKS */

/* Directories walked into; fds[0] is the caller's and stays open. */
struct dirstack {
	int *fds;
	size_t n, cap;
};

static int stack_push(struct dirstack *s, int fd)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		int *v = realloc(s->fds, cap * sizeof *v);

		if (!v)
			return -1;
		s->fds = v;
		s->cap = cap;
	}
	s->fds[s->n++] = fd;
	return 0;
}

static void stack_free(struct dirstack *s)
{
	for (size_t i = 1; i < s->n; i++)
		close(s->fds[i]);
	free(s->fds);
}

/* Turns the final O_PATH fd into what the caller asked for (taking fd). */
static int reopen(int fd, int flags)
{
	char self[40];
	struct stat sb;
	int r, e;

	if ((flags & O_DIRECTORY) && (fstat(fd, &sb) < 0 || !S_ISDIR(sb.st_mode))) {
		close(fd);
		errno = ENOTDIR;
		return -1;
	}
	if (flags & O_PATH)
		return fd;
	if (flags & O_DIRECTORY) {
		r = openat(fd, ".", flags);
	} else {
		snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
		r = open(self, flags);
	}
	e = errno;
	close(fd);
	errno = e;
	return r;
}

/* Reads the symlink open as fd and puts its target in front of *rest,
 * in todo (PATH_MAX bytes; *rest points into it). */
static int follow(int fd, char *todo, const char **rest)
{
	char target[PATH_MAX];
	ssize_t n = readlinkat(fd, "", target, sizeof target);
	size_t rlen = strlen(*rest);

	if (n < 0)
		return -1;
	if (n == 0) {
		errno = ENOENT;
		return -1;
	}
	if ((size_t)n >= sizeof target || (size_t)n + rlen >= PATH_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (target[0] == '/') {
		errno = EXDEV;
		return -1;
	}
	memmove(todo + n, *rest, rlen + 1);
	memcpy(todo, target, (size_t)n);
	*rest = todo;
	return 0;
}

/* One step of the walk: name (a component) opened from the current
 * directory. Returns 1 to go on, 0 when name was the last component
 * (*final set), -1 with errno. */
static int step(struct dirstack *st, const char *name, char *todo, const char **rest,
                int *links, int *final)
{
	struct stat sb;
	int fd;

	if (strcmp(name, ".") == 0)
		return 1;
	if (strcmp(name, "..") == 0) {
		if (st->n == 1) {
			errno = EXDEV;
			return -1;
		}
		close(st->fds[--st->n]);
		return 1;
	}
	fd = openat(st->fds[st->n - 1], name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &sb) < 0)
		goto fail;
	if (S_ISLNK(sb.st_mode)) {
		if (++*links > MAX_LINKS) {
			errno = ELOOP;
			goto fail;
		}
		if (follow(fd, todo, rest) < 0)
			goto fail;
		close(fd);
		return 1;
	}
	if (**rest == '/') {            /* more follows: a directory */
		if (!S_ISDIR(sb.st_mode)) {
			errno = ENOTDIR;
			goto fail;
		}
		if (stack_push(st, fd) < 0) {
			errno = ENOMEM;
			goto fail;
		}
		return 1;
	}
	*final = fd;
	return 0;
fail:
	{
		int e = errno;

		close(fd);
		errno = e;
	}
	return -1;
}

int beneath_open(int dirfd, const char *rel, int flags)
{
	struct dirstack st = { 0 };
	char *todo = NULL;
	const char *p;
	int links = 0, final = -1, r = 1, e = 0;

	if (rel[0] == '/') {
		errno = EXDEV;
		return -1;
	}
	if (strlen(rel) >= PATH_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	todo = malloc(PATH_MAX);
	if (!todo || stack_push(&st, dirfd) < 0) {
		free(todo);
		free(st.fds);
		errno = ENOMEM;
		return -1;
	}
	strcpy(todo, rel);
	p = todo;
	while (r == 1) {
		char name[NAME_MAX + 1];
		const char *end;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		end = strchrnul(p, '/');
		if ((size_t)(end - p) > NAME_MAX) {
			errno = ENAMETOOLONG;
			r = -1;
			break;
		}
		memcpy(name, p, (size_t)(end - p));
		name[end - p] = 0;
		p = end;
		r = step(&st, name, todo, &p, &links, &final);
	}
	if (r >= 0 && final < 0) {
		/* The walk ended on a directory of the stack. */
		final = fcntl(st.fds[st.n - 1], F_DUPFD_CLOEXEC, 0);
		if (final < 0)
			r = -1;
	}
	e = errno;
	stack_free(&st);
	free(todo);
	if (r < 0) {
		errno = e;
		return -1;
	}
	return reopen(final, flags);
}
