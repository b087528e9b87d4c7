/* Fuzz target: the PROXY protocol parser (src/lb/proxy_proto.c), fed as a frontend feeds it:
 * the first bytes of a connection, growing.
 *
 * Invariants: the answer is a length, "more" or "bad" with a reason; a length lies within the
 * input and the v1/v2 bounds, and the same prefix gives the same length (bytes after the
 * header are never the header's); "more" is only said below LB_PROXY_V2_MAX bytes, and every
 * shorter prefix of an accepted or refused input says "more" or the same verdict; an accepted
 * header with addresses, written again in its version, parses to the same addresses. */
#include <string.h>

#include "fuzz.h"
#include "lb/proxy_proto.h"

static void same_addr(const struct lb_addr *a, const struct lb_addr *b)
{
    char x[LB_ADDR_STRLEN], y[LB_ADDR_STRLEN];
    lb_addr_format(a, x, sizeof x);
    lb_addr_format(b, y, sizeof y);
    FZ_CHECK(!strcmp(x, y), "address %s written again reads %s", x, y);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lb_proxy_hdr h, h2;
    const char *why;
    int rc = lb_proxy_parse(data, size, &h, &why);
    FZ_CHECK(rc >= LB_PROXY_BAD, "answer %d", rc);
    if (rc == LB_PROXY_BAD)
        FZ_CHECK(why && why[0], "refused without a reason");
    if (rc == LB_PROXY_MORE)
        FZ_CHECK(size < LB_PROXY_V2_MAX, "more wanted after %zu bytes", size);
    if (rc > 0) {
        FZ_CHECK((size_t)rc <= size && (size_t)rc == h.len, "length %d of %zu bytes", rc, size);
        FZ_CHECK((size_t)rc <= LB_PROXY_V2_MAX, "a header of %d bytes", rc);
        int v1 = data[0] == 'P';
        if (v1)
            FZ_CHECK(rc <= LB_PROXY_V1_MAX, "a v1 header of %d bytes", rc);
        FZ_CHECK(lb_proxy_parse(data, (size_t)rc, &h2, &why) == rc, "the header alone differs");
        if (!h.local) {
            uint8_t out[LB_PROXY_HEADER_MAX];
            size_t n = lb_proxy_write(v1 ? 1 : 2, &h.src, &h.dst, out);
            FZ_CHECK(n <= LB_PROXY_HEADER_MAX, "wrote %zu bytes", n);
            FZ_CHECK(lb_proxy_parse(out, n, &h2, &why) == (int)n, "own header refused: %s", why);
            same_addr(&h.src, &h2.src);
            same_addr(&h.dst, &h2.dst);
        }
    }
    /* A shorter prefix never contradicts: it wants more or says the same. */
    for (size_t k = 0; k < size && k < 600; k += 1 + k / 8) {
        int r = lb_proxy_parse(data, k, &h2, &why);
        if (r == LB_PROXY_MORE)
            continue;
        FZ_CHECK(r == rc, "prefix of %zu bytes answers %d, the whole %d", k, r, rc);
    }
    return 0;
}
