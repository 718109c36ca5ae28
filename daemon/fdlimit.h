/* File descriptors: every connection, open file and temp file takes one.
 * At start the soft RLIMIT_NOFILE is raised to the hard one (systemd and
 * shells start services with a soft 1024, below the default connections
 * limit plus open files). When accept() still runs out of descriptors,
 * the listener pauses for a moment instead of spinning on a socket that
 * stays readable: pending clients wait in the backlog. */
#ifndef ROWD_FDLIMIT_H
#define ROWD_FDLIMIT_H

struct server;

/* Raises the soft limit; logs the limit in force. */
void fdlimit_raise(void);
/* Installs the listener's error callback (after s->listener exists). */
int fdlimit_guard_accept(struct server *s);
/* An accept succeeded: a later shortage is a new episode (logged again). */
void fdlimit_accepted(struct server *s);
void fdlimit_free(struct server *s);

#endif
