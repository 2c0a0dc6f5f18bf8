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

struct ss_op {
	enum ss_rec_type type; /* SS_REC_SET or SS_REC_DEL */
	size_t name_off;       /* into the batch's buf */
	size_t nlen;
	size_t value_off; /* SET */
	size_t vlen;
	int64_t expire_ms;
	void *owner; /* the caller's: who waits for this op's reply */
	int result;  /* set by apply: SET 0; DEL 1 if it existed, else 0 */
};

struct ss_batch {
	char *buf; /* [0, SS_BATCH_PREFIX): room for the GROUP line; then records */
	size_t len, cap; /* len: 0 while empty, else SS_BATCH_PREFIX + records */
	struct ss_op *ops;
	size_t nops, opcap; /* nops <= SS_GROUP_MAX */
};

void ss_batch_init(struct ss_batch *b);
void ss_batch_free(struct ss_batch *b);
/* Empties b, keeping its memory. */
void ss_batch_reset(struct ss_batch *b);

/* Appends one record (SET or DEL) as an op owned by owner. r must pass
 * ss_record_check. Returns 0, or -1 with errno and b unchanged: ENOMEM;
 * EINVAL if r is not a valid SET or DEL; E2BIG if b already holds
 * SS_GROUP_MAX ops (the caller commits and starts a new batch). */
int ss_batch_add(struct ss_batch *b, const struct ss_record *r, void *owner);

/* Appends n >= 1 records, every op owned by owner, all or none: on -1
 * (errno ENOMEM, EINVAL for n == 0 or a record that is not a valid SET or
 * DEL, E2BIG if b would pass SS_GROUP_MAX ops) b is unchanged. For a command
 * that stages several mutations: the batch is one group, so they reach the
 * log - and replay - together with the rest of the batch or not at all. */
int ss_batch_add_group(struct ss_batch *b, const struct ss_record *rs, size_t n, void *owner);

/* Writes the GROUP line for b's nops records into the reserved room and
 * returns the start of the group in buf, with *len its length: exactly the
 * bytes to write to the log. An empty batch returns NULL and *len 0
 * (nothing to write). Sealing is idempotent: until b changes it returns the
 * same bytes again, so a caller that keeps the bytes it wrote (compaction's
 * tail, store.h) can call it after ss_store_write. Adding records after a
 * seal is allowed; seal again. */
const char *ss_batch_seal(struct ss_batch *b, size_t *len);

#endif
