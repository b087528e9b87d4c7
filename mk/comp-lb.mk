# src/lb + src/ctl: the load balancer (synfin), its admin side, tests, `make run`, `make bench-lb`.
LB_SRCS := $(filter-out src/lb/main.c,$(wildcard src/lb/*.c))
$(eval $(call add_lib,sflb,$(LB_SRCS)))
$(eval $(call add_lib,sfctl,$(wildcard src/ctl/*.c)))
$(eval $(call add_bin,synfin,src/lb/main.c,$(LIB_sfctl) $(LIB_sflb) $(LIB_sfdiag),-lm))

# The default config is compiled in (.incbin): rebuild when it changes.
$(O)/obj/src/lb/conf_embed.o: conf/synfin.conf

$(eval $(call add_unit,test_lb_config,tests/lb/test_config.c,$(LIB_sflb),-lm))
$(eval $(call add_unit,test_lb_balance,tests/lb/test_balance.c,$(LIB_sflb),-lm))
$(eval $(call add_unit,test_lb_pipe,tests/lb/test_pipe.c,$(LIB_sflb),-lm))
$(eval $(call add_unit,test_lb_loop,tests/lb/test_loop.c,$(LIB_sflb),-lm))
$(eval $(call add_unit,test_lb_tw_destroy,tests/lb/test_tw_destroy.c,$(LIB_sflb),-lm))

TESTS += $(sort $(wildcard tests/lb/test_*.py))
# ss (iproute2) counts TIME_WAIT in the system tests; nc -N is the half-close client; curl
# asks the `make run` default config what a newcomer would.
TEST_DEPS += iproute2 netcat-openbsd curl

BENCH_LB_DEPS := haproxy nginx libnginx-mod-stream wrk curl iproute2

.PHONY: run bench-lb
run: $(O)/bin/synfin
	$(O)/bin/synfin

bench-lb: $(O)/bin/synfin
	@scripts/deps.sh bench-lb $(BENCH_LB_DEPS)
	@O=$(O) scripts/bench-lb.sh
