# src/util: small shared pieces (SHA-256).
$(eval $(call add_lib,sfutil,$(wildcard src/util/*.c)))
$(eval $(call add_unit,test_util_sha256,tests/unit/util/test_sha256.c,$(LIB_sfutil)))
