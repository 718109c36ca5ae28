# systemd/: units, sysusers/tmpfiles snippets, the example config.
# Unit dir: $(prefix)/lib/systemd/system unless configure was told
# --with-systemdsystemunitdir (Debian: /usr/lib/systemd/system).
systemdsystemunit_DATA = systemd/rowd.service systemd/rowd.socket
sysusersdir = $(prefix)/lib/sysusers.d
tmpfilesdir = $(prefix)/lib/tmpfiles.d
rowdconfdir = $(sysconfdir)/rowd
rowdconf_DATA = systemd/rowd.conf

# The snippets are installed as rowd.conf in their directories.
install-data-local: install-systemd-snippets
uninstall-local: uninstall-systemd-snippets
install-systemd-snippets:
	$(MKDIR_P) $(DESTDIR)$(sysusersdir) $(DESTDIR)$(tmpfilesdir)
	$(INSTALL_DATA) $(srcdir)/systemd/rowd.sysusers $(DESTDIR)$(sysusersdir)/rowd.conf
	$(INSTALL_DATA) $(srcdir)/systemd/rowd.tmpfiles $(DESTDIR)$(tmpfilesdir)/rowd.conf
uninstall-systemd-snippets:
	rm -f $(DESTDIR)$(sysusersdir)/rowd.conf $(DESTDIR)$(tmpfilesdir)/rowd.conf
EXTRA_DIST += systemd/rowd.service.in systemd/rowd.socket systemd/rowd.sysusers \
	systemd/rowd.tmpfiles systemd/rowd.conf
CLEANFILES += systemd/rowd.service

systemd/rowd.service: $(srcdir)/systemd/rowd.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) systemd && \
	sed -e 's|@sbindir[@]|$(sbindir)|g' -e 's|@sysconfdir[@]|$(sysconfdir)|g' \
		$(srcdir)/systemd/rowd.service.in > $@
