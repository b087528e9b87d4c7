# src/lb + src/ctl: the load balancer, its admin side; tools/synfin: the daemon; tests,
# `make run`, `make bench-lb`. Library paths of lower layers are spelled out: their fragments
# may be read after this one.
$(eval $(call add_lib,sflb,$(wildcard src/lb/*.c)))
$(eval $(call add_lib,sfctl,$(wildcard src/ctl/*.c)))
LB_LIBS := $(LIB_sflb) $(O)/lib/libsfhttp.a $(O)/lib/libsfio.a $(O)/lib/libsftcp.a $(O)/lib/libsfnet.a \
	$(LIB_sfdiag) $(O)/lib/libsfutil.a
# The admin's /host reads the host's sockets with synfin-stat's own code (tools/stat).
# libsystemd (sd_notify readiness, tools/synfin/notify.c) is linked into synfin alone;
# scripts/deps.sh installs its headers where they are missing (as root; otherwise it names
# the package and the build stops).
$(eval $(call add_bin,synfin,$(wildcard tools/synfin/*.c),$(LIB_sfctl) $(O)/lib/libsfstat.a $(LB_LIBS),-lm -lsystemd))
$(O)/obj/src/ctl/%.o: CPPFLAGS += -Itools
# The dashboard's files are compiled in (.incbin): rebuild when one changes.
$(O)/obj/src/ctl/dashboard.o: $(wildcard src/ctl/dashboard/*)
BUILD_DEPS += libsystemd-dev
.PHONY: deps-libsystemd
deps-libsystemd:
	@scripts/deps.sh synfin libsystemd-dev
$(O)/obj/tools/synfin/notify.o: | deps-libsystemd

# The default config is compiled in (.incbin): rebuild when it changes.
$(O)/obj/src/lb/conf_embed.o: conf/synfin.conf

$(eval $(call add_unit,test_lb_config,tests/lb/test_config.c,$(LB_LIBS),-lm))
$(eval $(call add_unit,test_lb_balance,tests/lb/test_balance.c,$(LB_LIBS),-lm))
$(eval $(call add_unit,test_lb_pipe,tests/lb/test_pipe.c,$(LB_LIBS),-lm))
$(eval $(call add_unit,test_lb_tw_destroy,tests/lb/test_tw_destroy.c,$(LB_LIBS),-lm))
$(eval $(call add_unit,test_lb_census,tests/lb/test_census.c,$(LB_LIBS),-lm))
$(eval $(call add_unit,test_lb_epset,tests/lb/test_epset.c,$(LB_LIBS),-lm))
$(eval $(call add_unit,test_lb_proxy_proto,tests/lb/test_proxy_proto.c,$(LB_LIBS),-lm))
$(eval $(call add_unit,test_lb_log_sink,tests/lb/test_log_sink.c,$(LB_LIBS),-lm))

TESTS += $(sort $(wildcard tests/lb/test_*.py))
# The same suites on synfin's own TCP (lbtest.py, SYNFIN_TRANSPORT=stack): one wrapper each,
# named SUITE@stack. test_stack.py and test_stack_ipv6.py are the stack's own;
# test_make_run.py runs the default;
# test_fd_limit.py is about descriptors, which the stack needs none of; test_scaleout.py
# makes its own nodes (kernel transport) behind a BIRD router.
LB_STACK_SUITES := $(filter-out tests/lb/test_stack.py tests/lb/test_stack_ipv6.py tests/lb/test_make_run.py tests/lb/test_fd_limit.py tests/lb/test_scaleout.py,\
	$(wildcard tests/lb/test_*.py))
LB_STACK_WRAPPERS := $(patsubst tests/lb/%.py,$(O)/test/stack/%.py@stack,$(LB_STACK_SUITES))
$(O)/test/stack/%.py@stack: tests/lb/%.py mk/comp-lb.mk
	@mkdir -p $(dir $@)
	@printf '#!/bin/sh\n# %s on the stack transport\nSYNFIN_TRANSPORT=stack exec python3 %s "$$@"\n' \
		$(notdir $<) $(abspath $<) > $@ && chmod +x $@
all: $(LB_STACK_WRAPPERS)
TESTS += $(sort $(LB_STACK_WRAPPERS))
# ss (iproute2) counts TIME_WAIT in the system tests; nc -N is the half-close client; curl
# asks the `make run` default config what a newcomer would; nginx, ab (apache2-utils) and wrk
# are test_http.py's server and clients.
TEST_DEPS += iproute2 netcat-openbsd curl nginx apache2-utils wrk
# BIRD speaks BGP between the scale-out test's router and nodes.
TEST_DEPS += bird2
# The dashboard's browser test (tests/lb/test_dashboard.py) drives Debian's Chromium.
TEST_DEPS += chromium
# promtool checks /metrics (tests/lb/test_metrics.py; skipped without it)
TEST_DEPS += prometheus
# test_proxy_protocol.py: nginx and HAProxy as PROXY protocol peers (it skips without them).
TEST_DEPS += haproxy nginx

BENCH_LB_DEPS := haproxy nginx libnginx-mod-stream wrk curl iproute2

.PHONY: run run-stack bench-lb bench-admin bench-sessions-wire bench-http
# CONF=path runs that file instead of the embedded conf/synfin.conf.
run: $(O)/bin/synfin
	$(O)/bin/synfin$(if $(CONF), -c $(CONF))

# The same demo on synfin's own TCP, in a network namespace it makes (root).
run-stack: $(O)/bin/synfin $(O)/bin/synfin-stat
	@O=$(O) scripts/run-stack.sh

# As root: client, balancer and server namespaces on veth, the synfin-stack row, then the
# idle-session capacity (scripts/bench_sessions_wire.py); otherwise loopback, no stack row.
bench-lb: $(O)/bin/synfin
	@scripts/deps.sh bench-lb $(BENCH_LB_DEPS)
	@O=$(O) scripts/bench-lb.sh

# mode http against HAProxy mode http and nginx proxy_pass with upstream keepalive
# (scripts/bench_http.py; docs/http.md has the table and its reading).
bench-http: $(O)/bin/synfin
	@scripts/deps.sh bench-http haproxy nginx wrk iproute2
	@O=$(O) scripts/bench_http.py

# What admin scrapes cost proxied requests (scripts/bench_admin.py; BENCH_BASELINE=PATH adds
# the rows of another synfin binary).
bench-admin: $(O)/bin/synfin
	@scripts/deps.sh bench-admin python3
	@O=$(O) scripts/bench_admin.py

# Only the idle-session capacity on the wire (root).
bench-sessions-wire: $(O)/bin/synfin
	@scripts/deps.sh bench-sessions-wire haproxy iproute2
	@O=$(O) python3 scripts/bench_sessions_wire.py

# The stack transport at scale: idle sessions against a simulated peer in a child process.
$(eval $(call add_unit,test_lb_stack_sessions,tests/lb/test_stack_sessions.c tests/lb/stack_peer.c,$(LB_LIBS),-lm))
.PHONY: bench-sessions
bench-sessions: $(O)/test/test_lb_stack_sessions
	SESSIONS=$${SESSIONS:-1000000} CMOCKA_MESSAGE_OUTPUT=TAP $(O)/test/test_lb_stack_sessions

# tools/ctl: synfin-ctl, the runtime API from a shell (docs/lb.md, "Runtime API"). It shares
# synfin-stat's URL and response parsing.
$(eval $(call add_bin,synfin-ctl,tools/ctl/main.c,$(O)/lib/libsfstat.a $(O)/lib/libsfutil.a))
$(O)/obj/tools/ctl/%.o: CPPFLAGS += -Itools
