/* Counters one thread writes and the admin thread reads (docs/architecture.md, "Threads",
 * "Admin and figures").
 *
 * Each thread keeps its own figures in its own objects (frontends, backends, servers, its
 * transport, its buffer pool) and is the only one that writes them. With threads, thread 0
 * sums them at scrape time, reading the others' objects. The writer updates with a relaxed
 * atomic load and store (no read-modify-write: it is the only writer), which on x86-64 and
 * arm64 are the plain loads and stores an increment is anyway, with no lock prefix and no
 * fence; the reader loads with relaxed atomics. A figure read so may be a few events behind
 * the other thread, never torn. */
#ifndef SYNFIN_LB_COUNTER_H
#define SYNFIN_LB_COUNTER_H

#define LB_COUNT_ADD(x, n)                                                                         \
    __atomic_store_n(&(x), __atomic_load_n(&(x), __ATOMIC_RELAXED) + (n), __ATOMIC_RELAXED)
#define LB_COUNT_SUB(x, n)                                                                         \
    __atomic_store_n(&(x), __atomic_load_n(&(x), __ATOMIC_RELAXED) - (n), __ATOMIC_RELAXED)
#define LB_COUNT_INC(x)    LB_COUNT_ADD(x, 1)
#define LB_COUNT_DEC(x)    LB_COUNT_SUB(x, 1)
#define LB_COUNT_SET(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
/* Another thread's counter (the owner reads its own plainly). */
#define LB_COUNT_LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

#endif
