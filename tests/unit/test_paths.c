/* Path confinement and atomic writes (paths.c, wfile.c) on a temp tree. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
