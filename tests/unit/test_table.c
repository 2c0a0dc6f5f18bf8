/*
 * test_table.c - the hash table: set/get/del, overwrite across sizes, expiry
 * at the exact deadline, background expiry, iteration, incremental resize
 * with deletes, size limits, memory per entry, and a long random run
 * against a simple model; then what each entry carries (revision, commit
 * time, values of any bytes, packed digits), history, the revision counter
 * and SCAN-style listing across resizes. The clock is whatever now_ms the
 * test passes.
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

/* A commit time of today's order, so that times before and after it are
 * both plausible. */
#define T0 INT64_C(1700000000000)

static struct ss_table *new_table_depth(unsigned depth)
{
	struct ss_table *t = ss_table_new(depth);
	assert_non_null(t);
	assert_int_equal(ss_table_history_depth(t), depth);
	return t;
}

static struct ss_table *new_table(void)
{
	return new_table_depth(0);
}

/* Sets with the table's next revision and a commit time one ms per
 * revision after T0; the clock (now_ms) at 0, before any expiry. */
static void set_str(struct ss_table *t, const char *name, const char *value, int64_t exp)
{
	uint64_t rev = ss_table_revision(t) + 1;
	assert_int_equal(ss_table_set(t, name, strlen(name), value, strlen(value), exp, rev,
				      T0 + (int64_t)rev, 0),
			 0);
}

/* ss_table_set with the revision and commit time that do not matter to a
 * test. */
static int set_plain(struct ss_table *t, const char *name, size_t nlen, const char *value,
		     size_t vlen, int64_t exp)
{
	return ss_table_set(t, name, nlen, value, vlen, exp, 1, T0, 0);
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
	assert_int_equal(ss_table_set(t, name, 16, value, 10, 0, i + 1, T0 + i, 0), 0);
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
		assert_int_equal(e.rev, (uint64_t)i + 1);
		assert_int_equal(e.commit_ms, T0 + i);
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
			assert_int_equal(ss_table_set(t, "ckpt", 4, big, sizes[k], exp, k + 1,
						      T0 - (int64_t)k, 0),
					 0);
			assert_int_equal(ss_table_count(t), 1);
			assert_int_equal(ss_table_get(t, "ckpt", 4, 100, &e), 1);
			assert_int_equal(e.vlen, sizes[k]);
			assert_memory_equal(e.value, big, sizes[k]);
			assert_int_equal(e.expire_ms, exp);
			assert_int_equal(e.rev, k + 1);
			assert_int_equal(e.commit_ms, T0 - (int64_t)k);
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
	assert_int_equal(set_plain(t, "a", 1, e.value + 2, 8, 0), 0);
	assert_value(t, "a", 0, "23456789");
	/* Another class: copied before the old entry goes. */
	assert_int_equal(get_str(t, "a", 0, &e), 1);
	assert_int_equal(set_plain(t, "a", 1, e.value, 8, 77), 0);
	assert_value(t, "a", 0, "23456789");
	/* Raw bytes read from the entry itself, in place and not. */
	set_str(t, "b", "x0123456789abc", 0);
	assert_int_equal(get_str(t, "b", 0, &e), 1);
	assert_int_equal(set_plain(t, "b", 1, e.value + 1, 12, 0), 0);
	assert_value(t, "b", 0, "0123456789ab");
	assert_int_equal(get_str(t, "b", 0, &e), 1);
	assert_int_equal(set_plain(t, "b", 1, e.value, 10, 0), 0);
	assert_value(t, "b", 0, "0123456789");
	/* The name as the value, read from the entry. */
	assert_int_equal(get_str(t, "b", 0, &e), 1);
	assert_int_equal(set_plain(t, "b", 1, e.name, 1, 0), 0);
	assert_value(t, "b", 0, "b");
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
	assert_int_equal(ss_table_set(t, name, 16, value, 10, sweep_exp(i), i + 1, T0, 0), 0);
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

/* The size is not the point, the stages are: filling past 100k keys
 * until a resize starts stops at 131073 keys, as the table doubles from
 * 2^18 to 2^19 slots. Gets do not move the resize on; each del moves 16
 * old slots, so a slice of 5000 deletes moves 80000 of the 262144, and
 * the keys are checked at 4 stages of the resize. */
#define RESIZE_KEYS 100000
#define RESIZE_SLICE 5000

static void every_key_survives_an_incremental_resize_with_deletes(void **state)
{
	struct ss_table *t = new_table();
	uint32_t d = 0; /* even keys below d are deleted */
	int stages = 0;

	(void)state;
	uint32_t n = fill_until_resizing(t, RESIZE_KEYS);
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
		del_evens(t, d, d + 2 * RESIZE_SLICE);
		d += 2 * RESIZE_SLICE;
		assert_int_equal(ss_table_count(t), n - d / 2);
		stages++;
	}
	assert_true(stages >= 3);

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
			assert_int_equal(set_plain(t, name, (size_t)len, "v", 1, 0), 0);
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
	assert_int_equal(ss_table_set(t, name, SS_NAME_MAX, value, SS_VALUE_MAX, 123, UINT64_MAX,
				      INT64_MIN, 0),
			 0);
	assert_int_equal(set_plain(t, name, SS_NAME_MAX - 1, "x", 1, 0), 0);
	assert_int_equal(ss_table_get(t, name, SS_NAME_MAX, 0, &e), 1);
	assert_int_equal(e.nlen, SS_NAME_MAX);
	assert_memory_equal(e.name, name, SS_NAME_MAX);
	assert_int_equal(e.vlen, SS_VALUE_MAX);
	assert_memory_equal(e.value, value, SS_VALUE_MAX);
	assert_int_equal(e.expire_ms, 123);
	assert_int_equal(e.rev, UINT64_MAX);
	assert_int_equal(e.commit_ms, INT64_MIN);
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
	assert_int_equal(ss_table_set(t, "kept", 4, dummy, SIZE_MAX - 8, 0, 99, T0, 0), -1);
	assert_int_equal(errno, ENOMEM);
	errno = 0;
	assert_int_equal(ss_table_set(t, "new", 3, dummy, SIZE_MAX - 8, 5, 99, T0, 0), -1);
	assert_int_equal(errno, ENOMEM);
	assert_int_equal(ss_table_count(t), 1);
	assert_int_equal(ss_table_memory(t), mem);
	assert_value(t, "kept", 0, "old");
	assert_int_equal(get_str(t, "new", 0, NULL), 0);
	assert_int_equal(ss_table_revision(t), 1);
	ss_table_free(t);
}

/* The bytes per entry that table.c's comment promises are measured at 1M
 * entries; the tests measure them at a quarter of that, 4x faster, and see
 * the same table:
 *   - slots: 250k keys sit in 2^19 slots as 1M sit in 2^21 (the smallest
 *     power of two each fills at most half), both at load 0.477: the same
 *     8.4 bytes a key;
 *   - entries and history blocks: the same bytes, because the commits
 *     are MEM_SCALE times further apart, so that they span the time 1M
 *     keys' span and each field and difference keeps its byte count
 *     (3-byte revisions, 4-byte commit times; a key's consecutive
 *     versions MEM_KEYS revisions and 10 s apart at depth 4);
 *   - only the last, partly used 64 KiB slab page of each chunk size
 *     weighs 4x as much: up to 0.26 bytes a key for each size in use. */
#define MEM_SCALE 4u
#define MEM_KEYS (1000000u / MEM_SCALE)

/* The commit time of revision rev when 1M keys' writes are ms_x100 / 100
 * ms apart: MEM_SCALE times that apart for MEM_KEYS keys. */
static int64_t mem_commit_ms(uint64_t rev, int64_t ms_x100)
{
	return T0 + (int64_t)rev * ms_x100 * MEM_SCALE / 100;
}

/* Writes versions `from`..`to`-1 of MEM_KEYS keys (16-byte names,
 * zero-padded 10-digit values), one revision per write. */
static void write_versions(struct ss_table *t, unsigned from, unsigned to, int64_t ms_x100)
{
	char name[24], value[11];

	for (unsigned k = from; k < to; k++) {
		for (uint32_t i = 0; i < MEM_KEYS; i++) {
			uint64_t rev = (uint64_t)k * MEM_KEYS + i + 1;
			key_of(name, i);
			val_of(value, i + k);
			assert_int_equal(ss_table_set(t, name, 16, value, 10, 0, rev,
						      mem_commit_ms(rev, ms_x100), 0),
					 0);
		}
	}
}

static double memory_per_key(const struct ss_table *t, const char *what)
{
	double per = (double)ss_table_memory(t) / MEM_KEYS;

	assert_int_equal(ss_table_count(t), MEM_KEYS);
	print_message("ss_table_memory at %u entries, %s: %zu bytes, %.1f bytes/entry\n",
		      MEM_KEYS, what, ss_table_memory(t), per);
	return per;
}

/* 40.4 bytes before entries carried a revision and a commit time; they
 * must not cost more. Commits span 11.6 days from the first (1 s apart at
 * 1M keys), revisions reach 250k: the 4-byte commit time and 3-byte
 * revision the encoding promises to fit in the 32-byte chunk. 40.6 here
 * (the last slab page, see MEM_SCALE). */
static void memory_per_entry_of_small_entries(void **state)
{
	struct ss_table *t = new_table();

	(void)state;
	write_versions(t, 0, 1, 100000);
	finish_resize(t);
	assert_true(memory_per_key(t, "depth 0") <= 41.0);
	ss_table_free(t);
}

/* Depth 4, 100 writes a ms at 1M keys, each key rewritten every MEM_KEYS
 * revisions. Live: a 40-byte entry (its 4-byte history reference) and a
 * 56-byte block of 4 versions, 104.4 bytes with the slots. Held: more,
 * because on the way every key's block passed through the 24-, 32- and
 * 48-byte chunk sizes, whose pages the slab keeps for later blocks of
 * those sizes. Once every key is at full depth, more writes add nothing. */
static void memory_per_entry_with_four_versions_of_history(void **state)
{
	struct ss_table *t = new_table_depth(4);

	(void)state;
	write_versions(t, 0, 5, 1);
	finish_resize(t);
	double per = memory_per_key(t, "depth 4, 5 writes each");
	assert_true(per <= 200.0);
	write_versions(t, 5, 8, 1);
	assert_true(memory_per_key(t, "depth 4, 8 writes each") <= per + 0.1);
	ss_table_free(t);

	/* A snapshot load writes each key's versions one after the other:
	 * each freed chunk is taken again by the next key, so the table
	 * holds about what it uses. */
	t = new_table_depth(4);
	char name[24], value[11];
	for (uint32_t i = 0; i < MEM_KEYS; i++) {
		key_of(name, i);
		for (unsigned k = 0; k < 5; k++) {
			uint64_t rev = (uint64_t)k * MEM_KEYS + i + 1;
			val_of(value, i + k);
			assert_int_equal(ss_table_set(t, name, 16, value, 10, 0, rev,
						      mem_commit_ms(rev, 1), 0),
					 0);
		}
	}
	finish_resize(t);
	assert_true(memory_per_key(t, "depth 4, 5 writes each, key by key") <= 106.0);
	ss_table_free(t);
}

/* ---- randomized, against a model ------------------------------------------ */

#define MODEL_KEYS 3000
#define MODEL_VMAX 3000

struct model_entry {
	int present;
	int64_t exp;
	uint64_t rev;
	int64_t commit_ms;
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
		assert_int_equal(e.rev, m[k].rev);
		assert_int_equal(e.commit_ms, m[k].commit_ms);
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
	/* Ten tables of 8k ops each. Each grows through six resizes, from 64
	 * to 4096 slots (the last starts near op 4500, at 1025 keys), while
	 * gets, dels and expiry run against it, a few hundred of them
	 * mid-resize; then it churns at its full size. */
	for (int round = 0; round < 10; round++) {
		struct ss_table *t = new_table();
		memset(m, 0, sizeof m);
		for (int op = 0; op < 8000; op++) {
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
				/* Any byte; a quarter are all digits, stored
				 * packed when 40 or fewer. */
				int digits = rnd(&seed) % 4 == 0;
				for (size_t i = 0; i < vlen; i++)
					value[i] = digits ? (char)('0' + rnd(&seed) % 10)
							  : (char)rnd(&seed);
				assert_int_equal(ss_table_set(t, name, nlen, value, vlen, exp,
							      (uint64_t)op, now, now),
						 0);
				m[k].present = 1;
				m[k].rev = (uint64_t)op;
				m[k].commit_ms = now;
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
					assert_int_equal(e.rev, m[k].rev);
					assert_int_equal(e.commit_ms, m[k].commit_ms);
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

/* ---- what an entry carries -------------------------------------------------- */

/* Sets name to value with rev and commit time and checks get and next
 * report exactly them. */
static void check_round_trip(struct ss_table *t, const char *name, size_t nlen, const char *value,
			     size_t vlen, uint64_t rev, int64_t ms)
{
	struct ss_entry e;

	assert_int_equal(ss_table_set(t, name, nlen, value, vlen, 0, rev, ms, 0), 0);
	assert_int_equal(ss_table_get(t, name, nlen, 0, &e), 1);
	assert_int_equal(e.nlen, nlen);
	assert_memory_equal(e.name, name, nlen);
	assert_int_equal(e.vlen, vlen);
	assert_memory_equal(e.value, value, vlen);
	assert_int_equal(e.rev, rev);
	assert_int_equal(e.commit_ms, ms);
	assert_int_equal(e.expire_ms, 0);
}

static void rev_and_commit_time_round_trip_at_any_size(void **state)
{
	/* Around each byte count of the revision and of the commit time's
	 * distance from the base (T0, the first commit the table sees), in
	 * both directions, and the extremes, where the difference from the
	 * base wraps. */
	const uint64_t revs[] = {0,          1,          255,        256,
				 (1u << 21) - 1, 1u << 21, (1u << 24) - 1, 1u << 24,
				 UINT32_MAX, (uint64_t)UINT32_MAX + 1, UINT64_MAX / 2 + 1,
				 UINT64_MAX - 1, UINT64_MAX};
	const int64_t mss[] = {T0,
			       T0 + 1,
			       T0 - 1,
			       T0 + (1 << 22),
			       T0 - (1 << 22) - 1,
			       T0 + (INT64_C(1) << 30),
			       T0 - (INT64_C(1) << 30),
			       T0 + INT64_C(86400000) * 365 * 30,
			       T0 - INT64_C(86400000) * 365 * 30,
			       0,
			       -1,
			       INT64_MIN,
			       INT64_MIN + 1,
			       INT64_MAX,
			       INT64_MAX - 1};
	const size_t nr = sizeof revs / sizeof revs[0], nm = sizeof mss / sizeof mss[0];
	struct ss_table *t = new_table();
	char name[32];

	(void)state;
	check_round_trip(t, "first", 5, "0000000042", 10, 7, T0);
	for (size_t i = 0; i < nr; i++) {
		for (size_t j = 0; j < nm; j++) {
			int len = snprintf(name, sizeof name, "k%zu-%zu", i, j);
			check_round_trip(t, name, (size_t)len, "0000000042", 10, revs[i], mss[j]);
			/* Over itself: the in-place rewrite and the move to
			 * a larger chunk both keep every field. */
			check_round_trip(t, name, (size_t)len, "0000000043", 10, revs[nr - 1 - i],
					 mss[nm - 1 - j]);
			check_round_trip(t, name, (size_t)len, "v", 1, revs[i], mss[j]);
		}
	}
	/* Big entries hold them as plain fields. */
	static char big[5000];
	memset(big, 'b', sizeof big);
	check_round_trip(t, "big", 3, big, sizeof big, UINT64_MAX, INT64_MIN);
	check_round_trip(t, "big", 3, big, sizeof big - 1, 0, INT64_MAX);
	/* And ss_table_next reports them too. */
	size_t cursor = 0, seen = 0;
	struct ss_entry e;
	while (ss_table_next(t, &cursor, &e)) {
		if (e.nlen == 3 && memcmp(e.name, "big", 3) == 0) {
			assert_int_equal(e.rev, 0);
			assert_int_equal(e.commit_ms, INT64_MAX);
		}
		if (e.nlen == 5 && memcmp(e.name, "first", 5) == 0) {
			assert_int_equal(e.rev, 7);
			assert_int_equal(e.commit_ms, T0);
		}
		seen++;
	}
	assert_int_equal(seen, ss_table_count(t));
	ss_table_free(t);
}

static void digit_values_keep_their_leading_zeros_and_length(void **state)
{
	static const char *const values[] = {
		"0", "7", "00", "09", "000", "0000000000", "0000000042", "4294967295",
		"1234567890123456789012345678901234567890",  /* 40: packed */
		"0000000000000000000000000000000000000000",  /* 40 zeros */
		"12345678901234567890123456789012345678901", /* 41: raw */
		"123456789012345678901234567890123456789",   /* 39 */
		"12a", "-1", " 1", "1 ", "1.5", "0x10", "/", ":", "+0",
	};
	struct ss_table *t = new_table_depth(2);
	struct ss_version v[3];
	char name[16];

	(void)state;
	for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
		int len = snprintf(name, sizeof name, "d%zu", i);
		check_round_trip(t, name, (size_t)len, values[i], strlen(values[i]), i + 1, T0);
	}
	/* Through every value in turn on one name: in place, to other sizes,
	 * and back out of the history. */
	for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
		check_round_trip(t, "one", 3, values[i], strlen(values[i]), 100 + i, T0);
		if (i < 2)
			continue;
		assert_int_equal(ss_table_history(t, "one", 3, 0, v, 3), 3);
		for (size_t k = 0; k < 3; k++) {
			assert_int_equal(v[k].rev, 100 + i - k);
			assert_int_equal(v[k].vlen, strlen(values[i - k]));
			assert_memory_equal(v[k].value, values[i - k], v[k].vlen);
		}
	}
	ss_table_free(t);
}

static void names_and_values_of_any_bytes_round_trip(void **state)
{
	const char n1[] = {'a', 0, 'b'};
	const char n2[] = {'a', 0, 'c'};
	const char n3[] = {0};
	const char n4[] = {'\n'};
	const char n5[] = {' ', ' '};
	const char n6[] = {(char)0xff, (char)0x80, 0, 0};
	const char v1[] = {0, 0, 0};
	const char v2[] = {'1', '\n', '2'};
	const char v3[] = {(char)0xff};
	const char v4[] = {'0', 0, '0'};
	const char v5[] = {' ', '4', '2', ' '};
	const char v6[] = {'4', '2', '\r', '\n'};
	const struct {
		const char *p;
		size_t n;
	} names[] = {{n1, 3}, {n2, 3}, {n3, 1}, {n4, 1}, {n5, 2}, {n6, 4}, {n6, 3}, {n6, 1}},
	  vals[] = {{v1, 3}, {v2, 3}, {v3, 1}, {v4, 3}, {v5, 4}, {v6, 4}, {v1, 1}, {v6, 2}};
	struct ss_table *t = new_table();
	struct ss_entry e;
	static char every[256 * 3];

	(void)state;
	for (size_t i = 0; i < 8; i++)
		check_round_trip(t, names[i].p, names[i].n, vals[i].p, vals[i].n, i + 1, T0 + 1);
	/* Each stays distinct from the others. */
	assert_int_equal(ss_table_count(t), 8);
	for (size_t i = 0; i < 8; i++) {
		assert_int_equal(ss_table_get(t, names[i].p, names[i].n, 0, &e), 1);
		assert_int_equal(e.vlen, vals[i].n);
		assert_memory_equal(e.value, vals[i].p, e.vlen);
	}
	/* Every byte value, in a chunk and in a big entry. */
	for (size_t i = 0; i < sizeof every; i++)
		every[i] = (char)(255 - i % 256);
	check_round_trip(t, every, 256, every + 256, 256, 9, T0);
	check_round_trip(t, every, 512, every, sizeof every, 10, T0);
	assert_int_equal(ss_table_count(t), 10);
	ss_table_free(t);
}

/* ---- history ------------------------------------------------------------------- */

/* The commit time set_version gives rev: T0 + 10 * rev, wrapping. */
static int64_t version_ms(uint64_t rev)
{
	return (int64_t)((uint64_t)T0 + 10 * rev);
}

/* Checks name's versions, newest first, against revs[0..n) with value
 * "v<rev>" and commit time version_ms(rev). */
static void check_versions(const struct ss_table *t, const char *name, int64_t now,
			   const uint64_t *revs, size_t n)
{
	struct ss_version v[16];
	char want[32];

	assert_true(n <= 15);
	size_t got = ss_table_history(t, name, strlen(name), now, v, 16);
	if (got != n)
		fail_msg("%s: %zu versions, want %zu", name, got, n);
	for (size_t k = 0; k < n; k++) {
		int len = snprintf(want, sizeof want, "v%llu", (unsigned long long)revs[k]);
		assert_int_equal(v[k].rev, revs[k]);
		assert_int_equal(v[k].commit_ms, version_ms(revs[k]));
		assert_int_equal(v[k].vlen, (size_t)len);
		assert_memory_equal(v[k].value, want, v[k].vlen);
	}
}

static void set_version(struct ss_table *t, const char *name, uint64_t rev, int64_t exp,
			int64_t now)
{
	char value[32];
	int len = snprintf(value, sizeof value, "v%llu", (unsigned long long)rev);
	assert_int_equal(ss_table_set(t, name, strlen(name), value, (size_t)len, exp, rev,
				      version_ms(rev), now),
			 0);
}

static void history_keeps_the_last_n_versions_newest_first(void **state)
{
	struct ss_table *t = new_table_depth(3);
	const uint64_t revs[] = {9, 7, 5, 3, 1};
	struct ss_version v[4];

	(void)state;
	assert_int_equal(ss_table_history(t, "a", 1, 0, v, 4), 0);
	set_version(t, "a", 1, 0, 0);
	check_versions(t, "a", 0, revs + 4, 1);
	set_version(t, "a", 3, 0, 0);
	check_versions(t, "a", 0, revs + 3, 2);
	set_version(t, "a", 5, 0, 0);
	set_version(t, "a", 7, 0, 0);
	check_versions(t, "a", 0, revs + 1, 4);
	set_version(t, "a", 9, 0, 0);
	check_versions(t, "a", 0, revs, 4);
	/* max bounds what is filled. */
	assert_int_equal(ss_table_history(t, "a", 1, 0, v, 2), 2);
	assert_int_equal(v[1].rev, 7);
	assert_int_equal(ss_table_history(t, "a", 1, 0, v, 0), 0);
	/* Revisions and times may go backwards (a replay may hand them so):
	 * the differences are signed. */
	set_version(t, "a", 2, 0, 0);
	const uint64_t back[] = {2, 9, 7, 5};
	check_versions(t, "a", 0, back, 4);
	set_version(t, "a", UINT64_MAX / 20, 0, 0);
	const uint64_t far[] = {UINT64_MAX / 20, 2, 9, 7};
	check_versions(t, "a", 0, far, 4);
	/* A get returns only the current version. */
	struct ss_entry e;
	assert_int_equal(get_str(t, "a", 0, &e), 1);
	assert_int_equal(e.rev, UINT64_MAX / 20);
	ss_table_free(t);
}

static void depth_zero_keeps_no_history(void **state)
{
	struct ss_table *t = new_table();
	const uint64_t revs[] = {3};

	(void)state;
	set_version(t, "a", 1, 0, 0);
	set_version(t, "a", 2, 0, 0);
	set_version(t, "a", 3, 0, 0);
	check_versions(t, "a", 0, revs, 1);
	assert_null(ss_table_new(SS_HISTORY_MAX + 1));
	assert_int_equal(errno, EINVAL);
	struct ss_table *deep = new_table_depth(SS_HISTORY_MAX);
	ss_table_free(deep);
	ss_table_free(t);
}

static void del_and_expiry_drop_the_history(void **state)
{
	struct ss_table *t = new_table_depth(3);
	const uint64_t one[] = {10}, two[] = {11, 10};
	size_t cursor = 0;

	(void)state;
	/* del */
	set_version(t, "a", 1, 0, 0);
	set_version(t, "a", 2, 0, 0);
	assert_int_equal(ss_table_del(t, "a", 1, 0), 1);
	assert_int_equal(ss_table_history(t, "a", 1, 0, NULL, 0), 0);
	set_version(t, "a", 10, 0, 0);
	check_versions(t, "a", 0, one, 1);

	/* Expiry seen by history (not removed: it is const), then by get. */
	set_version(t, "b", 1, 0, 0);
	set_version(t, "b", 2, 500, 0);
	const uint64_t b2[] = {2, 1};
	check_versions(t, "b", 499, b2, 2);
	assert_int_equal(ss_table_history(t, "b", 1, 500, NULL, 0), 0);
	struct ss_version v[4];
	assert_int_equal(ss_table_history(t, "b", 1, 500, v, 4), 0);
	assert_int_equal(ss_table_count(t), 2);
	assert_int_equal(get_str(t, "b", 500, NULL), 0);
	assert_int_equal(ss_table_count(t), 1);
	set_version(t, "b", 10, 0, 0);
	check_versions(t, "b", 0, one, 1);

	/* A set over an expired entry starts afresh. */
	set_version(t, "c", 1, 0, 0);
	set_version(t, "c", 2, 0, 0);
	set_version(t, "c", 3, 500, 0);
	set_version(t, "c", 10, 0, 500);
	check_versions(t, "c", 0, one, 1);
	set_version(t, "c", 11, 0, 600);
	check_versions(t, "c", 0, two, 2);

	/* expire_some. */
	set_version(t, "d", 1, 0, 0);
	set_version(t, "d", 2, 700, 0);
	while (ss_table_count(t) > 3)
		ss_table_expire_some(t, 700, 64, &cursor);
	assert_int_equal(get_str(t, "d", 0, NULL), 0);
	set_version(t, "d", 10, 0, 0);
	check_versions(t, "d", 0, one, 1);

	/* Only a live entry's version is pushed: overwriting an unexpired
	 * entry with an expiry keeps it, at any now before the deadline. */
	set_version(t, "e", 1, 800, 799);
	set_version(t, "e", 2, 0, 799);
	const uint64_t e2[] = {2, 1};
	check_versions(t, "e", 10000, e2, 2);
	ss_table_free(t);
}

static void big_values_move_through_the_history(void **state)
{
	static char val[4][SS_VALUE_MAX];
	struct ss_table *t = new_table_depth(3);
	struct ss_version v[4];
	const size_t sizes[] = {SS_VALUE_MAX, 1200, 40, SS_VALUE_MAX - 1};

	(void)state;
	for (int k = 0; k < 4; k++)
		for (size_t i = 0; i < SS_VALUE_MAX; i++)
			val[k][i] = (char)(i * (size_t)(k + 3));
	memcpy(val[2], "0123456789012345678901234567890123456789", 40);
	size_t base = ss_table_memory(t);
	for (int round = 0; round < 3; round++) {
		for (int k = 0; k < 4; k++)
			assert_int_equal(ss_table_set(t, "big", 3, val[k], sizes[k], 0,
						      (uint64_t)(round * 4 + k), T0 + k, 0),
					 0);
		assert_int_equal(ss_table_history(t, "big", 3, 0, v, 4), 4);
		for (int k = 0; k < 4; k++) {
			assert_int_equal(v[k].rev, (uint64_t)(round * 4 + 3 - k));
			assert_int_equal(v[k].commit_ms, T0 + 3 - k);
			assert_int_equal(v[k].vlen, sizes[3 - k]);
			assert_memory_equal(v[k].value, val[3 - k], v[k].vlen);
		}
	}
	/* The history's bytes are counted, and given back by a del. */
	size_t full = ss_table_memory(t);
	size_t held = (SS_VALUE_MAX - 1) + SS_VALUE_MAX + 1200 + 20; /* now, then 3 earlier */
	assert_true(full - base >= held);
	assert_int_equal(ss_table_del(t, "big", 3, 0), 1);
	assert_true(ss_table_memory(t) <= full - held);
	ss_table_free(t);
}

/* A set that fails leaves the history as it was. */
static void failed_set_leaves_the_history_unchanged(void **state)
{
	struct ss_table *t = new_table_depth(2);
	static const char dummy[1];
	const uint64_t revs[] = {3, 2, 1};

	(void)state;
	set_version(t, "a", 1, 0, 0);
	set_version(t, "a", 2, 0, 0);
	set_version(t, "a", 3, 0, 0);
	errno = 0;
	assert_int_equal(ss_table_set(t, "a", 1, dummy, SIZE_MAX - 8, 0, 4, T0, 0), -1);
	assert_int_equal(errno, ENOMEM);
	check_versions(t, "a", 0, revs, 3);
	assert_int_equal(ss_table_revision(t), 3);
	ss_table_free(t);
}

/* A model of 200 names at depth 3, including big values and expiry,
 * checked through ss_table_history after every operation on a name. */
#define HMODEL_KEYS 200
#define HMODEL_VMAX 1500

struct hmodel_version {
	uint64_t rev;
	int64_t ms;
	size_t vlen;
	char value[HMODEL_VMAX];
};

struct hmodel {
	int present;
	int64_t exp;
	size_t n; /* versions, current first */
	struct hmodel_version v[4];
};

static void hmodel_check(const struct ss_table *t, const char *name, size_t nlen,
			 const struct hmodel *m, int64_t now)
{
	struct ss_version v[5];
	int live = m->present && !(m->exp && now >= m->exp);
	size_t got = ss_table_history(t, name, nlen, now, v, 5);

	assert_int_equal(got, live ? m->n : 0);
	for (size_t k = 0; k < got; k++) {
		assert_int_equal(v[k].rev, m->v[k].rev);
		assert_int_equal(v[k].commit_ms, m->v[k].ms);
		assert_int_equal(v[k].vlen, m->v[k].vlen);
		assert_memory_equal(v[k].value, m->v[k].value, v[k].vlen);
	}
}

static void random_history_matches_a_model(void **state)
{
	static struct hmodel m[HMODEL_KEYS];
	char name[16];
	uint64_t seed = 0x415700e5u;
	int64_t now = T0;

	(void)state;
	memset(m, 0, sizeof m);
	struct ss_table *t = new_table_depth(3);
	for (int op = 0; op < 100000; op++) {
		uint32_t k = (uint32_t)(rnd(&seed) % HMODEL_KEYS);
		size_t nlen = (size_t)snprintf(name, sizeof name, "h%u", k);
		unsigned dice = (unsigned)(rnd(&seed) % 100);
		struct hmodel *e = &m[k];
		now += (int64_t)(rnd(&seed) % 5);
		int live = e->present && !(e->exp && now >= e->exp);
		if (dice < 70) {
			struct hmodel_version nv;
			unsigned r = (unsigned)(rnd(&seed) % 10);
			nv.vlen = r < 6 ? 1 + rnd(&seed) % 45 : 1 + rnd(&seed) % HMODEL_VMAX;
			for (size_t i = 0; i < nv.vlen; i++)
				nv.value[i] = r < 4 ? (char)('0' + rnd(&seed) % 10) : (char)rnd(&seed);
			nv.rev = rnd(&seed) % 8 ? (uint64_t)op : rnd(&seed);
			nv.ms = rnd(&seed) % 8 ? now : (int64_t)rnd(&seed);
			int64_t exp = rnd(&seed) % 4 ? 0 : now + 1 + (int64_t)(rnd(&seed) % 50);
			assert_int_equal(ss_table_set(t, name, nlen, nv.value, nv.vlen, exp, nv.rev,
						      nv.ms, now),
					 0);
			if (!live)
				e->n = 0;
			memmove(&e->v[1], &e->v[0], (e->n < 3 ? e->n : 3) * sizeof e->v[0]);
			e->v[0] = nv;
			e->n = e->n < 4 ? e->n + 1 : 4;
			e->present = 1;
			e->exp = exp;
		} else if (dice < 85) {
			assert_int_equal(ss_table_del(t, name, nlen, now), live);
			e->present = 0;
		} else if (dice < 95) {
			assert_int_equal(ss_table_get(t, name, nlen, now, NULL), live);
			e->present = live;
		}
		hmodel_check(t, name, nlen, e, now);
	}
	for (uint32_t k = 0; k < HMODEL_KEYS; k++) {
		size_t nlen = (size_t)snprintf(name, sizeof name, "h%u", k);
		hmodel_check(t, name, nlen, &m[k], now);
	}
	ss_table_free(t);
}

/* ---- the revision counter ------------------------------------------------------- */

static void revision_counter_only_goes_up(void **state)
{
	struct ss_table *t = new_table_depth(1);

	(void)state;
	assert_int_equal(ss_table_revision(t), 0);
	assert_int_equal(ss_table_set(t, "a", 1, "1", 1, 0, 5, T0, 0), 0);
	assert_int_equal(ss_table_revision(t), 5);
	assert_int_equal(ss_table_set(t, "b", 1, "1", 1, 0, 3, T0, 0), 0);
	assert_int_equal(ss_table_revision(t), 5);
	ss_table_note_revision(t, 4);
	assert_int_equal(ss_table_revision(t), 5);
	ss_table_note_revision(t, 9);
	assert_int_equal(ss_table_revision(t), 9);
	/* Removing the entries that raised it does not lower it. */
	assert_int_equal(ss_table_del(t, "a", 1, 0), 1);
	assert_int_equal(ss_table_del(t, "b", 1, 0), 1);
	assert_int_equal(ss_table_revision(t), 9);
	ss_table_note_revision(t, UINT64_MAX);
	assert_int_equal(ss_table_set(t, "a", 1, "1", 1, 0, 10, T0, 0), 0);
	assert_int_equal(ss_table_revision(t), UINT64_MAX);
	ss_table_free(t);
}

/* ---- replay's rule for compacted logs ------------------------------------------- */

/* ss_table_set_newer of name at rev, with value and expiry, at now. */
static int set_newer(struct ss_table *t, const char *name, uint64_t rev, const char *value,
		     int64_t exp, int64_t now)
{
	const struct ss_entry e = {.name = name, .nlen = strlen(name), .value = value,
				   .vlen = strlen(value), .expire_ms = exp, .rev = rev,
				   .commit_ms = version_ms(rev)};

	return ss_table_set_newer(t, &e, now);
}

/* A compacted log's snapshot may already hold a version its tail logs
 * again (snapshot.h): ss_table_set_newer leaves an entry - live or
 * expired - that holds the record's revision or a newer one as it is, and
 * is an ordinary set otherwise. The table's revision never goes down. (It
 * also rises to a skipped record's revision, but a table's revision is
 * never below one of its entries', so no skip can show that.) */
static void set_newer_applies_only_revisions_newer_than_the_entry(void **state)
{
	struct ss_table *t = new_table_depth(3);
	const uint64_t a5[] = {5, 3}, a7[] = {7, 5, 3}, b6[] = {6}, b8[] = {8}, c1[] = {1};
	struct ss_entry e;

	(void)state;
	set_version(t, "a", 3, 0, 0);
	set_version(t, "a", 5, 0, 0);
	set_version(t, "b", 6, 500, 0);
	/* A live entry: its own revision (with another value) and an older
	 * one are skipped. */
	assert_int_equal(set_newer(t, "a", 5, "other", 0, 0), 1);
	assert_int_equal(set_newer(t, "a", 4, "v4", 0, 0), 1);
	assert_int_equal(set_newer(t, "a", 1, "v1", 900, 0), 1);
	check_versions(t, "a", 0, a5, 2);
	assert_int_equal(get_str(t, "a", 0, &e), 1);
	assert_int_equal(e.expire_ms, 0);
	assert_int_equal(ss_table_revision(t), 6);
	/* A newer one is a set: it pushes the live version. */
	assert_int_equal(set_newer(t, "a", 7, "v7", 0, 0), 0);
	check_versions(t, "a", 0, a7, 3);
	assert_int_equal(ss_table_revision(t), 7);
	/* An expired entry still held (at 600): the same. */
	assert_int_equal(set_newer(t, "b", 6, "other", 0, 600), 1);
	assert_int_equal(set_newer(t, "b", 2, "v2", 0, 600), 1);
	assert_int_equal(ss_table_count(t), 2);
	check_versions(t, "b", 0, b6, 1);
	assert_int_equal(get_str(t, "b", 0, &e), 1);
	assert_int_equal(e.expire_ms, 500);
	assert_int_equal(ss_table_revision(t), 7);
	/* A newer one replaces it, starting afresh as a set over an
	 * expired entry does. */
	assert_int_equal(set_newer(t, "b", 8, "v8", 0, 600), 0);
	check_versions(t, "b", 600, b8, 1);
	assert_int_equal(ss_table_revision(t), 8);
	/* A missing name - never set, or deleted - takes any revision, one
	 * below the table's too, which stays where it is. */
	assert_int_equal(set_newer(t, "c", 1, "v1", 0, 0), 0);
	check_versions(t, "c", 0, c1, 1);
	assert_int_equal(ss_table_del(t, "a", 1, 0), 1);
	assert_int_equal(set_newer(t, "a", 1, "v1", 0, 0), 0);
	check_versions(t, "a", 0, c1, 1);
	assert_int_equal(ss_table_revision(t), 8);
	ss_table_free(t);
}

/* ---- scan ------------------------------------------------------------------------ */

/* Stable keys "s:<n>" are present for a whole iteration; churn keys
 * "c:<n>" come and go. */
#define SCAN_STABLE 1500
#define SCAN_STABLE_MAX 4096 /* the most any test makes */
#define SCAN_CHURN 60000

struct scan_seen {
	unsigned stable[SCAN_STABLE_MAX];
	uint32_t churn_made; /* churn keys c:0..churn_made-1 were ever set */
	const char *prefix;
	size_t plen;
	size_t calls;
	int stop_every; /* fn returns nonzero every this many calls, 0 never */
};

static int scan_collect(void *arg, const struct ss_entry *e)
{
	struct scan_seen *s = arg;

	if (s->plen && (e->nlen < s->plen || memcmp(e->name, s->prefix, s->plen) != 0))
		fail_msg("%.*s returned for prefix %.*s", (int)e->nlen, e->name, (int)s->plen,
			 s->prefix);
	assert_true(e->nlen > 2 && e->name[1] == ':');
	unsigned n = parse_num(e->name + 2, e->nlen - 2);
	if (e->name[0] == 's') {
		assert_true(n < SCAN_STABLE_MAX);
		assert_int_equal(e->vlen, 1);
		assert_int_equal(e->value[0], 's');
		s->stable[n]++;
	} else {
		assert_int_equal(e->name[0], 'c');
		assert_true(n < s->churn_made);
	}
	s->calls++;
	return s->stop_every && s->calls % (size_t)s->stop_every == 0;
}

static void churn_name(char name[16], size_t *len, uint32_t n)
{
	*len = (size_t)snprintf(name, 16, "c:%u", n);
}

/* Home buckets per cursor position for the scans below: the iterations
 * that check SCAN's guarantee run with single buckets (Redis's dictScan)
 * and with the listing's and the snapshot's blocks. */
static size_t scan_block = 1;
static const size_t scan_blocks[] = {1, SS_SCAN_BLOCK_LIST, SS_SCAN_BLOCK_SNAPSHOT, 64};

static struct ss_table *scan_table(unsigned stable)
{
	struct ss_table *t = new_table();
	char name[16];

	for (unsigned i = 0; i < stable; i++) {
		int len = snprintf(name, sizeof name, "s:%u", i);
		assert_int_equal(set_plain(t, name, (size_t)len, "s", 1, 0), 0);
	}
	return t;
}

static void scan_of_an_empty_table_returns_cursor_zero(void **state)
{
	struct ss_table *t = new_table();
	struct scan_seen s = {{0}, 0, NULL, 0, 0, 0};

	(void)state;
	assert_int_equal(ss_table_scan(t, 0, 1, 1000, NULL, 0, 0, scan_collect, &s), 0);
	assert_int_equal(s.calls, 0);
	/* One bucket at a time takes a full lap of the 64 buckets. */
	uint64_t c = 0;
	size_t steps = 0;
	do {
		c = ss_table_scan(t, c, 1, 1, NULL, 0, 0, scan_collect, &s);
		steps++;
	} while (c);
	assert_int_equal(steps, 64);
	/* Any cursor is safe: a bare position past the array is masked (63
	 * is the last); one issued for more blocks than there are starts
	 * over (the next is position 1). */
	const uint64_t pos = (UINT64_C(1) << SS_SCAN_POS_BITS) - 1;
	c = ss_table_scan(t, pos, 1, 1, NULL, 0, 0, scan_collect, &s);
	assert_int_equal(c, 0);
	c = ss_table_scan(t, UINT64_MAX, 1, 1, NULL, 0, 0, scan_collect, &s);
	assert_int_equal(c & pos, 1);
	c = ss_table_scan(t, 0xdeadbeef00000000u, 1, 0, NULL, 0, 0, scan_collect, &s);
	assert_int_equal(c & pos, 1);
	assert_true(c < UINT64_C(1) << (SS_SCAN_POS_BITS + 6));
	/* Blocks of 16 buckets: four positions; a block past the array's
	 * size is the whole array, one position; a block that is no power
	 * of two is the one below it. */
	for (size_t block = 16, want = 4; block <= 1024; block *= 64, want = 1) {
		c = 0;
		steps = 0;
		do {
			c = ss_table_scan(t, c, block, 1, NULL, 0, 0, scan_collect, &s);
			steps++;
		} while (c);
		assert_int_equal(steps, want);
	}
	c = 0;
	steps = 0;
	do {
		c = ss_table_scan(t, c, 31, 1, NULL, 0, 0, scan_collect, &s);
		steps++;
	} while (c);
	assert_int_equal(steps, 4);
	ss_table_free(t);
}

/* Runs one full iteration of t with `buckets` per call and checks each
 * stable key was returned exactly once. */
static void scan_still_once(const struct ss_table *t, unsigned stable, size_t buckets)
{
	static struct scan_seen s;
	uint64_t c = 0;

	memset(&s, 0, sizeof s);
	do
		c = ss_table_scan(t, c, scan_block, buckets, NULL, 0, 0, scan_collect, &s);
	while (c);
	for (unsigned i = 0; i < stable; i++)
		if (s.stable[i] != 1)
			fail_msg("s:%u returned %u times", i, s.stable[i]);
	assert_int_equal(s.calls, stable);
}

static void scan_of_a_still_table_returns_each_entry_once(void **state)
{
	char name[16];

	(void)state;
	struct ss_table *t = scan_table(SCAN_STABLE);
	finish_resize(t);
	for (size_t b = 0; b < sizeof scan_blocks / sizeof scan_blocks[0]; b++) {
		scan_block = scan_blocks[b];
		scan_still_once(t, SCAN_STABLE, 1);
		scan_still_once(t, SCAN_STABLE, 7 * scan_block);
		scan_still_once(t, SCAN_STABLE, SIZE_MAX);
	}
	ss_table_free(t);
	/* Frozen in the middle of a resize, with tombstones in the old
	 * array: the scan, being const, does not move it on. */
	for (unsigned extra = 0; extra < 40; extra += 13) {
		unsigned n = 0;
		t = new_table();
		for (; n < 2000 || !ss_table_resizing(t); n++) {
			assert_true(n < SCAN_STABLE_MAX);
			int len = snprintf(name, sizeof name, "s:%u", n);
			assert_int_equal(set_plain(t, name, (size_t)len, "s", 1, 0), 0);
		}
		for (unsigned i = 0; i < extra; i++) {
			int len = snprintf(name, sizeof name, "s:%u", --n);
			assert_int_equal(ss_table_del(t, name, (size_t)len, 0), 1);
		}
		assert_true(ss_table_resizing(t));
		for (size_t b = 0; b < sizeof scan_blocks / sizeof scan_blocks[0]; b++) {
			scan_block = scan_blocks[b];
			scan_still_once(t, n, 1);
			scan_still_once(t, n, 3 * scan_block);
		}
		assert_true(ss_table_resizing(t));
		ss_table_free(t);
	}
	scan_block = 1;
}

/* One iteration over a table holding `stable` keys, with churn between
 * calls; returns how many calls found the table resizing. */
static size_t scan_with_churn(struct ss_table *t, struct scan_seen *s, uint64_t *seed,
			      unsigned burst)
{
	static unsigned char live[SCAN_CHURN];
	char name[16];
	size_t len, resizing_calls = 0, calls = 0;
	uint64_t c = 0;

	memset(live, 0, sizeof live);
	do {
		size_t buckets = scan_block * (1 + rnd(seed) % 4);
		c = ss_table_scan(t, c, scan_block, buckets, s->prefix, s->plen, 0, scan_collect, s);
		resizing_calls += (size_t)ss_table_resizing(t);
		calls++;
		/* Now and then a burst of inserts, to force a resize (as often
		 * in a lap however many calls the block size makes it). */
		unsigned adds = calls % (97 / scan_block + 1) == 0 ? burst : (unsigned)(rnd(seed) % 3);
		for (unsigned k = 0; k < adds && s->churn_made < SCAN_CHURN; k++) {
			uint32_t n = s->churn_made++;
			churn_name(name, &len, n);
			assert_int_equal(set_plain(t, name, len, "c", 1, 0), 0);
			live[n] = 1;
		}
		for (unsigned k = (unsigned)(rnd(seed) % 3); k && s->churn_made; k--) {
			uint32_t n = (uint32_t)(rnd(seed) % s->churn_made);
			churn_name(name, &len, n);
			assert_int_equal(ss_table_del(t, name, len, 0), live[n]);
			live[n] = 0;
		}
	} while (c);
	return resizing_calls;
}

static void scan_returns_every_stable_key_across_churn_and_resizes(void **state)
{
	static struct scan_seen s;
	uint64_t seed = 0x5ca75ca7u;

	(void)state;
	for (int round = 0; round < 8; round++) {
		struct ss_table *t = scan_table(SCAN_STABLE);
		size_t cap_before = ss_table_memory(t);
		scan_block = scan_blocks[round % 4];
		memset(&s, 0, sizeof s);
		s.stop_every = round & 1 ? 5 : 0;
		size_t resizing_calls = scan_with_churn(t, &s, &seed, 300);
		for (unsigned i = 0; i < SCAN_STABLE; i++)
			if (!s.stable[i])
				fail_msg("round %d: s:%u never returned", round, i);
		/* The iteration met the table resizing, and it grew. */
		assert_true(resizing_calls > 0);
		assert_true(ss_table_memory(t) > cap_before);
		ss_table_free(t);
	}
	scan_block = 1;
}

static void scan_with_a_prefix_returns_only_and_all_matching_keys(void **state)
{
	static struct scan_seen s;
	static const char *const prefixes[] = {"s:1", "s:14", "s:", "c:", "s:1499", "x", "s:14999"};
	uint64_t seed = 0x9e3779b9u;

	(void)state;
	for (size_t p = 0; p < sizeof prefixes / sizeof prefixes[0]; p++) {
		struct ss_table *t = scan_table(SCAN_STABLE);
		memset(&s, 0, sizeof s);
		s.prefix = prefixes[p];
		s.plen = strlen(prefixes[p]);
		scan_block = scan_blocks[p % 4];
		scan_with_churn(t, &s, &seed, 200);
		for (unsigned i = 0; i < SCAN_STABLE; i++) {
			char name[16];
			snprintf(name, sizeof name, "s:%u", i);
			int match = strncmp(name, s.prefix, s.plen) == 0;
			if (!s.stable[i] != !match)
				fail_msg("prefix %s: %s returned %u times", s.prefix, name, s.stable[i]);
		}
		ss_table_free(t);
	}
	scan_block = 1;
}

static int count_entries(void *arg, const struct ss_entry *e)
{
	(void)e;
	++*(size_t *)arg;
	return 0;
}

/* A listing that spans a restart: the table rebuilt from the same entries
 * is smaller (it held more before deletions), so the blocks not yet
 * visited may sit anywhere in it; the cursor from the larger table must
 * still lead to every entry. */
static void scan_cursor_from_a_larger_table_still_returns_every_entry(void **state)
{
	static struct scan_seen s;
	struct ss_table *big = scan_table(SCAN_STABLE), *small = new_table();
	char name[16];

	(void)state;
	/* The big table was grown by names since deleted. */
	for (unsigned i = 0; i < 4 * SCAN_STABLE; i++) {
		int len = snprintf(name, sizeof name, "gone:%u", i);
		assert_int_equal(set_plain(big, name, (size_t)len, "g", 1, 0), 0);
	}
	for (unsigned i = 0; i < 4 * SCAN_STABLE; i++) {
		int len = snprintf(name, sizeof name, "gone:%u", i);
		assert_int_equal(ss_table_del(big, name, (size_t)len, 0), 1);
	}
	finish_resize(big);
	for (unsigned i = 0; i < SCAN_STABLE; i++) {
		int len = snprintf(name, sizeof name, "s:%u", i);
		assert_int_equal(set_plain(small, name, (size_t)len, "s", 1, 0), 0);
	}
	finish_resize(small);
	assert_true(ss_table_memory(small) < ss_table_memory(big));
	/* Half of the big table's blocks, then the rest from the small one. */
	memset(&s, 0, sizeof s);
	uint64_t c = 0;
	for (int i = 0; i < 8; i++)
		c = ss_table_scan(big, c, SS_SCAN_BLOCK_LIST, SS_SCAN_BLOCK_LIST, NULL, 0, 0,
				  scan_collect, &s);
	assert_true(c != 0);
	while (c)
		c = ss_table_scan(small, c, SS_SCAN_BLOCK_LIST, SS_SCAN_BLOCK_LIST, NULL, 0, 0,
				  scan_collect, &s);
	for (unsigned i = 0; i < SCAN_STABLE; i++)
		if (!s.stable[i])
			fail_msg("s:%u never returned across the smaller table", i);
	ss_table_free(big);
	ss_table_free(small);
}

/* The compaction's block: the most buckets whose entries hold about the
 * bytes asked for, a power of two within the cap. */
static void scan_block_for_follows_the_entries_size(void **state)
{
	struct ss_table *small = scan_table(2000), *large = new_table();
	static char value[SS_VALUE_MAX];
	char name[16];

	(void)state;
	memset(value, 'v', sizeof value);
	for (unsigned i = 0; i < 64; i++) {
		int len = snprintf(name, sizeof name, "l:%u", i);
		assert_int_equal(set_plain(large, name, (size_t)len, value, sizeof value, 0), 0);
	}
	/* Small entries: the cap; 64 KB values: one bucket per position,
	 * since two buckets hold one such value on average. */
	assert_int_equal(ss_table_scan_block_for(small, 64 * 1024, 256), 256);
	assert_int_equal(ss_table_scan_block_for(small, 64 * 1024, 16), 16);
	size_t b = ss_table_scan_block_for(large, 64 * 1024, 256);
	assert_true(b >= 1 && b <= 2);
	assert_int_equal(b & (b - 1), 0);
	/* The whole array (128 buckets) holds 4 MB and a little: asking for
	 * 5 MB gives all of it, and asking for less than 4 MB, half. */
	assert_int_equal(ss_table_scan_block_for(large, 5 << 20, 256), 128);
	assert_int_equal(ss_table_scan_block_for(large, 4 << 20, 256), 64);
	ss_table_free(small);
	ss_table_free(large);
}

static void scan_skips_expired_entries_and_leaves_them(void **state)
{
	struct ss_table *t = new_table();
	size_t n = 0;

	(void)state;
	set_str(t, "live", "1", 0);
	set_str(t, "later", "1", 1000);
	set_str(t, "gone", "1", 500);
	assert_int_equal(ss_table_scan(t, 0, 1, SIZE_MAX, NULL, 0, 499, count_entries, &n), 0);
	assert_int_equal(n, 3);
	n = 0;
	assert_int_equal(ss_table_scan(t, 0, 1, SIZE_MAX, NULL, 0, 500, count_entries, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(ss_table_count(t), 3);
	n = 0;
	assert_int_equal(ss_table_scan(t, 0, 1, SIZE_MAX, "l", 1, 1000, count_entries, &n), 0);
	assert_int_equal(n, 1);
	ss_table_free(t);
}

/* The epoch history: sorted by epoch whatever the order noted, a repeated
 * epoch ignored (its first rev kept), the revision counter untouched. */
static void epoch_history_is_sorted_and_ignores_repeats(void **state)
{
	struct ss_table *t = new_table();
	const struct ss_epoch *ep;

	(void)state;
	assert_int_equal(ss_table_epoch(t), 0);
	assert_int_equal(ss_table_epochs(t, &ep), 0);
	assert_int_equal(ss_table_note_epoch(t, 2, 10), 0);
	assert_int_equal(ss_table_note_epoch(t, 5, 40), 0);
	assert_int_equal(ss_table_note_epoch(t, 1, 0), 0);
	assert_int_equal(ss_table_note_epoch(t, 5, 99), 0); /* a repeat: ignored */
	assert_int_equal(ss_table_note_epoch(t, 3, 20), 0);
	for (uint64_t e = 6; e < 20; e++) /* past the first allocation */
		assert_int_equal(ss_table_note_epoch(t, e, 40 + e), 0);
	assert_int_equal(ss_table_note_epoch(t, 2, 11), 0);
	assert_int_equal(ss_table_epoch(t), 19);
	assert_int_equal(ss_table_epochs(t, &ep), 18);
	assert_true(ep[0].epoch == 1 && ep[0].rev == 0);
	assert_true(ep[1].epoch == 2 && ep[1].rev == 10);
	assert_true(ep[2].epoch == 3 && ep[2].rev == 20);
	assert_true(ep[3].epoch == 5 && ep[3].rev == 40);
	assert_true(ep[4].epoch == 6 && ep[4].rev == 46);
	for (size_t i = 1; i < 18; i++)
		assert_true(ep[i - 1].epoch < ep[i].epoch);
	assert_int_equal(ss_table_revision(t), 0);
	ss_table_free(t);
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
		cmocka_unit_test(every_key_survives_an_incremental_resize_with_deletes),
		cmocka_unit_test(lookups_follow_clusters_that_wrap_the_old_array),
		cmocka_unit_test(max_size_name_and_value_round_trip),
		cmocka_unit_test(failed_set_leaves_the_table_unchanged),
		cmocka_unit_test(memory_per_entry_of_small_entries),
		cmocka_unit_test(memory_per_entry_with_four_versions_of_history),
		cmocka_unit_test(random_ops_match_a_model),
		cmocka_unit_test(rev_and_commit_time_round_trip_at_any_size),
		cmocka_unit_test(digit_values_keep_their_leading_zeros_and_length),
		cmocka_unit_test(names_and_values_of_any_bytes_round_trip),
		cmocka_unit_test(history_keeps_the_last_n_versions_newest_first),
		cmocka_unit_test(depth_zero_keeps_no_history),
		cmocka_unit_test(del_and_expiry_drop_the_history),
		cmocka_unit_test(big_values_move_through_the_history),
		cmocka_unit_test(failed_set_leaves_the_history_unchanged),
		cmocka_unit_test(random_history_matches_a_model),
		cmocka_unit_test(revision_counter_only_goes_up),
		cmocka_unit_test(epoch_history_is_sorted_and_ignores_repeats),
		cmocka_unit_test(set_newer_applies_only_revisions_newer_than_the_entry),
		cmocka_unit_test(scan_of_an_empty_table_returns_cursor_zero),
		cmocka_unit_test(scan_of_a_still_table_returns_each_entry_once),
		cmocka_unit_test(scan_returns_every_stable_key_across_churn_and_resizes),
		cmocka_unit_test(scan_with_a_prefix_returns_only_and_all_matching_keys),
		cmocka_unit_test(scan_skips_expired_entries_and_leaves_them),
		cmocka_unit_test(scan_block_for_follows_the_entries_size),
		cmocka_unit_test(scan_cursor_from_a_larger_table_still_returns_every_entry),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

