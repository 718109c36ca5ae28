/* Text mode: one line in, one msgpack request map out.
 *
 * A line is a JSON object (the binary request, spelt in JSON) or an
 * inline command for a person at socat: `open data.csv delimiter=;`,
 * `read_bulk 1 3`. Inline requests carry no id; their answers say id nil.
 *
 * Words are separated by spaces or tabs. Inside double quotes spaces do
 * not separate and \" and \\ stand for " and \. A positional word (path,
 * target) loses its quotes; in key=value the value is read as JSON when
 * it is valid JSON (header=false, skip_rows=2, fieldnames=["a b","c"],
 * delimiter=";") and taken as a plain string otherwise (delimiter=;).
 */
#include "rowd_proto.h"

#include <strings.h>

struct word {
	const char *p;
	size_t n;
};

struct tctx {
	const char *line;
	size_t len;
	const struct rowd_limits *lim;
	struct mpbuf *out;
	struct rowd_error *err;
	const struct cmd *cmd;
	size_t pos;          /* cursor in line */
	uint32_t count;      /* entries of the request map so far */
};

struct cmd {
	const char *name;
	enum rowd_op op;
	int (*build)(struct tctx *t);
	const char *usage;
};

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

static int usage(struct tctx *t)
{
	return rowd_error_set(t->err, ROWD_EPROTO, "usage: %s", t->cmd->usage);
}

static int nomem(struct tctx *t)
{
	return rowd_error_set(t->err, ROWD_ENOMEM, "out of memory building the request");
}

/* ---- words ------------------------------------------------------------ */

/* The next raw word (quotes still in it) from the cursor. Returns 1, or 0
 * at the end of the line, or -1 on an unterminated quote. */
static int next_word(struct tctx *t, struct word *w)
{
	size_t i = t->pos;
	bool quoted = false;

	while (i < t->len && is_space(t->line[i]))
		i++;
	if (i == t->len) {
		t->pos = i;
		return 0;
	}
	w->p = t->line + i;
	for (; i < t->len && (quoted || !is_space(t->line[i])); i++) {
		if (t->line[i] == '"')
			quoted = !quoted;
		else if (quoted && t->line[i] == '\\' && i + 1 < t->len &&
		         (t->line[i + 1] == '"' || t->line[i + 1] == '\\'))
			i++;
	}
	if (quoted)
		return rowd_error_set(t->err, ROWD_EPROTO, "unterminated quote in '%s'",
		                      t->cmd ? t->cmd->name : "line");
	w->n = (size_t)(t->line + i - w->p);
	t->pos = i;
	return 1;
}

static int need_word(struct tctx *t, struct word *w)
{
	int r = next_word(t, w);

	return r < 0 ? -1 : r == 0 ? usage(t) : 0;
}

static int no_more_words(struct tctx *t)
{
	struct word w;
	int r = next_word(t, &w);

	return r < 0 ? -1 : r > 0 ? usage(t) : 0;
}

/* Copies w into dst without its quotes and escapes (dst NULL: only
 * measures). The result is never longer than the word. */
static size_t unquote(const struct word *w, char *dst)
{
	size_t k = 0;
	bool quoted = false;

	for (size_t i = 0; i < w->n; i++) {
		char c = w->p[i];

		if (c == '"') {
			quoted = !quoted;
			continue;
		}
		if (quoted && c == '\\' && i + 1 < w->n && (w->p[i + 1] == '"' || w->p[i + 1] == '\\'))
			c = w->p[++i];
		if (dst)
			dst[k] = c;
		k++;
	}
	return k;
}

/* ---- values ----------------------------------------------------------- */

static int put_key(struct tctx *t, const char *k, size_t n)
{
	return mpbuf_str(t->out, k, n) < 0 ? nomem(t) : 0;
}

static int put_unquoted(struct tctx *t, const struct word *w)
{
	size_t n = unquote(w, NULL);

	if (mpbuf_reserve(t->out, n + MP_STR_HDR_MAX) < 0)
		return nomem(t);
	mp_put_str_hdr(t->out, n);
	unquote(w, t->out->data + t->out->len);
	t->out->len += n;
	return 0;
}

/* JSON when the text is valid JSON, else a plain string. Limits still
 * hold: a value that is JSON but too deep is refused, not stringified. */
static int put_value(struct tctx *t, const struct word *v)
{
	struct rowd_error jerr;

	rowd_error_clear(&jerr);
	if (v->n > 0 && proto_json_to_msgpack(v->p, v->n, t->lim, t->out, &jerr) == 0)
		return 0;
	if (jerr.code == ROWD_ELIMIT || jerr.code == ROWD_ENOMEM) {
		*t->err = jerr;
		return -1;
	}
	return put_unquoted(t, v);
}

static int put_field(struct tctx *t, const char *key, const struct word *w,
                     int (*put)(struct tctx *, const struct word *))
{
	if (put_key(t, key, strlen(key)) < 0 || put(t, w) < 0)
		return -1;
	t->count++;
	return 0;
}

/* A positive decimal integer, as H and N must be. */
static int put_count(struct tctx *t, const char *key, const char *what)
{
	struct word w;
	uint64_t v = 0;

	if (need_word(t, &w) < 0)
		return -1;
	for (size_t i = 0; i < w.n; i++) {
		unsigned d = (unsigned char)w.p[i] - '0';

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return rowd_error_set(t->err, ROWD_EPROTO, "%s: %s must be a positive integer",
			                      t->cmd->name, what);
		v = v * 10 + d;
	}
	if (v == 0)
		return rowd_error_set(t->err, ROWD_EPROTO, "%s: %s must be a positive integer",
		                      t->cmd->name, what);
	if (put_key(t, key, strlen(key)) < 0 || mpbuf_uint(t->out, v) < 0)
		return nomem(t);
	t->count++;
	return 0;
}

/* ---- key=value lists --------------------------------------------------- */

/* Where an open key=value goes. */
enum kv_dest { KV_TOP, KV_OPTIONS, KV_CODEC_OPTIONS };

static enum kv_dest open_dest(const char *k, size_t n)
{
	static const char *const top[] = { "mode", "format", "codec", "engine" };
	static const char *const codec[] = { "level", "member" };

	for (size_t i = 0; i < sizeof top / sizeof top[0]; i++) {
		if (strlen(top[i]) == n && memcmp(top[i], k, n) == 0)
			return KV_TOP;
	}
	for (size_t i = 0; i < sizeof codec / sizeof codec[0]; i++) {
		if (strlen(codec[i]) == n && memcmp(codec[i], k, n) == 0)
			return KV_CODEC_OPTIONS;
	}
	return KV_OPTIONS;
}

static int split_kv(struct tctx *t, const struct word *w, struct word *k, struct word *v)
{
	const char *eq = memchr(w->p, '=', w->n);
	const char *q = memchr(w->p, '"', w->n);

	if (!eq || eq == w->p || (q && q < eq))
		return rowd_error_set(t->err, ROWD_EPROTO, "%s: expected key=value, got '%.*s' (usage: %s)",
		                      t->cmd->name, w->n > 40 ? 40 : (int)w->n, w->p, t->cmd->usage);
	k->p = w->p;
	k->n = (size_t)(eq - w->p);
	v->p = eq + 1;
	v->n = w->n - k->n - 1;
	return 0;
}

/* Strips prefix ("from." ...) from k. NULL matches every key; "" (the
 * top level of convert) every key without a side prefix. */
static bool match_prefix(struct word *k, const char *prefix)
{
	size_t n;

	if (!prefix)
		return true;
	n = strlen(prefix);
	if (n == 0)
		return !(k->n > 5 && memcmp(k->p, "from.", 5) == 0) &&
		       !(k->n > 3 && memcmp(k->p, "to.", 3) == 0);
	if (k->n <= n || memcmp(k->p, prefix, n) != 0)
		return false;
	k->p += n;
	k->n -= n;
	return true;
}

/* Writes the key=value words from `from` on that carry prefix and belong
 * in dest (route false: every key belongs at top). Returns the entries
 * written, -1 on error. */
static int64_t put_kvs(struct tctx *t, size_t from, const char *prefix, bool route,
                       enum kv_dest dest)
{
	struct word w, k = { 0 }, v = { 0 };
	int64_t n = 0;
	int r;

	t->pos = from;
	while ((r = next_word(t, &w)) > 0) {
		if (split_kv(t, &w, &k, &v) < 0)
			return -1;
		if (!match_prefix(&k, prefix))
			continue;
		if ((route ? open_dest(k.p, k.n) : KV_TOP) != dest)
			continue;
		if (put_key(t, k.p, k.n) < 0 || put_value(t, &v) < 0)
			return -1;
		n++;
	}
	return r < 0 ? -1 : n;
}

/* A nested map (options, codec_options) of the matching key=value
 * words; left out when none match. */
static int put_kv_map(struct tctx *t, size_t from, const char *prefix,
                      enum kv_dest dest, const char *key, uint32_t *count)
{
	size_t mark = t->out->len, at;
	int64_t n;

	if (put_key(t, key, strlen(key)) < 0)
		return -1;
	if ((at = proto_map_open(t->out)) == PROTO_POS_NONE)
		return nomem(t);
	if ((n = put_kvs(t, from, prefix, true, dest)) < 0)
		return -1;
	if (n == 0) {
		t->out->len = mark;
		return 0;
	}
	proto_map_close(t->out, at, (uint32_t)n);
	(*count)++;
	return 0;
}

/* The open fields of `path` plus the key=value words from `from`. */
static int put_open_fields(struct tctx *t, const struct word *path, size_t from,
                           const char *prefix, uint32_t *count)
{
	int64_t n;

	if (put_key(t, "path", 4) < 0 || put_unquoted(t, path) < 0)
		return -1;
	(*count)++;
	if ((n = put_kvs(t, from, prefix, true, KV_TOP)) < 0)
		return -1;
	*count += (uint32_t)n;
	if (put_kv_map(t, from, prefix, KV_OPTIONS, "options", count) < 0 ||
	    put_kv_map(t, from, prefix, KV_CODEC_OPTIONS, "codec_options", count) < 0)
		return -1;
	return 0;
}

/* ---- commands ----------------------------------------------------------- */

static int build_plain(struct tctx *t)
{
	return no_more_words(t);
}

static int build_handle(struct tctx *t)
{
	return put_count(t, "handle", "H") < 0 ? -1 : no_more_words(t);
}

static int build_read_bulk(struct tctx *t)
{
	if (put_count(t, "handle", "H") < 0 || put_count(t, "n", "N") < 0)
		return -1;
	return no_more_words(t);
}

static int build_path(struct tctx *t)
{
	struct word w;

	if (need_word(t, &w) < 0 || put_field(t, "path", &w, put_unquoted) < 0)
		return -1;
	return no_more_words(t);
}

static int build_open(struct tctx *t)
{
	struct word path;

	if (need_word(t, &path) < 0)
		return -1;
	return put_open_fields(t, &path, t->pos, NULL, &t->count);
}

static int build_stream(struct tctx *t)
{
	int64_t n;

	if (put_count(t, "handle", "H") < 0 || (n = put_kvs(t, t->pos, NULL, false, KV_TOP)) < 0)
		return -1;
	t->count += (uint32_t)n;
	return 0;
}

static int build_cancel(struct tctx *t)
{
	struct word w;

	if (need_word(t, &w) < 0 || put_field(t, "target", &w, put_value) < 0)
		return -1;
	return no_more_words(t);
}

/* write H {row} / write_bulk H [rows]: the rest of the line is JSON. */
static int build_write(struct tctx *t)
{
	const char *key = t->cmd->op == OP_WRITE ? "row" : "rows";
	size_t i;

	if (put_count(t, "handle", "H") < 0)
		return -1;
	for (i = t->pos; i < t->len && is_space(t->line[i]); i++)
		;
	if (i == t->len)
		return usage(t);
	if (put_key(t, key, strlen(key)) < 0)
		return -1;
	if (proto_json_to_msgpack(t->line + i, t->len - i, t->lim, t->out, t->err) < 0) {
		if (t->err->code == ROWD_EFORMAT)
			t->err->code = ROWD_EPROTO;
		if (t->err->offset >= 0)
			t->err->offset += (int64_t)i;
		return -1;
	}
	t->count++;
	return 0;
}

static int put_side(struct tctx *t, const char *key, const struct word *path,
                    size_t from, const char *prefix)
{
	uint32_t n = 0;
	size_t at;

	if (put_key(t, key, strlen(key)) < 0)
		return -1;
	if ((at = proto_map_open(t->out)) == PROTO_POS_NONE)
		return nomem(t);
	if (put_open_fields(t, path, from, prefix, &n) < 0)
		return -1;
	proto_map_close(t->out, at, n);
	t->count++;
	return 0;
}

static int build_convert(struct tctx *t)
{
	struct word src, dst;
	size_t kvs;
	int64_t n;

	if (need_word(t, &src) < 0 || need_word(t, &dst) < 0)
		return -1;
	kvs = t->pos;
	if (put_side(t, "from", &src, kvs, "from.") < 0 || put_side(t, "to", &dst, kvs, "to.") < 0)
		return -1;
	if ((n = put_kvs(t, kvs, "", false, KV_TOP)) < 0)
		return -1;
	t->count += (uint32_t)n;
	return 0;
}

static const struct cmd cmds[] = {
	{ "help", OP_HELP, build_plain, "help" },
	{ "ping", OP_PING, build_plain, "ping" },
	{ "hello", OP_HELLO, build_plain, "hello" },
	{ "stats", OP_STATS, build_plain, "stats" },
	{ "open", OP_OPEN, build_open, "open PATH [key=value ...]" },
	{ "read", OP_READ, build_handle, "read H" },
	{ "read_bulk", OP_READ_BULK, build_read_bulk, "read_bulk H N" },
	{ "stream", OP_STREAM, build_stream, "stream H [batch=N] [limit=N] [progress=true]" },
	{ "cancel", OP_CANCEL, build_cancel, "cancel ID" },
	{ "write", OP_WRITE, build_write, "write H {\"col\": \"value\", ...}" },
	{ "write_bulk", OP_WRITE_BULK, build_write, "write_bulk H [{...}, ...]" },
	{ "reset", OP_RESET, build_handle, "reset H" },
	{ "totals", OP_TOTALS, build_handle, "totals H" },
	{ "close", OP_CLOSE, build_handle, "close H" },
	{ "convert", OP_CONVERT, build_convert,
	  "convert FROM TO [from.key=value] [to.key=value] [batch=N] [progress=true]" },
	{ "detect", OP_DETECT, build_path, "detect PATH" },
	{ "tables", OP_TABLES, build_path, "tables PATH" },
};

static const struct cmd *find_cmd(const struct word *w)
{
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		if (strlen(cmds[i].name) == w->n && strncasecmp(cmds[i].name, w->p, w->n) == 0)
			return &cmds[i];
	}
	return NULL;
}

static int inline_command(struct tctx *t)
{
	struct word w;
	size_t at;

	if (next_word(t, &w) <= 0)
		return -1;
	t->cmd = find_cmd(&w);
	if (!t->cmd)
		return rowd_error_set(t->err, ROWD_EPROTO, "unknown command '%.*s' (try help)",
		                      w.n > 40 ? 40 : (int)w.n, w.p);
	if ((at = proto_map_open(t->out)) == PROTO_POS_NONE)
		return nomem(t);
	if (put_key(t, "op", 2) < 0 || mpbuf_cstr(t->out, t->cmd->name) < 0)
		return nomem(t);
	t->count = 1;
	if (t->cmd->build(t) < 0)
		return -1;
	proto_map_close(t->out, at, t->count);
	return 0;
}

static int json_request(struct tctx *t, size_t from)
{
	if (proto_json_to_msgpack(t->line + from, t->len - from, t->lim, t->out, t->err) == 0)
		return 0;
	/* A bad line is a bad request, whatever made it bad. */
	if (t->err->code == ROWD_EFORMAT)
		t->err->code = ROWD_EPROTO;
	if (t->err->offset >= 0)
		t->err->offset += (int64_t)from;
	return -1;
}

/* A request is held to the limits of a binary frame, however it was
 * spelt: JSON values of key=value words and write rows sit below the
 * request map (and options maps), so each may be within the depth limit
 * while the whole is not, and msgpack-c could not unpack it. */
static int within_frame_limits(const char *p, size_t n, const struct rowd_limits *lim,
                               struct rowd_error *err)
{
	struct proto_scanner sc;
	size_t flen = 0;

	proto_scanner_init(&sc);
	if (proto_scan(&sc, p, n, lim, &flen, err) == 1 && flen == n)
		return 0;
	if (err->code == ROWD_OK)
		rowd_error_set(err, ROWD_EPROTO, "the request is not one msgpack object");
	err->offset = -1;      /* a position in the msgpack, not in the line */
	return -1;
}

int proto_text_to_request(const char *line, size_t len, const struct rowd_limits *lim,
                          struct mpbuf *out, struct rowd_error *err)
{
	struct tctx t = { .line = line, .lim = lim, .out = out, .err = err };
	size_t start = out->len, from = 0;
	int r;

	if (len > lim->text_line)
		return rowd_error_set(err, ROWD_ELIMIT,
		                      "line of %zu bytes exceeds the text_line limit (%zu)",
		                      len, lim->text_line);
	while (len > 0 && (line[len - 1] == '\r' || is_space(line[len - 1])))
		len--;
	while (from < len && is_space(line[from]))
		from++;
	if (from == len)
		return rowd_error_set(err, ROWD_EPROTO, "empty line (try help)");
	t.len = len;
	t.pos = from;
	r = line[from] == '{' ? json_request(&t, from) : inline_command(&t);
	if (r == 0)
		r = within_frame_limits(out->data + start, out->len - start, lim, err);
	if (r < 0)
		out->len = start;
	return r;
}

const char *proto_text_help(void)
{
	return
	"rowd text mode: one request per line, one JSON answer per line.\n"
	"A line is a JSON request ({\"op\":\"read\",\"handle\":1,\"id\":7}) or a command:\n"
	"  help | ping | hello | stats\n"
	"  open PATH [key=value ...]   mode=r|w format= codec= engine=, level= member=\n"
	"                              go to codec_options, other keys to options\n"
	"  read H                      next row, or eof\n"
	"  read_bulk H N               up to N rows\n"
	"  stream H [batch=N] [limit=N] [progress=true]\n"
	"  cancel ID                   stop a stream or convert by its id\n"
	"  write H {JSON row}          write_bulk H [JSON rows]\n"
	"  reset H | totals H | close H\n"
	"  convert FROM TO [from.key=value] [to.key=value] [batch=N]\n"
	"  detect PATH | tables PATH\n"
	"Values are JSON when they parse as JSON (header=false, fieldnames=[\"a\",\"b\"]),\n"
	"else text (delimiter=;). Quote paths with spaces: open \"my file.csv\"\n"
	"Example:\n"
	"  open sample.csv\n"
	"  read_bulk 1 3\n"
	"  close 1\n";
}
