# src/tcp: the TCP engine (sans-I/O), depends on src/net.
$(eval $(call add_lib,sftcp,$(wildcard src/tcp/*.c)))
TCP_LIBS := $(LIB_sftcp) $(LIB_sfnet)
$(eval $(call add_unit,test_tcp_wheel,tests/unit/tcp/test_wheel.c,$(TCP_LIBS)))
TCP_FIXTURE := tests/unit/tcp/fixture.c
$(eval $(call add_unit,test_tcp_states,tests/unit/tcp/test_states.c $(TCP_FIXTURE),$(TCP_LIBS)))
$(eval $(call add_unit,test_tcp_transfer,tests/unit/tcp/test_transfer.c,$(TCP_LIBS)))
$(eval $(call add_unit,test_tcp_mechanisms,tests/unit/tcp/test_mechanisms.c $(TCP_FIXTURE),$(TCP_LIBS)))

# Whole lifecycles on the simulated network.
$(eval $(call add_unit,test_sim_lifecycle,tests/sim/test_lifecycle.c,$(TCP_LIBS) $(LIB_sfio),-lm))
$(eval $(call add_unit,test_tcp_siphash,tests/unit/tcp/test_siphash.c,$(TCP_LIBS)))
$(eval $(call add_unit,test_tcp_config,tests/unit/tcp/test_config.c,$(TCP_LIBS)))
$(eval $(call add_unit,test_tcp_icmp,tests/unit/tcp/test_icmp.c $(TCP_FIXTURE),$(TCP_LIBS)))
$(eval $(call add_unit,test_tcp_fastopen,tests/unit/tcp/test_fastopen.c $(TCP_FIXTURE),$(TCP_LIBS)))
$(eval $(call add_unit,test_tcp_fastopen_client,tests/unit/tcp/test_fastopen_client.c $(TCP_FIXTURE),$(TCP_LIBS)))
$(eval $(call add_unit,test_tcp_isn,tests/unit/tcp/test_isn.c,$(TCP_LIBS)))
$(eval $(call add_unit,test_tcp_table,tests/unit/tcp/test_table.c,$(TCP_LIBS)))
$(eval $(call add_unit,test_tcp_bind,tests/unit/tcp/test_bind.c,$(TCP_LIBS)))
$(eval $(call add_unit,test_tcp_profiles,tests/unit/tcp/test_profiles.c $(TCP_FIXTURE),$(TCP_LIBS)))
$(eval $(call add_unit,test_tcp_windows,tests/unit/tcp/test_windows.c $(TCP_FIXTURE),$(TCP_LIBS)))
