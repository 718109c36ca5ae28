/* Typed option access (see options.h). */
#include "config.h"

#include <string.h>

#include "options.h"

static bool key_is(const msgpack_object *k, const char *s)
{
	size_t n = strlen(s);

	return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
	       memcmp(k->via.str.ptr, s, n) == 0;
}

int opts_check_known(const msgpack_object *opts, const char *const *known,
                     const char *what, struct rowd_error *err)
{
	if (!opts || opts->type == MSGPACK_OBJECT_NIL)
		return 0;
	if (opts->type != MSGPACK_OBJECT_MAP)
		return rowd_error_set(err, ROWD_EINVAL, "options for %s must be a map", what);
	for (uint32_t i = 0; i < opts->via.map.size; i++) {
		const msgpack_object *k = &opts->via.map.ptr[i].key;
		bool ok = false;

		if (k->type != MSGPACK_OBJECT_STR)
			return rowd_error_set(err, ROWD_EINVAL, "option names for %s must be strings", what);
		for (const char *const *p = known; *p && !ok; p++)
			ok = key_is(k, *p);
		if (!ok)
			return rowd_error_set(err, ROWD_EINVAL, "unknown option '%.*s' for %s",
			                      (int)(k->via.str.size > 64 ? 64 : k->via.str.size),
			                      k->via.str.ptr, what);
	}
	return 0;
}

const msgpack_object *opts_get(const msgpack_object *opts, const char *key)
{
	if (!opts || opts->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (uint32_t i = 0; i < opts->via.map.size; i++)
		if (key_is(&opts->via.map.ptr[i].key, key))
			return &opts->via.map.ptr[i].val;
	return NULL;
}

int opts_str(const msgpack_object *opts, const char *key, const char **s,
             size_t *len, struct rowd_error *err)
{
	const msgpack_object *v = opts_get(opts, key);

	if (!v || v->type == MSGPACK_OBJECT_NIL)
		return 0;
	if (v->type != MSGPACK_OBJECT_STR)
		return rowd_error_set(err, ROWD_EINVAL, "option '%s' must be a string", key);
	*s = v->via.str.ptr;
	*len = v->via.str.size;
	return 1;
}

int opts_bool(const msgpack_object *opts, const char *key, bool *out,
              struct rowd_error *err)
{
	const msgpack_object *v = opts_get(opts, key);

	if (!v || v->type == MSGPACK_OBJECT_NIL)
		return 0;
	if (v->type != MSGPACK_OBJECT_BOOLEAN)
		return rowd_error_set(err, ROWD_EINVAL, "option '%s' must be true or false", key);
	*out = v->via.boolean;
	return 1;
}

int opts_int(const msgpack_object *opts, const char *key, int64_t min,
             int64_t max, int64_t *out, struct rowd_error *err)
{
	const msgpack_object *v = opts_get(opts, key);
	int64_t x;

	if (!v || v->type == MSGPACK_OBJECT_NIL)
		return 0;
	if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 <= INT64_MAX)
		x = (int64_t)v->via.u64;
	else if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		x = v->via.i64;
	else
		return rowd_error_set(err, ROWD_EINVAL, "option '%s' must be an integer", key);
	if (x < min || x > max)
		return rowd_error_set(err, ROWD_EINVAL,
		                      "option '%s' must be between %lld and %lld", key,
		                      (long long)min, (long long)max);
	*out = x;
	return 1;
}

int opts_str_array(const msgpack_object *opts, const char *key,
                   const msgpack_object **arr, struct rowd_error *err)
{
	const msgpack_object *v = opts_get(opts, key);

	if (!v || v->type == MSGPACK_OBJECT_NIL)
		return 0;
	if (v->type != MSGPACK_OBJECT_ARRAY)
		return rowd_error_set(err, ROWD_EINVAL, "option '%s' must be an array of strings", key);
	for (uint32_t i = 0; i < v->via.array.size; i++)
		if (v->via.array.ptr[i].type != MSGPACK_OBJECT_STR)
			return rowd_error_set(err, ROWD_EINVAL,
			                      "option '%s' must be an array of strings", key);
	*arr = v;
	return 1;
}

int opts_choice(const msgpack_object *opts, const char *key,
                const char *const *choices, int *index, struct rowd_error *err)
{
	const msgpack_object *v = opts_get(opts, key);

	if (!v || v->type == MSGPACK_OBJECT_NIL)
		return 0;
	if (v->type == MSGPACK_OBJECT_STR)
		for (int i = 0; choices[i]; i++)
			if (key_is(v, choices[i])) {
				*index = i;
				return 1;
			}
	return rowd_error_set(err, ROWD_EINVAL, "option '%s' must be one of %s%s%s%s%s", key,
	                      choices[0], choices[1] ? ", " : "", choices[1] ? choices[1] : "",
	                      choices[1] && choices[2] ? ", " : "",
	                      choices[1] && choices[2] ? choices[2] : "");
}
