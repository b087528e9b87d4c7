# tests/fuzz: libFuzzer harnesses (docs/fuzzing.md). Each harness is built twice: as a replay
# program in the normal trees (build/, build-san/), run by `make test` over its corpus, and as
# a libFuzzer target in build-fuzz/ by clang with ASan + UBSan (`make fuzz`, `make fuzz-ci`).
# FUZZ=1 (set by fuzz-build below, with O=build-fuzz): clang, with coverage for libFuzzer.
ifeq ($(FUZZ),1)
CC := clang
SANFLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
            -fno-omit-frame-pointer
endif

FUZZ_HARNESSES := engine timewait config admin drill json h1 proxy
FUZZ_PEER := tests/fuzz/peer.c tests/fuzz/peer_ops.c
# Library paths are spelled out: the http, lb, net, stat and tcp fragments are read after this one.
FUZZ_SRC_engine := tests/fuzz/fuzz_engine.c $(FUZZ_PEER)
FUZZ_LIBS_engine := $(O)/lib/libsftcp.a $(O)/lib/libsfnet.a
FUZZ_SRC_timewait := tests/fuzz/fuzz_timewait.c $(FUZZ_PEER)
FUZZ_LIBS_timewait := $(FUZZ_LIBS_engine)
FUZZ_SRC_config := tests/fuzz/fuzz_config.c
FUZZ_LB_LIBS := $(O)/lib/libsflb.a $(O)/lib/libsfio.a $(O)/lib/libsftcp.a $(O)/lib/libsfnet.a \
	$(O)/lib/libsfdiag.a $(O)/lib/libsfutil.a
FUZZ_LIBS_config := $(FUZZ_LB_LIBS)
FUZZ_SRC_admin := tests/fuzz/fuzz_admin.c
FUZZ_LIBS_admin := $(O)/lib/libsfctl.a $(FUZZ_LB_LIBS)
FUZZ_SRC_drill := tests/fuzz/fuzz_drill.c $(DRILL_PARSE_SRC)
FUZZ_LIBS_drill :=
FUZZ_SRC_json := tests/fuzz/fuzz_json.c
FUZZ_LIBS_json := $(O)/lib/libsfstat.a
FUZZ_SRC_proxy := tests/fuzz/fuzz_proxy.c
FUZZ_LIBS_proxy := $(O)/lib/libsflb.a
FUZZ_SRC_h1 := tests/fuzz/fuzz_h1.c
FUZZ_LIBS_h1 := $(O)/lib/libsfhttp.a $(O)/lib/libsfutil.a

$(O)/obj/tests/fuzz/%.o: CPPFLAGS += -Itools -Itools/drill

# The replay program $(O)/test/fuzz_NAME reads tests/fuzz/corpus/NAME (it takes NAME from its
# own file name), one TAP line per file.
define fuzz_harness
UNIT_TESTS += $(O)/test/fuzz_$(1)
TESTS += $(O)/test/fuzz_$(1)
$(O)/test/fuzz_$(1): $(call obj,tests/fuzz/replay.c $(FUZZ_SRC_$(1))) $(FUZZ_LIBS_$(1))
	@mkdir -p $$(dir $$@)
	$(CC) $(LDFLAGS) -o $$@ $$(filter %.o,$$^) $(FUZZ_LIBS_$(1)) -lm
$(O)/fuzz/$(1): $(call obj,$(FUZZ_SRC_$(1))) $(FUZZ_LIBS_$(1))
	@mkdir -p $$(dir $$@)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $$@ $$(filter %.o,$$^) $(FUZZ_LIBS_$(1)) -lm
-include $(patsubst %.o,%.d,$(call obj,tests/fuzz/replay.c $(FUZZ_SRC_$(1))))
endef
$(foreach h,$(FUZZ_HARNESSES),$(eval $(call fuzz_harness,$(h))))

# Debian's clang and the libFuzzer runtime that matches it (libclang-rt-N-dev).
FUZZ_DEPS := clang libclang-rt-dev
FUZZ_O := build-fuzz
FUZZ_SECONDS ?= 20
FUZZ_CI_SECONDS ?= 8

.PHONY: fuzz fuzz-ci fuzz-build
fuzz-build:
	@scripts/deps.sh fuzz $(FUZZ_DEPS)
	@$(MAKE) --no-print-directory FUZZ=1 O=$(FUZZ_O) $(FUZZ_HARNESSES:%=$(FUZZ_O)/fuzz/%)

# Every harness for FUZZ_SECONDS from its seeds; a crash or failed invariant fails the target.
fuzz: fuzz-build
	@O=$(FUZZ_O) FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh $(FUZZ_HARNESSES)

# The CI's bounded run: about a minute for all harnesses together.
fuzz-ci: fuzz-build
	@O=$(FUZZ_O) FUZZ_SECONDS=$(FUZZ_CI_SECONDS) tests/fuzz/run.sh $(FUZZ_HARNESSES)

.PHONY: clean-fuzz
clean: clean-fuzz
clean-fuzz:
	rm -rf $(FUZZ_O)
