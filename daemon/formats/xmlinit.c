/* One libxml2 initialisation for the process (see xmlinit.h). */
#include "config.h"

#include <pthread.h>
#include <libxml/parser.h>

#include "xmlinit.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init(void)
{
	xmlInitParser();
}

void fmt_xml_init(void)
{
	pthread_once(&once, init);
}
