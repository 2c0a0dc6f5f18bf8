/*
 * batch.h - the mutations of one commit, encoded and ready for the log.
 *
 * The server gathers every mutation that arrives in one loop iteration into
 * one batch: the log records, back to back, in buf; and one ss_op per
 * mutation, pointing into buf, for applying them to the table afterwards.
 * A batch goes to the log as one group (record.h) in one write and is made
 * durable by one fdatasync; replay applies all of it or none.
 *
 * The GROUP line leads the batch's bytes, but its count is known only when
 * the batch is complete. So buf starts with SS_BATCH_PREFIX reserved bytes,
 * the records follow, and ss_batch_seal writes the GROUP line right-aligned
 * into the reserved room: the group is then one contiguous span of buf,
 * without moving the records (ops' offsets stay valid).
 */
#ifndef STATESTORED_BATCH_H
#define STATESTORED_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "record.h"

/* Bytes reserved at the start of buf for the GROUP line. */
#define SS_BATCH_PREFIX SS_GROUP_LINE_MAX

/* Op types beyond the record types: an op with no record, only a reply
 * that must wait for the batch to be durable (a CONFLICT decided against
 * state that is not durable yet, say). */
#define SS_OP_REPLY 0

struct ss_op {
	void *owner;       /* the caller's: who waits for this op's reply */
	uint64_t rev;      /* a record's revision; a reply op's: the one its
			    * reply names */
	int64_t commit_ms; /* a record's */
	int64_t expire_ms; /* SET; an EPOCH op's epoch, stored as (int64_t)epoch
			    * and read back as (uint64_t)expire_ms (lossless):
			    * an op has no field to spare for it */
	/* Into buf: the name (and a SET's value) as the record holds them,
	 * escaped where esc says; nraw and vraw are the raw lengths. A reply
	 * op's name_off and nlen are its bytes in aux instead. Offsets fit 32
	 * bits: a batch is 8 MiB plus at most one request or one flush (a
	 * million DEL records of at most ~2.1 KB, a 512-byte name escaped:
	 * about 2 GB), and ss_batch_add_reply refuses to take aux past 4 GiB. */
	uint32_t name_off, nlen, nraw;
	uint32_t value_off, vlen, vraw;
	uint8_t type;      /* SS_REC_SET, SS_REC_DEL, SS_REC_REV, SS_REC_EPOCH
			    * or SS_OP_REPLY */
	uint8_t esc;       /* SS_REC_NAME_ESC, SS_REC_VALUE_ESC */
	/* The caller's, for the reply: what to answer (0 for an op that owes
	 * none, as every op of a multi-commit but its last). */
	uint8_t reply;
	int8_t result;     /* set by apply: SET 0; DEL 1 if it existed, else 0 */
};

struct ss_batch {
	char *buf; /* [0, SS_BATCH_PREFIX): room for the GROUP line; then records */
	size_t len, cap; /* len: 0 while empty, else SS_BATCH_PREFIX + records */
	struct ss_op *ops;
	size_t nops, opcap; /* nops <= SS_GROUP_MAX */
	size_t nrecs;       /* ops that are records (the GROUP count) */
	char *aux;          /* reply bytes of SS_OP_REPLY ops */
	size_t auxlen, auxcap;
};

void ss_batch_init(struct ss_batch *b);
void ss_batch_free(struct ss_batch *b);
/* Empties b, keeping its memory unless b used less than a quarter of it
 * (then a burst's buffers are freed). */
void ss_batch_reset(struct ss_batch *b);

/* Appends one record (SET, DEL, REVISION or EPOCH) as an op owned by
 * owner, with reply 1. r must pass ss_record_check. Returns 0, or
 * -1 with errno and b unchanged: ENOMEM; EINVAL if r is not a valid SET,
 * DEL, REVISION or EPOCH; E2BIG if b already holds SS_GROUP_MAX ops (the caller
 * commits and starts a new batch). */
int ss_batch_add(struct ss_batch *b, const struct ss_record *r, void *owner);

/* Appends an op with no record: only a reply for owner (kind reply, rev,
 * and bytes p[0..n) kept in aux, which may be empty), answered when b is
 * durable, in order with the rest. Returns 0, or -1 (ENOMEM, E2BIG) with b
 * unchanged. */
int ss_batch_add_reply(struct ss_batch *b, void *owner, int reply, uint64_t rev, const char *p,
		       size_t n);

/* Appends n >= 1 records, every op owned by owner (reply 0 but the last's,
 * which is 1), all or none: on -1
 * (errno ENOMEM, EINVAL for n == 0 or a record that is not a valid SET or
 * DEL, E2BIG if b would pass SS_GROUP_MAX ops) b is unchanged. For a command
 * that stages several mutations: the batch is one group, so they reach the
 * log - and replay - together with the rest of the batch or not at all. */
int ss_batch_add_group(struct ss_batch *b, const struct ss_record *rs, size_t n, void *owner);

/* A position in a batch, to take back what was added after it. */
struct ss_batch_mark {
	size_t len, nops, nrecs, auxlen;
};

void ss_batch_mark(const struct ss_batch *b, struct ss_batch_mark *m);
/* Drops every op and record added since m was taken. */
void ss_batch_rewind(struct ss_batch *b, const struct ss_batch_mark *m);

/* Writes the GROUP line for b's nrecs records into the reserved room and
 * returns the start of the group in buf, with *len its length: exactly the
 * bytes to write to the log. An empty batch returns NULL and *len 0
 * (nothing to write; b may still hold reply ops). Sealing is idempotent: until b changes it returns the
 * same bytes again, so a caller that keeps the bytes it wrote (compaction's
 * tail, store.h) can call it after ss_store_write. Adding records after a
 * seal is allowed; seal again. */
const char *ss_batch_seal(struct ss_batch *b, size_t *len);

#endif
