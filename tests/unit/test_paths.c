/* Path confinement and atomic writes (paths.c, wfile.c) on a temp tree. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include "paths.h"
#include "wfile.h"

static char top[128], rootdir[256], outside[256];
static struct roots roots;

static void put(const char *dir, const char *rel, const char *text)
{
	char p[PATH_MAX * 2];
	FILE *f;

	snprintf(p, sizeof p, "%s/%s", dir, rel);
	f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static void at(const char *rel, char *out)
{
	snprintf(out, PATH_MAX, "%s/%s", rootdir, rel);
}

static void setup(void)
{
	char p[PATH_MAX], msg[PATH_MAX];
	char *rp[1];

	snprintf(top, sizeof top, "/tmp/rowd-paths-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(top));
	snprintf(rootdir, sizeof rootdir, "%s/root", top);
	snprintf(outside, sizeof outside, "%s/outside", top);
	ck_assert_int_eq(mkdir(rootdir, 0755), 0);
	ck_assert_int_eq(mkdir(outside, 0755), 0);
	put(outside, "secret.csv", "a\n1\n");
	put(rootdir, "ok.csv", "a\n1\n");
	at("sub", p);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	put(rootdir, "sub/deep.csv", "a\n2\n");
	at("link_out", p);
	snprintf(msg, sizeof msg, "%s/secret.csv", outside);
	ck_assert_int_eq(symlink(msg, p), 0);
	at("dir_out", p);
	ck_assert_int_eq(symlink(outside, p), 0);
	at("link_in", p);
	ck_assert_int_eq(symlink("sub/deep.csv", p), 0);
	at("fifo", p);
	ck_assert_int_eq(mkfifo(p, 0644), 0);
	rp[0] = rootdir;
	ck_assert_int_eq(roots_open(&roots, rp, 1, msg, sizeof msg), 0);
}

/* Removes the temp tree without ever following a symlink. */
static void rm_tree(const char *path)
{
	char cmd[PATH_MAX + 32];

	snprintf(cmd, sizeof cmd, "rm -rf --one-file-system '%s'", path);
	if (strncmp(path, "/tmp/rowd-paths-", 16) == 0 && system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", path);
}

static void teardown(void)
{
	roots_close(&roots);
	rm_tree(top);
}

static int open_rel(const char *p, struct rowd_error *err)
{
	rowd_error_clear(err);
	return paths_open_read(&roots, p, strlen(p), err);
}

static void expect_code(const char *p, enum rowd_err code)
{
	struct rowd_error err;
	int fd = open_rel(p, &err);

	if (fd >= 0)
		close(fd);
	ck_assert_msg(fd < 0 && err.code == code, "%s: expected %s, got fd %d %s (%s)", p,
	              rowd_err_name(code), fd, rowd_err_name(err.code), err.message);
}

START_TEST(test_inside_ok)
{
	struct rowd_error err;
	char abs[PATH_MAX];
	int fd;

	fd = open_rel("ok.csv", &err);
	ck_assert_int_ge(fd, 0);
	close(fd);
	fd = open_rel("sub/deep.csv", &err);
	ck_assert_int_ge(fd, 0);
	close(fd);
	fd = open_rel("link_in", &err);
	ck_assert_msg(fd >= 0, "symlink inside the root: %s", err.message);
	close(fd);
	fd = open_rel("sub/../ok.csv", &err);
	ck_assert_msg(fd >= 0, "sub/../ok.csv stays inside: %s", err.message);
	close(fd);
	at("ok.csv", abs);
	fd = open_rel(abs, &err);
	ck_assert_msg(fd >= 0, "absolute path inside the root: %s", err.message);
	close(fd);
}
END_TEST

START_TEST(test_escapes)
{
	char p[PATH_MAX];

	expect_code("../outside/secret.csv", ROWD_EACCES);
	expect_code("sub/../../outside/secret.csv", ROWD_EACCES);
	expect_code("sub/../sub/../../outside/secret.csv", ROWD_EACCES);
	expect_code("/etc/passwd", ROWD_EACCES);
	snprintf(p, sizeof p, "%s/secret.csv", outside);
	expect_code(p, ROWD_EACCES);
	expect_code("link_out", ROWD_EACCES);
	expect_code("dir_out/secret.csv", ROWD_EACCES);
	/* A root's prefix is not the root: /tmp/x/root2 is not beneath /tmp/x/root. */
	snprintf(p, sizeof p, "%s2/ok.csv", rootdir);
	expect_code(p, ROWD_EACCES);
}
END_TEST

START_TEST(test_bad_paths)
{
	struct rowd_error err;
	char longp[PATH_MAX + 10];

	expect_code("missing.csv", ROWD_ENOENT);
	expect_code("fifo", ROWD_EACCES);
	expect_code("sub", ROWD_EACCES);
	expect_code("", ROWD_EINVAL);
	rowd_error_clear(&err);
	ck_assert_int_lt(paths_open_read(&roots, "ok.csv\0x", 8, &err), 0);
	ck_assert_int_eq(err.code, ROWD_EINVAL);
	memset(longp, 'a', sizeof longp);
	rowd_error_clear(&err);
	ck_assert_int_lt(paths_open_read(&roots, longp, sizeof longp, &err), 0);
	ck_assert_int_eq(err.code, ROWD_EINVAL);
}
END_TEST

START_TEST(test_parent)
{
	struct rowd_error err;
	char *name = NULL;
	int dfd;

	rowd_error_clear(&err);
	dfd = paths_open_parent(&roots, "sub/new.csv", 11, &name, &err);
	ck_assert_int_ge(dfd, 0);
	ck_assert_str_eq(name, "new.csv");
	close(dfd);
	free(name);
	ck_assert_int_lt(paths_open_parent(&roots, "sub", 3, &name, &err), 0);
	ck_assert_int_eq(err.code, ROWD_EEXIST);
	ck_assert_int_lt(paths_open_parent(&roots, "fifo", 4, &name, &err), 0);
	ck_assert_int_eq(err.code, ROWD_EACCES);
	ck_assert_int_lt(paths_open_parent(&roots, "../x.csv", 8, &name, &err), 0);
	ck_assert_int_eq(err.code, ROWD_EACCES);
	ck_assert_int_lt(paths_open_parent(&roots, "dir_out/x.csv", 13, &name, &err), 0);
	ck_assert_int_eq(err.code, ROWD_EACCES);
	ck_assert_int_lt(paths_open_parent(&roots, "sub/..", 6, &name, &err), 0);
	ck_assert_int_eq(err.code, ROWD_EINVAL);
}
END_TEST

static int count_tmp(void)
{
	char cmd[PATH_MAX + 64];
	FILE *p;
	int n = -1;

	snprintf(cmd, sizeof cmd, "find '%s' -name '*%s*' | wc -l", rootdir, WFILE_TMP_MARK);
	p = popen(cmd, "r");
	if (p && fscanf(p, "%d", &n) != 1)
		n = -1;
	if (p)
		pclose(p);
	return n;
}

START_TEST(test_wfile_commit_abort)
{
	struct rowd_error err;
	struct wfile w;
	char p[PATH_MAX], buf[64] = { 0 };
	char *name;
	int dfd, fd;

	put(rootdir, "target.csv", "OLD\n");
	/* abort leaves the target as it was */
	dfd = paths_open_parent(&roots, "target.csv", 10, &name, &err);
	ck_assert_int_ge(dfd, 0);
	ck_assert_int_eq(wfile_open(&w, dfd, name, &err), 0);
	ck_assert_int_eq(write(w.fd, "NEW\n", 4), 4);
	ck_assert_int_eq(count_tmp(), 1);
	wfile_abort(&w);
	ck_assert_int_eq(count_tmp(), 0);
	at("target.csv", p);
	fd = open(p, O_RDONLY);
	ck_assert_int_eq(read(fd, buf, sizeof buf), 4);
	close(fd);
	ck_assert_str_eq(buf, "OLD\n");
	/* commit replaces it */
	dfd = paths_open_parent(&roots, "target.csv", 10, &name, &err);
	ck_assert_int_eq(wfile_open(&w, dfd, name, &err), 0);
	ck_assert_int_eq(write(w.fd, "NEW!\n", 5), 5);
	ck_assert_int_eq(wfile_commit(&w, &err), 0);
	memset(buf, 0, sizeof buf);
	fd = open(p, O_RDONLY);
	ck_assert_int_eq(read(fd, buf, sizeof buf), 5);
	close(fd);
	ck_assert_str_eq(buf, "NEW!\n");
	ck_assert_int_eq(count_tmp(), 0);
}
END_TEST

START_TEST(test_stale_cleanup)
{
	char p[PATH_MAX];
	int n;

	put(rootdir, ".x.csv" WFILE_TMP_MARK "abc123", "stale");
	put(rootdir, "sub/.y.csv" WFILE_TMP_MARK "zzz999", "stale");
	put(rootdir, "keep.rowd-tmp.csv", "not ours: no leading dot");
	n = wfile_clean_stale(roots.v[0].fd, 8);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(count_tmp(), 0);
	at("keep.rowd-tmp.csv", p);
	ck_assert_int_eq(access(p, F_OK), 0);
	/* never follows the symlink to the outside directory */
	put(outside, ".z.csv" WFILE_TMP_MARK "aaa", "outside");
	ck_assert_int_eq(wfile_clean_stale(roots.v[0].fd, 8), 0);
	snprintf(p, sizeof p, "%s/.z.csv%saaa", outside, WFILE_TMP_MARK);
	ck_assert_int_eq(access(p, F_OK), 0);
}
END_TEST

/* ---- every escape, at every depth, in both resolvers --------------------- */

static void expect_ok(const char *p)
{
	struct rowd_error err;
	int fd = open_rel(p, &err);

	ck_assert_msg(fd >= 0, "%s: expected to open, got %s (%s)", p, rowd_err_name(err.code),
	              err.message);
	close(fd);
}

static void mkdirs(const char *rel)
{
	char p[PATH_MAX];

	at(rel, p);
	ck_assert_msg(mkdir(p, 0755) == 0, "mkdir %s", p);
}

static void link_at(const char *target, const char *rel)
{
	char p[PATH_MAX];

	at(rel, p);
	ck_assert_msg(symlink(target, p) == 0, "symlink %s", p);
}

START_TEST(test_dotdot_depths)
{
	char p[64], abs[512];

	mkdirs("a");
	mkdirs("a/b");
	mkdirs("a/b/c");
	mkdirs("a/b/c/d");
	mkdirs("a/b/c/d/e");
	/* ../ x1..5 from the root: out at once (also where nothing exists). */
	strcpy(p, "");
	for (int k = 1; k <= 5; k++) {
		strcat(p, "../");
		snprintf(abs, sizeof abs, "%soutside/secret.csv", p);
		expect_code(abs, ROWD_EACCES);
		snprintf(abs, sizeof abs, "%setc/passwd", p);
		expect_code(abs, ROWD_EACCES);
	}
	/* From depth 5: five ".." are back at the root, six are out. */
	expect_ok("a/b/c/d/e/../../../../../ok.csv");
	expect_code("a/b/c/d/e/../../../../../../outside/secret.csv", ROWD_EACCES);
	/* In the middle. */
	expect_code("a/../../outside/secret.csv", ROWD_EACCES);
	expect_code("a/b/../../../outside/secret.csv", ROWD_EACCES);
	expect_ok("a/b/../b/c/../../../ok.csv");
	/* Out and back in is still out: no step may leave the root. */
	expect_code("../root/ok.csv", ROWD_EACCES);
	expect_code("a/../../root/ok.csv", ROWD_EACCES);
	/* Absolute paths: inside, and with ".." leading out of the root. */
	snprintf(abs, sizeof abs, "%s//a/../ok.csv", rootdir);
	expect_ok(abs);
	snprintf(abs, sizeof abs, "%s/../outside/secret.csv", rootdir);
	expect_code(abs, ROWD_EACCES);
	snprintf(abs, sizeof abs, "%s/../root/ok.csv", rootdir);
	expect_code(abs, ROWD_EACCES);
	expect_code(rootdir, ROWD_EACCES);     /* the root itself: a directory */
	expect_code("/", ROWD_EACCES);
}
END_TEST

START_TEST(test_symlink_kinds)
{
	char p[PATH_MAX];

	mkdirs("a");
	link_at("../outside/secret.csv", "rel_out");          /* relative, final */
	link_at("../outside", "rel_dir_out");                 /* relative, intermediate */
	link_at("rel_out", "chain1");                         /* a chain ending outside */
	link_at("chain1", "chain2");
	link_at("loop2", "loop1");                            /* a loop */
	link_at("loop1", "loop2");
	link_at("/proc/self/root/etc/passwd", "magic");       /* through /proc */
	link_at("../ok.csv", "a/up");                         /* ".." that stays inside */
	link_at("sub", "sub_link");                           /* a directory inside */
	link_at("a/../../outside/secret.csv", "mid_out");     /* out in the middle */
	at("ok.csv", p);
	link_at(p, "abs_in");                                 /* absolute, pointing inside */
	expect_code("rel_out", ROWD_EACCES);
	expect_code("rel_dir_out/secret.csv", ROWD_EACCES);
	expect_code("chain2", ROWD_EACCES);
	expect_code("loop1", ROWD_EACCES);
	expect_code("magic", ROWD_EACCES);
	expect_code("mid_out", ROWD_EACCES);
	expect_code("sub_link/../../outside/secret.csv", ROWD_EACCES);
	/* RESOLVE_BENEATH refuses every absolute symlink, even one that
	 * points inside: a root can be moved without its links changing
	 * meaning. Both resolvers agree. */
	expect_code("abs_in", ROWD_EACCES);
	expect_ok("a/up");
	expect_ok("sub_link/deep.csv");
	expect_ok("sub_link/../ok.csv");
	expect_code("ok.csv/", ROWD_ENOENT);
	expect_code("ok.csv/x", ROWD_ENOENT);
}
END_TEST

static void expect_msg(const char *p, enum rowd_err code, const char *needle)
{
	struct rowd_error err;
	int fd = open_rel(p, &err);

	if (fd >= 0)
		close(fd);
	ck_assert_msg(fd < 0 && err.code == code && strstr(err.message, needle),
	              "%s: expected %s '%s', got %s (%s)", p, rowd_err_name(code), needle,
	              rowd_err_name(err.code), err.message);
}

/* "./" repeated, then tail: exactly len bytes (len - strlen(tail) even). */
static void dots(char *p, size_t len, const char *tail)
{
	size_t n = len - strlen(tail);

	for (size_t i = 0; i < n; i += 2)
		memcpy(p + i, "./", 2);
	strcpy(p + n, tail);
	ck_assert_uint_eq(strlen(p), len);
}

START_TEST(test_lengths_and_nul)
{
	struct rowd_error err;
	char p[PATH_MAX + 8];

	/* PATH_MAX - 1 bytes still resolve; PATH_MAX bytes are refused. */
	dots(p, PATH_MAX - 1, "/ok.csv");
	expect_ok(p);
	dots(p, PATH_MAX, "ok.csv");
	expect_msg(p, ROWD_EINVAL, "PATH_MAX");
	/* NAME_MAX bytes in a component still resolve; one more is refused. */
	memset(p, 0, sizeof p);
	memset(p, 'a', NAME_MAX);
	expect_code(p, ROWD_ENOENT);
	p[NAME_MAX] = 'a';
	strcat(p, "/ok.csv");
	expect_msg(p, ROWD_EINVAL, "NAME_MAX");
	/* A NUL never shortens the path into a valid one. */
	rowd_error_clear(&err);
	ck_assert_int_lt(paths_open_read(&roots, "ok.csv\0/../../etc/passwd", 24, &err), 0);
	ck_assert_int_eq(err.code, ROWD_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.message, "NUL"));
}
END_TEST

START_TEST(test_special_files)
{
	struct rowd_error err;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char p[PATH_MAX], *name = NULL;
	int s;

	expect_msg("fifo", ROWD_EACCES, "FIFO");
	expect_msg("sub", ROWD_EACCES, "directory");
	at("sock", p);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(s, 0);
	ck_assert_uint_lt(strlen(p), sizeof sa.sun_path);
	strcpy(sa.sun_path, p);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
	close(s);
	expect_msg("sock", ROWD_EACCES, "socket");
	rowd_error_clear(&err);
	ck_assert_int_lt(paths_open_parent(&roots, "sock", 4, &name, &err), 0);
	ck_assert_int_eq(err.code, ROWD_EACCES);
	if (geteuid() != 0) {
		fprintf(stderr, "test_special_files: device case skipped (not root)\n");
		return;
	}
	at("null", p);
	ck_assert_int_eq(mknod(p, S_IFCHR | 0666, makedev(1, 3)), 0);
	expect_msg("null", ROWD_EACCES, "character device");
	rowd_error_clear(&err);
	ck_assert_int_lt(paths_open_parent(&roots, "null", 4, &name, &err), 0);
	ck_assert_int_eq(err.code, ROWD_EACCES);
	ck_assert_ptr_nonnull(strstr(err.message, "character device"));
}
END_TEST

/* A thread swaps "swap" (a directory inside) with "alt" (a symlink to
 * the outside directory), and "swapf" (a file) with "altf" (a symlink to
 * the outside file), with RENAME_EXCHANGE: each name always exists. Every
 * open must read the inside file or be refused. */
struct flipper {
	char a[2][PATH_MAX], b[2][PATH_MAX];
	atomic_bool stop;
};

static void *flip(void *arg)
{
	struct flipper *f = arg;

	while (!atomic_load(&f->stop))
		for (int i = 0; i < 2; i++)
			renameat2(AT_FDCWD, f->a[i], AT_FDCWD, f->b[i], RENAME_EXCHANGE);
	return NULL;
}

START_TEST(test_swap_race)
{
	static const char *const paths[2] = { "swap/secret.csv", "swapf" };
	struct flipper *f = calloc(1, sizeof *f);
	long inside = 0, refused = 0;
	pthread_t th;

	ck_assert_ptr_nonnull(f);
	mkdirs("swap");
	put(rootdir, "swap/secret.csv", "inside");
	put(rootdir, "swapf", "inside");
	link_at("../outside", "alt");
	link_at("../outside/secret.csv", "altf");
	at("swap", f->a[0]);
	at("alt", f->b[0]);
	at("swapf", f->a[1]);
	at("altf", f->b[1]);
	ck_assert_int_eq(pthread_create(&th, NULL, flip, f), 0);
	for (int i = 0; (i < 2000 || !inside || !refused) && i < 200000; i++) {
		struct rowd_error err;
		char buf[16] = { 0 };
		int fd = open_rel(paths[i % 2], &err);

		if (fd < 0) {
			ck_assert_msg(err.code == ROWD_EACCES, "%s: %s", paths[i % 2], err.message);
			refused++;
			continue;
		}
		ck_assert_int_ge(read(fd, buf, sizeof buf - 1), 0);
		close(fd);
		ck_assert_msg(strcmp(buf, "inside") == 0, "%s read '%s' (iteration %d)", paths[i % 2],
		              buf, i);
		inside++;
	}
	atomic_store(&f->stop, true);
	pthread_join(th, NULL);
	free(f);
	ck_assert_msg(inside && refused, "the swap never showed: %ld inside, %ld refused", inside,
	              refused);
}
END_TEST

static void setup_no_openat2(void)
{
	setup();
	paths_set_openat2(false);
}

int main(void)
{
	Suite *s = suite_create("paths");
	TCase *tc = tcase_create("paths");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_inside_ok);
	tcase_add_test(tc, test_escapes);
	tcase_add_test(tc, test_bad_paths);
	tcase_add_test(tc, test_parent);
	tcase_add_test(tc, test_wfile_commit_abort);
	tcase_add_test(tc, test_stale_cleanup);
	tcase_add_test(tc, test_dotdot_depths);
	tcase_add_test(tc, test_symlink_kinds);
	tcase_add_test(tc, test_lengths_and_nul);
	tcase_add_test(tc, test_special_files);
	tcase_add_test(tc, test_swap_race);
	suite_add_tcase(s, tc);
	/* The same without openat2: the component walk of beneath.c. */
	tc = tcase_create("no_openat2");
	tcase_add_checked_fixture(tc, setup_no_openat2, teardown);
	tcase_add_test(tc, test_inside_ok);
	tcase_add_test(tc, test_escapes);
	tcase_add_test(tc, test_bad_paths);
	tcase_add_test(tc, test_parent);
	tcase_add_test(tc, test_wfile_commit_abort);
	tcase_add_test(tc, test_dotdot_depths);
	tcase_add_test(tc, test_symlink_kinds);
	tcase_add_test(tc, test_lengths_and_nul);
	tcase_add_test(tc, test_special_files);
	tcase_add_test(tc, test_swap_race);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
