/*
 * batch.c - one commit's mutations: encoded records plus the ops to apply.
 *
 * Records are encoded straight into buf, after room reserved for the GROUP
 * line, and buf is what goes to the log, so there is no second copy. Ops
 * refer to names and values by offset into buf, never by pointer, so buf may
 * move when it grows. The arrays grow by doubling; ss_batch_reset keeps
 * their memory for the next commit unless a batch used less than a quarter
 * of it (then a burst's buffers go back).
 *
 * Every add either succeeds completely or leaves the batch as it was: room
 * is made first, and only then is anything written. Records are checked
 * against the limits before they are encoded.
 */
#include "statestored/batch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define TAG_LEN (sizeof("SET_CHECKPOINT ") - 1) /* DEL_CHECKPOINT too */

/* A batch's arrays. Past BIG bytes they are mappings of their own, grown
 * with mremap and returned to the system when freed: left to malloc, a
 * burst's buffers (a bulk load grows each batch to ~450 KB) stay resident
 * after the batch shrinks, because glibc raises its mmap threshold to the
 * size of each large block freed and serves the next ones from the heap. */
#define BIG (128 * 1024)

static void *mem_grow(void *p, size_t old, size_t cap)
{
	if (cap < BIG)
		return realloc(p, cap);
	if (old >= BIG) {
		void *q = mremap(p, old, cap, MREMAP_MAYMOVE);
		return q == MAP_FAILED ? NULL : q;
	}
	void *q = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (q == MAP_FAILED)
		return NULL;
	if (old)
		memcpy(q, p, old);
	free(p);
	return q;
}

static void mem_free(void *p, size_t cap)
{
	if (cap >= BIG)
		(void)munmap(p, cap); /* only fails for a bad range: none here */
	else
		free(p);
}

void ss_batch_init(struct ss_batch *b)
{
	memset(b, 0, sizeof(*b));
}

void ss_batch_free(struct ss_batch *b)
{
	mem_free(b->buf, b->cap);
	mem_free(b->ops, b->opcap * sizeof(*b->ops));
	mem_free(b->aux, b->auxcap);
	ss_batch_init(b);
}

/* A batch that used less than a quarter of memory past this gives it back
 * when reset, so that the buffers a burst grew (a 1M-key load grows each of
 * the two batches to ~450 KB) do not stay for good; a steady load keeps
 * using what it grew. */
#define SHRINK_MIN (64 * 1024)

void ss_batch_reset(struct ss_batch *b)
{
	if (b->cap > SHRINK_MIN && b->len < b->cap / 4) {
		mem_free(b->buf, b->cap);
		b->buf = NULL;
		b->cap = 0;
	}
	if (b->opcap * sizeof(*b->ops) > SHRINK_MIN && b->nops < b->opcap / 4) {
		mem_free(b->ops, b->opcap * sizeof(*b->ops));
		b->ops = NULL;
		b->opcap = 0;
	}
	if (b->auxcap > SHRINK_MIN && b->auxlen < b->auxcap / 4) {
		mem_free(b->aux, b->auxcap);
		b->aux = NULL;
		b->auxcap = 0;
	}
	b->len = 0;
	b->nops = 0;
	b->nrecs = 0;
	b->auxlen = 0;
}

/* Makes room for bytes more record bytes in buf (and the reserved prefix,
 * if b is empty) and nops more ops. */
static int reserve(struct ss_batch *b, size_t bytes, size_t nops)
{
	size_t len = b->len ? b->len : SS_BATCH_PREFIX;

	if (bytes > SIZE_MAX / 2 - len || nops > SIZE_MAX / 2 / sizeof(struct ss_op) - b->nops) {
		errno = ENOMEM;
		return -1;
	}
	if (b->cap - len < bytes || b->cap < len) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap < len || cap - len < bytes)
			cap *= 2;
		p = mem_grow(b->buf, b->cap, cap);
		if (!p) {
			errno = ENOMEM;
			return -1;
		}
		b->buf = p;
		b->cap = cap;
	}
	if (b->opcap - b->nops < nops) {
		size_t cap = b->opcap ? b->opcap : 16;
		struct ss_op *p;

		while (cap - b->nops < nops)
			cap *= 2;
		p = mem_grow(b->ops, b->opcap * sizeof(*p), cap * sizeof(*p));
		if (!p) {
			errno = ENOMEM;
			return -1;
		}
		b->ops = p;
		b->opcap = cap;
	}
	return 0;
}

/* Whether records of r's type carry a name. */
static int named(const struct ss_record *r)
{
	return r->type == SS_REC_SET || r->type == SS_REC_DEL;
}

/* Encodes r (SET, DEL, REVISION or EPOCH) at the end of buf and adds its
 * op. Room for ss_record_size(r) bytes and one op must have been reserved. */
static void append_op(struct ss_batch *b, const struct ss_record *r, void *owner, int reply)
{
	struct ss_op *op = &b->ops[b->nops++];
	size_t nesc = named(r) ? ss_record_escaped_len(r->name, r->nlen) : 0;

	memset(op, 0, sizeof(*op));
	if (b->len == 0)
		b->len = SS_BATCH_PREFIX;
	op->type = (uint8_t)r->type;
	if (r->type == SS_REC_EPOCH)
		op->expire_ms = (int64_t)r->epoch; /* batch.h: an EPOCH op's epoch */
	if (named(r)) {
		op->name_off = (uint32_t)(b->len + TAG_LEN);
		op->nlen = (uint32_t)nesc;
		op->nraw = (uint32_t)r->nlen;
		op->esc = nesc != r->nlen ? SS_REC_NAME_ESC : 0;
	}
	if (r->type == SS_REC_SET) {
		op->value_off = op->name_off + (uint32_t)nesc + 1;
		op->vlen = (uint32_t)ss_record_escaped_len(r->value, r->vlen);
		op->vraw = (uint32_t)r->vlen;
		op->esc |= op->vlen != r->vlen ? SS_REC_VALUE_ESC : 0;
		op->expire_ms = r->expire_ms;
	}
	op->rev = r->rev;
	op->commit_ms = r->commit_ms;
	op->owner = owner;
	op->reply = (uint8_t)reply;
	b->nrecs++;
	b->len += ss_record_encode(r, b->buf + b->len);
}

/* A record that the log can hold. Checked here, not only trusted: one
 * record that replay cannot decode would make the log look torn (and be
 * cut) or corrupt (and refuse to start). */
static int is_op(const struct ss_record *r)
{
	return (named(r) || r->type == SS_REC_REV || r->type == SS_REC_EPOCH) &&
	       !ss_record_check(r);
}

int ss_batch_add(struct ss_batch *b, const struct ss_record *r, void *owner)
{
	if (!is_op(r)) {
		errno = EINVAL;
		return -1;
	}
	if (b->nops >= SS_GROUP_MAX) {
		errno = E2BIG;
		return -1;
	}
	if (reserve(b, ss_record_size(r), 1) < 0)
		return -1;
	append_op(b, r, owner, 1);
	return 0;
}

int ss_batch_add_reply(struct ss_batch *b, void *owner, int reply, uint64_t rev, const char *p,
		       size_t n)
{
	/* Offsets into aux are 32 bits: a batch's reply bytes stay below 4 GiB
	 * (a reply is at most SS_OUTBUF_MAX, and the session closes a batch
	 * whose aux passes its byte cap). */
	if (b->nops >= SS_GROUP_MAX || n > UINT32_MAX - b->auxlen) {
		errno = E2BIG;
		return -1;
	}
	if (reserve(b, 0, 1) < 0)
		return -1;
	if (b->auxcap - b->auxlen < n) {
		size_t cap = b->auxcap ? b->auxcap : 256;
		char *q;

		while (cap - b->auxlen < n)
			cap *= 2;
		q = mem_grow(b->aux, b->auxcap, cap);
		if (!q) {
			errno = ENOMEM;
			return -1;
		}
		b->aux = q;
		b->auxcap = cap;
	}
	struct ss_op *op = &b->ops[b->nops++];
	memset(op, 0, sizeof(*op));
	op->type = SS_OP_REPLY;
	op->owner = owner;
	op->reply = (uint8_t)reply;
	op->rev = rev;
	op->name_off = (uint32_t)b->auxlen;
	op->nlen = (uint32_t)n;
	if (n)
		memcpy(b->aux + b->auxlen, p, n);
	b->auxlen += n;
	return 0;
}

int ss_batch_add_group(struct ss_batch *b, const struct ss_record *rs, size_t n, void *owner)
{
	size_t len0 = b->len, nops0 = b->nops, nrecs0 = b->nrecs;

	if (n < 1) {
		errno = EINVAL;
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (!is_op(&rs[i])) {
			errno = EINVAL;
			return -1;
		}
	}
	if (n > SS_GROUP_MAX - b->nops) {
		errno = E2BIG;
		return -1;
	}
	if (reserve(b, 0, n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		/* Room is made one record at a time. */
		if (reserve(b, ss_record_size(&rs[i]), 0) < 0) {
			b->len = len0;
			b->nops = nops0;
			b->nrecs = nrecs0;
			return -1;
		}
		append_op(b, &rs[i], owner, i + 1 == n);
	}
	return 0;
}

void ss_batch_mark(const struct ss_batch *b, struct ss_batch_mark *m)
{
	m->len = b->len;
	m->nops = b->nops;
	m->nrecs = b->nrecs;
	m->auxlen = b->auxlen;
}

void ss_batch_rewind(struct ss_batch *b, const struct ss_batch_mark *m)
{
	b->len = m->len;
	b->nops = m->nops;
	b->nrecs = m->nrecs;
	b->auxlen = m->auxlen;
}

const char *ss_batch_seal(struct ss_batch *b, size_t *len)
{
	struct ss_record group = {.type = SS_REC_GROUP, .count = (uint32_t)b->nrecs};
	char line[SS_GROUP_LINE_MAX];
	size_t n;

	if (b->nrecs == 0) {
		*len = 0;
		return NULL;
	}
	n = ss_record_encode(&group, line);
	memcpy(b->buf + SS_BATCH_PREFIX - n, line, n);
	*len = b->len - (SS_BATCH_PREFIX - n);
	return b->buf + SS_BATCH_PREFIX - n;
}
