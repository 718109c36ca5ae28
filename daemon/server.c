/* The daemon's loop: listener, accept, signals, ticks (see server.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>

#include "conn.h"
#include "fdlimit.h"
#include "handle.h"
#include "log.h"
#include "notify.h"
#include "paths.h"
#include "peer.h"
#include "runtime.h"
#include "server.h"
#include "stats.h"
#include "wfile.h"
#include "workers.h"

#define TICK_MS 100
#define STALE_TMP_DEPTH 8

/* One error answer straight on the fresh socket, then close: the client
 * has said nothing yet, so it gets the binary encoding (id nil: librowd
 * and the Python client report it and drop the connection). */
static void reject(int fd, enum rowd_err code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void reject(int fd, enum rowd_err code, const char *fmt, ...)
{
	struct rowd_error err;
	struct mpbuf b;
	va_list ap;

	rowd_error_clear(&err);
	err.code = code;
	va_start(ap, fmt);
	vsnprintf(err.message, sizeof err.message, fmt, ap);
	va_end(ap);
	mpbuf_init(&b);
	if (proto_answer_error(&b, NULL, 0, &err) == 0 && send(fd, b.data, b.len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		log_debug("reject: %s", strerror(errno));
	mpbuf_free(&b);
	close(fd);
	stats_error(code);
	g_stats.conns_rejected++;
}

/* Every connection is logged with its peer, let in or not. Over the
 * connections limit a peer gets one ELIMIT answer and the socket is
 * closed; the listener keeps accepting, so a new connection is served as
 * soon as one of the others has gone. */
static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                      int socklen, void *arg)
{
	struct server *s = arg;
	size_t max = s->cfg.limits.connections;
	struct peer p;
	struct conn *c;

	if (s->stopping) {
		close(fd);
		return;
	}
	peer_read(fd, &p);
	if (s->nconns >= max) {
		log_warn("connection from uid %d gid %d pid %d refused: the connections limit (%zu) is reached",
		         (int)p.uid, (int)p.gid, (int)p.pid, max);
		reject(fd, ROWD_ELIMIT, "too many connections: the connections limit (%zu) is reached; "
		       "try again when one has closed", max);
		return;
	}
	if (!peer_allowed(&s->cfg, fd, &p)) {
		log_warn("connection from uid %d gid %d pid %d refused: not in allow_uid/allow_gid",
		         (int)p.uid, (int)p.gid, (int)p.pid);
		reject(fd, ROWD_EACCES, "uid %d gid %d may not use this daemon (not in allow_uid/allow_gid)",
		       (int)p.uid, (int)p.gid);
		return;
	}
	fdlimit_accepted(s);
	evutil_make_socket_nonblocking(fd);
	c = conn_new(s, fd, &p);
	if (!c) {
		log_error("out of memory accepting a connection");
		close(fd);
		return;
	}
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->nconns++;
	g_stats.conns_total++;
	log_info("conn %llu: connected: uid %d gid %d pid %d (%zu open)", (unsigned long long)c->id,
	         (int)c->uid, (int)c->gid, (int)c->pid, s->nconns);
}

void server_conn_gone(struct server *s, struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->nconns--;
	log_debug("conn %llu: closed (%zu open)", (unsigned long long)c->id, s->nconns);
	server_check_stopped(s);
}

void server_check_stopped(struct server *s)
{
	if (s->stopping && s->nconns == 0 && workers_in_flight(s->workers) == 0)
		event_base_loopbreak(s->base);
}

/* Systemd socket activation (sd_listen_fds(3) without libsystemd):
 * LISTEN_PID is us and LISTEN_FDS counts the sockets from fd 3 on. Returns
 * the fd, -1 when nothing was passed, -2 when what was passed is unusable
 * (rowd then creates no socket of its own: systemd meant it to use that). */
#define LISTEN_FDS_START 3
static int inherited_socket(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	long n;
	int type = 0, listening = 0;
	socklen_t len = sizeof type;
	struct sockaddr_un sa;
	socklen_t salen = sizeof sa;

	if (!pid || !fds || (pid_t)strtol(pid, NULL, 10) != getpid())
		return -1;
	n = strtol(fds, NULL, 10);
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (n < 1)
		return -1;
	for (long i = 0; i < n; i++)
		fcntl(LISTEN_FDS_START + (int)i, F_SETFD, FD_CLOEXEC);
	if (n > 1)
		log_warn("systemd passed %ld sockets; using the first (fd %d)", n, LISTEN_FDS_START);
	if (getsockopt(LISTEN_FDS_START, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
	    getsockname(LISTEN_FDS_START, (struct sockaddr *)&sa, &salen) < 0 ||
	    sa.sun_family != AF_UNIX || type != SOCK_STREAM) {
		log_error("the socket passed by systemd (fd %d) is not a Unix stream socket "
		          "(use ListenStream=/path in the socket unit)", LISTEN_FDS_START);
		return -2;
	}
	len = sizeof listening;
	if (getsockopt(LISTEN_FDS_START, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && !listening) {
		log_error("the socket passed by systemd (fd %d) is not listening (Accept=yes is not supported)",
		          LISTEN_FDS_START);
		return -2;
	}
	return LISTEN_FDS_START;
}

/* A socket file left by a dead daemon is replaced; a live one is not. */
static int clear_stale_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISSOCK(st.st_mode)) {
		log_error("%s exists and is not a socket", path);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
	close(fd);
	if (rc == 0) {
		log_error("another daemon is listening on %s", path);
		return -1;
	}
	return unlink(path);
}

static int create_socket(struct server *s)
{
	const struct rowd_config *cfg = &s->cfg;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t old;
	int fd;

	if (strlen(cfg->socket_path) >= sizeof sa.sun_path) {
		log_error("socket path too long: %s", cfg->socket_path);
		return -1;
	}
	if (clear_stale_socket(cfg->socket_path) < 0)
		return -1;
	strcpy(sa.sun_path, cfg->socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		log_error("socket: %s", strerror(errno));
		return -1;
	}
	/* Bind under a umask so that the socket is never briefly open. */
	old = umask(0777 & ~cfg->socket_mode);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		umask(old);
		log_error("bind %s: %s", cfg->socket_path, strerror(errno));
		close(fd);
		return -1;
	}
	umask(old);
	if (cfg->socket_group) {
		struct group *gr = getgrnam(cfg->socket_group);

		if (!gr || chown(cfg->socket_path, (uid_t)-1, gr->gr_gid) < 0)
			log_warn("cannot give %s to group %s", cfg->socket_path, cfg->socket_group);
	}
	if (chmod(cfg->socket_path, cfg->socket_mode) < 0)
		log_warn("chmod %s: %s", cfg->socket_path, strerror(errno));
	if (listen(fd, 1024) < 0) {
		log_error("listen: %s", strerror(errno));
		close(fd);
		unlink(cfg->socket_path);
		return -1;
	}
	s->socket_owned = true;
	return fd;
}

/* Ends the loop now: every connection is dropped (uncommitted writes
 * are discarded by the release jobs, which server_free lets finish). */
static void stop_now(struct server *s)
{
	for (struct conn *c = s->conns, *next; c; c = next) {
		next = c->next;
		conn_kill(c);
	}
	event_base_loopbreak(s->base);
}

/* Graceful stop: no new connections; what was asked before runs to the
 * end of its step and is answered (streams and converts end there with
 * ESHUTDOWN), new requests get ESHUTDOWN, and each connection closes once
 * it is idle and its answers are written; its handles are then released
 * and uncommitted writes discarded. After shutdown_timeout, exit anyway. */
static void stop(struct server *s, const char *why)
{
	struct timeval tv = { .tv_sec = s->cfg.shutdown_timeout };

	if (s->stopping) {
		log_warn("%s again: exiting without waiting for %zu connection(s)", why, s->nconns);
		stop_now(s);
		return;
	}
	log_info("%s: stopping: draining %zu connection(s), at most %u s", why, s->nconns,
	         s->cfg.shutdown_timeout);
	notify_send("STOPPING=1\nSTATUS=stopping");
	s->stopping = true;
	if (s->listener) {
		evconnlistener_free(s->listener);
		s->listener = NULL;
	}
	for (struct conn *c = s->conns, *next; c; c = next) {
		next = c->next;
		conn_drain(c);
	}
	evtimer_add(s->ev_stop_timeout, &tv);
	server_check_stopped(s);
}

unsigned server_workers_wanted(const struct rowd_config *cfg)
{
	long n = cfg->workers ? (long)cfg->workers : sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : (unsigned)n;
}

/* ---- reload --------------------------------------------------------------
 * SIGHUP re-reads the config file. Building the new configuration reads
 * files and opens the roots (I/O that may block on a slow file system),
 * so it runs as a job on a worker; the loop swaps it in when the job is
 * done. Connections stay up: running jobs finish with the snapshot they
 * started with, the next ones get the new one. */
struct reload {
	struct job base;
	struct server *s;
	struct rowd_config cfg;
	struct runtime *rt;
	uint64_t generation;
	int rc;
	char msg[600];
};

static void reload_run(struct job *j)
{
	struct reload *r = (struct reload *)j;

	r->rc = config_build(&r->cfg, &r->s->flags, r->msg, sizeof r->msg);
	if (r->rc == 0) {
		r->rt = runtime_new(&r->cfg, r->generation, r->msg, sizeof r->msg);
		if (!r->rt)
			r->rc = -1;
	}
}

static void start_reload(struct server *s);

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* The socket cannot move while the daemon runs: keep the one in use. */
static void keep_socket_settings(struct server *s, struct rowd_config *fresh)
{
	if (!same_str(fresh->socket_path, s->cfg.socket_path) ||
	    !same_str(fresh->socket_group, s->cfg.socket_group) ||
	    fresh->socket_mode != s->cfg.socket_mode)
		log_warn("SIGHUP: the socket settings changed (socket = %s); that needs a restart: "
		         "still listening on %s", fresh->socket_path, s->cfg.socket_path);
	free(fresh->socket_path);
	free(fresh->socket_group);
	fresh->socket_path = s->cfg.socket_path;
	fresh->socket_group = s->cfg.socket_group;
	fresh->socket_mode = s->cfg.socket_mode;
	s->cfg.socket_path = NULL;
	s->cfg.socket_group = NULL;
}

static void reload_done(struct job *j)
{
	struct reload *r = (struct reload *)j;
	struct server *s = r->s;
	unsigned want;

	s->reloading = false;
	if (s->stopping) {
		runtime_unref(r->rt);
		config_free(&r->cfg);
		free(r);
		server_check_stopped(s);
		return;
	}
	if (r->rc < 0) {
		g_stats.reload_failures++;
		log_error("SIGHUP: %s; keeping the current configuration", r->msg);
		notify_sendf("READY=1\nSTATUS=reload failed (%.200s); old configuration in force", r->msg);
		config_free(&r->cfg);
		free(r);
	} else {
		keep_socket_settings(s, &r->cfg);
		config_free(&s->cfg);
		s->cfg = r->cfg;
		runtime_unref(s->rt);
		s->rt = r->rt;
		log_set_level((enum log_level)s->cfg.log_level);
		want = server_workers_wanted(&s->cfg);
		if (want != workers_count(s->workers) && workers_resize(s->workers, want) < 0)
			log_error("SIGHUP: cannot start %u workers (%u running)", want,
			          workers_count(s->workers));
		for (struct conn *c = s->conns; c; c = c->next)
			conn_limits_changed(c);
		g_stats.reloads++;
		log_info("SIGHUP: reloaded %s: %zu root(s), %u workers, configuration %llu",
		         s->cfg.config_file, s->rt->roots.n, workers_count(s->workers),
		         (unsigned long long)s->rt->generation);
		notify_sendf("READY=1\nSTATUS=reloaded: %zu connections, %u workers", s->nconns,
		             workers_count(s->workers));
		free(r);
	}
	if (s->reload_again) {
		s->reload_again = false;
		start_reload(s);
	}
}

static const struct job_ops reload_ops = { reload_run, reload_done };

static uint64_t now_us(void);

static void start_reload(struct server *s)
{
	struct reload *r;

	if (s->reloading) {
		s->reload_again = true;
		return;
	}
	notify_sendf("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading", (unsigned long long)now_us());
	r = calloc(1, sizeof *r);
	if (!r) {
		log_error("SIGHUP: out of memory; keeping the current configuration");
		notify_send("READY=1");
		return;
	}
	r->base.ops = &reload_ops;
	r->s = s;
	r->generation = s->rt->generation + 1;
	s->reloading = true;
	workers_submit(s->workers, &r->base);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct server *s = arg;

	if (sig == SIGHUP) {
		if (s->stopping)
			return;
		if (!s->flags.config_file) {
			log_info("SIGHUP: no config file to reload (start with -c FILE)");
			return;
		}
		log_info("SIGHUP: reloading %s", s->flags.config_file);
		start_reload(s);
		return;
	}
	stop(s, sig == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void on_stop_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;

	log_warn("shutdown timeout (%u s): %zu connection(s) still busy, exiting",
	         s->cfg.shutdown_timeout, s->nconns);
	stop_now(s);
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t tick_expected;

/* Loop latency: how late a periodic timer fires. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;
	uint64_t now = now_us();
	uint64_t lag = now > tick_expected ? now - tick_expected : 0;

	g_stats.loop_lag_us_last = lag;
	if (lag > g_stats.loop_lag_us_max)
		g_stats.loop_lag_us_max = lag;
	tick_expected = now + TICK_MS * 1000u;
	/* Every tick: an idle connection goes within 0.1 s of its timeout. */
	if (s->cfg.limits.idle_timeout && !s->stopping)
		for (struct conn *c = s->conns, *next; c; c = next) {
			next = c->next;
			conn_check_idle(c, s->cfg.limits.idle_timeout);
		}
	/* A status line for `systemctl status`, about once a second. */
	if (++s->ticks % 10 != 0)
		return;
	notify_sendf("STATUS=%zu connections, %llu handles, %llu jobs running", s->nconns,
		             (unsigned long long)g_stats.handles_now,
		             (unsigned long long)atomic_load(&g_stats.jobs_running));
}

int server_init(struct server *s, struct rowd_config *cfg, struct config_flags *flags)
{
	char msg[600];
	unsigned nworkers;
	struct timeval tick = { 0, TICK_MS * 1000 };

	memset(s, 0, sizeof *s);
	s->cfg = *cfg;
	memset(cfg, 0, sizeof *cfg);
	s->flags = *flags;
	memset(flags, 0, sizeof *flags);
	s->listen_fd = -1;
	g_stats.started = time(NULL);
	log_set_level((enum log_level)s->cfg.log_level);
	/* A test hook: the component walk that stands in for openat2 on
	 * older kernels and under valgrind, on this kernel. */
	if (getenv("ROWD_TEST_NO_OPENAT2")) {
		paths_set_openat2(false);
		log_info("ROWD_TEST_NO_OPENAT2: paths are resolved without openat2");
	}
	/* At start the loop is not running yet: opening the roots here
	 * blocks nobody. */
	s->rt = runtime_new(&s->cfg, 1, msg, sizeof msg);
	if (!s->rt) {
		log_error("%s", msg);
		return SERVER_ECONFIG;
	}
	for (size_t i = 0; i < s->rt->roots.n; i++) {
		int n = wfile_clean_stale(s->rt->roots.v[i].fd, STALE_TMP_DEPTH);

		if (n > 0)
			log_info("removed %d stale temp files under %s", n, s->rt->roots.v[i].path);
	}
	fdlimit_raise();
	if (evthread_use_pthreads() < 0) {
		log_error("libevent has no pthreads support");
		return -1;
	}
	s->base = event_base_new();
	if (!s->base) {
		log_error("cannot create the event base");
		return -1;
	}
	nworkers = server_workers_wanted(&s->cfg);
	s->workers = workers_start(s->base, nworkers);
	if (!s->workers) {
		log_error("cannot start the workers");
		return -1;
	}
	s->listen_fd = inherited_socket();
	if (s->listen_fd >= 0) {
		evutil_make_socket_nonblocking(s->listen_fd);
		log_info("using the socket passed by systemd (fd %d)", s->listen_fd);
	} else if (s->listen_fd == -1) {
		s->listen_fd = create_socket(s);
		if (s->listen_fd < 0)
			return -1;
	} else {
		return -1;
	}
	s->listener = evconnlistener_new(s->base, on_accept, s, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
	                                 -1, s->listen_fd);
	if (!s->listener) {
		log_error("cannot listen");
		close(s->listen_fd);
		return -1;
	}
	if (fdlimit_guard_accept(s) < 0) {
		log_error("cannot set up the listener");
		return -1;
	}
	s->ev_term = evsignal_new(s->base, SIGTERM, on_signal, s);
	s->ev_int = evsignal_new(s->base, SIGINT, on_signal, s);
	s->ev_hup = evsignal_new(s->base, SIGHUP, on_signal, s);
	s->ev_tick = event_new(s->base, -1, EV_PERSIST, on_tick, s);
	s->ev_stop_timeout = evtimer_new(s->base, on_stop_timeout, s);
	if (!s->ev_term || !s->ev_int || !s->ev_hup || !s->ev_tick || !s->ev_stop_timeout ||
	    evsignal_add(s->ev_term, NULL) < 0 || evsignal_add(s->ev_int, NULL) < 0 ||
	    evsignal_add(s->ev_hup, NULL) < 0 || event_add(s->ev_tick, &tick) < 0) {
		log_error("cannot set up signals and timers");
		return -1;
	}
	tick_expected = now_us() + TICK_MS * 1000u;
	log_info("rowd %s listening on %s, %zu root(s), %u workers", PACKAGE_VERSION,
	         s->socket_owned ? s->cfg.socket_path : "the socket passed by systemd",
	         s->rt->roots.n, nworkers);
	notify_sendf("READY=1\nMAINPID=%d\nSTATUS=listening, %u workers", (int)getpid(), nworkers);
	return 0;
}

int server_run(struct server *s)
{
	return event_base_dispatch(s->base) < 0 ? -1 : 0;
}

void server_free(struct server *s)
{
	if (s->listener)
		evconnlistener_free(s->listener);
	if (s->workers)
		workers_stop(s->workers);
	if (s->ev_term)
		event_free(s->ev_term);
	if (s->ev_int)
		event_free(s->ev_int);
	if (s->ev_hup)
		event_free(s->ev_hup);
	if (s->ev_tick)
		event_free(s->ev_tick);
	if (s->ev_stop_timeout)
		event_free(s->ev_stop_timeout);
	fdlimit_free(s);
	if (s->socket_owned)
		unlink(s->cfg.socket_path);
	if (s->base)
		event_base_free(s->base);
	runtime_unref(s->rt);
	config_free(&s->cfg);
	config_flags_free(&s->flags);
}
