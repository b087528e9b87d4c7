/* stat-maxrss CMD [ARG...]: runs CMD (output discarded) and prints its peak resident set in
 * KB, for make bench-stat. posix_spawn keeps the child from inheriting a large parent's pages
 * into its peak, which a Python or shell wrapper's fork would add. */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>

extern char **environ;

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: stat-maxrss CMD [ARG...]\n");
        return 2;
    }
    posix_spawn_file_actions_t fa;
    if (posix_spawn_file_actions_init(&fa) ||
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0)) {
        fprintf(stderr, "stat-maxrss: cannot set up the child\n");
        return 2;
    }
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[1], &fa, NULL, argv + 1, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc) {
        fprintf(stderr, "stat-maxrss: %s: %s\n", argv[1], strerror(rc));
        return 2;
    }
    int st;
    struct rusage ru;
    while (wait4(pid, &st, 0, &ru) < 0) {
        if (errno != EINTR) {
            perror("stat-maxrss: wait4");
            return 2;
        }
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st)) {
        fprintf(stderr, "stat-maxrss: %s failed\n", argv[1]);
        return 1;
    }
    printf("%ld\n", ru.ru_maxrss);
    return 0;
}
