# src/net: IPv4 headers and checksums (no OS calls).
$(eval $(call add_lib,sfnet,$(wildcard src/net/*.c)))
$(eval $(call add_unit,test_net_checksum,tests/unit/net/test_checksum.c,$(LIB_sfnet)))
