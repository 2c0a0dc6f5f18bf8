/*
 * pending.h - what the open and the in-flight batch will change, for
 * deciding conditions before they are durable.
 *
 * The table holds only durable state. A conditional command (CAS, a
 * DEL or ROLLBACK with an expected revision, MCAS) must be decided against
 * that state plus everything staged before it - in the open batch and in
 * the batch whose fdatasync is still running - in staging order, or two
 * CAS from the same revision in one batch would both succeed. This module
 * indexes, by name, the staged ops of those batches (a record's op in the
 * batch holds the name's next revision, value and expiry). It also hands
 * out the revisions: one per mutating command, in staging order.
 *
 * The commit cycle tells it when a batch ends (a commit hook): applied,
 * its names are in the table and its ops leave the index; refused (its
 * write failed), its ops leave too and the revision counter returns to
 * where that batch started, since none of its revisions was ever
 * acknowledged. At most two batches are ever unapplied (commit.h), and a
 * write fails only for the newest, so that rewind never skips a revision
 * anybody saw.
 */
#ifndef STATESTORED_CMD_PENDING_H
#define STATESTORED_CMD_PENDING_H

#include <stddef.h>
#include <stdint.h>

#include "statestored/batch.h"

/* One indexed op: 16 bytes, with no copy of the name or value. */
struct ss_pending_node {
	uint32_t next, prev; /* node refs in the bucket's chain; 0: none */
	uint32_t op;         /* index into its batch's ops */
	uint32_t hash;
};

/* A name some connection WATCHes (multi.c), and the revision of the
 * last write staged to it since it was first watched. */
struct ss_watched {
	struct ss_watched *next;
	uint64_t touched; /* 0: none */
	size_t refs;      /* connections watching it */
	size_t nlen;
	char name[];
};

struct ss_pending {
	uint32_t *buckets; /* node refs, newest first in each chain */
	size_t nbuckets, count;
	uint64_t rev; /* the last revision handed out (staged or durable) */
	uint64_t failures; /* batches whose write failed: their revisions went back */
	struct ss_watched **watch; /* a chained hash of the watched names */
	size_t watch_buckets, nwatch;
	uint64_t seq; /* orders the batches below */
	/* Each unapplied batch: where its revisions start, and its nodes. */
	struct {
		const struct ss_batch *b;
		uint64_t base, seq;
		int took;
		struct ss_pending_node *nodes;
		size_t n, cap;
	} batches[2];
};

/* What a name will be once its staged changes are applied. value points
 * into the batch, as the log holds it: escaped if value_esc. */
struct ss_pending_state {
	uint64_t rev; /* 0: deleted */
	const char *value;
	size_t vlen;
	int value_esc;
	int64_t expire_ms;
};

/* Starts empty, handing out revisions after rev (the table's). */
void ss_pending_init(struct ss_pending *p, uint64_t rev);

/* WATCH's registry. Every staged record of a watched name sets its
 * touched revision, so a write between WATCH and EXEC is seen even when it
 * leaves the name as it found it (created, then deleted). watch returns 0
 * or -1 (ENOMEM); each watch is undone by one unwatch. */
int ss_pending_watch(struct ss_pending *p, const char *name, size_t nlen);
void ss_pending_unwatch(struct ss_pending *p, const char *name, size_t nlen);
uint64_t ss_pending_touched(const struct ss_pending *p, const char *name, size_t nlen);
void ss_pending_free(struct ss_pending *p);
/* The revisions go on after rev: the table's, once it changed under no
 * staged batch (a replica applied the primary's, a full sync or a cut
 * replaced the store). Only while nothing is staged. */
void ss_pending_set_rev(struct ss_pending *p, uint64_t rev);

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

/* Indexes b->ops[op], a SET or DEL record just staged, under its name
 * name[0..nlen) (raw bytes), over any state staged before. Returns 0, or
 * -1 with errno ENOMEM (nothing indexed). */
int ss_pending_put(struct ss_pending *p, const struct ss_batch *b, size_t op, const char *name,
		   size_t nlen);

/* Takes back the newest put (a command that could not stage all its
 * changes undoes the ones it made, newest first, before anything else
 * runs): the state before it shows again. name is that put's. */
void ss_pending_pop(struct ss_pending *p, const char *name, size_t nlen);

/* Calls fn with the name of every staged record (a name may come more
 * than once), raw bytes valid only during the call; stops at fn's -1 and
 * returns it, else 0. */
int ss_pending_each_name(const struct ss_pending *p,
			 int (*fn)(void *arg, const char *name, size_t nlen), void *arg);

/* A position in the staged state of batch b, and the way back to it: for
 * a transaction that must take back every command it staged. rewind
 * unlinks the states put since mark and hands their revisions out again;
 * the caller rewinds the batch itself (ss_batch_rewind) alike. */
struct ss_pending_mark {
	uint64_t rev, base;
	size_t n;
	int took;
};
void ss_pending_mark(struct ss_pending *p, const struct ss_batch *b, struct ss_pending_mark *m);
void ss_pending_rewind(struct ss_pending *p, const struct ss_batch *b,
		       const struct ss_pending_mark *m);

/* b ended: written 1 (applied) or 0 (its write failed). */
void ss_pending_done(struct ss_pending *p, const struct ss_batch *b, int written);

#endif
