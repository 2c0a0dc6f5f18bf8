/*
 * test_record.c - the log record codec: exact round trips at every limit
 * (every byte value, escaped), the documented byte format of both versions,
 * and the rejection of every malformed field and non-canonical escape.
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

/* Escapes raw[0..n) as the format documents it, written here apart from
 * the codec so that a test compares two readings of the spec: a byte
 * 0x21..0x7e other than '\' stands for itself, '\' is "\\", every other
 * byte "\xhh", lowercase. Returns the length written to out (4n room). */
static size_t spec_escape(const unsigned char *raw, size_t n, char *out)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if (raw[i] == '\\') {
			out[k++] = '\\';
			out[k++] = '\\';
		} else if (raw[i] > 0x20 && raw[i] < 0x7f) {
			out[k++] = (char)raw[i];
		} else {
			k += (size_t)sprintf(out + k, "\\x%02x", raw[i]);
		}
	}
	return k;
}

/* n raw bytes of one kind: 'p' plain, '\\' backslashes (escaped to 2),
 * '0' NULs (escaped to 4), 'a' every byte 0..255 in turn, malloc'd. */
static char *pattern(size_t n, char kind)
{
	char *p = malloc(n + 1);

	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = kind == 'a' ? (char)(unsigned char)(i % 256) : kind == '0' ? '\0' :
		       kind == '\\' ? '\\' : (char)('a' + i % 26);
	p[n] = '\0';
	return p;
}

/* Checks a decoded field: escaped as the spec says, and unescaping it gives
 * raw[0..n) back. */
static void assert_field(const char *f, size_t flen, size_t fraw, unsigned esc, const char *raw,
			 size_t n)
{
	char *want = malloc(4 * n + 1), *back = malloc(n + 1);
	size_t wlen = spec_escape((const unsigned char *)raw, n, want);

	assert_non_null(want);
	assert_non_null(back);
	assert_int_equal(flen, wlen);
	assert_memory_equal(f, want, wlen);
	assert_int_equal(fraw, n);
	assert_int_equal(esc != 0, wlen != n);
	assert_int_equal(ss_record_unescape(f, flen, back), n);
	assert_memory_equal(back, raw, n);
	free(want);
	free(back);
}

static void round_trip_set(const char *name, size_t nlen, const char *value, size_t vlen,
			   int64_t expire, uint64_t rev, int64_t commit_ms)
{
	char *buf = malloc(SS_RECORD_MAX + 64);
	struct ss_record in = {.type = SS_REC_SET,
			       .name = name,
			       .nlen = nlen,
			       .value = value,
			       .vlen = vlen,
			       .expire_ms = expire,
			       .rev = rev,
			       .commit_ms = commit_ms},
			 out;
	size_t len, used;

	assert_non_null(buf);
	assert_null(ss_record_check(&in));
	len = ss_record_encode(&in, buf);
	assert_int_equal(len, ss_record_size(&in));
	assert_true(len <= SS_RECORD_MAX);
	assert_int_equal(buf[len - 1], '\n');
	/* Followed by more bytes, as in a log: only the line is consumed. */
	memcpy(buf + len, "DEL_CHECKPOINT", 14);
	assert_int_equal(ss_record_decode(buf, len + 14, &out, &used), SS_DEC_OK);
	assert_int_equal(used, len);
	assert_int_equal(out.type, SS_REC_SET);
	assert_ptr_equal(out.name, buf + strlen("SET_CHECKPOINT "));
	assert_field(out.name, out.nlen, out.nraw, out.esc & SS_REC_NAME_ESC, name, nlen);
	assert_ptr_equal(out.value, out.name + out.nlen + 1);
	assert_field(out.value, out.vlen, out.vraw, out.esc & SS_REC_VALUE_ESC, value, vlen);
	assert_int_equal(out.expire_ms, expire);
	assert_int_equal(out.rev, rev);
	assert_int_equal(out.commit_ms, commit_ms);
	/* Exactly the line, and every strict prefix of it is partial. */
	assert_int_equal(ss_record_decode(buf, len, &out, &used), SS_DEC_OK);
	assert_int_equal(ss_record_decode(buf, len - 1, &out, &used), SS_DEC_PARTIAL);
	assert_int_equal(ss_record_decode(buf, 1, &out, &used), SS_DEC_PARTIAL);
	/* A v2 line is not a v1 record. */
	assert_int_equal(ss_record_decode_version(1, buf, len, &out, &used), SS_DEC_BAD);
	free(buf);
}

static void test_set_round_trips_at_every_limit(void **state)
{
	const size_t nlens[] = {1, 2, SS_NAME_MAX - 1, SS_NAME_MAX};
	const size_t vlens[] = {1, 100, SS_VALUE_MAX - 1, SS_VALUE_MAX};
	const char kinds[] = {'p', '\\', '0', 'a'};
	const int64_t expires[] = {0, 1, 9, 10, 1700000000123, INT64_MAX - 1, INT64_MAX};
	const uint64_t revs[] = {1, 9, 10, UINT64_MAX / 2, UINT64_MAX - 1, UINT64_MAX};
	const int64_t commits[] = {0, 1, 10, 1700000000123, INT64_MAX};
	size_t t = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(nlens) / sizeof(nlens[0]); i++) {
		for (size_t j = 0; j < sizeof(vlens) / sizeof(vlens[0]); j++) {
			for (size_t k = 0; k < sizeof(kinds); k++) {
				char *name = pattern(nlens[i], kinds[k]);
				char *value = pattern(vlens[j], kinds[(k + j) % sizeof(kinds)]);

				for (size_t e = 0; e < sizeof(expires) / sizeof(expires[0]); e++, t++)
					round_trip_set(name, nlens[i], value, vlens[j], expires[e],
						       revs[t % 6], commits[t % 5]);
				free(name);
				free(value);
			}
		}
	}
}

/* Every byte 0..255, alone and between others, in a name and in a value:
 * NUL, space, newline, backslash, 0x7f and 0xff among them. */
static void test_every_byte_round_trips_escaped(void **state)
{
	(void)state;
	for (int c = 0; c < 256; c++) {
		char one[1] = {(char)c}, three[3] = {'a', (char)c, 'b'};

		round_trip_set(one, 1, three, 3, 0, (uint64_t)c + 1, c);
		round_trip_set(three, 3, one, 1, 5, 7, 0);
	}
	round_trip_set("a b\n\\\x7f\xff", 8, "\0\0", 2, 0, 1, 0);
}

static void test_del_rev_and_group_round_trip(void **state)
{
	const char kinds[] = {'p', '\\', '0', 'a'};
	char buf[SS_RECORD_MAX];
	const uint32_t counts[] = {1, 2, 10, SS_GROUP_MAX};
	const uint64_t revs[] = {1, 2, 10, 1234567890123, UINT64_MAX};
	struct ss_record out;
	size_t len, used;

	(void)state;
	for (size_t k = 0; k < sizeof(kinds); k++) {
		for (size_t nlen = 1; nlen <= SS_NAME_MAX; nlen += SS_NAME_MAX - 1) {
			char *name = pattern(nlen, kinds[k]);
			struct ss_record del = {.type = SS_REC_DEL, .name = name, .nlen = nlen,
						.rev = revs[k], .commit_ms = (int64_t)k * 1000};

			assert_null(ss_record_check(&del));
			len = ss_record_encode(&del, buf);
			assert_int_equal(len, ss_record_size(&del));
			assert_int_equal(ss_record_decode(buf, len, &out, &used), SS_DEC_OK);
			assert_int_equal(used, len);
			assert_int_equal(out.type, SS_REC_DEL);
			assert_field(out.name, out.nlen, out.nraw, out.esc, name, nlen);
			assert_int_equal(out.rev, revs[k]);
			assert_int_equal(out.commit_ms, (int64_t)k * 1000);
			assert_int_equal(ss_record_decode_version(1, buf, len, &out, &used),
					 SS_DEC_BAD);
			free(name);
		}
	}
	for (size_t i = 0; i < sizeof(revs) / sizeof(revs[0]); i++) {
		struct ss_record rev = {.type = SS_REC_REV, .rev = revs[i]};

		assert_null(ss_record_check(&rev));
		len = ss_record_encode(&rev, buf);
		assert_int_equal(len, ss_record_size(&rev));
		assert_int_equal(ss_record_decode(buf, len, &out, &used), SS_DEC_OK);
		assert_int_equal(out.type, SS_REC_REV);
		assert_int_equal(out.rev, revs[i]);
		assert_int_equal(ss_record_decode_version(1, buf, len, &out, &used), SS_DEC_BAD);
	}
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		struct ss_record g = {.type = SS_REC_GROUP, .count = counts[i]};

		assert_null(ss_record_check(&g));
		len = ss_record_encode(&g, buf);
		assert_int_equal(len, ss_record_size(&g));
		assert_int_equal(ss_record_decode(buf, len, &out, &used), SS_DEC_OK);
		assert_int_equal(out.type, SS_REC_GROUP);
		assert_int_equal(out.count, counts[i]);
		assert_true(len <= SS_GROUP_LINE_MAX);
		if (counts[i] == SS_GROUP_MAX)
			assert_int_equal(len, SS_GROUP_LINE_MAX);
		/* GROUP lines are the same in both versions. */
		assert_int_equal(ss_record_decode_version(1, buf, len, &out, &used), SS_DEC_OK);
		assert_int_equal(out.count, counts[i]);
	}
}

/* EPOCH <epoch> <rev>: round-trips at the edges, and is the one record
 * whose revision may be 0 (a store promoted before any write). */
static void test_epoch_round_trips_and_may_begin_at_revision_0(void **state)
{
	const uint64_t epochs[] = {1, 2, 1234567890123, UINT64_MAX};
	const uint64_t revs[] = {0, 1, 99, UINT64_MAX};
	char buf[SS_RECORD_MAX];
	struct ss_record out;
	size_t len, used;

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		for (size_t j = 0; j < 4; j++) {
			struct ss_record e = {.type = SS_REC_EPOCH, .epoch = epochs[i],
					      .rev = revs[j]};

			assert_null(ss_record_check(&e));
			len = ss_record_encode(&e, buf);
			assert_int_equal(len, ss_record_size(&e));
			assert_true(len < SS_RECORD_MAX);
			assert_int_equal(ss_record_decode(buf, len, &out, &used), SS_DEC_OK);
			assert_int_equal(used, len);
			assert_int_equal(out.type, SS_REC_EPOCH);
			assert_true(out.epoch == epochs[i]);
			assert_true(out.rev == revs[j]);
			assert_null(out.name);
			/* Version 1 never had it. */
			assert_int_equal(ss_record_decode_version(1, buf, len, &out, &used),
					 SS_DEC_BAD);
		}
	}
}

/* The documented line, and every way to get it almost right. */
static void test_epoch_lines_are_strict(void **state)
{
	struct ss_record r = {.type = SS_REC_EPOCH, .epoch = 3, .rev = 42};
	char buf[SS_RECORD_MAX];
	size_t len, wlen;
	char *want = with_crc("EPOCH 3 42", 10, &wlen);

	(void)state;
	len = ss_record_encode(&r, buf);
	assert_int_equal(len, wlen);
	assert_memory_equal(buf, want, len);
	free(want);
	expect_good_body("EPOCH 1 0", &r);
	assert_int_equal(r.type, SS_REC_EPOCH);
	assert_true(r.epoch == 1 && r.rev == 0);
	expect_good_body("EPOCH 18446744073709551615 18446744073709551615", &r);
	expect_bad_body("EPOCH 0 5");   /* epoch 0 is "none": never logged */
	expect_bad_body("EPOCH 1");
	expect_bad_body("EPOCH 1 ");
	expect_bad_body("EPOCH 1 5 6");
	expect_bad_body("EPOCH 01 5");
	expect_bad_body("EPOCH 1 05");
	expect_bad_body("EPOCH  1 5");
	expect_bad_body("EPOCH 1  5");
	expect_bad_body("EPOCH 18446744073709551616 5");
	expect_bad_body("EPOCH 1 18446744073709551616");
	expect_bad_body("EPOCHS 1 5");
	expect_bad_body("epoch 1 5");
	r = (struct ss_record){.type = SS_REC_EPOCH, .epoch = 0, .rev = 5};
	assert_string_equal(ss_record_check(&r), "epoch is 0");
}

/* The longest record: a name and a value of their most raw bytes, every
 * one escaped to 4, and the longest numbers, is exactly SS_RECORD_MAX. */
static void test_the_longest_record_is_record_max(void **state)
{
	char *name = pattern(SS_NAME_MAX, '0'), *value = pattern(SS_VALUE_MAX, '0');
	char *buf = malloc(SS_RECORD_MAX);
	struct ss_record r = {.type = SS_REC_SET,
			      .name = name,
			      .nlen = SS_NAME_MAX,
			      .value = value,
			      .vlen = SS_VALUE_MAX,
			      .expire_ms = 1000000000000000000,
			      .rev = 10000000000000000000u,
			      .commit_ms = 1000000000000000000},
			 out;
	size_t len, used;

	(void)state;
	assert_non_null(buf);
	/* 19 digits for the int64s, 20 for the revision: one short each of
	 * what the bound allows for, which is 20 for all three. */
	len = ss_record_encode(&r, buf);
	assert_int_equal(len, SS_RECORD_MAX - 2);
	assert_int_equal(ss_record_decode(buf, len, &out, &used), SS_DEC_OK);
	assert_int_equal(out.nraw, SS_NAME_MAX);
	assert_int_equal(out.vraw, SS_VALUE_MAX);
	free(buf);
	free(name);
	free(value);
}

/* The bytes on disk are the format's contract: these lines were computed
 * independently of this code (CRC-32C as in RFC 3720, by a script). */
static void test_encoding_matches_the_documented_format(void **state)
{
	char buf[SS_RECORD_MAX];
	struct ss_record set = {.type = SS_REC_SET,
				.name = "orders-etl",
				.nlen = 10,
				.value = "offset=42",
				.vlen = 9,
				.expire_ms = 0,
				.rev = 7,
				.commit_ms = 1700000000123};
	struct ss_record set_ttl = {.type = SS_REC_SET,
				    .name = "p",
				    .nlen = 1,
				    .value = "v",
				    .vlen = 1,
				    .expire_ms = 1700000000123,
				    .rev = UINT64_MAX,
				    .commit_ms = 0};
	struct ss_record set_esc = {.type = SS_REC_SET,
				    .name = "a b\\c",
				    .nlen = 5,
				    .value = "x\ny\0\xff",
				    .vlen = 5,
				    .rev = 9,
				    .commit_ms = 1};
	struct ss_record del = {.type = SS_REC_DEL, .name = "orders-etl", .nlen = 10, .rev = 8,
				.commit_ms = 1700000000456};
	struct ss_record rev = {.type = SS_REC_REV, .rev = 42};
	struct ss_record group = {.type = SS_REC_GROUP, .count = 2};
	const char *want;
	size_t len;

	(void)state;
	assert_int_equal(ss_crc32c(0, "123456789", 9), 0xe3069283);
	want = "SET_CHECKPOINT orders-etl offset=42 0 7 1700000000123 9c234399\n";
	len = ss_record_encode(&set, buf);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(buf, want, len);
	want = "SET_CHECKPOINT p v 1700000000123 18446744073709551615 0 609a4325\n";
	len = ss_record_encode(&set_ttl, buf);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(buf, want, len);
	want = "SET_CHECKPOINT a\\x20b\\\\c x\\x0ay\\x00\\xff 0 9 1 366a160c\n";
	len = ss_record_encode(&set_esc, buf);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(buf, want, len);
	want = "DEL_CHECKPOINT orders-etl 8 1700000000456 af6a8f71\n";
	len = ss_record_encode(&del, buf);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(buf, want, len);
	want = "REVISION 42 de20faa4\n";
	len = ss_record_encode(&rev, buf);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(buf, want, len);
	len = ss_record_encode(&group, buf);
	assert_int_equal(len, strlen("GROUP 2 6e992b75\n"));
	assert_memory_equal(buf, "GROUP 2 6e992b75\n", len);
	assert_int_equal(ss_record_escaped_len("a b\\c", 5), 9);
	assert_int_equal(ss_record_escaped_len("x\ny\0\xff", 5), 14);
}

/* Version 1 lines (as the previous build wrote them) decode with version 1
 * only: unescaped fields, no revision or commit time. */
static void test_v1_lines_decode_only_as_version_1(void **state)
{
	const char *set = "SET_CHECKPOINT orders-etl offset=42 0 f1019139\n";
	const char *del = "DEL_CHECKPOINT orders-etl 4be84918\n";
	struct ss_record r;
	size_t used, len;
	char *line;

	(void)state;
	assert_int_equal(ss_record_decode_version(1, set, strlen(set), &r, &used), SS_DEC_OK);
	assert_int_equal(used, strlen(set));
	assert_int_equal(r.type, SS_REC_SET);
	assert_int_equal(r.nlen, 10);
	assert_memory_equal(r.name, "orders-etl", 10);
	assert_int_equal(r.nraw, 10);
	assert_int_equal(r.vlen, 9);
	assert_int_equal(r.vraw, 9);
	assert_memory_equal(r.value, "offset=42", 9);
	assert_int_equal(r.expire_ms, 0);
	assert_int_equal(r.esc, 0);
	assert_int_equal(ss_record_decode(set, strlen(set), &r, &used), SS_DEC_BAD);
	assert_int_equal(ss_record_decode_version(1, del, strlen(del), &r, &used), SS_DEC_OK);
	assert_int_equal(r.type, SS_REC_DEL);
	assert_memory_equal(r.name, "orders-etl", 10);
	assert_int_equal(ss_record_decode(del, strlen(del), &r, &used), SS_DEC_BAD);
	/* In v1 a backslash is an ordinary byte: "\x41" is four of them. */
	line = with_crc("SET_CHECKPOINT a\\x41 b\\\\ 5", 26, &len);
	assert_int_equal(ss_record_decode_version(1, line, len, &r, &used), SS_DEC_OK);
	assert_int_equal(r.nlen, 5);
	assert_int_equal(r.nraw, 5);
	assert_memory_equal(r.name, "a\\x41", 5);
	assert_int_equal(r.vraw, 3);
	assert_int_equal(r.esc, 0);
	assert_int_equal(r.expire_ms, 5);
	free(line);
	/* No REVISION in v1. */
	line = with_crc("REVISION 42", 11, &len);
	assert_int_equal(ss_record_decode_version(1, line, len, &r, &used), SS_DEC_BAD);
	assert_int_equal(ss_record_decode_version(2, line, len, &r, &used), SS_DEC_OK);
	free(line);
	/* v1 keeps its limits and its alphabet. */
	line = with_crc("SET_CHECKPOINT a b c 0", 22, &len);
	assert_int_equal(ss_record_decode_version(1, line, len, &r, &used), SS_DEC_BAD);
	free(line);
	line = with_crc("SET_CHECKPOINT a b 01", 21, &len);
	assert_int_equal(ss_record_decode_version(1, line, len, &r, &used), SS_DEC_BAD);
	free(line);
}

static void test_rejects_a_wrong_or_noncanonical_crc(void **state)
{
	const char *good = "DEL_CHECKPOINT orders-etl 8 1700000000456 af6a8f71\n";
	const size_t n = strlen(good);
	struct ss_record r;
	size_t used;
	char line[128];

	(void)state;
	assert_int_equal(ss_record_decode(good, n, &r, &used), SS_DEC_OK);
	expect_bad_line("DEL_CHECKPOINT orders-etl 8 1700000000456 af6a8f70\n", n);
	expect_bad_line("DEL_CHECKPOINT orders-etl 8 1700000000456 AF6A8F71\n", n); /* uppercase */
	expect_bad_line("DEL_CHECKPOINT orders-etl 8 1700000000456 f6a8f71\n", n - 1); /* 7 digits */
	expect_bad_line("DEL_CHECKPOINT orders-etl 8 1700000000456 0af6a8f71\n", n + 1);
	expect_bad_line("DEL_CHECKPOINT orders-etl 8 1700000000456  af6a8f71\n", n + 1);
	expect_bad_line("DEL_CHECKPOINT orders-etl 8 1700000000456\taf6a8f71\n", n);
	expect_bad_line("DEL_CHECKPOINT orders-etl 8 1700000000456 af6a8f71 \n", n + 1);
	expect_bad_line("DEL_CHECKPOINT orders-etl 8 1700000000456 af6a8f71\r\n", n + 1);
	expect_bad_line("DEL_CHECKPOINT orders-etl 9 1700000000456 af6a8f71\n", n); /* body changed */
	expect_bad_line("f1019139\n", 9);
	expect_bad_line(" f1019139\n", 10);
	expect_bad_line("\n", 1);
	/* Every single-bit flip of a good line is rejected (or partial, when
	 * it hits the newline). */
	for (size_t i = 0; i < n; i++) {
		for (int bit = 0; bit < 8; bit++) {
			strcpy(line, good);
			line[i] ^= (char)(1 << bit);
			assert_int_not_equal(ss_record_decode(line, n, &r, &used), SS_DEC_OK);
		}
	}
}

static void test_rejects_misplaced_whitespace(void **state)
{
	struct ss_record r;

	(void)state;
	expect_good_body("SET_CHECKPOINT a b 0 1 0", &r);
	expect_bad_body("SET_CHECKPOINT  a b 0 1 0");
	expect_bad_body("SET_CHECKPOINT a  b 0 1 0");
	expect_bad_body("SET_CHECKPOINT a b  0 1 0");
	expect_bad_body("SET_CHECKPOINT a b 0  1 0");
	expect_bad_body("SET_CHECKPOINT a b 0 1  0");
	expect_bad_body("SET_CHECKPOINT a b 0 1 0 ");
	expect_bad_body(" SET_CHECKPOINT a b 0 1 0");
	expect_bad_body("SET_CHECKPOINT\ta b 0 1 0");
	expect_bad_body("SET_CHECKPOINT a\tb 0 1 0");
	expect_bad_body("SET_CHECKPOINT a b\t0 1 0");
	expect_bad_body("SET_CHECKPOINT a b 0 1\t0");
	expect_bad_body("SET_CHECKPOINT a\rb 0 1 0");
	expect_good_body("DEL_CHECKPOINT a 1 0", &r);
	expect_bad_body("DEL_CHECKPOINT  a 1 0");
	expect_bad_body("DEL_CHECKPOINT a 1 0 ");
	expect_bad_body("DEL_CHECKPOINT a  1 0");
	expect_bad_body("DEL_CHECKPOINT\ta 1 0");
	expect_good_body("REVISION 1", &r);
	expect_bad_body("REVISION  1");
	expect_bad_body("REVISION\t1");
	expect_bad_body("REVISION 1 ");
	expect_bad_body("GROUP  1");
	expect_bad_body("GROUP\t1");
}

static void test_rejects_missing_and_extra_fields(void **state)
{
	struct ss_record r;

	(void)state;
	expect_good_body("SET_CHECKPOINT a b 0 1 0", &r);
	expect_bad_body("SET_CHECKPOINT a b 0 1");
	expect_bad_body("SET_CHECKPOINT a b 0");
	expect_bad_body("SET_CHECKPOINT a b");
	expect_bad_body("SET_CHECKPOINT a");
	expect_bad_body("SET_CHECKPOINT");
	expect_bad_body("SET_CHECKPOINT ");
	expect_bad_body("SET_CHECKPOINT a b 0 1 0 c");
	expect_bad_body("SET_CHECKPOINT a b 0 1 0 0");
	expect_bad_body("SET_CHECKPOINT a b c 0 1 0");
	expect_good_body("DEL_CHECKPOINT a 1 0", &r);
	expect_bad_body("DEL_CHECKPOINT a 1");
	expect_bad_body("DEL_CHECKPOINT a");
	expect_bad_body("DEL_CHECKPOINT");
	expect_bad_body("DEL_CHECKPOINT ");
	expect_bad_body("DEL_CHECKPOINT a b 1 0");
	expect_bad_body("DEL_CHECKPOINT a 1 0 0");
	expect_good_body("REVISION 5", &r);
	expect_bad_body("REVISION");
	expect_bad_body("REVISION ");
	expect_bad_body("REVISION 5 0");
	expect_bad_body("REVISION a 5");
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
	expect_good_body("SET_CHECKPOINT a b 9223372036854775807 1 0", &r);
	assert_int_equal(r.expire_ms, INT64_MAX);
	expect_bad_body("SET_CHECKPOINT a b 9223372036854775808 1 0");
	expect_bad_body("SET_CHECKPOINT a b 18446744073709551615 1 0");
	expect_bad_body("SET_CHECKPOINT a b 18446744073709551616 1 0");
	expect_bad_body("SET_CHECKPOINT a b 99999999999999999999 1 0");
	expect_bad_body("SET_CHECKPOINT a b 123456789012345678901 1 0");
	expect_bad_body("SET_CHECKPOINT a b 01 1 0");
	expect_bad_body("SET_CHECKPOINT a b 00 1 0");
	expect_bad_body("SET_CHECKPOINT a b +1 1 0");
	expect_bad_body("SET_CHECKPOINT a b -1 1 0");
	expect_bad_body("SET_CHECKPOINT a b 1x 1 0");
	expect_bad_body("SET_CHECKPOINT a b 0x10 1 0");
	expect_bad_body("SET_CHECKPOINT a b 1.5 1 0");
	/* The revision: 1..2^64-1, canonical. */
	expect_good_body("SET_CHECKPOINT a b 0 18446744073709551615 0", &r);
	assert_int_equal(r.rev, UINT64_MAX);
	expect_bad_body("SET_CHECKPOINT a b 0 18446744073709551616 0");
	expect_bad_body("SET_CHECKPOINT a b 0 0 0");
	expect_bad_body("SET_CHECKPOINT a b 0 00 0");
	expect_bad_body("SET_CHECKPOINT a b 0 01 0");
	expect_bad_body("SET_CHECKPOINT a b 0 007 0");
	expect_bad_body("SET_CHECKPOINT a b 0 +1 0");
	expect_bad_body("SET_CHECKPOINT a b 0 -1 0");
	expect_bad_body("DEL_CHECKPOINT a 0 0");
	expect_bad_body("DEL_CHECKPOINT a 01 0");
	expect_bad_body("DEL_CHECKPOINT a 18446744073709551616 0");
	expect_good_body("REVISION 18446744073709551615", &r);
	assert_int_equal(r.rev, UINT64_MAX);
	expect_bad_body("REVISION 0");
	expect_bad_body("REVISION 01");
	expect_bad_body("REVISION 18446744073709551616");
	/* The commit time: 0..INT64_MAX, canonical. */
	expect_good_body("SET_CHECKPOINT a b 0 1 9223372036854775807", &r);
	assert_int_equal(r.commit_ms, INT64_MAX);
	expect_bad_body("SET_CHECKPOINT a b 0 1 9223372036854775808");
	expect_bad_body("SET_CHECKPOINT a b 0 1 01");
	expect_bad_body("SET_CHECKPOINT a b 0 1 00");
	expect_bad_body("SET_CHECKPOINT a b 0 1 -1");
	expect_good_body("DEL_CHECKPOINT a 1 9223372036854775807", &r);
	expect_bad_body("DEL_CHECKPOINT a 1 9223372036854775808");
	expect_bad_body("DEL_CHECKPOINT a 1 0123");
	expect_good_body("GROUP 1000000", &r);
	assert_int_equal(r.count, SS_GROUP_MAX);
	expect_bad_body("GROUP 0");
	expect_bad_body("GROUP 1000001");
	expect_bad_body("GROUP 01");
	expect_bad_body("GROUP -1");
	expect_bad_body("GROUP 4294967297");
}

/* Each byte string has exactly one encoding: any other escape is damage. */
static void test_rejects_noncanonical_escapes(void **state)
{
	static const char *const bad[] = {
		"\\x41",   /* 'A' stands for itself */
		"\\x7e",   /* '~' too */
		"\\x21",   /* '!' too */
		"\\x5c",   /* a backslash is "\\" */
		"\\x0A",   /* uppercase hex */
		"\\xFF",
		"\\xfF",
		"\\X0a",   /* uppercase x */
		"a\\",     /* a lone backslash at the end */
		"\\",
		"\\a",     /* an escape the format does not have */
		"\\n",
		"\\0",
		"\\x4",    /* truncated */
		"\\x",
		"a\\x0",
		"\\xg0",
		"\\x0g",
		"\\\\\\",  /* "\\" then a lone backslash */
	};
	static const char *const good[] = {"\\x20", "\\x00", "\\x0a", "\\x7f", "\\x80", "\\xff",
					   "\\\\", "\\\\\\\\", "a\\\\b", "\\x20\\x20"};
	char body[128];
	struct ss_record r;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(body, sizeof(body), "SET_CHECKPOINT %s v 0 1 0", bad[i]);
		expect_bad_body(body);
		snprintf(body, sizeof(body), "SET_CHECKPOINT n %s 0 1 0", bad[i]);
		expect_bad_body(body);
		snprintf(body, sizeof(body), "DEL_CHECKPOINT %s 1 0", bad[i]);
		expect_bad_body(body);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(body, sizeof(body), "SET_CHECKPOINT %s %s 0 1 0", good[i], good[i]);
		expect_good_body(body, &r);
		assert_int_equal(r.esc, SS_REC_NAME_ESC | SS_REC_VALUE_ESC);
		snprintf(body, sizeof(body), "DEL_CHECKPOINT %s 1 0", good[i]);
		expect_good_body(body, &r);
		assert_int_equal(r.esc, SS_REC_NAME_ESC);
	}
	expect_good_body("SET_CHECKPOINT plain value 0 1 0", &r);
	assert_int_equal(r.esc, 0);
}

/* Limits hold on the raw bytes: a field of SS_NAME_MAX or SS_VALUE_MAX raw
 * bytes decodes however long its escaping, one raw byte more does not,
 * whether it is escaped to 1, 2 or 4. */
static void test_raw_length_limits_hold_however_escaped(void **state)
{
	const char kinds[] = {'p', '\\', '0', 'a'};
	char *body = malloc(SS_RECORD_MAX + 64);
	struct ss_record r;

	(void)state;
	assert_non_null(body);
	for (size_t k = 0; k < sizeof(kinds); k++) {
		char *raw = pattern(SS_VALUE_MAX + 1, kinds[k]);
		size_t n;

		/* Names. */
		n = (size_t)sprintf(body, "SET_CHECKPOINT ");
		n += spec_escape((unsigned char *)raw, SS_NAME_MAX, body + n);
		n += (size_t)sprintf(body + n, " v 0 1 0");
		expect_good_body(body, &r);
		assert_int_equal(r.nraw, SS_NAME_MAX);
		n = (size_t)sprintf(body, "SET_CHECKPOINT ");
		n += spec_escape((unsigned char *)raw, SS_NAME_MAX + 1, body + n);
		n += (size_t)sprintf(body + n, " v 0 1 0");
		expect_bad_body_n(body, n);
		n = (size_t)sprintf(body, "DEL_CHECKPOINT ");
		n += spec_escape((unsigned char *)raw, SS_NAME_MAX, body + n);
		n += (size_t)sprintf(body + n, " 1 0");
		expect_good_body(body, &r);
		assert_int_equal(r.nraw, SS_NAME_MAX);
		n = (size_t)sprintf(body, "DEL_CHECKPOINT ");
		n += spec_escape((unsigned char *)raw, SS_NAME_MAX + 1, body + n);
		n += (size_t)sprintf(body + n, " 1 0");
		expect_bad_body_n(body, n);
		/* Values. */
		n = (size_t)sprintf(body, "SET_CHECKPOINT n ");
		n += spec_escape((unsigned char *)raw, SS_VALUE_MAX, body + n);
		n += (size_t)sprintf(body + n, " 0 1 0");
		expect_good_body(body, &r);
		assert_int_equal(r.vraw, SS_VALUE_MAX);
		n = (size_t)sprintf(body, "SET_CHECKPOINT n ");
		n += spec_escape((unsigned char *)raw, SS_VALUE_MAX + 1, body + n);
		n += (size_t)sprintf(body + n, " 0 1 0");
		expect_bad_body_n(body, n);
		free(raw);
	}
	free(body);
}

static void test_rejects_names_and_values_past_their_limits(void **state)
{
	char *body = malloc(SS_RECORD_MAX + 16);
	char *big = filled(SS_VALUE_MAX + 1, 'v');
	struct ss_record r;

	(void)state;
	snprintf(body, SS_RECORD_MAX, "SET_CHECKPOINT %.*s b 0 1 0", SS_NAME_MAX, big);
	expect_good_body(body, &r);
	snprintf(body, SS_RECORD_MAX, "SET_CHECKPOINT %.*s b 0 1 0", SS_NAME_MAX + 1, big);
	expect_bad_body(body);
	snprintf(body, SS_RECORD_MAX, "DEL_CHECKPOINT %.*s 1 0", SS_NAME_MAX + 1, big);
	expect_bad_body(body);
	snprintf(body, SS_RECORD_MAX, "SET_CHECKPOINT a %.*s 0 1 0", SS_VALUE_MAX, big);
	expect_good_body(body, &r);
	snprintf(body, SS_RECORD_MAX, "SET_CHECKPOINT a %.*s 0 1 0", SS_VALUE_MAX + 1, big);
	expect_bad_body(body);
	/* And in v1, unescaped. */
	snprintf(body, SS_RECORD_MAX, "SET_CHECKPOINT %.*s b 0", SS_NAME_MAX + 1, big);
	{
		size_t len, used;
		char *line = with_crc(body, strlen(body), &len);

		assert_int_equal(ss_record_decode_version(1, line, len, &r, &used), SS_DEC_BAD);
		free(line);
		snprintf(body, SS_RECORD_MAX, "SET_CHECKPOINT %.*s b 0", SS_NAME_MAX, big);
		line = with_crc(body, strlen(body), &len);
		assert_int_equal(ss_record_decode_version(1, line, len, &r, &used), SS_DEC_OK);
		free(line);
	}
	free(body);
	free(big);
}

/* Raw bytes outside 0x21..0x7e never appear in a line: they are escaped.
 * In any field, in either version, one is damage. */
static void test_rejects_bytes_outside_the_alphabet(void **state)
{
	const unsigned char bad[] = {0x00, 0x01, 0x09, 0x0d, 0x1f, 0x20, 0x7f, 0x80, 0xc3, 0xff};
	char body[64];

	(void)state;
	for (size_t i = 0; i < sizeof(bad); i++) {
		size_t n;

		if (bad[i] == 0x20)
			continue; /* a space is a field separator: covered above */
		n = (size_t)snprintf(body, sizeof(body), "SET_CHECKPOINT aXb v 0 1 0");
		body[16] = (char)bad[i];
		expect_bad_body_n(body, n);
		n = (size_t)snprintf(body, sizeof(body), "SET_CHECKPOINT a vXw 0 1 0");
		body[18] = (char)bad[i];
		expect_bad_body_n(body, n);
		n = (size_t)snprintf(body, sizeof(body), "DEL_CHECKPOINT aXb 1 0");
		body[16] = (char)bad[i];
		expect_bad_body_n(body, n);
		n = (size_t)snprintf(body, sizeof(body), "SET_CHECKPOINT a v 1X 1 0");
		body[20] = (char)bad[i];
		expect_bad_body_n(body, n);
		n = (size_t)snprintf(body, sizeof(body), "SET_CHECKPOINT a v 1 1X 0");
		body[22] = (char)bad[i];
		expect_bad_body_n(body, n);
		n = (size_t)snprintf(body, sizeof(body), "SET_CHECKPOINT a v 1 1 1X");
		body[24] = (char)bad[i];
		expect_bad_body_n(body, n);
		{
			size_t len, used;
			struct ss_record r;
			char *line;

			n = (size_t)snprintf(body, sizeof(body), "SET_CHECKPOINT aXb v 0");
			body[16] = (char)bad[i];
			line = with_crc(body, n, &len);
			assert_int_equal(ss_record_decode_version(1, line, len, &r, &used),
					 SS_DEC_BAD);
			free(line);
		}
	}
	/* A NUL anywhere in the line, the CRC included. */
	expect_bad_line("DEL_CHECKPOINT orders-etl 8 1700000000456 af6a\0" "f71\n", 51);
	expect_bad_body_n("SET_CHECKPOINT a v 0 1 0\0", 25);
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
	expect_bad_body("statestored-log 2");
	expect_bad_body("revision 1");
	expect_bad_body("REVISIONS 1");
}

static void test_partial_and_overlong_lines(void **state)
{
	const char *good = "DEL_CHECKPOINT orders-etl 8 1700000000456 af6a8f71\n";
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
	assert_int_equal(ss_record_decode_version(1, huge, SS_RECORD_MAX, &r, &used), SS_DEC_BAD);
	free(huge);
}

/* Both readable versions' headers are accepted, each telling its version;
 * any other version is told apart from a file that is no log at all. */
static void test_the_header_check_tells_log_torn_and_other_versions(void **state)
{
	const char *h = SS_LOG_HEADER, *h1 = SS_LOG_HEADER_V1;
	const size_t hlen = strlen(SS_LOG_HEADER);
	long v = 0;

	(void)state;
	assert_string_equal(h, "statestored-log 2\n");
	assert_string_equal(h1, "statestored-log 1\n");
	assert_int_equal(SS_LOG_VERSION, 2);
	assert_int_equal(ss_record_header_check(h, hlen, &v), (long)hlen);
	assert_int_equal(v, 2);
	v = 0;
	assert_int_equal(ss_record_header_check(h1, hlen, &v), (long)hlen);
	assert_int_equal(v, 1);
	assert_int_equal(ss_record_header_check("statestored-log 2\nSET_CHECKPOINT", hlen + 14, &v),
			 (long)hlen);
	assert_int_equal(v, 2);
	assert_int_equal(ss_record_header_check("statestored-log 1\nSET_CHECKPOINT", hlen + 14, &v),
			 (long)hlen);
	assert_int_equal(v, 1);
	assert_int_equal(ss_record_header_check(h, hlen, NULL), (long)hlen);
	for (size_t n = 0; n < hlen; n++) {
		assert_int_equal(ss_record_header_check(h, n, &v), 0);
		assert_int_equal(ss_record_header_check(h1, n, &v), 0);
	}
	assert_int_equal(ss_record_header_check("statestored-log 3\n", hlen, &v), -2);
	assert_int_equal(v, 3);
	assert_int_equal(ss_record_header_check("statestored-log 12\n", hlen + 1, &v), -2);
	assert_int_equal(v, 12);
	assert_int_equal(ss_record_header_check("statestored-log 21\n", hlen + 1, &v), -2);
	assert_int_equal(v, 21);
	assert_int_equal(ss_record_header_check("statestored-log 0\n", hlen, &v), -2);
	assert_int_equal(v, 0);
	assert_int_equal(ss_record_header_check("statestored-log 01\n", hlen + 1, &v), -1);
	assert_int_equal(ss_record_header_check("statestored-log 02\n", hlen + 1, &v), -1);
	assert_int_equal(ss_record_header_check("statestored-log 1 \n", hlen + 1, &v), -1);
	assert_int_equal(ss_record_header_check("statestored-log 2 \n", hlen + 1, &v), -1);
	assert_int_equal(ss_record_header_check("statestored-log 2\r\n", hlen + 1, &v), -1);
	assert_int_equal(ss_record_header_check("statestored-log x\n", hlen, &v), -1);
	assert_int_equal(ss_record_header_check("statestored-log \n", hlen - 1, &v), -1);
	assert_int_equal(ss_record_header_check("STATESTORED-LOG 2\n", hlen, &v), -1);
	assert_int_equal(ss_record_header_check("SET_CHECKPOINT a b 0 00000000\n", 30, &v), -1);
	assert_int_equal(ss_record_header_check("\0\0\0\0", 4, &v), -1);
	assert_int_equal(ss_record_header_check("x", 1, &v), -1);
	assert_int_equal(
		ss_record_header_check("statestored-log 1234567890123456789\n", hlen + 18, &v), -1);
}

static void test_check_names_each_problem(void **state)
{
	char *big = filled(SS_VALUE_MAX + 1, 'v');
	struct ss_record r = {.type = SS_REC_SET, .name = "a", .nlen = 1, .value = "b", .vlen = 1,
			      .rev = 1};

	(void)state;
	assert_null(ss_record_check(&r));
	r.nlen = 0;
	assert_string_equal(ss_record_check(&r), "name is empty");
	r.name = big;
	r.nlen = SS_NAME_MAX + 1;
	assert_string_equal(ss_record_check(&r), "name too long");
	/* Any bytes: the log escapes them. */
	r.name = "a b\n\\";
	r.nlen = 5;
	assert_null(ss_record_check(&r));
	r.name = "a";
	r.nlen = 1;
	r.vlen = 0;
	assert_string_equal(ss_record_check(&r), "value is empty");
	r.value = big;
	r.vlen = SS_VALUE_MAX + 1;
	assert_string_equal(ss_record_check(&r), "value too long");
	r.value = "\x7f\0";
	r.vlen = 2;
	assert_null(ss_record_check(&r));
	r.value = "b";
	r.vlen = 1;
	r.expire_ms = -1;
	assert_string_equal(ss_record_check(&r), "expire_ms is negative");
	r.expire_ms = 0;
	r.rev = 0;
	assert_string_equal(ss_record_check(&r), "revision is 0");
	r.rev = 1;
	r.commit_ms = -1;
	assert_string_equal(ss_record_check(&r), "commit_ms is negative");
	r.commit_ms = 0;
	assert_null(ss_record_check(&r));
	r.type = SS_REC_DEL;
	assert_null(ss_record_check(&r));
	r.rev = 0;
	assert_string_equal(ss_record_check(&r), "revision is 0");
	r.rev = 1;
	r.commit_ms = -1;
	assert_string_equal(ss_record_check(&r), "commit_ms is negative");
	r.type = SS_REC_REV;
	r.rev = 0;
	assert_string_equal(ss_record_check(&r), "revision is 0");
	r.rev = UINT64_MAX;
	assert_null(ss_record_check(&r));
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
		cmocka_unit_test(test_every_byte_round_trips_escaped),
		cmocka_unit_test(test_del_rev_and_group_round_trip),
		cmocka_unit_test(test_epoch_round_trips_and_may_begin_at_revision_0),
		cmocka_unit_test(test_epoch_lines_are_strict),
		cmocka_unit_test(test_the_longest_record_is_record_max),
		cmocka_unit_test(test_encoding_matches_the_documented_format),
		cmocka_unit_test(test_v1_lines_decode_only_as_version_1),
		cmocka_unit_test(test_rejects_a_wrong_or_noncanonical_crc),
		cmocka_unit_test(test_rejects_misplaced_whitespace),
		cmocka_unit_test(test_rejects_missing_and_extra_fields),
		cmocka_unit_test(test_rejects_noncanonical_and_overflowing_numbers),
		cmocka_unit_test(test_rejects_noncanonical_escapes),
		cmocka_unit_test(test_raw_length_limits_hold_however_escaped),
		cmocka_unit_test(test_rejects_names_and_values_past_their_limits),
		cmocka_unit_test(test_rejects_bytes_outside_the_alphabet),
		cmocka_unit_test(test_rejects_unknown_types),
		cmocka_unit_test(test_partial_and_overlong_lines),
		cmocka_unit_test(test_the_header_check_tells_log_torn_and_other_versions),
		cmocka_unit_test(test_check_names_each_problem),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
