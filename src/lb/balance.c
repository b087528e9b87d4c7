/* Server choice: smooth weighted round robin, least connections, source hash (weighted
 * rendezvous), Maglev. Backups serve only when no primary is usable. */
#include "lb/backend.h"
#include "lb/hash.h"
#include "lb/maglev.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int lb_server_usable(const struct lb_server *s, uint64_t now)
{
    return s->up && !s->removed && s->weight > 0 && now >= s->ejected_until;
}

int lb_server_takes_new(const struct lb_server *s, uint64_t now)
{
    return s->admin_state == LB_SRV_READY && lb_server_usable(s, now);
}

const char *lb_srv_admin_name(int state)
{
    static const char *const names[] = {"ready", "drain", "maint"};
    return state >= 0 && state < 3 ? names[state] : "?";
}

int lb_srv_admin_parse(const char *s)
{
    for (int i = 0; i < 3; i++)
        if (!strcmp(s, lb_srv_admin_name(i)))
            return i;
    return -1;
}

const char *lb_server_health(const struct lb_server *s, uint64_t now)
{
    if (!s->up)
        return "down";
    return now < s->ejected_until ? "ejected" : "up";
}

/* The tier in use: usable primaries, or usable backups when no primary is usable. */
static int tier(const struct lb_backend *b, uint64_t now)
{
    for (size_t i = 0; i < b->nservers; i++)
        if (!b->servers[i]->backup && lb_server_takes_new(b->servers[i], now))
            return 0;
    return 1;
}

static int eligible(const struct lb_server *s, int backup, uint64_t now)
{
    return s->backup == backup && lb_server_takes_new(s, now);
}

/* nginx's smooth weighted round robin: every pick adds each weight to its server's current
 * value and takes the largest, which then gives back the total. */
static struct lb_server *pick_swrr(struct lb_backend *b, int backup, const struct lb_server *avoid,
                                   uint64_t now, int skip_avoid)
{
    struct lb_server *best = NULL;
    int64_t total = 0;
    for (size_t i = 0; i < b->nservers; i++) {
        struct lb_server *s = b->servers[i];
        if (!eligible(s, backup, now) || lb_server_full(s) || (skip_avoid && s == avoid))
            continue;
        s->swrr_current += s->weight;
        total += s->weight;
        if (!best || s->swrr_current > best->swrr_current)
            best = s;
    }
    if (best)
        best->swrr_current -= total;
    return best;
}

/* Fewest sessions per unit of weight; ties go round the servers. */
static struct lb_server *pick_leastconn(struct lb_backend *b, int backup,
                                        const struct lb_server *avoid, uint64_t now, int skip_avoid)
{
    struct lb_server *best = NULL;
    size_t n = b->nservers;
    for (size_t k = 0; k < n; k++) {
        struct lb_server *s = b->servers[(b->lc_cursor + k) % n];
        if (!eligible(s, backup, now) || lb_server_full(s) || (skip_avoid && s == avoid))
            continue;
        if (!best ||
            (uint64_t)lb_server_load(s) * best->weight < (uint64_t)lb_server_load(best) * s->weight)
            best = s;
    }
    b->lc_cursor++;
    return best;
}

static uint64_t client_hash(const struct lb_addr *client, int with_port)
{
    const uint8_t *k;
    size_t n = lb_addr_key(client, &k);
    uint64_t h = lb_hash_bytes(k, n, 0x73796e66696e3031ull);
    if (with_port) {
        uint16_t p = lb_addr_port(client);
        uint8_t pb[2] = {(uint8_t)(p >> 8), (uint8_t)p};
        h = lb_hash_bytes(pb, 2, h);
    }
    return h;
}

/* Weighted rendezvous hashing on the client address: the highest weight / -ln(u) wins, so a
 * server that leaves only moves its own clients. */
static struct lb_server *pick_source(struct lb_backend *b, int backup, const struct lb_addr *client,
                                     const struct lb_server *avoid, uint64_t now, int skip_avoid,
                                     int *full)
{
    uint64_t ch = client_hash(client, 0);
    struct lb_server *best = NULL;
    double best_score = 0;
    for (size_t i = 0; i < b->nservers; i++) {
        struct lb_server *s = b->servers[i];
        if (!eligible(s, backup, now) || (skip_avoid && s == avoid))
            continue;
        uint64_t h = lb_hash_bytes(s->name, strlen(s->name), ch);
        double u = ((double)(h >> 11) + 0.5) / 9007199254740992.0; /* (0,1) */
        double score = -(double)s->weight / log(u);
        if (!best || score > best_score) {
            best = s;
            best_score = score;
        }
    }
    if (best && lb_server_full(best)) {
        *full = 1;
        return NULL;
    }
    return best;
}

static int maglev_rebuild(struct lb_backend *b, int backup, uint64_t now)
{
    uint32_t m = b->conf.maglev_size;
    if (!b->maglev) {
        b->maglev = malloc((size_t)m * sizeof *b->maglev);
        if (!b->maglev)
            return -1;
    }
    struct lb_server **srv = realloc(b->maglev_srv, (b->nservers + 1) * sizeof *srv);
    const char **names = malloc((b->nservers + 1) * sizeof *names);
    uint32_t *weights = malloc((b->nservers + 1) * sizeof *weights);
    if (!srv || !names || !weights) {
        if (srv)
            b->maglev_srv = srv;
        free(names);
        free(weights);
        return -1;
    }
    b->maglev_srv = srv;
    size_t n = 0;
    for (size_t i = 0; i < b->nservers; i++) {
        struct lb_server *s = b->servers[i];
        if (!eligible(s, backup, now))
            continue;
        srv[n] = s;
        names[n] = s->name;
        weights[n] = s->weight;
        n++;
    }
    int rc = lb_maglev_populate(b->maglev, m, names, weights, n);
    free(names);
    free(weights);
    if (rc < 0)
        return -1;
    b->maglev_n = n;
    b->maglev_backup = backup;
    b->built_gen = b->health_gen;
    return 0;
}

static struct lb_server *pick_maglev(struct lb_backend *b, int backup, const struct lb_addr *client,
                                     const struct lb_server *avoid, uint64_t now, int skip_avoid,
                                     int *full)
{
    if (b->built_gen != b->health_gen || !b->maglev || b->maglev_backup != backup)
        if (maglev_rebuild(b, backup, now) < 0)
            return pick_source(b, backup, client, avoid, now, skip_avoid, full);
    if (b->maglev_n == 0)
        return NULL;
    uint32_t m = b->conf.maglev_size;
    uint64_t slot = client_hash(client, 1) % m;
    /* The table entry; if that server is being avoided, the next slot owned by another. */
    for (uint32_t k = 0; k < m; k++) {
        struct lb_server *s = b->maglev_srv[b->maglev[(slot + k) % m]];
        if (skip_avoid && s == avoid)
            continue;
        if (lb_server_full(s)) {
            *full = 1;
            return NULL;
        }
        return s;
    }
    return NULL;
}

int lb_balance_pick(struct lb_backend *b, const struct lb_addr *client,
                    const struct lb_server *avoid, uint64_t now, struct lb_server **out)
{
    if (b->next_unejection && now >= b->next_unejection) {
        b->next_unejection = 0;
        b->health_gen++;
    }
    int backup = tier(b, now);
    for (int pass = 0; pass < 2; pass++) {
        int skip_avoid = avoid && pass == 0;
        int full = 0;
        struct lb_server *s = NULL;
        switch (b->conf.balance) {
        case LB_BAL_LEASTCONN: s = pick_leastconn(b, backup, avoid, now, skip_avoid); break;
        case LB_BAL_SOURCE:
            s = pick_source(b, backup, client, avoid, now, skip_avoid, &full);
            break;
        case LB_BAL_MAGLEV:
            s = pick_maglev(b, backup, client, avoid, now, skip_avoid, &full);
            break;
        default: s = pick_swrr(b, backup, avoid, now, skip_avoid); break;
        }
        if (s) {
            /* Another thread may have taken the last slot since the count was read. */
            if (s->sh && !lb_shared_claim(&s->sh->conns, s->maxconn))
                return LB_PICK_FULL;
            *out = s;
            return LB_PICK_OK;
        }
        if (full)
            return LB_PICK_FULL;
        if (!avoid)
            break;
    }
    /* Nothing chosen: either every usable server is full, or none is usable. */
    for (size_t i = 0; i < b->nservers; i++)
        if (eligible(b->servers[i], backup, now))
            return LB_PICK_FULL;
    return LB_PICK_NONE;
}
