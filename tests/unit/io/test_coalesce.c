/* Transmit coalescing: what joins a batch and what ends it, and that cutting the merged
 * packet the way a GSO device does (Linux's tcp_gso_segment) gives back every original
 * segment byte for byte, checksums included. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "io/coalesce.h"

enum { ACK = 0x10, PSH = 0x08, FIN = 0x01, SYN = 0x02 };

/* Our own one's-complement sum, independent of the code under test. */
static uint32_t sum16(const uint8_t *p, size_t n, uint32_t s)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        s += (uint32_t)p[i] << 8 | p[i + 1];
    if (n & 1)
        s += (uint32_t)p[n - 1] << 8;
    return s;
}

static uint16_t fold(uint32_t s)
{
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)s;
}

static uint32_t pseudo(const uint8_t *ip, size_t tcp_len)
{
    return sum16(ip + 12, 8, 0) + 6 + (uint32_t)tcp_len;
}

static void checksums(uint8_t *b, size_t len)
{
    b[10] = b[11] = 0;
    uint16_t ipc = (uint16_t)~fold(sum16(b, 20, 0));
    b[10] = (uint8_t)(ipc >> 8);
    b[11] = (uint8_t)ipc;
    b[36] = b[37] = 0;
    uint16_t tc = (uint16_t)~fold(sum16(b + 20, len - 20, pseudo(b, len - 20)));
    b[36] = (uint8_t)(tc >> 8);
    b[37] = (uint8_t)tc;
}

/* IPv4 + TCP with a 12-byte timestamp option, as the engine sends data. */
static size_t seg(uint8_t *b, uint16_t id, uint32_t seq, uint8_t flags, size_t payload,
                  uint32_t tsval)
{
    size_t len = 20 + 32 + payload;
    memset(b, 0, len);
    b[0] = 0x45;
    b[2] = (uint8_t)(len >> 8);
    b[3] = (uint8_t)len;
    b[4] = (uint8_t)(id >> 8);
    b[5] = (uint8_t)id;
    b[6] = 0x40;
    b[8] = 64;
    b[9] = 6;
    const uint8_t src[4] = {10, 77, 0, 2}, dst[4] = {10, 77, 0, 1};
    memcpy(b + 12, src, 4);
    memcpy(b + 16, dst, 4);
    uint8_t *t = b + 20;
    t[0] = 0;
    t[1] = 80;
    t[2] = 0x9c;
    t[3] = 0x40;
    t[4] = (uint8_t)(seq >> 24);
    t[5] = (uint8_t)(seq >> 16);
    t[6] = (uint8_t)(seq >> 8);
    t[7] = (uint8_t)seq;
    t[8] = 0x12;
    t[11] = 0x34; /* ack */
    t[12] = 8 << 4;
    t[13] = flags;
    t[14] = 0x01; /* window */
    t[20] = 1;
    t[21] = 1;
    t[22] = 8;
    t[23] = 10;
    t[24] = (uint8_t)(tsval >> 24);
    t[25] = (uint8_t)(tsval >> 16);
    t[26] = (uint8_t)(tsval >> 8);
    t[27] = (uint8_t)tsval;
    for (size_t i = 0; i < payload; i++)
        t[32 + i] = (uint8_t)(seq + i);
    checksums(b, len);
    return len;
}

/* What a GSO device makes of the merged packet: segment i carries seg_size bytes (the last
 * what is left), IP ID + i, sequence + i * seg_size, PSH and FIN on the last one only, and
 * full checksums. */
static size_t cut(const uint8_t *m, size_t mlen, uint16_t seg_size, uint16_t hdr_len, unsigned i,
                  uint8_t *out)
{
    size_t off = hdr_len + (size_t)i * seg_size;
    if (off >= mlen)
        return 0;
    size_t n = mlen - off < seg_size ? mlen - off : seg_size;
    memcpy(out, m, hdr_len);
    memcpy(out + hdr_len, m + off, n);
    size_t len = hdr_len + n;
    out[2] = (uint8_t)(len >> 8);
    out[3] = (uint8_t)len;
    uint16_t id = (uint16_t)((m[4] << 8 | m[5]) + i);
    out[4] = (uint8_t)(id >> 8);
    out[5] = (uint8_t)id;
    uint32_t seq = ((uint32_t)m[24] << 24 | (uint32_t)m[25] << 16 | (uint32_t)m[26] << 8 | m[27]) +
                   i * (uint32_t)seg_size;
    out[24] = (uint8_t)(seq >> 24);
    out[25] = (uint8_t)(seq >> 16);
    out[26] = (uint8_t)(seq >> 8);
    out[27] = (uint8_t)seq;
    if (off + n < mlen)
        out[33] &= (uint8_t) ~(PSH | FIN);
    checksums(out, len);
    return len;
}

static struct sf_coalesce co;

/* Five full segments and a short one with PSH become one packet; cut up again, they are the
 * originals; the partial checksum, completed, is the whole packet's checksum. */
static void merge_and_cut_back(void **unused)
{
    (void)unused;
    static uint8_t orig[6][2048];
    size_t olen[6];
    uint32_t seq = 1000;
    for (unsigned i = 0; i < 6; i++) {
        size_t pay = i < 5 ? 1448 : 300;
        olen[i] = seg(orig[i], (uint16_t)(7 + i), seq, ACK | (i == 5 ? PSH : 0), pay, 99);
        seq += (uint32_t)pay;
        assert_int_equal(sf_coalesce_add(&co, orig[i], olen[i]), 1);
    }
    const uint8_t *m;
    uint16_t seg_size, hdr_len;
    size_t mlen = sf_coalesce_take(&co, &m, &seg_size, &hdr_len);
    assert_int_equal(mlen, 52 + 5 * 1448 + 300);
    assert_int_equal(seg_size, 1448);
    assert_int_equal(hdr_len, 52);
    assert_int_equal(m[2] << 8 | m[3], mlen);
    assert_int_equal(fold(sum16(m, 20, 0)), 0xffff); /* IP header checksum valid */
    assert_true(m[33] & PSH);
    /* Completed as a device completes it (the sum from the TCP header on, the partial value
     * included, into the field), the whole packet's TCP checksum verifies. */
    static uint8_t whole[SF_COALESCE_MAX];
    memcpy(whole, m, mlen);
    uint16_t done = (uint16_t)~fold(sum16(whole + 20, mlen - 20, 0));
    whole[36] = (uint8_t)(done >> 8);
    whole[37] = (uint8_t)done;
    assert_int_equal(fold(sum16(whole + 20, mlen - 20, pseudo(whole, mlen - 20))), 0xffff);
    static uint8_t back[2048];
    for (unsigned i = 0; i < 6; i++) {
        size_t n = cut(m, mlen, seg_size, hdr_len, i, back);
        assert_int_equal(n, olen[i]);
        assert_memory_equal(back, orig[i], n);
    }
    assert_int_equal(cut(m, mlen, seg_size, hdr_len, 6, back), 0);
    assert_int_equal(sf_coalesce_take(&co, &m, &seg_size, &hdr_len), 0);
}

static void assert_batch(size_t want_len, uint16_t want_seg)
{
    const uint8_t *m;
    uint16_t seg_size, hdr_len;
    assert_int_equal(sf_coalesce_take(&co, &m, &seg_size, &hdr_len), want_len);
    assert_int_equal(seg_size, want_seg);
}

/* Each break in the run ends the batch: a gap in sequence, an ID out of turn, another
 * timestamp, a longer segment, anything after PSH or a short one, and non-data segments. */
static void what_ends_a_batch(void **unused)
{
    (void)unused;
    static uint8_t a[2048], b[2048];
    size_t la = seg(a, 1, 0, ACK, 1000, 5), lb;

    lb = seg(b, 2, 1001, ACK, 1000, 5); /* a hole */
    assert_int_equal(sf_coalesce_add(&co, a, la), 1);
    assert_int_equal(sf_coalesce_add(&co, b, lb), 0);
    assert_batch(la, 0); /* one segment: as it was */

    lb = seg(b, 3, 1000, ACK, 1000, 5); /* ID skips one */
    assert_int_equal(sf_coalesce_add(&co, a, la), 1);
    assert_int_equal(sf_coalesce_add(&co, b, lb), 0);
    assert_batch(la, 0);

    lb = seg(b, 2, 1000, ACK, 1000, 6); /* another timestamp */
    assert_int_equal(sf_coalesce_add(&co, a, la), 1);
    assert_int_equal(sf_coalesce_add(&co, b, lb), 0);
    assert_batch(la, 0);

    lb = seg(b, 2, 1000, ACK, 1001, 5); /* longer than the first */
    assert_int_equal(sf_coalesce_add(&co, a, la), 1);
    assert_int_equal(sf_coalesce_add(&co, b, lb), 0);
    assert_batch(la, 0);

    lb = seg(b, 2, 1000, ACK | FIN, 1000, 5); /* FIN never joins */
    assert_int_equal(sf_coalesce_add(&co, a, la), 1);
    assert_int_equal(sf_coalesce_add(&co, b, lb), 0);
    assert_batch(la, 0);
    assert_int_equal(sf_coalesce_add(&co, b, lb), 0); /* nor starts one */

    lb = seg(b, 1, 0, SYN, 0, 5);
    assert_int_equal(sf_coalesce_add(&co, b, lb), 0);
    lb = seg(b, 1, 0, ACK, 0, 5); /* a pure ACK */
    assert_int_equal(sf_coalesce_add(&co, b, lb), 0);

    /* After a short segment, or one with PSH, nothing joins. */
    static uint8_t c[2048];
    size_t lc = seg(c, 3, 1500, ACK, 500, 5);
    lb = seg(b, 2, 1000, ACK, 500, 5);
    assert_int_equal(sf_coalesce_add(&co, a, la), 1);
    assert_int_equal(sf_coalesce_add(&co, b, lb), 1);
    assert_int_equal(sf_coalesce_add(&co, c, lc), 0);
    assert_batch(la + 500, 1000);
    lb = seg(b, 1, 0, ACK | PSH, 1000, 5);
    lc = seg(c, 2, 1000, ACK, 1000, 5);
    assert_int_equal(sf_coalesce_add(&co, b, lb), 1);
    assert_int_equal(sf_coalesce_add(&co, c, lc), 0);
    assert_batch(lb, 0);

    /* Malformed input is never taken. */
    a[2] ^= 1; /* total length disagrees */
    assert_int_equal(sf_coalesce_add(&co, a, la), 0);
    assert_int_equal(sf_coalesce_add(&co, a, 10), 0);
}

/* The batch stops short of 64 KiB: the segment that would pass it starts the next one. */
static void bounded_by_ip_length(void **unused)
{
    (void)unused;
    static uint8_t b[2048];
    uint32_t seq = 0;
    unsigned taken = 0;
    for (;;) {
        size_t n = seg(b, (uint16_t)taken, seq, ACK, 1448, 1);
        if (!sf_coalesce_add(&co, b, n))
            break;
        taken++;
        seq += 1448;
    }
    assert_int_equal(taken, (65535 - 52) / 1448);
    assert_batch(52 + (size_t)taken * 1448, 1448);
    assert_int_equal(sf_coalesce_add(&co, b, 52 + 1448), 1);
    assert_batch(52 + 1448, 0);
}

/* IPv6 (RFC 8200: no ID, a payload length, the pseudo-header of §8.1) with the same TCP. */
static uint32_t pseudo6(const uint8_t *ip, size_t tcp_len)
{
    return sum16(ip + 8, 32, 0) + 6 + (uint32_t)tcp_len;
}

static void checksum6(uint8_t *b, size_t len)
{
    b[56] = b[57] = 0;
    uint16_t tc = (uint16_t)~fold(sum16(b + 40, len - 40, pseudo6(b, len - 40)));
    b[56] = (uint8_t)(tc >> 8);
    b[57] = (uint8_t)tc;
}

static size_t seg6(uint8_t *b, uint32_t seq, uint8_t flags, size_t payload)
{
    uint8_t v4[2048];
    size_t n = seg(v4, 0, seq, flags, payload, 42); /* its TCP header and payload */
    size_t len = 40 + (n - 20);
    memset(b, 0, 40);
    b[0] = 0x60;
    b[4] = (uint8_t)((len - 40) >> 8);
    b[5] = (uint8_t)(len - 40);
    b[6] = 6;
    b[7] = 64;
    b[8] = 0xfd, b[23] = 2;  /* fd00::2 */
    b[24] = 0xfd, b[39] = 1; /* fd00::1 */
    memcpy(b + 40, v4 + 20, n - 20);
    checksum6(b, len);
    return len;
}

/* A run of IPv6 segments merges as IPv4's does (GSO TCPV6): the payload length covers the
 * whole, the partial checksum completes to the whole packet's, cutting gives back each
 * original; an IPv4 segment never joins an IPv6 batch. */
static void ipv6_merge_and_cut_back(void **unused)
{
    (void)unused;
    static uint8_t orig[5][2048];
    size_t olen[5];
    uint32_t seq = 7000;
    for (unsigned i = 0; i < 5; i++) {
        size_t pay = i < 4 ? 1428 : 100;
        olen[i] = seg6(orig[i], seq, ACK | (i == 4 ? PSH : 0), pay);
        seq += (uint32_t)pay;
        assert_int_equal(sf_coalesce_add(&co, orig[i], olen[i]), 1);
    }
    const uint8_t *m;
    uint16_t seg_size, hdr_len;
    size_t mlen = sf_coalesce_take(&co, &m, &seg_size, &hdr_len);
    assert_int_equal(mlen, 72 + 4 * 1428 + 100);
    assert_int_equal(seg_size, 1428);
    assert_int_equal(hdr_len, 72);
    assert_int_equal(m[4] << 8 | m[5], mlen - 40);
    assert_true(m[53] & PSH);
    static uint8_t whole[SF_COALESCE_MAX];
    memcpy(whole, m, mlen);
    uint16_t done = (uint16_t)~fold(sum16(whole + 40, mlen - 40, 0));
    whole[56] = (uint8_t)(done >> 8);
    whole[57] = (uint8_t)done;
    assert_int_equal(fold(sum16(whole + 40, mlen - 40, pseudo6(whole, mlen - 40))), 0xffff);
    static uint8_t back[2048];
    for (unsigned i = 0; i < 5; i++) {
        size_t off = hdr_len + (size_t)i * seg_size;
        size_t n = mlen - off < seg_size ? mlen - off : seg_size;
        memcpy(back, m, hdr_len);
        memcpy(back + hdr_len, m + off, n);
        back[4] = (uint8_t)((hdr_len + n - 40) >> 8);
        back[5] = (uint8_t)(hdr_len + n - 40);
        uint32_t sq = 7000 + i * (uint32_t)seg_size;
        back[44] = (uint8_t)(sq >> 24), back[45] = (uint8_t)(sq >> 16);
        back[46] = (uint8_t)(sq >> 8), back[47] = (uint8_t)sq;
        if (i < 4)
            back[53] &= (uint8_t)~PSH;
        checksum6(back, hdr_len + n);
        assert_int_equal(hdr_len + n, olen[i]);
        assert_memory_equal(back, orig[i], olen[i]);
    }
    /* families do not mix; a malformed payload length is never taken */
    static uint8_t a[2048], b4[2048];
    size_t la = seg6(a, 0, ACK, 1000), l4 = seg(b4, 1, 1000, ACK, 1000, 42);
    assert_int_equal(sf_coalesce_add(&co, a, la), 1);
    assert_int_equal(sf_coalesce_add(&co, b4, l4), 0);
    assert_batch(la, 0);
    a[5] ^= 1;
    assert_int_equal(sf_coalesce_add(&co, a, la), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(merge_and_cut_back),
        cmocka_unit_test(what_ends_a_batch),
        cmocka_unit_test(bounded_by_ip_length),
        cmocka_unit_test(ipv6_merge_and_cut_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
