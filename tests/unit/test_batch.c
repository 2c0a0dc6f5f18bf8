/*
 * test_batch.c - a batch is the log bytes of its records plus ops that find
 * their names and values in those bytes, even after the buffer has moved;
 * sealed, it is one group: a GROUP line counting its records, then them.
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

#include "statestored/batch.h"
#include "sstest.h"

static struct ss_record set_rec(const char *name, const char *value, int64_t expire)
{
	struct ss_record r = {.type = SS_REC_SET,
			      .name = name,
			      .nlen = strlen(name),
			      .value = value,
			      .vlen = strlen(value),
			      .expire_ms = expire};
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
	assert_int_equal(r.count, b->nops);
	pos = (size_t)(p - b->buf) + used;
	assert_int_equal(pos, SS_BATCH_PREFIX);
	return pos;
}

static void test_buffer_holds_a_group_line_and_the_records_back_to_back(void **state)
{
	struct ss_batch b;
	struct ss_record s = set_rec("job-1", "offset=7", 1234);
	struct ss_record d = {.type = SS_REC_DEL, .name = "job-2", .nlen = 5};
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
	assert_ptr_equal(b.ops[0].owner, &owner1);
	assert_int_equal(b.ops[1].type, SS_REC_DEL);
	assert_memory_equal(b.buf + b.ops[1].name_off, "job-2", 5);
	assert_ptr_equal(b.ops[1].owner, &owner2);
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
				  {.type = SS_REC_DEL, .name = "c", .nlen = 1}};
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
	struct ss_record bad[] = {set_rec("a b", "1", 0), set_rec("a", "1\n", 0), set_rec("", "1", 0),
				  set_rec("a", "", 0), set_rec("a", "1", -5),
				  {.type = SS_REC_DEL, .name = "x\ty", .nlen = 3}};
	size_t len;

	(void)state;
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buffer_holds_a_group_line_and_the_records_back_to_back),
		cmocka_unit_test(test_an_empty_batch_seals_to_nothing),
		cmocka_unit_test(test_ops_stay_valid_as_the_buffer_grows),
		cmocka_unit_test(test_add_group_adds_several_records_to_the_one_group),
		cmocka_unit_test(test_invalid_adds_leave_the_batch_unchanged),
		cmocka_unit_test(test_a_batch_holds_at_most_a_group),
		cmocka_unit_test(test_a_reset_batch_keeps_its_memory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
