/*
 * mkseeds.c - writes the seed corpus of fuzz_log: logs made by the engine
 * itself (ss_store_open, batches, compaction), so the seeds always follow the
 * current log format, plus damaged copies of them (torn tails, flipped bytes,
 * a zeroed gap, a damaged newline, another version's header, a torn header).
 *
 * Usage: fuzz-mkseeds OUTDIR
 * Replaces OUTDIR/gen-*; other files there (regress-*: reproducers of bugs
 * found) are left alone.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzzsupport.h"
#include "statestored/batch.h"
#include "statestored/record.h"
#include "statestored/store.h"

#define NOW FZ_LOG_NOW_MS

static const char *outdir;
static int nseeds;
/* The revision the next command takes, as cmd.c hands them out: one per
 * SET or DEL, one for all the records of a multi-commit. */
static uint64_t next_rev = 1;

static void save(const char *name, const void *buf, size_t len)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/gen-%s", outdir, name);
	fz_write_file(path, buf, len);
	nseeds++;
}

static char *log_bytes(size_t *len)
{
	char *p = fz_read_file(fz_path(0, SS_LOG_FILE), len);

	if (!p)
		fz_fail("no log in the scratch directory");
	return p;
}

/* A fresh store in the scratch directory. */
static struct ss_store *fresh(size_t prealloc)
{
	struct ss_store_options opt = {.dir = fz_scratch_dir(), .prealloc_bytes = prealloc,
				       .history = 4};
	struct ss_store *s;
	struct ss_error err;

	(void)unlink(fz_path(0, SS_LOG_FILE));
	(void)unlink(fz_path(1, SS_LOG_TMP_FILE));
	if (ss_store_open(&s, &opt, NOW, NULL, &err) < 0)
		fz_fail("%s", err.msg);
	next_rev = ss_table_revision(ss_store_table(s)) + 1;
	return s;
}

static void add_set(struct ss_batch *b, const char *name, const char *value, int64_t expire_ms)
{
	struct ss_record r = {.type = SS_REC_SET, .name = name, .nlen = strlen(name),
			      .value = value, .vlen = strlen(value), .expire_ms = expire_ms,
			      .rev = next_rev++, .commit_ms = NOW};
	if (ss_batch_add(b, &r, NULL) < 0)
		fz_fail("ss_batch_add %s: %s", name, strerror(errno));
}

static void add_del(struct ss_batch *b, const char *name)
{
	struct ss_record r = {.type = SS_REC_DEL, .name = name, .nlen = strlen(name),
			      .rev = next_rev++, .commit_ms = NOW};
	if (ss_batch_add(b, &r, NULL) < 0)
		fz_fail("ss_batch_add %s: %s", name, strerror(errno));
}

static void commit(struct ss_store *s, struct ss_batch *b)
{
	struct ss_error err;

	if (fz_commit(s, b, NOW, &err) < 0)
		fz_fail("%s", err.msg);
}

static void set1(struct ss_store *s, const char *name, const char *value, int64_t expire_ms)
{
	struct ss_batch b;

	ss_batch_init(&b);
	add_set(&b, name, value, expire_ms);
	commit(s, &b);
	ss_batch_free(&b);
}

static void del1(struct ss_store *s, const char *name)
{
	struct ss_batch b;

	ss_batch_init(&b);
	add_del(&b, name);
	commit(s, &b);
	ss_batch_free(&b);
}

/* A log with a bit of everything: one-op and many-op batches, a group,
 * expiries past and future, overwrites, deletes of present and absent names,
 * unusual but valid bytes. */
static void mixed(struct ss_store *s)
{
	struct ss_batch b;
	char name[64], value[64];

	set1(s, "orders", "1000", 0);
	set1(s, "orders", "1001", 0);
	set1(s, "clicks", "offset:42", NOW + 60000);
	set1(s, "stale", "gone", NOW - 1);
	set1(s, "edge", "exact", NOW); /* expired at NOW exactly */
	del1(s, "clicks");
	del1(s, "never-there");
	set1(s, "p!#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", "v~!@", NOW + 1);
	ss_batch_init(&b);
	for (int i = 0; i < 8; i++) {
		snprintf(name, sizeof(name), "pipe-%d", i);
		snprintf(value, sizeof(value), "%d", i * 1000);
		add_set(&b, name, value, i % 3 == 0 ? NOW + 1000 * i : 0);
	}
	add_del(&b, "pipe-3");
	commit(s, &b);
	uint64_t rev = next_rev++;
	struct ss_record group[3] = {
		{.type = SS_REC_SET, .name = "g1", .nlen = 2, .value = "a", .vlen = 1, .rev = rev,
		 .commit_ms = NOW},
		{.type = SS_REC_DEL, .name = "orders", .nlen = 6, .rev = rev, .commit_ms = NOW},
		{.type = SS_REC_SET, .name = "g1", .nlen = 2, .value = "b", .vlen = 1,
		 .expire_ms = NOW + 5000, .rev = rev, .commit_ms = NOW},
	};
	if (ss_batch_add_group(&b, group, 3, NULL) < 0)
		fz_fail("ss_batch_add_group: %s", strerror(errno));
	commit(s, &b);
	ss_batch_free(&b);
	set1(s, "last", "x", 0);
}

static void add_epoch(struct ss_batch *b, uint64_t epoch, uint64_t rev)
{
	struct ss_record r = {.type = SS_REC_EPOCH, .epoch = epoch, .rev = rev};

	if (ss_batch_add(b, &r, NULL) < 0)
		fz_fail("ss_batch_add EPOCH: %s", strerror(errno));
}

/* A promoted store's log: epochs between and beside writes. */
static void epochs(struct ss_store *s)
{
	struct ss_batch b;

	ss_batch_init(&b);
	add_epoch(&b, 1, 0);
	commit(s, &b);
	set1(s, "orders", "1000", 0);
	set1(s, "clicks", "7", NOW + 60000);
	add_epoch(&b, 2, next_rev - 1);
	commit(s, &b);
	set1(s, "orders", "1001", 0);
	del1(s, "clicks");
	add_epoch(&b, 3, next_rev - 1);
	add_set(&b, "orders", "1002", 0);
	add_set(&b, "late", "x", 0);
	commit(s, &b);
	ss_batch_free(&b);
}

/* Offset of the start of line k (0 = the header) in buf, or len. */
static size_t line_start(const char *buf, size_t len, int k)
{
	size_t off = 0;

	while (k-- > 0) {
		const char *nl = memchr(buf + off, '\n', len - off);
		if (!nl)
			return len;
		off = (size_t)(nl - buf) + 1;
	}
	return off;
}

static void damaged(const char *base, const char *buf, size_t len)
{
	char name[128];
	char *c = fz_alloc(len + 64);
	size_t nlines = 0, last, mid, mid_end;

	for (size_t i = 0; i < len; i++)
		nlines += buf[i] == '\n';
	last = line_start(buf, len, (int)nlines - 1);
	mid = line_start(buf, len, (int)nlines / 2);
	mid_end = line_start(buf, len, (int)nlines / 2 + 1);

	/* Torn tails: inside the last record, and half way through the log. */
	snprintf(name, sizeof(name), "%s-torn-last", base);
	save(name, buf, last + (len - last) / 2);
	snprintf(name, sizeof(name), "%s-torn-mid", base);
	save(name, buf, mid + (mid_end - mid) / 3);
	/* A flipped byte in the last record (a torn tail) and in the middle
	 * one (corruption: valid records follow). */
	memcpy(c, buf, len);
	c[last + 3] ^= 0x01;
	snprintf(name, sizeof(name), "%s-flip-last", base);
	save(name, c, len);
	memcpy(c, buf, len);
	c[mid + (mid_end - mid) / 2] ^= 0x20;
	snprintf(name, sizeof(name), "%s-flip-mid", base);
	save(name, c, len);
	/* The middle record zeroed: a gap with valid records after it. */
	memcpy(c, buf, len);
	memset(c + mid, 0, mid_end - mid);
	snprintf(name, sizeof(name), "%s-zero-gap", base);
	save(name, c, len);
	/* The middle record's newline damaged. */
	memcpy(c, buf, len);
	c[mid_end - 1] = '\0';
	snprintf(name, sizeof(name), "%s-newline-nul", base);
	save(name, c, len);
	/* Garbage after the last record. */
	memcpy(c, buf, len);
	memcpy(c + len, "SET_CHECKPOINT half", 19);
	snprintf(name, sizeof(name), "%s-garbage-tail", base);
	save(name, c, len + 19);
	free(c);
}

int main(int argc, char **argv)
{
	struct ss_store *s;
	char *buf, *c;
	size_t len;

	if (argc != 2) {
		fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
		return 2;
	}
	outdir = argv[1];
	DIR *d = opendir(outdir);
	if (!d) {
		fprintf(stderr, "%s: %s\n", outdir, strerror(errno));
		return 1;
	}
	for (struct dirent *e; (e = readdir(d));) {
		char path[1024];
		if (strncmp(e->d_name, "gen-", 4) == 0) {
			snprintf(path, sizeof(path), "%s/%s", outdir, e->d_name);
			(void)unlink(path);
		}
	}
	closedir(d);

	/* A new log: the header only. */
	s = fresh(0);
	ss_store_close(s);
	buf = log_bytes(&len);
	save("header", buf, len);
	/* Another version's header, a torn header, not a log at all. */
	c = fz_alloc(len + 32);
	len = (size_t)snprintf(c, len + 32, "%s %d\n", SS_LOG_MAGIC, SS_LOG_VERSION + 1);
	save("version-next", c, len);
	memcpy(c, buf, 7);
	memset(c + 7, 0, 5);
	save("torn-header-zeros", c, 12);
	save("torn-header", buf, 9);
	save("not-a-log", "hello world\n", 12);
	free(c);
	free(buf);

	s = fresh(0);
	set1(s, "orders", "1000", 0);
	ss_store_close(s);
	buf = log_bytes(&len);
	save("one-set", buf, len);
	free(buf);

	s = fresh(0);
	set1(s, "a", "1", NOW + 1000);
	del1(s, "a");
	ss_store_close(s);
	buf = log_bytes(&len);
	save("set-del", buf, len);
	free(buf);

	s = fresh(0);
	set1(s, "dead", "1", NOW - 1000);
	set1(s, "dead2", "2", 1);
	ss_store_close(s);
	buf = log_bytes(&len);
	save("all-expired", buf, len);
	free(buf);

	/* Limits: a 512-byte name, a 3000-byte value. */
	s = fresh(0);
	{
		char name[SS_NAME_MAX + 1], *value = fz_alloc(3001);
		memset(name, 'n', SS_NAME_MAX);
		name[SS_NAME_MAX] = '\0';
		memset(value, 'v', 3000);
		value[3000] = '\0';
		set1(s, name, value, 0);
		set1(s, "big", value, INT64_MAX);
		free(value);
	}
	ss_store_close(s);
	buf = log_bytes(&len);
	save("limits", buf, len);
	free(buf);

	s = fresh(0);
	mixed(s);
	ss_store_close(s);
	buf = log_bytes(&len);
	save("mixed", buf, len);
	damaged("mixed", buf, len);
	free(buf);

	/* The same after compaction. */
	s = fresh(0);
	mixed(s);
	{
		struct ss_error err;
		if (ss_store_compact(s, NOW - 2, &err) < 0)
			fz_fail("%s", err.msg);
	}
	set1(s, "after-compact", "1", 0);
	ss_store_close(s);
	buf = log_bytes(&len);
	save("compacted", buf, len);
	free(buf);

	/* Any bytes: names and values escaped (space, newline, NUL, '\\',
	 * 0xff), a multi-commit under one revision, and history compacted
	 * into the snapshot. */
	s = fresh(0);
	{
		static const char name[] = "a b\n\0\\\xff", value[] = "\x01 v\\";
		struct ss_record r = {.type = SS_REC_SET, .name = name, .nlen = sizeof(name) - 1,
				      .value = value, .vlen = sizeof(value) - 1,
				      .rev = next_rev++, .commit_ms = NOW};
		struct ss_batch eb;
		ss_batch_init(&eb);
		if (ss_batch_add(&eb, &r, NULL) < 0)
			fz_fail("ss_batch_add: %s", strerror(errno));
		commit(s, &eb);
		for (int i = 0; i < 6; i++) {
			char v[16];
			snprintf(v, sizeof(v), "%d", i);
			set1(s, "hist", v, 0);
		}
		uint64_t mrev = next_rev++;
		struct ss_record multi[2] = {
			{.type = SS_REC_SET, .name = "m1", .nlen = 2, .value = "x", .vlen = 1,
			 .rev = mrev, .commit_ms = NOW + 1},
			{.type = SS_REC_SET, .name = "hist", .nlen = 4, .value = "m", .vlen = 1,
			 .rev = mrev, .commit_ms = NOW + 1},
		};
		if (ss_batch_add_group(&eb, multi, 2, NULL) < 0)
			fz_fail("ss_batch_add_group: %s", strerror(errno));
		commit(s, &eb);
		ss_batch_free(&eb);
	}
	ss_store_close(s);
	buf = log_bytes(&len);
	save("escaped-multi", buf, len);
	free(buf);
	{
		/* The same log reopened (replayed) and compacted. */
		struct ss_store_options opt = {.dir = fz_scratch_dir(), .history = 4};
		struct ss_error err;
		if (ss_store_open(&s, &opt, NOW, NULL, &err) < 0)
			fz_fail("%s", err.msg);
		if (ss_store_compact(s, NOW, &err) < 0)
			fz_fail("%s", err.msg);
	}
	ss_store_close(s);
	buf = log_bytes(&len);
	save("escaped-multi-compacted", buf, len);
	free(buf);

	/* Replication's EPOCH records: one at revision 0 (promoted before
	 * any write), one alone in its group, one beside writes in a group,
	 * then the same log compacted (the snapshot writes every epoch after
	 * its REVISION record). */
	s = fresh(0);
	epochs(s);
	ss_store_close(s);
	buf = log_bytes(&len);
	save("epochs", buf, len);
	damaged("epochs", buf, len);
	free(buf);
	s = fresh(0);
	epochs(s);
	{
		struct ss_error err;
		if (ss_store_compact(s, NOW, &err) < 0)
			fz_fail("%s", err.msg);
	}
	set1(s, "after-compact", "1", 0);
	ss_store_close(s);
	buf = log_bytes(&len);
	save("epochs-compacted", buf, len);
	free(buf);

	/* Preallocated: the log ends in zeros. */
	s = fresh(512);
	set1(s, "orders", "1", 0);
	set1(s, "orders", "2", 0);
	ss_store_close(s);
	buf = log_bytes(&len);
	save("prealloc", buf, len);
	damaged("prealloc", buf, len);
	free(buf);

	(void)unlink(fz_path(0, SS_LOG_FILE));
	printf("wrote %d seeds to %s\n", nseeds, outdir);
	return 0;
}
