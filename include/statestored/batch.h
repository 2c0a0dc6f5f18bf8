/*
 * batch.h - the mutations of one commit, encoded and ready for the log.
 *
 * The server gathers every mutation that arrives in one loop iteration into
 * one batch: the log records, back to back, in buf; and one ss_op per
 * mutation, pointing into buf, for applying them to the table afterwards.
 * A batch goes to the log in one write and is made durable by one fdatasync.
 */
#ifndef STATESTORED_BATCH_H
#define STATESTORED_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "record.h"

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
	char *buf;
	size_t len, cap;
	struct ss_op *ops;
	size_t nops, opcap;
};

void ss_batch_init(struct ss_batch *b);
void ss_batch_free(struct ss_batch *b);
/* Empties b, keeping its memory. */
void ss_batch_reset(struct ss_batch *b);

/* Appends one record (SET or DEL) as an op owned by owner. r must pass
 * ss_record_check. Returns 0, or -1 with errno ENOMEM (or EINVAL if r is
 * not a valid SET or DEL) and b unchanged. */
int ss_batch_add(struct ss_batch *b, const struct ss_record *r, void *owner);

/* Appends n records as one atomic group (a GROUP line and the n records):
 * replay applies all of them or none. 1 <= n <= SS_GROUP_MAX. Every op gets
 * owner. Returns 0, or -1 with errno ENOMEM (or EINVAL for a bad n or a
 * record that is not a valid SET or DEL) and b unchanged. */
int ss_batch_add_group(struct ss_batch *b, const struct ss_record *rs, size_t n, void *owner);

#endif
