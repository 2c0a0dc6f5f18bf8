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

/* Background compaction, the server's way (fork, child writes the snapshot,
 * parent keeps committing to the old log, a helper thread copies that tail
 * across in rounds while the parent commits more, the finish copies the
 * rest), in one process: a batch committed before the snapshot is written,
 * one after, one during a round, one between rounds, all in the tail; a
 * second compaction whose finish copies its whole tail; then a third that
 * is aborted, with commits around it. */
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
	crashx_run_compact_begin(r);
	crashx_run_set(r, "c", 3000, 0);
	crashx_run_set(r, "d", 800, T0 + 5000);
	crashx_run_commit(r, T0 + 20);
	crashx_run_compact_snapshot(r, T0 + 50);
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
	crashx_run_compact_begin(r);
	crashx_run_compact_snapshot(r, T0 + 67);
	crashx_run_set(r, "a", 700, 0);
	crashx_run_commit(r, T0 + 68);
	crashx_run_compact_finish(r); /* a tail, no round: the finish copies it all */
	crashx_run_set(r, "e", 2500, 0);
	crashx_run_commit(r, T0 + 70);
	crashx_run_compact_begin(r);
	crashx_run_compact_snapshot(r, T0 + 75);
	crashx_run_set(r, "b", 900, 0);
	crashx_run_commit(r, T0 + 80);
	crashx_run_compact_abort(r);
	crashx_run_set(r, "c", 1500, 0);
	crashx_run_commit(r, T0 + 90);
	crashx_run_check_at(r, T0 + 100);
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
	{"torn-append", "a torn tail cut at open, then more appends", wl_torn_append},
};

const size_t crashx_nworkloads = sizeof(crashx_workloads) / sizeof(crashx_workloads[0]);
