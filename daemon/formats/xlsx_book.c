/* The XLSX workbook around the sheets: where the parts are (package and
 * workbook relationships), the sheet names in workbook order, the date
 * system, the shared strings and the cell styles' number formats.
 *
 * Memory. Shared strings are a table held in memory (cells refer to them
 * by index); it and the other parts read whole (relationships, workbook,
 * styles) are bounded by a budget of 64 x row_bytes (256 MiB by default):
 * a table or a part past it is ELIMIT, so a small zip cannot inflate
 * into an unbounded allocation. Sheets themselves are streamed (xlsx.c).
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xlsx.h"

#define REL_OFFICE_DOCUMENT "/officeDocument"
#define REL_SHARED_STRINGS "/sharedStrings"
#define REL_STYLES "/styles"

static int nomem(struct rowd_error *err)
{
	return rowd_error_set(err, ROWD_ENOMEM, "out of memory reading the xlsx workbook");
}

static bool ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);

	return n >= t && strcmp(s + n - t, tail) == 0;
}

/* ---- part names --------------------------------------------------------- */

/* The member name a relationship target points at, from the folder of
 * the part that holds the relationship: "worksheets/sheet1.xml" from
 * "xl/" is "xl/worksheets/sheet1.xml"; "/xl/x.xml" is absolute; "." and
 * ".." are folded. malloc'd, or NULL. */
static char *resolve_target(const char *dir, const char *target)
{
	size_t n = strlen(dir) + strlen(target) + 1;
	char *joined = malloc(n), *out = malloc(n);
	size_t at = 0;
	const char *p;

	if (!joined || !out) {
		free(joined);
		free(out);
		return NULL;
	}
	if (target[0] == '/')
		strcpy(joined, target + 1);
	else
		strcat(strcpy(joined, dir), target);
	for (p = joined; *p;) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);

		if (len == 2 && p[0] == '.' && p[1] == '.') {
			/* Up one folder: drop the last segment written. */
			while (at > 0 && out[at - 1] == '/')
				at--;
			while (at > 0 && out[at - 1] != '/')
				at--;
		} else if (len && !(len == 1 && p[0] == '.')) {
			memcpy(out + at, p, len);
			at += len;
			if (slash)
				out[at++] = '/';
		}
		p += len + (slash ? 1 : 0);
	}
	out[at] = 0;
	free(joined);
	return out;
}

/* The folder of a part name, with its slash ("xl/" of "xl/workbook.xml"). */
static char *dir_of(const char *part)
{
	const char *slash = strrchr(part, '/');

	return strndup(part, slash ? (size_t)(slash - part + 1) : 0);
}

/* The relationships part of a part: "xl/_rels/workbook.xml.rels". */
static char *rels_of(const char *part)
{
	const char *slash = strrchr(part, '/');
	size_t d = slash ? (size_t)(slash - part + 1) : 0;
	char *r = malloc(strlen(part) + 12);

	if (r) {
		memcpy(r, part, d);
		strcpy(r + d, "_rels/");
		strcat(r, part + d);
		strcat(r, ".rels");
	}
	return r;
}

/* ---- relationships ------------------------------------------------------ */

struct rel {
	char *id, *type, *target;     /* target resolved to a member name */
};

struct rels {
	struct rel *v;
	size_t n, cap;
};

static void rels_free(struct rels *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i].id);
		free(r->v[i].type);
		free(r->v[i].target);
	}
	free(r->v);
	memset(r, 0, sizeof *r);
}

static const struct rel *rel_by_id(const struct rels *r, const char *id)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->v[i].id, id) == 0)
			return &r->v[i];
	return NULL;
}

static const struct rel *rel_by_type(const struct rels *r, const char *tail)
{
	for (size_t i = 0; i < r->n; i++)
		if (ends_with(r->v[i].type, tail))
			return &r->v[i];
	return NULL;
}

static int open_member(struct xlsx_book *b, const char *name, struct xlsx_part *p, bool *found,
                       struct rowd_error *err)
{
	int64_t i = xlsx_zip_find(b->za, name);

	*found = i >= 0;
	if (i < 0)
		return 0;
	return xlsx_part_open(p, b->za, i, b->budget, b->lim, err);
}

static int add_rel(struct rels *r, const char *dir, const char *id, const char *type,
                   const char *target, struct rowd_error *err)
{
	struct rel *v;

	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 8;

		v = realloc(r->v, cap * sizeof *v);
		if (!v)
			return nomem(err);
		r->v = v;
		r->cap = cap;
	}
	v = &r->v[r->n++];     /* counted at once: rels_free frees a partial one */
	v->id = strdup(id);
	v->type = strdup(type);
	v->target = resolve_target(dir, target);
	return v->id && v->type && v->target ? 0 : nomem(err);
}

/* Reads the relationships of part (none when it has no .rels). */
static int read_rels(struct xlsx_book *b, const char *part, struct rels *out, struct rowd_error *err)
{
	char *name = rels_of(part), *dir = dir_of(part);
	struct xlsx_part p;
	bool found;
	int rc;

	memset(out, 0, sizeof *out);
	if (!name || !dir) {
		free(name);
		free(dir);
		return nomem(err);
	}
	rc = open_member(b, name, &p, &found, err);
	while (rc == 0 && found && (rc = xlsx_part_next(&p, err)) == 1) {
		const char *el = xlsx_part_element(&p, false);
		char *id, *type, *target, *mode;

		if (!el || strcmp(el, "Relationship") != 0) {
			rc = 0;
			continue;
		}
		id = xlsx_part_attr(&p, "Id");
		type = xlsx_part_attr(&p, "Type");
		target = xlsx_part_attr(&p, "Target");
		mode = xlsx_part_attr(&p, "TargetMode");
		rc = 0;
		if (id && type && target && !(mode && strcasecmp(mode, "External") == 0))
			rc = add_rel(out, dir, id, type, target, err);
		free(id);
		free(type);
		free(target);
		free(mode);
	}
	if (found)
		xlsx_part_close(&p);
	free(name);
	free(dir);
	if (rc < 0)
		rels_free(out);
	return rc < 0 ? -1 : 0;
}

/* ---- workbook ----------------------------------------------------------- */

/* Takes name over, whatever happens. */
static int add_sheet(struct xlsx_book *b, size_t *cap, char *name, const char *part,
                     struct rowd_error *err)
{
	struct xlsx_sheet *v;

	if (b->nsheets >= b->lim->elements) {
		free(name);
		return rowd_error_set(err, ROWD_ELIMIT,
		                      "xlsx: the workbook lists more sheets than the elements limit (%zu)",
		                      b->lim->elements);
	}
	if (b->nsheets == *cap) {
		size_t c = *cap ? *cap * 2 : 8;

		v = realloc(b->sheets, c * sizeof *v);
		if (!v) {
			free(name);
			return nomem(err);
		}
		b->sheets = v;
		*cap = c;
	}
	v = &b->sheets[b->nsheets++];
	v->name = name;
	v->part = part ? strdup(part) : NULL;
	return part && !v->part ? nomem(err) : 0;
}

static bool truthy(const char *v)
{
	return v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0);
}

static int read_workbook(struct xlsx_book *b, const char *wb, const struct rels *rels,
                         struct rowd_error *err)
{
	struct xlsx_part p;
	size_t cap = 0;
	bool found;
	int rc = open_member(b, wb, &p, &found, err);

	if (rc < 0)
		return -1;
	if (!found)
		return rowd_error_set(err, ROWD_EFORMAT, "xlsx: not an XLSX workbook: the archive has no %s part", wb);
	while ((rc = xlsx_part_next(&p, err)) == 1) {
		const char *el = xlsx_part_element(&p, false);

		if (el && strcmp(el, "workbookPr") == 0) {
			char *v = xlsx_part_attr(&p, "date1904");

			b->date1904 = truthy(v);
			free(v);
		} else if (el && strcmp(el, "sheet") == 0) {
			char *name = xlsx_part_attr(&p, "name"), *id = xlsx_part_attr(&p, "id");
			const struct rel *r = id ? rel_by_id(rels, id) : NULL;

			free(id);
			if (!name) {
				rc = xlsx_part_error(&p, ROWD_EFORMAT, err, "a sheet has no name");
				break;
			}
			if (add_sheet(b, &cap, name, r ? r->target : NULL, err) < 0) {
				rc = -1;
				break;
			}
		}
	}
	xlsx_part_close(&p);
	return rc < 0 ? -1 : 0;
}

/* ---- shared strings ----------------------------------------------------- */

static int sst_push(struct xlsx_book *b, size_t *cap, struct xlsx_part *p, struct rowd_error *err)
{
	if (b->nsst + 2 > *cap) {
		size_t c = *cap ? *cap * 2 : 256;
		size_t *v = realloc(b->sst_off, c * sizeof *v);

		if (!v)
			return nomem(err);
		b->sst_off = v;
		*cap = c;
	}
	b->sst_off[++b->nsst] = b->sst.len;
	if (b->sst.len + b->nsst * sizeof *b->sst_off > b->budget)
		return xlsx_part_error(p, ROWD_ELIMIT, err,
		                       "the shared strings table passes 64 x the row_bytes limit (%zu)",
		                       b->lim->row_bytes);
	return 0;
}

static int read_shared_strings(struct xlsx_book *b, const char *name, struct rowd_error *err)
{
	struct xlsx_part p;
	bool found, in_si = false;
	int rph = 0, rc;
	size_t cap = 0, start = 0;

	if (open_member(b, name, &p, &found, err) < 0)
		return -1;
	if (!found)
		return 0;
	b->sst_off = calloc(256, sizeof *b->sst_off);
	if (!b->sst_off) {
		xlsx_part_close(&p);
		return nomem(err);
	}
	cap = 256;
	while ((rc = xlsx_part_next(&p, err)) == 1) {
		const char *el = xlsx_part_element(&p, false), *end = xlsx_part_element(&p, true);
		bool empty = el && xmlTextReaderIsEmptyElement(p.rd);

		if (el && strcmp(el, "si") == 0) {
			start = b->sst.len;
			in_si = !empty;
			rph = 0;
			if (empty && sst_push(b, &cap, &p, err) < 0)
				break;
		} else if (el && strcmp(el, "rPh") == 0 && !empty) {
			rph++;        /* phonetic runs are not the text */
		} else if (el && strcmp(el, "t") == 0 && in_si && !rph) {
			if (xlsx_part_text(&p, &b->sst, err) < 0)
				break;
		} else if (end && strcmp(end, "rPh") == 0 && rph) {
			rph--;
		} else if (end && strcmp(end, "si") == 0 && in_si) {
			in_si = false;
			xlsx_unescape(&b->sst, start);
			if (sst_push(b, &cap, &p, err) < 0)
				break;
		}
	}
	xlsx_part_close(&p);
	return rc == 0 ? 0 : -1;
}

/* ---- styles ------------------------------------------------------------- */

struct fmt_code {
	unsigned id;
	enum sheet_kind kind;
};

static unsigned attr_uint(struct xlsx_part *p, const char *name, unsigned dflt)
{
	char *v = xlsx_part_attr(p, name), *end;
	unsigned long x;

	if (!v)
		return dflt;
	x = strtoul(v, &end, 10);
	if (end == v || *end || x > 0xffffffffUL)
		x = dflt;
	free(v);
	return (unsigned)x;
}

static int grow(void **v, size_t *cap, size_t n, size_t size)
{
	void *nv;

	if (n < *cap)
		return 0;
	nv = realloc(*v, (*cap ? *cap * 2 : 64) * size);
	if (!nv)
		return -1;
	*v = nv;
	*cap = *cap ? *cap * 2 : 64;
	return 0;
}

static enum sheet_kind kind_of(unsigned id, const struct fmt_code *codes, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (codes[i].id == id)
			return codes[i].kind;
	return sheet_builtin_kind(id);
}

static int read_styles(struct xlsx_book *b, const char *name, struct rowd_error *err)
{
	struct xlsx_part p;
	struct fmt_code *codes = NULL;
	unsigned *xf = NULL;
	size_t ncodes = 0, codes_cap = 0, xf_cap = 0;
	bool found, in_xfs = false;
	int rc;

	if (open_member(b, name, &p, &found, err) < 0)
		return -1;
	if (!found)
		return 0;
	while ((rc = xlsx_part_next(&p, err)) == 1) {
		const char *el = xlsx_part_element(&p, false), *end = xlsx_part_element(&p, true);

		if (el && strcmp(el, "numFmt") == 0) {
			char *code = xlsx_part_attr(&p, "formatCode");

			if (grow((void **)&codes, &codes_cap, ncodes, sizeof *codes) < 0) {
				free(code);
				rc = nomem(err);
				break;
			}
			codes[ncodes].id = attr_uint(&p, "numFmtId", UINT32_MAX);
			codes[ncodes++].kind = code ? sheet_format_kind(code, strlen(code)) : SHEET_NUMBER;
			free(code);
		} else if (el && strcmp(el, "cellXfs") == 0) {
			in_xfs = !xmlTextReaderIsEmptyElement(p.rd);
		} else if (end && strcmp(end, "cellXfs") == 0) {
			in_xfs = false;
		} else if (el && in_xfs && strcmp(el, "xf") == 0) {
			if (grow((void **)&xf, &xf_cap, b->nxf, sizeof *xf) < 0) {
				rc = nomem(err);
				break;
			}
			xf[b->nxf++] = attr_uint(&p, "numFmtId", 0);
		}
	}
	xlsx_part_close(&p);
	if (rc == 0 && b->nxf && !(b->xf_kind = malloc(b->nxf)))
		rc = nomem(err);
	for (size_t i = 0; rc == 0 && i < b->nxf; i++)
		b->xf_kind[i] = (uint8_t)kind_of(xf[i], codes, ncodes);
	free(codes);
	free(xf);
	return rc == 0 ? 0 : -1;
}

/* ---- the book ----------------------------------------------------------- */

/* The workbook part: the package's officeDocument relationship, else the
 * usual name. */
static char *find_workbook(struct xlsx_book *b, struct rowd_error *err)
{
	struct rels root;
	const struct rel *r;
	char *wb;

	if (read_rels(b, "", &root, err) < 0)
		return NULL;
	r = rel_by_type(&root, REL_OFFICE_DOCUMENT);
	wb = strdup(r ? r->target : "xl/workbook.xml");
	rels_free(&root);
	if (!wb)
		nomem(err);
	return wb;
}

int xlsx_book_open(struct xlsx_book *b, int fd, const struct rowd_limits *lim, bool data,
                   struct rowd_error *err)
{
	struct rels rels = { 0 };
	const struct rel *r;
	char *wb = NULL;
	int rc = -1;

	memset(b, 0, sizeof *b);
	mpbuf_init(&b->sst);
	b->lim = lim;
	b->budget = (uint64_t)lim->row_bytes * 64;
	b->za = xlsx_zip_open(fd, err);
	if (!b->za || !(wb = find_workbook(b, err)) || read_rels(b, wb, &rels, err) < 0 ||
	    read_workbook(b, wb, &rels, err) < 0)
		goto out;
	if (data) {
		r = rel_by_type(&rels, REL_SHARED_STRINGS);
		if (r && read_shared_strings(b, r->target, err) < 0)
			goto out;
		r = rel_by_type(&rels, REL_STYLES);
		if (r && read_styles(b, r->target, err) < 0)
			goto out;
	}
	rc = 0;
out:
	free(wb);
	rels_free(&rels);
	if (rc < 0)
		xlsx_book_close(b);
	return rc;
}

void xlsx_book_close(struct xlsx_book *b)
{
	for (size_t i = 0; i < b->nsheets; i++) {
		free(b->sheets[i].name);
		free(b->sheets[i].part);
	}
	free(b->sheets);
	free(b->sst_off);
	free(b->xf_kind);
	mpbuf_free(&b->sst);
	if (b->za)
		zip_discard(b->za);
	memset(b, 0, sizeof *b);
}

/* ---- _xHHHH_ escapes ---------------------------------------------------- */

static int hex4(const char *p)
{
	int v = 0;

	for (int i = 0; i < 4; i++) {
		int c = (unsigned char)p[i];

		if (!isxdigit(c))
			return -1;
		v = v * 16 + (isdigit(c) ? c - '0' : (tolower(c) - 'a' + 10));
	}
	return v;
}

/* The code unit of an escape at p ("_x000D_"), or -1. */
static int escape_at(const char *p, const char *end)
{
	if (end - p < 7 || p[0] != '_' || p[1] != 'x' || p[6] != '_')
		return -1;
	return hex4(p + 2);
}

static size_t put_utf8(char *out, unsigned cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Excel writes characters XML cannot hold (and "_x" itself, as _x005F_)
 * as UTF-16 code units; a pair of escapes is one surrogate pair, a lone
 * surrogate becomes U+FFFD. Each escape is 7 bytes and its UTF-8 at most
 * 4, so decoding in place never overtakes the reading. */
void xlsx_unescape(struct mpbuf *buf, size_t from)
{
	char *p, *end, *w;

	if (!buf->data)       /* nothing read yet: no arithmetic on NULL */
		return;
	p = buf->data + from;
	end = buf->data + buf->len;
	if (!memmem(p, (size_t)(end - p), "_x", 2))
		return;
	for (w = p; p < end;) {
		int u = escape_at(p, end), lo;

		if (u < 0) {
			*w++ = *p++;
			continue;
		}
		p += 7;
		if (u >= 0xd800 && u < 0xdc00 && (lo = escape_at(p, end)) >= 0xdc00 && lo < 0xe000) {
			p += 7;
			w += put_utf8(w, 0x10000 + (((unsigned)u - 0xd800) << 10) + ((unsigned)lo - 0xdc00));
		} else {
			w += put_utf8(w, u >= 0xd800 && u < 0xe000 ? 0xfffd : (unsigned)u);
		}
	}
	buf->len = (size_t)(w - buf->data);
}
