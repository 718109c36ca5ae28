/* Configuration: built-in defaults, then the config file, then flags. */
#ifndef ROWD_SETTINGS_H
#define ROWD_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "rowd_proto.h"

#define CONFIG_MAX_ROOTS 32
#define CONFIG_MAX_IDS 32
#define EX_CONFIG_CODE 78   /* sysexits.h EX_CONFIG */

struct rowd_config {
	char *socket_path;
	unsigned socket_mode;            /* 0600 default, 0660 with a group */
	char *socket_group;              /* NULL = none */
	char *roots[CONFIG_MAX_ROOTS];
	size_t nroots;
	unsigned workers;                /* 0 = one per core */
	int log_level;
	struct rowd_limits limits;
	uid_t allow_uids[CONFIG_MAX_IDS];
	size_t nallow_uids;
	gid_t allow_gids[CONFIG_MAX_IDS];
	size_t nallow_gids;
	unsigned shutdown_timeout;       /* seconds to drain on SIGTERM */
	char *config_file;               /* NULL = none */
};

void config_defaults(struct rowd_config *c);
void config_free(struct rowd_config *c);
/* Applies one "key = value" setting; errmsg filled on failure. */
int config_set(struct rowd_config *c, const char *key, const char *value,
               char *errmsg, size_t errlen);
/* Reads a config file into c. Returns -1 with "file:line: message". */
int config_load_file(struct rowd_config *c, const char *path, char *errmsg, size_t errlen);

/* What the command line said: the config file and every setting given as
 * a flag, in order. Flags are replayed over the file at start and after
 * each reload, so that a flag keeps winning over the file. */
struct config_flags {
	char *config_file;               /* -c, NULL = none */
	char **kv;                       /* key, value, key, value, ... */
	size_t n;                        /* pairs */
};

void config_flags_free(struct config_flags *f);
/* Builds a configuration: defaults, the file of f, then f's settings
 * (roots given as flags replace the file's), then what is still unset
 * (socket ./rowd.sock, root .). Returns -1 with errmsg ("file:line: ..."
 * for the file). Safe on any thread. */
int config_build(struct rowd_config *c, const struct config_flags *f,
                 char *errmsg, size_t errlen);
/* Parses argv into f and builds c from it. Returns 0 to run, 1 when
 * --help/--version was answered, -1 on a usage or config error (already
 * printed; exit EX_CONFIG). */
int config_from_args(struct rowd_config *c, struct config_flags *f, int argc, char **argv);

#endif
