/* The fuzz harnesses without libFuzzer: every file of the corpus is fed once, in name order,
 * and reported as a TAP line, so `make test` exercises each seed and each crash regression
 * under the normal (or SAN=1) build. An invariant failure aborts, which tests/run.sh counts
 * as a failure of the suite ("reported N of M planned results").
 *
 *   fuzz_NAME [FILE|DIR]...   default: the harness's corpus, tests/fuzz/corpus/NAME
 * (NAME comes from the program's own file name, so one source serves every harness). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

struct list {
    char **v;
    size_t n, cap;
};

static int add(struct list *l, const char *path)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **nv = realloc(l->v, cap * sizeof *nv);
        if (!nv)
            return -1;
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n] = strdup(path);
    return l->v[l->n++] ? 0 : -1;
}

static int collect(struct list *l, const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        perror(path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return add(l, path);
    struct dirent **names;
    int n = scandir(path, &names, NULL, alphasort);
    if (n < 0) {
        perror(path);
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        char full[4096];
        if (names[i]->d_name[0] != '.' && rc == 0) {
            snprintf(full, sizeof full, "%s/%s", path, names[i]->d_name);
            rc = add(l, full);
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    unsigned char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        unsigned char *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    fclose(f);
    *len = n;
    return buf;
}

int main(int argc, char **argv)
{
    struct list l = {NULL, 0, 0};
    if (argc < 2) {
        const char *base = strrchr(argv[0], '/');
        base = base ? base + 1 : argv[0];
        if (strncmp(base, "fuzz_", 5) != 0) {
            fprintf(stderr, "%s: name me fuzz_NAME, or name the inputs\n", argv[0]);
            return 2;
        }
        char dir[512];
        snprintf(dir, sizeof dir, "tests/fuzz/corpus/%s", base + 5);
        if (collect(&l, dir) < 0)
            return 1;
    }
    for (int i = 1; i < argc; i++)
        if (collect(&l, argv[i]) < 0)
            return 1;
    printf("1..%zu\n", l.n);
    fflush(stdout);
    int failed = 0;
    for (size_t i = 0; i < l.n; i++) {
        size_t len;
        unsigned char *data = slurp(l.v[i], &len);
        if (!data) {
            printf("not ok %zu - %s: cannot read\n", i + 1, l.v[i]);
            failed = 1;
        } else {
            /* Said before the run, so that the log names the input that aborts it. */
            fprintf(stderr, "# %s\n", l.v[i]);
            LLVMFuzzerTestOneInput(data, len);
            printf("ok %zu - %s\n", i + 1, l.v[i]);
        }
        fflush(stdout);
        free(data);
        free(l.v[i]);
    }
    free(l.v);
    return failed;
}
