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
