/*
 * test_snapshot.c - a snapshot walked while commits go on, followed by its
 * tail, replays to exactly the state the live store ended in.
 *
 * Since COMPACT stopped forking, the server walks the live table in steps
 * (ss_table_scan) and commits between them, so the snapshot is fuzzy: an
 * entry changed during the walk may be written as it was before the
 * change, after it, or twice. The compacted log is that snapshot followed
 * by every batch logged since the walk began (the tail), and replay makes
 * it exact by skipping a SET whose name already holds its revision or a
 * newer one (ss_table_set_newer, snapshot.h).
 *
 * The property test runs that compaction in this thread, as compactor.c
 * orders it, under random commits between the steps: overwrites, deletes,
 * re-creations, TTLs (some already expired when committed, some running
 * out during the walk), background expiry, a batch in flight when the walk
 * begins, and enough new names that the table doubles during the walk. The
 * reopened store must equal the live one entry by entry - value, expiry,
 * revision, commit time, every version of the history - and in the
 * store's revision. The negative control replays the same log with and
 * without the rule: with it, it gives the live state (so it replays as the
 * engine does); the rule fires on records of the tail (so the tail really
 * overlaps the snapshot); and without it, at history depth 3, the state
 * differs. (At depth 0 the overlap happens to be harmless to the end state:
 * the tail's last record of a name is newer than anything the snapshot
 * holds of it and wins; what a skip protects there is the history.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "statestored/record.h"
#include "statestored/snapshot.h"
#include "sstest.h"

#define NOW0 INT64_C(1700000000000)
/* Entries before the walk: the table then has 2048 buckets - several
 * cursor positions even of the snapshot's blocks (SS_SCAN_BLOCK_SNAPSHOT)
 * - and doubles at its 1025th entry, which the walk's commits reach. */
#define FILL 1020
/* Commits between the walk's steps stop after this many, so that the test
 * stays fast however small the walk's steps are. */
#define WALK_COMMITS_MAX 150
#define VALUE_MAX 300

struct prop {
	struct ss_store *s;
	struct ss_batch b;
	uint64_t rng;
	int64_t now;
	unsigned names;     /* names "pipeline-0".. made so far */
	size_t expire_cursor;
	unsigned recreated; /* SETs of a name that had been deleted or had expired */
	unsigned expired_at_commit;
};

static uint32_t below(struct prop *p, uint32_t n)
{
	/* splitmix64: deterministic per seed on every platform. */
	uint64_t z = (p->rng += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return (uint32_t)((z ^ (z >> 31)) % n);
}

/* What one random mutation does: a SET of a new name, or to a name made
 * before (which may be deleted or expired by then: a re-creation) a DEL, a
 * SET already expired when committed (a DEL, in effect), one whose TTL
 * runs out during the walk, one with a far TTL, or a plain overwrite. */
enum kind { NEW, DEL, EXPIRED, SHORT_TTL, FAR_TTL, OVERWRITE };

static enum kind pick(struct prop *p, uint32_t new_pct)
{
	uint32_t x;

	if (p->names == 0 || below(p, 100) < new_pct)
		return NEW;
	x = below(p, 100);
	return x < 25 ? DEL : x < 40 ? EXPIRED : x < 55 ? SHORT_TTL : x < 62 ? FAR_TTL : OVERWRITE;
}

/* Fills p->b with a batch of n random mutations (new_pct percent of them
 * of new names), each with the next revision and the clock as its commit
 * time. Values are letters, or digits (which the table packs); one in ten
 * is VALUE_MAX bytes long. */
static void build_batch(struct prop *p, unsigned n, uint32_t new_pct)
{
	uint64_t rev = ss_table_revision(ss_store_table(p->s));
	char name[32], value[VALUE_MAX];

	ss_batch_reset(&p->b);
	for (unsigned k = 0; k < n; k++) {
		struct ss_record r = {.type = SS_REC_SET, .name = name, .value = value,
				      .rev = ++rev, .commit_ms = p->now};
		enum kind kind = pick(p, new_pct);
		uint32_t idx = kind == NEW ? p->names++ : below(p, p->names);
		int digits = below(p, 4) == 0;
		struct ss_version v;

		r.nlen = (size_t)snprintf(name, sizeof(name), "pipeline-%u", idx);
		r.vlen = below(p, 10) == 0 ? VALUE_MAX : 1 + below(p, 40);
		for (size_t i = 0; i < r.vlen; i++)
			value[i] = digits ? (char)('0' + below(p, 10)) : (char)('a' + below(p, 26));
		if (kind == DEL)
			r = (struct ss_record){.type = SS_REC_DEL, .name = name, .nlen = r.nlen,
					       .rev = r.rev, .commit_ms = r.commit_ms};
		else if (kind == EXPIRED)
			r.expire_ms = p->now - below(p, 3);
		else if (kind == SHORT_TTL)
			r.expire_ms = p->now + 1 + below(p, 40);
		else if (kind == FAR_TTL)
			r.expire_ms = p->now + 1000000;
		p->expired_at_commit += kind == EXPIRED;
		if (kind != NEW && kind != DEL &&
		    ss_table_history(ss_store_table(p->s), name, r.nlen, p->now, &v, 1) == 0)
			p->recreated++;
		assert_int_equal(ss_batch_add(&p->b, &r, NULL), 0);
	}
}

/* One random commit through the whole commit path, then the clock moves
 * on 0-2 ms, and sometimes the background expiry runs, as the server's
 * timer would. */
static void commit_random(struct prop *p)
{
	build_batch(p, 1 + below(p, 4), 60);
	assert_int_equal(sstest_commit(p->s, &p->b, p->now, NULL), 0);
	p->now += below(p, 3);
	if (below(p, 4) == 0)
		(void)ss_table_expire_some(ss_store_table(p->s), p->now, 16, &p->expire_cursor);
}

static void commits(struct prop *p, unsigned n)
{
	while (n-- > 0)
		commit_random(p);
}

/* What replaying a log record by record left: the table, and how many
 * SETs the rule skipped in the snapshot (bytes before snap_len) and in the
 * tail. */
struct replayed {
	struct ss_table *t;
	unsigned skipped_snapshot, skipped_tail;
};

/* Applies r as store.c's apply_record does, with or without its rule
 * (ss_table_set_newer or plain ss_table_set). Returns 1 if the rule
 * skipped it. */
static int apply_one(struct ss_table *t, const struct ss_record *r, int64_t now, int rule)
{
	int64_t at = r->commit_ms > 0 && r->commit_ms < now ? r->commit_ms : now;

	ss_table_note_revision(t, r->rev);
	if (r->type == SS_REC_REV)
		return 0;
	assert_int_equal(r->esc, 0); /* the names and values made here need none */
	if (r->type == SS_REC_DEL || (r->expire_ms != 0 && r->expire_ms <= at)) {
		(void)ss_table_del(t, r->name, r->nlen, at);
		return 0;
	}
	if (!rule) {
		assert_int_equal(ss_table_set(t, r->name, r->nlen, r->value, r->vlen, r->expire_ms,
					      r->rev, r->commit_ms, at),
				 0);
		return 0;
	}
	const struct ss_entry e = {.name = r->name, .nlen = r->nlen, .value = r->value,
				   .vlen = r->vlen, .expire_ms = r->expire_ms, .rev = r->rev,
				   .commit_ms = r->commit_ms};
	int rc = ss_table_set_newer(t, &e, at);
	assert_true(rc == 0 || rc == 1);
	return rc;
}

/* Replays the log at path (header, then groups) into a new table of the
 * given depth at now. */
static struct replayed replay_file(const char *path, unsigned depth, int64_t now, int rule,
				   uint64_t snap_len)
{
	struct replayed out = {ss_table_new(depth), 0, 0};
	size_t len, pos = strlen(SS_LOG_HEADER), used;
	char *buf = sstest_read_file(path, &len);
	struct ss_record g, r;

	assert_non_null(out.t);
	assert_non_null(buf);
	assert_memory_equal(buf, SS_LOG_HEADER, pos);
	while (pos < len) {
		assert_int_equal(ss_record_decode(buf + pos, len - pos, &g, &used), SS_DEC_OK);
		assert_int_equal(g.type, SS_REC_GROUP);
		pos += used;
		for (uint32_t k = 0; k < g.count; k++) {
			int in_snapshot = pos < snap_len;

			assert_int_equal(ss_record_decode(buf + pos, len - pos, &r, &used),
					 SS_DEC_OK);
			if (apply_one(out.t, &r, now, rule)) {
				if (in_snapshot)
					out.skipped_snapshot++;
				else
					out.skipped_tail++;
			}
			pos += used;
		}
	}
	free(buf);
	return out;
}

/* Fails naming the first line where two sstest_dump_full dumps differ. */
static void assert_dumps_equal(const char *got, const char *want, const char *what)
{
	size_t i = 0, line = 1, start = 0;

	if (strcmp(got, want) == 0)
		return;
	for (; got[i] && got[i] == want[i]; i++) {
		if (got[i] == '\n') {
			line++;
			start = i + 1;
		}
	}
	fail_msg("%s: line %zu differs:\n  got:  %.200s\n  want: %.200s", what, line,
		 got + start, want + start);
}

/* One run: fill, compact with commits between the walk's steps, during a
 * catch-up round and before the finish, then compare. */
static void run_property(const char *dir, const char *log, unsigned depth, uint64_t seed)
{
	struct prop p = {.rng = seed, .now = NOW0};
	struct sstest_walk w;
	struct ss_compact_job job;
	struct ss_table *t;
	struct ss_open_report rep;
	uint64_t snap_len;
	size_t inflight;
	unsigned steps, steps_resizing, walk_commits;
	char *live, *got;
	int more;

	sstest_rmdir(dir);
	p.s = sstest_open_history(dir, NULL, 0, depth, p.now, NULL);
	t = ss_store_table(p.s);
	ss_batch_init(&p.b);
	/* Batches of at most what is left to FILL: a mutation adds one
	 * entry at most, so the count stops at FILL exactly. */
	while (ss_table_count(t) < FILL) {
		size_t left = FILL - ss_table_count(t);

		build_batch(&p, left > 200 ? 200 : (unsigned)left, 60);
		assert_int_equal(sstest_commit(p.s, &p.b, p.now, NULL), 0);
		p.now += below(&p, 3);
	}
	assert_int_equal(ss_table_count(t), FILL);
	assert_false(ss_table_resizing(t));

	/* A batch written as the walk begins, its sync in flight: the tail
	 * has it, and the walk may find it applied. */
	build_batch(&p, 1 + below(&p, 4), 35);
	assert_int_equal(ss_store_write(p.s, &p.b, NULL), 0);
	(void)ss_batch_seal(&p.b, &inflight);
	sstest_walk_begin(&w, p.s, inflight, p.now, NULL);
	more = sstest_walk_step(&w, 1 + below(&p, 8));
	assert_int_equal(ss_store_sync(p.s, NULL), 0);
	assert_int_equal(ss_store_apply(p.s, &p.b, p.now), 0);
	for (unsigned n = 0; more; n += walk_commits) {
		walk_commits = n < WALK_COMMITS_MAX ? 1 + below(&p, 4) : 0;
		commits(&p, walk_commits);
		more = sstest_walk_step(&w, 1 + below(&p, 8));
	}
	/* The walk crossed a resize: some steps began while entries were
	 * moving to the doubled array. */
	assert_true(w.steps_resizing > 0);
	steps = w.steps;
	steps_resizing = w.steps_resizing;
	snap_len = sstest_walk_end(&w);

	/* The catch-up as compactor.c runs it: a round, with commits while
	 * its job copies; then the finish copies what they left. */
	commits(&p, 3);
	assert_int_equal(ss_store_compact_round(p.s, 0, &job, NULL), 1);
	commits(&p, 3);
	ss_compact_job_run(&job);
	assert_int_equal(job.errnum, 0);
	assert_int_equal(ss_store_compact_round_end(p.s, &job, NULL), 0);
	commits(&p, 2);
	assert_int_equal(ss_store_compact_round(p.s, UINT64_MAX, &job, NULL), 0);
	assert_int_equal(ss_store_compact_finish(p.s, NULL), 0);
	assert_true(p.recreated > 0 && p.expired_at_commit > 0);

	live = sstest_dump_full(t, p.now);
	ss_store_close(p.s);
	p.s = sstest_open_history(dir, NULL, 0, depth, p.now, &rep);
	assert_int_equal(rep.torn_bytes, 0);
	got = sstest_dump_full(ss_store_table(p.s), p.now);
	assert_dumps_equal(got, live, "the reopened store");
	free(got);
	ss_store_close(p.s);

	/* The negative control, on the same compacted log. */
	struct replayed with = replay_file(log, depth, p.now, 1, snap_len);
	struct replayed without = replay_file(log, depth, p.now, 0, snap_len);

	got = sstest_dump_full(with.t, p.now);
	assert_dumps_equal(got, live, "a replay with the rule");
	free(got);
	if (with.skipped_tail == 0)
		fail_msg("depth %u, seed %llu: no record of the tail overlapped the snapshot",
			 depth, (unsigned long long)seed);
	if (depth > 0) {
		got = sstest_dump_full(without.t, p.now);
		if (strcmp(got, live) == 0)
			fail_msg("depth %u, seed %llu: a replay without the rule gave the live "
				 "state too",
				 depth, (unsigned long long)seed);
		free(got);
	}
	printf("depth %u seed %llu: %u steps, %u while resizing, %u re-creations; the rule "
	       "skipped %u SETs of the tail, %u of the snapshot\n",
	       depth, (unsigned long long)seed, steps, steps_resizing, p.recreated,
	       with.skipped_tail, with.skipped_snapshot);
	ss_table_free(with.t);
	ss_table_free(without.t);
	ss_batch_free(&p.b);
	free(live);
}

static void test_a_snapshot_walked_under_commits_replays_exactly(void **state)
{
	struct sstest_fixture *fx = *state;
	const uint64_t seeds[] = {1, 2, 3};

	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		run_property(fx->dir, fx->log, 0, seeds[i]);
		run_property(fx->dir, fx->log, 3, seeds[i]);
	}
}

/* The records of the log at path, in order (GROUP lines left out). */
static size_t log_records(const char *path, struct ss_record *out, size_t max, char **buf)
{
	size_t len, pos = strlen(SS_LOG_HEADER), used, n = 0;
	struct ss_record g;

	*buf = sstest_read_file(path, &len);
	assert_non_null(*buf);
	while (pos < len) {
		assert_int_equal(ss_record_decode(*buf + pos, len - pos, &g, &used), SS_DEC_OK);
		assert_int_equal(g.type, SS_REC_GROUP);
		pos += used;
		for (uint32_t k = 0; k < g.count; k++, pos += used) {
			assert_true(n < max);
			assert_int_equal(ss_record_decode(*buf + pos, len - pos, &out[n++], &used),
					 SS_DEC_OK);
		}
	}
	return n;
}

/* A compaction writes every epoch of the table right after its REVISION
 * record, oldest first, and the compacted log replays to the same history;
 * a store promoted before any write (revision 0, no REVISION record) keeps
 * its epoch too. */
static void test_a_snapshot_keeps_every_epoch_after_its_revision(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_error err = {0};
	struct ss_record r[16];
	struct ss_store *s = sstest_open_history(fx->dir, NULL, 0, 2, NOW0, NULL);
	char *before, *after, *buf;
	size_t n;

	assert_int_equal(sstest_epoch(s, 1, 0, NOW0, NULL), 0);
	assert_int_equal(ss_store_compact(s, NOW0, &err), 0);
	n = log_records(fx->log, r, 16, &buf);
	assert_int_equal(n, 1);
	assert_int_equal(r[0].type, SS_REC_EPOCH);
	assert_true(r[0].epoch == 1 && r[0].rev == 0);
	free(buf);
	ss_store_close(s);
	s = sstest_open_history(fx->dir, NULL, 0, 2, NOW0, NULL);
	assert_int_equal(ss_table_revision(ss_store_table(s)), 0);
	assert_int_equal(ss_table_epoch(ss_store_table(s)), 1);

	assert_int_equal(sstest_set(s, "a", "1", 0, NOW0, NULL), 0);
	assert_int_equal(sstest_epoch(s, 2, 1, NOW0, NULL), 0);
	assert_int_equal(sstest_set(s, "a", "2", 0, NOW0 + 1, NULL), 0);
	assert_int_equal(sstest_set(s, "gone", "2", 0, NOW0 + 1, NULL), 0);
	assert_int_equal(sstest_del(s, "gone", NOW0 + 1, NULL), 0);
	assert_int_equal(sstest_epoch(s, 3, 4, NOW0 + 1, NULL), 0);
	before = sstest_dump_full(ss_store_table(s), NOW0 + 2);
	assert_int_equal(ss_store_compact(s, NOW0 + 2, &err), 0);
	n = log_records(fx->log, r, 16, &buf);
	assert_int_equal(n, 6); /* REVISION, three EPOCHs, a's two versions */
	assert_int_equal(r[0].type, SS_REC_REV);
	assert_true(r[0].rev == 4);
	for (size_t i = 1; i <= 3; i++) {
		assert_int_equal(r[i].type, SS_REC_EPOCH);
		assert_true(r[i].epoch == i);
	}
	assert_true(r[1].rev == 0 && r[2].rev == 1 && r[3].rev == 4);
	free(buf);
	ss_store_close(s);
	s = sstest_open_history(fx->dir, NULL, 0, 2, NOW0 + 2, NULL);
	after = sstest_dump_full(ss_store_table(s), NOW0 + 2);
	assert_string_equal(after, before);
	assert_non_null(strstr(after, "epochs 1@0 2@1 3@4\n"));
	ss_store_close(s);
	free(before);
	free(after);
}

/* A walk that commits saw (a fuzzy snapshot) ends with a second REVISION
 * record, the revision as the walk ended; one that saw none does not. A
 * cut of the compacted log below that revision is refused (the walk may
 * hold versions up to it), at it is allowed. */
static void test_a_walk_under_commits_ends_with_the_revision_it_reached(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_store_options opt = {.dir = fx->dir, .truncate = 1};
	struct ss_open_report rep;
	struct ss_error err = {0};
	struct sstest_walk w;
	struct ss_record r[16];
	struct ss_store *s = sstest_open(fx->dir, NULL, 0, NOW0, NULL);
	uint64_t snap_len;
	size_t n;
	char *buf;

	assert_int_equal(sstest_set(s, "a", "1", 0, NOW0, NULL), 0);
	assert_int_equal(sstest_set(s, "b", "1", 0, NOW0, NULL), 0);
	/* No commit during the walk: one REVISION. */
	sstest_walk_begin(&w, s, 0, NOW0, NULL);
	(void)sstest_walk_end(&w);
	assert_int_equal(ss_store_compact_finish(s, NULL), 0);
	n = log_records(fx->log, r, 16, &buf);
	assert_int_equal(n, 3);
	assert_int_equal(r[0].type, SS_REC_REV);
	free(buf);
	/* Commits during the walk: the snapshot ends at their revision. */
	sstest_walk_begin(&w, s, 0, NOW0, NULL);
	assert_int_equal(sstest_set(s, "a", "2", 0, NOW0, NULL), 0);
	assert_int_equal(sstest_set(s, "c", "1", 0, NOW0, NULL), 0);
	snap_len = sstest_walk_end(&w);
	assert_int_equal(sstest_set(s, "d", "1", 0, NOW0, NULL), 0);
	assert_int_equal(ss_store_compact_finish(s, NULL), 0);
	ss_store_close(s);
	n = log_records(fx->log, r, 16, &buf);
	/* REVISION 2, the walk's SETs, REVISION 4; then the tail: a, c, d. */
	assert_true(n >= 5);
	assert_int_equal(r[0].type, SS_REC_REV);
	assert_true(r[0].rev == 2);
	assert_int_equal(r[n - 4].type, SS_REC_REV);
	assert_true(r[n - 4].rev == 4);
	for (size_t i = 1; i < n - 4; i++)
		assert_int_equal(r[i].type, SS_REC_SET);
	for (size_t i = n - 3; i < n; i++) {
		assert_int_equal(r[i].type, SS_REC_SET);
		assert_true(r[i].rev == 3 + (i - (n - 3)));
	}
	assert_true(snap_len > 0);
	free(buf);
	opt.truncate_rev = 3;
	assert_int_equal(ss_store_open(&s, &opt, NOW0, &rep, &err), -1);
	assert_int_equal(err.kind, SS_ERR_TRUNCATE);
	opt.truncate_rev = 4;
	assert_int_equal(ss_store_open(&s, &opt, NOW0, &rep, &err), 0);
	assert_int_equal(rep.discarded, 1); /* d */
	sstest_assert_state(s, "a 2 0\nb 1 0\nc 1 0\n", NOW0);
	ss_store_close(s);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, sstest_setup, sstest_teardown)
	const struct CMUnitTest tests[] = {
		T(test_a_snapshot_walked_under_commits_replays_exactly),
		T(test_a_snapshot_keeps_every_epoch_after_its_revision),
		T(test_a_walk_under_commits_ends_with_the_revision_it_reached),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
