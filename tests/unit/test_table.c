/*
 * test_table.c - the hash table: set/get/del, overwrite across sizes, expiry
 * at the exact deadline, background expiry, iteration, incremental resize
 * at 1M+ entries, size limits, memory per entry, and a long random run
 * against a simple model. The clock is whatever now_ms the test passes.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "statestored/limits.h"
#include "statestored/table.h"

/* ---- helpers ---------------------------------------------------------- */

static struct ss_table *new_table(void)
{
	struct ss_table *t = ss_table_new();
	assert_non_null(t);
	return t;
}

static void set_str(struct ss_table *t, const char *name, const char *value, int64_t exp)
{
	assert_int_equal(ss_table_set(t, name, strlen(name), value, strlen(value), exp), 0);
}

static int get_str(struct ss_table *t, const char *name, int64_t now, struct ss_entry *e)
{
	return ss_table_get(t, name, strlen(name), now, e);
}

static void assert_value(struct ss_table *t, const char *name, int64_t now, const char *value)
{
	struct ss_entry e;
	if (!get_str(t, name, now, &e))
		fail_msg("%s: missing, want \"%s\"", name, value);
	assert_int_equal(e.nlen, strlen(name));
	assert_memory_equal(e.name, name, e.nlen);
	assert_int_equal(e.vlen, strlen(value));
	assert_memory_equal(e.value, value, e.vlen);
}

/* A 16-byte name and a 10-digit value per index, as a checkpoint store at
 * scale would hold. */
static void key_of(char name[24], uint32_t i)
{
	snprintf(name, 24, "pipeline-%07u", i % 10000000u);
}

static void val_of(char value[11], uint32_t i)
{
	snprintf(value, 11, "%010u", i * 2654435761u);
}

static void set_key(struct ss_table *t, uint32_t i)
{
	char name[24], value[11];
	key_of(name, i);
	val_of(value, i);
	assert_int_equal(ss_table_set(t, name, 16, value, 10, 0), 0);
}

static void check_key(struct ss_table *t, uint32_t i, int present)
{
	char name[24], value[11];
	struct ss_entry e;
	key_of(name, i);
	val_of(value, i);
	int got = ss_table_get(t, name, 16, 0, &e);
	if (got != present)
		fail_msg("%s: get returned %d, want %d", name, got, present);
	if (got) {
		assert_int_equal(e.vlen, 10);
		assert_memory_equal(e.value, value, 10);
	}
}

/* Reads the decimal number at p[0..n); entry names are not NUL-terminated,
 * so no sscanf. */
static unsigned parse_num(const char *p, size_t n)
{
	unsigned v = 0;
	for (size_t i = 0; i < n && p[i] >= '0' && p[i] <= '9'; i++)
		v = v * 10 + (unsigned)(p[i] - '0');
	return v;
}

/* The tests below delete the even keys in order: after deleting those below
 * d, key i should be present iff this holds. */
static int present_after(uint32_t i, uint32_t d)
{
	return (i & 1) || i >= d;
}

/* Iterates t and checks that it holds exactly the keys in [0, n) that
 * present_after(i, d) wants, each seen once. */
static void check_iteration(const struct ss_table *t, uint32_t n, uint32_t d)
{
	unsigned char *seen = calloc(n, 1);
	size_t cursor = 0, visits = 0;
	struct ss_entry e;

	assert_non_null(seen);
	while (ss_table_next(t, &cursor, &e)) {
		assert_int_equal(e.nlen, 16);
		assert_memory_equal(e.name, "pipeline-", 9);
		unsigned idx = parse_num(e.name + 9, 7);
		assert_true(idx < n);
		if (seen[idx]++)
			fail_msg("entry %u visited twice", idx);
		visits++;
	}
	for (uint32_t i = 0; i < n; i++)
		if (!seen[i] != !present_after(i, d))
			fail_msg("entry %u seen %d times, want %d", i, seen[i], present_after(i, d));
	assert_int_equal(visits, ss_table_count(t));
	free(seen);
}

/* Deletes the even keys in [from, to). */
static void del_evens(struct ss_table *t, uint32_t from, uint32_t to)
{
	for (uint32_t i = from + (from & 1); i < to; i += 2) {
		char name[24];
		key_of(name, i);
		assert_int_equal(ss_table_del(t, name, 16, 0), 1);
	}
}

/* Inserts keys 0.. until the table is resizing with at least `min` keys.
 * Returns the number inserted. */
static uint32_t fill_until_resizing(struct ss_table *t, uint32_t min)
{
	uint32_t i;
	for (i = 0; i < min || !ss_table_resizing(t); i++)
		set_key(t, i);
	return i;
}

/* Finishes a resize without changing entries (expire_some with no slot
 * budget still moves a step). */
static void finish_resize(struct ss_table *t)
{
	size_t cursor = 0;
	for (int i = 0; i < 10000000 && ss_table_resizing(t); i++)
		ss_table_expire_some(t, 0, 0, &cursor);
	assert_false(ss_table_resizing(t));
}

/* ---- basics --------------------------------------------------------------- */

static void set_copies_name_and_value(void **state)
{
	struct ss_table *t = new_table();
	char name[] = "orders";
	char value[] = "offset-42";

	(void)state;
	assert_int_equal(ss_table_count(t), 0);
	set_str(t, name, value, 0);
	memset(name, 'x', 6);
	memset(value, 'y', 9);
	assert_value(t, "orders", 0, "offset-42");
	assert_int_equal(ss_table_count(t), 1);
	struct ss_entry e;
	assert_int_equal(get_str(t, "orderz", 0, &e), 0);
	assert_int_equal(get_str(t, "order", 0, &e), 0);
	assert_int_equal(get_str(t, "orders2", 0, &e), 0);
	ss_table_free(t);
}

static void overwrite_keeps_one_entry_across_sizes_and_expiry(void **state)
{
	static char big[SS_VALUE_MAX];
	/* Around the largest slab entry (4-byte head, 8 more with an expiry,
	 * 4-byte name: 1016 and 1008 bytes of value) and far beyond it. */
	const size_t sizes[] = {1,    10,   11, 17,   100, 1000, 1004,         1005, 1008, 1009,
				1016, 1017, 2000, 7, 1500, 20,   SS_VALUE_MAX, 1016, 1};
	struct ss_table *t = new_table();
	struct ss_entry e;

	(void)state;
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		for (int with_exp = 0; with_exp < 2; with_exp++) {
			int64_t exp = with_exp ? 5000 + (int64_t)k : 0;
			memset(big, 'a' + (int)(k % 26), sizes[k]);
			big[0] = (char)('0' + with_exp);
			assert_int_equal(ss_table_set(t, "ckpt", 4, big, sizes[k], exp), 0);
			assert_int_equal(ss_table_count(t), 1);
			assert_int_equal(ss_table_get(t, "ckpt", 4, 100, &e), 1);
			assert_int_equal(e.vlen, sizes[k]);
			assert_memory_equal(e.value, big, sizes[k]);
			assert_int_equal(e.expire_ms, exp);
			assert_memory_equal(e.name, "ckpt", 4);
		}
	}
	ss_table_free(t);
}

static void overwrite_with_a_value_read_from_the_table(void **state)
{
	struct ss_table *t = new_table();
	struct ss_entry e;

	(void)state;
	set_str(t, "a", "0123456789", 0);
	/* Same size class: rewritten in place from its own bytes. */
	assert_int_equal(get_str(t, "a", 0, &e), 1);
	assert_int_equal(ss_table_set(t, "a", 1, e.value + 2, 8, 0), 0);
	assert_value(t, "a", 0, "23456789");
	/* Another class: copied before the old entry goes. */
	assert_int_equal(get_str(t, "a", 0, &e), 1);
	assert_int_equal(ss_table_set(t, "a", 1, e.value, 8, 77), 0);
	assert_value(t, "a", 0, "23456789");
	ss_table_free(t);
}

static void del_reports_only_live_entries(void **state)
{
	struct ss_table *t = new_table();

	(void)state;
	set_str(t, "live", "1", 0);
	set_str(t, "dying", "2", 1000);
	assert_int_equal(ss_table_del(t, "missing", 7, 0), 0);
	assert_int_equal(ss_table_del(t, "live", 4, 0), 1);
	assert_int_equal(ss_table_count(t), 1);
	assert_int_equal(ss_table_del(t, "live", 4, 0), 0);
	/* Expired: reported absent, removed all the same. */
	assert_int_equal(ss_table_del(t, "dying", 5, 1000), 0);
	assert_int_equal(ss_table_count(t), 0);
	set_str(t, "dying", "3", 1000);
	assert_int_equal(ss_table_del(t, "dying", 5, 999), 1);
	ss_table_free(t);
}

/* ---- expiry --------------------------------------------------------------- */

static void entry_expires_exactly_at_its_deadline(void **state)
{
	struct ss_table *t = new_table();
	struct ss_entry e;

	(void)state;
	set_str(t, "job", "v", 1000);
	set_str(t, "forever", "v", 0);
	assert_int_equal(get_str(t, "job", 999, &e), 1);
	assert_int_equal(e.expire_ms, 1000);
	assert_int_equal(ss_table_count(t), 2);
	assert_int_equal(get_str(t, "job", 1000, &e), 0);
	assert_int_equal(ss_table_count(t), 1); /* removed by the get */
	assert_int_equal(get_str(t, "job", 999, &e), 0);
	assert_int_equal(get_str(t, "forever", INT64_MAX, &e), 1);
	assert_int_equal(e.expire_ms, 0);
	/* Overwriting drops or sets an expiry. */
	set_str(t, "job", "v", 1000);
	set_str(t, "job", "w", 0);
	assert_value(t, "job", 5000, "w");
	set_str(t, "forever", "w", 10);
	assert_int_equal(get_str(t, "forever", 10, &e), 0);
	ss_table_free(t);
}

/* Keys i % 3 == 0 expire at 500, i % 3 == 1 at 2000, the rest never. */
static int64_t sweep_exp(uint32_t i)
{
	return i % 3 == 0 ? 500 : i % 3 == 1 ? 2000 : 0;
}

static void sweep_set(struct ss_table *t, uint32_t i)
{
	char name[24], value[11];
	key_of(name, i);
	val_of(value, i);
	assert_int_equal(ss_table_set(t, name, 16, value, 10, sweep_exp(i)), 0);
}

static void check_sweep(struct ss_table *t, uint32_t n, int resizing)
{
	size_t cursor = 0, removed = 0, calls = 0;
	uint32_t expired = 0;

	for (uint32_t i = 0; i < n; i++)
		expired += sweep_exp(i) == 500;
	assert_int_equal(ss_table_resizing(t), resizing);
	/* Before the deadline nothing goes. */
	for (int k = 0; k < 1000; k++)
		assert_int_equal(ss_table_expire_some(t, 499, 64, &cursor), 0);
	assert_int_equal(ss_table_count(t), n);
	while (removed < expired) {
		size_t r = ss_table_expire_some(t, 1000, 64, &cursor);
		assert_true(r <= 64);
		removed += r;
		assert_true(++calls < 1000000);
	}
	assert_int_equal(removed, expired);
	assert_int_equal(ss_table_count(t), n - expired);
	for (uint32_t i = 0; i < n; i++) {
		char name[24];
		struct ss_entry e;
		key_of(name, i);
		assert_int_equal(ss_table_get(t, name, 16, 1000, &e), sweep_exp(i) != 500);
	}
	/* More sweeping at 1000 finds nothing else. */
	for (int k = 0; k < 1000; k++)
		assert_int_equal(ss_table_expire_some(t, 1000, 64, &cursor), 0);
}

static void expire_some_sweeps_out_expired_entries_only(void **state)
{
	struct ss_table *t = new_table();

	(void)state;
	for (uint32_t i = 0; i < 30000; i++)
		sweep_set(t, i);
	finish_resize(t);
	check_sweep(t, 30000, 0);
	ss_table_free(t);
}

static void expire_some_sweeps_both_arrays_while_resizing(void **state)
{
	struct ss_table *t = new_table();
	uint32_t n = 0, expired = 0;
	size_t cursor = 0;

	(void)state;
	while (n < 20000 || !ss_table_resizing(t))
		sweep_set(t, n++);
	check_sweep(t, n, 1);
	ss_table_free(t);

	/* One call whose budget covers every slot index must find all the
	 * expired entries at once, in the old array as well as the new: the
	 * step of resize it does first moves only a few of them. The main
	 * array has fewer than 4n slots (it was just doubled past n/2), and
	 * each removal spends one unit more. */
	t = new_table();
	n = 0;
	while (n < 20000 || !ss_table_resizing(t))
		sweep_set(t, n++);
	for (uint32_t i = 0; i < n; i++)
		expired += sweep_exp(i) == 500;
	assert_int_equal(ss_table_expire_some(t, 1000, 8 * (size_t)n, &cursor), expired);
	assert_int_equal(ss_table_count(t), n - expired);
	ss_table_free(t);
}

/* ---- iteration and resize ------------------------------------------------- */

static void iteration_visits_each_entry_once(void **state)
{
	struct ss_table *t = new_table();
	size_t cursor = 0;
	struct ss_entry e;

	(void)state;
	assert_int_equal(ss_table_next(t, &cursor, &e), 0);
	for (uint32_t i = 0; i < 5000; i++)
		set_key(t, i);
	finish_resize(t);
	check_iteration(t, 5000, 0);
	ss_table_free(t);
}

static void iteration_visits_each_entry_once_while_resizing(void **state)
{
	struct ss_table *t = new_table();

	(void)state;
	uint32_t n = fill_until_resizing(t, 3000);
	check_iteration(t, n, 0);
	/* Deleting during the resize leaves tombstones in the old array and
	 * moves entries in the new one; iteration still sees each once. */
	del_evens(t, 0, 400);
	assert_true(ss_table_resizing(t));
	check_iteration(t, n, 400);
	ss_table_free(t);
}

static void million_keys_survive_incremental_resize(void **state)
{
	struct ss_table *t = new_table();
	uint32_t d = 0; /* even keys below d are deleted */
	int stages = 0;

	(void)state;
	uint32_t n = fill_until_resizing(t, 1000000);
	assert_int_equal(ss_table_count(t), n);
	/* While the resize runs, check every key at several points of it,
	 * deleting a slice of even keys between checks, which moves the
	 * resize along: lookups then meet old slots already moved, moved
	 * clusters that wrap around the old array's end, and tombstones. */
	while (ss_table_resizing(t)) {
		size_t mem = ss_table_memory(t);
		for (uint32_t i = 0; i < n; i++)
			check_key(t, i, present_after(i, d));
		check_key(t, n, 0);
		/* Looking changes nothing, not even the resize. */
		assert_true(ss_table_resizing(t));
		assert_int_equal(ss_table_memory(t), mem);
		if (stages < 2)
			check_iteration(t, n, d);
		del_evens(t, d, d + 40000);
		d += 40000;
		assert_int_equal(ss_table_count(t), n - d / 2);
		stages++;
	}
	assert_true(stages >= 2);

	/* After it: the rest of the evens go, the odds stay. */
	del_evens(t, d, n);
	assert_int_equal(ss_table_count(t), n - (n + 1) / 2);
	for (uint32_t i = 0; i < n; i++)
		check_key(t, i, i & 1);
	check_iteration(t, n, UINT32_MAX);
	/* And the deleted half comes back. */
	for (uint32_t i = 0; i < n; i += 2)
		set_key(t, i);
	for (uint32_t i = 0; i < n; i++)
		check_key(t, i, 1);
	ss_table_free(t);
}

/* Which names sit at the start of the old array with their home slot at its
 * end depends on the hash, so build many small tables with different names:
 * some clusters will wrap around the old array's end when a resize starts,
 * and a lookup must follow them from the end back to slot `moved`. */
static void lookups_follow_clusters_that_wrap_the_old_array(void **state)
{
	char name[32];

	(void)state;
	for (uint32_t round = 0; round < 200; round++) {
		struct ss_table *t = new_table();
		uint32_t n = 0;
		for (; n < 1000 || !ss_table_resizing(t); n++) {
			int len = snprintf(name, sizeof name, "r%u-%u", round, n);
			assert_int_equal(ss_table_set(t, name, (size_t)len, "v", 1, 0), 0);
		}
		for (int step = 0; step < 3 && ss_table_resizing(t); step++) {
			for (uint32_t i = 0; i < n; i++) {
				int len = snprintf(name, sizeof name, "r%u-%u", round, i);
				assert_int_equal(ss_table_get(t, name, (size_t)len, 0, NULL), 1);
			}
			size_t cursor = 0;
			ss_table_expire_some(t, 0, 0, &cursor);
		}
		ss_table_free(t);
	}
}

/* ---- limits and memory ---------------------------------------------------- */

static void max_size_name_and_value_round_trip(void **state)
{
	static char name[SS_NAME_MAX], value[SS_VALUE_MAX];
	struct ss_table *t = new_table();
	struct ss_entry e;

	(void)state;
	for (size_t i = 0; i < sizeof name; i++)
		name[i] = (char)(0x21 + i % 94);
	for (size_t i = 0; i < sizeof value; i++)
		value[i] = (char)(0x21 + (i * 7) % 94);
	assert_int_equal(ss_table_set(t, name, SS_NAME_MAX, value, SS_VALUE_MAX, 123), 0);
	assert_int_equal(ss_table_set(t, name, SS_NAME_MAX - 1, "x", 1, 0), 0);
	assert_int_equal(ss_table_get(t, name, SS_NAME_MAX, 0, &e), 1);
	assert_int_equal(e.nlen, SS_NAME_MAX);
	assert_memory_equal(e.name, name, SS_NAME_MAX);
	assert_int_equal(e.vlen, SS_VALUE_MAX);
	assert_memory_equal(e.value, value, SS_VALUE_MAX);
	assert_int_equal(e.expire_ms, 123);
	assert_true(ss_table_memory(t) > SS_VALUE_MAX + SS_NAME_MAX);
	assert_int_equal(ss_table_get(t, name, SS_NAME_MAX - 1, 0, &e), 1);
	assert_int_equal(e.vlen, 1);
	assert_int_equal(ss_table_get(t, name, SS_NAME_MAX, 123, &e), 0);
	assert_int_equal(ss_table_count(t), 1);
	ss_table_free(t);
}

/* An entry too large to size fails with ENOMEM before anything is
 * allocated or read (the value pointer is never dereferenced), and the table
 * keeps what it had. */
static void failed_set_leaves_the_table_unchanged(void **state)
{
	struct ss_table *t = new_table();
	static const char dummy[1];

	(void)state;
	set_str(t, "kept", "old", 0);
	size_t mem = ss_table_memory(t);
	errno = 0;
	assert_int_equal(ss_table_set(t, "kept", 4, dummy, SIZE_MAX - 8, 0), -1);
	assert_int_equal(errno, ENOMEM);
	errno = 0;
	assert_int_equal(ss_table_set(t, "new", 3, dummy, SIZE_MAX - 8, 5), -1);
	assert_int_equal(errno, ENOMEM);
	assert_int_equal(ss_table_count(t), 1);
	assert_int_equal(ss_table_memory(t), mem);
	assert_value(t, "kept", 0, "old");
	assert_int_equal(get_str(t, "new", 0, NULL), 0);
	ss_table_free(t);
}

static void memory_per_entry_at_a_million_small_entries(void **state)
{
	const uint32_t n = 1000000;
	struct ss_table *t = new_table();

	(void)state;
	for (uint32_t i = 0; i < n; i++)
		set_key(t, i);
	finish_resize(t);
	double per = (double)ss_table_memory(t) / n;
	print_message("ss_table_memory at %u entries (16-byte names, 10-digit values): "
		      "%zu bytes, %.1f bytes/entry\n",
		      n, ss_table_memory(t), per);
	assert_true(per <= 64.0);
	ss_table_free(t);
}

/* ---- randomized, against a model ------------------------------------------ */

#define MODEL_KEYS 3000
#define MODEL_VMAX 3000

struct model_entry {
	int present;
	int64_t exp;
	size_t vlen;
	char value[MODEL_VMAX];
};

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Name k: its number, padded to a length that varies with k; some are the
 * longest allowed, so that with long values they take the big path. */
static size_t model_name(char *buf, uint32_t k)
{
	size_t len = (size_t)snprintf(buf, SS_NAME_MAX + 1, "%u:", k);
	size_t want = k % 97 == 0 ? SS_NAME_MAX : 1 + (k * 7) % 40;
	while (len < want)
		buf[len++] = (char)('a' + k % 26);
	return len;
}

static int model_live(const struct model_entry *m, int64_t now)
{
	return m->present && !(m->exp && now >= m->exp);
}

/* Checks the table against the model by iteration. Entries missing from the
 * table must have been expired (expire_some took them); the model forgets
 * them. Then counts must agree. */
static void model_sync(const struct ss_table *t, struct model_entry *m, int64_t now)
{
	unsigned char seen[MODEL_KEYS] = {0};
	size_t cursor = 0, present = 0;
	struct ss_entry e;

	while (ss_table_next(t, &cursor, &e)) {
		unsigned k = parse_num(e.name, e.nlen);
		assert_true(k < MODEL_KEYS);
		assert_int_equal(seen[k]++, 0);
		assert_true(m[k].present);
		assert_int_equal(e.expire_ms, m[k].exp);
		assert_int_equal(e.vlen, m[k].vlen);
		assert_memory_equal(e.value, m[k].value, e.vlen);
	}
	for (uint32_t k = 0; k < MODEL_KEYS; k++) {
		if (m[k].present && !seen[k]) {
			assert_false(model_live(&m[k], now));
			m[k].present = 0;
		}
		present += m[k].present;
	}
	assert_int_equal(ss_table_count(t), present);
}

static void random_ops_match_a_model(void **state)
{
	static struct model_entry m[MODEL_KEYS];
	static char value[MODEL_VMAX];
	char name[SS_NAME_MAX + 1];
	uint64_t seed = 0x5eed5eed5eedu;
	int64_t now = 1;
	size_t cursor = 0;
	struct ss_entry e;

	(void)state;
	/* Ten tables of 20k ops each, so each one grows through several
	 * resizes while gets, dels and expiry run against it. */
	for (int round = 0; round < 10; round++) {
		struct ss_table *t = new_table();
		memset(m, 0, sizeof m);
		for (int op = 0; op < 20000; op++) {
			uint32_t k = (uint32_t)(rnd(&seed) % MODEL_KEYS);
			size_t nlen = model_name(name, k);
			unsigned dice = (unsigned)(rnd(&seed) % 100);
			now += (int64_t)(rnd(&seed) % 3);
			if (dice < 50) {
				unsigned r = (unsigned)(rnd(&seed) % 100);
				size_t vlen = r < 90 ? 1 + rnd(&seed) % 64
					      : r < 98 ? 65 + rnd(&seed) % 1000
						       : 1 + rnd(&seed) % MODEL_VMAX;
				int64_t exp = rnd(&seed) % 3 ? 0 : now + 1 + (int64_t)(rnd(&seed) % 200);
				for (size_t i = 0; i < vlen; i++)
					value[i] = (char)(0x21 + rnd(&seed) % 94);
				assert_int_equal(ss_table_set(t, name, nlen, value, vlen, exp), 0);
				m[k].present = 1;
				m[k].exp = exp;
				m[k].vlen = vlen;
				memcpy(m[k].value, value, vlen);
			} else if (dice < 80) {
				int got = ss_table_get(t, name, nlen, now, &e);
				assert_int_equal(got, model_live(&m[k], now));
				if (got) {
					assert_int_equal(e.nlen, nlen);
					assert_memory_equal(e.name, name, nlen);
					assert_int_equal(e.vlen, m[k].vlen);
					assert_memory_equal(e.value, m[k].value, e.vlen);
					assert_int_equal(e.expire_ms, m[k].exp);
				} else {
					m[k].present = 0;
				}
			} else if (dice < 97) {
				assert_int_equal(ss_table_del(t, name, nlen, now), model_live(&m[k], now));
				m[k].present = 0;
			} else {
				size_t budget = (size_t)(rnd(&seed) % 200);
				assert_true(ss_table_expire_some(t, now, budget, &cursor) <= budget);
				model_sync(t, m, now);
			}
			if (op % 1000 == 0)
				model_sync(t, m, now);
		}
		model_sync(t, m, now);
		ss_table_free(t);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(set_copies_name_and_value),
		cmocka_unit_test(overwrite_keeps_one_entry_across_sizes_and_expiry),
		cmocka_unit_test(overwrite_with_a_value_read_from_the_table),
		cmocka_unit_test(del_reports_only_live_entries),
		cmocka_unit_test(entry_expires_exactly_at_its_deadline),
		cmocka_unit_test(expire_some_sweeps_out_expired_entries_only),
		cmocka_unit_test(expire_some_sweeps_both_arrays_while_resizing),
		cmocka_unit_test(iteration_visits_each_entry_once),
		cmocka_unit_test(iteration_visits_each_entry_once_while_resizing),
		cmocka_unit_test(million_keys_survive_incremental_resize),
		cmocka_unit_test(lookups_follow_clusters_that_wrap_the_old_array),
		cmocka_unit_test(max_size_name_and_value_round_trip),
		cmocka_unit_test(failed_set_leaves_the_table_unchanged),
		cmocka_unit_test(memory_per_entry_at_a_million_small_entries),
		cmocka_unit_test(random_ops_match_a_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
