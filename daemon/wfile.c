/* Atomic writes (see wfile.h). */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wfile.h"

static void wfile_reset(struct wfile *w)
{
	if (w->fd >= 0)
		close(w->fd);
	if (w->dirfd >= 0)
		close(w->dirfd);
	free(w->name);
	free(w->tmpname);
	w->fd = w->dirfd = -1;
	w->name = w->tmpname = NULL;
}

int wfile_open(struct wfile *w, int dirfd, char *name, struct rowd_error *err)
{
	static const char alnum[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	struct stat st;
	size_t n = strlen(name) + sizeof WFILE_TMP_MARK + 8;
	mode_t mode = 0644;

	w->dirfd = dirfd;
	w->name = name;
	w->fd = -1;
	w->tmpname = malloc(n);
	if (!w->tmpname) {
		wfile_reset(w);
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory");
	}
	/* Keep an existing target's permissions. */
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		mode = st.st_mode & 07777;
	for (int attempt = 0; attempt < 16 && w->fd < 0; attempt++) {
		unsigned char rnd[6];
		char suffix[7];

		if (getrandom(rnd, sizeof rnd, 0) != sizeof rnd)
			memset(rnd, attempt, sizeof rnd);
		for (int i = 0; i < 6; i++)
			suffix[i] = alnum[rnd[i] % (sizeof alnum - 1)];
		suffix[6] = 0;
		snprintf(w->tmpname, n, ".%s%s%s", name, WFILE_TMP_MARK, suffix);
		w->fd = openat(dirfd, w->tmpname, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
		if (w->fd < 0 && errno != EEXIST)
			break;
	}
	if (w->fd < 0) {
		int e = errno;

		free(w->tmpname);
		w->tmpname = NULL;
		wfile_reset(w);
		if (e == EACCES || e == EPERM || e == EROFS)
			return rowd_error_set(err, ROWD_EACCES, "cannot create a file here: %s", strerror(e));
		return rowd_error_set(err, ROWD_EIO, "cannot create the temp file: %s", strerror(e));
	}
	/* O_CREAT applied the umask; the target's mode is what we want. */
	if (fchmod(w->fd, mode) < 0) {
		/* not fatal: the file is still ours */
	}
	return 0;
}

int wfile_commit(struct wfile *w, struct rowd_error *err)
{
	if (fsync(w->fd) < 0) {
		rowd_error_set(err, ROWD_EIO, "fsync failed: %s", strerror(errno));
		wfile_abort(w);
		return -1;
	}
	if (close(w->fd) < 0) {
		w->fd = -1;
		rowd_error_set(err, ROWD_EIO, "close failed: %s", strerror(errno));
		wfile_abort(w);
		return -1;
	}
	w->fd = -1;
	if (renameat(w->dirfd, w->tmpname, w->dirfd, w->name) < 0) {
		rowd_error_set(err, ROWD_EIO, "rename failed: %s", strerror(errno));
		wfile_abort(w);
		return -1;
	}
	free(w->tmpname);
	w->tmpname = NULL;
	/* The rename is durable only once the directory is. */
	if (fsync(w->dirfd) < 0) {
		rowd_error_set(err, ROWD_EIO, "fsync of the directory failed: %s", strerror(errno));
		wfile_reset(w);
		return -1;
	}
	wfile_reset(w);
	return 0;
}

void wfile_abort(struct wfile *w)
{
	if (w->tmpname && w->dirfd >= 0)
		unlinkat(w->dirfd, w->tmpname, 0);
	wfile_reset(w);
}

int wfile_clean_stale(int dirfd, int depth)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;
	struct dirent *e;
	int removed = 0;

	if (fd < 0)
		return 0;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return 0;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
			continue;
		if (e->d_type == DT_REG && e->d_name[0] == '.' && strstr(e->d_name, WFILE_TMP_MARK)) {
			if (unlinkat(fd, e->d_name, 0) == 0)
				removed++;
		} else if (e->d_type == DT_DIR && depth > 0) {
			int sub = openat(fd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub >= 0) {
				removed += wfile_clean_stale(sub, depth - 1);
				close(sub);
			}
		}
	}
	closedir(d);
	return removed;
}
