/*
 * pending.h - what the open and the in-flight batch will change, for
 * deciding conditions before they are durable.
 *
 * The table holds only durable state. A conditional command (CAS, a
 * DEL or ROLLBACK with an expected revision, MCAS) must be decided against
 * that state plus everything staged before it - in the open batch and in
 * the batch whose fdatasync is still running - in staging order, or two
 * CAS from the same revision in one batch would both succeed. This module
 * keeps, per name with a staged change not yet applied, the state it will
 * have: its revision (0: deleted), value and expiry. It also hands out the
 * revisions: one per mutating command, in staging order.
 *
 * The commit cycle tells it when a batch ends (a commit hook): applied,
 * its names are in the table and their entries here go (unless a later
 * batch changed them again); refused (its write failed), its entries go
 * and the revision counter returns to where that batch started, since none
 * of its revisions was ever acknowledged. At most two batches are ever
 * unapplied (commit.h), and a write fails only for the newest, so that
 * rewind never skips a revision anybody saw.
 */
#ifndef STATESTORED_CMD_PENDING_H
#define STATESTORED_CMD_PENDING_H

#include <stddef.h>
#include <stdint.h>

#include "statestored/batch.h"
#include "statestored/table.h"

struct ss_pending_entry; /* pending.c */

struct ss_pending {
	struct ss_pending_entry **buckets;
	size_t nbuckets, count;
	uint64_t rev; /* the last revision handed out (staged or durable) */
	/* Each unapplied batch: where its revisions start, and its nodes
	 * (newest first), so that its end touches only them. */
	struct {
		const struct ss_batch *b;
		uint64_t base;
		int took;
		struct ss_pending_entry *nodes;
	} batches[2];
};

/* What a name will be once its staged changes are applied. */
struct ss_pending_state {
	uint64_t rev; /* 0: deleted */
	const char *value;
	size_t vlen;
	int64_t expire_ms;
	int64_t commit_ms;
};

/* Starts empty, handing out revisions after rev (the table's). */
void ss_pending_init(struct ss_pending *p, uint64_t rev);
void ss_pending_free(struct ss_pending *p);

/* 1 and *st if name has a staged change not yet applied; 0 otherwise. */
int ss_pending_get(const struct ss_pending *p, const char *name, size_t nlen,
		   struct ss_pending_state *st);

/* The k-th newest staged state of name (0: what ss_pending_get gives):
 * 1 and *st, or 0 past the oldest. ROLLBACK walks them to find an earlier
 * version still staged. */
int ss_pending_nth(const struct ss_pending *p, const char *name, size_t nlen, size_t k,
		   struct ss_pending_state *st);

/* The next revision, for a command staging into b. Not taken until
 * ss_pending_take: a command that fails to stage gives nothing back. */
uint64_t ss_pending_next(const struct ss_pending *p);
void ss_pending_take(struct ss_pending *p, const struct ss_batch *b);

/* Records that b stages name's change to st (value copied), over any
 * state staged before. Returns 0, or -1 with errno ENOMEM (nothing
 * recorded). */
int ss_pending_put(struct ss_pending *p, const struct ss_batch *b, const char *name, size_t nlen,
		   const struct ss_pending_state *st);

/* Takes back the newest put for name (a command that could not stage all
 * its changes undoes the ones it made): the state before it shows again. */
void ss_pending_pop(struct ss_pending *p, const char *name, size_t nlen);

/* b ended: written 1 (applied) or 0 (its write failed). */
void ss_pending_done(struct ss_pending *p, const struct ss_batch *b, int written);

#endif
