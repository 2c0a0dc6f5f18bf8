/*
 * test_bench.c - the bench's pure parts: histogram bucketing and
 * percentiles, reply parsers (split input, malformed input), request-text
 * helpers (multi-commits in both protocols), the revision replies CAS runs
 * on, the sequential-writer model and the command line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tools/bench/bench.h"
#include "tools/bench/hist.h"

#define LINE(s) (s), sizeof(s) - 1

static struct ss_hist *new_hist(void)
{
	struct ss_hist *h = malloc(sizeof(*h));
	assert_non_null(h);
	ss_hist_init(h);
	return h;
}

static void hist_small_values_are_exact(void **state)
{
	(void)state;
	for (uint64_t v = 0; v < 2 * SS_HIST_SUB; v++) {
		size_t i = ss_hist_index(v);
		assert_int_equal(i, v);
		assert_int_equal(ss_hist_bucket_low(i), v);
		assert_int_equal(ss_hist_bucket_high(i), v);
	}
}

static void hist_buckets_tile_the_range_without_gaps(void **state)
{
	(void)state;
	/* Every bucket starts one past where the previous one ended, and each
	 * bucket's bounds map back to it. */
	for (size_t i = 1; i < SS_HIST_BUCKETS; i++) {
		assert_int_equal(ss_hist_bucket_low(i), ss_hist_bucket_high(i - 1) + 1);
		assert_int_equal(ss_hist_index(ss_hist_bucket_low(i)), i);
		assert_int_equal(ss_hist_index(ss_hist_bucket_high(i)), i);
	}
	assert_int_equal(ss_hist_index(UINT64_MAX), SS_HIST_BUCKETS - 1);
	assert_true(ss_hist_bucket_high(SS_HIST_BUCKETS - 1) == UINT64_MAX);
}

static void hist_relative_error_is_bounded(void **state)
{
	(void)state;
	/* A bucket is never wider than 1/SUB of its lowest value. */
	for (uint64_t v = 1; v < (1ull << 62); v = v * 3 + 7) {
		size_t i = ss_hist_index(v);
		uint64_t lo = ss_hist_bucket_low(i), hi = ss_hist_bucket_high(i);
		assert_true(lo <= v && v <= hi);
		assert_true((hi - lo) <= lo / SS_HIST_SUB);
	}
}

static void hist_percentiles_of_uniform_values(void **state)
{
	(void)state;
	struct ss_hist *h = new_hist();
	for (uint64_t v = 1; v <= 10000; v++)
		ss_hist_record(h, v * 1000); /* 1 us .. 10 ms in ns */
	assert_int_equal(h->count, 10000);
	assert_int_equal(h->min, 1000);
	assert_int_equal(h->max, 10000000);
	uint64_t p50 = ss_hist_percentile(h, 50.0);
	uint64_t p99 = ss_hist_percentile(h, 99.0);
	uint64_t p999 = ss_hist_percentile(h, 99.9);
	/* The exact answers are 5000, 9900, 9990 us; a bucket is < 0.8% wide
	 * and the report is its upper end, so never below the truth. */
	assert_true(p50 >= 5000000 && p50 <= 5000000 + 5000000 / SS_HIST_SUB);
	assert_true(p99 >= 9900000 && p99 <= 9900000 + 9900000 / SS_HIST_SUB);
	assert_true(p999 >= 9990000 && p999 <= 9990000 + 9990000 / SS_HIST_SUB);
	assert_int_equal(ss_hist_percentile(h, 100.0), 10000000);
	assert_int_equal(ss_hist_percentile(h, 0.0), 1000);
	assert_true(ss_hist_mean(h) > 5000499.0 && ss_hist_mean(h) < 5000501.0);
	free(h);
}

static void hist_percentile_never_exceeds_max(void **state)
{
	(void)state;
	struct ss_hist *h = new_hist();
	ss_hist_record(h, 1000001); /* in a bucket whose upper end is larger */
	assert_int_equal(ss_hist_percentile(h, 50.0), 1000001);
	assert_int_equal(ss_hist_percentile(h, 99.9), 1000001);
	free(h);
}

static void hist_percentile_rank_rounds_up(void **state)
{
	(void)state;
	struct ss_hist *h = new_hist();
	ss_hist_record(h, 10);
	ss_hist_record(h, 20);
	/* p50 of two values is the first; anything above 50 is the second. */
	assert_int_equal(ss_hist_percentile(h, 50.0), 10);
	assert_int_equal(ss_hist_percentile(h, 50.1), 20);
	/* p99.9 of 1000 values where only the last is slow is a fast one;
	 * of 999 + 2 slow ones it is slow. */
	ss_hist_init(h);
	for (int i = 0; i < 999; i++)
		ss_hist_record(h, 100);
	ss_hist_record(h, 90000);
	assert_int_equal(ss_hist_percentile(h, 99.9), 100);
	ss_hist_record(h, 90000);
	assert_int_equal(ss_hist_percentile(h, 99.9), 90000);
	free(h);
}

static void hist_empty_and_merge(void **state)
{
	(void)state;
	struct ss_hist *a = new_hist(), *b = new_hist();
	assert_int_equal(ss_hist_percentile(a, 99.0), 0);
	assert_true(ss_hist_mean(a) == 0.0);
	ss_hist_record(a, 5);
	ss_hist_record(b, 500000);
	ss_hist_record(b, 7);
	ss_hist_merge(a, b);
	assert_int_equal(a->count, 3);
	assert_int_equal(a->min, 5);
	assert_int_equal(a->max, 500000);
	assert_int_equal(ss_hist_percentile(a, 60.0), 7);
	free(a);
	free(b);
}

static void digits_and_keys(void **state)
{
	(void)state;
	char buf[32];
	memset(buf, 'x', sizeof(buf));
	ss_bench_digits(buf, 10, 42);
	assert_memory_equal(buf, "0000000042x", 11);
	ss_bench_digits(buf, 3, 123456);
	assert_memory_equal(buf, "456", 3);
	ss_bench_digits(buf, 4, 0);
	assert_memory_equal(buf, "0000", 4);
	memset(buf, 'x', sizeof(buf));
	ss_bench_key(buf, 1234567);
	assert_memory_equal(buf, "pipeline01234567x", SS_BENCH_KEY_LEN + 1);
	ss_bench_key(buf, SS_BENCH_KEYS_MAX - 1);
	assert_memory_equal(buf, "pipeline99999999", SS_BENCH_KEY_LEN);
}

static void u64_digits_are_unpadded(void **state)
{
	(void)state;
	char buf[32];
	assert_int_equal(ss_bench_u64(buf, 0), 1);
	assert_memory_equal(buf, "0", 1);
	assert_int_equal(ss_bench_u64(buf, 1234567), 7);
	assert_memory_equal(buf, "1234567", 7);
	assert_int_equal(ss_bench_u64(buf, UINT64_MAX), 20);
	assert_memory_equal(buf, "18446744073709551615", 20);
}

static void mset_text_request_names_distinct_keys_with_wraparound(void **state)
{
	(void)state;
	char buf[512];
	/* Keys start at 8 of 10 and wrap: 8, 9, 0. */
	char *end = ss_bench_format_mset(buf, 0, 8, 3, 10, 4, 42);
	static const char want[] = "MSET_CHECKPOINT pipeline00000008 0042 pipeline00000009 0042 "
				   "pipeline00000000 0042\n";
	assert_int_equal(end - buf, sizeof(want) - 1);
	assert_memory_equal(buf, want, sizeof(want) - 1);
	assert_true((size_t)(end - buf) <= ss_bench_mset_len(3, 4));
}

static void mset_redis_request_is_one_resp_array(void **state)
{
	(void)state;
	char buf[512];
	char *end = ss_bench_format_mset(buf, 1, 5, 2, 100, 3, 7);
	static const char want[] = "*5\r\n$4\r\nMSET\r\n"
				   "$16\r\npipeline00000005\r\n$3\r\n007\r\n"
				   "$16\r\npipeline00000006\r\n$3\r\n007\r\n";
	assert_int_equal(end - buf, sizeof(want) - 1);
	assert_memory_equal(buf, want, sizeof(want) - 1);
	assert_true((size_t)(end - buf) <= ss_bench_mset_len(2, 3));
}

static void mset_length_bound_holds_at_the_limit(void **state)
{
	(void)state;
	size_t len = ss_bench_mset_len(SS_BENCH_MSET_MAX, 20);
	char *buf = malloc(len);
	assert_non_null(buf);
	for (int redis = 0; redis <= 1; redis++) {
		char *end = ss_bench_format_mset(buf, redis, 0, SS_BENCH_MSET_MAX,
						 SS_BENCH_MSET_MAX, 20, UINT64_MAX);
		assert_true((size_t)(end - buf) <= len);
	}
	free(buf);
}

static void cas_and_getrev_replies_carry_the_revision(void **state)
{
	(void)state;
	uint64_t rev = 99;
	assert_int_equal(ss_bench_cas_reply(LINE("OK 8"), &rev), 1);
	assert_int_equal(rev, 8);
	assert_int_equal(ss_bench_cas_reply(LINE("CONFLICT 12"), &rev), 0);
	assert_int_equal(rev, 12);
	assert_int_equal(ss_bench_cas_reply(LINE("CONFLICT 0"), &rev), 0);
	assert_int_equal(rev, 0);
	assert_int_equal(ss_bench_cas_reply(LINE("OK 18446744073709551615"), &rev), 1);
	assert_true(rev == UINT64_MAX);
	/* Anything else is no revision: an error, a bare OK, trailing bytes. */
	assert_int_equal(ss_bench_cas_reply(LINE("OK"), &rev), -1);
	assert_int_equal(ss_bench_cas_reply(LINE("OK "), &rev), -1);
	assert_int_equal(ss_bench_cas_reply(LINE("OK 8 x"), &rev), -1);
	assert_int_equal(ss_bench_cas_reply(LINE("OK 18446744073709551616"), &rev), -1);
	assert_int_equal(ss_bench_cas_reply(LINE("CONFLICT"), &rev), -1);
	assert_int_equal(ss_bench_cas_reply(LINE("ERR invalid revision"), &rev), -1);

	assert_int_equal(ss_bench_getrev_reply(LINE("NULL"), &rev), 0);
	assert_int_equal(rev, 0);
	assert_int_equal(ss_bench_getrev_reply(LINE("41 0000000007"), &rev), 0);
	assert_int_equal(rev, 41);
	/* The value may hold spaces; only the first token is the revision. */
	assert_int_equal(ss_bench_getrev_reply(LINE("5 a b"), &rev), 0);
	assert_int_equal(rev, 5);
	assert_int_equal(ss_bench_getrev_reply(LINE("0000000007"), &rev), -1);
	assert_int_equal(ss_bench_getrev_reply(LINE("x 7"), &rev), -1);
	assert_int_equal(ss_bench_getrev_reply(LINE("ERR unknown command"), &rev), -1);
}

static void sequential_writer_model(void **state)
{
	(void)state;
	/* keys = 10, writes 0..24: key 3 got writes 3, 13, 23; key 7 got 7, 17. */
	assert_int_equal(ss_bench_seq_expected(3, 25, 10), 23);
	assert_int_equal(ss_bench_seq_expected(7, 25, 10), 17);
	assert_int_equal(ss_bench_seq_expected(4, 25, 10), 24);
	assert_int_equal(ss_bench_seq_expected(5, 25, 10), 15);
	assert_int_equal(ss_bench_seq_expected(0, 1, 10), 0);
	assert_int_equal(ss_bench_seq_expected(1, 1, 10), -1); /* never written */
	assert_int_equal(ss_bench_seq_expected(0, 0, 10), -1);
	assert_int_equal(ss_bench_seq_expected(10, 25, 10), -1); /* out of key space */
	/* A load of N keys is the sequential run of N writes: value = key. */
	assert_int_equal(ss_bench_seq_expected(999, 1000, 1000), 999);
}

static void line_replies(void **state)
{
	(void)state;
	enum ss_bench_reply k;
	const char *v;
	size_t n;
	assert_int_equal(ss_bench_parse_line(LINE("OK\n"), 100, &k, &v, &n), 3);
	assert_int_equal(k, SS_BENCH_OK);
	assert_int_equal(ss_bench_parse_line(LINE("OK\r\nNULL\n"), 100, &k, &v, &n), 4);
	assert_int_equal(k, SS_BENCH_OK);
	assert_int_equal(n, 2);
	assert_int_equal(ss_bench_parse_line(LINE("NULL\n"), 100, &k, &v, &n), 5);
	assert_int_equal(k, SS_BENCH_NULL);
	assert_int_equal(ss_bench_parse_line(LINE("ERR invalid ttl\n"), 100, &k, &v, &n), 16);
	assert_int_equal(k, SS_BENCH_ERR);
	assert_int_equal(ss_bench_parse_line(LINE("0000000042\nOK\n"), 100, &k, &v, &n), 11);
	assert_int_equal(k, SS_BENCH_VALUE);
	assert_int_equal(n, 10);
	assert_memory_equal(v, "0000000042", 10);
	/* Values that merely start like a keyword are values. */
	assert_int_equal(ss_bench_parse_line(LINE("OKAY\n"), 100, &k, &v, &n), 5);
	assert_int_equal(k, SS_BENCH_VALUE);
	assert_int_equal(ss_bench_parse_line(LINE("ERRATA\n"), 100, &k, &v, &n), 7);
	assert_int_equal(k, SS_BENCH_VALUE);
	assert_int_equal(ss_bench_parse_line(LINE("NULLS\n"), 100, &k, &v, &n), 6);
	assert_int_equal(k, SS_BENCH_VALUE);
	/* Incomplete: wait for more, unless the line can no longer fit. */
	assert_int_equal(ss_bench_parse_line(LINE("00000"), 100, &k, &v, &n), 0);
	assert_int_equal(ss_bench_parse_line(LINE(""), 100, &k, &v, &n), 0);
	assert_int_equal(ss_bench_parse_line(LINE("00000"), 5, &k, &v, &n), -1);
	assert_int_equal(ss_bench_parse_line(LINE("0000\n"), 5, &k, &v, &n), 5);
}

static void line_replies_split_anywhere(void **state)
{
	(void)state;
	static const char stream[] = "OK\nNULL\nERR x\n12345\n";
	static const enum ss_bench_reply want[] = {SS_BENCH_OK, SS_BENCH_NULL, SS_BENCH_ERR,
						   SS_BENCH_VALUE};
	/* Feeding any prefix yields whole replies only, never a wrong one. */
	for (size_t cut = 0; cut <= sizeof(stream) - 1; cut++) {
		size_t off = 0, got = 0;
		for (;;) {
			enum ss_bench_reply k;
			const char *v;
			size_t n;
			long used = ss_bench_parse_line(stream + off, cut - off, 1000, &k, &v, &n);
			assert_true(used >= 0);
			if (used == 0)
				break;
			assert_int_equal(k, want[got]);
			got++;
			off += (size_t)used;
		}
		assert_true(got <= 4);
		if (cut == sizeof(stream) - 1)
			assert_int_equal(got, 4);
	}
}

static void resp_replies(void **state)
{
	(void)state;
	enum ss_bench_reply k;
	const char *v;
	size_t n;
	assert_int_equal(ss_bench_parse_resp(LINE("+OK\r\n"), 100, &k, &v, &n), 5);
	assert_int_equal(k, SS_BENCH_OK);
	assert_int_equal(ss_bench_parse_resp(LINE("+PONG\r\n"), 100, &k, &v, &n), 7);
	assert_int_equal(k, SS_BENCH_VALUE);
	assert_int_equal(n, 4);
	assert_int_equal(ss_bench_parse_resp(LINE("-ERR wrong type\r\n"), 100, &k, &v, &n), 17);
	assert_int_equal(k, SS_BENCH_ERR);
	assert_int_equal(ss_bench_parse_resp(LINE("-LOADING busy\r\n"), 100, &k, &v, &n), 15);
	assert_int_equal(k, SS_BENCH_ERR);
	assert_int_equal(ss_bench_parse_resp(LINE("$-1\r\n"), 100, &k, &v, &n), 5);
	assert_int_equal(k, SS_BENCH_NULL);
	assert_int_equal(ss_bench_parse_resp(LINE("$10\r\n0000000042\r\n+OK\r\n"), 100, &k, &v, &n),
			 17);
	assert_int_equal(k, SS_BENCH_VALUE);
	assert_int_equal(n, 10);
	assert_memory_equal(v, "0000000042", 10);
	/* A bulk may contain CR LF; only its length counts. */
	assert_int_equal(ss_bench_parse_resp(LINE("$4\r\na\r\nb\r\n"), 100, &k, &v, &n), 10);
	assert_int_equal(n, 4);
	assert_int_equal(ss_bench_parse_resp(LINE("$0\r\n\r\n"), 100, &k, &v, &n), 6);
	assert_int_equal(n, 0);
	assert_int_equal(ss_bench_parse_resp(LINE(":12\r\n"), 100, &k, &v, &n), 5);
	assert_int_equal(k, SS_BENCH_VALUE);
	assert_memory_equal(v, "12", 2);
}

static void resp_incomplete_and_malformed(void **state)
{
	(void)state;
	enum ss_bench_reply k;
	const char *v;
	size_t n;
	static const char bulk[] = "$10\r\n0000000042\r\n";
	for (size_t cut = 0; cut < sizeof(bulk) - 1; cut++)
		assert_int_equal(ss_bench_parse_resp(bulk, cut, 100, &k, &v, &n), 0);
	assert_int_equal(ss_bench_parse_resp(LINE("+O"), 100, &k, &v, &n), 0);
	assert_int_equal(ss_bench_parse_resp(LINE("+OK\r"), 100, &k, &v, &n), 0);
	assert_int_equal(ss_bench_parse_resp(LINE("$-"), 100, &k, &v, &n), 0);
	assert_int_equal(ss_bench_parse_resp(LINE("*1\r\n$1\r\na\r\n"), 100, &k, &v, &n), -1);
	assert_int_equal(ss_bench_parse_resp(LINE("OK\r\n"), 100, &k, &v, &n), -1);
	assert_int_equal(ss_bench_parse_resp(LINE("+OK\rX"), 100, &k, &v, &n), -1);
	assert_int_equal(ss_bench_parse_resp(LINE("$x\r\n"), 100, &k, &v, &n), -1);
	assert_int_equal(ss_bench_parse_resp(LINE("$5x"), 100, &k, &v, &n), -1);
	assert_int_equal(ss_bench_parse_resp(LINE("$\r\n"), 100, &k, &v, &n), -1);
	assert_int_equal(ss_bench_parse_resp(LINE("$-2\r\n"), 100, &k, &v, &n), -1);
	assert_int_equal(ss_bench_parse_resp(LINE("$2\r\nabXY"), 100, &k, &v, &n), -1);
	/* A bulk that cannot fit the buffer is an error, not a wait forever. */
	assert_int_equal(ss_bench_parse_resp(LINE("$1000\r\n"), 100, &k, &v, &n), -1);
	assert_int_equal(ss_bench_parse_resp(LINE("$99999999999999999999\r\n"), 100, &k, &v, &n),
			 -1);
}

static int parse(struct ss_bench_opts *o, const char *line)
{
	char copy[512], *argv[32], err[128];
	int argc = 0;
	strncpy(copy, line, sizeof(copy) - 1);
	copy[sizeof(copy) - 1] = 0;
	argv[argc++] = "statestore-bench";
	for (char *t = strtok(copy, " "); t && argc < 31; t = strtok(NULL, " "))
		argv[argc++] = t;
	argv[argc] = NULL;
	return ss_bench_parse_args(argc, argv, o, err, sizeof(err));
}

static void command_line(void **state)
{
	(void)state;
	struct ss_bench_opts o;
	assert_int_equal(parse(&o, ""), 0);
	assert_string_equal(o.host, "127.0.0.1");
	assert_string_equal(o.port, "7070");
	assert_int_equal(o.conns, 50);
	assert_true(o.set_ratio == 1.0);
	assert_int_equal(o.keys, 100000);
	assert_int_equal(o.value_size, 10);
	assert_true(o.duration == 5.0);
	assert_int_equal(o.pipeline, 1);
	assert_int_equal(o.format, SS_BENCH_TEXT);

	assert_int_equal(parse(&o, "--redis -c 1 -P 16 --set-ratio 0.25 -k 10 -v 100 -n 99 --csv"),
			 0);
	assert_string_equal(o.port, "6379");
	assert_int_equal(o.conns, 1);
	assert_int_equal(o.pipeline, 16);
	assert_true(o.set_ratio == 0.25);
	assert_int_equal(o.keys, 10);
	assert_int_equal(o.value_size, 100);
	assert_int_equal(o.requests, 99);
	assert_int_equal(o.format, SS_BENCH_CSV);

	assert_int_equal(parse(&o, "--load-keys 1000000 -P 64"), 0);
	assert_int_equal(o.keys, 1000000);
	assert_int_equal(parse(&o, "--probe"), 0);
	assert_int_equal(o.conns, 1);
	assert_true(o.set_ratio == 0.0);
	assert_int_equal(parse(&o, "--probe -c 3"), 0);
	assert_int_equal(o.conns, 3);
	assert_int_equal(parse(&o, "--help"), 1);

	assert_int_equal(parse(&o, "--set-ratio 1.5"), -1);
	assert_int_equal(parse(&o, "-c 0"), -1);
	assert_int_equal(parse(&o, "-c"), -1);
	assert_int_equal(parse(&o, "-k 100000001"), -1);
	assert_int_equal(parse(&o, "-p 70000"), -1);
	assert_int_equal(parse(&o, "-v -3"), -1);
	assert_int_equal(parse(&o, "-d 1 -n 5"), -1);
	assert_int_equal(parse(&o, "--load-keys 5 --check-seq 5"), -1);
	assert_int_equal(parse(&o, "--load-keys 5 -k 6"), -1);
	assert_int_equal(parse(&o, "--bogus"), -1);
}

static void command_line_write_workloads(void **state)
{
	(void)state;
	struct ss_bench_opts o;
	/* --cas owns one key per request slot: connections x depth of them. */
	assert_int_equal(parse(&o, "--cas -c 50"), 0);
	assert_true(o.cas && o.own_keys);
	assert_int_equal(o.keys, 50);
	assert_int_equal(parse(&o, "--cas -c 4 -P 8 -k 32"), 0);
	assert_int_equal(o.keys, 32);
	assert_int_equal(parse(&o, "--own-keys -c 3 -P 2"), 0);
	assert_true(o.own_keys && !o.cas);
	assert_int_equal(o.keys, 6);
	assert_int_equal(parse(&o, "--mset 100 --redis -c 1"), 0);
	assert_int_equal(o.mset, 100);
	assert_int_equal(o.keys, 100000);

	assert_int_equal(parse(&o, "--cas -c 4 -k 5"), -1);
	assert_int_equal(parse(&o, "--cas --redis"), -1);
	assert_int_equal(parse(&o, "--cas --set-ratio 0.5"), -1);
	assert_int_equal(parse(&o, "--cas --sequential"), -1);
	assert_int_equal(parse(&o, "--own-keys --probe"), -1);
	assert_int_equal(parse(&o, "--mset 0"), -1);
	assert_int_equal(parse(&o, "--mset 1001"), -1);
	assert_int_equal(parse(&o, "--mset 100 -k 99"), -1);
	assert_int_equal(parse(&o, "--mset 2 --ttl 5"), -1);
	assert_int_equal(parse(&o, "--mset 2 --cas"), -1);
	assert_int_equal(parse(&o, "--mset 2 --load-keys 10"), -1);

	/* --wait: Redis SETs, each followed by WAIT N 0. */
	assert_int_equal(parse(&o, "--redis --wait 1 -c 50"), 0);
	assert_int_equal(o.wait, 1);
	assert_int_equal(parse(&o, ""), 0);
	assert_int_equal(o.wait, 0);
	assert_int_equal(parse(&o, "--wait 1"), -1); /* statestored: no WAIT */
	assert_int_equal(parse(&o, "--redis --wait 0"), -1);
	assert_int_equal(parse(&o, "--redis --wait 1 --set-ratio 0.5"), -1);
	assert_int_equal(parse(&o, "--redis --wait 1 --mset 10"), -1);
	assert_int_equal(parse(&o, "--redis --wait 1 --prefill"), -1);
	assert_int_equal(parse(&o, "--redis --wait 1 --load-keys 10"), -1);
	assert_int_equal(parse(&o, "--redis --wait 1 --probe"), -1);
}

static void wait_replies_count_replicas(void **state)
{
	(void)state;
	assert_int_equal(ss_bench_wait_reply(SS_BENCH_VALUE, "1", 1, 1), 1);
	assert_int_equal(ss_bench_wait_reply(SS_BENCH_VALUE, "2", 1, 1), 1);
	assert_int_equal(ss_bench_wait_reply(SS_BENCH_VALUE, "0", 1, 1), 0);
	assert_int_equal(ss_bench_wait_reply(SS_BENCH_VALUE, "12", 2, 13), 0);
	assert_int_equal(ss_bench_wait_reply(SS_BENCH_ERR, "ERR x", 5, 1), -1);
	assert_int_equal(ss_bench_wait_reply(SS_BENCH_OK, "OK", 2, 1), -1);
	assert_int_equal(ss_bench_wait_reply(SS_BENCH_VALUE, "", 0, 1), -1);
	assert_int_equal(ss_bench_wait_reply(SS_BENCH_VALUE, "1x", 2, 1), -1);
	assert_int_equal(ss_bench_wait_reply(SS_BENCH_VALUE, "-1", 2, 1), -1);
}

static void result_formats(void **state)
{
	(void)state;
	struct ss_bench_result r = {
		.mode = "run", .requests = 1000, .seconds = 2.0, .p50_ns = 1500, .p99_ns = 20000,
		.p999_ns = 30000, .max_ns = 40000, .mean_ns = 2000, .errors = 1, .misses = 2,
		.lost = 0, .max_gap_ns = 50000, .next_seq = 1003,
	};
	char buf[1024];
	ss_bench_format_result(&r, SS_BENCH_CSV, buf, sizeof(buf));
	assert_string_equal(buf, "run,1000,2.000,500,1.5,20.0,30.0,40.0,2.0,1,2,0,50.0,1003\n");
	/* The header names as many columns as the line has. */
	int commas = 0, hcommas = 0;
	for (const char *p = buf; *p; p++)
		commas += *p == ',';
	for (const char *p = SS_BENCH_CSV_HEADER; *p; p++)
		hcommas += *p == ',';
	assert_int_equal(commas, hcommas);
	ss_bench_format_result(&r, SS_BENCH_JSON, buf, sizeof(buf));
	assert_non_null(strstr(buf, "\"ops_per_sec\":500,"));
	assert_non_null(strstr(buf, "\"p999_us\":30.0,"));
	assert_int_equal(buf[strlen(buf) - 1], '\n');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hist_small_values_are_exact),
		cmocka_unit_test(hist_buckets_tile_the_range_without_gaps),
		cmocka_unit_test(hist_relative_error_is_bounded),
		cmocka_unit_test(hist_percentiles_of_uniform_values),
		cmocka_unit_test(hist_percentile_never_exceeds_max),
		cmocka_unit_test(hist_percentile_rank_rounds_up),
		cmocka_unit_test(hist_empty_and_merge),
		cmocka_unit_test(digits_and_keys),
		cmocka_unit_test(u64_digits_are_unpadded),
		cmocka_unit_test(mset_text_request_names_distinct_keys_with_wraparound),
		cmocka_unit_test(mset_redis_request_is_one_resp_array),
		cmocka_unit_test(mset_length_bound_holds_at_the_limit),
		cmocka_unit_test(cas_and_getrev_replies_carry_the_revision),
		cmocka_unit_test(sequential_writer_model),
		cmocka_unit_test(line_replies),
		cmocka_unit_test(line_replies_split_anywhere),
		cmocka_unit_test(resp_replies),
		cmocka_unit_test(resp_incomplete_and_malformed),
		cmocka_unit_test(command_line),
		cmocka_unit_test(command_line_write_workloads),
		cmocka_unit_test(wait_replies_count_replicas),
		cmocka_unit_test(result_formats),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
