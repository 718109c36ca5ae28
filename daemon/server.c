/* The daemon's loop: listener, accept, signals, ticks (see server.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
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
#include "handle.h"
#include "log.h"
#include "notify.h"
#include "server.h"
#include "stats.h"
#include "wfile.h"
#include "workers.h"

#define TICK_MS 100
#define STALE_TMP_DEPTH 8

/* Refuses a peer whose uid/gid is not allowed (when a list is set). */
static bool peer_allowed(const struct rowd_config *cfg, uid_t uid, gid_t gid)
{
	if (!cfg->nallow_uids && !cfg->nallow_gids)
		return true;
	for (size_t i = 0; i < cfg->nallow_uids; i++)
		if (cfg->allow_uids[i] == uid)
			return true;
	for (size_t i = 0; i < cfg->nallow_gids; i++)
		if (cfg->allow_gids[i] == gid)
			return true;
	return false;
}

/* One error answer straight on the fresh socket, then close: the client
 * has said nothing yet, so it gets the binary encoding. */
static void reject(int fd, enum rowd_err code, const char *msg)
{
	struct rowd_error err;
	struct mpbuf b;

	rowd_error_clear(&err);
	rowd_error_set(&err, code, "%s", msg);
	mpbuf_init(&b);
	if (proto_answer_error(&b, NULL, 0, &err) == 0 && send(fd, b.data, b.len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		log_debug("reject: %s", strerror(errno));
	mpbuf_free(&b);
	close(fd);
	stats_error(code);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                      int socklen, void *arg)
{
	struct server *s = arg;
	struct conn *c;

	if (s->stopping) {
		close(fd);
		return;
	}
	if (s->nconns >= s->cfg.limits.connections) {
		g_stats.conns_rejected++;
		log_warn("connection refused: connections limit (%zu) reached", s->cfg.limits.connections);
		reject(fd, ROWD_ELIMIT, "too many connections (connections limit reached)");
		return;
	}
	evutil_make_socket_nonblocking(fd);
	c = conn_new(s, fd);
	if (!c) {
		log_error("out of memory accepting a connection");
		close(fd);
		return;
	}
	if (!peer_allowed(&s->cfg, c->uid, c->gid)) {
		log_warn("conn %llu: uid %d gid %d pid %d not allowed", (unsigned long long)c->id,
		         (int)c->uid, (int)c->gid, (int)c->pid);
		g_stats.conns_rejected++;
		/* conn_new took the fd; answer through the connection. */
		struct rowd_error err;

		rowd_error_clear(&err);
		rowd_error_set(&err, ROWD_EACCES, "this user may not use rowd");
		c->prev = NULL;
		c->next = s->conns;
		if (s->conns)
			s->conns->prev = c;
		s->conns = c;
		s->nconns++;
		c->enc = ENC_BINARY;
		conn_send_error(c, NULL, 0, &err);
		c->closing = true;
		conn_check_done(c);
		return;
	}
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->nconns++;
	g_stats.conns_total++;
	log_debug("conn %llu: uid %d gid %d pid %d connected", (unsigned long long)c->id,
	          (int)c->uid, (int)c->gid, (int)c->pid);
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
	log_debug("conn %llu: closed", (unsigned long long)c->id);
	server_check_stopped(s);
}

void server_check_stopped(struct server *s)
{
	if (s->stopping && s->nconns == 0 && workers_in_flight(s->workers) == 0)
		event_base_loopbreak(s->base);
}

/* Systemd socket activation: LISTEN_PID/LISTEN_FDS name fd 3. */
static int inherited_socket(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");

	if (!pid || !fds || (pid_t)strtol(pid, NULL, 10) != getpid() || strtol(fds, NULL, 10) < 1)
		return -1;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	fcntl(3, F_SETFD, FD_CLOEXEC);
	return 3;
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

static void stop(struct server *s, const char *why)
{
	struct timeval tv = { .tv_sec = s->cfg.shutdown_timeout };

	if (s->stopping)
		return;
	log_info("%s: stopping", why);
	notify_send("STOPPING=1");
	s->stopping = true;
	if (s->listener) {
		evconnlistener_free(s->listener);
		s->listener = NULL;
	}
	/* Running steps finish on the workers; their handles are released
	 * (uncommitted writes discarded) when they come back. */
	for (struct conn *c = s->conns, *next; c; c = next) {
		next = c->next;
		conn_kill(c);
	}
	evtimer_add(s->ev_stop_timeout, &tv);
	server_check_stopped(s);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct server *s = arg;

	if (sig == SIGHUP) {
		struct rowd_config fresh;
		char msg[600];

		if (!s->cfg.config_file) {
			log_info("SIGHUP: no config file to reload");
			return;
		}
		notify_send("RELOADING=1");
		config_defaults(&fresh);
		if (config_load_file(&fresh, s->cfg.config_file, msg, sizeof msg) < 0) {
			log_error("SIGHUP: %s; keeping the current configuration", msg);
			config_free(&fresh);
			notify_send("READY=1\nSTATUS=reload failed, old configuration in force");
			return;
		}
		log_set_level((enum log_level)fresh.log_level);
		log_info("SIGHUP: log level reloaded from %s", s->cfg.config_file);
		config_free(&fresh);
		notify_send("READY=1");
		return;
	}
	stop(s, sig == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void on_stop_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;

	log_warn("shutdown timeout: %zu connections still busy, exiting", s->nconns);
	event_base_loopbreak(s->base);
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
	/* A status line for `systemctl status`, about once a second. */
	if (++s->ticks % 10 == 0)
		notify_sendf("STATUS=%zu connections, %llu handles, %llu jobs running", s->nconns,
		             (unsigned long long)g_stats.handles_now,
		             (unsigned long long)atomic_load(&g_stats.jobs_running));
}

int server_init(struct server *s, struct rowd_config *cfg)
{
	char msg[600];
	unsigned nworkers;
	struct timeval tick = { 0, TICK_MS * 1000 };

	memset(s, 0, sizeof *s);
	s->cfg = *cfg;
	memset(cfg, 0, sizeof *cfg);
	s->listen_fd = -1;
	g_stats.started = time(NULL);
	s->row_limits = s->cfg.limits;
	s->row_limits.depth = s->cfg.limits.depth > 2 ? s->cfg.limits.depth - 2 : 1;
	log_set_level((enum log_level)s->cfg.log_level);
	if (roots_open(&s->roots, s->cfg.roots, s->cfg.nroots, msg, sizeof msg) < 0) {
		log_error("%s", msg);
		return -1;
	}
	for (size_t i = 0; i < s->roots.n; i++) {
		int n = wfile_clean_stale(s->roots.v[i].fd, STALE_TMP_DEPTH);

		if (n > 0)
			log_info("removed %d stale temp files under %s", n, s->roots.v[i].path);
	}
	if (evthread_use_pthreads() < 0) {
		log_error("libevent has no pthreads support");
		return -1;
	}
	s->base = event_base_new();
	if (!s->base) {
		log_error("cannot create the event base");
		return -1;
	}
	nworkers = s->cfg.workers ? s->cfg.workers : (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
	if (nworkers < 1)
		nworkers = 1;
	s->workers = workers_start(s->base, nworkers);
	if (!s->workers) {
		log_error("cannot start the workers");
		return -1;
	}
	s->listen_fd = inherited_socket();
	if (s->listen_fd >= 0) {
		evutil_make_socket_nonblocking(s->listen_fd);
		log_info("using the socket passed by systemd");
	} else {
		s->listen_fd = create_socket(s);
		if (s->listen_fd < 0)
			return -1;
	}
	s->listener = evconnlistener_new(s->base, on_accept, s, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
	                                 -1, s->listen_fd);
	if (!s->listener) {
		log_error("cannot listen");
		close(s->listen_fd);
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
	         s->cfg.socket_path, s->roots.n, nworkers);
	notify_sendf("READY=1\nMAINPID=%d\nSTATUS=listening on %s", (int)getpid(), s->cfg.socket_path);
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
	if (s->socket_owned)
		unlink(s->cfg.socket_path);
	if (s->base)
		event_base_free(s->base);
	roots_close(&s->roots);
	config_free(&s->cfg);
}
