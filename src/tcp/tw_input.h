/* Segments for a TIME-WAIT entry, and its expiry. */
#ifndef SYNFIN_TCP_TW_INPUT_H
#define SYNFIN_TCP_TW_INPUT_H

#include <stdint.h>

struct sf_engine;
struct sf_seg;
struct sf_conn;

void tw_input(struct sf_engine *e, uint32_t idx, struct sf_seg *s);
/* Ends every entry whose time is up. */
void tw_expire(struct sf_engine *e);
/* Hands a connection over to a new TIME-WAIT entry. Returns 0, or -ENOMEM. */
int tw_enter(struct sf_conn *c);
/* Ends one entry: reports TIME_WAIT -> CLOSED with cause, releases its port. */
void tw_end(struct sf_engine *e, uint32_t idx, int cause);
/* The engine's millisecond clock as TIME-WAIT entries keep it. */
uint32_t tw_now_ms(const struct sf_engine *e);

#endif
