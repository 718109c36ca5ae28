/* CSV dialect sniffing (see csv_sniff.h). A heuristic over at most the
 * first 50 lines; quoted fields are honoured, doubled quotes need no
 * special case since they toggle twice. */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "csv_sniff.h"

#define SNIFF_LINES 50
#define MAX_FIELDS 256

static const char candidates[] = { ',', ';', '\t', '|' };

char csv_sniff_delimiter(const char *head, size_t n)
{
	size_t count[4] = { 0 }, first[4] = { 0 };
	bool same[4] = { true, true, true, true };
	size_t lines = 0, line_len = 0;
	bool inq = false;
	char best = 0;
	size_t best_count = 0;

	if (n >= 3 && memcmp(head, "\xef\xbb\xbf", 3) == 0) {
		head += 3;
		n -= 3;
	}
	for (size_t i = 0; i < n && lines < SNIFF_LINES; i++) {
		char c = head[i];

		if (c == '"') {
			inq = !inq;
			line_len++;
		} else if (!inq && (c == '\n' || c == '\r')) {
			if (c == '\r' && i + 1 < n && head[i + 1] == '\n')
				i++;
			/* Blank lines are skipped by the reader: they say nothing. */
			if (line_len == 0)
				continue;
			for (int k = 0; k < 4; k++) {
				if (lines == 0)
					first[k] = count[k];
				else if (count[k] != first[k])
					same[k] = false;
				count[k] = 0;
			}
			lines++;
			line_len = 0;
		} else if (!inq) {
			line_len++;
			for (int k = 0; k < 4; k++)
				if (c == candidates[k])
					count[k]++;
		}
	}
	if (lines == 0) {
		/* One line without an end: take the most frequent candidate. */
		for (int k = 0; k < 4; k++)
			if (count[k] > best_count) {
				best = candidates[k];
				best_count = count[k];
			}
		return best;
	}
	for (int k = 0; k < 4; k++)
		if (same[k] && first[k] > best_count) {
			best = candidates[k];
			best_count = first[k];
		}
	return best;
}

/* A field looks like a number: optional sign, digits, optional fraction
 * and exponent. */
static bool numeric(const char *s, size_t n)
{
	size_t i = 0, digits = 0;

	if (i < n && (s[i] == '-' || s[i] == '+'))
		i++;
	while (i < n && s[i] >= '0' && s[i] <= '9') {
		i++;
		digits++;
	}
	if (i < n && s[i] == '.')
		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			digits++;
	if (digits && i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '-' || s[i] == '+'))
			i++;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	return digits > 0 && i == n;
}

struct field {
	const char *p;
	size_t n;
};

/* Splits the record at *pos into fields (quotes stripped, not unescaped:
 * enough for a guess). Returns the field count, or -1 at the end. */
static int split_record(const char *head, size_t n, size_t *pos, char delim,
                        struct field *f, int max)
{
	size_t i = *pos;
	int nf = 0;
	bool inq = false;
	size_t start = i;

	if (i >= n)
		return -1;
	for (; i <= n; i++) {
		char c = i < n ? head[i] : '\n';

		if (c == '"') {
			inq = !inq;
			continue;
		}
		if (inq && i < n)
			continue;
		if (c == delim || c == '\n' || c == '\r') {
			const char *p = head + start;
			size_t len = i - start;

			if (len >= 2 && p[0] == '"' && p[len - 1] == '"') {
				p++;
				len -= 2;
			}
			if (nf < max)
				f[nf++] = (struct field){ p, len };
			start = i + 1;
			if (c != delim) {
				if (c == '\r' && i + 1 < n && head[i + 1] == '\n')
					i++;
				*pos = i + 1;
				return nf;
			}
		}
	}
	*pos = n;
	return nf;
}

int csv_sniff_header(const char *head, size_t n, char delim)
{
	struct field *hdr = calloc(MAX_FIELDS, sizeof *hdr);
	struct field *row = calloc(MAX_FIELDS, sizeof *row);
	size_t pos = 0;
	int nh, nr, verdict = -1, lines = 0;

	if (!hdr || !row)
		goto out;
	if (n >= 3 && memcmp(head, "\xef\xbb\xbf", 3) == 0)
		pos = 3;
	nh = split_record(head, n, &pos, delim, hdr, MAX_FIELDS);
	if (nh <= 0)
		goto out;
	for (int i = 0; i < nh; i++) {
		if (hdr[i].n == 0 || numeric(hdr[i].p, hdr[i].n)) {
			verdict = 0;        /* empty or numeric names: data */
			goto out;
		}
		for (int j = 0; j < i; j++)
			if (hdr[j].n == hdr[i].n && memcmp(hdr[j].p, hdr[i].p, hdr[i].n) == 0) {
				verdict = 0;
				goto out;
			}
	}
	/* Text names over a column that holds numbers below: a header. */
	while (lines < SNIFF_LINES && (nr = split_record(head, n, &pos, delim, row, MAX_FIELDS)) >= 0) {
		if (nr == 1 && row[0].n == 0)
			continue;
		lines++;
		for (int i = 0; i < nr && i < nh; i++)
			if (numeric(row[i].p, row[i].n)) {
				verdict = 1;
				goto out;
			}
	}
	/* All text everywhere: a header is the common case for named files. */
	verdict = lines > 0 ? 1 : -1;
out:
	free(hdr);
	free(row);
	return verdict;
}
