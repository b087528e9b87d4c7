# The seed sweep (issue 11): small worlds on the simulated network, each drawn from a seed.
# `make test` runs a short one; `make sweep SEEDS=N [FIRST=S]` a long one (docs/engine.md).
# Library paths are spelled out: this fragment is read before those of tcp and net.
SWEEP_SRC := tests/sim/test_sweep.c tests/sim/sweep.c tests/sim/sweep_check.c
$(eval $(call add_unit,test_sim_sweep,$(SWEEP_SRC),$(O)/lib/libsftcp.a $(O)/lib/libsfio.a \
	$(O)/lib/libsfnet.a,-lm))

SEEDS ?= 1000
FIRST ?= 1
.PHONY: sweep
sweep: $(O)/test/test_sim_sweep
	@SWEEP_SEEDS=$(SEEDS) SWEEP_FIRST=$(FIRST) SYNFIN_BUILD=$(O) $(O)/test/test_sim_sweep
