/*
 * timeouts.c - the clients' deadlines, as lists in deadline order; see
 * timeouts.h.
 */
#include <string.h>

#include "server/timeouts.h"

void ss_timeouts_init(struct ss_timeouts *t, uint64_t idle, uint64_t request)
{
	memset(t, 0, sizeof(*t));
	t->limit[SS_TMO_IDLE] = idle;
	t->limit[SS_TMO_REQUEST] = request;
}

static void unlink_node(struct ss_timeouts *t, struct ss_tmo_node *n)
{
	if (n->kind == SS_TMO_NONE)
		return;
	if (n->prev)
		n->prev->next = n->next;
	else
		t->list[n->kind].head = n->next;
	if (n->next)
		n->next->prev = n->prev;
	else
		t->list[n->kind].tail = n->prev;
	n->prev = n->next = NULL;
	n->kind = SS_TMO_NONE;
}

void ss_timeouts_set(struct ss_timeouts *t, struct ss_tmo_node *n, enum ss_tmo_kind kind,
		     uint64_t now)
{
	if (kind == SS_TMO_REQUEST && n->kind == SS_TMO_REQUEST)
		return; /* the clock runs on */
	unlink_node(t, n);
	if (kind == SS_TMO_NONE || t->limit[kind] == 0)
		return;
	/* Appended with the latest start: the list stays in start order, and
	 * so in deadline order, as long as now does not go back. */
	n->kind = kind;
	n->since = now;
	n->prev = t->list[kind].tail;
	if (n->prev)
		n->prev->next = n;
	else
		t->list[kind].head = n;
	t->list[kind].tail = n;
}

/* The deadline of kind's head, or UINT64_MAX for an empty list. */
static uint64_t head_deadline(const struct ss_timeouts *t, enum ss_tmo_kind kind)
{
	const struct ss_tmo_node *h = t->list[kind].head;
	if (!h)
		return UINT64_MAX;
	uint64_t d = h->since + t->limit[kind];
	return d < h->since ? UINT64_MAX : d; /* a limit too far to overflow into */
}

uint64_t ss_timeouts_next(const struct ss_timeouts *t)
{
	uint64_t a = head_deadline(t, SS_TMO_IDLE), b = head_deadline(t, SS_TMO_REQUEST);
	return a < b ? a : b;
}

struct ss_tmo_node *ss_timeouts_due(const struct ss_timeouts *t, uint64_t now)
{
	uint64_t a = head_deadline(t, SS_TMO_IDLE), b = head_deadline(t, SS_TMO_REQUEST);

	if (a <= b && a <= now)
		return t->list[SS_TMO_IDLE].head;
	if (b <= now)
		return t->list[SS_TMO_REQUEST].head;
	return NULL;
}
