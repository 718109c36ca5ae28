/* rowd wire protocol v1: error codes, limits, request decoding, answer
 * encoding, the text (JSON lines / inline command) encoding.
 *
 * proto/ knows nothing of sockets or event loops: bytes in, messages out.
 * Both the daemon and librowd link it.
 */
#ifndef ROWD_PROTO_H
#define ROWD_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <msgpack.h>

#include "mpbuf.h"

#define ROWD_PROTOCOL_VERSION 1

/* ---- errors ------------------------------------------------------------ */

enum rowd_err {
	ROWD_OK = 0,
	ROWD_EPROTO,      /* undecodable frame or request */
	ROWD_EINVAL,      /* bad field or option value */
	ROWD_ENOENT,      /* no such file */
	ROWD_EACCES,      /* outside the roots, or permission */
	ROWD_EFORMAT,     /* bad row / file content */
	ROWD_ECODEC,      /* corrupt or truncated compressed stream */
	ROWD_ELIMIT,      /* a configured limit was exceeded */
	ROWD_EBADHANDLE,  /* unknown handle, or wrong mode for the op */
	ROWD_ENOTSUP,     /* op/format/codec not supported */
	ROWD_EBUSY,       /* handle busy (e.g. streaming) */
	ROWD_EIO,         /* I/O error */
	ROWD_ECANCELLED,  /* cancelled by the client or a disconnect */
	ROWD_ENOMEM,      /* allocation failed */
	ROWD_ESHUTDOWN,   /* daemon is stopping */
	ROWD_EEXIST,      /* target exists / is a directory */
	ROWD_ERR_COUNT
};

/* Stable code string ("EPROTO", ...). */
const char *rowd_err_name(enum rowd_err code);
/* Inverse of rowd_err_name; ROWD_EPROTO for unknown names. */
enum rowd_err rowd_err_from_name(const char *name, size_t len);

#define ROWD_ERRMSG_MAX 256

/* An error as a value. line/row/offset are -1 when they do not apply. */
struct rowd_error {
	enum rowd_err code;
	char message[ROWD_ERRMSG_MAX];
	int64_t line;
	int64_t row;
	int64_t offset;
};

void rowd_error_clear(struct rowd_error *e);
/* Sets code + printf message, leaves line/row/offset alone. Returns -1 so
 * that callers can write `return rowd_error_set(err, ...)`. */
int rowd_error_set(struct rowd_error *e, enum rowd_err code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- limits ------------------------------------------------------------ */

struct rowd_limits {
	size_t frame_bytes;      /* one binary request */
	size_t text_line;        /* one text request line */
	size_t depth;            /* msgpack/JSON nesting */
	size_t elements;         /* entries of one array or map */
	size_t str_bytes;        /* one string/bin */
	size_t row_bytes;        /* one row (source record or packed row) */
	size_t batch_rows;       /* n of read_bulk, rows of write_bulk, stream batch */
	size_t handles_per_conn;
	size_t connections;
	size_t queued_jobs;
	size_t out_high;         /* output buffer high watermark per connection */
	size_t out_low;
	unsigned idle_timeout;   /* seconds, 0 = none */
};

void rowd_limits_default(struct rowd_limits *l);

/* ---- binary framing ---------------------------------------------------- */

/* Resumable scanner that finds the end of one msgpack object in a byte
 * stream, enforcing the limits before anything is allocated. */
#define PROTO_SCAN_MAX_DEPTH 64
struct proto_scanner {
	size_t pos;                               /* bytes accepted so far */
	unsigned depth;
	uint64_t left[PROTO_SCAN_MAX_DEPTH + 1];  /* items still due per level */
};

void proto_scanner_init(struct proto_scanner *s);
/* Scans p[0..n) (the whole frame so far, from its first byte; n grows
 * between calls). Returns 1 and sets *frame_len when a complete object
 * ends, 0 when more bytes are needed, -1 with err (EPROTO for reserved
 * bytes, ELIMIT naming the limit) when the frame must be refused. */
int proto_scan(struct proto_scanner *s, const char *p, size_t n,
               const struct rowd_limits *lim, size_t *frame_len,
               struct rowd_error *err);

/* ---- requests ---------------------------------------------------------- */

enum rowd_op {
	OP_HELLO, OP_PING, OP_OPEN, OP_READ, OP_READ_BULK, OP_STREAM, OP_CANCEL,
	OP_WRITE, OP_WRITE_BULK, OP_RESET, OP_TOTALS, OP_CLOSE, OP_CONVERT,
	OP_DETECT, OP_TABLES, OP_STATS, OP_HELP,
	OP_COUNT
};

const char *rowd_op_name(enum rowd_op op);

/* Fields of an open (also the `from`/`to` of convert; detect/tables use
 * only path). Pointers reference the decoded msgpack object. */
struct rowd_open_spec {
	const char *path;
	size_t path_len;
	char mode;                        /* 'r' or 'w' */
	const char *format; size_t format_len;   /* NULL = detect */
	const char *codec; size_t codec_len;     /* NULL = detect */
	const char *engine; size_t engine_len;   /* NULL = internal */
	const msgpack_object *options;           /* map or NULL */
	const msgpack_object *codec_options;     /* map or NULL */
};

#define ROWD_ID_MAX 64   /* packed bytes of a request id */

struct rowd_request {
	enum rowd_op op;
	/* The id, re-packed (msgpack bytes), echoed in every answer. */
	char id_raw[ROWD_ID_MAX];
	size_t id_len;
	uint32_t handle;
	uint64_t n;                       /* read_bulk */
	uint64_t batch, limit;            /* stream/convert; 0 = default/none */
	bool progress;
	const msgpack_object *row;        /* write: a map */
	const msgpack_object *rows;       /* write_bulk: array of maps */
	char target_raw[ROWD_ID_MAX];     /* cancel: packed id of the target */
	size_t target_len;
	struct rowd_open_spec open;       /* open, detect, tables; convert from */
	struct rowd_open_spec to;         /* convert */
};

/* Decodes and type-checks a request map. On failure err is set and, if
 * the id could be read, req->id_raw/id_len hold it (else id_len = 0 and
 * the answer carries id nil). */
int proto_request_decode(const msgpack_object *obj, const struct rowd_limits *lim,
                         struct rowd_request *req, struct rowd_error *err);

/* ---- answers ----------------------------------------------------------- */

/* Answers are msgpack maps. A map is opened with a fixed-width map32
 * header and patched when closed, so fields can be added as they come. */
size_t proto_map_open(struct mpbuf *b);
void proto_map_close(struct mpbuf *b, size_t at, uint32_t count);
size_t proto_array_open(struct mpbuf *b);
void proto_array_close(struct mpbuf *b, size_t at, uint32_t count);

/* Starts an answer: map opened, `id` and `ok` written. Returns the map
 * position; *count is 2. Caller adds fields and closes with count. */
size_t proto_answer_begin(struct mpbuf *b, const char *id_raw, size_t id_len,
                          bool ok, uint32_t *count);
/* A complete error answer {id, ok:false, error:{code,message,line?,row?,offset?}}. */
int proto_answer_error(struct mpbuf *b, const char *id_raw, size_t id_len,
                       const struct rowd_error *err);
/* The same with error.path (the client's path, for file errors). */
int proto_answer_error_path(struct mpbuf *b, const char *id_raw, size_t id_len,
                            const struct rowd_error *err, const char *path, size_t path_len);

/* ---- text encoding ----------------------------------------------------- */

/* Turns one text line (without the newline) into a msgpack request map:
 * a JSON object is converted as is; otherwise an inline command (`open
 * PATH k=v`, `read_bulk 1 3`, ...). Output is appended to out. */
int proto_text_to_request(const char *line, size_t len, const struct rowd_limits *lim,
                          struct mpbuf *out, struct rowd_error *err);

/* Help text for the text mode `help` command. */
const char *proto_text_help(void);

/* Converts one msgpack object (an answer) to one JSON line ending in '\n',
 * appended to out. Binary strings become base64-free escaped strings,
 * non-finite floats become null. */
int proto_msgpack_to_json(const char *p, size_t n, struct mpbuf *out,
                          struct rowd_error *err);
/* Same from an already decoded object. */
int proto_object_to_json(const msgpack_object *o, struct mpbuf *out);

/* Parses one JSON text into msgpack appended to out (numbers: integers
 * as int/uint, others as float64). Enforces depth/element/string limits.
 * Returns -1 with EFORMAT (message from the parser, offset set) on bad
 * JSON. Used for text requests and by the JSON Lines reader. */
int proto_json_to_msgpack(const char *p, size_t n, const struct rowd_limits *lim,
                          struct mpbuf *out, struct rowd_error *err);

/* ---- small helpers ----------------------------------------------------- */

/* Length of the valid UTF-8 sequence starting with the non-ASCII byte at
 * s (no overlongs, surrogates or code points above U+10FFFF), 0 when
 * invalid. */
size_t proto_utf8_seq_len(const unsigned char *s, size_t n);
/* Offset of the first invalid byte, or n when all of s is valid. */
size_t proto_utf8_prefix(const void *s, size_t n);
bool proto_utf8_valid(const void *s, size_t n);

/* Finds key in a msgpack map; NULL when absent or o is not a map. */
const msgpack_object *proto_map_get(const msgpack_object *o, const char *key);
bool proto_str_eq(const msgpack_object *o, const char *s);

/* ---- additions ------------------------------------------------------- */

/* Returned by proto_map_open, proto_array_open and proto_answer_begin when
 * the buffer cannot grow (ENOMEM); closing it is a no-op. */
#define PROTO_POS_NONE ((size_t)-1)

#endif
