/*
 * crashwl.c - the workloads of crash-state exploration (crashx.h).
 *
 * Each one drives the engine directly through a crashx_run, in batches of a
 * few records whose values are a few KB, so that one batch's write spans
 * several 512-byte sectors (and, for some, 4 KB pages) and can tear. Clocks
 * are absolute unix milliseconds around T0; every workload says at which
 * clocks its crash states are opened, none earlier than the last clock it
 * used.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crashx.h"
#include "sstest.h"

#define T0 INT64_C(1700000000000)

/* Several batches of several multi-KB SETs, overwriting each other. */
static void wl_sets(struct crashx_run *r, const struct crashx_opts *o)
{
	(void)o;
	crashx_run_open(r, T0);
	crashx_run_set(r, "p0", 3000, 0);
	crashx_run_set(r, "p1", 1500, 0);
	crashx_run_set(r, "p2", 2500, 0);
	crashx_run_commit(r, T0);
	crashx_run_set(r, "p0", 4200, 0);
	crashx_run_set(r, "p3", 700, 0);
	crashx_run_commit(r, T0 + 1);
	crashx_run_set(r, "p1", 5000, 0);
	crashx_run_set(r, "p2", 100, 0);
	crashx_run_set(r, "p0", 2000, 0);
	crashx_run_commit(r, T0 + 2);
	crashx_run_set(r, "p3", 3000, 0);
	crashx_run_commit(r, T0 + 3);
	crashx_run_check_at(r, T0 + 10);
}

/* The same, each commit synced in two halves as the server's syncer
 * thread does it (ss_store_sync_begin, fdatasync, ss_store_sync_end). */
static void wl_split_sync(struct crashx_run *r, const struct crashx_opts *o)
{
	r->split_sync = 1;
	wl_sets(r, o);
}

/* Values of 9-40 KB: one record spans several 4 KB pages, so even page-
 * granular tearing splits records. */
static void wl_big(struct crashx_run *r, const struct crashx_opts *o)
{
	(void)o;
	crashx_run_open(r, T0);
	crashx_run_set(r, "a", 9000, 0);
	crashx_run_set(r, "b", 14000, 0);
	crashx_run_commit(r, T0);
	crashx_run_set(r, "a", 40000, 0);
	crashx_run_commit(r, T0 + 1);
	crashx_run_set(r, "b", 12000, 0);
	crashx_run_set(r, "c", 30, 0);
	crashx_run_set(r, "a", 20000, 0);
	crashx_run_commit(r, T0 + 2);
	crashx_run_check_at(r, T0 + 10);
}

/* Many small records per batch: a torn batch leaves many whole records
 * behind its damage, which is where all-or-nothing shows. */
static void wl_many(struct crashx_run *r, const struct crashx_opts *o)
{
	char name[16];

	(void)o;
	crashx_run_open(r, T0);
	for (int b = 0; b < 3; b++) {
		for (int i = 0; i < 24; i++) {
			snprintf(name, sizeof(name), "n%d", (i * 7 + b * 5) % 30);
			if ((i + b) % 9 == 8)
				crashx_run_del(r, name);
			else
				crashx_run_set(r, name, 60 + (size_t)(i * 37 % 120), 0);
		}
		crashx_run_commit(r, T0 + b);
	}
	crashx_run_check_at(r, T0 + 10);
}

/* TTLs: some expire between the clocks the states are opened at, one is
 * already expired when applied (and so acts as a DEL), one is extended and
 * one shortened by a later SET. */
static void wl_ttl(struct crashx_run *r, const struct crashx_opts *o)
{
	(void)o;
	crashx_run_open(r, T0);
	crashx_run_set(r, "a", 2000, T0 + 1000);
	crashx_run_set(r, "b", 1500, 0);
	crashx_run_set(r, "c", 800, T0 + 5000);
	crashx_run_commit(r, T0);
	crashx_run_set(r, "a", 2500, T0 + 2000);
	crashx_run_set(r, "d", 1000, T0 + 5);
	crashx_run_set(r, "c", 1200, 0);
	crashx_run_commit(r, T0 + 10);
	crashx_run_set(r, "b", 3000, T0 + 1500);
	crashx_run_set(r, "d", 600, T0 + 3000);
	crashx_run_commit(r, T0 + 20);
	crashx_run_check_at(r, T0 + 30);
	crashx_run_check_at(r, T0 + 1500);
	crashx_run_check_at(r, T0 + 2500);
	crashx_run_check_at(r, T0 + 6000);
}

/* DELs: of present names, of a missing one, and SETs after them. */
static void wl_dels(struct crashx_run *r, const struct crashx_opts *o)
{
	(void)o;
	crashx_run_open(r, T0);
	crashx_run_set(r, "a", 2600, 0);
	crashx_run_set(r, "b", 1800, 0);
	crashx_run_set(r, "c", 900, 0);
	crashx_run_commit(r, T0);
	crashx_run_del(r, "a");
	crashx_run_set(r, "b", 2200, 0);
	crashx_run_commit(r, T0 + 1);
	crashx_run_del(r, "b");
	crashx_run_del(r, "c");
	crashx_run_set(r, "a", 3100, 0);
	crashx_run_commit(r, T0 + 2);
	crashx_run_del(r, "a");
	crashx_run_del(r, "never-set");
	crashx_run_set(r, "c", 1400, 0);
	crashx_run_commit(r, T0 + 3);
	crashx_run_check_at(r, T0 + 10);
}

/* A synchronous compaction between batches: it drops a DEL'd name and an
 * expired one, and the batches after it go to the new log. */
static void wl_compact(struct crashx_run *r, const struct crashx_opts *o)
{
	(void)o;
	crashx_run_open(r, T0);
	crashx_run_set(r, "a", 2000, 0);
	crashx_run_set(r, "b", 1700, T0 + 40);
	crashx_run_set(r, "c", 1200, 0);
	crashx_run_commit(r, T0);
	crashx_run_set(r, "a", 2400, 0);
	crashx_run_del(r, "c");
	crashx_run_set(r, "d", 900, T0 + 5000);
	crashx_run_commit(r, T0 + 10);
	crashx_run_compact(r, T0 + 50);
	crashx_run_set(r, "c", 3000, 0);
	crashx_run_set(r, "a", 1100, 0);
	crashx_run_commit(r, T0 + 60);
	crashx_run_set(r, "e", 2500, 0);
	crashx_run_commit(r, T0 + 70);
	crashx_run_check_at(r, T0 + 100);
}

/* Background compaction, the server's way (compactor.c: a walk of the
 * live table whose bytes go to the temp file, catch-up rounds that copy the
 * tail - the batches logged since the walk began - while more are
 * committed, the finish that copies the rest), in one process, on a table
 * small enough for one step to walk: a batch committed after the begin and
 * before the walk (so in the snapshot and in the tail), an entry expired
 * at the walk's clock (left out), a batch after the walk, one during a
 * round, one between rounds; a second compaction whose finish copies its
 * whole tail; then a third that is aborted, with commits around it. The
 * protocol's steps are what this explores; compact-walk interleaves a
 * longer walk with commits. */
static void wl_compact_bg(struct crashx_run *r, const struct crashx_opts *o)
{
	(void)o;
	crashx_run_open(r, T0);
	crashx_run_set(r, "a", 2000, 0);
	crashx_run_set(r, "b", 1700, T0 + 40);
	crashx_run_set(r, "c", 1200, 0);
	crashx_run_commit(r, T0);
	crashx_run_set(r, "a", 2400, 0);
	crashx_run_del(r, "c");
	crashx_run_commit(r, T0 + 10);
	crashx_run_compact_begin(r, T0 + 50);
	crashx_run_set(r, "c", 3000, 0);
	crashx_run_set(r, "d", 800, T0 + 5000);
	crashx_run_commit(r, T0 + 55);
	crashx_run_compact_snapshot(r);
	crashx_run_set(r, "a", 1100, 0);
	crashx_run_del(r, "d");
	crashx_run_commit(r, T0 + 60);
	crashx_run_compact_round_start(r);
	crashx_run_set(r, "f", 1300, 0);
	crashx_run_commit(r, T0 + 62);
	crashx_run_compact_round_end(r);
	crashx_run_set(r, "a", 600, 0);
	crashx_run_commit(r, T0 + 64);
	/* A second round takes the rest, so the finish has nothing to copy
	 * and syncs nothing: the round's own sync must have made it durable. */
	crashx_run_compact_round_start(r);
	crashx_run_compact_round_end(r);
	crashx_run_compact_finish(r);
	crashx_run_set(r, "g", 900, 0);
	crashx_run_commit(r, T0 + 66);
	crashx_run_compact_begin(r, T0 + 67);
	crashx_run_compact_snapshot(r);
	crashx_run_set(r, "a", 700, 0);
	crashx_run_commit(r, T0 + 68);
	crashx_run_compact_finish(r); /* a tail, no round: the finish copies it all */
	crashx_run_set(r, "e", 2500, 0);
	crashx_run_commit(r, T0 + 70);
	crashx_run_compact_begin(r, T0 + 75);
	crashx_run_compact_snapshot(r);
	crashx_run_set(r, "b", 900, 0);
	crashx_run_commit(r, T0 + 80);
	crashx_run_compact_abort(r);
	crashx_run_set(r, "c", 1500, 0);
	crashx_run_commit(r, T0 + 90);
	crashx_run_check_at(r, T0 + 100);
	if (r->tail_overlaps == 0)
		fail_msg("compact-bg: no SET of a tail was one its snapshot held");
}

/* An online backup into a subdirectory of the data directory, as the
 * server runs it: the walk, commits meanwhile (the tail: a SET, a DEL, a
 * SET over a name the walk took), a catch-up round with a commit during
 * its copy, and a last commit for the finish to copy; the live store goes
 * on after it. Crash states cover DIR.partial's creation, its file's
 * writes and syncs, its fsync, the rename to DIR and the parent's fsync,
 * each persisting or not (crashfs.h). */
static void wl_backup(struct crashx_run *r, const struct crashx_opts *o)
{
	(void)o;
	crashx_run_open(r, T0);
	crashx_run_set(r, "a", 2000, 0);
	crashx_run_set(r, "b", 1700, 0);
	crashx_run_set(r, "c", 1200, 0);
	crashx_run_commit(r, T0);
	crashx_run_set(r, "a", 2400, 0);
	crashx_run_del(r, "c");
	crashx_run_commit(r, T0 + 10);
	crashx_run_backup_begin(r, "bk", T0 + 20);
	crashx_run_set(r, "c", 900, 0);
	crashx_run_set(r, "d", 800, 0);
	crashx_run_commit(r, T0 + 25);
	crashx_run_compact_snapshot(r);
	crashx_run_set(r, "a", 1100, 0);
	crashx_run_del(r, "b");
	crashx_run_commit(r, T0 + 30);
	crashx_run_compact_round_start(r);
	crashx_run_set(r, "e", 1300, 0);
	crashx_run_commit(r, T0 + 32);
	crashx_run_compact_round_end(r);
	crashx_run_set(r, "d", 600, 0);
	crashx_run_commit(r, T0 + 34);
	crashx_run_backup_finish(r);
	crashx_run_set(r, "f", 700, 0);
	crashx_run_del(r, "a");
	crashx_run_commit(r, T0 + 40);
	crashx_run_check_at(r, T0 + 50);
}

/* A backup of a store never written (revision 0), then writes: the
 * backup must hold nothing, at revision 0. */
static void wl_backup_empty(struct crashx_run *r, const struct crashx_opts *o)
{
	(void)o;
	crashx_run_open(r, T0);
	crashx_run_backup_begin(r, "bk", T0);
	crashx_run_compact_snapshot(r);
	crashx_run_backup_finish(r);
	crashx_run_set(r, "a", 900, 0);
	crashx_run_commit(r, T0 + 1);
	crashx_run_check_at(r, T0 + 10);
}

/* The state run left at its last call, everything persisted. */
static void full_image(const struct crashx_run *run, size_t chunk, struct crashfs_image *img)
{
	struct crashfs_point pt;
	unsigned char *on;

	crashfs_point_init(&pt, &run->fs, crashfs_nops(&run->fs), chunk);
	on = malloc(pt.nunits ? pt.nunits : 1);
	if (!on)
		fail_msg("out of memory");
	memset(on, 1, pt.nunits);
	crashfs_image_build(img, &pt, on);
	free(on);
	crashfs_point_free(&pt);
}

#define WALK_NAMES 300

static void walk_name(char name[8], int i)
{
	snprintf(name, 8, "w%03d", i);
}

/* Finds two base names (w003..) the walk has written, and two it has not
 * reached yet; the ones with histories (w003..w019) first. */
static void walk_pick(const struct crashx_run *r, char passed[2][8], char ahead[2][8])
{
	int np = 0, na = 0;
	char name[8];

	for (int i = 3; i < 140 && (np < 2 || na < 2); i++) {
		walk_name(name, i);
		if (crashx_run_compact_walked(r, name)) {
			if (np < 2)
				memcpy(passed[np++], name, 8);
		} else if (na < 2) {
			memcpy(ahead[na++], name, 8);
		}
	}
	if (np < 2 || na < 2)
		fail_msg("compact-walk: after the walk's first step, %d names written and %d not "
			 "yet; it needs two of each",
			 np, na);
}

/* A background compaction whose walk takes several steps, interleaved
 * with commits (history depth 3). Its first life makes WALK_NAMES names -
 * w000..w019 with two earlier versions each, w140..w144 deleted - and
 * compacts, so that the table has more cursor positions than one step
 * walks. Then: commits after the begin, before the first step; after the
 * first step, overwrites of names the walk has passed and of names it has
 * not reached yet, DELs of both, the re-creation of a name the first life
 * deleted and of one deleted since the walk began, a new name with a TTL;
 * more between the remaining steps; after the walk, during a round, and
 * before the finish; then commits to the new log. The snapshot is fuzzy,
 * so the compacted log's tail both repeats versions the snapshot holds
 * and changes names the snapshot holds older versions of: the run fails
 * unless both happened. */
static void wl_compact_walk(struct crashx_run *r, const struct crashx_opts *o)
{
	char wname[sizeof(r->workload)], name[8], passed[2][8], ahead[2][8];
	size_t prealloc = r->prealloc;
	struct crashx_run first;
	struct crashfs_image img;
	int more;

	memcpy(wname, r->workload, sizeof(wname));
	crashx_run_init(&first, wname, prealloc, NULL);
	first.history = 3;
	crashx_run_open(&first, T0);
	for (int b = 0; b < 3; b++) {
		for (int i = 0; i < WALK_NAMES / 3; i++) {
			walk_name(name, b * (WALK_NAMES / 3) + i);
			crashx_run_set(&first, name, 30, 0);
		}
		crashx_run_commit(&first, T0 + b);
	}
	for (int k = 0; k < 2; k++) {
		for (int i = 0; i < 20; i++) {
			walk_name(name, i);
			crashx_run_set(&first, name, 30, 0);
		}
		crashx_run_commit(&first, T0 + 3 + k);
	}
	for (int i = 140; i < 145; i++) {
		walk_name(name, i);
		crashx_run_del(&first, name);
	}
	crashx_run_commit(&first, T0 + 5);
	crashx_run_compact(&first, T0 + 6);
	full_image(&first, o->chunk, &img);
	crashx_run_close(&first);
	crashx_run_free(&first);

	crashx_run_free(r);
	crashx_run_init(r, wname, prealloc, &img);
	crashfs_image_free(&img);
	r->history = 3;
	crashx_run_open(r, T0 + 10);
	crashx_run_compact_begin(r, T0 + 11);
	crashx_run_set(r, "w001", 40, 0);
	crashx_run_del(r, "w002");
	crashx_run_commit(r, T0 + 12);
	if (!crashx_run_compact_step(r, 1))
		fail_msg("compact-walk: the walk took one step");
	walk_pick(r, passed, ahead);
	crashx_run_set(r, passed[0], 40, 0);
	crashx_run_set(r, ahead[0], 40, 0);
	crashx_run_del(r, passed[1]);
	crashx_run_del(r, ahead[1]);
	crashx_run_set(r, "w140", 40, 0);
	crashx_run_set(r, "new", 40, T0 + 5000);
	crashx_run_commit(r, T0 + 13);
	crashx_run_set(r, ahead[1], 50, 0);
	crashx_run_set(r, passed[0], 50, 0);
	crashx_run_commit(r, T0 + 14);
	more = crashx_run_compact_step(r, 1);
	for (int i = 0; more; i++) {
		crashx_run_set(r, i % 2 ? passed[0] : ahead[0], 60, 0);
		crashx_run_commit(r, T0 + 15);
		more = crashx_run_compact_step(r, 1);
	}
	crashx_run_compact_snapshot(r);
	crashx_run_set(r, ahead[0], 70, 0);
	crashx_run_del(r, "w141");
	crashx_run_commit(r, T0 + 16);
	crashx_run_compact_round_start(r);
	crashx_run_set(r, passed[1], 70, 0);
	crashx_run_commit(r, T0 + 17);
	crashx_run_compact_round_end(r);
	crashx_run_set(r, "w001", 70, 0);
	crashx_run_commit(r, T0 + 18);
	crashx_run_compact_finish(r);
	crashx_run_set(r, passed[0], 80, 0);
	crashx_run_set(r, "w142", 80, 0);
	crashx_run_commit(r, T0 + 19);
	crashx_run_check_at(r, T0 + 100);
	if (r->tail_overlaps == 0 || r->tail_newer == 0)
		fail_msg("compact-walk: the tail repeated %zu SETs the snapshot held and changed "
			 "%zu names it held older versions of; both must happen",
			 r->tail_overlaps, r->tail_newer);
}

/* Builds a torn state of run at its last call: the last batch's write
 * persisted but for its second piece (a sector inside the batch, with whole
 * records after it) and its last. */
static void torn_image(const struct crashx_run *run, size_t chunk, struct crashfs_image *img)
{
	struct crashfs_point pt;
	unsigned char *on;
	size_t last_op, first;

	crashfs_point_init(&pt, &run->fs, crashfs_nops(&run->fs), chunk);
	on = calloc(pt.nunits, 1);
	if (!on)
		fail_msg("out of memory");
	last_op = pt.units[pt.nunits - 1].op;
	for (first = pt.nunits - 1; first > 0 && pt.units[first - 1].op == last_op; first--)
		;
	if (pt.nunits - first < 4)
		fail_msg("torn-append: the last write has %zu pieces, too few", pt.nunits - first);
	for (size_t u = 0; u < pt.nunits; u++) {
		/* Everything else persists; the last write only in part. */
		on[u] = pt.units[u].op != last_op || (u != first + 1 && u != pt.nunits - 1);
	}
	crashfs_image_build(img, &pt, on);
	free(on);
	crashfs_point_free(&pt);
}

/* A torn tail, then more appends: crash while the third batch is written
 * (its write torn: a sector inside it and its end lost), open that state -
 * which cuts the tail - and append more batches, compact, append again; the
 * crash states explored are those of this second life. The state the first
 * life left is checked too. */
static void wl_torn_append(struct crashx_run *r, const struct crashx_opts *o)
{
	char name[sizeof(r->workload)];
	size_t prealloc = r->prealloc;
	struct crashx_run first;
	struct crashfs_image img;
	char *msg, *dir;

	memcpy(name, r->workload, sizeof(name));
	crashx_run_init(&first, name, prealloc, NULL);
	crashx_run_open(&first, T0);
	crashx_run_set(&first, "a", 2000, 0);
	crashx_run_set(&first, "b", 1500, T0 + 100000);
	crashx_run_commit(&first, T0);
	crashx_run_set(&first, "a", 2600, 0);
	crashx_run_del(&first, "b");
	crashx_run_commit(&first, T0 + 1);
	crashx_run_set(&first, "b", 6000, 0);
	crashx_run_set(&first, "c", 6000, 0);
	crashx_run_set(&first, "d", 2000, 0);
	crashx_run_write_only(&first);
	torn_image(&first, o->chunk, &img);
	crashx_run_close(&first);

	dir = sstest_tmpdir();
	crashfs_image_write(&img, dir);
	msg = crashx_check(&first.m, crashfs_nops(&first.fs), dir, prealloc, T0 + 2,
			   o->atomic_batches);
	sstest_rmdir(dir);
	free(dir);
	crashx_run_free(&first);

	crashx_run_free(r);
	crashx_run_init(r, name, prealloc, &img);
	crashfs_image_free(&img);
	if (msg) {
		/* The second life cannot start from a state that does not open. */
		r->violation = msg;
		r->where = strdup("the torn state its first life left");
		if (strncmp(msg, "refused:", 8) == 0)
			return;
	}
	crashx_run_open(r, T0 + 2);
	crashx_run_set(r, "c", 2200, 0);
	crashx_run_set(r, "a", 1300, 0);
	crashx_run_commit(r, T0 + 3);
	crashx_run_set(r, "b", 2700, 0);
	crashx_run_commit(r, T0 + 4);
	crashx_run_compact(r, T0 + 5);
	crashx_run_set(r, "a", 1900, 0);
	crashx_run_commit(r, T0 + 6);
	crashx_run_check_at(r, T0 + 10);
}

/* Multi-commits (history depth 2): a batch that is one multi-commit of
 * four multi-KB records; a multi-commit between two single SETs; two
 * multi-commits in one batch; one of four 4 KB values, so that it spans
 * pages. Each must be all there or not at all, under its one revision and
 * commit time. */
static void wl_multi(struct crashx_run *r, const struct crashx_opts *o)
{
	(void)o;
	r->history = 2;
	crashx_run_open(r, T0);
	crashx_run_multi_begin(r);
	crashx_run_set(r, "p0", 1200, 0);
	crashx_run_set(r, "p1", 1500, 0);
	crashx_run_set(r, "p2", 900, 0);
	crashx_run_set(r, "p3", 2000, 0);
	crashx_run_multi_end(r);
	crashx_run_commit(r, T0);
	crashx_run_set(r, "q", 800, 0);
	crashx_run_multi_begin(r);
	crashx_run_set(r, "p0", 2600, 0);
	crashx_run_set(r, "p2", 2600, 0);
	crashx_run_multi_end(r);
	crashx_run_set(r, "p1", 700, 0);
	crashx_run_commit(r, T0 + 1);
	crashx_run_multi_begin(r);
	crashx_run_set(r, "p1", 3000, 0);
	crashx_run_set(r, "p3", 3000, 0);
	crashx_run_set(r, "q", 400, 0);
	crashx_run_multi_end(r);
	crashx_run_multi_begin(r);
	crashx_run_set(r, "p0", 500, 0);
	crashx_run_set(r, "p2", 500, 0);
	crashx_run_multi_end(r);
	crashx_run_commit(r, T0 + 2);
	crashx_run_multi_begin(r);
	crashx_run_set(r, "p0", 4000, 0);
	crashx_run_set(r, "p1", 4000, 0);
	crashx_run_set(r, "p2", 4000, 0);
	crashx_run_set(r, "p3", 4000, 0);
	crashx_run_multi_end(r);
	crashx_run_commit(r, T0 + 3);
	crashx_run_check_at(r, T0 + 10);
}

/* Transactions as EXEC stages them (history depth 2): a batch is one log
 * group, and EXEC puts every write it queued into the open batch, each
 * with its own revision (a SET, an INCR's rewrite, a DEL, a SET with a
 * TTL), beside other connections' writes; a transaction that spans pages;
 * one that overwrites a name twice; then one alone. That EXEC never splits
 * a transaction across batches is test_redis's to check; here every crash
 * state must hold each batch - so each transaction - whole or not at all. */
static void wl_txn(struct crashx_run *r, const struct crashx_opts *o)
{
	(void)o;
	r->history = 2;
	crashx_run_open(r, T0);
	crashx_run_set(r, "acct/a", 100, 0);
	crashx_run_set(r, "acct/b", 100, 0);
	crashx_run_set(r, "other", 300, 0);
	crashx_run_commit(r, T0);
	/* EXEC: move from a to b, note it, drop a temporary; another
	 * connection's SET in the same batch. */
	crashx_run_set(r, "acct/a", 90, 0);
	crashx_run_set(r, "acct/b", 110, 0);
	crashx_run_set(r, "log/1", 1500, T0 + 100000);
	crashx_run_set(r, "other", 700, 0);
	crashx_run_commit(r, T0 + 1);
	crashx_run_set(r, "tmp", 50, 0);
	crashx_run_commit(r, T0 + 2);
	/* A transaction of 4 KB values spanning pages, with a DEL. */
	crashx_run_set(r, "acct/a", 4000, 0);
	crashx_run_set(r, "acct/b", 4000, 0);
	crashx_run_del(r, "tmp");
	crashx_run_set(r, "log/2", 4000, 0);
	crashx_run_commit(r, T0 + 3);
	/* The same name twice in one transaction (SET, then INCR's rewrite). */
	crashx_run_set(r, "acct/a", 80, 0);
	crashx_run_set(r, "acct/a", 81, 0);
	crashx_run_set(r, "acct/b", 120, 0);
	crashx_run_commit(r, T0 + 4);
	crashx_run_check_at(r, T0 + 10);
}

/* Compare-and-set chains (history depth 3), as pipelines commit: each CAS
 * reads the revision the live store holds (checked against the model) and
 * writes the next version from it; CAS from absent (0); a DEL with an
 * expected revision, then a CAS from absent that re-creates the name under
 * a new, higher revision (no ABA); two pipelines' CAS in one batch. */
static void wl_cas(struct crashx_run *r, const struct crashx_opts *o)
{
	uint64_t a, b, c;

	(void)o;
	r->history = 3;
	crashx_run_open(r, T0);
	a = crashx_run_cas(r, "a", 0, 1500);
	b = crashx_run_cas(r, "b", 0, 1500);
	crashx_run_commit(r, T0);
	a = crashx_run_cas(r, "a", a, 2500);
	crashx_run_commit(r, T0 + 1);
	b = crashx_run_cas(r, "b", b, 1800);
	c = crashx_run_cas(r, "c", 0, 1200);
	crashx_run_commit(r, T0 + 2);
	(void)crashx_run_cas(r, "a", crashx_run_rev(r, "a"), 900);
	crashx_run_commit(r, T0 + 3);
	(void)a;
	if (crashx_run_rev(r, "c") != c)
		fail_msg("cas: c moved");
	crashx_run_del(r, "c");
	b = crashx_run_cas(r, "b", b, 3000);
	crashx_run_commit(r, T0 + 4);
	c = crashx_run_cas(r, "c", 0, 2200);
	a = crashx_run_cas(r, "a", crashx_run_rev(r, "a"), 2100);
	crashx_run_commit(r, T0 + 5);
	b = crashx_run_cas(r, "b", b, 600);
	crashx_run_commit(r, T0 + 6);
	(void)crashx_run_cas(r, "b", b, 2700);
	(void)crashx_run_cas(r, "c", c, 1300);
	(void)crashx_run_cas(r, "a", a, 400);
	crashx_run_commit(r, T0 + 7);
	crashx_run_check_at(r, T0 + 10);
}

/* Rollbacks (history depth 4): the value of an earlier revision, read from
 * the live store's history, becomes current as a new revision; one after
 * the version it names was pushed down by later ones, one to a version
 * that only the compaction snapshot's history still holds, one of a name
 * with a (far) TTL, which the rollback keeps. */
static void wl_rollback(struct crashx_run *r, const struct crashx_opts *o)
{
	uint64_t v1, v2, v3, t1;

	(void)o;
	r->history = 4;
	crashx_run_open(r, T0);
	crashx_run_set(r, "a", 1400, 0);
	crashx_run_set(r, "t", 900, T0 + 100000);
	crashx_run_commit(r, T0);
	v1 = crashx_run_rev(r, "a");
	t1 = crashx_run_rev(r, "t");
	crashx_run_set(r, "a", 2200, 0);
	crashx_run_set(r, "t", 1100, T0 + 200000);
	crashx_run_commit(r, T0 + 1);
	v2 = crashx_run_rev(r, "a");
	crashx_run_set(r, "a", 1800, 0);
	crashx_run_commit(r, T0 + 2);
	v3 = crashx_run_rev(r, "a");
	crashx_run_set(r, "a", 2600, 0);
	(void)crashx_run_rollback(r, "t", t1);
	crashx_run_commit(r, T0 + 3);
	(void)crashx_run_rollback(r, "a", v1);
	crashx_run_set(r, "b", 1000, 0);
	crashx_run_commit(r, T0 + 4);
	crashx_run_set(r, "a", 700, 0);
	crashx_run_commit(r, T0 + 5);
	crashx_run_compact(r, T0 + 6);
	/* a: 700, then rollback(v1), 2600, v3, v2 in the history; v1 gone. */
	(void)crashx_run_rollback(r, "a", v2);
	crashx_run_commit(r, T0 + 7);
	(void)crashx_run_rollback(r, "a", v3);
	crashx_run_set(r, "b", 1600, 0);
	crashx_run_commit(r, T0 + 8);
	crashx_run_check_at(r, T0 + 10);
}

/* Histories in compaction snapshots (history depth 3): names with more
 * versions than the depth (so eviction), a DEL that drops a history and a
 * re-creation after it; a background compaction whose snapshot carries the
 * histories while CAS, a rollback and a multi-commit go to its tail (the
 * CAS committed after the begin and before the walk, so in the snapshot
 * too), one during a catch-up round; then the name holding the highest
 * revision is deleted and a synchronous compaction drops it, so only the
 * snapshot's REVISION record keeps the counter; one more commit on top. */
static void wl_history_compact(struct crashx_run *r, const struct crashx_opts *o)
{
	uint64_t b1;

	(void)o;
	r->history = 3;
	crashx_run_open(r, T0);
	crashx_run_set(r, "a", 1300, 0);
	crashx_run_set(r, "b", 900, 0);
	crashx_run_set(r, "c", 1100, 0);
	crashx_run_commit(r, T0);
	b1 = crashx_run_rev(r, "b");
	for (int i = 0; i < 4; i++) {
		crashx_run_set(r, "a", 600 + 300 * (size_t)i, 0);
		if (i % 2)
			crashx_run_set(r, "b", 700, 0);
		crashx_run_set(r, "c", 500, 0);
		crashx_run_commit(r, T0 + 1 + i);
	}
	crashx_run_del(r, "c");
	crashx_run_commit(r, T0 + 5);
	crashx_run_set(r, "c", 800, 0);
	crashx_run_commit(r, T0 + 6);
	crashx_run_compact_begin(r, T0 + 6);
	(void)crashx_run_cas(r, "a", crashx_run_rev(r, "a"), 1500);
	crashx_run_commit(r, T0 + 7);
	crashx_run_compact_snapshot(r);
	(void)crashx_run_rollback(r, "b", b1);
	crashx_run_commit(r, T0 + 9);
	crashx_run_compact_round_start(r);
	crashx_run_multi_begin(r);
	crashx_run_set(r, "a", 1000, 0);
	crashx_run_set(r, "c", 1000, 0);
	crashx_run_set(r, "d", 1000, 0);
	crashx_run_multi_end(r);
	crashx_run_commit(r, T0 + 10);
	crashx_run_compact_round_end(r);
	crashx_run_set(r, "b", 1200, 0);
	crashx_run_commit(r, T0 + 11);
	crashx_run_compact_finish(r);
	crashx_run_set(r, "e", 700, 0);
	crashx_run_commit(r, T0 + 12);
	crashx_run_del(r, "e");
	crashx_run_commit(r, T0 + 13);
	crashx_run_compact(r, T0 + 14);
	crashx_run_set(r, "c", 900, 0);
	crashx_run_commit(r, T0 + 15);
	crashx_run_check_at(r, T0 + 20);
	/* The CAS committed before the walk is in both: replay must take it
	 * once, or a's history shows it twice. */
	if (r->tail_overlaps == 0)
		fail_msg("history-compact: no SET of the tail was one its snapshot held");
}

/* A replica's apply path (history depth 2): groups the primary streamed -
 * names and values that need escapes (a space, a newline, a backslash), a
 * multi-commit, a TTL, a DEL, pages-long values, an EPOCH alone (the
 * primary's promotion) and one beside writes, a REVISION - decoded from
 * the primary's bytes, re-added to the replica's own batch, written and
 * synced (the ACK), and applied only later, two groups at a time, as the
 * primary's COMMIT covers them. Every state must replay to whole groups. */
static void wl_replica(struct crashx_run *r, const struct crashx_opts *o)
{
	(void)o;
	r->history = 2;
	crashx_run_open(r, T0);
	crashx_run_epoch(r, 1, 0);
	crashx_run_set(r, "a b", 2000, 0);
	crashx_run_set(r, "c\nd", 1500, 0);
	crashx_run_receive(r, T0);
	crashx_run_set(r, "\\e", 900, 0);
	crashx_run_multi_begin(r);
	crashx_run_set(r, "a b", 1200, 0);
	crashx_run_set(r, "f", 1200, 0);
	crashx_run_multi_end(r);
	crashx_run_receive(r, T0 + 1);
	crashx_run_apply_received(r, T0 + 1);
	crashx_run_epoch(r, 2, r->rev);
	crashx_run_receive(r, T0 + 2);
	crashx_run_set(r, "c\nd", 6000, 0);
	crashx_run_set(r, "g", 800, T0 + 5000);
	crashx_run_del(r, "f");
	crashx_run_receive(r, T0 + 3);
	crashx_run_apply_received(r, T0 + 3);
	crashx_run_epoch(r, 3, r->rev);
	crashx_run_set(r, "a b", 9000, 0);
	struct ss_record rev = {.type = SS_REC_REV, .rev = r->rev};
	if (ss_batch_add(&r->b, &rev, NULL) < 0)
		fail_msg("ss_batch_add REVISION");
	crashx_run_receive(r, T0 + 4);
	crashx_run_set(r, "\\e", 2500, 0);
	crashx_run_receive(r, T0 + 5);
	crashx_run_apply_received(r, T0 + 5);
	crashx_run_check_at(r, T0 + 10);
	crashx_run_check_at(r, T0 + 6000);
}

/* A full sync (history depth 2): a replica that holds two batches is
 * offered a download cut off inside its last group (refused, removed, the
 * store goes on), then a whole one - the primary's log, compacted, with
 * writes this replica never saw and the primary's promotion (an EPOCH) -
 * which install renames over the log and reopens; then a commit to the new
 * log. Every state holds the old log or the new one, whole. */
static void wl_install(struct crashx_run *r, const struct crashx_opts *o)
{
	(void)o;
	r->history = 2;
	crashx_run_open(r, T0);
	crashx_run_epoch(r, 1, 0);
	crashx_run_set(r, "a", 2000, 0);
	crashx_run_set(r, "b", 1500, 0);
	crashx_run_commit(r, T0);
	crashx_run_set(r, "a", 1200, 0);
	crashx_run_del(r, "b");
	crashx_run_commit(r, T0 + 1);
	crashx_run_install_torn(r, T0 + 2, 10);
	crashx_run_epoch(r, 2, r->rev);
	crashx_run_set(r, "a", 2500, 0);
	crashx_run_set(r, "c", 3000, 0);
	crashx_run_set(r, "b", 700, 0);
	crashx_run_install(r, T0 + 3);
	crashx_run_set(r, "b", 900, 0);
	crashx_run_commit(r, T0 + 4);
	crashx_run_check_at(r, T0 + 10);
}

/* A deposed primary's cut (history depth 2): a first life logs epochs 1
 * to 4 between batches (epoch 3 begins right at the cut's revision),
 * compacts once (the snapshot carries the epochs), and writes on; the
 * second life opens with truncate back to revision 7, which discards the
 * three writes and the epoch past it and rewrites the log. Every state is
 * the old log or the cut one. */
static void wl_truncate(struct crashx_run *r, const struct crashx_opts *o)
{
	char name[sizeof(r->workload)];
	size_t prealloc = r->prealloc;
	struct crashx_run first;
	struct crashfs_image img;

	memcpy(name, r->workload, sizeof(name));
	crashx_run_init(&first, name, prealloc, NULL);
	first.history = 2;
	crashx_run_open(&first, T0);
	crashx_run_epoch(&first, 1, 0);
	crashx_run_set(&first, "a", 2000, 0);
	crashx_run_set(&first, "b", 1500, 0);
	crashx_run_commit(&first, T0);
	crashx_run_set(&first, "a", 1800, 0);
	crashx_run_del(&first, "b");
	crashx_run_set(&first, "c", 900, 0);
	crashx_run_commit(&first, T0 + 1);
	crashx_run_compact(&first, T0 + 2);
	crashx_run_epoch(&first, 2, 5);
	crashx_run_set(&first, "c", 2200, 0);
	crashx_run_set(&first, "d", 1300, 0);
	crashx_run_commit(&first, T0 + 3);
	crashx_run_epoch(&first, 3, 7);
	crashx_run_set(&first, "a", 2600, 0);
	crashx_run_set(&first, "b", 1100, 0);
	crashx_run_commit(&first, T0 + 4);
	crashx_run_epoch(&first, 4, 9);
	crashx_run_set(&first, "d", 3000, 0);
	crashx_run_commit(&first, T0 + 5);
	full_image(&first, o->chunk, &img);
	crashx_run_close(&first);

	crashx_run_free(r);
	crashx_run_init(r, name, prealloc, &img);
	crashfs_image_free(&img);
	r->history = 2;
	crashx_run_open_truncate(r, &first.m, T0 + 6, 7);
	crashx_run_free(&first);
	crashx_run_check_at(r, T0 + 10);
}

const struct crashx_workload crashx_workloads[] = {
	{"sets", "batches of multi-KB SETs", wl_sets},
	{"split-sync", "the sets workload, synced by sync_begin/fdatasync/sync_end",
	 wl_split_sync},
	{"big", "SETs of 9-40 KB values, spanning several pages each", wl_big},
	{"many", "batches of 24 small SETs and DELs", wl_many},
	{"ttl", "SETs with TTLs, checked at clocks around their expiries", wl_ttl},
	{"dels", "DELs of present and missing names, SETs after them", wl_dels},
	{"compact", "ss_store_compact between batches", wl_compact},
	{"compact-bg", "ss_store_compact_begin/_round/_finish with commits meanwhile; an abort",
	 wl_compact_bg},
	{"compact-walk", "a walk of several steps over the live table, commits between them",
	 wl_compact_walk},
	{"torn-append", "a torn tail cut at open, then more appends", wl_torn_append},
	{"multi", "multi-commits alone, between SETs, two in a batch, spanning pages",
	 wl_multi},
	{"cas", "compare-and-set chains, a DEL, a re-creation from absent", wl_cas},
	{"txn", "transactions as EXEC stages them: several writes, each its own revision, in a batch",
	 wl_txn},
	{"rollback", "rollbacks to pushed-down versions, across a compaction, with a TTL",
	 wl_rollback},
	{"history-compact", "histories in background and synchronous snapshots, with a tail",
	 wl_history_compact},
	{"backup", "an online backup into a subdirectory, with a tail, a round, commits after",
	 wl_backup},
	{"backup-empty", "an online backup of a store never written, then a commit",
	 wl_backup_empty},
	{"replica", "a replica's apply path: received groups decoded, logged, applied later",
	 wl_replica},
	{"install", "a full sync: a torn download refused, a whole one renamed over the log",
	 wl_install},
	{"truncate", "a deposed primary's cut at open: records and an epoch past it discarded",
	 wl_truncate},
};

const size_t crashx_nworkloads = sizeof(crashx_workloads) / sizeof(crashx_workloads[0]);
