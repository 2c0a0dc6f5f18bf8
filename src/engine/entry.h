/*
 * entry.h - one table entry as it is stored: a slab chunk (slab.h) holding
 * the name, the value, the expiry, the revision and the commit time in as
 * few bytes as they fit, and the block of its earlier versions.
 *
 * The table (table.c) decides where entries are and which one a name
 * means; this module decides what the bytes of one entry are. An entry is
 * named by its slab reference, a nonzero 32-bit number, which is all the
 * table's slot array holds. Entries never move in memory: a reference and
 * the pointers read through it stay valid until the entry is replaced or
 * dropped.
 *
 * The common entry (16-byte name, 10-digit value, revision below 16.7M,
 * commit within 24.8 days of the first) takes a 32-byte chunk; with a
 * history depth of 4, 40 bytes and a 56-byte history block. entry.c's top
 * comment gives the layout and the arithmetic.
 */
#ifndef STATESTORED_ENTRY_H
#define STATESTORED_ENTRY_H

#include <stddef.h>
#include <stdint.h>

#include "engine/slab.h"
#include "statestored/table.h"

/* The entries of one table: their chunks and what they share. */
struct ss_entries {
	struct ss_slab slab; /* entry chunks and history blocks */
	size_t big_bytes;    /* malloc'd big entry bytes */
	size_t hist_bytes;   /* malloc'd history block bytes */
	unsigned depth;      /* earlier versions kept per entry */
	int64_t base_ms;     /* commit times are stored relative to it */
	int has_base;        /* base_ms is set (after the first set) */
};

/* Makes es an empty store keeping `depth` earlier versions per entry.
 * Allocates nothing. */
void ss_entries_init(struct ss_entries *es, unsigned depth);

/* Frees the slab whole. Every entry's ss_entry_free_heap must have been
 * called first; every reference into es becomes invalid. */
void ss_entries_free(struct ss_entries *es);

/* Bytes held: the slab and the malloc'd parts of entries and histories. */
size_t ss_entries_memory(const struct ss_entries *es);

/* Fixes the time base at commit_ms if no set has fixed it yet. The table
 * calls it once a set has succeeded, so that a failed set changes
 * nothing: an entry encoded against a base that a failure then dropped
 * would not exist. */
void ss_entries_note_commit(struct ss_entries *es, int64_t commit_ms);

/* Returns the reference of a new entry holding e's name, value, expiry,
 * revision and commit time (e->buf is not read), with no history; or 0
 * with errno ENOMEM. */
uint32_t ss_entry_new(struct ss_entries *es, const struct ss_entry *e);

/* Makes *ref hold e instead. If the replaced version is live (unexpired:
 * the caller's judgement) and the depth is nonzero it joins the history,
 * the oldest beyond the depth dropped; otherwise the history goes.
 * Returns 0 with *ref the entry (rewritten in place, or a new reference
 * with the old one freed), or -1 with errno ENOMEM and nothing changed.
 * e's name and value may point into the replaced entry. */
int ss_entry_replace(struct ss_entries *es, uint32_t *ref, const struct ss_entry *e, int live);

/* Frees an entry with its history. */
void ss_entry_drop(struct ss_entries *es, uint32_t ref);

/* Frees what an entry holds outside the slab, for ss_entries_free. */
void ss_entry_free_heap(struct ss_entries *es, uint32_t ref);

/* The entry's name, without decoding anything else: what probing reads. */
void ss_entry_name(const struct ss_entries *es, uint32_t ref, const char **name, size_t *nlen);

/* The entry's expiry, 0 for none. */
int64_t ss_entry_expiry(const struct ss_entries *es, uint32_t ref);

/* The entry's revision, without decoding anything else. */
uint64_t ss_entry_rev(const struct ss_entries *es, uint32_t ref);

/* Decodes the whole entry into *e (a packed value into e->buf). */
void ss_entry_read(const struct ss_entries *es, uint32_t ref, struct ss_entry *e);

/* Fills out[0] with the entry's version and out[1..] with its history,
 * newest first, at most max (>= 1) in all. Returns how many it filled. */
size_t ss_entry_history(const struct ss_entries *es, uint32_t ref, struct ss_version *out,
			size_t max);

#endif
