/*
 * timeouts.h - when the clients' two timeouts fall due: --timeout (a
 * client idle that long is closed) and --request-timeout (a client that
 * has held an incomplete request that long is closed).
 *
 * Each timeout has one duration for every client, so the clients in a
 * state are in the order their clocks started, and that order is the
 * order of their deadlines: a list per state, appended at the tail, with
 * the next deadline always at a head. This is the libev manual's method 4
 * for many timeouts of one duration ("Be smart about timeouts"): O(1) per
 * activity (unlink, append), O(1) to find the next deadline, and one
 * timer for the lot (the registry's, clients.c). A periodic sweep, as
 * Redis's clientsCron does, would cost O(clients) per tick whether or not
 * any client is due.
 *
 * The module knows nodes and times, not clients or clocks: the registry
 * embeds a node in each client and passes the time, so the unit test
 * (tests/unit/test_timeouts.c) runs it on a fake clock.
 */
#ifndef STATESTORED_SERVER_TIMEOUTS_H
#define STATESTORED_SERVER_TIMEOUTS_H

#include <stdint.h>

/* What a client is timed for. */
enum ss_tmo_kind {
	SS_TMO_NONE = 0, /* not timed: it waits on the server, or is closed */
	SS_TMO_IDLE,     /* no request under way, nothing owed: --timeout */
	SS_TMO_REQUEST,  /* an incomplete request: --request-timeout */
	SS_TMO_KINDS,
};

struct ss_tmo_node {
	struct ss_tmo_node *prev, *next;
	uint64_t since;        /* when its clock started */
	enum ss_tmo_kind kind; /* the list it is on */
};

struct ss_timeouts {
	uint64_t limit[SS_TMO_KINDS]; /* the durations; 0: that timeout is off */
	struct {
		struct ss_tmo_node *head, *tail;
	} list[SS_TMO_KINDS];
};

/* Empty lists; idle and request are the durations (0: off), in the unit
 * of the times passed later. */
void ss_timeouts_init(struct ss_timeouts *t, uint64_t idle, uint64_t request);

/* Puts n, which is in state kind as of now, on that state's list:
 *   - SS_TMO_IDLE: its clock starts now, whatever it was before (a client
 *     is idle from its last activity, and this call is one);
 *   - SS_TMO_REQUEST: its clock starts now unless it was already there
 *     (the request is the same one, or another that followed it with no
 *     gap: the slow client gains nothing by completing a line);
 *   - SS_TMO_NONE, or a kind whose timeout is off: on no list.
 * now must not go back from one call to the next (a monotonic clock). */
void ss_timeouts_set(struct ss_timeouts *t, struct ss_tmo_node *n, enum ss_tmo_kind kind,
		     uint64_t now);

/* The earliest deadline of every node listed, or UINT64_MAX if none. */
uint64_t ss_timeouts_next(const struct ss_timeouts *t);

/* A node whose deadline is at or before now (the earliest one, by kind),
 * or NULL. The caller takes it off (ss_timeouts_set NONE) before asking
 * again. */
struct ss_tmo_node *ss_timeouts_due(const struct ss_timeouts *t, uint64_t now);

#endif
