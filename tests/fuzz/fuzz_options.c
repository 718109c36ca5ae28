/* Options of a named input as a msgpack object (see fuzz.h). */
#include "fmt_harness.h"
#include "fuzz.h"

int fuzz_options(const struct fuzz_named *nm, msgpack_unpacked *up, struct mpbuf *raw,
                 const msgpack_object **obj)
{
	struct rowd_error err;
	size_t off = 0;

	*obj = NULL;
	if (nm->options)
		return fmt_parse_options(nm->options, up, raw, obj, &err);
	if (!nm->mp_options)
		return 0;
	/* The frame scanner passed it, as the daemon's would. */
	if (msgpack_unpack_next(up, nm->mp_options, nm->mp_options_len, &off) != MSGPACK_UNPACK_SUCCESS)
		return -1;
	*obj = &up->data;
	return 0;
}
