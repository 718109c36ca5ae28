/* Typed access to format/codec option maps. Every option is honoured or
 * rejected: formats first call opts_check_known() with the keys they take,
 * then read each with the typed getters (wrong type -> EINVAL naming the
 * option). Getters return 1 when present, 0 when absent, -1 on error. */
#ifndef ROWD_OPTIONS_H
#define ROWD_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <msgpack.h>

#include "rowd_proto.h"

/* what = "format csv" / "codec gzip", used in messages. */
int opts_check_known(const msgpack_object *opts, const char *const *known,
                     const char *what, struct rowd_error *err);
const msgpack_object *opts_get(const msgpack_object *opts, const char *key);
int opts_str(const msgpack_object *opts, const char *key, const char **s,
             size_t *len, struct rowd_error *err);
int opts_bool(const msgpack_object *opts, const char *key, bool *v,
              struct rowd_error *err);
int opts_int(const msgpack_object *opts, const char *key, int64_t min,
             int64_t max, int64_t *v, struct rowd_error *err);
/* An array of strings; *arr points at the msgpack array (items are str). */
int opts_str_array(const msgpack_object *opts, const char *key,
                   const msgpack_object **arr, struct rowd_error *err);
/* One of a fixed set of strings: *index is its position in choices. */
int opts_choice(const msgpack_object *opts, const char *key,
                const char *const *choices, int *index, struct rowd_error *err);

#endif
