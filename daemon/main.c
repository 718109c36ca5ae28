/* rowd: the row-stream daemon. */
#include "config.h"

#include <signal.h>
#include <stdio.h>

#include "log.h"
#include "server.h"
#include "settings.h"

int main(int argc, char **argv)
{
	struct rowd_config cfg;
	struct config_flags flags;
	struct server srv;
	int rc;

	signal(SIGPIPE, SIG_IGN);
	/* A file size limit (ulimit -f, LimitFSIZE=) must fail the write
	 * with EFBIG (an EIO answer), not kill the daemon. */
	signal(SIGXFSZ, SIG_IGN);
	log_init();
	config_defaults(&cfg);
	rc = config_from_args(&cfg, &flags, argc, argv);
	if (rc != 0) {
		config_free(&cfg);
		config_flags_free(&flags);
		return rc > 0 ? 0 : EX_CONFIG_CODE;
	}
	rc = server_init(&srv, &cfg, &flags);
	if (rc < 0) {
		server_free(&srv);
		return rc == SERVER_ECONFIG ? EX_CONFIG_CODE : 1;
	}
	rc = server_run(&srv);
	server_free(&srv);
	log_info("stopped");
	return rc < 0 ? 1 : 0;
}
