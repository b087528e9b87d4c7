# src/lb + src/ctl: the load balancer, its admin side; tools/synfin: the daemon; tests,
# `make run`, `make bench-lb`. Library paths of lower layers are spelled out: their fragments
# may be read after this one.
$(eval $(call add_lib,sflb,$(wildcard src/lb/*.c)))
$(eval $(call add_lib,sfctl,$(wildcard src/ctl/*.c)))
LB_LIBS := $(LIB_sflb) $(O)/lib/libsfhttp.a $(O)/lib/libsfio.a $(O)/lib/libsftcp.a $(O)/lib/libsfnet.a \
	$(LIB_sfdiag) $(O)/lib/libsfutil.a
$(eval $(call add_bin,synfin,$(wildcard tools/synfin/*.c),$(LIB_sfctl) $(LB_LIBS),-lm))

# The default config is compiled in (.incbin): rebuild when it changes.
$(O)/obj/src/lb/conf_embed.o: conf/synfin.conf

$(eval $(call add_unit,test_lb_config,tests/lb/test_config.c,$(LB_LIBS),-lm))
$(eval $(call add_unit,test_lb_balance,tests/lb/test_balance.c,$(LB_LIBS),-lm))
$(eval $(call add_unit,test_lb_pipe,tests/lb/test_pipe.c,$(LB_LIBS),-lm))
$(eval $(call add_unit,test_lb_tw_destroy,tests/lb/test_tw_destroy.c,$(LB_LIBS),-lm))
$(eval $(call add_unit,test_lb_census,tests/lb/test_census.c,$(LB_LIBS),-lm))
$(eval $(call add_unit,test_lb_epset,tests/lb/test_epset.c,$(LB_LIBS),-lm))

TESTS += $(sort $(wildcard tests/lb/test_*.py))
# The same suites on synfin's own TCP (lbtest.py, SYNFIN_TRANSPORT=stack): one wrapper each,
# named SUITE@stack. test_stack.py is the stack's own; test_make_run.py runs the default;
# test_fd_limit.py is about descriptors, which the stack needs none of.
LB_STACK_SUITES := $(filter-out tests/lb/test_stack.py tests/lb/test_make_run.py tests/lb/test_fd_limit.py,\
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

BENCH_LB_DEPS := haproxy nginx libnginx-mod-stream wrk curl iproute2

.PHONY: run run-stack bench-lb bench-admin bench-http
run: $(O)/bin/synfin
	$(O)/bin/synfin

# The same demo on synfin's own TCP, in a network namespace it makes (root).
run-stack: $(O)/bin/synfin $(O)/bin/synfin-stat
	@O=$(O) scripts/run-stack.sh

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

# The stack transport at scale: idle sessions against a simulated peer in a child process.
$(eval $(call add_unit,test_lb_stack_sessions,tests/lb/test_stack_sessions.c tests/lb/stack_peer.c,$(LB_LIBS),-lm))
.PHONY: bench-sessions
bench-sessions: $(O)/test/test_lb_stack_sessions
	SESSIONS=$${SESSIONS:-1000000} CMOCKA_MESSAGE_OUTPUT=TAP $(O)/test/test_lb_stack_sessions
