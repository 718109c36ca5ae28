/* JSON Lines (.jsonl, .ndjson): one JSON object per line.
 *
 * Reader: lines are found with memchr in the input window and each one is
 * handed whole to proto_json_to_msgpack, which packs it straight into the
 * answer buffer. A line is independent of the others, so a bad line can be
 * skipped (on_error: skip) without losing the rest of the file.
 * Writer: proto_object_to_json per row, one line each.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yajl/yajl_parse.h>

#include "format.h"
#include "options.h"

static const char *const jsonl_rd_known[] = { "on_error", "encoding", NULL };
static const char *const jsonl_wr_known[] = { "encoding", NULL };
static const char *const on_error_choices[] = { "raise", "skip", NULL };

struct jsonl_rd {
	struct input *in;
	const struct rowd_limits *lim;
	bool skip_bad;          /* on_error: "skip" */
	bool started;           /* leading BOM handled */
	uint64_t line;          /* lines consumed so far */
	uint64_t row;           /* non-blank lines seen so far */
	size_t scanned;         /* bytes at in->start known to hold no '\n' */
	int state;              /* 0 reading, 1 exhausted, -1 failed (err) */
	struct rowd_error err;  /* why it failed: a failed reader stays failed */
};

struct jsonl_wr {
	struct output *out;
};

/* The formats read and write UTF-8 only; an explicit other encoding is a
 * request we cannot honour, so it is refused rather than ignored. */
static int check_encoding(const msgpack_object *opts, struct rowd_error *err)
{
	const char *s;
	size_t n;
	int rc = opts_str(opts, "encoding", &s, &n, err);

	if (rc <= 0)
		return rc;
	if ((n == 5 && strncasecmp(s, "utf-8", 5) == 0) ||
	    (n == 4 && strncasecmp(s, "utf8", 4) == 0))
		return 0;
	return rowd_error_set(err, ROWD_ENOTSUP,
	                      "encoding '%.*s' is not supported by format jsonl: it is UTF-8 only",
	                      (int)(n > 64 ? 64 : n), s);
}

static int jsonl_rd_open(const struct fmt_args *a, void **state, struct rowd_error *err)
{
	struct jsonl_rd *r;
	int idx = 0;

	if (opts_check_known(a->options, jsonl_rd_known, "format jsonl", err) < 0 ||
	    check_encoding(a->options, err) < 0 ||
	    opts_choice(a->options, "on_error", on_error_choices, &idx, err) < 0)
		return -1;
	r = calloc(1, sizeof *r);
	if (!r)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory for the jsonl reader");
	r->in = a->in;
	r->lim = a->limits;
	r->skip_bad = idx == 1;
	rowd_error_clear(&r->err);
	*state = r;
	return 0;
}

/* Drops a UTF-8 byte order mark at the start of the stream. */
static int drop_bom(struct jsonl_rd *r, struct rowd_error *err)
{
	struct input *in = r->in;

	while (input_avail(in) < 3 && !in->eof)
		if (input_fill(in, err) < 0)
			return -1;
	if (input_avail(in) >= 3 && memcmp(input_ptr(in), "\xef\xbb\xbf", 3) == 0)
		input_consume(in, 3);
	r->started = true;
	return 0;
}

static int line_too_long(struct jsonl_rd *r, struct rowd_error *err)
{
	err->line = (int64_t)r->line + 1;
	err->row = (int64_t)r->row + 1;
	err->offset = (int64_t)r->in->consumed;
	return rowd_error_set(err, ROWD_ELIMIT, "line %llu: longer than the row_bytes limit (%zu)",
	                      (unsigned long long)r->line + 1, r->lim->row_bytes);
}

/* Finds the next line (without its '\n') and consumes it; the bytes stay
 * valid until the next input_fill. Returns 1, 0 at the end, -1 on error.
 * r->scanned makes a long line cost one scan, not one per refill. */
static int next_line(struct jsonl_rd *r, const char **line, size_t *len,
                     struct rowd_error *err)
{
	struct input *in = r->in;

	for (;;) {
		const char *p = input_ptr(in);
		size_t avail = input_avail(in);
		const char *nl = memchr(p + r->scanned, '\n', avail - r->scanned);
		size_t n = nl ? (size_t)(nl - p) : avail;

		if (n > r->lim->row_bytes)
			return line_too_long(r, err);
		if (nl || (in->eof && avail)) {
			*line = p;
			*len = n;
			input_consume(in, n + (nl ? 1 : 0));
			r->scanned = 0;
			r->line++;
			return 1;
		}
		if (in->eof)
			return 0;
		r->scanned = avail;
		if (input_fill(in, err) < 0)
			return err->code == ROWD_ELIMIT ? line_too_long(r, err) : -1;
	}
}

static const char *json_kind(char c)
{
	switch (c) {
	case '[': return "an array";
	case '"': return "a string";
	case 't': case 'f': return "a boolean";
	case 'n': return "null";
	default:
		return (c == '-' || (c >= '0' && c <= '9')) ? "a number" : "invalid JSON";
	}
}

static bool is_map_byte(unsigned char c)
{
	return (c >= 0x80 && c <= 0x8f) || c == 0xde || c == 0xdf;
}

/* Turns the parser's error for one line into the reader's: "line N: ..."
 * with the position in the file. */
static void line_error(const struct jsonl_rd *r, struct rowd_error *err,
                       const struct rowd_error *e, uint64_t line_off)
{
	err->line = (int64_t)r->line;
	err->row = (int64_t)r->row;
	err->offset = (int64_t)line_off + (e->offset > 0 ? e->offset : 0);
	rowd_error_set(err, e->code, "line %llu: %s", (unsigned long long)r->line, e->message);
}

/* Packs one line as a row. Returns 1 for a row, 0 for a blank line, -1
 * with err set (out rolled back to where the row began). */
static int pack_line(struct jsonl_rd *r, const char *p, size_t n, uint64_t line_off,
                     struct mpbuf *out, struct rowd_error *err)
{
	size_t row_start = out->len;
	struct rowd_error e;
	size_t i = 0;

	while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r'))
		i++;
	if (i == n)
		return 0;
	r->row++;
	rowd_error_clear(&e);
	/* Only an object can be a row: say so without running the parser. */
	if (p[i] != '{') {
		rowd_error_set(&e, ROWD_EFORMAT, "expected a JSON object, got %s", json_kind(p[i]));
		e.offset = (int64_t)i;
	} else if (proto_json_to_msgpack(p, n, r->lim, out, &e) == 0) {
		if (!is_map_byte((unsigned char)out->data[row_start]))
			rowd_error_set(&e, ROWD_EFORMAT, "expected one JSON object on the line");
		else if (out->len - row_start > r->lim->row_bytes)
			rowd_error_set(&e, ROWD_ELIMIT, "the row packs to more than the row_bytes limit (%zu)",
			               r->lim->row_bytes);
		else
			return 1;
	}
	out->len = row_start;
	line_error(r, err, &e, line_off);
	return -1;
}

static int jsonl_fail(struct jsonl_rd *r, struct rowd_error *err)
{
	r->state = -1;
	r->err = *err;
	return -1;
}

static int jsonl_rd_next(void *state, struct mpbuf *out, size_t max, size_t *nrows,
                         uint64_t *skipped, struct rowd_error *err)
{
	struct jsonl_rd *r = state;
	size_t n = 0;

	*nrows = 0;
	if (r->state < 0) {
		*err = r->err;
		return -1;
	}
	if (r->state > 0)
		return 1;
	if (!r->started && drop_bom(r, err) < 0)
		return jsonl_fail(r, err);
	while (n < max) {
		uint64_t line_off = r->in->consumed;
		const char *line = NULL;
		size_t len = 0;
		int rc = next_line(r, &line, &len, err);

		if (rc == 0) {
			r->state = 1;
			break;
		}
		if (rc > 0)
			rc = pack_line(r, line, len, line_off, out, err);
		if (rc > 0) {
			n++;
		} else if (rc < 0) {
			if (err->code == ROWD_EFORMAT && r->skip_bad) {
				++*skipped;
				rowd_error_clear(err);
				continue;
			}
			*nrows = n;
			return jsonl_fail(r, err);
		}
	}
	*nrows = n;
	return r->state;
}

static void jsonl_rd_close(void *state)
{
	free(state);
}

static int jsonl_wr_open(const struct fmt_args *a, void **state, struct rowd_error *err)
{
	struct jsonl_wr *w;

	if (opts_check_known(a->options, jsonl_wr_known, "format jsonl", err) < 0 ||
	    check_encoding(a->options, err) < 0)
		return -1;
	w = calloc(1, sizeof *w);
	if (!w)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory for the jsonl writer");
	w->out = a->out;
	*state = w;
	return 0;
}

static int jsonl_wr_row(void *state, const msgpack_object *row, struct rowd_error *err)
{
	struct jsonl_wr *w = state;
	size_t start = w->out->buf.len;

	if (row->type != MSGPACK_OBJECT_MAP)
		return rowd_error_set(err, ROWD_EINVAL, "a row must be a map");
	if (proto_object_to_json(row, &w->out->buf) < 0 ||
	    mpbuf_append(&w->out->buf, "\n", 1) < 0) {
		w->out->buf.len = start;
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory writing a row");
	}
	return output_flush_if_full(w->out, err);
}

static int jsonl_wr_finish(void *state, struct rowd_error *err)
{
	return 0;
}

static void jsonl_wr_close(void *state)
{
	free(state);
}

/* Is p[0..n) exactly one complete JSON value? */
static bool one_json_value(const char *p, size_t n)
{
	yajl_handle h = yajl_alloc(NULL, NULL, NULL);
	bool ok;

	if (!h)
		return false;
	ok = yajl_parse(h, (const unsigned char *)p, n) == yajl_status_ok &&
	     yajl_complete_parse(h) == yajl_status_ok;
	yajl_free(h);
	return ok;
}

/* JSON Lines when the first line is a whole object on its own; a lone
 * object line could also be a .json file, hence a middling score then. */
static int jsonl_probe(const char *head, size_t n)
{
	size_t i = 0;
	const char *nl;
	size_t j;

	if (n >= 3 && memcmp(head, "\xef\xbb\xbf", 3) == 0)
		i = 3;
	while (i < n && (head[i] == ' ' || head[i] == '\t' || head[i] == '\r' || head[i] == '\n'))
		i++;
	if (i == n || head[i] != '{')
		return 0;
	nl = memchr(head + i, '\n', n - i);
	if (!nl)
		return one_json_value(head + i, n - i) ? 55 : 0;
	if (!one_json_value(head + i, (size_t)(nl - head) - i))
		return 0;
	for (j = (size_t)(nl - head) + 1; j < n; j++)
		if (head[j] != ' ' && head[j] != '\t' && head[j] != '\r' && head[j] != '\n')
			return head[j] == '{' ? 90 : 30;
	return 55;
}

static const char *const jsonl_extensions[] = { "jsonl", "ndjson", NULL };

const struct format_ops format_jsonl = {
	.name = "jsonl",
	.extensions = jsonl_extensions,
	.caps = FMT_CAP_READ | FMT_CAP_WRITE | FMT_CAP_TOTALS | FMT_CAP_NESTED | FMT_CAP_STREAM,
	.probe = jsonl_probe,
	.rd_open = jsonl_rd_open,
	.rd_next = jsonl_rd_next,
	.rd_columns = NULL,
	.rd_close = jsonl_rd_close,
	.wr_open = jsonl_wr_open,
	.wr_row = jsonl_wr_row,
	.wr_finish = jsonl_wr_finish,
	.wr_close = jsonl_wr_close,
};
