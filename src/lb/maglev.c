/* Maglev table population; see maglev.h. */
#include "lb/maglev.h"
#include "lb/hash.h"
#include "util/sha256.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const *sort_names;

static int by_name(const void *a, const void *b)
{
    return strcmp(sort_names[*(const size_t *)a], sort_names[*(const size_t *)b]);
}

int lb_maglev_populate(uint32_t *table, uint32_t m, const char *const *names,
                       const uint32_t *weights, size_t n)
{
    for (uint32_t i = 0; i < m; i++)
        table[i] = UINT32_MAX;
    uint64_t wsum = 0;
    for (size_t i = 0; i < n; i++)
        wsum += weights[i];
    if (n == 0 || wsum == 0)
        return 0;
    uint64_t *offset = malloc(n * sizeof *offset);
    uint64_t *skip = malloc(n * sizeof *skip);
    uint64_t *next = calloc(n, sizeof *next);
    uint32_t *credit = calloc(n, sizeof *credit);
    size_t *order = malloc(n * sizeof *order);
    if (!offset || !skip || !next || !credit || !order) {
        free(order);
        free(offset);
        free(skip);
        free(next);
        free(credit);
        return -ENOMEM;
    }
    uint32_t wmax = 1;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(names[i]);
        offset[i] = lb_hash_bytes(names[i], len, 0x6d61676c65763031ull) % m;
        skip[i] = m > 1 ? lb_hash_bytes(names[i], len, 0x6d61676c65763032ull) % (m - 1) + 1 : 1;
        if (weights[i] > wmax)
            wmax = weights[i];
    }
    /* Turns go in name order, so instances listing the servers differently agree. */
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    sort_names = names;
    qsort(order, n, sizeof *order, by_name);
    /* Weighted turns: each round every server earns its weight in credit and claims a slot
     * for each wmax of credit, so claims are proportional to weight and interleaved. */
    uint32_t filled = 0;
    while (filled < m) {
        for (size_t o = 0; o < n && filled < m; o++) {
            size_t i = order[o];
            credit[i] += weights[i];
            while (credit[i] >= wmax && filled < m) {
                credit[i] -= wmax;
                uint64_t c;
                do {
                    c = (offset[i] + next[i] * skip[i]) % m;
                    next[i]++;
                } while (table[c] != UINT32_MAX);
                table[c] = (uint32_t)i;
                filled++;
            }
        }
    }
    free(order);
    free(offset);
    free(skip);
    free(next);
    free(credit);
    return 0;
}

int lb_maglev_digest(uint32_t m, const char *const *names, const uint32_t *weights, size_t n,
                     uint32_t *counts, char hex[65])
{
    uint32_t *table = malloc((size_t)m * sizeof *table);
    if (!table)
        return -ENOMEM;
    int rc = lb_maglev_populate(table, m, names, weights, n);
    if (rc < 0) {
        free(table);
        return rc;
    }
    for (size_t i = 0; i < n; i++)
        counts[i] = 0;
    struct sf_sha256 h;
    sf_sha256_init(&h);
    for (uint32_t i = 0; i < m; i++) {
        const char *name = table[i] == UINT32_MAX ? "-" : names[table[i]];
        if (table[i] != UINT32_MAX)
            counts[table[i]]++;
        sf_sha256_update(&h, name, strlen(name));
        sf_sha256_update(&h, "\n", 1);
    }
    uint8_t d[32];
    sf_sha256_final(&h, d);
    sf_sha256_hex(d, hex);
    free(table);
    return 0;
}
