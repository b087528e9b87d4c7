# src/util: small shared pieces (SHA-256, the build's version).
$(eval $(call add_lib,sfutil,$(wildcard src/util/*.c)))
$(eval $(call add_unit,test_util_sha256,tests/unit/util/test_sha256.c,$(LIB_sfutil)))

# The release (VERSION file, or `make VERSION=x.y.z`) and the git revision (`make
# REVISION=...` where there is no checkout) go into a generated header that changes only
# when they do: scripts/version.sh runs every build but keeps the file's time otherwise.
VERSION ?= $(shell cat VERSION)
REVISION ?=
$(O)/gen/synfin_version.h: FORCE
	@mkdir -p $(dir $@)
	@scripts/version.sh $@ '$(VERSION)' '$(REVISION)'
$(O)/obj/src/util/version.o: $(O)/gen/synfin_version.h
$(O)/obj/src/util/version.o: CPPFLAGS += -I$(O)/gen
.PHONY: FORCE
FORCE:
