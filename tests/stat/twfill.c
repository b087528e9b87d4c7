/* stat-twfill: fills the current network namespace with TIME_WAIT sockets for make bench-stat.
 *
 *   stat-twfill COUNT [WORKERS [SECONDS]]
 *
 * Each worker owns a listener on 127.0.0.1 and source addresses 127.1.W.1, 127.1.W.2, ... It
 * opens connections in batches (under the open-file limit), accepts them, closes the client
 * side first and then the server side: the client keeps the connection's 4-tuple in TIME_WAIT
 * for 60 s without holding a descriptor. Source ports are chosen explicitly (1024-65535 per
 * source address) so that connect() never searches for a free port.
 *
 * TIME_WAIT lasts 60 s, so a fill slower than that never reaches COUNT at once: with SECONDS,
 * the workers stop at that deadline and it reports how many they closed.
 *
 * The listeners stay open until standard input reaches its end, so that the TIME_WAIT
 * sockets are seen as what they are, clients of a listening service, while they are counted.
 *
 * Run it in a namespace made for the benchmark, with net.ipv4.tcp_max_tw_buckets above COUNT
 * and net.ipv4.tcp_tw_reuse = 0 (else connect() could recycle our own TIME_WAIT sockets). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#define FIRST_PORT       1024
#define PORTS_PER_SOURCE (65536 - FIRST_PORT)
#define MAX_WORKERS      64

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int die(const char *what)
{
    fprintf(stderr, "stat-twfill: %s: %s\n", what, strerror(errno));
    return 1;
}

static int open_listener(struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    socklen_t len = sizeof *addr;
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        bind(fd, (struct sockaddr *)addr, sizeof *addr) || listen(fd, 65535) ||
        getsockname(fd, (struct sockaddr *)addr, &len)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* One worker: count connections through its own listener and source addresses, or as many
 * as it closes before the deadline; *done tells the parent how many. */
static int worker(unsigned id, int lfd, long count, int batch, double deadline,
                  volatile long *done_out)
{
    struct sockaddr_in srv;
    socklen_t slen = sizeof srv;
    if (getsockname(lfd, (struct sockaddr *)&srv, &slen))
        return die("getsockname");
    int *cl = calloc((size_t)batch, sizeof *cl), *sv = calloc((size_t)batch, sizeof *sv);
    if (!cl || !sv)
        return die("calloc");
    unsigned source = 1, port = FIRST_PORT;
    for (long done = 0; done < count && now() < deadline;) {
        int n = count - done < batch ? (int)(count - done) : batch;
        for (int i = 0; i < n; i++) {
            cl[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (cl[i] < 0)
                return die("socket");
            /* Each (address, port) is bound once, so no SO_REUSEADDR is needed. */
            struct sockaddr_in src = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
            src.sin_addr.s_addr = htonl(0x7f010000u | (id << 8) | source);
            if (bind(cl[i], (struct sockaddr *)&src, sizeof src))
                return die("bind");
            if (connect(cl[i], (struct sockaddr *)&srv, sizeof srv))
                return die("connect");
            sv[i] = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            if (sv[i] < 0)
                return die("accept");
            if (++port > 65535) {
                port = FIRST_PORT;
                if (++source > 254) {
                    errno = ERANGE;
                    return die("out of source addresses");
                }
            }
        }
        for (int i = 0; i < n; i++)
            close(cl[i]); /* the client closes first: it will hold TIME_WAIT */
        for (int i = 0; i < n; i++)
            close(sv[i]);
        done += n;
        *done_out = done;
    }
    free(cl);
    free(sv);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: stat-twfill COUNT [WORKERS [SECONDS]]\n");
        return 2;
    }
    char *end;
    long count = strtol(argv[1], &end, 10);
    long workers = argc > 2 ? strtol(argv[2], NULL, 10) : 1;
    double seconds = argc > 3 ? strtod(argv[3], NULL) : 1e9;
    if (*end || count < 1 || count > 100000000 || workers < 1 || workers > MAX_WORKERS ||
        !(seconds > 0)) {
        fprintf(stderr, "stat-twfill: bad COUNT, WORKERS or SECONDS\n");
        return 2;
    }
    /* Two descriptors per connection in flight, under the soft limit with room to spare. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl))
        return die("getrlimit");
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl))
        return die("setrlimit");
    long batch = ((long)rl.rlim_cur - 64) / 2;
    if (batch > 8192)
        batch = 8192;
    if (batch < 1) {
        fprintf(stderr, "stat-twfill: the open-file limit is too low\n");
        return 1;
    }

    volatile long *done = mmap(NULL, sizeof(long) * MAX_WORKERS, PROT_READ | PROT_WRITE,
                               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (done == MAP_FAILED)
        return die("mmap");
    double t0 = now();
    pid_t pids[MAX_WORKERS];
    int lfds[MAX_WORKERS];
    for (long w = 0; w < workers; w++) {
        struct sockaddr_in a;
        if ((lfds[w] = open_listener(&a)) < 0)
            return die("listener");
    }
    for (long w = 0; w < workers; w++) {
        long share = count / workers + (w < count % workers);
        pids[w] = fork();
        if (pids[w] < 0)
            return die("fork");
        if (pids[w] == 0)
            _exit(worker((unsigned)w + 1, lfds[w], share, (int)batch, t0 + seconds, &done[w]));
    }
    int failed = 0;
    for (long w = 0; w < workers; w++) {
        int st;
        while (waitpid(pids[w], &st, 0) < 0)
            if (errno != EINTR)
                return die("waitpid");
        failed |= !WIFEXITED(st) || WEXITSTATUS(st);
    }
    double secs = now() - t0;
    if (failed) {
        fprintf(stderr, "stat-twfill: a worker failed\n");
        return 1;
    }
    long total = 0;
    for (long w = 0; w < workers; w++)
        total += done[w];
    printf("%ld connections closed in %.1f s (%.0f per second) by %ld workers%s\n", total, secs,
           (double)total / secs, workers, total < count ? ", stopped at the deadline" : "");
    fflush(stdout);
    char buf[256];
    for (;;) {
        ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
        if (n > 0 || (n < 0 && errno == EINTR))
            continue;
        break; /* end of input (or no usable input): let the listeners go */
    }
    for (long w = 0; w < workers; w++)
        close(lfds[w]);
    return 0;
}
