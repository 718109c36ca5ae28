/* SQLite databases (.sqlite, .sqlite3, .db): rows of one table or query
 * in, one table out.
 *
 * Files are reached only through the fds the daemon opened beneath its
 * roots, never by a path name of their own. SQLite's unix VFS resolves
 * symbolic links itself: given /proc/self/fd/N it reads the link and opens
 * the file's path again (outside the RESOLVE_BENEATH check, and failing
 * for a file renamed or deleted since), and it opens with O_NOFOLLOW,
 * which refuses the magic link itself. So a small VFS, "rowd", stands in
 * front of the default one:
 *  - a main database named exactly "/proc/self/fd/N" and opened read-only
 *    is served from a dup of fd N with pread. It takes no locks and says
 *    it is immutable, so SQLite looks for no journal, WAL or -shm file
 *    beside it and creates none (the directory may not be writable). The
 *    price: changes still in the WAL of a live writer are not seen, only
 *    what was checkpointed into the file.
 *  - every other name goes to the default VFS as it is (the full path name
 *    of an absolute name is the name itself), so the writer's
 *    "/proc/self/fd/D/.NAME.rowd-tmp-XXXXXX" is opened beneath directory
 *    fd D, its last component a plain file.
 *
 * Reader. Option `table` (a table or view), or `query`: one read-only
 * statement that returns rows; by default the first table of the schema
 * (sqlite_master in rowid order, internal sqlite_* tables left out; a
 * database without tables has no rows). A query is prepared under an
 * authorizer that allows reading and functions only, and must be
 * read-only (sqlite3_stmt_readonly) with nothing after it: so no ATTACH,
 * PRAGMA or write hides in it. Hostile files are expected: defensive
 * mode, an untrusted schema, cell size checks, and a value length limit of
 * row_bytes (a larger value is ELIMIT instead of an allocation). Values
 * map INTEGER -> int, REAL -> float64, TEXT -> str (invalid UTF-8 is
 * EFORMAT naming the row and column; on_error "skip" skips the row), BLOB
 * -> bin, NULL -> nil, packed straight into the answer. Column names
 * repeated in a query give one key, the last column's value, at the first
 * one's place (as a Python dict built from the row would).
 *
 * Writer. The target is always a new database (the temp file close
 * renames over it): it holds one table, named by option `table` or else
 * after the target file (its name without the extension, characters
 * outside [A-Za-z0-9_] made '_', a '_' in front of a leading digit or
 * "sqlite_", "data" when nothing is left). The table's columns are the
 * first row's keys, with affinities from its values (int/bool INTEGER,
 * float REAL, str TEXT, bin BLOB, map/array TEXT holding JSON, nil none);
 * keys that differ only in ASCII case are one column, as SQLite sees
 * them. A later row may leave columns out (NULL); a key that is not a
 * column is EINVAL, or a new column with option `add_columns: true`.
 * Values SQLite cannot hold as they are (integers above INT64_MAX, str
 * that is not UTF-8, ext) are EINVAL rather than changed. A refused row
 * writes nothing and the writer goes on with the next. DESIGN asks for one transaction per write_bulk
 * committed on close: here all rows go into one transaction committed in
 * wr_finish, just before close fsyncs and renames the file, so the target
 * changes at once, or not at all, either way. No journal is kept and
 * nothing is synced by SQLite: a failed write is discarded with the whole
 * temp file, and close fsyncs what SQLite wrote once its connection is
 * closed.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sqlite3.h>

#include "format.h"
#include "mpbin.h"
#include "options.h"

#define ROWD_VFS "rowd"
#define FD_PREFIX "/proc/self/fd/"

/* ---- the VFS ------------------------------------------------------------ */

struct fd_file {
	sqlite3_file base;
	int fd;
};

static sqlite3_vfs *vfs_default;
static sqlite3_vfs vfs_rowd;
static pthread_once_t vfs_once = PTHREAD_ONCE_INIT;
static int vfs_status = SQLITE_ERROR;

static int fdf_close(sqlite3_file *f)
{
	close(((struct fd_file *)f)->fd);
	return SQLITE_OK;
}

/* SQLite wants a short read zero-filled and reported as such. */
static int fdf_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off)
{
	int fd = ((struct fd_file *)f)->fd;
	char *b = buf;
	size_t want = (size_t)amt, got = 0;

	while (got < want) {
		ssize_t k = pread(fd, b + got, want - got, (off_t)off + (off_t)got);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return SQLITE_IOERR_READ;
		if (k == 0)
			break;
		got += (size_t)k;
	}
	if (got < want) {
		memset(b + got, 0, want - got);
		return SQLITE_IOERR_SHORT_READ;
	}
	return SQLITE_OK;
}

static int fdf_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off)
{
	return SQLITE_IOERR_WRITE;
}

static int fdf_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	return SQLITE_IOERR_TRUNCATE;
}

static int fdf_sync(sqlite3_file *f, int flags)
{
	return SQLITE_OK;
}

static int fdf_size(sqlite3_file *f, sqlite3_int64 *size)
{
	struct stat st;

	if (fstat(((struct fd_file *)f)->fd, &st) < 0)
		return SQLITE_IOERR_FSTAT;
	*size = st.st_size;
	return SQLITE_OK;
}

/* Immutable: nobody writes, so there is nothing to lock against. */
static int fdf_lock(sqlite3_file *f, int level)
{
	return SQLITE_OK;
}

static int fdf_check_reserved(sqlite3_file *f, int *res)
{
	*res = 0;
	return SQLITE_OK;
}

static int fdf_control(sqlite3_file *f, int op, void *arg)
{
	return SQLITE_NOTFOUND;
}

static int fdf_sector_size(sqlite3_file *f)
{
	return 4096;
}

static int fdf_caps(sqlite3_file *f)
{
	return SQLITE_IOCAP_IMMUTABLE;
}

static const sqlite3_io_methods fd_methods = {
	.iVersion = 1,
	.xClose = fdf_close,
	.xRead = fdf_read,
	.xWrite = fdf_write,
	.xTruncate = fdf_truncate,
	.xSync = fdf_sync,
	.xFileSize = fdf_size,
	.xLock = fdf_lock,
	.xUnlock = fdf_lock,
	.xCheckReservedLock = fdf_check_reserved,
	.xFileControl = fdf_control,
	.xSectorSize = fdf_sector_size,
	.xDeviceCharacteristics = fdf_caps,
};

/* N of a name that is exactly "/proc/self/fd/N"; -1 for any other. */
static int fd_of_name(const char *name)
{
	const char *p;
	long fd = 0;

	if (!name || strncmp(name, FD_PREFIX, sizeof FD_PREFIX - 1) != 0)
		return -1;
	p = name + sizeof FD_PREFIX - 1;
	if (!*p)
		return -1;
	for (; *p; p++) {
		if (*p < '0' || *p > '9' || fd > INT_MAX / 10)
			return -1;
		fd = fd * 10 + (*p - '0');
	}
	return (int)fd;
}

static int vfs_open(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
	struct fd_file *p = (struct fd_file *)f;
	int fd = fd_of_name(name);

	if (fd < 0 || !(flags & SQLITE_OPEN_MAIN_DB) || !(flags & SQLITE_OPEN_READONLY))
		return vfs_default->xOpen(vfs_default, name, f, flags, out_flags);
	f->pMethods = NULL;          /* tells SQLite not to close on failure */
	p->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (p->fd < 0)
		return SQLITE_CANTOPEN;
	f->pMethods = &fd_methods;
	if (out_flags)
		*out_flags = flags;
	return SQLITE_OK;
}

/* An absolute name is already full: no symbolic link is looked into. */
static int vfs_full_pathname(sqlite3_vfs *v, const char *name, int n, char *out)
{
	size_t len = strlen(name);

	if (name[0] != '/')
		return vfs_default->xFullPathname(vfs_default, name, n, out);
	if (len >= (size_t)n)
		return SQLITE_CANTOPEN;
	memcpy(out, name, len + 1);
	return SQLITE_OK;
}

/* The rest is the default VFS's. */
static int vfs_delete(sqlite3_vfs *v, const char *name, int sync_dir)
{
	return vfs_default->xDelete(vfs_default, name, sync_dir);
}

static int vfs_access(sqlite3_vfs *v, const char *name, int flags, int *res)
{
	return vfs_default->xAccess(vfs_default, name, flags, res);
}

static void *vfs_dlopen(sqlite3_vfs *v, const char *name)
{
	return vfs_default->xDlOpen(vfs_default, name);
}

static void vfs_dlerror(sqlite3_vfs *v, int n, char *msg)
{
	vfs_default->xDlError(vfs_default, n, msg);
}

typedef void (*vfs_symbol)(void);

static vfs_symbol vfs_dlsym(sqlite3_vfs *v, void *h, const char *sym)
{
	return vfs_default->xDlSym(vfs_default, h, sym);
}

static void vfs_dlclose(sqlite3_vfs *v, void *h)
{
	vfs_default->xDlClose(vfs_default, h);
}

static int vfs_randomness(sqlite3_vfs *v, int n, char *out)
{
	return vfs_default->xRandomness(vfs_default, n, out);
}

static int vfs_sleep(sqlite3_vfs *v, int us)
{
	return vfs_default->xSleep(vfs_default, us);
}

static int vfs_current_time(sqlite3_vfs *v, double *t)
{
	return vfs_default->xCurrentTime(vfs_default, t);
}

static int vfs_last_error(sqlite3_vfs *v, int n, char *msg)
{
	return vfs_default->xGetLastError(vfs_default, n, msg);
}

static int vfs_current_time64(sqlite3_vfs *v, sqlite3_int64 *t)
{
	return vfs_default->xCurrentTimeInt64(vfs_default, t);
}

static void vfs_setup(void)
{
	vfs_default = sqlite3_vfs_find(NULL);
	if (!vfs_default || vfs_default->iVersion < 2)
		return;
	vfs_rowd = (sqlite3_vfs){
		.iVersion = 2,
		.szOsFile = vfs_default->szOsFile > (int)sizeof(struct fd_file)
		            ? vfs_default->szOsFile : (int)sizeof(struct fd_file),
		.mxPathname = vfs_default->mxPathname,
		.zName = ROWD_VFS,
		.xOpen = vfs_open,
		.xDelete = vfs_delete,
		.xAccess = vfs_access,
		.xFullPathname = vfs_full_pathname,
		.xDlOpen = vfs_dlopen,
		.xDlError = vfs_dlerror,
		.xDlSym = vfs_dlsym,
		.xDlClose = vfs_dlclose,
		.xRandomness = vfs_randomness,
		.xSleep = vfs_sleep,
		.xCurrentTime = vfs_current_time,
		.xGetLastError = vfs_last_error,
		.xCurrentTimeInt64 = vfs_current_time64,
	};
	vfs_status = sqlite3_vfs_register(&vfs_rowd, 0);
}

static int vfs_ready(struct rowd_error *err)
{
	pthread_once(&vfs_once, vfs_setup);
	if (vfs_status != SQLITE_OK)
		return rowd_error_set(err, ROWD_EIO, "cannot set up the SQLite file layer");
	return 0;
}

/* ---- shared helpers ----------------------------------------------------- */

static const char *const sqlite_rd_known[] = { "table", "query", "on_error", NULL };
static const char *const sqlite_wr_known[] = { "table", "add_columns", NULL };
static const char *const on_error_choices[] = { "raise", "skip", NULL };

/* An SQLite failure as a rowd error: what we were doing and SQLite's
 * message. Corrupt or foreign files are EFORMAT. */
static int sql_fail(sqlite3 *db, int rc, const char *what, struct rowd_error *err)
{
	const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
	enum rowd_err code;

	switch (rc & 0xff) {
	case SQLITE_NOMEM: code = ROWD_ENOMEM; break;
	case SQLITE_IOERR: case SQLITE_FULL: case SQLITE_CANTOPEN: code = ROWD_EIO; break;
	case SQLITE_TOOBIG: code = ROWD_ELIMIT; break;
	case SQLITE_INTERRUPT: code = ROWD_ECANCELLED; break;
	default: code = ROWD_EFORMAT; break;
	}
	return rowd_error_set(err, code, "%s: %s", what, msg);
}

static int nomem(struct rowd_error *err)
{
	return rowd_error_set(err, ROWD_ENOMEM, "out of memory in the sqlite format");
}

/* Appends name as a quoted SQL identifier ("a""b"). */
static int put_ident(struct mpbuf *b, const char *s, size_t n)
{
	if (mpbuf_append(b, "\"", 1) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if ((s[i] == '"' && mpbuf_append(b, "\"", 1) < 0) || mpbuf_append(b, s + i, 1) < 0)
			return -1;
	return mpbuf_append(b, "\"", 1);
}

static int put_cstr(struct mpbuf *b, const char *s)
{
	return mpbuf_append(b, s, strlen(s));
}

/* An identifier (option or key) must fit a C string. (An empty str from
 * msgpack-c has a NULL pointer, which memchr must not see.) */
static bool has_nul(const char *s, size_t n)
{
	return n && memchr(s, 0, n) != NULL;
}

/* Names in messages stay short. */
static int short_len(size_t n)
{
	return (int)(n > 64 ? 64 : n);
}

/* ---- reader: opening ---------------------------------------------------- */

struct sqlite_rd {
	sqlite3 *db;
	sqlite3_stmt *st;          /* NULL: the database has no tables */
	const struct rowd_limits *lim;
	bool skip_bad;
	uint32_t nemit;            /* distinct column names */
	struct mpbuf keys;         /* the names, msgpack str each */
	size_t *key_off;           /* nemit + 1 offsets into keys */
	int *src;                  /* column whose value each name gets */
	uint64_t row;              /* rows stepped so far */
	int state;                 /* 0 reading, 1 exhausted, -1 failed */
	struct rowd_error fail;
};

/* What a database from outside may not do to us. */
static int harden(sqlite3 *db, const struct rowd_limits *lim, struct rowd_error *err)
{
	int len = lim->row_bytes < (size_t)INT_MAX ? (int)lim->row_bytes : INT_MAX;
	int rc;

	sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
#ifdef SQLITE_DBCONFIG_TRUSTED_SCHEMA
	sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)NULL);
#endif
	sqlite3_limit(db, SQLITE_LIMIT_LENGTH, len);
	rc = sqlite3_exec(db, "PRAGMA cell_size_check = ON", NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : sql_fail(db, rc, "cannot set up the database", err);
}

/* Opens the file behind fd read-only through the rowd VFS. */
static int db_open_ro(int fd, const struct rowd_limits *lim, sqlite3 **db, struct rowd_error *err)
{
	char name[sizeof FD_PREFIX + 16];
	int rc;

	*db = NULL;
	if (vfs_ready(err) < 0)
		return -1;
	snprintf(name, sizeof name, FD_PREFIX "%d", fd);
	rc = sqlite3_open_v2(name, db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, ROWD_VFS);
	if (rc != SQLITE_OK) {
		sql_fail(*db, rc, "cannot open the database", err);
		sqlite3_close(*db);
		*db = NULL;
		return -1;
	}
	if (harden(*db, lim, err) < 0) {
		sqlite3_close(*db);
		*db = NULL;
		return -1;
	}
	return 0;
}

#define TABLES_SQL "SELECT name FROM sqlite_master WHERE type = 'table' " \
	"AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid"

typedef int (*table_fn)(void *ctx, const char *name, size_t n, struct rowd_error *err);

/* Runs TABLES_SQL, calling fn for each name. Returns 0, or -1 with err
 * (set by fn when it fails). */
static int each_table(sqlite3 *db, table_fn fn, void *ctx, struct rowd_error *err)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, TABLES_SQL, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return sql_fail(db, rc, "cannot read the schema", err);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);

		if (!name) {
			sqlite3_finalize(st);
			return nomem(err);
		}
		if (fn(ctx, name, (size_t)sqlite3_column_bytes(st, 0), err) < 0) {
			sqlite3_finalize(st);
			return -1;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : sql_fail(db, rc, "cannot read the schema", err);
}

/* each_table callbacks: the first name (a malloc'd string); a short
 * list for messages. */
static int take_first(void *ctx, const char *name, size_t n, struct rowd_error *err)
{
	char **first = ctx;

	if (*first)
		return 0;
	*first = strndup(name, n);
	return *first ? 0 : nomem(err);
}

static int list_some(void *ctx, const char *name, size_t n, struct rowd_error *err)
{
	struct mpbuf *b = ctx;

	if (b->len > 160)
		return 0;
	if ((b->len && mpbuf_append(b, ", ", 2) < 0) || mpbuf_append(b, name, n) < 0 ||
	    (b->len > 160 && mpbuf_append(b, ", ...", 5) < 0))
		return nomem(err);
	return 0;
}

/* EINVAL for a table that is not there, with the ones that are. */
static int no_such_table(sqlite3 *db, const char *name, size_t n, struct rowd_error *err)
{
	struct mpbuf list;
	struct rowd_error ignored;

	mpbuf_init(&list);
	if (each_table(db, list_some, &list, &ignored) < 0 || mpbuf_append(&list, "", 1) < 0)
		list.len = 0;
	rowd_error_set(err, ROWD_EINVAL, "no table '%.*s' in the database (tables: %s)",
	               short_len(n), name, list.len ? list.data : "none");
	mpbuf_free(&list);
	return -1;
}

/* Is there a table or view of that name (SQLite names ignore case)? */
static int table_exists(sqlite3 *db, const char *name, size_t n, struct rowd_error *err)
{
	static const char sql[] = "SELECT 1 FROM sqlite_master WHERE type IN ('table', 'view') "
	                          "AND name = ?1 COLLATE NOCASE";
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return sql_fail(db, rc, "cannot read the schema", err);
	sqlite3_bind_text64(st, 1, n ? name : "", n, SQLITE_STATIC, SQLITE_UTF8);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : sql_fail(db, rc, "cannot read the schema", err);
}

/* SELECT * FROM the table given, or the first one. */
static int prepare_table(struct sqlite_rd *r, const char *name, size_t n, struct rowd_error *err)
{
	char *first = NULL;
	struct mpbuf sql;
	int rc;

	if (!name) {
		if (each_table(r->db, take_first, &first, err) < 0) {
			free(first);
			return -1;
		}
		if (!first)
			return 0;               /* no tables: no rows */
		name = first;
		n = strlen(name);
	} else if (has_nul(name, n)) {
		return rowd_error_set(err, ROWD_EINVAL, "option 'table' holds a NUL byte");
	} else if ((rc = table_exists(r->db, name, n, err)) <= 0) {
		return rc < 0 ? -1 : no_such_table(r->db, name, n, err);
	}
	mpbuf_init(&sql);
	if (put_cstr(&sql, "SELECT * FROM ") < 0 || put_ident(&sql, name, n) < 0 ||
	    mpbuf_append(&sql, "", 1) < 0) {
		free(first);
		mpbuf_free(&sql);
		return nomem(err);
	}
	rc = sqlite3_prepare_v2(r->db, sql.data, -1, &r->st, NULL);
	free(first);
	mpbuf_free(&sql);
	return rc == SQLITE_OK ? 0 : sql_fail(r->db, rc, "cannot read the table", err);
}

/* A query may read and call functions, nothing else: no ATTACH of other
 * files, no PRAGMA, no transaction control, no writes. */
static int query_authorizer(void *ctx, int action, const char *a, const char *b,
                            const char *c, const char *d)
{
	switch (action) {
	case SQLITE_SELECT: case SQLITE_READ: case SQLITE_FUNCTION: case SQLITE_RECURSIVE:
		return SQLITE_OK;
	default:
		return SQLITE_DENY;
	}
}

/* Is there a statement in tail (more than blanks and comments)? */
static bool more_sql(sqlite3 *db, const char *tail, size_t n)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, tail, (int)n, &st, NULL);

	sqlite3_finalize(st);
	return rc != SQLITE_OK || st != NULL;
}

static int bad_query(const char *why, const char *detail, struct rowd_error *err)
{
	return rowd_error_set(err, ROWD_EINVAL,
	                      "option 'query' must be one read-only SELECT: %s%s%s", why,
	                      detail ? ": " : "", detail ? detail : "");
}

static int prepare_query(struct sqlite_rd *r, const char *q, size_t n, struct rowd_error *err)
{
	const char *tail = NULL;
	int rc;

	if (has_nul(q, n))
		return bad_query("it holds a NUL byte", NULL, err);
	if (n > (size_t)INT_MAX)
		return bad_query("it is too long", NULL, err);
	sqlite3_set_authorizer(r->db, query_authorizer, NULL);
	rc = sqlite3_prepare_v2(r->db, q, (int)n, &r->st, &tail);
	switch (rc & 0xff) {
	case SQLITE_OK:
		break;
	/* The file's fault, not the query's. */
	case SQLITE_NOMEM: case SQLITE_IOERR: case SQLITE_CORRUPT: case SQLITE_NOTADB:
	case SQLITE_CANTOPEN: case SQLITE_TOOBIG:
		return sql_fail(r->db, rc, "cannot prepare the query", err);
	default:
		/* SQLITE_ERROR, SQLITE_AUTH, and SQLITE_SCHEMA for a denied
		 * change of the schema. */
		return bad_query("it does not prepare", sqlite3_errmsg(r->db), err);
	}
	if (!r->st)
		return bad_query("it is empty", NULL, err);
	if (!sqlite3_stmt_readonly(r->st) || sqlite3_column_count(r->st) == 0)
		return bad_query("it does not only read rows", NULL, err);
	if (tail && more_sql(r->db, tail, n - (size_t)(tail - q)))
		return bad_query("there is more after the first statement", NULL, err);
	return 0;
}

/* The keys of every row, packed once. A name met again takes the later
 * column's value at the first one's place. */
static int setup_columns(struct sqlite_rd *r, struct rowd_error *err)
{
	int ncols = sqlite3_column_count(r->st);

	r->key_off = malloc(((size_t)ncols + 1) * sizeof *r->key_off);
	r->src = malloc(((size_t)ncols + 1) * sizeof *r->src);
	if (!r->key_off || !r->src)
		return nomem(err);
	r->key_off[0] = 0;
	for (int c = 0; c < ncols; c++) {
		const char *name = sqlite3_column_name(r->st, c);
		size_t n, i;

		if (!name)
			return nomem(err);
		n = strlen(name);
		/* src[i] is a column named like key i. */
		for (i = 0; i < r->nemit; i++)
			if (strcmp(sqlite3_column_name(r->st, r->src[i]), name) == 0)
				break;
		if (i < r->nemit) {
			r->src[i] = c;
			continue;
		}
		if (!proto_utf8_valid(name, n))
			return rowd_error_set(err, ROWD_EFORMAT, "column %d has a name that is not valid UTF-8",
			                      c + 1);
		if (mpbuf_str(&r->keys, name, n) < 0)
			return nomem(err);
		r->src[r->nemit] = c;
		r->key_off[++r->nemit] = r->keys.len;
	}
	return 0;
}

static int sqlite_rd_options(const struct fmt_args *a, const char **table, size_t *tlen,
                             const char **query, size_t *qlen, int *on_error,
                             struct rowd_error *err)
{
	int has_t, has_q;

	*table = *query = NULL;
	if (opts_check_known(a->options, sqlite_rd_known, "format sqlite", err) < 0 ||
	    (has_t = opts_str(a->options, "table", table, tlen, err)) < 0 ||
	    (has_q = opts_str(a->options, "query", query, qlen, err)) < 0 ||
	    opts_choice(a->options, "on_error", on_error_choices, on_error, err) < 0)
		return -1;
	if (has_t && has_q)
		return rowd_error_set(err, ROWD_EINVAL,
		                      "options 'table' and 'query' exclude each other: give one");
	return 0;
}

static void sqlite_rd_close(void *state)
{
	struct sqlite_rd *r = state;

	if (!r)
		return;
	sqlite3_finalize(r->st);
	sqlite3_close(r->db);
	mpbuf_free(&r->keys);
	free(r->key_off);
	free(r->src);
	free(r);
}

static int sqlite_rd_open(const struct fmt_args *a, void **state, struct rowd_error *err)
{
	const char *table, *query;
	size_t tlen = 0, qlen = 0;
	int on_error = 0, rc;
	struct sqlite_rd *r;

	if (sqlite_rd_options(a, &table, &tlen, &query, &qlen, &on_error, err) < 0)
		return -1;
	r = calloc(1, sizeof *r);
	if (!r)
		return nomem(err);
	r->lim = a->limits;
	r->skip_bad = on_error == 1;
	mpbuf_init(&r->keys);
	rowd_error_clear(&r->fail);
	if (db_open_ro(a->fd, a->limits, &r->db, err) < 0)
		goto fail;
	rc = query ? prepare_query(r, query, qlen, err) : prepare_table(r, table, tlen, err);
	if (rc < 0)
		goto fail;
	if (!r->st)
		r->state = 1;
	else if (setup_columns(r, err) < 0)
		goto fail;
	*state = r;
	return 0;
fail:
	sqlite_rd_close(r);
	return -1;
}

/* ---- reader: rows ------------------------------------------------------- */

/* The value of column c of the current row. 1 for a text value that is
 * not UTF-8, -1 when out of memory. */
static int pack_value(sqlite3_stmt *st, int c, struct mpbuf *out)
{
	const void *p;
	int n;

	switch (sqlite3_column_type(st, c)) {
	case SQLITE_INTEGER:
		return mpbuf_int(out, sqlite3_column_int64(st, c));
	case SQLITE_FLOAT:
		return mpbuf_double(out, sqlite3_column_double(st, c));
	case SQLITE_TEXT:
		p = sqlite3_column_text(st, c);
		n = sqlite3_column_bytes(st, c);
		if (!p)
			return -1;
		if (!proto_utf8_valid(p, (size_t)n))
			return 1;
		return mpbuf_str(out, p, (size_t)n);
	case SQLITE_BLOB:
		p = sqlite3_column_blob(st, c);
		n = sqlite3_column_bytes(st, c);
		if (!p && n)
			return -1;
		return mpbin_put(out, p, (size_t)n);
	default:
		return mpbuf_nil(out);
	}
}

/* Packs the current row. Returns 0, or -1 with err (out rolled back). */
static int pack_row(struct sqlite_rd *r, struct mpbuf *out, struct rowd_error *err)
{
	size_t start = out->len;

	if (mpbuf_map_hdr(out, r->nemit) < 0)
		return nomem(err);
	for (uint32_t i = 0; i < r->nemit; i++) {
		int rc;

		if (mpbuf_append(out, r->keys.data + r->key_off[i], r->key_off[i + 1] - r->key_off[i]) < 0)
			goto oom;
		rc = pack_value(r->st, r->src[i], out);
		if (rc < 0)
			goto oom;
		if (rc > 0) {
			out->len = start;
			err->row = (int64_t)r->row;
			return rowd_error_set(err, ROWD_EFORMAT, "row %llu: column '%.64s' holds text that is not valid UTF-8",
			                      (unsigned long long)r->row, sqlite3_column_name(r->st, r->src[i]));
		}
	}
	if (out->len - start > r->lim->row_bytes) {
		out->len = start;
		err->row = (int64_t)r->row;
		return rowd_error_set(err, ROWD_ELIMIT, "row %llu packs to more than the row_bytes limit (%zu)",
		                      (unsigned long long)r->row, r->lim->row_bytes);
	}
	return 0;
oom:
	out->len = start;
	return nomem(err);
}

static int rd_fail(struct sqlite_rd *r, struct rowd_error *err)
{
	r->state = -1;
	r->fail = *err;
	return -1;
}

static int sqlite_rd_next(void *state, struct mpbuf *out, size_t max, size_t *nrows,
                          uint64_t *skipped, struct rowd_error *err)
{
	struct sqlite_rd *r = state;
	size_t n = 0;

	*nrows = 0;
	if (r->state < 0) {
		*err = r->fail;
		return -1;
	}
	while (r->state == 0 && n < max) {
		int rc = sqlite3_step(r->st);

		if (rc == SQLITE_DONE) {
			r->state = 1;
			break;
		}
		if (rc != SQLITE_ROW) {
			sql_fail(r->db, rc, "cannot read the next row", err);
			if ((rc & 0xff) == SQLITE_TOOBIG)
				rowd_error_set(err, ROWD_ELIMIT, "row %llu: a value is larger than the row_bytes limit (%zu)",
				               (unsigned long long)r->row + 1, r->lim->row_bytes);
			err->row = (int64_t)r->row + 1;
			*nrows = n;
			return rd_fail(r, err);
		}
		r->row++;
		if (pack_row(r, out, err) == 0) {
			n++;
		} else if (err->code == ROWD_EFORMAT && r->skip_bad) {
			++*skipped;
			rowd_error_clear(err);
		} else {
			*nrows = n;
			return rd_fail(r, err);
		}
	}
	*nrows = n;
	return r->state;
}

static int sqlite_rd_columns(void *state, struct mpbuf *out)
{
	struct sqlite_rd *r = state;

	if (!r->st)
		return 0;
	if (mpbuf_array_hdr(out, r->nemit) < 0 || mpbuf_append(out, r->keys.data, r->keys.len) < 0)
		return 0;
	return 1;
}

/* ---- tables ------------------------------------------------------------- */

struct name_list {
	struct mpbuf *out;
	uint32_t count;
};

static int pack_name(void *ctx, const char *name, size_t n, struct rowd_error *err)
{
	struct name_list *l = ctx;

	if (!proto_utf8_valid(name, n))
		return rowd_error_set(err, ROWD_EFORMAT, "a table name is not valid UTF-8");
	if (mpbuf_str(l->out, name, n) < 0)
		return nomem(err);
	l->count++;
	return 0;
}

static int sqlite_tables(const struct fmt_args *a, struct mpbuf *out, struct rowd_error *err)
{
	static const char *const none[] = { NULL };
	struct name_list l = { .out = out };
	sqlite3 *db;
	size_t at;
	int rc;

	if (opts_check_known(a->options, none, "the tables of format sqlite", err) < 0 ||
	    db_open_ro(a->fd, a->limits, &db, err) < 0)
		return -1;
	at = proto_array_open(out);
	rc = at == (size_t)-1 ? nomem(err) : each_table(db, pack_name, &l, err);
	sqlite3_close(db);
	if (rc < 0)
		return -1;
	proto_array_close(out, at, l.count);
	return 0;
}

/* ---- writer ------------------------------------------------------------- */

struct column {
	char *name;
	size_t len;
};

struct sqlite_wr {
	sqlite3 *db;
	sqlite3_stmt *ins;         /* INSERT of every column, reused */
	struct mpbuf table;        /* the table name (not NUL-terminated) */
	bool add_columns;
	bool created;              /* the table exists (first row seen) */
	struct column *cols;
	size_t ncols, cols_cap;
	uint32_t *slot;            /* per key of the row at hand: its column */
	size_t slot_cap;
	struct mpbuf sql;          /* statement text being built */
	struct mpbuf json;         /* a nested value as JSON */
};

/* The default table: the target's name without its extension, as a bare
 * SQL identifier. */
static int default_table(const char *target, struct mpbuf *out)
{
	const char *base = strrchr(target, '/');
	const char *dot;
	size_t n;

	base = base ? base + 1 : target;
	n = strlen(base);
	dot = memrchr(base, '.', n);
	if (dot && dot > base)
		n = (size_t)(dot - base);
	/* sqlite_* names are SQLite's own; a digit cannot start a bare name. */
	if (n && ((base[0] >= '0' && base[0] <= '9') || strncasecmp(base, "sqlite_", 7) == 0))
		if (mpbuf_append(out, "_", 1) < 0)
			return -1;
	for (size_t i = 0; i < n; i++) {
		char c = base[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';

		if (mpbuf_append(out, ok ? &c : "_", 1) < 0)
			return -1;
	}
	return out->len ? 0 : put_cstr(out, "data");
}

static void sqlite_wr_close(void *state)
{
	struct sqlite_wr *w = state;

	if (!w)
		return;
	sqlite3_finalize(w->ins);
	sqlite3_close(w->db);
	for (size_t i = 0; i < w->ncols; i++)
		free(w->cols[i].name);
	free(w->cols);
	free(w->slot);
	mpbuf_free(&w->table);
	mpbuf_free(&w->sql);
	mpbuf_free(&w->json);
	free(w);
}

static int exec_sql(struct sqlite_wr *w, const char *sql, const char *what, enum rowd_err code,
                    struct rowd_error *err)
{
	int rc = sqlite3_exec(w->db, sql, NULL, NULL, NULL);

	if (rc == SQLITE_OK)
		return 0;
	sql_fail(w->db, rc, what, err);
	if ((rc & 0xff) == SQLITE_ERROR)
		err->code = code;
	return -1;
}

/* The temp file, beneath its directory fd, with no journal: a failed
 * write discards the whole file, so there is nothing to roll back. */
static int wr_open_db(struct sqlite_wr *w, const struct wfile *wf, struct rowd_error *err)
{
	char path[PATH_MAX];
	int rc;

	if (!wf || wf->dirfd < 0 || !wf->tmpname)
		return rowd_error_set(err, ROWD_EINVAL, "format sqlite writes files only");
	if (vfs_ready(err) < 0)
		return -1;
	if ((size_t)snprintf(path, sizeof path, FD_PREFIX "%d/%s", wf->dirfd, wf->tmpname) >= sizeof path)
		return rowd_error_set(err, ROWD_EINVAL, "the file name is too long");
	rc = sqlite3_open_v2(path, &w->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, ROWD_VFS);
	if (rc != SQLITE_OK)
		return sql_fail(w->db, rc, "cannot open the new database", err);
	return exec_sql(w, "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; "
	                "PRAGMA locking_mode = EXCLUSIVE; BEGIN",
	                "cannot start writing the database", ROWD_EIO, err);
}

static int sqlite_wr_open(const struct fmt_args *a, void **state, struct rowd_error *err)
{
	const char *table = NULL;
	size_t tlen = 0;
	struct sqlite_wr *w;
	int has_t;

	if (opts_check_known(a->options, sqlite_wr_known, "format sqlite", err) < 0 ||
	    (has_t = opts_str(a->options, "table", &table, &tlen, err)) < 0)
		return -1;
	if (has_t && (tlen == 0 || has_nul(table, tlen)))
		return rowd_error_set(err, ROWD_EINVAL, "option 'table' must be a non-empty name without NUL bytes");
	w = calloc(1, sizeof *w);
	if (!w)
		return nomem(err);
	mpbuf_init(&w->table);
	mpbuf_init(&w->sql);
	mpbuf_init(&w->json);
	if (opts_bool(a->options, "add_columns", &w->add_columns, err) < 0)
		goto fail;
	if ((has_t ? mpbuf_append(&w->table, table, tlen)
	           : default_table(a->wf && a->wf->name ? a->wf->name : "", &w->table)) < 0) {
		nomem(err);
		goto fail;
	}
	if (wr_open_db(w, a->wf, err) < 0)
		goto fail;
	*state = w;
	return 0;
fail:
	sqlite_wr_close(w);
	return -1;
}

/* SQLite compares column names ignoring ASCII case. */
static bool same_name(const struct column *c, const char *s, size_t n)
{
	return c->len == n && sqlite3_strnicmp(c->name, s, (int)n) == 0;
}

/* The column of a key; hint is where the first row had it (rows usually
 * keep one key order). -1 when none. */
static long find_column(const struct sqlite_wr *w, const char *s, size_t n, size_t hint)
{
	if (hint < w->ncols && same_name(&w->cols[hint], s, n))
		return (long)hint;
	for (size_t i = 0; i < w->ncols; i++)
		if (same_name(&w->cols[i], s, n))
			return (long)i;
	return -1;
}

static const char *affinity(const msgpack_object *v)
{
	switch (v->type) {
	case MSGPACK_OBJECT_BOOLEAN:
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return " INTEGER";
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		return " REAL";
	case MSGPACK_OBJECT_BIN:
		return " BLOB";
	case MSGPACK_OBJECT_NIL:
		return "";
	default:
		return " TEXT";
	}
}

static int add_column_entry(struct sqlite_wr *w, const char *s, size_t n, struct rowd_error *err)
{
	if (w->ncols == w->cols_cap) {
		size_t cap = w->cols_cap ? w->cols_cap * 2 : 16;
		struct column *c = realloc(w->cols, cap * sizeof *c);

		if (!c)
			return nomem(err);
		w->cols = c;
		w->cols_cap = cap;
	}
	w->cols[w->ncols].name = strndup(n ? s : "", n);   /* "" may come as NULL */
	if (!w->cols[w->ncols].name)
		return nomem(err);
	w->cols[w->ncols++].len = n;
	return 0;
}

static int prepare_insert(struct sqlite_wr *w, struct rowd_error *err)
{
	struct mpbuf *q = &w->sql;
	int rc;

	sqlite3_finalize(w->ins);
	w->ins = NULL;
	q->len = 0;
	if (put_cstr(q, "INSERT INTO ") < 0 || put_ident(q, w->table.data, w->table.len) < 0 ||
	    put_cstr(q, " (") < 0)
		return nomem(err);
	for (size_t i = 0; i < w->ncols; i++)
		if ((i && put_cstr(q, ", ") < 0) || put_ident(q, w->cols[i].name, w->cols[i].len) < 0)
			return nomem(err);
	if (put_cstr(q, ") VALUES (") < 0)
		return nomem(err);
	for (size_t i = 0; i < w->ncols; i++)
		if (put_cstr(q, i ? ", ?" : "?") < 0)
			return nomem(err);
	if (put_cstr(q, ")") < 0 || mpbuf_append(q, "", 1) < 0)
		return nomem(err);
	rc = sqlite3_prepare_v3(w->db, q->data, -1, SQLITE_PREPARE_PERSISTENT, &w->ins, NULL);
	return rc == SQLITE_OK ? 0 : sql_fail(w->db, rc, "cannot prepare the insert", err);
}

/* The columns of the first row, and the table made of them. */
static int create_columns(struct sqlite_wr *w, const msgpack_object *row, struct rowd_error *err)
{
	struct mpbuf *q = &w->sql;
	const msgpack_object_kv *kv = row->via.map.ptr;

	q->len = 0;
	if (put_cstr(q, "CREATE TABLE ") < 0 || put_ident(q, w->table.data, w->table.len) < 0 ||
	    put_cstr(q, " (") < 0)
		return nomem(err);
	for (uint32_t i = 0; i < row->via.map.size; i++) {
		const msgpack_object_str *k = &kv[i].key.via.str;

		if (find_column(w, k->ptr, k->size, i) >= 0)
			continue;
		if (add_column_entry(w, k->ptr, k->size, err) < 0)
			return -1;
		if ((w->ncols > 1 && put_cstr(q, ", ") < 0) || put_ident(q, k->ptr, k->size) < 0 ||
		    put_cstr(q, affinity(&kv[i].val)) < 0)
			return nomem(err);
	}
	if (w->ncols == 0)
		return rowd_error_set(err, ROWD_EINVAL, "the first row has no keys: a table needs columns");
	if (put_cstr(q, ")") < 0 || mpbuf_append(q, "", 1) < 0)
		return nomem(err);
	return exec_sql(w, q->data, "cannot create the table", ROWD_EINVAL, err);
}

static void drop_columns(struct sqlite_wr *w)
{
	for (size_t i = 0; i < w->ncols; i++)
		free(w->cols[i].name);
	w->ncols = 0;
}

/* CREATE TABLE from the first row: one column per distinct key. A row
 * refused here leaves the writer as it was: the next row is "first". */
static int create_table(struct sqlite_wr *w, const msgpack_object *row, struct rowd_error *err)
{
	if (create_columns(w, row, err) < 0) {
		drop_columns(w);
		return -1;
	}
	w->created = true;
	return prepare_insert(w, err);
}

static int alter_add(struct sqlite_wr *w, const msgpack_object_str *k, const msgpack_object *v,
                     struct rowd_error *err)
{
	struct mpbuf *q = &w->sql;

	q->len = 0;
	if (put_cstr(q, "ALTER TABLE ") < 0 || put_ident(q, w->table.data, w->table.len) < 0 ||
	    put_cstr(q, " ADD COLUMN ") < 0 || put_ident(q, k->ptr, k->size) < 0 ||
	    put_cstr(q, affinity(v)) < 0 || mpbuf_append(q, "", 1) < 0)
		return nomem(err);
	if (exec_sql(w, q->data, "cannot add a column", ROWD_EINVAL, err) < 0)
		return -1;
	return add_column_entry(w, k->ptr, k->size, err);
}

/* Checks a key and its value before anything is written. */
static int check_entry(const msgpack_object_kv *kv, struct rowd_error *err)
{
	const msgpack_object *v = &kv->val;
	const msgpack_object_str *k;

	if (kv->key.type != MSGPACK_OBJECT_STR)
		return rowd_error_set(err, ROWD_EINVAL, "keys must be strings");
	k = &kv->key.via.str;
	if (has_nul(k->ptr, k->size))
		return rowd_error_set(err, ROWD_EINVAL, "key '%.*s' holds a NUL byte", short_len(k->size), k->ptr);
	/* A column name the reader would refuse. */
	if (!proto_utf8_valid(k->ptr, k->size))
		return rowd_error_set(err, ROWD_EINVAL, "a key is not valid UTF-8 text");
	if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 > INT64_MAX)
		return rowd_error_set(err, ROWD_EINVAL,
		                      "value of '%.*s' (%llu) does not fit SQLite's 64-bit signed integers",
		                      short_len(k->size), k->ptr, (unsigned long long)v->via.u64);
	if (v->type == MSGPACK_OBJECT_EXT)
		return rowd_error_set(err, ROWD_EINVAL, "value of '%.*s' is a msgpack ext: SQLite cannot hold it",
		                      short_len(k->size), k->ptr);
	if (v->type == MSGPACK_OBJECT_STR && !proto_utf8_valid(v->via.str.ptr, v->via.str.size))
		return rowd_error_set(err, ROWD_EINVAL, "value of '%.*s' is not valid UTF-8 text (send bytes as bin)",
		                      short_len(k->size), k->ptr);
	return 0;
}

/* Adds a column for each key of row without one (w->slot UINT32_MAX),
 * then prepares the INSERT again for the new columns, even those added
 * before a failure (the statement must match w->cols). */
static int add_columns(struct sqlite_wr *w, const msgpack_object *row, size_t before,
                       struct rowd_error *err)
{
	const msgpack_object_kv *kv = row->via.map.ptr;
	struct rowd_error later;
	int rc = 0;

	for (uint32_t i = 0; rc == 0 && i < row->via.map.size; i++) {
		long c;

		if (w->slot[i] != UINT32_MAX)
			continue;
		/* The same new name may come twice in one row. */
		c = find_column(w, kv[i].key.via.str.ptr, kv[i].key.via.str.size, before);
		if (c < 0 && (rc = alter_add(w, &kv[i].key.via.str, &kv[i].val, err)) == 0)
			c = (long)w->ncols - 1;
		w->slot[i] = (uint32_t)c;
	}
	if (w->ncols != before && prepare_insert(w, rc < 0 ? &later : err) < 0)
		rc = -1;
	return rc;
}

/* Maps each key of row to its column (w->slot), adding columns when
 * allowed. Nothing is changed unless the whole row is acceptable. */
static int resolve_keys(struct sqlite_wr *w, const msgpack_object *row, struct rowd_error *err)
{
	const msgpack_object_kv *kv = row->via.map.ptr;
	uint32_t n = row->via.map.size, missing = 0;
	size_t before = w->ncols;

	if (n > w->slot_cap) {
		uint32_t *s = realloc(w->slot, n * sizeof *s);

		if (!s)
			return nomem(err);
		w->slot = s;
		w->slot_cap = n;
	}
	for (uint32_t i = 0; i < n; i++) {
		long c;

		if (check_entry(&kv[i], err) < 0)
			return -1;
		c = find_column(w, kv[i].key.via.str.ptr, kv[i].key.via.str.size, i);
		w->slot[i] = c < 0 ? UINT32_MAX : (uint32_t)c;
		if (c < 0 && !w->add_columns)
			return rowd_error_set(err, ROWD_EINVAL,
			                      "key '%.*s' is not a column of table '%.*s' (columns come from "
			                      "the first row; option add_columns: true adds new ones)",
			                      short_len(kv[i].key.via.str.size), kv[i].key.via.str.ptr,
			                      short_len(w->table.len), w->table.data);
		missing += c < 0;
	}
	return missing ? add_columns(w, row, before, err) : 0;
}

static int bind_value(struct sqlite_wr *w, int i, const msgpack_object *v)
{
	switch (v->type) {
	case MSGPACK_OBJECT_NIL:
		return sqlite3_bind_null(w->ins, i);
	case MSGPACK_OBJECT_BOOLEAN:
		return sqlite3_bind_int64(w->ins, i, v->via.boolean);
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		return sqlite3_bind_int64(w->ins, i, (sqlite3_int64)v->via.u64);
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return sqlite3_bind_int64(w->ins, i, v->via.i64);
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		return sqlite3_bind_double(w->ins, i, v->via.f64);
	case MSGPACK_OBJECT_STR:
		/* The row outlives the step: no copy. A NULL pointer would
		 * bind NULL, hence "" for an empty string. */
		return sqlite3_bind_text64(w->ins, i, v->via.str.size ? v->via.str.ptr : "",
		                           v->via.str.size, SQLITE_STATIC, SQLITE_UTF8);
	case MSGPACK_OBJECT_BIN:
		if (v->via.bin.size == 0)
			return sqlite3_bind_zeroblob(w->ins, i, 0);
		return sqlite3_bind_blob64(w->ins, i, v->via.bin.ptr, v->via.bin.size, SQLITE_STATIC);
	default:
		/* Maps and arrays are kept as JSON text. */
		w->json.len = 0;
		if (proto_object_to_json(v, &w->json) < 0)
			return SQLITE_NOMEM;
		return sqlite3_bind_text64(w->ins, i, w->json.len ? w->json.data : "", w->json.len,
		                           SQLITE_TRANSIENT, SQLITE_UTF8);
	}
}

static int sqlite_wr_row(void *state, const msgpack_object *row, struct rowd_error *err)
{
	struct sqlite_wr *w = state;
	int rc;

	if (row->type != MSGPACK_OBJECT_MAP)
		return rowd_error_set(err, ROWD_EINVAL, "a row must be a map");
	if (!w->created) {
		for (uint32_t i = 0; i < row->via.map.size; i++)
			if (check_entry(&row->via.map.ptr[i], err) < 0)
				return -1;
		if (create_table(w, row, err) < 0)
			return -1;
	}
	if (!w->ins)
		return rowd_error_set(err, ROWD_EIO, "the table cannot take rows after an earlier error");
	if (resolve_keys(w, row, err) < 0)
		return -1;
	sqlite3_reset(w->ins);
	sqlite3_clear_bindings(w->ins);      /* absent keys are NULL */
	for (uint32_t i = 0; i < row->via.map.size; i++) {
		rc = bind_value(w, (int)w->slot[i] + 1, &row->via.map.ptr[i].val);
		if (rc != SQLITE_OK)
			return sql_fail(w->db, rc, "cannot bind a value", err);
	}
	rc = sqlite3_step(w->ins);
	sqlite3_reset(w->ins);
	/* Drop the pointers into this row now that it is written. */
	sqlite3_clear_bindings(w->ins);
	return rc == SQLITE_DONE ? 0 : sql_fail(w->db, rc, "cannot insert the row", err);
}

/* Commits and closes the database, so that every byte is in the file
 * before close fsyncs it. */
static int sqlite_wr_finish(void *state, struct rowd_error *err)
{
	struct sqlite_wr *w = state;
	int rc;

	/* No rows: a database without tables, but a real one (with its
	 * header), so that its content says what it is. */
	if (!w->created && exec_sql(w, "PRAGMA user_version = 0", "cannot write the database",
	                            ROWD_EIO, err) < 0)
		return -1;
	if (exec_sql(w, "COMMIT", "cannot commit the database", ROWD_EIO, err) < 0)
		return -1;
	sqlite3_finalize(w->ins);
	w->ins = NULL;
	rc = sqlite3_close(w->db);
	if (rc != SQLITE_OK)
		return sql_fail(w->db, rc, "cannot close the database", err);
	w->db = NULL;
	return 0;
}

/* ---- detection ---------------------------------------------------------- */

static int sqlite_probe(const char *head, size_t n)
{
	return n >= 16 && memcmp(head, "SQLite format 3", 16) == 0 ? 100 : 0;
}

static const char *const sqlite_extensions[] = { "sqlite", "sqlite3", "db", NULL };

const struct format_ops format_sqlite = {
	.name = "sqlite",
	.extensions = sqlite_extensions,
	.caps = FMT_CAP_READ | FMT_CAP_WRITE | FMT_CAP_TOTALS | FMT_CAP_TABLES | FMT_CAP_STREAM |
	        FMT_CAP_BINARY | FMT_CAP_RAW,
	.probe = sqlite_probe,
	.tables = sqlite_tables,
	.rd_open = sqlite_rd_open,
	.rd_next = sqlite_rd_next,
	.rd_columns = sqlite_rd_columns,
	.rd_close = sqlite_rd_close,
	.wr_open = sqlite_wr_open,
	.wr_row = sqlite_wr_row,
	.wr_finish = sqlite_wr_finish,
	.wr_close = sqlite_wr_close,
};
