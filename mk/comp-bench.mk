# make bench: the engine's figures beside the Linux kernel's, measured in the same run.
# Library paths are spelled out: this fragment is read before those of io, net and tcp.
$(eval $(call add_bin,bench_engine,tools/bench/bench_engine.c,$(O)/lib/libsftcp.a \
	$(O)/lib/libsfio.a $(O)/lib/libsfnet.a $(O)/lib/libsfutil.a))

.PHONY: bench
bench: $(O)/bin/bench_engine
	@$(O)/bin/bench_engine
