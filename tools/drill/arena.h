/* A bump allocator: everything a parsed script holds is freed at once. */
#ifndef SYNFIN_DRILL_ARENA_H
#define SYNFIN_DRILL_ARENA_H

#include <stddef.h>

struct dr_arena_block;

struct dr_arena {
    struct dr_arena_block *head;
};

/* Zeroed memory, aligned for any type; NULL when memory runs out. */
void *dr_arena_alloc(struct dr_arena *a, size_t size);
/* A NUL-terminated copy of n bytes of s. */
char *dr_arena_strndup(struct dr_arena *a, const char *s, size_t n);
void dr_arena_free(struct dr_arena *a);

#endif
