/* The systemd notify protocol, spoken directly (a datagram to
 * $NOTIFY_SOCKET) so that rowd needs no libsystemd at run time. Without
 * NOTIFY_SOCKET every call is a no-op. */
#ifndef ROWD_NOTIFY_H
#define ROWD_NOTIFY_H

/* Sends one state string ("READY=1", "STATUS=..."); returns 0, or -1 when
 * sending failed (never fatal). */
int notify_send(const char *state);
int notify_sendf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
