/* Peer credentials and the allow lists (see peer.h). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "peer.h"
#include "settings.h"

void peer_read(int fd, struct peer *p)
{
	struct ucred cred;
	socklen_t len = sizeof cred;

	p->pid = -1;
	p->uid = (uid_t)-1;
	p->gid = (gid_t)-1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
		p->pid = cred.pid;
		p->uid = cred.uid;
		p->gid = cred.gid;
	}
}

static bool gid_listed(const struct rowd_config *cfg, gid_t g)
{
	for (size_t i = 0; i < cfg->nallow_gids; i++)
		if (cfg->allow_gids[i] == g)
			return true;
	return false;
}

/* The supplementary groups the peer had when it connected. */
static bool groups_listed(const struct rowd_config *cfg, int fd)
{
#ifdef SO_PEERGROUPS
	gid_t small[64], *g = small;
	socklen_t len = sizeof small;
	bool found = false;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) < 0) {
		/* ERANGE: more groups than fit; len now says how many bytes. */
		if (errno != ERANGE || !(g = malloc(len)))
			return false;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) < 0)
			len = 0;
	}
	for (size_t i = 0; i < len / sizeof *g && !found; i++)
		found = gid_listed(cfg, g[i]);
	if (g != small)
		free(g);
	return found;
#else
	(void)cfg;
	(void)fd;
	return false;
#endif
}

bool peer_allowed(const struct rowd_config *cfg, int fd, const struct peer *p)
{
	if (!cfg->nallow_uids && !cfg->nallow_gids)
		return true;
	if (p->pid == -1 && p->uid == (uid_t)-1)
		return false;               /* unknown peer: not on any list */
	for (size_t i = 0; i < cfg->nallow_uids; i++)
		if (cfg->allow_uids[i] == p->uid)
			return true;
	return gid_listed(cfg, p->gid) || (cfg->nallow_gids && groups_listed(cfg, fd));
}
