/* conf/synfin.conf compiled into the binary: `synfin` with no -c runs it, and `make run`
 * needs nothing beside the binary. The assembler includes the file at build time (the
 * build runs from the repository root). */
#include "lb/config.h"

__asm__(".section .rodata\n"
        ".global lb_default_conf\n"
        ".type lb_default_conf, @object\n"
        "lb_default_conf:\n"
        ".incbin \"conf/synfin.conf\"\n"
        ".byte 0\n"
        ".previous\n");
