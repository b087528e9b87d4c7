# Flags, the object pattern rule, and the macros component fragments call.

SAN ?= 0
TSAN ?= 0
ifeq ($(SAN),1)
O ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
OPT ?= -O1
else ifeq ($(TSAN),1)
# ThreadSanitizer for the threaded daemon (`threads N`): its own tree, as ASan cannot share one.
O ?= build-tsan
SANFLAGS := -fsanitize=thread -fno-omit-frame-pointer
OPT ?= -O1
else
O ?= build
SANFLAGS :=
OPT ?= -O2
endif

CC ?= cc
CPPFLAGS += -Isrc -D_GNU_SOURCE
CFLAGS ?= $(OPT) -g
CFLAGS += -std=gnu11 -Wall -Wextra -Werror -Wformat=2 -Wvla -Wstrict-prototypes \
          -Wmissing-prototypes -fno-strict-aliasing $(SANFLAGS)
LDFLAGS += $(SANFLAGS)

BINS :=
TESTS :=
UNIT_TESTS :=

obj = $(patsubst %.c,$(O)/obj/%.o,$(1))

$(O)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

# $(call add_lib,NAME,SOURCES): static library $(O)/lib/libNAME.a
define add_lib
LIB_$(1) := $(O)/lib/lib$(1).a
$(O)/lib/lib$(1).a: $(call obj,$(2))
	@mkdir -p $$(dir $$@)
	rm -f $$@ && $(AR) rcs $$@ $$^
-include $(patsubst %.o,%.d,$(call obj,$(2)))
endef

# $(call add_bin,NAME,SOURCES,LIBS,LDLIBS): executable $(O)/bin/NAME
define add_bin
BINS += $(O)/bin/$(1)
$(O)/bin/$(1): $(call obj,$(2)) $(3)
	@mkdir -p $$(dir $$@)
	$(CC) $(LDFLAGS) -o $$@ $$(filter %.o,$$^) $(3) $(4)
-include $(patsubst %.o,%.d,$(call obj,$(2)))
endef

# $(call add_unit,NAME,SOURCES,LIBS,LDLIBS): cmocka test $(O)/test/NAME, run by `make test`
define add_unit
UNIT_TESTS += $(O)/test/$(1)
TESTS += $(O)/test/$(1)
$(O)/test/$(1): $(call obj,$(2)) $(3)
	@mkdir -p $$(dir $$@)
	$(CC) $(LDFLAGS) -o $$@ $$(filter %.o,$$^) $(3) $(4) -lcmocka
-include $(patsubst %.o,%.d,$(call obj,$(2)))
endef
