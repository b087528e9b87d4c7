/* synfin-drill: runs packetdrill-syntax scripts against the synfin TCP engine on the simulated
 * network. Exit status 0 when every script passes or is unsupported (skipped), 1 when one
 * fails, 2 on a usage error. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/pcap.h"
#include "util/version.h"

#include "parse.h"
#include "run.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: synfin-drill [--verbose] [--tap] [--pcap=FILE] [--NAME=VALUE...] "
               "SCRIPT.pkt...\n"
               "  --verbose       print every packet, system call and state transition\n"
               "  -v, --version   release and git revision\n"
               "  --tap           print TAP: one ok / not ok line per script\n"
               "  --pcap=FILE     write every packet of every script to FILE\n"
               "  --define=NAME[=VALUE], -D NAME[=VALUE]  NAME is defined for #ifdef\n"
               "  --unsupported_fails  a script needing a missing feature fails\n"
               "  --NAME=VALUE    a script option for every script (the script's own win):\n"
               "                  --tolerance_usecs, --local_ip, --remote_ip, --bind_port,\n"
               "                  --connect_port, --remote_port, --remote_isn, --seed,\n"
               "                  --strict_end (packets after the last event fail), or an\n"
               "                  engine setting (--time_wait_ms=2000, --syncookies=2, ...)\n"
               "See docs/drill.md.\n");
}

/* Prints a multi-line message with a prefix on every line. */
static void print_lines(FILE *f, const char *prefix, const char *text)
{
    while (*text) {
        const char *nl = strchr(text, '\n');
        size_t n = nl ? (size_t)(nl - text) : strlen(text);
        fprintf(f, "%s%.*s\n", prefix, (int)n, text);
        text += n + (nl ? 1 : 0);
    }
}

int main(int argc, char **argv)
{
    int tap = 0, unsupported_fails = 0;
    const char *pcap_path = NULL;
    struct dr_settings set = {.log = stderr};
    struct dr_option *opts = calloc((size_t)argc, sizeof *opts);
    const char **scripts = calloc((size_t)argc, sizeof *scripts);
    const char **defines = calloc((size_t)argc, sizeof *defines);
    size_t nscripts = 0, ndefines = 0;
    if (!opts || !scripts || !defines) {
        fprintf(stderr, "synfin-drill: out of memory\n");
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (sf_version_arg(a)) {
            free(opts);
            free(scripts);
            free(defines);
            sf_version_print(stdout, "synfin-drill");
            return fflush(stdout) ? 2 : 0;
        } else if (!strcmp(a, "--verbose")) {
            set.verbose = 1;
        } else if (!strcmp(a, "--tap")) {
            tap = 1;
        } else if (!strcmp(a, "--unsupported_fails")) {
            unsupported_fails = 1;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            free(opts);
            free(scripts);
            free(defines);
            return 0;
        } else if (!strncmp(a, "--pcap=", 7)) {
            pcap_path = a + 7;
        } else if (!strncmp(a, "--define=", 9) && a[9]) {
            defines[ndefines++] = a + 9;
        } else if (!strcmp(a, "-D") && i + 1 < argc) { /* packetdrill's short form */
            defines[ndefines++] = argv[++i];
        } else if (!strncmp(a, "--", 2) && a[2]) {
            char *eq = strchr(a, '=');
            struct dr_option *o = &opts[set.nopts++];
            o->name = a + 2;
            if (eq) {
                *eq = 0;
                o->value = eq + 1;
            }
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "synfin-drill: unknown flag %s\n", a);
            usage(stderr);
            free(opts);
            free(scripts);
            free(defines);
            return 2;
        } else {
            scripts[nscripts++] = a;
        }
    }
    set.opts = opts;
    if (!nscripts) {
        usage(stderr);
        free(opts);
        free(scripts);
        free(defines);
        return 2;
    }
    struct sf_pcap *pcap = NULL;
    if (pcap_path) {
        pcap = sf_pcap_open(pcap_path);
        if (!pcap) {
            fprintf(stderr, "synfin-drill: %s: %s\n", pcap_path, strerror(errno));
            free(opts);
            free(scripts);
            free(defines);
            return 2;
        }
        set.pcap = pcap;
    }
    if (tap)
        printf("1..%zu\n", nscripts);
    size_t failed = 0, skipped = 0;
    for (size_t i = 0; i < nscripts; i++) {
        char msg[4096] = "";
        struct dr_error err;
        struct dr_script *s = dr_parse_file_defs(scripts[i], defines, ndefines, &err);
        int rc;
        if (!s) {
            /* packetdrill syntax for what synfin-drill lacks: unsupported, not failed */
            int unsup = err.unsupported || (err.call[0] && !dr_call_known(err.call));
            const char *what = unsup ? "unsupported: " : "";
            if (err.call[0] && !err.unsupported && unsup)
                snprintf(msg, sizeof msg, "%s:%d:%d: unsupported: system call %s", scripts[i],
                         err.pos.line, err.pos.col, err.call);
            else if (err.pos.line)
                snprintf(msg, sizeof msg, "%s:%d:%d: %s%s", scripts[i], err.pos.line, err.pos.col,
                         what, err.msg);
            else
                snprintf(msg, sizeof msg, "%s: %s", scripts[i], err.msg);
            rc = unsup ? 1 : -1;
        } else {
            if (set.verbose)
                fprintf(stderr, "--- %s\n", scripts[i]);
            rc = dr_run(s, &set, msg, sizeof msg);
            dr_script_free(s);
        }
        if (rc > 0 && unsupported_fails)
            rc = -1;
        if (rc < 0)
            failed++;
        if (rc > 0)
            skipped++;
        if (tap) {
            printf("%s %zu - %s", rc < 0 ? "not ok" : "ok", i + 1, scripts[i]);
            if (rc > 0) /* TAP's directive: counted as skipped, not failed */
                printf(" # SKIP %s",
                       strstr(msg, "unsupported: ") ? strstr(msg, "unsupported: ") : msg);
            printf("\n");
            if (rc < 0)
                print_lines(stdout, "# ", msg);
        } else if (rc != 0) {
            print_lines(stderr, "", msg);
        }
        fflush(stdout);
    }
    if (pcap) {
        int rc = sf_pcap_close(pcap);
        if (rc < 0) {
            fprintf(stderr, "synfin-drill: %s: %s\n", pcap_path, strerror(-rc));
            failed++;
        }
    }
    if (!tap && nscripts > 1)
        printf("%zu scripts, %zu passed, %zu failed, %zu unsupported\n", nscripts,
               nscripts - failed - skipped, failed, skipped);
    free(opts);
    free(scripts);
    free(defines);
    return failed ? 1 : 0;
}
