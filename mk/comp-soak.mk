# The soak (issue 11; docs/lb.md, "Soak"): synfin under mixed traffic and faults on both
# transports, every byte checked at both ends, every session counted at the clients, in
# /metrics, in the log and at the servers, descriptors and memory sampled (tests/soak/).
# Not in `make test` (the issue keeps it out of CI's default path, and a random seed is no
# test that fails the same way twice): `make soak` runs SOAK_SECONDS of traffic split between
# the transports (default 600), SOAK_TRANSPORT=kernel|stack|both, SOAK_SEED=N to replay a
# run's seed; `tests/run.sh tests/soak/test_soak.py` is a short one (SOAK_TEST_SECONDS per
# transport, default 20). Heavy (both cores): `flock /tmp/synfin-heavy.lock make soak`.
SOAK_DEPS := python3 iproute2
TEST_DEPS += $(SOAK_DEPS)
SOAK_SECONDS ?= 600
SOAK_TRANSPORT ?= both
SOAK_SEED ?=

.PHONY: soak
soak: $(O)/bin/synfin
	@scripts/deps.sh soak $(SOAK_DEPS)
	@SYNFIN_BUILD=$(O) SOAK_SECONDS=$(SOAK_SECONDS) SOAK_TRANSPORT=$(SOAK_TRANSPORT) \
		SOAK_SEED=$(SOAK_SEED) tests/soak/soak.py
