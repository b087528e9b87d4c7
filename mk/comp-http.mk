# src/http: HTTP/1.x framing, sans I/O (docs/http.md). Library paths of lower layers are
# spelled out: their fragments may be read after this one.
$(eval $(call add_lib,sfhttp,$(wildcard src/http/*.c)))
HTTP_LIBS := $(LIB_sfhttp) $(O)/lib/libsfutil.a
$(eval $(call add_unit,test_http_h1,tests/unit/http/test_h1.c,$(HTTP_LIBS)))
