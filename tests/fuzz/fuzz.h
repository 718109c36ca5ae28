/* libFuzzer harnesses: what they share.
 *
 * Each fuzz_*.c defines LLVMFuzzerTestOneInput. Built twice: with clang
 * and libFuzzer by `make fuzz`, and with the project's compiler linked to
 * replay_main.c, a check program that replays the corpus.
 *
 * Inputs that name a format or codec read "NAME[{JSON}]\0DATA" or
 * "NAME\x01MSGPACK DATA": NAME is looked up in the registry (so the corpus
 * keeps its meaning as formats are added), then come optional options, a
 * JSON object ("xml{\"tagname\":\"b\"}\0<r>...") or, after \x01, one msgpack
 * object (options JSON cannot spell: bin, ext, str that is not UTF-8).
 */
#ifndef ROWD_FUZZ_H
#define ROWD_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The longest "NAME[OPTIONS]" head considered. */
#define FUZZ_HEAD_MAX 1024

#define FUZZ_MSGPACK_OPTIONS 0x01

struct fuzz_named {
	char name[FUZZ_HEAD_MAX];    /* NUL-terminated */
	size_t name_len;
	char *options;               /* JSON object text or NULL (malloc'd) */
	const char *mp_options;      /* or packed msgpack options */
	size_t mp_options_len;
	const uint8_t *data;         /* the rest: the file */
	size_t size;
};

/* Splits an input; -1 when it names nothing (no end to the head). */
int fuzz_split(const uint8_t *in, size_t n, struct fuzz_named *out);
void fuzz_named_free(struct fuzz_named *nm);

/* A small number drawn from the input itself (FNV-1a), so that a corpus
 * file replays exactly as it ran under the fuzzer. */
uint32_t fuzz_hash(const uint8_t *p, size_t n);

/* Reports a broken invariant and aborts, which the fuzzer records. */
void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* fuzz_rows.c: formats' output. They need msgpack.h and rowd_proto.h. */
#ifdef ROWD_PROTO_H
/* packed holds exactly nrows maps that msgpack-c unpacks (as clients
 * do), with str keys, UTF-8 str everywhere, and maps or arrays as values
 * only when the format nests. */
void fuzz_check_rows(const char *packed, size_t len, size_t nrows, bool nested,
                     const char *fmt);
/* A refusal has a code and a message; with positioned, EFORMAT says
 * where (a line, row or offset). */
void fuzz_check_error(const struct rowd_error *err, const char *what, bool positioned);
/* Inside what every nested format carries exactly: nil, bool, integers,
 * finite float64, UTF-8 str, arrays, maps with such str keys. */
bool fuzz_plain(const msgpack_object *o);
/* fuzz_options.c: the options of an input as an object (*obj NULL when
 * none) held by up and raw; -1 when its JSON does not parse (the input is
 * the harness's, not something the daemon would be given). */
int fuzz_options(const struct fuzz_named *nm, msgpack_unpacked *up, struct mpbuf *raw,
                 const msgpack_object **obj);
#endif

#endif
