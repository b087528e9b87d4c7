/* What synfin-stat prints: the histogram and the --by-peer groups, as text or JSON. */
#ifndef SYNFIN_STAT_REPORT_H
#define SYNFIN_STAT_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "args.h"
#include "collect.h"
#include "json_out.h"
#include "tcpstates.h"

/* "10.0.0.1:80", "[2001:db8::1]:80"; port < 0 prints "*" (any port), family 0 nothing but
 * ":port". Returns buf. */
char *st_endpoint_str(char *buf, size_t size, int family, const uint8_t *addr, int port);

/* A --by-peer row's endpoint ("10.0.0.1:80", "10.0.0.1:*", ":80", "ephemeral ports") and
 * what it is ("outgoing", "incoming (listening port)", ...). */
void st_peer_label(char *buf, size_t size, const struct st_key *k, int remote);
const char *st_peer_note(const struct st_key *k, int remote);
/* "TIME_WAIT" or "CLOSE_WAIT", and the sentence that says which side holds it and why. */
const char *st_held_name(enum st_held h);
const char *st_held_rule(enum st_held h);

/* One line per state, all eleven in lifecycle order: "TIME_WAIT    1000000". */
void st_print_hist(FILE *f, const struct st_hist *h);

/* text word-wrapped to 96 columns; the first line starts with label (NULL: nothing) padded to
 * indent columns, the others with indent spaces. */
void st_print_wrapped(FILE *f, int indent, const char *label, const char *text);

/* The --by-peer groups for TIME_WAIT and CLOSE_WAIT, top rows each. */
void st_print_peers(FILE *f, const struct st_collect *c, unsigned top);

/* Members shared by every JSON document: "version", "source", "netns", "filter". */
void st_json_header(struct st_json *j, const struct st_opts *o, const char *source);
void st_json_hist(struct st_json *j, const char *key, const struct st_hist *h);
void st_json_peers(struct st_json *j, const struct st_collect *c, unsigned top);

/* What a failed sock_diag dump (-errno) means, for the operator. */
void st_dump_error_text(int rc, const char *netns, char *buf, size_t size);

/* Explain a failed sock_diag dump (-errno) or namespace entry on stderr. */
void st_report_dump_error(int rc, const char *netns);
void st_report_netns_error(int rc, const char *netns);

#endif
