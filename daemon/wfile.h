/* Atomic file replacement: rows go to a temp file beside the target;
 * commit = fsync, rename over the target, fsync the directory. Until the
 * commit the target is untouched; abort (or a crash) leaves it as it was.
 * Temp files are named ".NAME.rowd-tmp-XXXXXX" so that a restarted daemon
 * can remove the ones a killed daemon left behind. */
#ifndef ROWD_WFILE_H
#define ROWD_WFILE_H

#include "rowd_proto.h"

#define WFILE_TMP_MARK ".rowd-tmp-"

struct wfile {
	int dirfd;         /* owned */
	char *name;        /* target, owned */
	char *tmpname;     /* owned */
	int fd;            /* temp file */
};

/* Takes ownership of dirfd and name (also on failure). */
int wfile_open(struct wfile *w, int dirfd, char *name, struct rowd_error *err);
int wfile_commit(struct wfile *w, struct rowd_error *err);
/* Removes the temp file; safe after a failed commit and twice. */
void wfile_abort(struct wfile *w);

/* Removes stale temp files below dirfd (recursively, not following
 * symlinks, at most depth levels). Returns the number removed. */
int wfile_clean_stale(int dirfd, int depth);

#endif
