# tools/serve: synfin-serve, a server on synfin's own stack over a TUN device (issue 4).
# Library paths are spelled out: this fragment is read before those of io, net, tcp and util.
$(eval $(call add_bin,synfin-serve,$(wildcard tools/serve/*.c),$(O)/lib/libsfio.a \
	$(O)/lib/libsftcp.a $(O)/lib/libsfnet.a $(O)/lib/libsfutil.a))

# Interop with Linux peers (root, namespaces; skipped with a reason otherwise).
TESTS += tests/interop/test_interop.py tests/interop/test_serve_ipv6.py
TEST_DEPS += curl apache2-utils wrk netcat-openbsd iproute2 tshark iputils-ping

# make bench-tun: synfin-serve against nginx and bench-kserve on Linux's TCP, same run (root).
$(eval $(call add_bin,bench-kserve,tools/bench/kserve.c,$(O)/lib/libsfutil.a))
BENCH_TUN_DEPS += wrk nginx iproute2 python3

.PHONY: bench-tun
bench-tun: $(O)/bin/synfin-serve $(O)/bin/bench-kserve
	@scripts/deps.sh bench-tun $(BENCH_TUN_DEPS)
	@O=$(O) python3 scripts/bench_tun.py
