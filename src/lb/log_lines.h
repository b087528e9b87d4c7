/* A log file written in whole lines (docs/architecture.md, "Threads"): with threads each
 * thread has its own stream on the file, and a stdio buffer that fills mid-line would
 * write half a line that another thread's write could follow. */
#ifndef SYNFIN_LB_LOG_LINES_H
#define SYNFIN_LB_LOG_LINES_H

#include <stdio.h>

/* path opened for appending (O_APPEND, created 0666 less the umask, as fopen "a"), behind
 * a stream that writes only whole lines, each write(2) as many as it has, and keeps a
 * partial last line until its newline comes (or the stream is flushed at close). NULL with
 * errno. */
FILE *lb_log_lines_open(const char *path);

#endif
