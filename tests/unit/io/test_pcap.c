#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/pcap.h"

/* A TCP/IPv4 packet with correct checksums, so tshark has nothing to complain about. */
static uint16_t csum(const uint8_t *p, size_t n, uint32_t sum)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        sum += (uint32_t)p[i] << 8 | p[i + 1];
    if (n & 1)
        sum += (uint32_t)p[n - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static size_t tcp_packet(uint8_t *b, uint16_t sport, uint16_t dport, uint32_t seq, size_t payload)
{
    size_t len = 20 + 20 + payload;
    memset(b, 0, len);
    b[0] = 0x45;
    b[2] = (uint8_t)(len >> 8);
    b[3] = (uint8_t)len;
    b[6] = 0x40; /* DF */
    b[8] = 64;
    b[9] = 6;
    const uint8_t src[4] = {192, 0, 2, 1}, dst[4] = {192, 168, 0, 1};
    memcpy(b + 12, src, 4);
    memcpy(b + 16, dst, 4);
    uint16_t c = htons(csum(b, 20, 0));
    memcpy(b + 10, &c, 2);
    uint8_t *t = b + 20;
    t[0] = (uint8_t)(sport >> 8);
    t[1] = (uint8_t)sport;
    t[2] = (uint8_t)(dport >> 8);
    t[3] = (uint8_t)dport;
    uint32_t s = htonl(seq);
    memcpy(t + 4, &s, 4);
    t[12] = 5 << 4;
    t[13] = payload ? 0x18 : 0x02; /* PSH|ACK or SYN */
    t[14] = 0xff;
    t[15] = 0xff;
    for (size_t i = 0; i < payload; i++)
        t[20 + i] = (uint8_t)('a' + i % 26);
    uint32_t pseudo = (192 << 8 | 0) + (2 << 8 | 1) + (192 << 8 | 168) + (0 << 8 | 1) + 6 +
                      (uint32_t)(20 + payload);
    c = htons(csum(t, 20 + payload, pseudo));
    memcpy(t + 16, &c, 2);
    return len;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[1 << 20];
    *len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return buf;
}

static uint32_t u32_at(const char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* A writer on a new temporary file whose name is left in path (a mkstemp template). */
static struct sf_pcap *open_temp(char *path)
{
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    struct sf_pcap *p = sf_pcap_open(path);
    assert_non_null(p);
    return p;
}

/* The file header and one record, field by field. */
static void writes_classic_format(void **state)
{
    (void)state;
    char path[] = "/tmp/synfin-pcap-XXXXXX";
    struct sf_pcap *p = open_temp(path);
    uint8_t pkt[100];
    size_t n = tcp_packet(pkt, 40000, 8080, 1, 0);
    assert_int_equal(sf_pcap_write(p, 3 * 1000000ull + 250, pkt, n), 0);
    assert_int_equal(sf_pcap_count(p), 1);
    assert_int_equal(sf_pcap_close(p), 0);
    size_t len;
    const char *b = read_all(path, &len);
    assert_int_equal(len, 24 + 16 + n);
    assert_int_equal(u32_at(b), 0xa1b2c3d4u);
    uint16_t major, minor;
    memcpy(&major, b + 4, 2);
    memcpy(&minor, b + 6, 2);
    assert_int_equal(major, 2);
    assert_int_equal(minor, 4);
    assert_int_equal(u32_at(b + 16), SF_PCAP_SNAPLEN);
    assert_int_equal(u32_at(b + 20), 101);
    assert_int_equal(u32_at(b + 24), 3);
    assert_int_equal(u32_at(b + 28), 250);
    assert_int_equal(u32_at(b + 32), n);
    assert_int_equal(u32_at(b + 36), n);
    assert_memory_equal(b + 40, pkt, n);
    unlink(path);
}

static void truncates_at_snaplen(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    struct sf_pcap *p = sf_pcap_open_stream(f);
    assert_non_null(p);
    size_t big = SF_PCAP_SNAPLEN + 1000;
    uint8_t *pkt = calloc(1, big);
    assert_non_null(pkt);
    assert_int_equal(sf_pcap_write(p, 0, pkt, big), 0);
    assert_int_equal(sf_pcap_close(p), 0);
    fclose(f);
    assert_int_equal(len, 24 + 16 + SF_PCAP_SNAPLEN);
    assert_int_equal(u32_at(buf + 32), SF_PCAP_SNAPLEN);
    assert_int_equal(u32_at(buf + 36), big);
    free(pkt);
    free(buf);
}

/* Errors are reported, and kept: a full disk shows up at the latest at close. */
static void reports_errors(void **state)
{
    (void)state;
    errno = 0;
    assert_null(sf_pcap_open("/nonexistent-dir/x.pcap"));
    assert_int_equal(errno, ENOENT);
    errno = 0;
    assert_null(sf_pcap_open_stream(NULL));
    assert_int_equal(errno, EINVAL);
    if (access("/dev/full", W_OK) != 0) {
        skip();
        return;
    }
    struct sf_pcap *p = sf_pcap_open("/dev/full");
    assert_non_null(p); /* the header sits in the stdio buffer */
    uint8_t pkt[1500] = {0x45};
    int err = 0;
    for (int i = 0; i < 100 && !err; i++)
        err = sf_pcap_write(p, 0, pkt, sizeof pkt);
    assert_int_equal(err, -ENOSPC);
    assert_int_equal(sf_pcap_write(p, 0, pkt, 10), -ENOSPC); /* sticky */
    assert_int_equal(sf_pcap_close(p), -ENOSPC);
    assert_int_equal(sf_pcap_close(NULL), 0);
}

/* tshark reads the file: times, addresses, ports, sequence numbers, and checksums it finds
 * good (status 1). */
static void tshark_reads_it(void **state)
{
    (void)state;
    if (system("command -v tshark >/dev/null 2>&1") != 0) {
        skip();
        return;
    }
    char path[] = "/tmp/synfin-pcap-XXXXXX";
    struct sf_pcap *p = open_temp(path);
    uint8_t pkt[2000];
    for (uint32_t i = 0; i < 3; i++) {
        size_t n = tcp_packet(pkt, (uint16_t)(40000 + i), 8080, 1000 * i, i * 500);
        assert_int_equal(sf_pcap_write(p, 1500000ull * i + 7, pkt, n), 0);
    }
    assert_int_equal(sf_pcap_close(p), 0);
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "tshark -n -o tcp.check_checksum:TRUE -o tcp.relative_sequence_numbers:FALSE "
             "-r %s -T fields -E separator=, -e frame.time_epoch -e ip.src -e ip.dst "
             "-e tcp.srcport -e tcp.dstport -e tcp.seq -e tcp.len -e tcp.checksum.status "
             "2>/dev/null",
             path);
    FILE *out = popen(cmd, "r");
    assert_non_null(out);
    char got[1024] = "";
    size_t used = fread(got, 1, sizeof got - 1, out);
    got[used] = 0;
    assert_int_equal(pclose(out), 0);
    unlink(path);
    const char *want = "0.000007000,192.0.2.1,192.168.0.1,40000,8080,0,0,1\n"
                       "1.500007000,192.0.2.1,192.168.0.1,40001,8080,1000,500,1\n"
                       "3.000007000,192.0.2.1,192.168.0.1,40002,8080,2000,1000,1\n";
    assert_string_equal(got, want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(writes_classic_format),
        cmocka_unit_test(truncates_at_snaplen),
        cmocka_unit_test(reports_errors),
        cmocka_unit_test(tshark_reads_it),
    };
    return cmocka_run_group_tests_name("io_pcap", tests, NULL, NULL);
}
