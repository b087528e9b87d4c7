#include "io/impair.h"

#include <stdlib.h>
#include <string.h>

struct sf_impair_held {
    struct sf_impair_held *next;
    sf_time_t at;
    enum sf_impair_dir dir;
    size_t len;
    uint8_t data[];
};

static double next_unit(struct sf_impair *im)
{
    uint64_t z = (im->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (double)(z >> 11) / (double)(1ULL << 53);
}

int sf_impair_parse(struct sf_impair *im, const char *spec)
{
    memset(im, 0, sizeof *im);
    im->hold_us = SF_MS(2);
    im->rng = 1;
    const char *p = spec;
    while (*p) {
        const char *eq = strchr(p, '=');
        if (!eq)
            return -1;
        char *end;
        double v = strtod(eq + 1, &end);
        if (end == eq + 1 || (*end && *end != ',') || v < 0)
            return -1;
        size_t n = (size_t)(eq - p);
        if (n == 4 && strncmp(p, "loss", 4) == 0 && v <= 100)
            im->loss = v / 100;
        else if (n == 3 && strncmp(p, "dup", 3) == 0 && v <= 100)
            im->dup = v / 100;
        else if (n == 7 && strncmp(p, "reorder", 7) == 0 && v <= 100)
            im->reorder = v / 100;
        else if (n == 4 && strncmp(p, "hold", 4) == 0 && v <= 10000)
            im->hold_us = (sf_time_t)(v * 1000);
        else if (n == 4 && strncmp(p, "seed", 4) == 0)
            im->rng = (uint64_t)v;
        else
            return -1;
        p = *end ? end + 1 : end;
    }
    return 0;
}

static void hold(struct sf_impair *im, enum sf_impair_dir dir, const uint8_t *pkt, size_t len,
                 sf_time_t at)
{
    struct sf_impair_held *h = malloc(sizeof *h + len);
    if (!h) {
        im->dropped++; /* no memory: the packet is lost, as a full queue would lose it */
        return;
    }
    h->at = at;
    h->dir = dir;
    h->len = len;
    memcpy(h->data, pkt, len);
    struct sf_impair_held **pp = &im->q;
    while (*pp && (*pp)->at <= at)
        pp = &(*pp)->next;
    h->next = *pp;
    *pp = h;
}

void sf_impair_packet(struct sf_impair *im, enum sf_impair_dir dir, const uint8_t *pkt, size_t len,
                      sf_time_t now, sf_impair_deliver_fn deliver, void *ctx)
{
    if (im->loss > 0 && next_unit(im) < im->loss) {
        im->dropped++;
        return;
    }
    int copies = 1;
    if (im->dup > 0 && next_unit(im) < im->dup) {
        im->duplicated++;
        copies = 2;
    }
    for (int i = 0; i < copies; i++) {
        if (im->reorder > 0 && next_unit(im) < im->reorder) {
            im->reordered++;
            hold(im, dir, pkt, len, now + im->hold_us);
        } else {
            deliver(ctx, dir, pkt, len);
        }
    }
}

sf_time_t sf_impair_next(const struct sf_impair *im)
{
    return im->q ? im->q->at : SF_TIME_NEVER;
}

void sf_impair_release(struct sf_impair *im, sf_time_t now, sf_impair_deliver_fn deliver, void *ctx)
{
    while (im->q && im->q->at <= now) {
        struct sf_impair_held *h = im->q;
        im->q = h->next;
        deliver(ctx, h->dir, h->data, h->len);
        free(h);
    }
}

void sf_impair_free(struct sf_impair *im)
{
    while (im->q) {
        struct sf_impair_held *h = im->q;
        im->q = h->next;
        free(h);
    }
}
