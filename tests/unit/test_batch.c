/*
 * test_batch.c - a batch is the log bytes of its records plus ops that find
 * their names and values in those bytes, even after the buffer has moved;
 * sealed, it is one group: a GROUP line counting its records, then them.
 * Reply-only ops ride along in the batch but are no records; a mark and a
 * rewind take back exactly what was added since.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "statestored/batch.h"
#include "sstest.h"

static struct ss_record set_rec(const char *name, const char *value, int64_t expire)
{
	struct ss_record r = {.type = SS_REC_SET,
			      .name = name,
			      .nlen = strlen(name),
			      .value = value,
			      .vlen = strlen(value),
			      .expire_ms = expire,
			      .rev = 1,
			      .commit_ms = 1700000000000};
	return r;
}

/* Decodes the sealed group of b, checks its GROUP line counts b's ops, and
 * returns the offset in buf of its first record. */
static size_t check_sealed(struct ss_batch *b)
{
	struct ss_record r;
	size_t len, used, pos;
	const char *p = ss_batch_seal(b, &len);

	assert_non_null(p);
	assert_true(p >= b->buf && p < b->buf + SS_BATCH_PREFIX);
	assert_ptr_equal(p + len, b->buf + b->len);
	assert_int_equal(ss_record_decode(p, len, &r, &used), SS_DEC_OK);
	assert_int_equal(r.type, SS_REC_GROUP);
	assert_int_equal(r.count, b->nrecs);
	pos = (size_t)(p - b->buf) + used;
	assert_int_equal(pos, SS_BATCH_PREFIX);
	return pos;
}

static void test_buffer_holds_a_group_line_and_the_records_back_to_back(void **state)
{
	struct ss_batch b;
	struct ss_record s = set_rec("job-1", "offset=7", 1234);
	struct ss_record d = {.type = SS_REC_DEL, .name = "job-2", .nlen = 5, .rev = 2,
			      .commit_ms = 1700000000001};
	struct ss_record g = {.type = SS_REC_GROUP, .count = 2};
	char want[3 * SS_RECORD_MAX];
	size_t wlen = 0, len;
	const char *p;
	int owner1, owner2;

	(void)state;
	ss_batch_init(&b);
	assert_int_equal(ss_batch_add(&b, &s, &owner1), 0);
	assert_int_equal(ss_batch_add(&b, &d, &owner2), 0);
	wlen += ss_record_encode(&g, want + wlen);
	wlen += ss_record_encode(&s, want + wlen);
	wlen += ss_record_encode(&d, want + wlen);
	p = ss_batch_seal(&b, &len);
	assert_int_equal(len, wlen);
	assert_memory_equal(p, want, wlen);
	assert_int_equal(b.nops, 2);
	assert_int_equal(b.ops[0].type, SS_REC_SET);
	assert_memory_equal(b.buf + b.ops[0].name_off, "job-1", b.ops[0].nlen);
	assert_memory_equal(b.buf + b.ops[0].value_off, "offset=7", b.ops[0].vlen);
	assert_int_equal(b.ops[0].expire_ms, 1234);
	assert_int_equal(b.ops[0].rev, 1);
	assert_int_equal(b.ops[0].commit_ms, 1700000000000);
	assert_int_equal(b.ops[0].esc, 0);
	assert_int_equal(b.ops[0].nraw, 5);
	assert_int_equal(b.ops[0].vraw, 8);
	assert_ptr_equal(b.ops[0].owner, &owner1);
	assert_int_equal(b.ops[0].reply, 1);
	assert_int_equal(b.ops[1].type, SS_REC_DEL);
	assert_memory_equal(b.buf + b.ops[1].name_off, "job-2", 5);
	assert_int_equal(b.ops[1].rev, 2);
	assert_int_equal(b.ops[1].commit_ms, 1700000000001);
	assert_ptr_equal(b.ops[1].owner, &owner2);
	assert_int_equal(b.ops[1].reply, 1);
	assert_int_equal(b.nrecs, 2);
	/* Sealing again gives the same bytes; adding after a seal and sealing
	 * again counts the new record too. */
	assert_ptr_equal(ss_batch_seal(&b, &len), p);
	assert_int_equal(len, wlen);
	assert_int_equal(ss_batch_add(&b, &s, NULL), 0);
	check_sealed(&b);
	ss_batch_free(&b);
}

static void test_an_empty_batch_seals_to_nothing(void **state)
{
	struct ss_batch b;
	size_t len = 99;

	(void)state;
	ss_batch_init(&b);
	assert_null(ss_batch_seal(&b, &len));
	assert_int_equal(len, 0);
	ss_batch_free(&b);
}

static void test_ops_stay_valid_as_the_buffer_grows(void **state)
{
	struct ss_batch b;
	char *value = malloc(SS_VALUE_MAX + 1);
	char name[32];

	(void)state;
	ss_batch_init(&b);
	for (int i = 0; i < 200; i++) {
		struct ss_record r;

		snprintf(name, sizeof(name), "n%d", i);
		memset(value, 'a' + i % 26, SS_VALUE_MAX);
		value[SS_VALUE_MAX] = '\0';
		r = set_rec(name, value, 0);
		r.vlen = (size_t)(i * 331) % SS_VALUE_MAX + 1;
		assert_int_equal(ss_batch_add(&b, &r, NULL), 0);
	}
	assert_int_equal(b.nops, 200);
	for (int i = 0; i < 200; i++) {
		const struct ss_op *op = &b.ops[i];

		snprintf(name, sizeof(name), "n%d", i);
		assert_int_equal(op->nlen, strlen(name));
		assert_memory_equal(b.buf + op->name_off, name, op->nlen);
		assert_int_equal(op->vlen, (size_t)(i * 331) % SS_VALUE_MAX + 1);
		for (size_t k = 0; k < op->vlen; k++)
			assert_int_equal(b.buf[op->value_off + k], 'a' + i % 26);
	}
	/* The sealed group decodes back into exactly those records. */
	size_t pos = check_sealed(&b), n = 0, used;
	struct ss_record r;
	while (pos < b.len) {
		assert_int_equal(ss_record_decode(b.buf + pos, b.len - pos, &r, &used), SS_DEC_OK);
		assert_ptr_equal(r.name, b.buf + b.ops[n].name_off);
		pos += used;
		n++;
	}
	assert_int_equal(n, 200);
	free(value);
	ss_batch_free(&b);
}

static void test_add_group_adds_several_records_to_the_one_group(void **state)
{
	struct ss_batch b;
	struct ss_record rs[3] = {set_rec("a", "1", 0), set_rec("b", "2", 0),
				  {.type = SS_REC_DEL, .name = "c", .nlen = 1, .rev = 1}};
	struct ss_record r;
	size_t used, pos;
	int owner;

	(void)state;
	ss_batch_init(&b);
	assert_int_equal(ss_batch_add(&b, &rs[0], NULL), 0);
	assert_int_equal(ss_batch_add_group(&b, rs, 3, &owner), 0);
	assert_int_equal(b.nops, 4);
	pos = check_sealed(&b);
	assert_int_equal(ss_record_decode(b.buf + pos, b.len - pos, &r, &used), SS_DEC_OK);
	pos += used;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(ss_record_decode(b.buf + pos, b.len - pos, &r, &used), SS_DEC_OK);
		assert_int_equal(r.type, rs[i].type);
		assert_memory_equal(r.name, rs[i].name, rs[i].nlen);
		assert_int_equal(b.ops[1 + i].name_off, (size_t)(r.name - b.buf));
		assert_ptr_equal(b.ops[1 + i].owner, &owner);
		pos += used;
	}
	assert_int_equal(pos, b.len);
	ss_batch_free(&b);
}

static void test_invalid_adds_leave_the_batch_unchanged(void **state)
{
	struct ss_batch b;
	struct ss_record s = set_rec("a", "1", 0);
	struct ss_record g = {.type = SS_REC_GROUP, .count = 1};
	struct ss_record mixed[2] = {set_rec("a", "1", 0), {.type = SS_REC_GROUP, .count = 1}};
	struct ss_record bad[] = {set_rec("", "1", 0),
				  set_rec("a", "", 0),
				  set_rec("a", "1", -5),
				  set_rec("a", "1", 0),
				  set_rec("a", "1", 0),
				  set_rec("a", "1", 0),
				  {.type = SS_REC_DEL, .name = "x", .nlen = 1},
				  {.type = SS_REC_DEL, .name = "", .nlen = 0, .rev = 1},
				  {.type = SS_REC_DEL, .name = "x", .nlen = 1, .rev = 1, .commit_ms = -1},
				  {.type = SS_REC_REV},
				  {.type = SS_OP_REPLY, .rev = 1}};
	char *big = malloc(SS_VALUE_MAX + 1);
	size_t len;

	(void)state;
	assert_non_null(big);
	memset(big, 'x', SS_VALUE_MAX + 1);
	bad[3].rev = 0;                 /* a revision is 1 or more */
	bad[4].commit_ms = -1;
	bad[5].value = big;             /* raw bytes past the limit */
	bad[5].vlen = SS_VALUE_MAX + 1;
	ss_batch_init(&b);
	assert_int_equal(ss_batch_add(&b, &s, NULL), 0);
	len = b.len;
	errno = 0;
	assert_int_equal(ss_batch_add(&b, &g, NULL), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(ss_batch_add_group(&b, &s, 0, NULL), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(ss_batch_add_group(&b, mixed, 2, NULL), -1);
	assert_int_equal(errno, EINVAL);
	/* Records the log could not replay never reach it. */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		assert_int_equal(ss_batch_add(&b, &bad[i], NULL), -1);
		assert_int_equal(errno, EINVAL);
		assert_int_equal(ss_batch_add_group(&b, &bad[i], 1, NULL), -1);
	}
	assert_int_equal(b.len, len);
	assert_int_equal(b.nops, 1);
	assert_int_equal(b.nrecs, 1);
	/* Any bytes are fine: the log escapes them. */
	struct ss_record odd[] = {set_rec("a b", "1\n", 0), set_rec("x\ty", "\\", 0)};
	assert_int_equal(ss_batch_add_group(&b, odd, 2, NULL), 0);
	assert_int_equal(b.nrecs, 3);
	free(big);
	ss_batch_free(&b);
}

/* An EPOCH is a record with no name: its op carries the epoch in
 * expire_ms (batch.h) - all 64 bits of it - and its revision, which may be
 * 0; epoch 0 is refused. */
static void test_an_epoch_op_carries_its_epoch_and_no_name(void **state)
{
	struct ss_batch b;
	struct ss_record e1 = {.type = SS_REC_EPOCH, .epoch = 1, .rev = 0};
	struct ss_record e2 = {.type = SS_REC_EPOCH, .epoch = UINT64_MAX, .rev = 42};
	struct ss_record e0 = {.type = SS_REC_EPOCH, .epoch = 0, .rev = 42};
	struct ss_record s = set_rec("a", "1", 0), r;
	size_t pos, used;

	(void)state;
	ss_batch_init(&b);
	assert_int_equal(ss_batch_add(&b, &e1, NULL), 0);
	assert_int_equal(ss_batch_add(&b, &s, NULL), 0);
	assert_int_equal(ss_batch_add(&b, &e2, NULL), 0);
	errno = 0;
	assert_int_equal(ss_batch_add(&b, &e0, NULL), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(b.nops, 3);
	assert_int_equal(b.nrecs, 3);
	assert_int_equal(b.ops[0].type, SS_REC_EPOCH);
	assert_true((uint64_t)b.ops[0].expire_ms == 1);
	assert_true(b.ops[0].rev == 0);
	assert_int_equal(b.ops[0].nlen, 0);
	assert_int_equal(b.ops[0].nraw, 0);
	assert_true((uint64_t)b.ops[2].expire_ms == UINT64_MAX);
	assert_true(b.ops[2].rev == 42);
	pos = check_sealed(&b);
	assert_int_equal(ss_record_decode(b.buf + pos, b.len - pos, &r, &used), SS_DEC_OK);
	assert_int_equal(r.type, SS_REC_EPOCH);
	assert_true(r.epoch == 1 && r.rev == 0);
	pos += used;
	assert_int_equal(ss_record_decode(b.buf + pos, b.len - pos, &r, &used), SS_DEC_OK);
	assert_int_equal(r.type, SS_REC_SET);
	pos += used;
	assert_int_equal(ss_record_decode(b.buf + pos, b.len - pos, &r, &used), SS_DEC_OK);
	assert_int_equal(r.type, SS_REC_EPOCH);
	assert_true(r.epoch == UINT64_MAX && r.rev == 42);
	assert_int_equal(pos + used, b.len);
	ss_batch_free(&b);
}

/* A batch is one group, so it holds at most SS_GROUP_MAX ops; the longest
 * GROUP line fits the reserved prefix exactly. */
static void test_a_batch_holds_at_most_a_group(void **state)
{
	struct ss_batch b;
	struct ss_record s = set_rec("a", "1", 0);
	struct ss_record *many = malloc(SS_GROUP_MAX * sizeof(*many));
	size_t len, nops;
	const char *p;

	(void)state;
	for (size_t i = 0; i < SS_GROUP_MAX; i++)
		many[i] = s;
	ss_batch_init(&b);
	assert_int_equal(ss_batch_add(&b, &s, NULL), 0);
	errno = 0;
	assert_int_equal(ss_batch_add_group(&b, many, SS_GROUP_MAX, NULL), -1);
	assert_int_equal(errno, E2BIG);
	assert_int_equal(b.nops, 1);
	assert_int_equal(ss_batch_add_group(&b, many, SS_GROUP_MAX - 1, NULL), 0);
	assert_int_equal(b.nops, SS_GROUP_MAX);
	len = b.len;
	nops = b.nops;
	errno = 0;
	assert_int_equal(ss_batch_add(&b, &s, NULL), -1);
	assert_int_equal(errno, E2BIG);
	assert_int_equal(ss_batch_add_group(&b, &s, 1, NULL), -1);
	assert_int_equal(b.len, len);
	assert_int_equal(b.nops, nops);
	p = ss_batch_seal(&b, &len);
	assert_ptr_equal(p, b.buf); /* the longest GROUP line fills the prefix */
	assert_int_equal(len, b.len);
	check_sealed(&b);
	free(many);
	ss_batch_free(&b);
}

static void test_a_reset_batch_keeps_its_memory(void **state)
{
	struct ss_batch b;
	struct ss_record s = set_rec("a", "1", 0);
	size_t cap;

	(void)state;
	ss_batch_init(&b);
	assert_int_equal(ss_batch_add(&b, &s, NULL), 0);
	cap = b.cap;
	ss_batch_reset(&b);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.nops, 0);
	assert_int_equal(b.cap, cap);
	assert_non_null(b.buf);
	assert_int_equal(ss_batch_add(&b, &s, NULL), 0);
	assert_int_equal(b.nops, 1);
	check_sealed(&b);
	ss_batch_free(&b);
	assert_null(b.buf);
	ss_batch_free(&b); /* twice is harmless */
}

/* Names and values are escaped in buf: ops say so and keep the raw
 * lengths, and unescaping gives the raw bytes back. */
static void test_ops_point_at_escaped_fields_and_know_raw_lengths(void **state)
{
	struct ss_batch b;
	struct ss_record s = {.type = SS_REC_SET, .name = "a b", .nlen = 3, .value = "x\0\\",
			      .vlen = 3, .rev = 4, .commit_ms = 9};
	struct ss_record d = {.type = SS_REC_DEL, .name = "plain", .nlen = 5, .rev = 5};
	char raw[8];

	(void)state;
	ss_batch_init(&b);
	assert_int_equal(ss_batch_add(&b, &s, NULL), 0);
	assert_int_equal(ss_batch_add(&b, &d, NULL), 0);
	assert_int_equal(b.ops[0].esc, SS_REC_NAME_ESC | SS_REC_VALUE_ESC);
	assert_int_equal(b.ops[0].nlen, 6);
	assert_memory_equal(b.buf + b.ops[0].name_off, "a\\x20b", 6);
	assert_int_equal(b.ops[0].nraw, 3);
	assert_int_equal(b.ops[0].vlen, 7);
	assert_memory_equal(b.buf + b.ops[0].value_off, "x\\x00\\\\", 7);
	assert_int_equal(b.ops[0].vraw, 3);
	assert_int_equal(ss_record_unescape(b.buf + b.ops[0].name_off, b.ops[0].nlen, raw), 3);
	assert_memory_equal(raw, "a b", 3);
	assert_int_equal(ss_record_unescape(b.buf + b.ops[0].value_off, b.ops[0].vlen, raw), 3);
	assert_memory_equal(raw, "x\0\\", 3);
	assert_int_equal(b.ops[1].esc, 0);
	assert_int_equal(b.ops[1].nraw, 5);
	check_sealed(&b);
	ss_batch_free(&b);
}

/* A reply-only op (a CONFLICT, say) waits in the batch for its
 * durability but writes nothing: the GROUP counts records, not ops. */
static void test_reply_only_ops_are_not_records(void **state)
{
	struct ss_batch b;
	struct ss_record s1 = set_rec("a", "1", 0), s2 = set_rec("b", "2", 0);
	struct ss_record g = {.type = SS_REC_GROUP, .count = 2};
	char want[3 * SS_RECORD_MAX];
	size_t wlen = 0, len = 99;
	const char *p;
	int o1, o2, o3;

	(void)state;
	s2.rev = 2;
	ss_batch_init(&b);
	/* Only replies: nothing to write. */
	assert_int_equal(ss_batch_add_reply(&b, &o1, SS_REPLY_INT, 7, NULL, 0), 0);
	assert_int_equal(b.nops, 1);
	assert_int_equal(b.nrecs, 0);
	assert_null(ss_batch_seal(&b, &len));
	assert_int_equal(len, 0);
	assert_int_equal(ss_batch_add(&b, &s1, &o2), 0);
	assert_int_equal(ss_batch_add_reply(&b, &o3, SS_REPLY_OK_REV, 9, "CONFLICT 9", 10), 0);
	assert_int_equal(ss_batch_add(&b, &s2, &o2), 0);
	assert_int_equal(b.nops, 4);
	assert_int_equal(b.nrecs, 2);
	wlen += ss_record_encode(&g, want + wlen);
	wlen += ss_record_encode(&s1, want + wlen);
	wlen += ss_record_encode(&s2, want + wlen);
	p = ss_batch_seal(&b, &len);
	assert_int_equal(len, wlen);
	assert_memory_equal(p, want, wlen);
	check_sealed(&b);
	/* The reply ops keep their order among the rest, with their bytes. */
	assert_int_equal(b.ops[0].type, SS_OP_REPLY);
	assert_ptr_equal(b.ops[0].owner, &o1);
	assert_int_equal(b.ops[0].reply, SS_REPLY_INT);
	assert_int_equal(b.ops[0].rev, 7);
	assert_int_equal(b.ops[0].nlen, 0);
	assert_int_equal(b.ops[1].type, SS_REC_SET);
	assert_int_equal(b.ops[2].type, SS_OP_REPLY);
	assert_ptr_equal(b.ops[2].owner, &o3);
	assert_int_equal(b.ops[2].reply, SS_REPLY_OK_REV);
	assert_int_equal(b.ops[2].rev, 9);
	assert_int_equal(b.ops[2].nlen, 10);
	assert_memory_equal(b.aux + b.ops[2].name_off, "CONFLICT 9", 10);
	assert_int_equal(b.ops[3].type, SS_REC_SET);
	/* Reset empties the replies too. */
	ss_batch_reset(&b);
	assert_int_equal(b.nrecs, 0);
	assert_int_equal(b.auxlen, 0);
	ss_batch_free(&b);
}

/* A multi-commit is one ss_batch_add_group: every op is the command's,
 * all share its revision, and only the last owes the reply. */
static void test_only_the_last_op_of_a_group_owes_a_reply(void **state)
{
	struct ss_batch b;
	struct ss_record rs[4] = {set_rec("a", "1", 0), set_rec("b", "2", 0), set_rec("c", "3", 0),
				  set_rec("d", "4", 0)};
	int owner;

	(void)state;
	for (int i = 0; i < 4; i++)
		rs[i].rev = 12;
	ss_batch_init(&b);
	assert_int_equal(ss_batch_add(&b, &rs[0], NULL), 0);
	assert_int_equal(ss_batch_add_group(&b, rs, 4, &owner), 0);
	assert_int_equal(b.nops, 5);
	assert_int_equal(b.nrecs, 5);
	for (int i = 1; i <= 4; i++) {
		assert_ptr_equal(b.ops[i].owner, &owner);
		assert_int_equal(b.ops[i].rev, 12);
		assert_int_equal(b.ops[i].reply, i == 4 ? 1 : 0);
	}
	/* A group of one owes its reply as a plain add does. */
	assert_int_equal(ss_batch_add_group(&b, rs, 1, &owner), 0);
	assert_int_equal(b.ops[5].reply, 1);
	check_sealed(&b);
	ss_batch_free(&b);
}

/* What a batch holds, to compare before and after a rewind. */
struct shot {
	size_t len, nops, nrecs, auxlen;
	char *buf, *aux;
	struct ss_op *ops;
};

static void take_shot(const struct ss_batch *b, struct shot *s)
{
	s->len = b->len;
	s->nops = b->nops;
	s->nrecs = b->nrecs;
	s->auxlen = b->auxlen;
	s->buf = malloc(b->len + 1);
	s->aux = malloc(b->auxlen + 1);
	s->ops = malloc((b->nops + 1) * sizeof(*s->ops));
	assert_true(s->buf && s->aux && s->ops);
	if (b->len)
		memcpy(s->buf, b->buf + SS_BATCH_PREFIX, b->len - SS_BATCH_PREFIX);
	if (b->auxlen)
		memcpy(s->aux, b->aux, b->auxlen);
	if (b->nops)
		memcpy(s->ops, b->ops, b->nops * sizeof(*s->ops));
}

static void assert_shot(const struct ss_batch *b, const struct shot *s)
{
	assert_int_equal(b->len, s->len);
	assert_int_equal(b->nops, s->nops);
	assert_int_equal(b->nrecs, s->nrecs);
	assert_int_equal(b->auxlen, s->auxlen);
	if (b->len)
		assert_memory_equal(b->buf + SS_BATCH_PREFIX, s->buf, b->len - SS_BATCH_PREFIX);
	if (b->auxlen)
		assert_memory_equal(b->aux, s->aux, b->auxlen);
	if (b->nops)
		assert_memory_equal(b->ops, s->ops, b->nops * sizeof(*s->ops));
}

static void free_shot(struct shot *s)
{
	free(s->buf);
	free(s->aux);
	free(s->ops);
}

/* A command that stages several things and then fails takes them all
 * back: the batch is exactly as at the mark, sealed bytes included, at
 * any mark - on an empty batch too - and after growth moved its arrays. */
static void test_rewind_restores_exactly_the_batch_at_the_mark(void **state)
{
	struct ss_batch b;
	struct ss_batch_mark m;
	struct ss_record rs[3] = {set_rec("a", "1", 0), set_rec("b", "2", 0),
				  {.type = SS_REC_DEL, .name = "c", .nlen = 1, .rev = 3}};
	char *value = malloc(SS_VALUE_MAX);
	struct shot shot;
	size_t len0, len1;
	const char *p;

	(void)state;
	assert_non_null(value);
	memset(value, '\n', SS_VALUE_MAX);
	ss_batch_init(&b);
	for (int round = 0; round < 3; round++) {
		ss_batch_mark(&b, &m);
		take_shot(&b, &shot);
		p = ss_batch_seal(&b, &len0);
		/* Records, big escaped ones that grow buf, replies, a group. */
		for (int i = 0; i < 20; i++) {
			struct ss_record big = set_rec("big", "v", 0);

			big.value = value;
			big.vlen = SS_VALUE_MAX;
			assert_int_equal(ss_batch_add(&b, &big, NULL), 0);
			assert_int_equal(ss_batch_add_reply(&b, NULL, SS_REPLY_INT, 1, "xyz", 3), 0);
		}
		assert_int_equal(ss_batch_add_group(&b, rs, 3, NULL), 0);
		ss_batch_rewind(&b, &m);
		assert_shot(&b, &shot);
		p = ss_batch_seal(&b, &len1);
		assert_int_equal(len1, len0);
		if (b.nrecs)
			check_sealed(&b);
		else
			assert_null(p);
		free_shot(&shot);
		/* Keep something before the next round's mark. */
		assert_int_equal(ss_batch_add(&b, &rs[round], NULL), 0);
		assert_int_equal(ss_batch_add_reply(&b, NULL, SS_REPLY_INT, 0, "r", 1), 0);
	}
	assert_int_equal(b.nrecs, 3);
	assert_int_equal(b.nops, 6);
	assert_int_equal(b.auxlen, 3);
	check_sealed(&b);
	free(value);
	ss_batch_free(&b);
}

/* A batch full of ops takes no more, of any kind. */
static void test_a_full_batch_refuses_replies_too(void **state)
{
	struct ss_batch b;
	struct ss_record s = set_rec("a", "1", 0);

	(void)state;
	ss_batch_init(&b);
	for (size_t i = 0; i < SS_GROUP_MAX; i++)
		assert_int_equal(ss_batch_add_reply(&b, NULL, SS_REPLY_INT, 1, NULL, 0), 0);
	errno = 0;
	assert_int_equal(ss_batch_add_reply(&b, NULL, SS_REPLY_INT, 1, NULL, 0), -1);
	assert_int_equal(errno, E2BIG);
	errno = 0;
	assert_int_equal(ss_batch_add(&b, &s, NULL), -1);
	assert_int_equal(errno, E2BIG);
	assert_int_equal(b.nops, SS_GROUP_MAX);
	assert_int_equal(b.nrecs, 0);
	ss_batch_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buffer_holds_a_group_line_and_the_records_back_to_back),
		cmocka_unit_test(test_an_empty_batch_seals_to_nothing),
		cmocka_unit_test(test_ops_stay_valid_as_the_buffer_grows),
		cmocka_unit_test(test_add_group_adds_several_records_to_the_one_group),
		cmocka_unit_test(test_invalid_adds_leave_the_batch_unchanged),
		cmocka_unit_test(test_an_epoch_op_carries_its_epoch_and_no_name),
		cmocka_unit_test(test_a_batch_holds_at_most_a_group),
		cmocka_unit_test(test_a_reset_batch_keeps_its_memory),
		cmocka_unit_test(test_ops_point_at_escaped_fields_and_know_raw_lengths),
		cmocka_unit_test(test_reply_only_ops_are_not_records),
		cmocka_unit_test(test_only_the_last_op_of_a_group_owes_a_reply),
		cmocka_unit_test(test_rewind_restores_exactly_the_batch_at_the_mark),
		cmocka_unit_test(test_a_full_batch_refuses_replies_too),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
