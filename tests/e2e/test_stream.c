/* Streams against the real daemon, on raw sockets so that the client can
 * misbehave: backpressure (a reader that stalls costs the daemon at most
 * its output watermark), a disconnect in the middle of a stream (nothing
 * leaks, the daemon serves on), a ping answered promptly while a large
 * stream runs, and cancel through the protocol. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <msgpack.h>

#include "daemon_fixture.h"

#define ROWS 200000

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A CSV of ROWS rows with ~150 bytes each: 30 MB of msgpack to stream. */
static void put_big_csv(const struct daemon *d)
{
	size_t cap = (size_t)ROWS * 160 + 64, n = 0;
	char *buf = malloc(cap);

	ck_assert_ptr_nonnull(buf);
	n += (size_t)snprintf(buf, cap, "id,name,text\n");
	for (int i = 0; i < ROWS; i++)
		n += (size_t)snprintf(buf + n, cap - n,
		                      "%d,name%d,lorem ipsum dolor sit amet consectetur adipiscing elit sed do "
		                      "eiusmod tempor incididunt ut labore et dolore magna aliqua %d\n",
		                      i, i, i);
	ck_assert(daemon_put(d, "big.csv", buf, n));
	free(buf);
}

static void send_req(int fd, const char *op, int64_t id, const char *k1, const char *s1,
                     const char *k2, int64_t v2)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int n = 2 + (k1 != NULL) + (k2 != NULL);

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, (size_t)n);
	msgpack_pack_str_with_body(&pk, "op", 2);
	msgpack_pack_str_with_body(&pk, op, strlen(op));
	msgpack_pack_str_with_body(&pk, "id", 2);
	msgpack_pack_int64(&pk, id);
	if (k1) {
		msgpack_pack_str_with_body(&pk, k1, strlen(k1));
		msgpack_pack_str_with_body(&pk, s1, strlen(s1));
	}
	if (k2) {
		msgpack_pack_str_with_body(&pk, k2, strlen(k2));
		msgpack_pack_int64(&pk, v2);
	}
	ck_assert_int_eq(write(fd, sb.data, sb.size), (ssize_t)sb.size);
	msgpack_sbuffer_destroy(&sb);
}

/* Reads messages until one with id `want` and key `key` arrives (or the
 * deadline passes); counts rows of other messages on the way. */
static bool wait_for_val(int fd, msgpack_unpacker *up, int64_t want, const char *key,
                         uint64_t *rows_seen, double deadline, int64_t *val)
{
	msgpack_unpacked res;
	bool found = false;

	msgpack_unpacked_init(&res);
	while (!found && now() < deadline) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		while (msgpack_unpacker_next(up, &res) == MSGPACK_UNPACK_SUCCESS) {
			const msgpack_object *o = &res.data;
			int64_t id = -1;
			bool has_key = false;

			for (uint32_t i = 0; i < o->via.map.size; i++) {
				const msgpack_object_kv *kv = &o->via.map.ptr[i];

				if (kv->key.via.str.size == 2 && memcmp(kv->key.via.str.ptr, "id", 2) == 0 &&
				    kv->val.type == MSGPACK_OBJECT_POSITIVE_INTEGER)
					id = (int64_t)kv->val.via.u64;
				if (kv->key.via.str.size == 4 && memcmp(kv->key.via.str.ptr, "rows", 4) == 0 &&
				    kv->val.type == MSGPACK_OBJECT_ARRAY && rows_seen)
					*rows_seen += kv->val.via.array.size;
				if (kv->key.via.str.size == strlen(key) &&
				    memcmp(kv->key.via.str.ptr, key, strlen(key)) == 0) {
					has_key = true;
					if (val && kv->val.type == MSGPACK_OBJECT_POSITIVE_INTEGER)
						*val = (int64_t)kv->val.via.u64;
				}
			}
			if (id == want && has_key) {
				found = true;
				break;
			}
		}
		if (found || poll(&pfd, 1, 100) <= 0)
			continue;
		msgpack_unpacker_reserve_buffer(up, 1 << 16);
		n = read(fd, msgpack_unpacker_buffer(up), msgpack_unpacker_buffer_capacity(up));
		if (n <= 0)
			break;
		msgpack_unpacker_buffer_consumed(up, (size_t)n);
	}
	msgpack_unpacked_destroy(&res);
	return found;
}

static bool wait_for(int fd, msgpack_unpacker *up, int64_t want, const char *key,
                     uint64_t *rows_seen, double deadline)
{
	return wait_for_val(fd, up, want, key, rows_seen, deadline, NULL);
}

static long daemon_rss_kib(const struct daemon *d)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/status", (int)d->pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

START_TEST(test_stalled_reader_bounded)
{
	static const char *const extra[] = { "-o", "out_high=1M", "-o", "out_low=256K", NULL };
	struct daemon d;
	msgpack_unpacker up;
	long before, after;
	int fd, pfd;

	ck_assert(daemon_start(&d, extra));
	put_big_csv(&d);
	fd = daemon_connect_raw(&d);
	ck_assert_int_ge(fd, 0);
	/* A small receive buffer so that the socket itself holds little. */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &(int){ 64 * 1024 }, sizeof(int));
	msgpack_unpacker_init(&up, 1 << 16);
	send_req(fd, "open", 1, "path", "big.csv", NULL, 0);
	ck_assert(wait_for(fd, &up, 1, "handle", NULL, now() + 20));
	before = daemon_rss_kib(&d);
	send_req(fd, "stream", 2, NULL, NULL, "handle", 1);
	sleep(2);                                   /* never read */
	after = daemon_rss_kib(&d);
	/* The daemon held back: ~1 MiB of output plus a batch in flight, far
	 * below the 30 MB the stream would be. */
	ck_assert_msg(after - before < 16 * 1024, "RSS grew %ld KiB while the reader stalled",
	              after - before);
	/* A second connection is served meanwhile. */
	pfd = daemon_connect_raw(&d);
	ck_assert_int_ge(pfd, 0);
	{
		msgpack_unpacker pup;

		msgpack_unpacker_init(&pup, 4096);
		send_req(pfd, "ping", 9, NULL, NULL, NULL, 0);
		ck_assert(wait_for(pfd, &pup, 9, "pong", NULL, now() + 5));
		msgpack_unpacker_destroy(&pup);
	}
	close(pfd);
	/* Reading resumes the stream to the very end. */
	{
		uint64_t rows = 0;

		ck_assert(wait_for(fd, &up, 2, "rows_total", &rows, now() + 60));
		ck_assert_uint_eq(rows, ROWS);
	}
	msgpack_unpacker_destroy(&up);
	close(fd);
	ck_assert(daemon_stop(&d));
	daemon_cleanup(&d);
}
END_TEST

START_TEST(test_disconnect_mid_stream)
{
	struct daemon d;
	msgpack_unpacker up;
	int fd;

	ck_assert(daemon_start(&d, NULL));
	put_big_csv(&d);
	for (int round = 0; round < 5; round++) {
		uint64_t rows = 0;

		fd = daemon_connect_raw(&d);
		ck_assert_int_ge(fd, 0);
		msgpack_unpacker_init(&up, 1 << 16);
		send_req(fd, "open", 1, "path", "big.csv", NULL, 0);
		send_req(fd, "stream", 2, NULL, NULL, "handle", 1);
		/* Read a little, then vanish mid-stream. */
		wait_for(fd, &up, 999, "never", &rows, now() + 0.2);
		msgpack_unpacker_destroy(&up);
		close(fd);
	}
	/* The daemon serves on and has let go of every handle. */
	fd = daemon_connect_raw(&d);
	ck_assert_int_ge(fd, 0);
	msgpack_unpacker_init(&up, 4096);
	{
		int64_t handles = -1;

		/* Teardown runs on the workers: give it a moment. */
		for (int tries = 0; tries < 100 && handles != 0; tries++) {
			send_req(fd, "stats", 100 + tries, NULL, NULL, NULL, 0);
			ck_assert(wait_for_val(fd, &up, 100 + tries, "handles", NULL, now() + 5, &handles));
			if (handles != 0)
				usleep(50000);
		}
		ck_assert_int_eq(handles, 0);
	}
	msgpack_unpacker_destroy(&up);
	close(fd);
	/* A clean stop means no handle or job was left dangling (and, under
	 * ASan or valgrind, nothing leaked). */
	ck_assert(daemon_stop(&d));
	daemon_cleanup(&d);
}
END_TEST

START_TEST(test_ping_during_stream)
{
	struct daemon d;
	msgpack_unpacker up, pup;
	double worst = 0;
	int fd, pfd;

	ck_assert(daemon_start(&d, NULL));
	put_big_csv(&d);
	fd = daemon_connect_raw(&d);
	pfd = daemon_connect_raw(&d);
	ck_assert(fd >= 0 && pfd >= 0);
	msgpack_unpacker_init(&up, 1 << 16);
	msgpack_unpacker_init(&pup, 4096);
	send_req(fd, "open", 1, "path", "big.csv", NULL, 0);
	send_req(fd, "stream", 2, NULL, NULL, "handle", 1);
	/* Pings on another connection while this one streams and is read. */
	for (int i = 0; i < 20; i++) {
		uint64_t rows = 0;
		double t0;

		wait_for(fd, &up, 999, "never", &rows, now() + 0.02);
		t0 = now();
		send_req(pfd, "ping", 10 + i, NULL, NULL, NULL, 0);
		ck_assert(wait_for(pfd, &pup, 10 + i, "pong", NULL, now() + 5));
		if (now() - t0 > worst)
			worst = now() - t0;
	}
	/* Generous: this proves pings are not queued behind the stream, not
	 * a latency figure (tests/bench measures that). */
	ck_assert_msg(worst < 0.5, "a ping took %.3f s during a stream", worst);
	msgpack_unpacker_destroy(&up);
	msgpack_unpacker_destroy(&pup);
	close(fd);
	close(pfd);
	ck_assert(daemon_stop(&d));
	daemon_cleanup(&d);
}
END_TEST

START_TEST(test_cancel_and_resume)
{
	struct daemon d;
	msgpack_unpacker up;
	uint64_t rows = 0, more = 0;
	int fd;

	ck_assert(daemon_start(&d, NULL));
	put_big_csv(&d);
	fd = daemon_connect_raw(&d);
	msgpack_unpacker_init(&up, 1 << 16);
	send_req(fd, "open", 1, "path", "big.csv", NULL, 0);
	send_req(fd, "stream", 2, NULL, NULL, "handle", 1);
	send_req(fd, "cancel", 3, NULL, NULL, "target", 2);
	ck_assert(wait_for(fd, &up, 2, "cancelled", &rows, now() + 20));
	ck_assert_uint_lt(rows, ROWS);
	/* The handle stays open where the stream stopped. */
	send_req(fd, "stream", 4, NULL, NULL, "handle", 1);
	ck_assert(wait_for(fd, &up, 4, "rows_total", &more, now() + 60));
	ck_assert_uint_eq(rows + more, ROWS);
	/* Cancelling what does not run is an error, not a hang. */
	send_req(fd, "cancel", 5, NULL, NULL, "target", 77);
	ck_assert(wait_for(fd, &up, 5, "error", NULL, now() + 5));
	msgpack_unpacker_destroy(&up);
	close(fd);
	ck_assert(daemon_stop(&d));
	daemon_cleanup(&d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("stream");
	TCase *tc = tcase_create("stream");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, test_stalled_reader_bounded);
	tcase_add_test(tc, test_disconnect_mid_stream);
	tcase_add_test(tc, test_ping_during_stream);
	tcase_add_test(tc, test_cancel_and_resume);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
