/*
 * test_crc32c.c - CRC-32C against published vectors, in one piece and in
 * pieces, for both the dispatching entry point and the software path.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "engine/crc32c.h"

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);

/* RFC 3720 appendix B.4: an iSCSI SCSI Read (10) command PDU. */
static const unsigned char iscsi_read_pdu[48] = {
	0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
	0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

struct vector {
	const char *what;
	unsigned char buf[48];
	size_t len;
	uint32_t crc;
};

static void fill_vectors(struct vector v[6])
{
	memset(v, 0, 6 * sizeof v[0]);
	v[0].what = "32 zero bytes";
	v[0].len = 32;
	v[0].crc = 0x8A9136AA;
	v[1].what = "32 bytes of 0xff";
	memset(v[1].buf, 0xff, 32);
	v[1].len = 32;
	v[1].crc = 0x62A8AB43;
	v[2].what = "32 incrementing bytes";
	for (int i = 0; i < 32; i++)
		v[2].buf[i] = (unsigned char)i;
	v[2].len = 32;
	v[2].crc = 0x46DD794E;
	v[3].what = "32 decrementing bytes";
	for (int i = 0; i < 32; i++)
		v[3].buf[i] = (unsigned char)(31 - i);
	v[3].len = 32;
	v[3].crc = 0x113FDB5C;
	v[4].what = "iSCSI read PDU";
	memcpy(v[4].buf, iscsi_read_pdu, 48);
	v[4].len = 48;
	v[4].crc = 0xD9963A56;
	v[5].what = "\"123456789\"";
	memcpy(v[5].buf, "123456789", 9);
	v[5].len = 9;
	v[5].crc = 0xE3069283;
}

static void check_vectors(crc_fn fn, const char *name)
{
	struct vector v[6];
	unsigned char shifted[48 + 8];

	fill_vectors(v);
	for (int i = 0; i < 6; i++) {
		uint32_t got = fn(0, v[i].buf, v[i].len);
		if (got != v[i].crc)
			fail_msg("%s(%s) = 0x%08x, want 0x%08x", name, v[i].what, got, v[i].crc);
		/* The same bytes at every misalignment. */
		for (size_t off = 1; off < 8; off++) {
			memcpy(shifted + off, v[i].buf, v[i].len);
			assert_int_equal(fn(0, shifted + off, v[i].len), v[i].crc);
		}
	}
}

static void rfc3720_vectors_hold_for_ss_crc32c(void **state)
{
	(void)state;
	check_vectors(ss_crc32c, "ss_crc32c");
}

static void rfc3720_vectors_hold_for_software_path(void **state)
{
	(void)state;
	check_vectors(ss_crc32c_sw, "ss_crc32c_sw");
}

static void empty_input_leaves_crc_unchanged(void **state)
{
	(void)state;
	assert_int_equal(ss_crc32c(0, NULL, 0), 0);
	assert_int_equal(ss_crc32c_sw(0, NULL, 0), 0);
	assert_int_equal(ss_crc32c(0xE3069283, "", 0), 0xE3069283);
	assert_int_equal(ss_crc32c_sw(0xE3069283, "", 0), 0xE3069283);
}

/* xorshift64: deterministic test data, seeded per test. */
static uint64_t next_rand(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static void fill_random(unsigned char *buf, size_t len, uint64_t *seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)next_rand(seed);
}

static void check_pieces(crc_fn fn)
{
	unsigned char buf[300 + 8];
	uint64_t seed = 0x9E3779B97F4A7C15u;

	fill_random(buf, sizeof buf, &seed);
	for (size_t start = 0; start < 8; start++) {
		const unsigned char *p = buf + start;
		size_t len = 300;
		uint32_t whole = fn(0, p, len);
		assert_int_equal(whole, ss_crc32c_sw(0, p, len));
		for (size_t split = 0; split <= len; split++) {
			uint32_t c = fn(0, p, split);
			assert_int_equal(fn(c, p + split, len - split), whole);
		}
		/* Three uneven pieces. */
		for (size_t a = 0; a <= 40; a++) {
			for (size_t b = a; b <= 40; b++) {
				uint32_t c = fn(0, p, a);
				c = fn(c, p + a, b - a);
				assert_int_equal(fn(c, p + b, len - b), whole);
			}
		}
	}
}

static void piecewise_equals_one_shot_for_ss_crc32c(void **state)
{
	(void)state;
	check_pieces(ss_crc32c);
}

static void piecewise_equals_one_shot_for_software_path(void **state)
{
	(void)state;
	check_pieces(ss_crc32c_sw);
}

static void hardware_and_software_agree_on_random_buffers(void **state)
{
	static unsigned char buf[70000];
	uint64_t seed = 12345;

	(void)state;
	if (!ss_crc32c_hw_available())
		print_message("no SSE4.2: ss_crc32c is the software path here\n");
	fill_random(buf, sizeof buf, &seed);
	for (size_t len = 0; len <= 1100; len++) {
		size_t off = (size_t)(next_rand(&seed) % 64);
		assert_int_equal(ss_crc32c(0, buf + off, len), ss_crc32c_sw(0, buf + off, len));
	}
	for (int i = 0; i < 200; i++) {
		size_t len = (size_t)(next_rand(&seed) % 65600);
		size_t off = (size_t)(next_rand(&seed) % (sizeof buf - len));
		uint32_t prev = (uint32_t)next_rand(&seed);
		assert_int_equal(ss_crc32c(prev, buf + off, len), ss_crc32c_sw(prev, buf + off, len));
	}
}

static void a_flipped_bit_changes_the_crc(void **state)
{
	unsigned char buf[64];
	uint64_t seed = 7;

	(void)state;
	fill_random(buf, sizeof buf, &seed);
	uint32_t good = ss_crc32c(0, buf, sizeof buf);
	for (size_t bit = 0; bit < sizeof buf * 8; bit++) {
		buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
		assert_int_not_equal(ss_crc32c(0, buf, sizeof buf), good);
		assert_int_not_equal(ss_crc32c_sw(0, buf, sizeof buf), good);
		buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rfc3720_vectors_hold_for_ss_crc32c),
		cmocka_unit_test(rfc3720_vectors_hold_for_software_path),
		cmocka_unit_test(empty_input_leaves_crc_unchanged),
		cmocka_unit_test(piecewise_equals_one_shot_for_ss_crc32c),
		cmocka_unit_test(piecewise_equals_one_shot_for_software_path),
		cmocka_unit_test(hardware_and_software_agree_on_random_buffers),
		cmocka_unit_test(a_flipped_bit_changes_the_crc),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
