/* The dashboard's files (src/ctl/dashboard/, docs/dashboard.md) compiled into the binary, as
 * conf_embed.c does the default config: the installed synfin serves its page with nothing
 * beside it. The assembler includes them at build time (the build runs from the repository
 * root; mk/comp-lb.mk rebuilds this object when one changes). */
#include "ctl/render.h"

#include <string.h>

/* NAME_start .. NAME_end: the bytes of FILE, in .rodata. */
#define EMBED(name, file)                                                                          \
    __asm__(".section .rodata\n"                                                                   \
            ".local " #name "_start, " #name "_end\n"                                              \
            ".balign 16\n" #name "_start:\n"                                                       \
            ".incbin \"" file "\"\n" #name "_end:\n"                                               \
            ".previous\n");                                                                        \
    extern const char name##_start[], name##_end[]

EMBED(dash_html, "src/ctl/dashboard/index.html");
EMBED(dash_js, "src/ctl/dashboard/dash.js");
EMBED(dash_css, "src/ctl/dashboard/dash.css");

struct file {
    const char *path, *ctype;
    const char *start, *end;
};

int ctl_dashboard_file(const char *path, struct ctl_admin_resp *resp)
{
    const struct file files[] = {
        {"/", "text/html; charset=utf-8", dash_html_start, dash_html_end},
        {"/index.html", "text/html; charset=utf-8", dash_html_start, dash_html_end},
        {"/dash.js", "text/javascript; charset=utf-8", dash_js_start, dash_js_end},
        {"/dash.css", "text/css; charset=utf-8", dash_css_start, dash_css_end},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        if (!strcmp(path, files[i].path)) {
            sf_sb_append(&resp->body, files[i].start, (size_t)(files[i].end - files[i].start));
            resp->ctype = files[i].ctype;
            return 200;
        }
    return 404;
}
