/* XML (.xml), read only: each element named by option `tagname` is a row.
 *
 * Streaming. libxml2's xmlTextReader pulls the document through a read
 * callback from struct input (so every codec works) and walks it node by
 * node; the tree is never built beyond the row at hand. At a row's start
 * tag the row's subtree alone is expanded (xmlTextReaderExpand), packed
 * straight into the answer, and skipped with xmlTextReaderNext, which lets
 * the reader free it. The source bytes one row may take are bounded by
 * row_bytes (checked in the read callback while the row expands), so a
 * huge element is ELIMIT before it is in memory. Elements of that name
 * inside a row belong to the row.
 *
 * Rows (in the manner of xmltodict):
 *  - the row element is a map: attributes as "@name", child elements as
 *    keys, text as "#text";
 *  - a child with neither attributes nor child elements is its text (nil
 *    when it has no text at all); any other child is a map like the row;
 *  - children of one name are an array, in document order, at the place
 *    of the first;
 *  - "#text" is the element's text; beside child elements it is trimmed
 *    (the whitespace around children is layout); whitespace-only text
 *    beside attributes or children is left out;
 *  - namespace prefixes stay in names ("p:name", "@xmlns:p");
 *  - comments and processing instructions are left out.
 *
 * Safety. No entity is substituted, no DTD or external entity is loaded,
 * no network is used: the reader runs without XML_PARSE_NOENT,
 * XML_PARSE_DTDLOAD, XML_PARSE_DTDATTR and XML_PARSE_DTDVALID, with
 * XML_PARSE_NONET, and the parser properties are checked after being
 * forced off (a process-wide default set elsewhere cannot turn them on).
 * A reference to a declared entity (other than the five predefined ones
 * and character references, which are plain text) therefore has no text:
 * rather than drop it silently the row is EFORMAT naming the entity
 * (on_error "skip" skips it). libxml2 checks entity declarations for
 * loops and amplification on its own, so "billion laughs" is either a
 * parse error or an unexpanded reference; either way it is refused.
 *
 * Errors. Malformed XML is EFORMAT with the line libxml2 reports; the
 * parser cannot resume after it, so it ends the read even with on_error
 * "skip". The reader parses a chunk (512 bytes) ahead of the node it
 * returns and fails as soon as that chunk is bad, so rows in the few
 * hundred bytes before the error are not delivered. Codec and I/O errors
 * from the input come through unchanged.
 */
#include "config.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <libxml/parser.h>
#include <libxml/xmlreader.h>

#include "format.h"
#include "xmlinit.h"
#include "options.h"

static const char *const xml_rd_known[] = { "tagname", "on_error", NULL };
static const char *const on_error_choices[] = { "raise", "skip", NULL };

/* A child element of the element being packed. */
struct kid {
	const xmlNode *node;
	uint32_t order;            /* document order among its siblings */
};

/* Children of one name: kids[start .. start + count) once sorted. */
struct group {
	uint32_t start, count;
	uint32_t first;            /* order of the first of them */
};

struct xml_rd {
	struct input *in;
	const struct rowd_limits *lim;
	xmlTextReaderPtr rd;
	char *tag;
	bool skip_bad;
	bool after_row;            /* the next step skips the row's subtree */
	int state;                 /* 0 reading, 1 exhausted, -1 failed */
	struct rowd_error fail;
	uint64_t row;              /* rows met so far */

	/* Set by the callbacks, read once the reader fails. */
	bool io_failed;
	struct rowd_error io_err;
	bool xml_failed, xml_fatal;
	int xml_line;
	char xml_msg[160];

	/* While a row expands: where its source began. */
	bool in_row;
	uint64_t row_start;

	/* Scratch, used as stacks while rows are packed (indices, never
	 * pointers, survive the growth of a deeper level). */
	struct kid *kids;
	size_t nkids, kids_cap;
	struct group *groups;
	size_t ngroups, groups_cap;
	struct mpbuf text;
};

/* ---- callbacks ---------------------------------------------------------- */

static int xml_io_read(void *ctx, char *buf, int len)
{
	struct xml_rd *r = ctx;
	struct input *in = r->in;
	size_t n;

	if (r->io_failed)
		return -1;
	if (r->in_row && in->consumed - r->row_start > r->lim->row_bytes) {
		r->io_err.row = (int64_t)r->row;
		rowd_error_set(&r->io_err, ROWD_ELIMIT,
		               "row %llu: the element is larger than the row_bytes limit (%zu)",
		               (unsigned long long)r->row, r->lim->row_bytes);
		r->io_failed = true;
		return -1;
	}
	while (input_avail(in) == 0 && !in->eof)
		if (input_fill(in, &r->io_err) < 0) {
			r->io_failed = true;
			return -1;
		}
	n = input_avail(in) < (size_t)len ? input_avail(in) : (size_t)len;
	memcpy(buf, input_ptr(in), n);
	input_consume(in, n);
	return (int)n;
}

#if LIBXML_VERSION >= 21200
static void xml_on_error(void *ctx, const xmlError *e)
#else
static void xml_on_error(void *ctx, xmlErrorPtr e)
#endif
{
	struct xml_rd *r = ctx;
	size_t n;

	/* Warnings and recoverable errors (namespace ones) do not stop the
	 * parser; keep the first error, or the first fatal one after it. */
	if (!e || e->level < XML_ERR_ERROR || r->xml_fatal ||
	    (r->xml_failed && e->level != XML_ERR_FATAL))
		return;
	r->xml_failed = true;
	r->xml_fatal = e->level == XML_ERR_FATAL;
	r->xml_line = e->line;
	snprintf(r->xml_msg, sizeof r->xml_msg, "%s", e->message ? e->message : "malformed XML");
	n = strlen(r->xml_msg);
	while (n && (r->xml_msg[n - 1] == '\n' || r->xml_msg[n - 1] == ' '))
		r->xml_msg[--n] = 0;
}

/* Why the reader stopped: the input's error first (the parser only sees
 * a failed read), else libxml2's. */
static int parse_error(struct xml_rd *r, struct rowd_error *err)
{
	if (r->io_failed) {
		*err = r->io_err;
		return -1;
	}
	if (r->xml_failed && r->xml_line > 0) {
		err->line = r->xml_line;
		return rowd_error_set(err, ROWD_EFORMAT, "line %d: %s", r->xml_line, r->xml_msg);
	}
	/* No line from libxml2 (it may stop without reporting, at a NUL
	 * byte): say how far the parser read instead. */
	err->offset = r->rd ? (int64_t)xmlTextReaderByteConsumed(r->rd) : -1;
	if (err->offset < 0)
		err->offset = (int64_t)r->in->consumed;
	if (r->xml_failed)
		return rowd_error_set(err, ROWD_EFORMAT, "%s (near byte %lld)", r->xml_msg,
		                      (long long)err->offset);
	return rowd_error_set(err, ROWD_EFORMAT, "the XML could not be parsed (near byte %lld)",
	                      (long long)err->offset);
}

/* ---- opening ------------------------------------------------------------ */

static int xml_options(const struct fmt_args *a, const char **tag, size_t *tlen, int *on_error,
                       struct rowd_error *err)
{
	int rc;

	if (opts_check_known(a->options, xml_rd_known, "format xml", err) < 0 ||
	    (rc = opts_str(a->options, "tagname", tag, tlen, err)) < 0 ||
	    opts_choice(a->options, "on_error", on_error_choices, on_error, err) < 0)
		return -1;
	if (rc == 0)
		return rowd_error_set(err, ROWD_EINVAL,
		                      "option 'tagname' is required for xml: the name of the elements that are rows");
	if (*tlen == 0 || memchr(*tag, 0, *tlen))
		return rowd_error_set(err, ROWD_EINVAL, "option 'tagname' must be an element name");
	return 0;
}

/* Forces entities, DTD loading, default attributes and validation off
 * and checks that they are. */
static int lock_down(xmlTextReaderPtr rd, struct rowd_error *err)
{
	static const int props[] = { XML_PARSER_SUBST_ENTITIES, XML_PARSER_LOADDTD,
	                             XML_PARSER_DEFAULTATTRS, XML_PARSER_VALIDATE };

	for (size_t i = 0; i < sizeof props / sizeof props[0]; i++)
		if (xmlTextReaderSetParserProp(rd, props[i], 0) < 0 ||
		    xmlTextReaderGetParserProp(rd, props[i]) != 0)
			return rowd_error_set(err, ROWD_EIO, "cannot turn off entities and DTDs in libxml2");
	return 0;
}

static void xml_rd_close(void *state)
{
	struct xml_rd *r = state;

	if (!r)
		return;
	if (r->rd)
		xmlFreeTextReader(r->rd);
	free(r->tag);
	free(r->kids);
	free(r->groups);
	mpbuf_free(&r->text);
	free(r);
}

#define XML_READER_OPTIONS (XML_PARSE_NONET | XML_PARSE_NOCDATA | XML_PARSE_BIG_LINES)

/* A reader over a->in; tag NULL for the tables scan. */
static struct xml_rd *xml_reader_new(const struct fmt_args *a, const char *tag, size_t tlen,
                                     struct rowd_error *err)
{
	struct xml_rd *r;

	fmt_xml_init();
	r = calloc(1, sizeof *r);
	if (!r || (tag && !(r->tag = strndup(tag, tlen)))) {
		free(r);
		rowd_error_set(err, ROWD_ENOMEM, "out of memory for the xml reader");
		return NULL;
	}
	r->in = a->in;
	r->lim = a->limits;
	mpbuf_init(&r->text);
	rowd_error_clear(&r->fail);
	rowd_error_clear(&r->io_err);
	/* The reader asks for its first bytes at once: errors may already
	 * come from the input. */
	r->rd = xmlReaderForIO(xml_io_read, NULL, r, NULL, NULL, XML_READER_OPTIONS);
	if (!r->rd) {
		if (r->io_failed)
			*err = r->io_err;
		else
			rowd_error_set(err, ROWD_ENOMEM, "cannot create the XML reader");
		xml_rd_close(r);
		return NULL;
	}
	xmlTextReaderSetStructuredErrorHandler(r->rd, xml_on_error, r);
	if (lock_down(r->rd, err) < 0) {
		xml_rd_close(r);
		return NULL;
	}
	return r;
}

static int xml_rd_open(const struct fmt_args *a, void **state, struct rowd_error *err)
{
	const char *tag;
	size_t tlen = 0;
	int on_error = 0;
	struct xml_rd *r;

	if (xml_options(a, &tag, &tlen, &on_error, err) < 0 ||
	    !(r = xml_reader_new(a, tag, tlen, err)))
		return -1;
	r->skip_bad = on_error == 1;
	*state = r;
	return 0;
}

/* ---- packing ------------------------------------------------------------ */

/* An error about the row being packed, at the line of node. */
static int row_error(struct xml_rd *r, const xmlNode *node, enum rowd_err code,
                     struct rowd_error *err, const char *msg)
{
	long line = xmlGetLineNo(node);

	err->row = (int64_t)r->row;
	if (line <= 0)
		return rowd_error_set(err, code, "row %llu: %s", (unsigned long long)r->row, msg);
	err->line = line;
	return rowd_error_set(err, code, "line %ld: row %llu: %s", line, (unsigned long long)r->row, msg);
}

static int nomem(struct rowd_error *err)
{
	return rowd_error_set(err, ROWD_ENOMEM, "out of memory packing an XML row");
}

/* Refuses an entity reference (see the top of the file). */
static int entity_ref(struct xml_rd *r, const xmlNode *node, struct rowd_error *err)
{
	char msg[160];

	snprintf(msg, sizeof msg,
	         "entity reference &%.60s; is not expanded (entities and DTDs are off for safety)",
	         (const char *)node->name);
	return row_error(r, node, ROWD_EFORMAT, err, msg);
}

/* Appends the text of a node list (text and CDATA nodes) to r->text.
 * Returns 1 when there was any, 0 when none, -1 on error. */
static int collect_text(struct xml_rd *r, const xmlNode *list, struct rowd_error *err)
{
	int any = 0;

	for (const xmlNode *c = list; c; c = c->next) {
		if (c->type == XML_ENTITY_REF_NODE)
			return entity_ref(r, c, err);
		if ((c->type != XML_TEXT_NODE && c->type != XML_CDATA_SECTION_NODE) || !c->content)
			continue;
		any = 1;
		if (mpbuf_append(&r->text, c->content, strlen((const char *)c->content)) < 0)
			return nomem(err);
	}
	return any;
}

/* A name with its prefix, and a lead character ('@') if not 0. */
static int put_name(struct mpbuf *out, char lead, const xmlChar *prefix, const xmlChar *name)
{
	size_t lp = prefix ? strlen((const char *)prefix) + 1 : 0;
	size_t ln = strlen((const char *)name);
	size_t n = (lead ? 1 : 0) + lp + ln;

	if (mpbuf_reserve(out, n + MP_STR_HDR_MAX) < 0)
		return -1;
	mp_put_str_hdr(out, n);
	if (lead)
		mp_put_u8(out, (uint8_t)lead);
	if (prefix) {
		memcpy(out->data + out->len, prefix, lp - 1);
		out->len += lp - 1;
		mp_put_u8(out, ':');
	}
	memcpy(out->data + out->len, name, ln);
	out->len += ln;
	return 0;
}

static const xmlChar *ns_prefix(const xmlNs *ns)
{
	return ns ? ns->prefix : NULL;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Attribute values, "@xmlns" declarations first. */
static int pack_attributes(struct xml_rd *r, const xmlNode *node, struct mpbuf *out,
                           struct rowd_error *err)
{
	for (const xmlNs *ns = node->nsDef; ns; ns = ns->next) {
		const char *href = ns->href ? (const char *)ns->href : "";

		if ((ns->prefix ? put_name(out, '@', BAD_CAST "xmlns", ns->prefix)
		                : put_name(out, '@', NULL, BAD_CAST "xmlns")) < 0 ||
		    mpbuf_str(out, href, strlen(href)) < 0)
			return nomem(err);
	}
	for (const xmlAttr *a = node->properties; a; a = a->next) {
		size_t base = r->text.len;
		int rc;

		if (put_name(out, '@', ns_prefix(a->ns), a->name) < 0)
			return nomem(err);
		rc = collect_text(r, a->children, err);
		if (rc < 0)
			return -1;
		rc = mpbuf_str(out, r->text.data ? r->text.data + base : "", r->text.len - base);
		r->text.len = base;
		if (rc < 0)
			return nomem(err);
	}
	return 0;
}

static int kid_cmp(const void *pa, const void *pb)
{
	const struct kid *a = pa, *b = pb;
	const xmlChar *xa = ns_prefix(a->node->ns), *xb = ns_prefix(b->node->ns);
	int c = strcmp(xa ? (const char *)xa : "", xb ? (const char *)xb : "");

	if (!c)
		c = strcmp((const char *)a->node->name, (const char *)b->node->name);
	if (!c)
		c = a->order < b->order ? -1 : a->order > b->order;
	return c;
}

static int group_cmp(const void *pa, const void *pb)
{
	const struct group *a = pa, *b = pb;

	return a->first < b->first ? -1 : a->first > b->first;
}

static bool same_name(const xmlNode *a, const xmlNode *b)
{
	const xmlChar *xa = ns_prefix(a->ns), *xb = ns_prefix(b->ns);

	return xmlStrEqual(a->name, b->name) && xmlStrEqual(xa, xb);
}

static int push_kid(struct xml_rd *r, const xmlNode *node, uint32_t order, struct rowd_error *err)
{
	if (r->nkids == r->kids_cap) {
		size_t cap = r->kids_cap ? r->kids_cap * 2 : 64;
		struct kid *k = realloc(r->kids, cap * sizeof *k);

		if (!k)
			return nomem(err);
		r->kids = k;
		r->kids_cap = cap;
	}
	r->kids[r->nkids++] = (struct kid){ node, order };
	return 0;
}

static int push_group(struct xml_rd *r, uint32_t start, uint32_t count, uint32_t first,
                      struct rowd_error *err)
{
	if (r->ngroups == r->groups_cap) {
		size_t cap = r->groups_cap ? r->groups_cap * 2 : 64;
		struct group *g = realloc(r->groups, cap * sizeof *g);

		if (!g)
			return nomem(err);
		r->groups = g;
		r->groups_cap = cap;
	}
	r->groups[r->ngroups++] = (struct group){ start, count, first };
	return 0;
}

/* Groups the child elements of node by name: kids pushed from kbase,
 * groups from gbase in order of their first member. */
static int group_children(struct xml_rd *r, const xmlNode *node, size_t kbase, size_t gbase,
                          struct rowd_error *err)
{
	uint32_t n = 0;

	for (const xmlNode *c = node->children; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (n >= r->lim->elements)
			return row_error(r, c, ROWD_ELIMIT, err, "more child elements than the elements limit");
		if (push_kid(r, c, n++, err) < 0)
			return -1;
	}
	if (n == 0)
		return 0;
	qsort(r->kids + kbase, n, sizeof *r->kids, kid_cmp);
	for (size_t i = kbase, j; i < kbase + n; i = j) {
		for (j = i + 1; j < kbase + n && same_name(r->kids[i].node, r->kids[j].node); j++)
			;
		if (push_group(r, (uint32_t)i, (uint32_t)(j - i), r->kids[i].order, err) < 0)
			return -1;
	}
	qsort(r->groups + gbase, r->ngroups - gbase, sizeof *r->groups, group_cmp);
	return 0;
}

static int pack_element(struct xml_rd *r, const xmlNode *node, struct mpbuf *out, unsigned depth,
                        bool as_map, struct rowd_error *err);

/* The value of each group: one element, or an array of them. depth is
 * that of the map they are in. */
static int pack_groups(struct xml_rd *r, size_t gbase, size_t gend, struct mpbuf *out,
                       unsigned depth, struct rowd_error *err)
{
	for (size_t g = gbase; g < gend; g++) {
		struct group gr = r->groups[g];
		const xmlNode *first = r->kids[gr.start].node;

		unsigned d = depth + 1;

		if (put_name(out, 0, ns_prefix(first->ns), first->name) < 0)
			return nomem(err);
		if (gr.count > 1) {
			if (d > r->lim->depth)
				return row_error(r, first, ROWD_ELIMIT, err, "nesting deeper than the depth limit");
			if (mpbuf_array_hdr(out, gr.count) < 0)
				return nomem(err);
			d++;
		}
		for (uint32_t i = 0; i < gr.count; i++)
			if (pack_element(r, r->kids[gr.start + i].node, out, d, false, err) < 0)
				return -1;
	}
	return 0;
}

/* [*s, *e) of r->text from base: trimmed when beside children; empty
 * when only whitespace. */
static void text_span(const struct xml_rd *r, size_t base, bool trim, size_t *s, size_t *e)
{
	size_t i = base, j = r->text.len;

	while (i < j && is_space(r->text.data[i]))
		i++;
	if (i == j) {
		*s = *e = base;
		return;
	}
	if (trim) {
		while (is_space(r->text.data[j - 1]))
			j--;
		*s = i;
		*e = j;
	} else {
		*s = base;
		*e = r->text.len;
	}
}

static bool has_attributes(const xmlNode *node)
{
	return node->properties || node->nsDef;
}

/* An element as text: no attributes, no children. nil when empty. */
static int pack_text_only(struct xml_rd *r, const xmlNode *node, struct mpbuf *out,
                          struct rowd_error *err)
{
	size_t base = r->text.len;
	int rc = collect_text(r, node->children, err);

	if (rc < 0)
		return -1;
	rc = rc ? mpbuf_str(out, r->text.data + base, r->text.len - base) : mpbuf_nil(out);
	r->text.len = base;
	return rc < 0 ? nomem(err) : 0;
}

/* An element as a value (as_map: always a map, as a row is). depth is
 * the nesting of the value packed. */
static int pack_element(struct xml_rd *r, const xmlNode *node, struct mpbuf *out, unsigned depth,
                        bool as_map, struct rowd_error *err)
{
	size_t kbase = r->nkids, gbase = r->ngroups, tbase = r->text.len, ts, te;
	uint32_t nattr = 0;
	int rc;

	if (!as_map && !has_attributes(node) && !xmlFirstElementChild((xmlNode *)node))
		return pack_text_only(r, node, out, err);
	if (depth > r->lim->depth)
		return row_error(r, node, ROWD_ELIMIT, err, "nesting deeper than the depth limit");
	for (const xmlNs *ns = node->nsDef; ns; ns = ns->next)
		nattr++;
	for (const xmlAttr *a = node->properties; a; a = a->next)
		nattr++;
	rc = collect_text(r, node->children, err);
	if (rc >= 0)
		rc = group_children(r, node, kbase, gbase, err);
	if (rc >= 0) {
		text_span(r, tbase, r->ngroups > gbase, &ts, &te);
		rc = mpbuf_map_hdr(out, nattr + (uint32_t)(r->ngroups - gbase) + (te > ts)) < 0 ? nomem(err) : 0;
	}
	if (rc >= 0)
		rc = pack_attributes(r, node, out, err);
	if (rc >= 0)
		rc = pack_groups(r, gbase, r->ngroups, out, depth, err);
	if (rc >= 0 && te > ts &&
	    (mpbuf_cstr(out, "#text") < 0 || mpbuf_str(out, r->text.data + ts, te - ts) < 0))
		rc = nomem(err);
	r->nkids = kbase;
	r->ngroups = gbase;
	r->text.len = tbase;
	return rc < 0 ? -1 : 0;
}

/* ---- reading ------------------------------------------------------------ */

static bool is_row_start(const struct xml_rd *r)
{
	const xmlChar *name, *local;

	if (xmlTextReaderNodeType(r->rd) != XML_READER_TYPE_ELEMENT)
		return false;
	name = xmlTextReaderConstName(r->rd);
	local = xmlTextReaderConstLocalName(r->rd);
	return (name && strcmp((const char *)name, r->tag) == 0) ||
	       (local && strcmp((const char *)local, r->tag) == 0);
}

/* Expands the row element at the reader, packs it. Returns 0, or -1 with
 * err (out rolled back). The subtree is skipped by the next step. */
static int take_row(struct xml_rd *r, struct mpbuf *out, struct rowd_error *err)
{
	size_t start = out->len;
	xmlNodePtr node;

	r->row++;
	r->in_row = true;
	r->row_start = r->in->consumed;
	node = xmlTextReaderExpand(r->rd);
	r->in_row = false;
	r->after_row = true;
	if (!node) {
		r->after_row = false;
		return parse_error(r, err);
	}
	r->nkids = r->ngroups = 0;
	r->text.len = 0;
	if (pack_element(r, node, out, 1, true, err) < 0) {
		out->len = start;
		return -1;
	}
	if (out->len - start > r->lim->row_bytes) {
		char msg[96];

		out->len = start;
		snprintf(msg, sizeof msg, "packs to more than the row_bytes limit (%zu)", r->lim->row_bytes);
		return row_error(r, node, ROWD_ELIMIT, err, msg);
	}
	return 0;
}

static int xml_fail(struct xml_rd *r, struct rowd_error *err)
{
	r->state = -1;
	r->fail = *err;
	return -1;
}

/* Moves to the next node, past the subtree of a row just taken. */
static int step(struct xml_rd *r)
{
	bool skip = r->after_row;

	r->after_row = false;
	return skip ? xmlTextReaderNext(r->rd) : xmlTextReaderRead(r->rd);
}

static int xml_rd_next(void *state, struct mpbuf *out, size_t max, size_t *nrows,
                       uint64_t *skipped, struct rowd_error *err)
{
	struct xml_rd *r = state;
	size_t n = 0;

	*nrows = 0;
	if (r->state < 0) {
		*err = r->fail;
		return -1;
	}
	while (r->state == 0 && n < max) {
		int rc = step(r);

		if (rc == 0 && !r->io_failed && !r->xml_fatal) {
			r->state = 1;
			break;
		}
		if (rc <= 0) {
			parse_error(r, err);
			*nrows = n;
			return xml_fail(r, err);
		}
		if (!is_row_start(r))
			continue;
		if (take_row(r, out, err) == 0) {
			n++;
		} else if (err->code == ROWD_EFORMAT && r->skip_bad && r->after_row) {
			/* A bad row, not bad XML: the parser goes on. */
			++*skipped;
			rowd_error_clear(err);
		} else {
			*nrows = n;
			return xml_fail(r, err);
		}
	}
	*nrows = n;
	return r->state;
}

/* ---- tables ------------------------------------------------------------- */

/* `tables` lists what `tagname` can name: the elements that repeat under
 * one parent, in the order they first repeat. One pass over the file. */
#define XML_TABLES_MAX 1000           /* names listed */
#define XML_SIBLING_NAMES_MAX 4096    /* distinct child names tracked per level */

struct sibling { char *name; bool listed; unsigned count; };
struct level { struct sibling *v; size_t n, cap; };
struct tag_scan {
	struct level *levels;
	size_t nlevels;
	char **names;
	size_t nnames, names_cap;
};

static void level_clear(struct level *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].name);
	l->n = 0;
}

static void tag_scan_free(struct tag_scan *t)
{
	for (size_t i = 0; i < t->nlevels; i++) {
		level_clear(&t->levels[i]);
		free(t->levels[i].v);
	}
	free(t->levels);
	free(t->names);
}

/* An element at depth d: its earlier siblings' children are forgotten,
 * its own name counted among its siblings. */
static int tag_seen(struct tag_scan *t, size_t d, const char *name, struct rowd_error *err)
{
	struct level *l;
	struct sibling *s = NULL;

	if (d >= t->nlevels) {
		struct level *p = realloc(t->levels, (d + 1) * sizeof *p);

		if (!p)
			return nomem(err);
		memset(p + t->nlevels, 0, (d + 1 - t->nlevels) * sizeof *p);
		t->levels = p;
		t->nlevels = d + 1;
	}
	for (size_t i = d + 1; i < t->nlevels; i++)
		level_clear(&t->levels[i]);
	l = &t->levels[d];
	for (size_t i = 0; i < l->n && !s; i++)
		if (strcmp(l->v[i].name, name) == 0)
			s = &l->v[i];
	if (!s) {
		if (l->n == XML_SIBLING_NAMES_MAX)
			return 0;
		if (l->n == l->cap) {
			size_t cap = l->cap ? l->cap * 2 : 8;
			struct sibling *v = realloc(l->v, cap * sizeof *v);

			if (!v)
				return nomem(err);
			l->v = v;
			l->cap = cap;
		}
		s = &l->v[l->n];
		*s = (struct sibling){ .name = strdup(name) };
		if (!s->name)
			return nomem(err);
		l->n++;
	}
	if (++s->count < 2 || s->listed || t->nnames == XML_TABLES_MAX)
		return 0;
	s->listed = true;
	for (size_t i = 0; i < t->nnames; i++)
		if (strcmp(t->names[i], name) == 0)
			return 0;
	if (t->nnames == t->names_cap) {
		size_t cap = t->names_cap ? t->names_cap * 2 : 8;
		char **p = realloc(t->names, cap * sizeof *p);

		if (!p)
			return nomem(err);
		t->names = p;
		t->names_cap = cap;
	}
	/* A copy of its own: the level's is freed with the parent. */
	if (!(t->names[t->nnames] = strdup(name)))
		return nomem(err);
	t->nnames++;
	return 0;
}

static int xml_tables(const struct fmt_args *a, struct mpbuf *out, struct rowd_error *err)
{
	static const char *const none[] = { NULL };
	struct tag_scan t = { 0 };
	struct xml_rd *r;
	int rc = 0;

	if (opts_check_known(a->options, none, "the tables of format xml", err) < 0 ||
	    !(r = xml_reader_new(a, NULL, 0, err)))
		return -1;
	while (rc == 0) {
		int step_rc = xmlTextReaderRead(r->rd);
		int depth;

		if (step_rc == 0 && !r->io_failed && !r->xml_fatal)
			break;
		if (step_rc <= 0) {
			rc = parse_error(r, err);
			break;
		}
		if (xmlTextReaderNodeType(r->rd) != XML_READER_TYPE_ELEMENT)
			continue;
		depth = xmlTextReaderDepth(r->rd);
		if (depth < 0 || (size_t)depth >= r->lim->depth) {
			rc = rowd_error_set(err, ROWD_ELIMIT, "elements nest deeper than the depth limit (%zu)",
			                    r->lim->depth);
			break;
		}
		rc = tag_seen(&t, (size_t)depth, (const char *)xmlTextReaderConstName(r->rd), err);
	}
	if (rc == 0) {
		size_t at = proto_array_open(out);

		for (size_t i = 0; at != (size_t)-1 && i < t.nnames && rc == 0; i++)
			if (mpbuf_cstr(out, t.names[i]) < 0)
				rc = nomem(err);
		if (at == (size_t)-1)
			rc = nomem(err);
		else if (rc == 0)
			proto_array_close(out, at, (uint32_t)t.nnames);
	}
	for (size_t i = 0; i < t.nnames; i++)
		free(t.names[i]);
	tag_scan_free(&t);
	xml_rd_close(r);
	return rc;
}

/* ---- detection ---------------------------------------------------------- */

static int xml_probe(const char *head, size_t n)
{
	size_t i = 0;

	if (n >= 3 && memcmp(head, "\xef\xbb\xbf", 3) == 0)
		i = 3;
	while (i < n && is_space(head[i]))
		i++;
	if (n - i >= 5 && memcmp(head + i, "<?xml", 5) == 0)
		return 80;
	if (n - i >= 2 && head[i] == '<' &&
	    (isalpha((unsigned char)head[i + 1]) || head[i + 1] == '_' || head[i + 1] == '!'))
		return 60;
	return 0;
}

static const char *const xml_extensions[] = { "xml", NULL };

const struct format_ops format_xml = {
	.name = "xml",
	.extensions = xml_extensions,
	.caps = FMT_CAP_READ | FMT_CAP_TOTALS | FMT_CAP_NESTED | FMT_CAP_STREAM | FMT_CAP_TABLES,
	.probe = xml_probe,
	.tables = xml_tables,
	.rd_open = xml_rd_open,
	.rd_next = xml_rd_next,
	.rd_columns = NULL,
	.rd_close = xml_rd_close,
};
