/* Replays inputs through a harness without libFuzzer: the check build.
 *
 *   fuzz_read FILE|DIR...   every regular file given, or found (sorted)
 *                           in a directory given
 *   fuzz_read               the harness's corpus in the source tree
 *                           ($ROWD_TOP_SRCDIR/tests/fuzz/corpus/NAME)
 *
 * A broken invariant aborts, a sanitizer build reports what it finds;
 * both fail the test. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static size_t replayed;

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0, r;

	if (!f) {
		perror(path);
		return -1;
	}
	do {
		if (cap - len < 65536) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap);
			if (!buf)
				abort();
		}
		r = fread(buf + len, 1, cap - len, f);
		len += r;
	} while (r > 0);
	if (ferror(f)) {
		perror(path);
		fclose(f);
		free(buf);
		return -1;
	}
	fclose(f);
	/* An exact-size copy, so that ASan sees reads past the input. */
	{
		uint8_t *exact = malloc(len ? len : 1);

		if (!exact)
			abort();
		memcpy(exact, buf, len);
		free(buf);
		LLVMFuzzerTestOneInput(exact, len);
		free(exact);
	}
	replayed++;
	return 0;
}

static int only_files(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

static int replay_path(const char *path)
{
	struct dirent **ents;
	struct stat st;
	int n, rc = 0;

	if (stat(path, &st) < 0) {
		perror(path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return replay_file(path);
	n = scandir(path, &ents, only_files, alphasort);
	if (n < 0) {
		perror(path);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char *p;

		if (asprintf(&p, "%s/%s", path, ents[i]->d_name) < 0)
			abort();
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode) && replay_file(p) < 0)
			rc = -1;
		free(p);
		free(ents[i]);
	}
	free(ents);
	return rc;
}

int main(int argc, char **argv)
{
	int rc = 0;

	if (argc < 2) {
		const char *top = getenv("ROWD_TOP_SRCDIR");
		char *dir;

		if (!top) {
			fprintf(stderr, "usage: %s FILE|DIR... (or set ROWD_TOP_SRCDIR)\n", argv[0]);
			return 2;
		}
		if (asprintf(&dir, "%s/tests/fuzz/corpus/%s", top, FUZZ_HARNESS) < 0)
			abort();
		rc = replay_path(dir);
		free(dir);
	}
	for (int i = 1; i < argc; i++)
		if (replay_path(argv[i]) < 0)
			rc = -1;
	printf("%s: replayed %zu inputs\n", FUZZ_HARNESS, replayed);
	if (rc == 0 && replayed == 0) {
		fprintf(stderr, "%s: no inputs found\n", FUZZ_HARNESS);
		return 1;
	}
	return rc < 0 ? 1 : 0;
}
