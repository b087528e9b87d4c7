# src/io: the event loop, the simulated network, the pcap writer, the TUN device and transmit
# coalescing.
$(eval $(call add_lib,sfio,$(wildcard src/io/*.c)))
$(eval $(call add_unit,test_io_sim,tests/unit/io/test_sim.c,$(LIB_sfio)))
$(eval $(call add_unit,test_io_pcap,tests/unit/io/test_pcap.c,$(LIB_sfio)))
$(eval $(call add_unit,test_io_coalesce,tests/unit/io/test_coalesce.c,$(LIB_sfio) \
	$(O)/lib/libsfnet.a))
# The pcap test has tshark read what the writer wrote.
TEST_DEPS += tshark
# The simulator at scale with the real engine (library paths spelled out: the tcp and net
# fragments are read after this one).
$(eval $(call add_unit,test_io_sim_tcp,tests/unit/io/test_sim_tcp.c,$(LIB_sfio) \
	$(O)/lib/libsftcp.a $(O)/lib/libsfnet.a))
$(eval $(call add_unit,test_io_loop,tests/unit/io/test_loop.c,$(LIB_sfio)))
# The TUN steering rule: in C, as the kernel runs its BPF program, and the engine's port choice.
$(eval $(call add_unit,test_io_steer,tests/unit/io/test_steer.c,$(LIB_sfio) \
	$(O)/lib/libsftcp.a $(O)/lib/libsfnet.a))
