/* Who is at the other end of a connection: SO_PEERCRED at accept, and
 * the allow_uid / allow_gid lists of the configuration. */
#ifndef ROWD_PEER_H
#define ROWD_PEER_H

#include <stdbool.h>
#include <sys/types.h>

struct rowd_config;

struct peer {
	pid_t pid;      /* -1 when the kernel would not say */
	uid_t uid;
	gid_t gid;
};

void peer_read(int fd, struct peer *p);
/* True when no list is set, or the peer's uid is in allow_uid, or its
 * primary or one of its supplementary groups (SO_PEERGROUPS, as they
 * were when it connected) is in allow_gid. */
bool peer_allowed(const struct rowd_config *cfg, int fd, const struct peer *p);

#endif
