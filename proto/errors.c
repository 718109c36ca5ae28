/* Error values, default limits and op names of protocol v1. */
#include "rowd_proto.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Indexed by enum rowd_err: the strings are part of the protocol. */
static const char *const err_names[ROWD_ERR_COUNT] = {
	[ROWD_OK] = "OK",
	[ROWD_EPROTO] = "EPROTO",
	[ROWD_EINVAL] = "EINVAL",
	[ROWD_ENOENT] = "ENOENT",
	[ROWD_EACCES] = "EACCES",
	[ROWD_EFORMAT] = "EFORMAT",
	[ROWD_ECODEC] = "ECODEC",
	[ROWD_ELIMIT] = "ELIMIT",
	[ROWD_EBADHANDLE] = "EBADHANDLE",
	[ROWD_ENOTSUP] = "ENOTSUP",
	[ROWD_EBUSY] = "EBUSY",
	[ROWD_EIO] = "EIO",
	[ROWD_ECANCELLED] = "ECANCELLED",
	[ROWD_ENOMEM] = "ENOMEM",
	[ROWD_ESHUTDOWN] = "ESHUTDOWN",
	[ROWD_EEXIST] = "EEXIST",
};

static const char *const op_names[OP_COUNT] = {
	[OP_HELLO] = "hello",
	[OP_PING] = "ping",
	[OP_OPEN] = "open",
	[OP_READ] = "read",
	[OP_READ_BULK] = "read_bulk",
	[OP_STREAM] = "stream",
	[OP_CANCEL] = "cancel",
	[OP_WRITE] = "write",
	[OP_WRITE_BULK] = "write_bulk",
	[OP_RESET] = "reset",
	[OP_TOTALS] = "totals",
	[OP_CLOSE] = "close",
	[OP_CONVERT] = "convert",
	[OP_DETECT] = "detect",
	[OP_TABLES] = "tables",
	[OP_STATS] = "stats",
	[OP_HELP] = "help",
};

const char *rowd_err_name(enum rowd_err code)
{
	if ((unsigned)code >= ROWD_ERR_COUNT)
		return "EPROTO";
	return err_names[code];
}

enum rowd_err rowd_err_from_name(const char *name, size_t len)
{
	for (int i = 0; i < ROWD_ERR_COUNT; i++) {
		if (strlen(err_names[i]) == len && memcmp(err_names[i], name, len) == 0)
			return (enum rowd_err)i;
	}
	/* A code from a newer server is still an error the caller must see,
	 * never OK. */
	return ROWD_EPROTO;
}

void rowd_error_clear(struct rowd_error *e)
{
	e->code = ROWD_OK;
	e->message[0] = '\0';
	e->line = -1;
	e->row = -1;
	e->offset = -1;
}

int rowd_error_set(struct rowd_error *e, enum rowd_err code, const char *fmt, ...)
{
	va_list ap;

	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof e->message, fmt, ap);
	va_end(ap);
	return -1;
}

/* The scanner keeps one counter per level in a fixed array, so the
 * default must fit it. */
#define DEFAULT_DEPTH 32
_Static_assert(DEFAULT_DEPTH <= PROTO_SCAN_MAX_DEPTH, "default depth too deep");

void rowd_limits_default(struct rowd_limits *l)
{
	l->frame_bytes = 16u << 20;
	l->text_line = 1u << 20;
	l->depth = DEFAULT_DEPTH;
	l->elements = 1000000;
	l->str_bytes = 8u << 20;
	l->row_bytes = 4u << 20;
	l->batch_rows = 100000;
	l->handles_per_conn = 256;
	l->connections = 1024;
	l->queued_jobs = 4096;
	l->out_high = 4u << 20;
	l->out_low = 1u << 20;
	l->idle_timeout = 0;
}

const char *rowd_op_name(enum rowd_op op)
{
	if ((unsigned)op >= OP_COUNT)
		return "?";
	return op_names[op];
}
