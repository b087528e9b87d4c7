# tools/stat: synfin-stat, the TCP state histogram, TIME_WAIT/CLOSE_WAIT by peer, and the
# sysctl advisor (issue 5). Its logic is a library so the unit tests link the same code.
STAT_SRCS := $(filter-out tools/stat/main.c,$(wildcard tools/stat/*.c))
$(eval $(call add_lib,sfstat,$(STAT_SRCS)))
$(eval $(call add_bin,synfin-stat,tools/stat/main.c,$(LIB_sfstat) $(LIB_sfdiag) $(O)/lib/libsfutil.a))
$(O)/obj/tests/stat/%.o: CPPFLAGS += -Itools

$(eval $(call add_unit,test_stat_args,tests/stat/test_args.c,$(LIB_sfstat) $(LIB_sfdiag)))
$(eval $(call add_unit,test_stat_topk,tests/stat/test_topk.c,$(LIB_sfstat)))
$(eval $(call add_unit,test_stat_json_read,tests/stat/test_json_read.c,$(LIB_sfstat)))
$(eval $(call add_unit,test_stat_advise,tests/stat/test_advise.c,$(LIB_sfstat) $(LIB_sfdiag)))
$(eval $(call add_unit,test_stat_from,tests/stat/test_from.c,$(LIB_sfstat) $(LIB_sfdiag)))

# System tests: they make their own network namespaces (root), or skip saying why.
TESTS += tests/stat/test_stat_cli.py tests/stat/test_stat_kernel.py tests/stat/test_stat_watch.py \
         tests/stat/test_stat_from.py tests/stat/test_stat_advise.py tests/stat/test_stat_html.py
TEST_DEPS += iproute2 util-linux

# make bench-stat: synfin-stat against `ss -tan | awk` and `netstat -an | awk` over a million
# TIME_WAIT sockets in a namespace of its own (root). Its packages are not make test's.
$(eval $(call add_bin,stat-twfill,tests/stat/twfill.c))
$(eval $(call add_bin,stat-maxrss,tests/stat/maxrss.c))
# For test_stat_cli.py: synfin-stat where socket(AF_NETLINK, ..., NETLINK_SOCK_DIAG) fails as
# on a kernel without it (a seccomp filter; synfin-stat itself unchanged).
$(eval $(call add_bin,stat-nonetlink,tests/stat/nonetlink.c))
BENCH_STAT_DEPS := net-tools iproute2 mawk
BENCH_DEPS += $(BENCH_STAT_DEPS)
.PHONY: bench-stat
bench-stat: $(O)/bin/synfin-stat $(O)/bin/stat-twfill $(O)/bin/stat-maxrss
	@scripts/deps.sh bench-stat $(BENCH_STAT_DEPS)
	@O=$(O) scripts/bench-stat.sh
