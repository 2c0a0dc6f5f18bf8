/*
 * test_record.c - the log record codec: exact round trips at every limit,
 * the documented byte format, and the rejection of every malformed field.
 *
 * Malformed lines are built with a correct CRC over their (bad) body, so a
 * rejection proves the field check works, not merely the checksum.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/crc32c.h"
#include "statestored/record.h"
#include "sstest.h"

/* A filled buffer of n bytes of c, malloc'd. */
static char *filled(size_t n, char c)
{
	char *p = malloc(n + 1);

	assert_non_null(p);
	memset(p, c, n);
	p[n] = '\0';
	return p;
}

/* body + " <crc of body>\n", malloc'd; *len its length. */
static char *with_crc(const char *body, size_t blen, size_t *len)
{
	char *line = malloc(blen + 11);

	assert_non_null(line);
	memcpy(line, body, blen);
	snprintf(line + blen, 11, " %08x\n", ss_crc32c(0, body, blen));
	*len = blen + 10;
	return line;
}

static void expect_bad_line(const char *line, size_t len)
{
	struct ss_record r;
	size_t used = 12345;

	if (ss_record_decode(line, len, &r, &used) != SS_DEC_BAD)
		fail_msg("accepted: %.*s", (int)(len > 200 ? 200 : len), line);
	assert_int_equal(used, len);
}

/* body with a correct CRC must still be rejected. */
static void expect_bad_body_n(const char *body, size_t blen)
{
	size_t len;
	char *line = with_crc(body, blen, &len);

	expect_bad_line(line, len);
	free(line);
}

static void expect_bad_body(const char *body)
{
	expect_bad_body_n(body, strlen(body));
}

static void expect_good_body(const char *body, struct ss_record *r)
{
	size_t len, used;
	char *line = with_crc(body, strlen(body), &len);

	if (ss_record_decode(line, len, r, &used) != SS_DEC_OK)
		fail_msg("rejected: %s", body);
	assert_int_equal(used, len);
	free(line);
}

static void round_trip_set(size_t nlen, size_t vlen, int64_t expire)
{
	char *name = filled(nlen, 'n'), *value = filled(vlen, 'v');
	char *buf = malloc(SS_RECORD_MAX + 64);
	struct ss_record in = {.type = SS_REC_SET,
			       .name = name,
			       .nlen = nlen,
			       .value = value,
			       .vlen = vlen,
			       .expire_ms = expire},
			 out;
	size_t len, used;

	assert_null(ss_record_check(&in));
	len = ss_record_encode(&in, buf);
	assert_true(len <= SS_RECORD_MAX);
	assert_int_equal(buf[len - 1], '\n');
	/* Followed by more bytes, as in a log: only the line is consumed. */
	memcpy(buf + len, "DEL_CHECKPOINT", 14);
	assert_int_equal(ss_record_decode(buf, len + 14, &out, &used), SS_DEC_OK);
	assert_int_equal(used, len);
	assert_int_equal(out.type, SS_REC_SET);
	assert_int_equal(out.nlen, nlen);
	assert_ptr_equal(out.name, buf + strlen("SET_CHECKPOINT "));
	assert_memory_equal(out.name, name, nlen);
	assert_int_equal(out.vlen, vlen);
	assert_ptr_equal(out.value, out.name + nlen + 1);
	assert_memory_equal(out.value, value, vlen);
	assert_int_equal(out.expire_ms, expire);
	/* Exactly the line, and every strict prefix of it is partial. */
	assert_int_equal(ss_record_decode(buf, len, &out, &used), SS_DEC_OK);
	assert_int_equal(ss_record_decode(buf, len - 1, &out, &used), SS_DEC_PARTIAL);
	assert_int_equal(ss_record_decode(buf, 1, &out, &used), SS_DEC_PARTIAL);
	free(buf);
	free(name);
	free(value);
}

static void test_set_round_trips_at_every_limit(void **state)
{
	const size_t nlens[] = {1, 2, SS_NAME_MAX - 1, SS_NAME_MAX};
	const size_t vlens[] = {1, 100, SS_VALUE_MAX - 1, SS_VALUE_MAX};
	const int64_t expires[] = {0, 1, 9, 10, 1700000000123, INT64_MAX - 1, INT64_MAX};

	(void)state;
	for (size_t i = 0; i < sizeof(nlens) / sizeof(nlens[0]); i++)
		for (size_t j = 0; j < sizeof(vlens) / sizeof(vlens[0]); j++)
			for (size_t k = 0; k < sizeof(expires) / sizeof(expires[0]); k++)
				round_trip_set(nlens[i], vlens[j], expires[k]);
}

static void test_del_and_group_round_trip(void **state)
{
	char *name = filled(SS_NAME_MAX, 'x');
	char buf[SS_RECORD_MAX];
	const uint32_t counts[] = {1, 2, 10, SS_GROUP_MAX};
	struct ss_record out, del = {.type = SS_REC_DEL, .name = name, .nlen = SS_NAME_MAX};
	size_t len, used;

	(void)state;
	for (size_t nlen = 1; nlen <= SS_NAME_MAX; nlen += SS_NAME_MAX - 1) {
		del.nlen = nlen;
		len = ss_record_encode(&del, buf);
		assert_int_equal(ss_record_decode(buf, len, &out, &used), SS_DEC_OK);
		assert_int_equal(used, len);
		assert_int_equal(out.type, SS_REC_DEL);
		assert_int_equal(out.nlen, nlen);
		assert_memory_equal(out.name, name, nlen);
	}
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		struct ss_record g = {.type = SS_REC_GROUP, .count = counts[i]};

		assert_null(ss_record_check(&g));
		len = ss_record_encode(&g, buf);
		assert_int_equal(ss_record_decode(buf, len, &out, &used), SS_DEC_OK);
		assert_int_equal(out.type, SS_REC_GROUP);
		assert_int_equal(out.count, counts[i]);
		assert_true(len <= SS_GROUP_LINE_MAX);
		if (counts[i] == SS_GROUP_MAX)
			assert_int_equal(len, SS_GROUP_LINE_MAX);
	}
	free(name);
}

/* The bytes on disk are the format's contract: these lines were computed
 * independently of this code (CRC-32C as in RFC 3720). */
static void test_encoding_matches_the_documented_format(void **state)
{
	char buf[SS_RECORD_MAX];
	struct ss_record set = {.type = SS_REC_SET,
				.name = "orders-etl",
				.nlen = 10,
				.value = "offset=42",
				.vlen = 9,
				.expire_ms = 0};
	struct ss_record set_ttl = {.type = SS_REC_SET,
				    .name = "p",
				    .nlen = 1,
				    .value = "v",
				    .vlen = 1,
				    .expire_ms = 1700000000123};
	struct ss_record del = {.type = SS_REC_DEL, .name = "orders-etl", .nlen = 10};
	struct ss_record group = {.type = SS_REC_GROUP, .count = 2};
	size_t len;

	(void)state;
	assert_int_equal(ss_crc32c(0, "123456789", 9), 0xe3069283);
	len = ss_record_encode(&set, buf);
	assert_int_equal(len, strlen("SET_CHECKPOINT orders-etl offset=42 0 f1019139\n"));
	assert_memory_equal(buf, "SET_CHECKPOINT orders-etl offset=42 0 f1019139\n", len);
	len = ss_record_encode(&set_ttl, buf);
	assert_memory_equal(buf, "SET_CHECKPOINT p v 1700000000123 5583409d\n", len);
	len = ss_record_encode(&del, buf);
	assert_memory_equal(buf, "DEL_CHECKPOINT orders-etl 4be84918\n", len);
	len = ss_record_encode(&group, buf);
	assert_int_equal(len, strlen("GROUP 2 6e992b75\n"));
	assert_memory_equal(buf, "GROUP 2 6e992b75\n", len);
}

static void test_rejects_a_wrong_or_noncanonical_crc(void **state)
{
	const char *good = "SET_CHECKPOINT orders-etl offset=42 0 f1019139\n";
	struct ss_record r;
	size_t used;
	char line[128];

	(void)state;
	assert_int_equal(ss_record_decode(good, strlen(good), &r, &used), SS_DEC_OK);
	expect_bad_line("SET_CHECKPOINT orders-etl offset=42 0 f1019138\n", 47);
	expect_bad_line("SET_CHECKPOINT orders-etl offset=42 0 F1019139\n", 47); /* uppercase */
	expect_bad_line("SET_CHECKPOINT orders-etl offset=42 0 1019139\n", 46);  /* 7 digits */
	expect_bad_line("SET_CHECKPOINT orders-etl offset=42 0 0f1019139\n", 48);
	expect_bad_line("SET_CHECKPOINT orders-etl offset=42 0  f1019139\n", 48);
	expect_bad_line("SET_CHECKPOINT orders-etl offset=42 0\tf1019139\n", 47);
	expect_bad_line("SET_CHECKPOINT orders-etl offset=42 0 f1019139 \n", 48);
	expect_bad_line("SET_CHECKPOINT orders-etl offset=42 0 f1019139\r\n", 48);
	expect_bad_line("SET_CHECKPOINT orders-etl offset=43 0 f1019139\n", 47); /* body changed */
	expect_bad_line("f1019139\n", 9);
	expect_bad_line(" f1019139\n", 10);
	expect_bad_line("\n", 1);
	/* Every single-bit flip of a good line is rejected (or partial, when
	 * it hits the newline). */
	for (size_t i = 0; i < strlen(good); i++) {
		for (int bit = 0; bit < 8; bit++) {
			strcpy(line, good);
			line[i] ^= (char)(1 << bit);
			assert_int_not_equal(ss_record_decode(line, strlen(good), &r, &used), SS_DEC_OK);
		}
	}
}

static void test_rejects_misplaced_whitespace(void **state)
{
	(void)state;
	expect_bad_body("SET_CHECKPOINT  a b 0");
	expect_bad_body("SET_CHECKPOINT a  b 0");
	expect_bad_body("SET_CHECKPOINT a b  0");
	expect_bad_body("SET_CHECKPOINT a b 0 ");
	expect_bad_body(" SET_CHECKPOINT a b 0");
	expect_bad_body("SET_CHECKPOINT\ta b 0");
	expect_bad_body("SET_CHECKPOINT a\tb 0");
	expect_bad_body("SET_CHECKPOINT a b\t0");
	expect_bad_body("SET_CHECKPOINT a\rb 0");
	expect_bad_body("DEL_CHECKPOINT  a");
	expect_bad_body("DEL_CHECKPOINT a ");
	expect_bad_body("DEL_CHECKPOINT\ta");
	expect_bad_body("GROUP  1");
	expect_bad_body("GROUP\t1");
}

static void test_rejects_missing_and_extra_fields(void **state)
{
	struct ss_record r;

	(void)state;
	expect_good_body("SET_CHECKPOINT a b 0", &r);
	expect_bad_body("SET_CHECKPOINT a b");
	expect_bad_body("SET_CHECKPOINT a");
	expect_bad_body("SET_CHECKPOINT");
	expect_bad_body("SET_CHECKPOINT ");
	expect_bad_body("SET_CHECKPOINT a b 0 c");
	expect_bad_body("SET_CHECKPOINT a b c 0");
	expect_good_body("DEL_CHECKPOINT a", &r);
	expect_bad_body("DEL_CHECKPOINT");
	expect_bad_body("DEL_CHECKPOINT ");
	expect_bad_body("DEL_CHECKPOINT a b");
	expect_good_body("GROUP 1", &r);
	expect_bad_body("GROUP");
	expect_bad_body("GROUP ");
	expect_bad_body("GROUP 1 2");
	expect_bad_body("");
}

static void test_rejects_noncanonical_and_overflowing_numbers(void **state)
{
	struct ss_record r;

	(void)state;
	expect_good_body("SET_CHECKPOINT a b 9223372036854775807", &r);
	assert_int_equal(r.expire_ms, INT64_MAX);
	expect_bad_body("SET_CHECKPOINT a b 9223372036854775808");
	expect_bad_body("SET_CHECKPOINT a b 18446744073709551615");
	expect_bad_body("SET_CHECKPOINT a b 18446744073709551616");
	expect_bad_body("SET_CHECKPOINT a b 99999999999999999999");
	expect_bad_body("SET_CHECKPOINT a b 123456789012345678901");
	expect_bad_body("SET_CHECKPOINT a b 01");
	expect_bad_body("SET_CHECKPOINT a b 00");
	expect_bad_body("SET_CHECKPOINT a b +1");
	expect_bad_body("SET_CHECKPOINT a b -1");
	expect_bad_body("SET_CHECKPOINT a b 1x");
	expect_bad_body("SET_CHECKPOINT a b 0x10");
	expect_bad_body("SET_CHECKPOINT a b 1.5");
	expect_good_body("GROUP 1000000", &r);
	assert_int_equal(r.count, SS_GROUP_MAX);
	expect_bad_body("GROUP 0");
	expect_bad_body("GROUP 1000001");
	expect_bad_body("GROUP 01");
	expect_bad_body("GROUP -1");
	expect_bad_body("GROUP 4294967297");
}

static void test_rejects_names_and_values_past_their_limits(void **state)
{
	char *body = malloc(SS_RECORD_MAX + 16);
	char *big = filled(SS_VALUE_MAX + 1, 'v');
	struct ss_record r;

	(void)state;
	snprintf(body, SS_RECORD_MAX, "SET_CHECKPOINT %.*s b 0", SS_NAME_MAX, big);
	expect_good_body(body, &r);
	snprintf(body, SS_RECORD_MAX, "SET_CHECKPOINT %.*s b 0", SS_NAME_MAX + 1, big);
	expect_bad_body(body);
	snprintf(body, SS_RECORD_MAX, "DEL_CHECKPOINT %.*s", SS_NAME_MAX + 1, big);
	expect_bad_body(body);
	snprintf(body, SS_RECORD_MAX, "SET_CHECKPOINT a %.*s 0", SS_VALUE_MAX, big);
	expect_good_body(body, &r);
	snprintf(body, SS_RECORD_MAX, "SET_CHECKPOINT a %.*s 0", SS_VALUE_MAX + 1, big);
	expect_bad_body(body);
	free(body);
	free(big);
}

static void test_rejects_bytes_outside_the_alphabet(void **state)
{
	const unsigned char bad[] = {0x00, 0x01, 0x09, 0x0d, 0x1f, 0x20, 0x7f, 0x80, 0xc3, 0xff};
	char body[64];

	(void)state;
	for (size_t i = 0; i < sizeof(bad); i++) {
		size_t n;

		if (bad[i] == 0x20)
			continue; /* a space is a field separator: covered above */
		n = (size_t)snprintf(body, sizeof(body), "SET_CHECKPOINT aXb v 0");
		body[16] = (char)bad[i];
		expect_bad_body_n(body, n);
		n = (size_t)snprintf(body, sizeof(body), "SET_CHECKPOINT a vXw 0");
		body[18] = (char)bad[i];
		expect_bad_body_n(body, n);
		n = (size_t)snprintf(body, sizeof(body), "DEL_CHECKPOINT aXb");
		body[16] = (char)bad[i];
		expect_bad_body_n(body, n);
		n = (size_t)snprintf(body, sizeof(body), "SET_CHECKPOINT a v 1X");
		body[20] = (char)bad[i];
		expect_bad_body_n(body, n);
	}
	/* A NUL anywhere in the line, the CRC included. */
	expect_bad_line("SET_CHECKPOINT orders-etl offset=42 0 f101\0" "139\n", 47);
	expect_bad_body_n("SET_CHECKPOINT a v 0\0", 21);
}

static void test_rejects_unknown_types(void **state)
{
	(void)state;
	expect_bad_body("PUT_CHECKPOINT a b 0");
	expect_bad_body("set_checkpoint a b 0");
	expect_bad_body("SET a b 0");
	expect_bad_body("SET_CHECKPOINTS a b 0");
	expect_bad_body("DEL a");
	expect_bad_body("group 1");
	expect_bad_body("GROUPS 1");
	expect_bad_body("statestored-log 1");
}

static void test_partial_and_overlong_lines(void **state)
{
	const char *good = "DEL_CHECKPOINT orders-etl 4be84918\n";
	char *huge = filled(SS_RECORD_MAX, 'a');
	struct ss_record r;
	size_t used = 99;

	(void)state;
	assert_int_equal(ss_record_decode("", 0, &r, &used), SS_DEC_PARTIAL);
	assert_int_equal(used, 0);
	for (size_t n = 1; n < strlen(good); n++)
		assert_int_equal(ss_record_decode(good, n, &r, &used), SS_DEC_PARTIAL);
	/* Garbage with no newline yet is partial too: more bytes may come. */
	assert_int_equal(ss_record_decode("\0\0\0\0", 4, &r, &used), SS_DEC_PARTIAL);
	/* No newline within the longest possible record: bad, nothing used. */
	used = 99;
	assert_int_equal(ss_record_decode(huge, SS_RECORD_MAX, &r, &used), SS_DEC_BAD);
	assert_int_equal(used, 0);
	assert_int_equal(ss_record_decode(huge, SS_RECORD_MAX - 1, &r, &used), SS_DEC_PARTIAL);
	free(huge);
}

static void test_the_header_check_tells_log_torn_and_other_versions(void **state)
{
	const char *h = SS_LOG_HEADER;
	const size_t hlen = strlen(SS_LOG_HEADER);
	long v = 0;

	(void)state;
	assert_string_equal(h, "statestored-log 1\n");
	assert_int_equal(ss_record_header_check(h, hlen, &v), (long)hlen);
	assert_int_equal(ss_record_header_check("statestored-log 1\nSET_CHECKPOINT", hlen + 14, &v),
			 (long)hlen);
	for (size_t n = 0; n < hlen; n++)
		assert_int_equal(ss_record_header_check(h, n, &v), 0);
	assert_int_equal(ss_record_header_check("statestored-log 2\n", hlen, &v), -2);
	assert_int_equal(v, 2);
	assert_int_equal(ss_record_header_check("statestored-log 12\n", hlen + 1, &v), -2);
	assert_int_equal(v, 12);
	assert_int_equal(ss_record_header_check("statestored-log 0\n", hlen, &v), -2);
	assert_int_equal(v, 0);
	assert_int_equal(ss_record_header_check("statestored-log 01\n", hlen + 1, &v), -1);
	assert_int_equal(ss_record_header_check("statestored-log 1 \n", hlen + 1, &v), -1);
	assert_int_equal(ss_record_header_check("statestored-log 1\r\n", hlen + 1, &v), -1);
	assert_int_equal(ss_record_header_check("statestored-log x\n", hlen, &v), -1);
	assert_int_equal(ss_record_header_check("statestored-log \n", hlen - 1, &v), -1);
	assert_int_equal(ss_record_header_check("STATESTORED-LOG 1\n", hlen, &v), -1);
	assert_int_equal(ss_record_header_check("SET_CHECKPOINT a b 0 00000000\n", 30, &v), -1);
	assert_int_equal(ss_record_header_check("\0\0\0\0", 4, &v), -1);
	assert_int_equal(ss_record_header_check("x", 1, &v), -1);
	assert_int_equal(
		ss_record_header_check("statestored-log 1234567890123456789\n", hlen + 18, &v), -1);
}

static void test_check_names_each_problem(void **state)
{
	char *big = filled(SS_VALUE_MAX + 1, 'v');
	struct ss_record r = {.type = SS_REC_SET, .name = "a", .nlen = 1, .value = "b", .vlen = 1};

	(void)state;
	assert_null(ss_record_check(&r));
	r.nlen = 0;
	assert_string_equal(ss_record_check(&r), "name is empty");
	r.name = big;
	r.nlen = SS_NAME_MAX + 1;
	assert_string_equal(ss_record_check(&r), "name too long");
	r.name = "a b";
	r.nlen = 3;
	assert_non_null(ss_record_check(&r));
	r.name = "a";
	r.nlen = 1;
	r.vlen = 0;
	assert_string_equal(ss_record_check(&r), "value is empty");
	r.value = big;
	r.vlen = SS_VALUE_MAX + 1;
	assert_string_equal(ss_record_check(&r), "value too long");
	r.value = "\x7f";
	r.vlen = 1;
	assert_non_null(ss_record_check(&r));
	r.value = "b";
	r.expire_ms = -1;
	assert_string_equal(ss_record_check(&r), "expire_ms is negative");
	r.type = SS_REC_GROUP;
	r.count = 0;
	assert_string_equal(ss_record_check(&r), "group count out of range");
	r.count = SS_GROUP_MAX + 1;
	assert_string_equal(ss_record_check(&r), "group count out of range");
	r.type = (enum ss_rec_type)7;
	assert_non_null(ss_record_check(&r));
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_round_trips_at_every_limit),
		cmocka_unit_test(test_del_and_group_round_trip),
		cmocka_unit_test(test_encoding_matches_the_documented_format),
		cmocka_unit_test(test_rejects_a_wrong_or_noncanonical_crc),
		cmocka_unit_test(test_rejects_misplaced_whitespace),
		cmocka_unit_test(test_rejects_missing_and_extra_fields),
		cmocka_unit_test(test_rejects_noncanonical_and_overflowing_numbers),
		cmocka_unit_test(test_rejects_names_and_values_past_their_limits),
		cmocka_unit_test(test_rejects_bytes_outside_the_alphabet),
		cmocka_unit_test(test_rejects_unknown_types),
		cmocka_unit_test(test_partial_and_overlong_lines),
		cmocka_unit_test(test_the_header_check_tells_log_torn_and_other_versions),
		cmocka_unit_test(test_check_names_each_problem),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
