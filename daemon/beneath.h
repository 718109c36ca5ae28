/* Confined lookup without openat2: what openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_MAGICLINKS) does, done one component at a time, for kernels
 * before 5.6 and for valgrind (which does not know the syscall). */
#ifndef ROWD_BENEATH_H
#define ROWD_BENEATH_H

/* Opens rel beneath dirfd with flags (O_PATH, or O_RDONLY | O_DIRECTORY,
 * or plain read flags). Returns the fd, or -1 with errno: EXDEV for a
 * path that leaves dirfd (".." above it, an absolute path or symlink),
 * ELOOP for more than 40 symlinks, else what openat/readlinkat said. */
int beneath_open(int dirfd, const char *rel, int flags);

#endif
