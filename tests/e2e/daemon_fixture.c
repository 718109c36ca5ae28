/* Real-daemon fixture (see daemon_fixture.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon_fixture.h"

static bool use_valgrind(void)
{
	const char *v = getenv("ROWD_VALGRIND");

	return v && *v && strcmp(v, "0") != 0;
}

int daemon_connect_raw(const struct daemon *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(d->sock);
	int fd;

	if (len >= sizeof sa.sun_path)
		return -1;
	memcpy(sa.sun_path, d->sock, len + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool spawn(struct daemon *d, const char *const *extra)
{
	const char *argv[64];
	char rowd[512];
	pid_t parent;
	int n = 0;

	snprintf(rowd, sizeof rowd, "%s/daemon/rowd", TOP_BUILDDIR);
	if (use_valgrind()) {
		argv[n++] = "valgrind";
		argv[n++] = "-q";
		argv[n++] = "--error-exitcode=99";
		argv[n++] = "--leak-check=full";
		argv[n++] = "--errors-for-leak-kinds=definite,indirect";
		argv[n++] = "--show-leak-kinds=definite,indirect";
	}
	argv[n++] = rowd;
	argv[n++] = "-s";
	argv[n++] = d->sock;
	argv[n++] = "-r";
	argv[n++] = d->root;
	argv[n++] = "-w";
	argv[n++] = "2";
	for (int i = 0; extra && extra[i] && n < 60; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;

	parent = getpid();
	d->pid = fork();
	if (d->pid < 0)
		return false;
	if (d->pid == 0) {
		int fd;

		/* A test that fails or times out ends its (forked) process:
		 * the daemon must not outlive it. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(127);
		fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 2);
			close(fd);
		}
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	/* Ready when a connect succeeds (valgrind makes start-up slow). */
	for (int i = 0; i < (use_valgrind() ? 3000 : 600); i++) {
		int fd = daemon_connect_raw(d);
		int status;

		if (fd >= 0) {
			close(fd);
			return true;
		}
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			d->pid = -1;
			return false;
		}
		usleep(20000);
	}
	daemon_kill(d);
	return false;
}

bool daemon_start(struct daemon *d, const char *const *extra)
{
	const char *tmp = getenv("TMPDIR");

	memset(d, 0, sizeof *d);
	snprintf(d->dir, sizeof d->dir, "%s/rowd-e2e-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(d->dir))
		return false;
	snprintf(d->root, sizeof d->root, "%s/root", d->dir);
	snprintf(d->sock, sizeof d->sock, "%s/rowd.sock", d->dir);
	snprintf(d->log, sizeof d->log, "%s/rowd.log", d->dir);
	if (mkdir(d->root, 0755) < 0)
		return false;
	return spawn(d, extra);
}

bool daemon_restart(struct daemon *d, const char *const *extra)
{
	return spawn(d, extra);
}

static void dump_log(const struct daemon *d)
{
	char *log = NULL;
	FILE *f = fopen(d->log, "r");
	size_t n = 0;

	if (!f)
		return;
	if (getdelim(&log, &n, 0, f) > 0)
		fprintf(stderr, "---- daemon log (%s) ----\n%s----\n", d->log, log);
	free(log);
	fclose(f);
}

bool daemon_stop(struct daemon *d)
{
	int status = 0;

	if (d->pid <= 0)
		return false;
	kill(d->pid, SIGTERM);
	for (int i = 0; i < 1500; i++) {
		pid_t r = waitpid(d->pid, &status, WNOHANG);

		if (r == d->pid) {
			d->pid = -1;
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
				fprintf(stderr, "rowd exited with status %d\n", status);
				dump_log(d);
				return false;
			}
			return true;
		}
		usleep(20000);
	}
	fprintf(stderr, "rowd did not stop within 30 s of SIGTERM\n");
	daemon_kill(d);
	return false;
}

void daemon_kill(struct daemon *d)
{
	if (d->pid <= 0)
		return;
	kill(d->pid, SIGKILL);
	waitpid(d->pid, NULL, 0);
	d->pid = -1;
}

/* Removes path and, when it is a real directory, what it holds. Never
 * follows a symlink: the tests put symlinks to /etc in their roots. */
static void rm_rf(const char *path)
{
	struct stat st;
	DIR *dir;
	struct dirent *e;
	int fd;

	if (lstat(path, &st) < 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		unlink(path);
		return;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return;
	}
	while ((e = readdir(dir))) {
		char sub[1024];

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
		rm_rf(sub);
	}
	closedir(dir);
	rmdir(path);
}

void daemon_cleanup(struct daemon *d)
{
	if (d->pid > 0)
		daemon_kill(d);
	if (d->dir[0])
		rm_rf(d->dir);
}

bool daemon_put(const struct daemon *d, const char *rel, const void *data, size_t n)
{
	char path[1024];
	FILE *f;
	bool ok;

	snprintf(path, sizeof path, "%s/%s", d->root, rel);
	f = fopen(path, "wb");
	if (!f)
		return false;
	ok = fwrite(data, 1, n, f) == n;
	return fclose(f) == 0 && ok;
}

static char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long size;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)size + 1);
	if (buf && fread(buf, 1, (size_t)size, f) != (size_t)size) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	if (buf) {
		buf[size] = 0;
		if (n)
			*n = (size_t)size;
	}
	return buf;
}

bool daemon_put_src(const struct daemon *d, const char *src_rel, const char *rel)
{
	char path[1024];
	size_t n = 0;
	char *data;
	bool ok;

	snprintf(path, sizeof path, "%s/%s", TOP_SRCDIR, src_rel);
	data = slurp(path, &n);
	if (!data)
		return false;
	ok = daemon_put(d, rel, data, n);
	free(data);
	return ok;
}

char *daemon_get(const struct daemon *d, const char *rel, size_t *n)
{
	char path[1024];

	snprintf(path, sizeof path, "%s/%s", d->root, rel);
	return slurp(path, n);
}

int daemon_count_files(const struct daemon *d, const char *needle)
{
	DIR *dir = opendir(d->root);
	struct dirent *e;
	int n = 0;

	if (!dir)
		return -1;
	while ((e = readdir(dir)))
		if (strstr(e->d_name, needle))
			n++;
	closedir(dir);
	return n;
}
