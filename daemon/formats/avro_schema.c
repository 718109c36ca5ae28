/* Avro schema: the writer's JSON schema (avro.schema) parsed with yajl's
 * tree API into a compact node table (avro.h).
 *
 * Why a table of nodes joined by index: a named type may be referenced
 * again after its definition, or from inside itself (recursive types),
 * so the schema is a graph; indices stay valid while the table grows.
 * Named types are found by full name through a small hash table; names
 * follow the specification's namespace rules (a dotted name is full,
 * otherwise the namespace attribute or the enclosing one applies, and a
 * reference tries the enclosing namespace, then the null one).
 *
 * The JSON text is scanned for its nesting depth before yajl sees it:
 * yajl_tree_free recurses, so a deep text could exhaust a worker's stack.
 * Logical types that are unknown or sit on the wrong base type are
 * ignored (the specification says readers fall back to the base type).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#include "formats/avro.h"

/* Named types by full name: open addressing, power-of-two size. */
struct names {
	char **keys;
	uint32_t *vals;
	size_t cap, used;
};

struct sparse {
	struct avro_schema *s;
	struct names names;
	size_t max_depth;
	struct rowd_error *err;
};

static const char *const primitives[] = {
	"null", "boolean", "int", "long", "float", "double", "bytes", "string", NULL
};
static const enum avro_type primitive_types[] = {
	AVRO_NULL, AVRO_BOOLEAN, AVRO_INT, AVRO_LONG, AVRO_FLOAT, AVRO_DOUBLE,
	AVRO_BYTES, AVRO_STRING,
};
static const size_t primitive_min[] = { 0, 1, 1, 1, 4, 8, 1, 1 };

static int bad(struct sparse *c, const char *fmt, const char *arg)
{
	return rowd_error_set(c->err, ROWD_EFORMAT, "avro.schema: %s%s", fmt, arg ? arg : "");
}

static int nomem(struct sparse *c)
{
	return rowd_error_set(c->err, ROWD_ENOMEM, "out of memory for the avro schema");
}

/* ---- named types ------------------------------------------------------ */

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	while (*s)
		h = (h ^ (uint8_t)*s++) * 1099511628211ull;
	return h;
}

static long names_find(const struct names *t, const char *key)
{
	if (!t->cap)
		return -1;
	for (size_t i = hash(key) & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
		if (!t->keys[i])
			return -1;
		if (strcmp(t->keys[i], key) == 0)
			return (long)t->vals[i];
	}
}

/* Keeps key (the node owns it). */
static int names_add(struct names *t, char *key, uint32_t val)
{
	if ((t->used + 1) * 2 > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **keys = calloc(cap, sizeof *keys);
		uint32_t *vals = calloc(cap, sizeof *vals);

		if (!keys || !vals) {
			free(keys);
			free(vals);
			return -1;
		}
		for (size_t i = 0; i < t->cap; i++) {
			size_t j;

			if (!t->keys[i])
				continue;
			for (j = hash(t->keys[i]) & (cap - 1); keys[j]; j = (j + 1) & (cap - 1))
				;
			keys[j] = t->keys[i];
			vals[j] = t->vals[i];
		}
		free(t->keys);
		free(t->vals);
		t->keys = keys;
		t->vals = vals;
		t->cap = cap;
	}
	size_t i;

	for (i = hash(key) & (t->cap - 1); t->keys[i]; i = (i + 1) & (t->cap - 1))
		;
	t->keys[i] = key;
	t->vals[i] = val;
	t->used++;
	return 0;
}

static void names_free(struct names *t)
{
	free(t->keys);
	free(t->vals);
}

/* ---- node table ------------------------------------------------------- */

static long node_new(struct sparse *c, enum avro_type type)
{
	struct avro_schema *s = c->s;

	if (s->count == s->cap) {
		uint32_t cap = s->cap ? s->cap * 2 : 16;
		struct avro_node *p;

		if (cap < s->cap || cap > UINT32_MAX / 2)
			return bad(c, "too many types", NULL);
		p = realloc(s->nodes, cap * sizeof *p);
		if (!p)
			return nomem(c);
		s->nodes = p;
		s->cap = cap;
	}
	memset(&s->nodes[s->count], 0, sizeof s->nodes[0]);
	s->nodes[s->count].type = type;
	return s->count++;
}

static int primitive_index(const char *name)
{
	for (int i = 0; primitives[i]; i++)
		if (strcmp(primitives[i], name) == 0)
			return i;
	return -1;
}

static char *join(const char *ns, const char *name)
{
	size_t a = ns ? strlen(ns) : 0, b = strlen(name);
	char *s = malloc(a + b + 2);

	if (!s)
		return NULL;
	if (a) {
		memcpy(s, ns, a);
		s[a++] = '.';
	}
	memcpy(s + a, name, b + 1);
	return s;
}

/* A reference by name: the enclosing namespace first, then the null one. */
static long resolve(struct sparse *c, const char *name, const char *ns)
{
	long idx = -1;

	if (!strchr(name, '.') && ns && *ns) {
		char *full = join(ns, name);

		if (!full)
			return nomem(c);
		idx = names_find(&c->names, full);
		free(full);
	}
	if (idx < 0)
		idx = names_find(&c->names, name);
	if (idx < 0)
		return bad(c, "unknown type name ", name);
	return idx;
}

static const char *str_attr(yajl_val obj, const char *key)
{
	const char *path[] = { key, NULL };
	yajl_val v = yajl_tree_get(obj, path, yajl_t_string);

	return v ? YAJL_GET_STRING(v) : NULL;
}

static yajl_val attr(yajl_val obj, const char *key)
{
	const char *path[] = { key, NULL };

	return yajl_tree_get(obj, path, yajl_t_any);
}

/* Registers a named type (record, enum, fixed) under its full name.
 * *member_ns (malloc'd, or NULL for the null namespace) is the namespace
 * its members inherit: the full name up to its last dot. */
static int define_name(struct sparse *c, yajl_val obj, const char *ns, uint32_t idx,
                       char **member_ns)
{
	const char *name = str_attr(obj, "name");
	const char *own_ns = str_attr(obj, "namespace");
	const char *dot;
	char *full;

	*member_ns = NULL;
	if (!name || !*name)
		return bad(c, "a named type without a name", NULL);
	if (primitive_index(name) >= 0)
		return bad(c, "a named type cannot be called ", name);
	if (strchr(name, '.'))
		full = strdup(name);
	else
		full = join(own_ns ? own_ns : ns, name);
	if (!full)
		return nomem(c);
	if (names_find(&c->names, full) >= 0) {
		bad(c, "type defined twice: ", full);
		free(full);
		return -1;
	}
	if (names_add(&c->names, full, idx) < 0) {
		free(full);
		return nomem(c);
	}
	c->s->nodes[idx].fullname = full;     /* owned by the node */
	dot = strrchr(full, '.');
	if (dot && dot > full) {
		*member_ns = strndup(full, (size_t)(dot - full));
		if (!*member_ns)
			return nomem(c);
	}
	return 0;
}

static size_t sat_add(size_t a, size_t b)
{
	return a > SIZE_MAX / 4 - b ? SIZE_MAX / 4 : a + b;
}

static int parse(struct sparse *c, yajl_val v, const char *ns, size_t depth, uint32_t *out);

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Field names become a row's keys: a duplicate would make a map with two
 * equal keys. Sorted, not pairwise: a record may have many fields. */
static int check_unique(struct sparse *c, char **names, size_t n)
{
	char **sorted;
	int rc = 0;

	if (n < 2)
		return 0;
	sorted = malloc(n * sizeof *sorted);
	if (!sorted)
		return nomem(c);
	memcpy(sorted, names, n * sizeof *sorted);
	qsort(sorted, n, sizeof *sorted, cmp_str);
	for (size_t i = 1; i < n && rc == 0; i++)
		if (strcmp(sorted[i - 1], sorted[i]) == 0)
			rc = bad(c, "field named twice: ", sorted[i]);
	free(sorted);
	return rc;
}

static int parse_fields(struct sparse *c, yajl_val obj, uint32_t idx, const char *ns, size_t depth)
{
	yajl_val fields = attr(obj, "fields");
	struct avro_node *nd;
	size_t n, keys_len = 0;

	if (!fields || !YAJL_IS_ARRAY(fields))
		return bad(c, "a record needs a fields array: ", c->s->nodes[idx].fullname);
	n = fields->u.array.len;
	if (n > UINT32_MAX / 2)
		return bad(c, "too many fields", NULL);
	nd = &c->s->nodes[idx];
	nd->n = (uint32_t)n;
	nd->kids = calloc(n ? n : 1, sizeof *nd->kids);
	nd->names = calloc(n ? n : 1, sizeof *nd->names);
	nd->name_lens = calloc(n ? n : 1, sizeof *nd->name_lens);
	nd->key_offs = calloc(n + 1, sizeof *nd->key_offs);
	if (!nd->kids || !nd->names || !nd->name_lens || !nd->key_offs)
		return nomem(c);
	for (size_t i = 0; i < n; i++) {
		yajl_val f = fields->u.array.values[i];
		const char *name = YAJL_IS_OBJECT(f) ? str_attr(f, "name") : NULL;
		yajl_val type = YAJL_IS_OBJECT(f) ? attr(f, "type") : NULL;
		uint32_t kid;
		char *copy;

		if (!name || !*name || !type)
			return bad(c, "a record field needs a name and a type in ",
			           c->s->nodes[idx].fullname);
		copy = strdup(name);
		if (!copy)
			return nomem(c);
		c->s->nodes[idx].names[i] = copy;
		c->s->nodes[idx].name_lens[i] = strlen(copy);
		if (parse(c, type, ns, depth + 1, &kid) < 0)
			return -1;
		nd = &c->s->nodes[idx];           /* parse may move the table */
		nd->kids[i] = kid;
		keys_len += nd->name_lens[i] + MP_STR_HDR_MAX;
	}
	nd = &c->s->nodes[idx];
	if (check_unique(c, nd->names, n) < 0)
		return -1;
	nd->packed_keys = malloc(keys_len ? keys_len : 1);
	if (!nd->packed_keys)
		return nomem(c);
	{
		struct mpbuf b = { nd->packed_keys, 0, keys_len ? keys_len : 1 };

		for (size_t i = 0; i < n; i++) {
			nd->key_offs[i] = b.len;
			mp_put_str(&b, nd->names[i], nd->name_lens[i]);
		}
		nd->key_offs[n] = b.len;
	}
	return 0;
}

static int parse_symbols(struct sparse *c, yajl_val obj, uint32_t idx)
{
	yajl_val syms = attr(obj, "symbols");
	struct avro_node *nd = &c->s->nodes[idx];
	size_t n;

	if (!syms || !YAJL_IS_ARRAY(syms) || syms->u.array.len == 0)
		return bad(c, "an enum needs a non-empty symbols array: ", nd->fullname);
	n = syms->u.array.len;
	if (n > UINT32_MAX / 2)
		return bad(c, "too many symbols", NULL);
	nd->n = (uint32_t)n;
	nd->names = calloc(n, sizeof *nd->names);
	nd->name_lens = calloc(n, sizeof *nd->name_lens);
	if (!nd->names || !nd->name_lens)
		return nomem(c);
	for (size_t i = 0; i < n; i++) {
		yajl_val sym = syms->u.array.values[i];

		if (!YAJL_IS_STRING(sym))
			return bad(c, "enum symbols must be strings in ", nd->fullname);
		nd->names[i] = strdup(sym->u.string);
		if (!nd->names[i])
			return nomem(c);
		nd->name_lens[i] = strlen(nd->names[i]);
	}
	return 0;
}

static bool int_attr(yajl_val obj, const char *key, long long *v)
{
	yajl_val a = attr(obj, key);

	if (!a || !YAJL_IS_INTEGER(a))
		return false;
	*v = YAJL_GET_INTEGER(a);
	return true;
}

/* The logicalType annotation of obj, kept only where it is valid. */
static void logical(yajl_val obj, struct avro_node *nd)
{
	static const struct {
		const char *name;
		enum avro_type base;
		enum avro_logical lt;
	} known[] = {
		{ "date", AVRO_INT, AVRO_LT_DATE },
		{ "time-millis", AVRO_INT, AVRO_LT_TIME_MILLIS },
		{ "time-micros", AVRO_LONG, AVRO_LT_TIME_MICROS },
		{ "timestamp-millis", AVRO_LONG, AVRO_LT_TS_MILLIS },
		{ "timestamp-micros", AVRO_LONG, AVRO_LT_TS_MICROS },
		{ "local-timestamp-millis", AVRO_LONG, AVRO_LT_LOCAL_TS_MILLIS },
		{ "local-timestamp-micros", AVRO_LONG, AVRO_LT_LOCAL_TS_MICROS },
		{ "uuid", AVRO_STRING, AVRO_LT_UUID },
		{ "uuid", AVRO_FIXED, AVRO_LT_UUID },
		{ "decimal", AVRO_BYTES, AVRO_LT_DECIMAL },
		{ "decimal", AVRO_FIXED, AVRO_LT_DECIMAL },
	};
	const char *name = str_attr(obj, "logicalType");
	long long precision, scale = 0;

	if (!name)
		return;
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
		if (strcmp(known[i].name, name) != 0 || known[i].base != nd->type)
			continue;
		if (known[i].lt == AVRO_LT_UUID && nd->type == AVRO_FIXED && nd->n != 16)
			return;
		if (known[i].lt == AVRO_LT_DECIMAL) {
			if (nd->type == AVRO_FIXED && nd->n > AVRO_DECIMAL_MAX_PRECISION / 2)
				return;
			if (!int_attr(obj, "precision", &precision) || precision <= 0)
				return;
			if (attr(obj, "scale") && !int_attr(obj, "scale", &scale))
				return;
			/* Beyond AVRO_DECIMAL_MAX_PRECISION digits the text
			 * would cost more than it is worth: left as bytes. */
			if (scale < 0 || scale > precision || precision > AVRO_DECIMAL_MAX_PRECISION)
				return;
			nd->scale = (int32_t)scale;
			nd->precision = (int32_t)precision;
		}
		nd->logical = known[i].lt;
		return;
	}
}

static int parse_object(struct sparse *c, yajl_val obj, const char *ns, size_t depth,
                        uint32_t *out)
{
	yajl_val tv = attr(obj, "type");
	const char *type;
	long idx;
	int pi;

	if (!tv)
		return bad(c, "a schema object without a type", NULL);
	if (!YAJL_IS_STRING(tv))
		return parse(c, tv, ns, depth + 1, out);   /* {"type": {...}} */
	type = YAJL_GET_STRING(tv);
	if ((pi = primitive_index(type)) >= 0) {
		if ((idx = node_new(c, primitive_types[pi])) < 0)
			return -1;
		c->s->nodes[idx].min_size = primitive_min[pi];
		logical(obj, &c->s->nodes[idx]);
	} else if (strcmp(type, "record") == 0 || strcmp(type, "error") == 0) {
		char *member_ns;
		size_t min = 0;
		int rc;

		if ((idx = node_new(c, AVRO_RECORD)) < 0)
			return -1;
		/* Defined before its fields: they may refer to it. */
		if (define_name(c, obj, ns, (uint32_t)idx, &member_ns) < 0)
			return -1;
		rc = parse_fields(c, obj, (uint32_t)idx, member_ns, depth);
		free(member_ns);
		if (rc < 0)
			return -1;
		for (uint32_t i = 0; i < c->s->nodes[idx].n; i++) {
			uint32_t k = c->s->nodes[idx].kids[i];

			/* A field naming an enclosing record still being
			 * defined counts as 0: a lower bound is enough. */
			if (k > (uint32_t)idx || c->s->nodes[k].type != AVRO_RECORD ||
			    c->s->nodes[k].packed_keys)
				min = sat_add(min, c->s->nodes[k].min_size);
		}
		c->s->nodes[idx].min_size = min;
	} else if (strcmp(type, "enum") == 0) {
		char *member_ns;

		if ((idx = node_new(c, AVRO_ENUM)) < 0)
			return -1;
		if (define_name(c, obj, ns, (uint32_t)idx, &member_ns) < 0)
			return -1;
		free(member_ns);
		if (parse_symbols(c, obj, (uint32_t)idx) < 0)
			return -1;
		c->s->nodes[idx].min_size = 1;
	} else if (strcmp(type, "fixed") == 0) {
		char *member_ns;
		long long size;

		if ((idx = node_new(c, AVRO_FIXED)) < 0)
			return -1;
		if (define_name(c, obj, ns, (uint32_t)idx, &member_ns) < 0)
			return -1;
		free(member_ns);
		if (!int_attr(obj, "size", &size) || size < 0 || size > INT32_MAX)
			return bad(c, "a fixed type needs a size from 0 to 2^31-1: ",
			           c->s->nodes[idx].fullname);
		c->s->nodes[idx].n = (uint32_t)size;
		c->s->nodes[idx].min_size = (size_t)size;
		logical(obj, &c->s->nodes[idx]);
	} else if (strcmp(type, "array") == 0 || strcmp(type, "map") == 0) {
		bool is_array = type[0] == 'a';
		yajl_val inner = attr(obj, is_array ? "items" : "values");
		uint32_t kid;

		if (!inner)
			return bad(c, is_array ? "an array needs items" : "a map needs values", NULL);
		if ((idx = node_new(c, is_array ? AVRO_ARRAY : AVRO_MAP)) < 0)
			return -1;
		c->s->nodes[idx].kids = malloc(sizeof(uint32_t));
		if (!c->s->nodes[idx].kids)
			return nomem(c);
		c->s->nodes[idx].n = 1;
		if (parse(c, inner, ns, depth + 1, &kid) < 0)
			return -1;
		c->s->nodes[idx].kids[0] = kid;
		c->s->nodes[idx].min_size = 1;
	} else {
		return parse(c, tv, ns, depth + 1, out);   /* {"type": "Name"} */
	}
	*out = (uint32_t)idx;
	return 0;
}

static int parse_union(struct sparse *c, yajl_val arr, const char *ns, size_t depth,
                       uint32_t *out)
{
	size_t n = arr->u.array.len;
	size_t min = SIZE_MAX;
	long idx;

	if (n == 0)
		return bad(c, "an empty union", NULL);
	if (n > UINT32_MAX / 2)
		return bad(c, "too many union branches", NULL);
	if ((idx = node_new(c, AVRO_UNION)) < 0)
		return -1;
	c->s->nodes[idx].n = (uint32_t)n;
	c->s->nodes[idx].kids = calloc(n, sizeof(uint32_t));
	if (!c->s->nodes[idx].kids)
		return nomem(c);
	for (size_t i = 0; i < n; i++) {
		uint32_t kid;

		if (YAJL_IS_ARRAY(arr->u.array.values[i]))
			return bad(c, "a union directly inside a union", NULL);
		if (parse(c, arr->u.array.values[i], ns, depth + 1, &kid) < 0)
			return -1;
		c->s->nodes[idx].kids[i] = kid;
		if (kid > (uint32_t)idx || c->s->nodes[kid].type != AVRO_RECORD ||
		    c->s->nodes[kid].packed_keys) {
			if (c->s->nodes[kid].min_size < min)
				min = c->s->nodes[kid].min_size;
		} else {
			min = 0;
		}
	}
	/* The branch index takes a byte at least. */
	c->s->nodes[idx].min_size = sat_add(min, 1);
	*out = (uint32_t)idx;
	return 0;
}

static int parse(struct sparse *c, yajl_val v, const char *ns, size_t depth, uint32_t *out)
{
	long idx;
	int pi;

	if (depth > c->max_depth)
		return bad(c, "nested deeper than the depth limit", NULL);
	if (YAJL_IS_OBJECT(v))
		return parse_object(c, v, ns, depth, out);
	if (YAJL_IS_ARRAY(v))
		return parse_union(c, v, ns, depth, out);
	if (!YAJL_IS_STRING(v))
		return bad(c, "a schema must be a string, an object or an array", NULL);
	if ((pi = primitive_index(YAJL_GET_STRING(v))) >= 0) {
		if ((idx = node_new(c, primitive_types[pi])) < 0)
			return -1;
		c->s->nodes[idx].min_size = primitive_min[pi];
	} else if ((idx = resolve(c, YAJL_GET_STRING(v), ns)) < 0) {
		return -1;
	}
	*out = (uint32_t)idx;
	return 0;
}

/* Deepest nesting of brackets in a JSON text, strings skipped. */
static size_t json_depth(const char *p, size_t n)
{
	size_t depth = 0, max = 0;
	bool in_str = false;

	for (size_t i = 0; i < n; i++) {
		char ch = p[i];

		if (in_str) {
			if (ch == '\\')
				i++;
			else if (ch == '"')
				in_str = false;
		} else if (ch == '"') {
			in_str = true;
		} else if (ch == '{' || ch == '[') {
			if (++depth > max)
				max = depth;
		} else if ((ch == '}' || ch == ']') && depth > 0) {
			depth--;
		}
	}
	return max;
}

int avro_schema_parse(struct avro_schema *s, const char *json, size_t len, size_t max_depth,
                      struct rowd_error *err)
{
	struct sparse c = { .s = s, .max_depth = 4 * max_depth + 4, .err = err };
	char ebuf[200];
	char *text;
	yajl_val root;
	int rc;

	memset(s, 0, sizeof *s);
	if (memchr(json, 0, len))
		return rowd_error_set(err, ROWD_EFORMAT, "avro.schema: a NUL byte in the JSON text");
	/* A schema level takes up to four JSON levels (record, fields,
	 * field, union). */
	if (json_depth(json, len) > c.max_depth)
		return rowd_error_set(err, ROWD_EFORMAT,
		                      "avro.schema: JSON nested deeper than the depth limit (%zu)",
		                      max_depth);
	text = malloc(len + 1);
	if (!text)
		return rowd_error_set(err, ROWD_ENOMEM, "out of memory for the avro schema");
	memcpy(text, json, len);
	text[len] = 0;
	ebuf[0] = 0;
	root = yajl_tree_parse(text, ebuf, sizeof ebuf);
	free(text);
	if (!root) {
		char *nl;

		while ((nl = strchr(ebuf, '\n')))
			*nl = ' ';
		return rowd_error_set(err, ROWD_EFORMAT, "avro.schema is not JSON: %.150s",
		                      ebuf[0] ? ebuf : "parse error");
	}
	rc = parse(&c, root, NULL, 0, &s->root);
	yajl_tree_free(root);
	names_free(&c.names);
	if (rc < 0) {
		avro_schema_free(s);
		return -1;
	}
	return 0;
}

void avro_schema_free(struct avro_schema *s)
{
	for (uint32_t i = 0; i < s->count; i++) {
		struct avro_node *nd = &s->nodes[i];

		if (nd->names)
			for (uint32_t j = 0; j < nd->n; j++)
				free(nd->names[j]);
		free(nd->names);
		free(nd->name_lens);
		free(nd->kids);
		free(nd->packed_keys);
		free(nd->key_offs);
		free(nd->fullname);
	}
	free(s->nodes);
	memset(s, 0, sizeof *s);
}
