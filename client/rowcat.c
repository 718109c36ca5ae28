/* rowcat: print, count, inspect and convert row files through rowd.
 *
 * rowcat [options] FILE...     rows of each FILE as JSON Lines on stdout
 * rowcat -o OUT FILE           convert on the daemon (no rows cross the socket)
 * rowcat -o OUT -              JSON Lines from stdin written to OUT
 *
 * Rows arrive as a stream (one request, batches pushed by the daemon); a
 * progress bar from the daemon's progress messages goes to stderr when
 * it is a terminal.
 *
 * Exit status: 0 ok, 1 an error (daemon, connection, local I/O), 2 usage.
 */
#include "config.h"

#include "rowd/rowd.h"
#include "rowd_proto.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <libgen.h>   /* after string.h: the POSIX basename, not GNU's */

/* Rows per stream message (and per read_bulk when copying): big enough
 * that the per-message work is lost in the time the rows take to print. */
#define READ_ROWS 5000
/* Rows per write_bulk. */
#define WRITE_ROWS 1000
/* Bytes per write_bulk: the daemon refuses a request frame above its
 * frame limit (and closes the connection), so stay well below it. */
#define WRITE_BYTES ((size_t)8 << 20)

enum mode { M_PRINT, M_COUNT, M_DETECT, M_TABLES, M_STATS, M_OUTPUT };

static const char *const mode_flags[] = {
	[M_PRINT] = "printing", [M_COUNT] = "--count", [M_DETECT] = "--detect",
	[M_TABLES] = "--tables", [M_STATS] = "--stats", [M_OUTPUT] = "-o",
};

struct kv {
	const char *key;    /* points into argv (NUL put over the '=') */
	const char *val;
};

struct kvlist {
	struct kv *v;
	size_t n, cap;
};

/* One end of a conversion: what -f/--codec/-O (or their --out-
 * counterparts) say about it. */
struct side {
	const char *format, *codec;
	struct kvlist opts, copts;
	struct mpbuf opts_mp, copts_mp;   /* packed maps; len 0 = none */
	char *opts_json, *copts_json;     /* the same as JSON text, or NULL */
};

struct rowcat {
	const char *socket;
	enum mode mode;
	bool mode_set;
	int progress;                     /* -1: when stderr is a terminal */
	int64_t head;                     /* -1: all rows */
	const char *output;
	struct side in, out;
	char **files;
	int nfiles;

	rowd_ctx *c;
	size_t read_rows, write_rows, write_bytes;   /* batch sizes */
	struct mpbuf text;                /* JSON output of one batch */
	bool out_stopped;                 /* stdout failed: print nothing more */
	int out_rc;                       /* 0: the reader left (EPIPE), 1: an error */
	int batch_rc;                     /* why a stream callback stopped the stream */
};

/* A batch of rows packed back to back, with where each one ends, so that
 * it can be sent as several write_bulk requests of bounded size. */
struct batch {
	struct mpbuf buf;
	size_t *ends;
	size_t n, cap;
};

static char stdout_buf[1 << 20];

/* ---- the progress bar ------------------------------------------------- */

/* One line on stderr, redrawn in place on a terminal (one line per update
 * when forced onto something else), cleared before anything else is
 * written to stderr. */
struct bar {
	bool on;
	bool tty;
	bool drawn;
	const char *label;
};

static struct bar bar;

static void bar_clear(void)
{
	if (bar.drawn && bar.tty)
		fputs("\r\033[K", stderr);
	bar.drawn = false;
}

static void bar_start(const char *label)
{
	bar_clear();
	bar.label = label;
}

static int term_columns(void)
{
	struct winsize ws;

	if (bar.tty && ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40)
		return ws.ws_col;
	return 80;
}

/* "12.3 MB": sizes for people. */
static void human(char *out, size_t cap, uint64_t bytes)
{
	static const char *const unit[] = { "B", "kB", "MB", "GB", "TB" };
	double v = (double)bytes;
	int u = 0;

	while (v >= 1000 && u < 4) {
		v /= 1000;
		u++;
	}
	snprintf(out, cap, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
}

/* The part after the label: " [#####.....]  45%  12.3 MB / 27.0 MB  123456
 * rows", or without a known size (a pipe) only what has been read. */
static void bar_tail(char *out, size_t cap, const struct rowd_progress *p, int width)
{
	char done[32], total[32], meter[64];
	double frac;
	int fill;

	human(done, sizeof done, p->bytes_read);
	if (p->bytes_total == 0) {
		snprintf(out, cap, "  %s  %" PRIu64 " rows", done, p->rows);
		return;
	}
	frac = (double)p->bytes_read / (double)p->bytes_total;
	frac = frac > 1 ? 1 : frac;
	fill = (int)(frac * width);
	memset(meter, '#', (size_t)fill);
	memset(meter + fill, '.', (size_t)(width - fill));
	meter[width] = '\0';
	human(total, sizeof total, p->bytes_total);
	snprintf(out, cap, " [%s] %3d%%  %s / %s  %" PRIu64 " rows", meter, (int)(frac * 100),
	         done, total, p->rows);
}

/* The file's last path component, shortened to fit the line. */
static void bar_draw(const struct rowd_progress *p)
{
	const char *slash = strrchr(bar.label, '/');
	const char *name = slash && slash[1] ? slash + 1 : bar.label;
	int cols = term_columns(), room;
	char tail[160];

	bar_tail(tail, sizeof tail, p, cols >= 120 ? 40 : 20);
	room = cols - 1 - (int)strlen(tail);
	fprintf(stderr, "%s%.*s%s%s", bar.tty ? "\r\033[K" : "", room > 0 ? room : 0, name, tail,
	        bar.tty ? "" : "\n");
	fflush(stderr);
	bar.drawn = true;
}

static int on_progress(const struct rowd_progress *p, void *arg)
{
	(void)arg;
	bar_draw(p);
	return 0;
}

static rowd_progress_cb progress_cb(void)
{
	return bar.on ? on_progress : NULL;
}

/* ---- messages --------------------------------------------------------- */

__attribute__((format(printf, 1, 2), noreturn))
static void usage_error(const char *fmt, ...)
{
	va_list ap;

	bar_clear();
	fputs("rowcat: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'rowcat --help' for more information.\n", stderr);
	exit(2);
}

/* "rowcat: FILE: CODE: message (line N)" from the context's error. */
static int report(rowd_ctx *c, const char *what)
{
	bar_clear();
	fputs("rowcat: ", stderr);
	if (what)
		fprintf(stderr, "%s: ", what);
	fprintf(stderr, "%s: %s", rowd_errcode(c), rowd_errstr(c));
	if (rowd_errline(c) >= 0)
		fprintf(stderr, " (line %" PRId64 ")", rowd_errline(c));
	else if (rowd_errrow(c) >= 0)
		fprintf(stderr, " (row %" PRId64 ")", rowd_errrow(c));
	fputc('\n', stderr);
	return 1;
}

__attribute__((format(printf, 2, 3)))
static int report_local(const char *what, const char *fmt, ...)
{
	va_list ap;

	bar_clear();
	fprintf(stderr, "rowcat: %s: ", what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

static int report_nomem(void)
{
	bar_clear();
	fputs("rowcat: out of memory\n", stderr);
	return 1;
}

static void usage(void)
{
	printf("Usage: rowcat [OPTION]... FILE...\n"
	       "       rowcat [OPTION]... -o OUT FILE|-\n"
	       "Print the rows of each FILE as JSON Lines, read through the rowd daemon.\n"
	       "\n"
	       "  -s, --socket PATH        daemon socket (default: $ROWD_SOCKET, then\n"
	       "                           " ROWD_DEFAULT_SOCKET ")\n"
	       "  -f, --format NAME        input format (default: detected)\n"
	       "      --codec NAME         input codec (default: detected)\n"
	       "  -O, --option KEY=VALUE   input format option; VALUE is JSON if it\n"
	       "                           parses as JSON, else a string (repeatable)\n"
	       "      --codec-option KEY=VALUE  input codec option (repeatable)\n"
	       "      --head N             stop after N rows of each file\n"
	       "      --count              print the number of rows of each file\n"
	       "      --detect             print what the daemon detects (JSON)\n"
	       "      --tables             print the table names, one per line\n"
	       "      --stats              print the daemon's statistics (JSON)\n"
	       "      --progress           draw a progress bar on stderr (default: when\n"
	       "                           stderr is a terminal and rows do not go to it)\n"
	       "      --no-progress        never draw one\n"
	       "  -o, --output OUT         convert FILE to OUT on the daemon; with FILE\n"
	       "                           '-', write JSON Lines read from stdin to OUT\n"
	       "      --out-format NAME    output format (default: from OUT's name)\n"
	       "      --out-codec NAME     output codec (default: from OUT's name)\n"
	       "      --out-option KEY=VALUE        output format option (repeatable)\n"
	       "      --out-codec-option KEY=VALUE  output codec option (repeatable)\n"
	       "  -h, --help               show this help and exit\n"
	       "      --version            show the version and exit\n"
	       "\n"
	       "Exit status: 0 on success, 1 on an error, 2 on a usage error.\n");
}

/* ---- stdout ----------------------------------------------------------- */

/* Marks stdout as unusable. A reader that went away (EPIPE) ends the
 * output quietly, as `rowcat big.csv | head` expects; anything else is an
 * error. Returns -1. */
static int stdout_failed(struct rowcat *r)
{
	r->out_stopped = true;
	r->out_rc = errno == EPIPE ? 0 : report_local("stdout", "%s", strerror(errno));
	return -1;
}

/* 0, or -1 once stdout failed (then r->out_rc is the caller's result). */
static int emit(struct rowcat *r, const char *p, size_t n)
{
	if (n == 0 || fwrite(p, 1, n, stdout) == n)
		return 0;
	return stdout_failed(r);
}

static int finish_stdout(struct rowcat *r)
{
	if (!r->out_stopped && fflush(stdout) != 0)
		stdout_failed(r);
	return r->out_rc;
}

/* Appends o as one JSON line. */
static int json_line(const msgpack_object *o, struct mpbuf *out)
{
	if (proto_object_to_json(o, out) < 0)
		return -1;
	if (out->len > 0 && out->data[out->len - 1] == '\n')
		return 0;
	return mpbuf_append(out, "\n", 1);
}

/* Prints an answer map without its envelope (id, ok). */
static int print_answer(struct rowcat *r, const msgpack_object *ans)
{
	uint32_t n = ans->via.map.size, k = 0;
	msgpack_object_kv *kv = malloc((n ? n : 1) * sizeof *kv);
	msgpack_object view = *ans;
	int rc;

	if (!kv)
		return report_nomem();
	for (uint32_t i = 0; i < n; i++) {
		const msgpack_object *key = &ans->via.map.ptr[i].key;

		if (!proto_str_eq(key, "id") && !proto_str_eq(key, "ok"))
			kv[k++] = ans->via.map.ptr[i];
	}
	view.via.map.ptr = kv;
	view.via.map.size = k;
	r->text.len = 0;
	rc = json_line(&view, &r->text);
	free(kv);
	if (rc < 0)
		return report_nomem();
	return emit(r, r->text.data, r->text.len) < 0 ? r->out_rc : 0;
}

/* ---- options ---------------------------------------------------------- */

static void kv_add(struct kvlist *l, char *arg, const char *opt)
{
	char *eq = strchr(arg, '=');

	if (!eq || eq == arg)
		usage_error("%s needs KEY=VALUE, not '%s'", opt, arg);
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		struct kv *v = realloc(l->v, cap * sizeof *v);

		if (!v) {
			report_nomem();
			exit(1);
		}
		l->v = v;
		l->cap = cap;
	}
	*eq = '\0';
	l->v[l->n].key = arg;
	l->v[l->n].val = eq + 1;
	l->n++;
}

/* A key given again later is dropped here: the last one wins. */
static bool kv_overridden(const struct kvlist *l, size_t i)
{
	for (size_t j = i + 1; j < l->n; j++)
		if (strcmp(l->v[i].key, l->v[j].key) == 0)
			return true;
	return false;
}

/* One option value: JSON when it parses as JSON, else the string. */
static int pack_value(struct mpbuf *b, const char *val)
{
	struct rowd_limits lim;
	struct rowd_error err;
	size_t at = b->len;

	rowd_limits_default(&lim);
	if (proto_json_to_msgpack(val, strlen(val), &lim, b, &err) == 0)
		return 0;
	if (err.code == ROWD_ENOMEM)
		return -1;
	b->len = at;
	return mpbuf_cstr(b, val);
}

/* Renders the packed object in mp as a JSON C string (malloc'd). */
static char *json_text(const struct mpbuf *mp)
{
	struct mpbuf text;
	struct rowd_error err;

	mpbuf_init(&text);
	if (proto_msgpack_to_json(mp->data, mp->len, &text, &err) < 0) {
		mpbuf_free(&text);
		return NULL;
	}
	if (text.len > 0 && text.data[text.len - 1] == '\n')
		text.len--;
	if (mpbuf_append(&text, "", 1) < 0) {
		mpbuf_free(&text);
		return NULL;
	}
	return mpbuf_steal(&text, NULL);
}

/* Packs the options as a map into mp and renders it as JSON text. */
static int kv_build(const struct kvlist *l, struct mpbuf *mp, char **json)
{
	uint32_t n = 0;

	if (l->n == 0)
		return 0;
	for (size_t i = 0; i < l->n; i++)
		n += !kv_overridden(l, i);
	if (mpbuf_map_hdr(mp, n) < 0)
		return -1;
	for (size_t i = 0; i < l->n; i++) {
		if (kv_overridden(l, i))
			continue;
		if (mpbuf_cstr(mp, l->v[i].key) < 0 || pack_value(mp, l->v[i].val) < 0)
			return -1;
	}
	*json = json_text(mp);
	return *json ? 0 : -1;
}

static int side_build(struct side *s)
{
	if (kv_build(&s->opts, &s->opts_mp, &s->opts_json) < 0 ||
	    kv_build(&s->copts, &s->copts_mp, &s->copts_json) < 0)
		return report_nomem();
	return 0;
}

static void side_free(struct side *s)
{
	free(s->opts.v);
	free(s->copts.v);
	mpbuf_free(&s->opts_mp);
	mpbuf_free(&s->copts_mp);
	free(s->opts_json);
	free(s->copts_json);
}

static bool side_empty(const struct side *s)
{
	return !s->format && !s->codec && s->opts.n == 0 && s->copts.n == 0;
}

static struct rowd_open_opts side_open_opts(const struct side *s, const char *mode)
{
	struct rowd_open_opts o = {
		.mode = mode,
		.format = s->format,
		.codec = s->codec,
		.options_json = s->opts_json,
		.codec_options_json = s->copts_json,
	};

	return o;
}

/* ---- paths ------------------------------------------------------------ */

/* The daemon resolves paths beneath its roots: send the absolute path of
 * a file that exists here, else the path as given (it may be relative to
 * the daemon's first root). NULL when out of memory. */
static char *abs_input(const char *path)
{
	char *p = realpath(path, NULL);

	return p ? p : strdup(path);
}

/* An output does not exist yet: absolutize its directory. */
static char *abs_output(const char *path)
{
	char *d = strdup(path), *b = strdup(path), *dir, *res = NULL;
	const char *base;

	if (!d || !b)
		goto out;
	dir = realpath(dirname(d), NULL);
	base = basename(b);
	if (!dir || path[strlen(path) - 1] == '/' || strcmp(base, ".") == 0 ||
	    strcmp(base, "..") == 0 || strcmp(base, "/") == 0) {
		free(dir);
		res = strdup(path);
		goto out;
	}
	if (asprintf(&res, "%s/%s", strcmp(dir, "/") == 0 ? "" : dir, base) < 0)
		res = NULL;
	free(dir);
out:
	free(d);
	free(b);
	return res;
}

/* ---- requests built as JSON ------------------------------------------- */

/* The ops without a function in librowd go through rowd_request_json:
 * packed here (so that paths need no escaping by hand), then rendered. */
static int request(struct rowcat *r, struct mpbuf *mp, const msgpack_object **ans)
{
	char *text = json_text(mp);
	int rc;

	if (!text) {
		report_nomem();
		return -2;
	}
	rc = rowd_request_json(r->c, text, ans);
	free(text);
	return rc;
}

static int put_kstr(struct mpbuf *b, const char *key, const char *val)
{
	return mpbuf_cstr(b, key) < 0 || mpbuf_cstr(b, val) < 0 ? -1 : 0;
}

/* {op, path}: detect and tables. */
static int request_path(struct rowcat *r, const char *op, const char *path,
                        const msgpack_object **ans)
{
	struct mpbuf mp;
	int rc;

	mpbuf_init(&mp);
	if (mpbuf_map_hdr(&mp, 2) < 0 || put_kstr(&mp, "op", op) < 0 ||
	    put_kstr(&mp, "path", path) < 0) {
		mpbuf_free(&mp);
		report_nomem();
		return -2;
	}
	rc = request(r, &mp, ans);
	mpbuf_free(&mp);
	return rc;
}

/* ---- reading ---------------------------------------------------------- */

static size_t batch_size(const struct rowcat *r, int64_t left)
{
	return left >= 0 && (uint64_t)left < r->read_rows ? (size_t)left : r->read_rows;
}

static int print_rows(struct rowcat *r, const msgpack_object *rows)
{
	r->text.len = 0;
	for (uint32_t i = 0; i < rows->via.array.size; i++)
		if (json_line(&rows->via.array.ptr[i], &r->text) < 0)
			return report_nomem();
	return emit(r, r->text.data, r->text.len) < 0 ? r->out_rc : 0;
}

/* A stream callback: a failure to print stops the stream (the library
 * cancels it and reads it to its end). */
static int print_batch(const struct rowd_batch *b, void *arg)
{
	struct rowcat *r = arg;
	int rc = print_rows(r, b->rows);

	if (rc || r->out_stopped) {
		r->batch_rc = rc;
		return 1;
	}
	return 0;
}

/* The rows of handle h, --head applied, as a stream to cb; the rows the
 * daemon sent, or -1. */
static int64_t stream_rows(struct rowcat *r, int h, bool raw, rowd_batch_cb cb)
{
	struct rowd_stream_opts o = {
		.batch = r->read_rows, .limit = r->head > 0 ? (uint64_t)r->head : 0, .raw = raw,
	};

	if (r->head == 0)
		return 0;
	r->batch_rc = 0;
	return rowd_stream(r->c, h, &o, cb, progress_cb(), r);
}

static int print_file(struct rowcat *r, const char *file, const char *path)
{
	struct rowd_open_opts o = side_open_opts(&r->in, NULL);
	int h = rowd_open(r->c, path, &o);

	if (h < 0)
		return report(r->c, file);
	bar_start(file);
	if (stream_rows(r, h, false, print_batch) < 0)
		return report(r->c, file);
	bar_clear();
	if (r->batch_rc || r->out_stopped)
		return r->batch_rc;
	if (rowd_close(r->c, h, NULL) < 0)
		return report(r->c, file);
	return 0;
}

static int count_batch(const struct rowd_batch *b, void *arg)
{
	(void)b;
	(void)arg;
	return 0;
}

/* Counts by reading when the format cannot tell: raw batches, nothing
 * decoded. */
static int64_t count_by_reading(struct rowcat *r, int h)
{
	return stream_rows(r, h, true, count_batch);
}

static int count_file(struct rowcat *r, const char *file, const char *path)
{
	struct rowd_open_opts o = side_open_opts(&r->in, NULL);
	char line[64];
	int64_t n;
	int h = rowd_open(r->c, path, &o);

	if (h < 0)
		return report(r->c, file);
	n = rowd_totals(r->c, h);
	if (n < 0 && strcmp(rowd_errcode(r->c), "ENOTSUP") == 0 && !rowd_ctx_broken(r->c)) {
		bar_start(file);
		n = count_by_reading(r, h);
		bar_clear();
	}
	if (n < 0)
		return report(r->c, file);
	if (r->head >= 0 && n > r->head)
		n = r->head;
	if (rowd_close(r->c, h, NULL) < 0)
		return report(r->c, file);
	/* One file: the bare number, for scripts; several: "N FILE" as wc. */
	if (r->nfiles == 1)
		snprintf(line, sizeof line, "%" PRId64 "\n", n);
	else
		snprintf(line, sizeof line, "%" PRId64 " ", n);
	if (emit(r, line, strlen(line)) < 0 ||
	    (r->nfiles > 1 && (emit(r, file, strlen(file)) < 0 || emit(r, "\n", 1) < 0)))
		return r->out_rc;
	return 0;
}

static int detect_file(struct rowcat *r, const char *file, const char *path)
{
	const msgpack_object *ans;
	int rc = request_path(r, "detect", path, &ans);

	if (rc == -2)
		return 1;
	if (rc < 0)
		return report(r->c, file);
	return print_answer(r, ans);
}

/* A table name as is; anything else a daemon might send, as JSON. */
static int name_line(const msgpack_object *name, struct mpbuf *out)
{
	if (name->type != MSGPACK_OBJECT_STR)
		return json_line(name, out);
	if (mpbuf_append(out, name->via.str.ptr, name->via.str.size) < 0)
		return -1;
	return mpbuf_append(out, "\n", 1);
}

static int tables_file(struct rowcat *r, const char *file, const char *path)
{
	const msgpack_object *ans, *t;
	int rc = request_path(r, "tables", path, &ans);

	if (rc == -2)
		return 1;
	if (rc < 0)
		return report(r->c, file);
	t = proto_map_get(ans, "tables");
	if (!t || t->type != MSGPACK_OBJECT_ARRAY)
		return report_local(file, "EPROTO: tables answer without a tables array");
	r->text.len = 0;
	for (uint32_t i = 0; i < t->via.array.size; i++)
		if (name_line(&t->via.array.ptr[i], &r->text) < 0)
			return report_nomem();
	return emit(r, r->text.data, r->text.len) < 0 ? r->out_rc : 0;
}

static int stats(struct rowcat *r)
{
	const msgpack_object *ans;

	if (rowd_request_json(r->c, "{\"op\":\"stats\"}", &ans) < 0)
		return report(r->c, NULL);
	return print_answer(r, ans);
}

static size_t min_size(size_t a, uint64_t b)
{
	return b < a ? (size_t)b : a;
}

/* Fits the batch sizes to the daemon's limits (hello): a daemon set up
 * below our defaults would refuse our batches. A daemon that does not
 * answer hello keeps the defaults; a broken connection shows at the
 * next request. */
static void tune_to_daemon(struct rowcat *r)
{
	const msgpack_object *ans, *lim, *v;
	char req[128];

	r->read_rows = READ_ROWS;
	r->write_rows = WRITE_ROWS;
	r->write_bytes = WRITE_BYTES;
	snprintf(req, sizeof req, "{\"op\":\"hello\",\"version\":%d,\"client\":\"rowcat %s\"}",
	         ROWD_PROTOCOL_VERSION, PACKAGE_VERSION);
	if (rowd_request_json(r->c, req, &ans) < 0)
		return;
	lim = proto_map_get(ans, "limits");
	if (!lim)
		return;
	v = proto_map_get(lim, "batch_rows");
	if (v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 > 0) {
		r->read_rows = min_size(r->read_rows, v->via.u64);
		r->write_rows = min_size(r->write_rows, v->via.u64);
	}
	v = proto_map_get(lim, "frame_bytes");
	if (v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 >= 2)
		r->write_bytes = min_size(r->write_bytes, v->via.u64 / 2);
}

typedef int (*file_fn)(struct rowcat *r, const char *file, const char *path);

/* Runs fn on every file; an error about one file does not stop the others,
 * a broken connection does. */
static int each_file(struct rowcat *r, file_fn fn)
{
	int rc = 0;

	for (int i = 0; i < r->nfiles && !r->out_stopped; i++) {
		char *path = abs_input(r->files[i]);

		if (!path)
			return report_nomem();
		rc |= fn(r, r->files[i], path);
		free(path);
		if (rowd_ctx_broken(r->c))
			break;
	}
	return rc;
}

/* ---- writing ---------------------------------------------------------- */

static void batch_free(struct batch *b)
{
	mpbuf_free(&b->buf);
	free(b->ends);
}

/* Records that the bytes packed since the last row form one row. */
static int batch_end_row(struct batch *b)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : WRITE_ROWS;
		size_t *e = realloc(b->ends, cap * sizeof *e);

		if (!e)
			return -1;
		b->ends = e;
		b->cap = cap;
	}
	b->ends[b->n++] = b->buf.len;
	return 0;
}

/* Sends rows [i, j) of the batch as one write_bulk. */
static int send_rows(struct rowcat *r, int h, const struct batch *b, size_t i, size_t j)
{
	size_t start = i ? b->ends[i - 1] : 0;

	return rowd_write_bulk_packed(r->c, h, b->buf.data + start, b->ends[j - 1] - start,
	                              j - i);
}

/* Sends the whole batch as write_bulk requests of at most r->write_rows
 * rows and r->write_bytes (a bigger row goes alone). */
static int batch_flush(struct rowcat *r, int h, struct batch *b)
{
	size_t i = 0;

	while (i < b->n) {
		size_t start = i ? b->ends[i - 1] : 0, j = i + 1;

		while (j < b->n && j - i < r->write_rows && b->ends[j] - start <= r->write_bytes)
			j++;
		if (send_rows(r, h, b, i, j) < 0)
			return -1;
		i = j;
	}
	b->n = 0;
	b->buf.len = 0;
	return 0;
}

/* Called after each row streamed in: sends a request as soon as one is
 * full. The row that takes the batch over the byte limit stays for the
 * next request, so that requests stay near the limit. */
static int batch_row_added(struct rowcat *r, int h, struct batch *b)
{
	size_t sent, keep;

	if (b->buf.len <= r->write_bytes)
		return b->n >= r->write_rows ? batch_flush(r, h, b) : 0;
	if (b->n == 1)
		return batch_flush(r, h, b);
	if (send_rows(r, h, b, 0, b->n - 1) < 0)
		return -1;
	sent = b->ends[b->n - 2];
	keep = b->buf.len - sent;
	memmove(b->buf.data, b->buf.data + sent, keep);
	b->buf.len = keep;
	b->ends[0] = keep;
	b->n = 1;
	return 0;
}

static bool is_map_hdr(unsigned char b)
{
	return (b & 0xf0) == 0x80 || b == 0xde || b == 0xdf;
}

/* Strips the line end (and a UTF-8 BOM on the first line); false for a
 * blank line. */
static bool line_trim(char **line, size_t *len, uint64_t lineno)
{
	char *p = *line;
	size_t n = *len;

	if (lineno == 1 && n >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) {
		p += 3;
		n -= 3;
	}
	while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r'))
		n--;
	*line = p;
	*len = n;
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t')
			return true;
	return false;
}

/* Appends one JSON Lines line of stdin to the batch as a row. */
static int stdin_row(struct batch *b, const char *line, size_t len, uint64_t lineno)
{
	struct rowd_limits lim;
	struct rowd_error err;
	size_t at = b->buf.len;

	rowd_limits_default(&lim);
	rowd_error_clear(&err);
	if (proto_json_to_msgpack(line, len, &lim, &b->buf, &err) < 0) {
		if (err.code == ROWD_ENOMEM)
			return report_nomem();
		return report_local("-", "%s: %s (line %" PRIu64 ")",
		                    rowd_err_name(err.code), err.message, lineno);
	}
	if (!is_map_hdr((unsigned char)b->buf.data[at]))
		return report_local("-", "EFORMAT: not a JSON object (line %" PRIu64 ")",
		                    lineno);
	if (batch_end_row(b) < 0)
		return report_nomem();
	return 0;
}

/* JSON Lines from stdin into the open write handle h. */
static int stdin_rows(struct rowcat *r, int h, struct batch *b)
{
	char *buf = NULL;
	size_t cap = 0;
	uint64_t lineno = 0;
	ssize_t got;
	int rc = 0;

	while (rc == 0 && (got = getline(&buf, &cap, stdin)) >= 0) {
		char *line = buf;
		size_t len = (size_t)got;

		if (!line_trim(&line, &len, ++lineno))
			continue;
		rc = stdin_row(b, line, len, lineno);
		if (rc == 0 && batch_row_added(r, h, b) < 0)
			rc = report(r->c, r->output);
	}
	if (rc == 0 && ferror(stdin))
		rc = report_local("-", "%s", strerror(errno));
	free(buf);
	if (rc == 0 && batch_flush(r, h, b) < 0)
		rc = report(r->c, r->output);
	return rc;
}

/* Rows are copied, not re-read: packing them into our own buffer before
 * the next request keeps them valid while they are sent. */
static int batch_add_rows(struct batch *b, const msgpack_object *rows)
{
	msgpack_packer pk;

	msgpack_packer_init(&pk, &b->buf, mpbuf_packer_write);
	for (uint32_t i = 0; i < rows->via.array.size; i++)
		if (msgpack_pack_object(&pk, rows->via.array.ptr[i]) < 0 ||
		    batch_end_row(b) < 0)
			return report_nomem();
	return 0;
}

/* Reads the rows of hin and writes them to hout. */
static int copy_rows(struct rowcat *r, const char *file, int hin, int hout,
                     struct batch *b)
{
	int64_t left = r->head;

	while (left != 0) {
		const msgpack_object *rows;
		bool eof;
		int n = rowd_read_bulk(r->c, hin, batch_size(r, left), &rows, &eof);

		if (n < 0)
			return report(r->c, file);
		if (batch_add_rows(b, rows))
			return 1;
		if (batch_flush(r, hout, b) < 0)
			return report(r->c, r->output);
		if (left > 0)
			left -= n;
		if (eof || n == 0)
			break;
	}
	return 0;
}

/* Opens the output; on any later error we return without closing it:
 * close would commit a partial file, while dropping the connection (at
 * exit) makes the daemon discard it. */
static int open_output(struct rowcat *r, const char *out_path, int *h)
{
	struct rowd_open_opts o = side_open_opts(&r->out, "w");

	*h = rowd_open(r->c, out_path, &o);
	return *h < 0 ? report(r->c, r->output) : 0;
}

static int commit_output(struct rowcat *r, int h)
{
	uint64_t written;

	return rowd_close(r->c, h, &written) < 0 ? report(r->c, r->output) : 0;
}

static int copy_file(struct rowcat *r, const char *file, const char *in_path,
                     const char *out_path)
{
	struct rowd_open_opts o = side_open_opts(&r->in, NULL);
	struct batch b = { .n = 0 };
	int hin, hout, rc;

	hin = rowd_open(r->c, in_path, &o);
	if (hin < 0)
		return report(r->c, file);
	if (open_output(r, out_path, &hout))
		return 1;
	mpbuf_init(&b.buf);
	rc = copy_rows(r, file, hin, hout, &b);
	batch_free(&b);
	if (rc)
		return rc;
	if (commit_output(r, hout))
		return 1;
	return rowd_close(r->c, hin, NULL) < 0 ? report(r->c, file) : 0;
}

static int write_stdin(struct rowcat *r, const char *out_path)
{
	struct batch b = { .n = 0 };
	int h, rc;

	if (open_output(r, out_path, &h))
		return 1;
	mpbuf_init(&b.buf);
	rc = stdin_rows(r, h, &b);
	batch_free(&b);
	return rc ? rc : commit_output(r, h);
}

/* The daemon copies the rows itself; one that cannot (ENOTSUP) gets them
 * through us. --head needs a row limit convert does not have. */
static int convert_file(struct rowcat *r, const char *file, const char *in_path,
                        const char *out_path)
{
	struct rowd_open_opts from = side_open_opts(&r->in, NULL);
	struct rowd_open_opts to = side_open_opts(&r->out, NULL);
	struct rowd_convert_result res;
	int rc;

	if (r->head >= 0)
		return copy_file(r, file, in_path, out_path);
	bar_start(file);
	rc = rowd_convert(r->c, in_path, &from, out_path, &to, progress_cb(), r, &res);
	bar_clear();
	if (rc == 0) {
		if (res.rows_skipped > 0)
			fprintf(stderr, "rowcat: %s: %" PRIu64 " rows skipped\n", file,
			        res.rows_skipped);
		return 0;
	}
	if (strcmp(rowd_errcode(r->c), "ENOTSUP") == 0 && !rowd_ctx_broken(r->c))
		return copy_file(r, file, in_path, out_path);
	return report(r->c, file);
}

static int output(struct rowcat *r)
{
	const char *file = r->files[0];
	char *out_path = abs_output(r->output);
	char *in_path = NULL;
	int rc;

	if (!out_path)
		return report_nomem();
	if (strcmp(file, "-") == 0) {
		rc = write_stdin(r, out_path);
	} else if (!(in_path = abs_input(file))) {
		rc = report_nomem();
	} else {
		rc = convert_file(r, file, in_path, out_path);
	}
	free(in_path);
	free(out_path);
	return rc;
}

/* ---- command line ----------------------------------------------------- */

enum {
	OPT_CODEC = 256, OPT_CODEC_OPTION, OPT_HEAD, OPT_COUNT, OPT_DETECT, OPT_TABLES,
	OPT_STATS, OPT_OUT_FORMAT, OPT_OUT_CODEC, OPT_OUT_OPTION, OPT_OUT_CODEC_OPTION,
	OPT_VERSION, OPT_PROGRESS, OPT_NO_PROGRESS,
};

static const struct option long_opts[] = {
	{ "socket", required_argument, NULL, 's' },
	{ "format", required_argument, NULL, 'f' },
	{ "codec", required_argument, NULL, OPT_CODEC },
	{ "option", required_argument, NULL, 'O' },
	{ "codec-option", required_argument, NULL, OPT_CODEC_OPTION },
	{ "head", required_argument, NULL, OPT_HEAD },
	{ "count", no_argument, NULL, OPT_COUNT },
	{ "detect", no_argument, NULL, OPT_DETECT },
	{ "tables", no_argument, NULL, OPT_TABLES },
	{ "stats", no_argument, NULL, OPT_STATS },
	{ "progress", no_argument, NULL, OPT_PROGRESS },
	{ "no-progress", no_argument, NULL, OPT_NO_PROGRESS },
	{ "output", required_argument, NULL, 'o' },
	{ "out-format", required_argument, NULL, OPT_OUT_FORMAT },
	{ "out-codec", required_argument, NULL, OPT_OUT_CODEC },
	{ "out-option", required_argument, NULL, OPT_OUT_OPTION },
	{ "out-codec-option", required_argument, NULL, OPT_OUT_CODEC_OPTION },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

static void set_mode(struct rowcat *r, enum mode m)
{
	if (r->mode_set && r->mode != m)
		usage_error("%s and %s cannot be combined", mode_flags[r->mode], mode_flags[m]);
	r->mode = m;
	r->mode_set = true;
}

static int64_t parse_head(const char *s)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < 0)
		usage_error("--head needs a row count, not '%s'", s);
	return v;
}

static void parse_opt(struct rowcat *r, int ch)
{
	switch (ch) {
	case 's': r->socket = optarg; break;
	case 'f': r->in.format = optarg; break;
	case OPT_CODEC: r->in.codec = optarg; break;
	case 'O': kv_add(&r->in.opts, optarg, "-O"); break;
	case OPT_CODEC_OPTION: kv_add(&r->in.copts, optarg, "--codec-option"); break;
	case OPT_HEAD: r->head = parse_head(optarg); break;
	case OPT_COUNT: set_mode(r, M_COUNT); break;
	case OPT_DETECT: set_mode(r, M_DETECT); break;
	case OPT_TABLES: set_mode(r, M_TABLES); break;
	case OPT_STATS: set_mode(r, M_STATS); break;
	case OPT_PROGRESS: r->progress = 1; break;
	case OPT_NO_PROGRESS: r->progress = 0; break;
	case 'o': set_mode(r, M_OUTPUT); r->output = optarg; break;
	case OPT_OUT_FORMAT: r->out.format = optarg; break;
	case OPT_OUT_CODEC: r->out.codec = optarg; break;
	case OPT_OUT_OPTION: kv_add(&r->out.opts, optarg, "--out-option"); break;
	case OPT_OUT_CODEC_OPTION: kv_add(&r->out.copts, optarg, "--out-codec-option"); break;
	case 'h': usage(); exit(0);
	case OPT_VERSION: printf("rowcat %s\n", PACKAGE_VERSION); exit(0);
	default:   /* getopt said what was wrong */
		fputs("Try 'rowcat --help' for more information.\n", stderr);
		exit(2);
	}
}

/* Refuses combinations whose options would be silently ignored. */
static void check_args(struct rowcat *r)
{
	bool has_stdin = false;

	for (int i = 0; i < r->nfiles; i++)
		has_stdin |= strcmp(r->files[i], "-") == 0;
	if (r->mode == M_STATS && r->nfiles > 0)
		usage_error("--stats takes no FILE");
	if (r->mode != M_STATS && r->nfiles == 0)
		usage_error("missing FILE");
	if (r->mode != M_OUTPUT && !side_empty(&r->out))
		usage_error("--out-format, --out-codec and --out-option need -o");
	if ((r->mode == M_DETECT || r->mode == M_TABLES || r->mode == M_STATS) &&
	    (!side_empty(&r->in) || r->head >= 0))
		usage_error("%s takes no format, codec, option or --head", mode_flags[r->mode]);
	if (r->mode == M_OUTPUT && r->nfiles != 1)
		usage_error("-o converts exactly one FILE (or '-' for stdin)");
	if (r->mode == M_OUTPUT && !*r->output)
		usage_error("-o needs a file name");
	if (r->mode == M_OUTPUT && strcmp(r->output, "-") == 0)
		usage_error("-o -: JSON Lines on stdout is what rowcat does without -o");
	if (has_stdin && r->mode != M_OUTPUT)
		usage_error("reading JSON Lines from stdin ('-') needs -o OUT");
	if (has_stdin && r->head >= 0)
		usage_error("--head applies to an input FILE, not to stdin");
	if (has_stdin && !side_empty(&r->in))
		usage_error("-f, --codec and -O describe an input FILE; for stdin use "
		            "--out-format/--out-option");
}

/* By default the bar shows when stderr is a terminal, unless printed rows
 * go to that same screen (stdout a terminal too): it would tear them. */
static void setup_bar(const struct rowcat *r)
{
	bool err_tty = isatty(STDERR_FILENO) == 1;

	bar.tty = err_tty;
	if (r->progress >= 0)
		bar.on = r->progress == 1;
	else
		bar.on = err_tty && (r->mode != M_PRINT || isatty(STDOUT_FILENO) != 1);
}

static void parse_args(struct rowcat *r, int argc, char **argv)
{
	int ch;

	while ((ch = getopt_long(argc, argv, "s:f:O:o:h", long_opts, NULL)) != -1)
		parse_opt(r, ch);
	r->files = argv + optind;
	r->nfiles = argc - optind;
	check_args(r);
	setup_bar(r);
}

static int run(struct rowcat *r)
{
	switch (r->mode) {
	case M_PRINT: return each_file(r, print_file);
	case M_COUNT: return each_file(r, count_file);
	case M_DETECT: return each_file(r, detect_file);
	case M_TABLES: return each_file(r, tables_file);
	case M_STATS: return stats(r);
	case M_OUTPUT: return output(r);
	}
	return 1;
}

static int connect_and_run(struct rowcat *r)
{
	r->c = rowd_connect(r->socket);
	if (!r->c)
		return report_nomem();
	if (rowd_ctx_broken(r->c))
		return report(r->c, NULL);
	tune_to_daemon(r);
	return run(r);
}

int main(int argc, char **argv)
{
	struct rowcat r = { .mode = M_PRINT, .head = -1, .progress = -1 };
	int rc;

	/* A closed stdout is an EPIPE we handle, not a signal that kills us. */
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, stdout_buf, _IOFBF, sizeof stdout_buf);
	parse_args(&r, argc, argv);
	mpbuf_init(&r.text);
	rc = side_build(&r.in) || side_build(&r.out) || connect_and_run(&r);
	rowd_free(r.c);
	mpbuf_free(&r.text);
	side_free(&r.in);
	side_free(&r.out);
	rc |= finish_stdout(&r);
	return rc ? 1 : 0;
}
