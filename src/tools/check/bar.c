/*
 * bar.c - statestore-check's progress bar; see bar.h.
 */
#include <string.h>

#include "common/clock.h"
#include "tools/check/bar.h"

#define CELLS 30

void ss_check_bar_update(void *arg, const struct ss_replay_progress *p)
{
	struct ss_check_bar *b = arg;
	uint64_t now = ss_clock_ns();
	char cells[CELLS + 1];

	if (b->last_ns && now - b->last_ns < SS_CHECK_BAR_PERIOD_NS)
		return;
	b->last_ns = now;
	unsigned pct = p->total ? (unsigned)(p->bytes * 100 / p->total) : 100;
	if (pct > 100)
		pct = 100;
	size_t full = (size_t)pct * CELLS / 100;
	memset(cells, '#', full);
	memset(cells + full, '.', CELLS - full);
	cells[CELLS] = '\0';
	int n = fprintf(b->out, "\rreading the log [%s] %3u%%  %llu records", cells, pct,
			(unsigned long long)p->records);
	if (n > 1 && (size_t)(n - 1) > b->width)
		b->width = (size_t)(n - 1);
	fflush(b->out);
}

void ss_check_bar_end(struct ss_check_bar *b)
{
	if (!b->width)
		return;
	/* Spaces over the line, not an escape sequence: any terminal. */
	fprintf(b->out, "\r%*s\r", (int)b->width, "");
	fflush(b->out);
	b->width = 0;
}
