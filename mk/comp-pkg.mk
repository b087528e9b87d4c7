# Packaging and process (issue 12, docs/install.md): the version, man pages, `make install`,
# the systemd unit and `make deb`.
TESTS += tests/pkg/test_version.py

# Man pages: plain roff (man(7)) in man/*.in; the build writes the release into them.
MAN_SRCS := $(wildcard man/*.in)
MAN_PAGES := $(patsubst man/%.in,$(O)/man/%,$(MAN_SRCS))
$(O)/man/%: man/%.in VERSION
	@mkdir -p $(dir $@)
	sed 's/@RELEASE@/$(VERSION)/g' $< >$@.tmp && mv -f $@.tmp $@
all: $(MAN_PAGES)
.PHONY: man
man: $(MAN_PAGES)
# groff renders them with every warning on; man-db's `man --warnings` as a reader would.
TESTS += tests/pkg/test_man.py
TEST_DEPS += groff-base man-db

# make install [PREFIX=/usr/local] [DESTDIR=...]: the programs, the man pages, the systemd
# unit (its paths written in here, so a PREFIX given at install time is the one it names)
# and the default configuration, which an existing one is never replaced by.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
UNITDIR ?= $(PREFIX)/lib/systemd/system
INSTALL ?= install
INSTALL_BINS := synfin-stat synfin-ctl synfin-drill synfin-serve
.PHONY: install uninstall
install: programs dist/synfin.service.in
	$(INSTALL) -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/synfin
	$(INSTALL) -m 755 $(O)/bin/synfin $(DESTDIR)$(SBINDIR)/synfin
	$(INSTALL) -m 755 $(addprefix $(O)/bin/,$(INSTALL_BINS)) $(DESTDIR)$(BINDIR)/
	$(INSTALL) -m 644 $(filter %.8,$(MAN_PAGES)) $(DESTDIR)$(MANDIR)/man8/
	$(INSTALL) -m 644 $(filter %.5,$(MAN_PAGES)) $(DESTDIR)$(MANDIR)/man5/
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' dist/synfin.service.in \
		>$(DESTDIR)$(UNITDIR)/synfin.service.tmp
	chmod 644 $(DESTDIR)$(UNITDIR)/synfin.service.tmp
	mv -f $(DESTDIR)$(UNITDIR)/synfin.service.tmp $(DESTDIR)$(UNITDIR)/synfin.service
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/synfin/synfin.conf ]; then \
		echo "synfin: kept $(DESTDIR)$(SYSCONFDIR)/synfin/synfin.conf (the new default is conf/synfin.conf)"; \
	else \
		echo "$(INSTALL) -m 644 conf/synfin.conf $(DESTDIR)$(SYSCONFDIR)/synfin/synfin.conf"; \
		$(INSTALL) -m 644 conf/synfin.conf $(DESTDIR)$(SYSCONFDIR)/synfin/synfin.conf; \
	fi

TESTS += tests/pkg/test_install.py

# Everything install put there but the configuration, which is the operator's.
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/synfin $(addprefix $(DESTDIR)$(BINDIR)/,$(INSTALL_BINS)) \
		$(addprefix $(DESTDIR)$(MANDIR)/man8/,$(notdir $(filter %.8,$(MAN_PAGES)))) \
		$(addprefix $(DESTDIR)$(MANDIR)/man5/,$(notdir $(filter %.5,$(MAN_PAGES)))) \
		$(DESTDIR)$(UNITDIR)/synfin.service

# The systemd unit (systemd-analyze verify) and sd_notify readiness on a fake notify socket.
TESTS += tests/pkg/test_systemd.py
TEST_DEPS += systemd binutils

# What the Debian package builds (debian/rules): the programs and the man pages.
.PHONY: programs deb
programs: $(O)/bin/synfin $(addprefix $(O)/bin/,$(INSTALL_BINS)) $(MAN_PAGES)

# make deb: $(O)/deb/synfin_VERSION-N_ARCH.deb, built in a copy of the tree (scripts/deb.sh).
DEB_DEPS := $(BUILD_DEPS) debhelper dpkg-dev libsystemd-dev
deb:
	@scripts/deps.sh deb $(DEB_DEPS)
	@O=$(O) scripts/deb.sh
TESTS += tests/pkg/test_deb.py
TEST_DEPS += debhelper dpkg-dev libsystemd-dev
