# man/: the manual pages, installed by make install.
dist_man_MANS = man/rowd.8 man/rowd.conf.5 man/rowcat.1 man/librowd.3
