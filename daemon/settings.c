/* Configuration parsing (see settings.h). */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "settings.h"
#include "log.h"


void config_defaults(struct rowd_config *c)
{
	memset(c, 0, sizeof *c);
	c->socket_mode = 0600;
	c->log_level = LOG_LVL_INFO;
	c->shutdown_timeout = 10;
	rowd_limits_default(&c->limits);
}

void config_free(struct rowd_config *c)
{
	free(c->socket_path);
	free(c->socket_group);
	for (size_t i = 0; i < c->nroots; i++)
		free(c->roots[i]);
	free(c->config_file);
	memset(c, 0, sizeof *c);
}

/* A size with an optional K/M/G suffix (powers of 1024). */
static int parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -1;
	switch (toupper((unsigned char)*end)) {
	case 'K': v <<= 10; end++; break;
	case 'M': v <<= 20; end++; break;
	case 'G': v <<= 30; end++; break;
	default: break;
	}
	if (toupper((unsigned char)*end) == 'B' || toupper((unsigned char)*end) == 'I')
		end++;
	if (*end || v > SIZE_MAX / 2)
		return -1;
	*out = (size_t)v;
	return 0;
}

struct limit_key {
	const char *name;
	size_t offset;
	size_t min;
};

#define LIM(f, m) { #f, offsetof(struct rowd_limits, f), m }
static const struct limit_key limit_keys[] = {
	LIM(frame_bytes, 1024), LIM(text_line, 256), LIM(depth, 2),
	LIM(elements, 16), LIM(str_bytes, 256), LIM(row_bytes, 256),
	LIM(batch_rows, 1), LIM(handles_per_conn, 1), LIM(connections, 1),
	LIM(queued_jobs, 1), LIM(out_high, 4096), LIM(out_low, 0),
};

static int set_limit(struct rowd_config *c, const char *key, const char *value,
                     char *errmsg, size_t errlen, bool *found)
{
	for (size_t i = 0; i < sizeof limit_keys / sizeof limit_keys[0]; i++) {
		size_t v;

		if (strcmp(key, limit_keys[i].name) != 0)
			continue;
		*found = true;
		if (parse_size(value, &v) < 0 || v < limit_keys[i].min) {
			snprintf(errmsg, errlen, "%s: expected a size of at least %zu, got '%s'",
			         key, limit_keys[i].min, value);
			return -1;
		}
		/* msgpack-c's unpacker stops at 32 levels (its embedded stack). */
		if (strcmp(key, "depth") == 0 && v > 32) {
			snprintf(errmsg, errlen, "depth: at most 32 (msgpack-c cannot unpack deeper)");
			return -1;
		}
		*(size_t *)((char *)&c->limits + limit_keys[i].offset) = v;
		return 0;
	}
	return 0;
}

static int set_uint(const char *key, const char *value, unsigned long max, int base,
                    unsigned *out, char *errmsg, size_t errlen)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(value, &end, base);
	if (errno || end == value || *end || *value == '-' || v > max) {
		snprintf(errmsg, errlen, "%s: expected a number up to %lu, got '%s'", key, max, value);
		return -1;
	}
	*out = (unsigned)v;
	return 0;
}

static int add_id(const char *key, const char *value, bool group, struct rowd_config *c,
                  char *errmsg, size_t errlen)
{
	size_t *n = group ? &c->nallow_gids : &c->nallow_uids;
	unsigned v;

	if (*n >= CONFIG_MAX_IDS) {
		snprintf(errmsg, errlen, "%s: at most %d entries", key, CONFIG_MAX_IDS);
		return -1;
	}
	if (set_uint(key, value, UINT_MAX - 1, 10, &v, errmsg, errlen) < 0) {
		struct passwd *pw = group ? NULL : getpwnam(value);
		struct group *gr = group ? getgrnam(value) : NULL;

		if (!pw && !gr)
			return -1;
		v = pw ? pw->pw_uid : gr->gr_gid;
	}
	if (group)
		c->allow_gids[(*n)++] = v;
	else
		c->allow_uids[(*n)++] = v;
	return 0;
}

static int set_str(char **dst, const char *value, char *errmsg, size_t errlen)
{
	char *s = strdup(value);

	if (!s) {
		snprintf(errmsg, errlen, "out of memory");
		return -1;
	}
	free(*dst);
	*dst = s;
	return 0;
}

int config_set(struct rowd_config *c, const char *key, const char *value,
               char *errmsg, size_t errlen)
{
	bool found = false;
	unsigned u;

	if (strcmp(key, "socket") == 0)
		return set_str(&c->socket_path, value, errmsg, errlen);
	if (strcmp(key, "socket_group") == 0) {
		if (set_str(&c->socket_group, value, errmsg, errlen) < 0)
			return -1;
		if (c->socket_mode == 0600)
			c->socket_mode = 0660;
		return 0;
	}
	if (strcmp(key, "socket_mode") == 0)
		return set_uint(key, value, 0777, 8, &c->socket_mode, errmsg, errlen);
	if (strcmp(key, "root") == 0) {
		if (c->nroots >= CONFIG_MAX_ROOTS) {
			snprintf(errmsg, errlen, "root: at most %d roots", CONFIG_MAX_ROOTS);
			return -1;
		}
		c->roots[c->nroots] = NULL;
		if (set_str(&c->roots[c->nroots], value, errmsg, errlen) < 0)
			return -1;
		c->nroots++;
		return 0;
	}
	if (strcmp(key, "workers") == 0)
		return set_uint(key, value, 1024, 10, &c->workers, errmsg, errlen);
	if (strcmp(key, "shutdown_timeout") == 0)
		return set_uint(key, value, 3600, 10, &c->shutdown_timeout, errmsg, errlen);
	if (strcmp(key, "idle_timeout") == 0) {
		if (set_uint(key, value, 86400 * 365, 10, &u, errmsg, errlen) < 0)
			return -1;
		c->limits.idle_timeout = u;
		return 0;
	}
	if (strcmp(key, "log_level") == 0) {
		int l = log_level_parse(value);

		if (l < 0) {
			snprintf(errmsg, errlen, "log_level: expected error, warn, info or debug, got '%s'", value);
			return -1;
		}
		c->log_level = l;
		return 0;
	}
	if (strcmp(key, "allow_uid") == 0)
		return add_id(key, value, false, c, errmsg, errlen);
	if (strcmp(key, "allow_gid") == 0)
		return add_id(key, value, true, c, errmsg, errlen);
	if (set_limit(c, key, value, errmsg, errlen, &found) < 0)
		return -1;
	if (!found) {
		snprintf(errmsg, errlen, "unknown setting '%s'", key);
		return -1;
	}
	return 0;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = 0;
	return s;
}

int config_load_file(struct rowd_config *c, const char *path, char *errmsg, size_t errlen)
{
	FILE *f = fopen(path, "re");
	char line[4096], msg[512];
	unsigned lineno = 0;

	if (!f) {
		snprintf(errmsg, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof line, f)) {
		char *s, *eq;

		lineno++;
		s = trim(line);
		if (!*s || *s == '#')
			continue;
		eq = strchr(s, '=');
		if (!eq) {
			snprintf(errmsg, errlen, "%s:%u: expected 'key = value'", path, lineno);
			fclose(f);
			return -1;
		}
		*eq = 0;
		if (config_set(c, trim(s), trim(eq + 1), msg, sizeof msg) < 0) {
			snprintf(errmsg, errlen, "%s:%u: %s", path, lineno, msg);
			fclose(f);
			return -1;
		}
	}
	fclose(f);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: rowd [options]\n"
	        "  -s, --socket PATH      Unix socket to listen on (default ./rowd.sock)\n"
	        "  -r, --root DIR         data root, repeatable (default: the current directory)\n"
	        "  -w, --workers N        worker threads (default: one per core)\n"
	        "  -c, --config FILE      config file (key = value lines)\n"
	        "  -l, --log-level LEVEL  error, warn, info or debug\n"
	        "  -o, --set KEY=VALUE    any config setting (e.g. -o row_bytes=8M)\n"
	        "      --version          print the version and exit\n"
	        "  -h, --help             this help\n");
}

void config_flags_free(struct config_flags *f)
{
	free(f->config_file);
	for (size_t i = 0; i < 2 * f->n; i++)
		free(f->kv[i]);
	free(f->kv);
	memset(f, 0, sizeof *f);
}

static int flags_add(struct config_flags *f, const char *key, const char *value)
{
	char **kv = realloc(f->kv, (2 * f->n + 2) * sizeof *kv);

	if (!kv)
		return -1;
	f->kv = kv;
	kv[2 * f->n] = strdup(key);
	kv[2 * f->n + 1] = strdup(value);
	f->n++;
	return kv[2 * f->n - 2] && kv[2 * f->n - 1] ? 0 : -1;
}

int config_build(struct rowd_config *c, const struct config_flags *f,
                 char *errmsg, size_t errlen)
{
	char msg[512];
	bool flag_roots = false;

	config_defaults(c);
	if (f->config_file) {
		if (config_load_file(c, f->config_file, errmsg, errlen) < 0)
			return -1;
		if (set_str(&c->config_file, f->config_file, errmsg, errlen) < 0)
			return -1;
	}
	for (size_t i = 0; i < f->n; i++) {
		const char *key = f->kv[2 * i], *value = f->kv[2 * i + 1];

		/* Roots given on the command line replace the file's. */
		if (strcmp(key, "root") == 0 && !flag_roots) {
			for (size_t k = 0; k < c->nroots; k++)
				free(c->roots[k]);
			c->nroots = 0;
			flag_roots = true;
		}
		if (config_set(c, key, value, msg, sizeof msg) < 0) {
			snprintf(errmsg, errlen, "command line: %s", msg);
			return -1;
		}
	}
	if (!c->socket_path && set_str(&c->socket_path, "./rowd.sock", errmsg, errlen) < 0)
		return -1;
	if (c->nroots == 0 && config_set(c, "root", ".", errmsg, errlen) < 0)
		return -1;
	if (c->limits.out_low >= c->limits.out_high) {
		snprintf(errmsg, errlen, "out_low (%zu) must be below out_high (%zu)",
		         c->limits.out_low, c->limits.out_high);
		return -1;
	}
	return 0;
}

int config_from_args(struct rowd_config *c, struct config_flags *f, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "root", required_argument, NULL, 'r' },
		{ "workers", required_argument, NULL, 'w' },
		{ "config", required_argument, NULL, 'c' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "set", required_argument, NULL, 'o' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	char msg[600];
	int opt;

	memset(f, 0, sizeof *f);
	optind = 1;
	while ((opt = getopt_long(argc, argv, "s:r:w:c:l:o:h", longopts, NULL)) != -1) {
		const char *key = NULL;
		char *kv = NULL;
		int rc;

		switch (opt) {
		case 's': key = "socket"; break;
		case 'r': key = "root"; break;
		case 'w': key = "workers"; break;
		case 'l': key = "log_level"; break;
		case 'c':
			if (set_str(&f->config_file, optarg, msg, sizeof msg) < 0)
				return -1;
			continue;
		case 'o':
			kv = strdup(optarg);
			if (!kv || !strchr(kv, '=')) {
				fprintf(stderr, "rowd: --set expects KEY=VALUE\n");
				free(kv);
				return -1;
			}
			*strchr(kv, '=') = 0;
			rc = flags_add(f, kv, kv + strlen(kv) + 1);
			free(kv);
			if (rc < 0) {
				fprintf(stderr, "rowd: out of memory\n");
				return -1;
			}
			continue;
		case 'V': printf("rowd %s\n", PACKAGE_VERSION); return 1;
		case 'h': usage(stdout); return 1;
		default: usage(stderr); return -1;
		}
		if (flags_add(f, key, optarg) < 0) {
			fprintf(stderr, "rowd: out of memory\n");
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "rowd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return -1;
	}
	if (config_build(c, f, msg, sizeof msg) < 0) {
		fprintf(stderr, "rowd: %s\n", msg);
		return -1;
	}
	return 0;
}
