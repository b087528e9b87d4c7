# src/diag: the kernel's TCP socket table through sock_diag netlink (synfin-stat, LB metrics).
$(eval $(call add_lib,sfdiag,$(wildcard src/diag/*.c)))
$(eval $(call add_unit,test_diag_sockdiag,tests/unit/diag/test_sockdiag.c,$(LIB_sfdiag)))
