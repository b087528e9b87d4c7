# tools/drill: synfin-drill runs packetdrill-syntax scripts against the engine on the
# simulated network (docs/drill.md).
DRILL_PARSE_SRC := tools/drill/arena.c tools/drill/lexer.c tools/drill/parse.c tools/drill/prep.c \
                   tools/drill/parse_packet.c tools/drill/parse_expr.c \
                   tools/drill/format.c
DRILL_SRC := $(DRILL_PARSE_SRC) tools/drill/wire.c tools/drill/wire_icmp.c tools/drill/run.c \
             tools/drill/world.c \
             tools/drill/packets.c tools/drill/syscalls.c tools/drill/tcpinfo.c tools/drill/code.c \
             tools/drill/sockopt.c tools/drill/sockopt_ip.c tools/drill/msg.c tools/drill/epoll.c \
             tools/drill/shell.c \
             tools/drill/main.c
# Library paths are spelled out: this fragment is read before those of io, net and tcp.
$(eval $(call add_bin,synfin-drill,$(DRILL_SRC),$(O)/lib/libsftcp.a $(O)/lib/libsfio.a \
	$(O)/lib/libsfnet.a $(O)/lib/libsfutil.a))

$(O)/obj/tests/unit/drill/%.o: CPPFLAGS += -Itools/drill
$(eval $(call add_unit,test_drill_parse,tests/unit/drill/test_parse.c $(DRILL_PARSE_SRC),))
$(eval $(call add_unit,test_drill_wire,tests/unit/drill/test_wire.c tools/drill/wire.c \
	$(DRILL_PARSE_SRC),$(O)/lib/libsfnet.a))

# Any directory of packetdrill scripts (docs/drill.md): make peer-suite SUITE=DIR
.PHONY: peer-suite
peer-suite: $(O)/bin/synfin-drill
	@test -n "$(SUITE)" || { echo "usage: make peer-suite SUITE=DIR"; exit 2; }
	@cd "$(SUITE)" && find . -name '*.pkt' | sort | xargs "$(abspath $(O))/bin/synfin-drill"; true

# Every tests/drill/*.pkt must pass; every tests/drill/selftest/*.pkt must fail where it says.
TESTS += tests/drill/run.sh tests/drill/test_selftest.py tests/drill/test_conformance_doc.py \
         tests/drill/test_language.py
