/* libxml2's global set-up, once per process for every reader that uses
 * libxml2 (xml, xlsx): two formats initialising it on two workers at the
 * same moment would race. */
#ifndef ROWD_XMLINIT_H
#define ROWD_XMLINIT_H

void fmt_xml_init(void);

#endif
