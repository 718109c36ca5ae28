/* The XLSX container: a zip archive read straight from the daemon's fd
 * (the libzip source of codecs/zipsource.c, so no path is resolved again
 * and the fd's offset is never touched), and its parts as streams of XML
 * nodes. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <libxml/parser.h>

#include "codecs/zipsource.h"
#include "xlsx.h"
#include "xmlinit.h"

/* ---- the archive -------------------------------------------------------- */

zip_t *xlsx_zip_open(int fd, struct rowd_error *err)
{
	struct zipsrc *s = calloc(1, sizeof *s);
	zip_source_t *src;
	zip_error_t zerr;
	struct stat st;
	zip_t *za;

	if (!s) {
		rowd_error_set(err, ROWD_ENOMEM, "out of memory opening the xlsx archive");
		return NULL;
	}
	if (fstat(fd, &st) < 0 || (s->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) {
		rowd_error_set(err, ROWD_EIO, "xlsx: cannot use the file: %s", strerror(errno));
		free(s);
		return NULL;
	}
	s->size = (uint64_t)st.st_size;
	s->owned = true;
	zip_error_init(&s->error);
	zip_error_init(&zerr);
	src = zipsrc_create(s, &zerr);
	if (!src) {
		close(s->fd);
		zip_error_fini(&s->error);
		free(s);
		rowd_error_set(err, ROWD_ENOMEM, "xlsx: cannot read the archive: %s", zip_error_strerror(&zerr));
		zip_error_fini(&zerr);
		return NULL;
	}
	/* CHECKCONS: every member's local header against the central
	 * directory, so that damage to a part the reader never opens
	 * ([Content_Types].xml, the first member) is still an error. */
	za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &zerr);
	if (!za) {
		if (zip_error_code_zip(&zerr) == ZIP_ER_MEMORY)
			rowd_error_set(err, ROWD_ENOMEM, "out of memory opening the xlsx archive");
		else
			rowd_error_set(err, ROWD_EFORMAT,
			               "xlsx: not an XLSX workbook: the zip archive cannot be read (%s)",
			               zip_error_strerror(&zerr));
		zip_source_free(src);     /* frees s */
	}
	zip_error_fini(&zerr);
	return za;
}

int64_t xlsx_zip_find(zip_t *za, const char *name)
{
	return zip_name_locate(za, name, ZIP_FL_NOCASE);
}

/* ---- parts as XML ------------------------------------------------------- */

static int part_read(void *ctx, char *buf, int len)
{
	struct xlsx_part *p = ctx;
	zip_int64_t n;

	if (p->io_failed)
		return -1;
	n = zip_fread(p->zf, buf, (zip_uint64_t)len);
	if (n < 0) {
		rowd_error_set(&p->io_err, ROWD_EFORMAT, "xlsx: %s: the zip member is corrupt (%s)", p->name,
		               zip_file_strerror(p->zf));
		p->io_failed = true;
		return -1;
	}
	p->read += (uint64_t)n;
	if (p->max_read && p->read > p->max_read) {
		rowd_error_set(&p->io_err, ROWD_ELIMIT,
		               "xlsx: %s is larger than a workbook part may be (64 x the row_bytes limit, %zu)",
		               p->name, p->lim->row_bytes);
		p->io_failed = true;
		return -1;
	}
	return (int)n;
}

#if LIBXML_VERSION >= 21200
static void part_on_error(void *ctx, const xmlError *e)
#else
static void part_on_error(void *ctx, xmlErrorPtr e)
#endif
{
	struct xlsx_part *p = ctx;
	size_t n;

	/* Warnings and namespace errors do not stop the parser. */
	if (!e || e->level < XML_ERR_FATAL || p->xml_failed)
		return;
	p->xml_failed = true;
	p->xml_line = e->line;
	snprintf(p->xml_msg, sizeof p->xml_msg, "%s", e->message ? e->message : "malformed XML");
	n = strlen(p->xml_msg);
	while (n && (p->xml_msg[n - 1] == '\n' || p->xml_msg[n - 1] == ' '))
		p->xml_msg[--n] = 0;
}

static int lock_down(xmlTextReaderPtr rd)
{
	static const int props[] = { XML_PARSER_SUBST_ENTITIES, XML_PARSER_LOADDTD,
	                             XML_PARSER_DEFAULTATTRS, XML_PARSER_VALIDATE };

	for (size_t i = 0; i < sizeof props / sizeof props[0]; i++)
		if (xmlTextReaderSetParserProp(rd, props[i], 0) < 0 ||
		    xmlTextReaderGetParserProp(rd, props[i]) != 0)
			return -1;
	return 0;
}

#define PART_READER_OPTIONS (XML_PARSE_NONET | XML_PARSE_NOCDATA | XML_PARSE_BIG_LINES)

int xlsx_part_open(struct xlsx_part *p, zip_t *za, int64_t index, uint64_t max_read,
                   const struct rowd_limits *lim, struct rowd_error *err)
{
	memset(p, 0, sizeof *p);
	fmt_xml_init();
	p->lim = lim;
	p->max_read = max_read;
	rowd_error_clear(&p->io_err);
	p->name = zip_get_name(za, (zip_uint64_t)index, 0);
	if (!p->name)
		p->name = "?";
	p->zf = zip_fopen_index(za, (zip_uint64_t)index, 0);
	if (!p->zf)
		return rowd_error_set(err, ROWD_EFORMAT, "xlsx: cannot read part %s: %s", p->name,
		                      zip_strerror(za));
	/* The reader asks for its first bytes at once. */
	p->rd = xmlReaderForIO(part_read, NULL, p, NULL, NULL, PART_READER_OPTIONS);
	if (!p->rd) {
		if (p->io_failed)
			*err = p->io_err;
		else
			rowd_error_set(err, ROWD_EFORMAT, "xlsx: part %s is not XML", p->name);
		xlsx_part_close(p);
		return -1;
	}
	xmlTextReaderSetStructuredErrorHandler(p->rd, part_on_error, p);
	if (lock_down(p->rd) < 0) {
		xlsx_part_close(p);
		return rowd_error_set(err, ROWD_EIO, "cannot turn off entities and DTDs in libxml2");
	}
	return 0;
}

void xlsx_part_close(struct xlsx_part *p)
{
	if (p->rd)
		xmlFreeTextReader(p->rd);
	if (p->zf)
		zip_fclose(p->zf);
	p->rd = NULL;
	p->zf = NULL;
}

static int line_now(struct xlsx_part *p)
{
	return p->rd ? xmlTextReaderGetParserLineNumber(p->rd) : 0;
}

int xlsx_part_error(struct xlsx_part *p, enum rowd_err code, struct rowd_error *err,
                    const char *fmt, ...)
{
	char msg[ROWD_ERRMSG_MAX];
	int line = line_now(p);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (line <= 0)
		return rowd_error_set(err, code, "xlsx: %s: %s", p->name, msg);
	err->line = line;
	return rowd_error_set(err, code, "xlsx: %s line %d: %s", p->name, line, msg);
}

/* Why the reader stopped: the zip's error first (the parser only sees a
 * failed read), else libxml2's. */
static int part_failed(struct xlsx_part *p, struct rowd_error *err)
{
	if (p->io_failed) {
		int64_t row = err->row;

		*err = p->io_err;
		err->row = row;
		return -1;
	}
	if (p->xml_failed && p->xml_line > 0) {
		err->line = p->xml_line;
		return rowd_error_set(err, ROWD_EFORMAT, "xlsx: %s line %d: %s", p->name, p->xml_line,
		                      p->xml_msg);
	}
	return rowd_error_set(err, ROWD_EFORMAT, "xlsx: %s: %s", p->name,
	                      p->xml_failed ? p->xml_msg : "the XML cannot be parsed");
}

int xlsx_part_next(struct xlsx_part *p, struct rowd_error *err)
{
	int rc = xmlTextReaderRead(p->rd);

	if (rc < 0 || p->io_failed || p->xml_failed)
		return part_failed(p, err);
	return rc;
}

const char *xlsx_part_element(struct xlsx_part *p, bool end)
{
	int t = xmlTextReaderNodeType(p->rd);

	if (t != (end ? XML_READER_TYPE_END_ELEMENT : XML_READER_TYPE_ELEMENT))
		return NULL;
	return (const char *)xmlTextReaderConstLocalName(p->rd);
}

void xlsx_part_attrs(struct xlsx_part *p, const char *const *local, char **out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = NULL;
	if (xmlTextReaderMoveToFirstAttribute(p->rd) != 1)
		return;
	do {
		const char *name = (const char *)xmlTextReaderConstLocalName(p->rd);

		for (size_t i = 0; name && i < n; i++)
			if (!out[i] && strcmp(name, local[i]) == 0 && !xmlTextReaderIsNamespaceDecl(p->rd))
				out[i] = (char *)xmlTextReaderValue(p->rd);
	} while (xmlTextReaderMoveToNextAttribute(p->rd) == 1);
	xmlTextReaderMoveToElement(p->rd);
}

char *xlsx_part_attr(struct xlsx_part *p, const char *local)
{
	char *v;

	xlsx_part_attrs(p, &local, &v, 1);
	return v;
}

int xlsx_part_text(struct xlsx_part *p, struct mpbuf *buf, struct rowd_error *err)
{
	int depth = xmlTextReaderDepth(p->rd);
	size_t start = buf->len;

	if (xmlTextReaderIsEmptyElement(p->rd))
		return 0;
	for (;;) {
		int rc = xlsx_part_next(p, err), t;
		const char *v;

		if (rc < 0)
			return -1;
		if (rc == 0)
			return xlsx_part_error(p, ROWD_EFORMAT, err, "the part ends inside an element");
		t = xmlTextReaderNodeType(p->rd);
		if (t == XML_READER_TYPE_END_ELEMENT && xmlTextReaderDepth(p->rd) == depth)
			return 0;
		if (t == XML_READER_TYPE_ENTITY_REFERENCE)
			return xlsx_part_error(p, ROWD_EFORMAT, err,
			                       "entity reference &%.60s; is not expanded (entities and DTDs are off for safety)",
			                       (const char *)xmlTextReaderConstLocalName(p->rd));
		if (t != XML_READER_TYPE_TEXT && t != XML_READER_TYPE_CDATA &&
		    t != XML_READER_TYPE_WHITESPACE && t != XML_READER_TYPE_SIGNIFICANT_WHITESPACE)
			continue;
		v = (const char *)xmlTextReaderConstValue(p->rd);
		if (v && mpbuf_append(buf, v, strlen(v)) < 0)
			return rowd_error_set(err, ROWD_ENOMEM, "out of memory reading %s", p->name);
		if (buf->len - start > p->lim->str_bytes)
			return xlsx_part_error(p, ROWD_ELIMIT, err, "a text is longer than the str_bytes limit (%zu)",
			                       p->lim->str_bytes);
	}
}
