/*
 * mkseeds_repl.c - writes the seed corpus of fuzz_repl: streams a primary
 * sends after REPLSYNC (fuzz_repl.c describes the input's escapes), their
 * groups and records encoded by the engine itself (ss_batch_add,
 * ss_batch_seal), and a full sync's file that is a real compacted log, so
 * the seeds follow whatever the log format is.
 *
 * Usage: fuzz-mkseeds-repl OUTDIR
 * Replaces OUTDIR/gen-*; other files there (regress-*: reproducers of bugs
 * found) are left alone.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/crc32c.h"
#include "fuzzsupport.h"
#include "statestored/batch.h"
#include "statestored/record.h"
#include "statestored/store.h"

#define NOW FZ_LOG_NOW_MS
#define FAR INT64_C(4000000000000)  /* an expiry no run reaches */
#define PAST INT64_C(1600000000000) /* one every run has passed */

static const char *outdir;
static int nseeds;

/* A seed being written. */
struct seed {
	char *p;
	size_t n, cap;
};

static void put(struct seed *s, const void *p, size_t n)
{
	if (s->n + n > s->cap) {
		s->cap = (s->n + n) * 2;
		s->p = fz_realloc(s->p, s->cap);
	}
	memcpy(s->p + s->n, p, n);
	s->n += n;
}

static void putf(struct seed *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct seed *s, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	put(s, line, (size_t)n);
}

/* An escape: 0xff c (and b when b >= 0). */
static void esc(struct seed *s, char c, int b)
{
	char e[3] = {(char)0xff, c, (char)b};
	put(s, e, b >= 0 ? 3 : 2);
}

static void save(const char *name, struct seed *s)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/gen-%s", outdir, name);
	fz_write_file(path, s->p, s->n);
	nseeds++;
	free(s->p);
	*s = (struct seed){0};
}

/* Records, then one group of them. */
static struct ss_batch g;

static void rec(enum ss_rec_type type, const char *name, const char *value, int64_t expire,
		uint64_t rev, uint64_t epoch)
{
	struct ss_record r = {.type = type, .name = name, .nlen = name ? strlen(name) : 0,
			      .value = value, .vlen = value ? strlen(value) : 0,
			      .expire_ms = expire, .rev = rev, .epoch = epoch, .commit_ms = NOW};
	if (ss_batch_add(&g, &r, NULL) < 0)
		fz_fail("ss_batch_add: %s", strerror(errno));
}

static void set(const char *name, const char *value, uint64_t rev)
{
	rec(SS_REC_SET, name, value, 0, rev, 0);
}

/* The group of the records added since the last; split (when at > 0) by
 * a read boundary at byte at of it. */
static void group_at(struct seed *s, size_t at)
{
	size_t n;
	const char *p = ss_batch_seal(&g, &n);

	if (at && at < n) {
		put(s, p, at);
		esc(s, '|', -1);
		put(s, p + at, n - at);
	} else {
		put(s, p, n);
	}
	ss_batch_reset(&g);
}

static void group(struct seed *s) { group_at(s, 0); }

/* A full sync's file: a compacted log of revisions 1-5 with an epoch
 * that began after revision 3 (every snapshot keeps its EPOCH records). */
static char *full_file(size_t *len)
{
	struct ss_store_options opt = {.dir = fz_path(1, "full"), .history = 2};
	char dir[1024];
	struct ss_store *st;
	struct ss_error err;

	snprintf(dir, sizeof dir, "%s", opt.dir);
	opt.dir = dir;
	fz_remove_tree(dir);
	if (ss_store_open(&st, &opt, NOW, NULL, &err) < 0)
		fz_fail("%s", err.msg);
	set("f1", "one", 1);
	if (fz_commit(st, &g, NOW, &err) < 0)
		fz_fail("%s", err.msg);
	set("f2", "two", 2);
	rec(SS_REC_DEL, "f1", NULL, 0, 3, 0);
	if (fz_commit(st, &g, NOW, &err) < 0)
		fz_fail("%s", err.msg);
	rec(SS_REC_EPOCH, NULL, NULL, 0, 3, 1);
	if (fz_commit(st, &g, NOW, &err) < 0)
		fz_fail("%s", err.msg);
	rec(SS_REC_SET, "f3", "three, with\na newline", FAR, 4, 0);
	set("f2", "two again", 5);
	if (fz_commit(st, &g, NOW, &err) < 0)
		fz_fail("%s", err.msg);
	if (ss_store_compact(st, NOW, &err) < 0)
		fz_fail("%s", err.msg);
	ss_store_close(st);
	char path[1100];
	snprintf(path, sizeof path, "%s/%s", dir, SS_LOG_FILE);
	char *p = fz_read_file(path, len);
	if (!p)
		fz_fail("no log in %s", dir);
	fz_remove_tree(dir);
	return p;
}

/* A record line whose fields are valid but whose bytes are not their one
 * encoding: the revision written with a leading zero, the CRC right. */
static void noncanonical_set(struct seed *s, const char *name, const char *value, uint64_t rev)
{
	char line[SS_RECORD_MAX];
	char body[SS_RECORD_MAX];
	struct ss_record r = {.type = SS_REC_SET, .name = name, .nlen = strlen(name),
			      .value = value, .vlen = strlen(value), .rev = rev, .commit_ms = NOW};
	size_t n = ss_record_encode(&r, line);
	/* "SET_CHECKPOINT name value 0 <rev> <ms> <crc>\n": put a 0 before <rev>. */
	char revtxt[32];
	snprintf(revtxt, sizeof revtxt, " 0 %llu ", (unsigned long long)rev);
	char *at = strstr(line, revtxt);
	if (!at)
		fz_fail("no revision field in '%.*s'", (int)n, line);
	size_t pre = (size_t)(at - line) + 3; /* past " 0 " */
	size_t blen = 0;
	memcpy(body, line, pre);
	blen = pre;
	body[blen++] = '0';
	memcpy(body + blen, line + pre, n - 9 - 1 - pre); /* up to the space before the CRC */
	blen += n - 9 - 1 - pre;
	uint32_t crc = ss_crc32c(0, body, blen);
	blen += (size_t)snprintf(body + blen, sizeof body - blen, " %08x\n", crc);
	putf(s, "GROUP 1 %08x\n", ss_crc32c(0, "GROUP 1", 7));
	put(s, body, blen);
}

static void remove_old(void)
{
	DIR *d = opendir(outdir);
	struct dirent *e;
	char path[1024];

	if (!d)
		fz_fail("%s: %s", outdir, strerror(errno));
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, "gen-", 4) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", outdir, e->d_name);
		if (unlink(path) < 0)
			fz_fail("%s: %s", path, strerror(errno));
	}
	closedir(d);
}

int main(int argc, char **argv)
{
	struct seed s = {0};

	if (argc != 2) {
		fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
		return 2;
	}
	outdir = argv[1];
	remove_old();
	ss_batch_init(&g);

	/* A partial sync from nothing: groups, each committed, control lines
	 * between them, a group split across two reads. */
	putf(&s, "CONTINUE 0 0\n");
	set("a", "v1", 1);
	group(&s);
	putf(&s, "COMMIT 1\nPING 1700000000000 1\n");
	rec(SS_REC_SET, "b b", "has space\nand a newline \\", FAR, 2, 0);
	group_at(&s, 20);
	rec(SS_REC_DEL, "a", NULL, 0, 3, 0);
	group(&s);
	esc(&s, '|', -1);
	putf(&s, "SYNCSET 1 127.0.0.1:7000\nCOMMIT 3\nPING 1700000000001 3\n");
	save("continue", &s);

	/* The same, a byte per read. */
	esc(&s, 'k', 1);
	putf(&s, "CONTINUE 0 0\n");
	set("a", "v1", 1);
	group(&s);
	putf(&s, "COMMIT 1\n");
	rec(SS_REC_SET, "b", "v2", PAST, 2, 0);
	rec(SS_REC_SET, "c", "v2", 0, 2, 0);
	group(&s);
	putf(&s, "COMMIT 2\n");
	save("bytewise", &s);

	/* Written, never committed: nothing past COMMIT 1 may show. */
	putf(&s, "CONTINUE 0 0\n");
	set("a", "v1", 1);
	group(&s);
	putf(&s, "COMMIT 1\n");
	set("a", "v2", 2);
	group(&s);
	set("b", "v3", 3);
	group(&s);
	putf(&s, "PING 1700000000000 3\n");
	save("uncommitted", &s);

	/* A multi-commit (one revision, several records), names and values
	 * that need escapes, an expiry already past, a COMMIT in a later read. */
	putf(&s, "CONTINUE 0 0\n");
	rec(SS_REC_SET, "m\x01", "x\xff" "y", 0, 1, 0);
	rec(SS_REC_SET, "m2", "expired", PAST, 1, 0);
	rec(SS_REC_DEL, "nothing", NULL, 0, 1, 0);
	group(&s);
	esc(&s, '|', -1);
	putf(&s, "COMMIT 1\n");
	save("multi", &s);

	/* A promotion on the primary's side: an EPOCH record in the stream. */
	putf(&s, "CONTINUE 0 0\n");
	set("a", "v1", 1);
	group(&s);
	rec(SS_REC_EPOCH, NULL, NULL, 0, 1, 1);
	group(&s);
	set("a", "v2", 2);
	group(&s);
	putf(&s, "COMMIT 2\nSYNCSET 0 -\n");
	save("epoch", &s);

	/* A full sync: a real compacted log, then the groups after it. */
	size_t flen;
	char *file = full_file(&flen);
	putf(&s, "FULLSYNC 1 5 ");
	esc(&s, 'N', -1);
	putf(&s, "\n");
	put(&s, file, flen);
	esc(&s, 'E', -1);
	set("f4", "after", 6);
	group(&s);
	putf(&s, "COMMIT 6\n");
	save("fullsync", &s);

	/* The same in reads of 7 bytes. */
	esc(&s, 'k', 7);
	putf(&s, "FULLSYNC 1 5 ");
	esc(&s, 'N', -1);
	putf(&s, "\n");
	put(&s, file, flen);
	esc(&s, 'E', -1);
	set("f4", "after", 6);
	group(&s);
	putf(&s, "COMMIT 6\n");
	save("fullsync-chunked", &s);

	/* A full sync over a store that held something. */
	esc(&s, 'S', 1);
	putf(&s, "FULLSYNC 1 5 ");
	esc(&s, 'N', -1);
	putf(&s, "\n");
	put(&s, file, flen);
	esc(&s, 'E', -1);
	putf(&s, "COMMIT 5\n");
	save("fullsync-over", &s);

	/* A deposed primary's tail: cut back to revision 1, then follow. */
	esc(&s, 'S', 1);
	putf(&s, "TRUNCATE 1\nCONTINUE 1 1\n");
	set("b", "b-new", 2);
	group(&s);
	putf(&s, "COMMIT 2\n");
	save("truncate", &s);

	/* Asked to cut twice in a row: the replica backs off. */
	esc(&s, 'S', 2);
	putf(&s, "TRUNCATE 1\nTRUNCATE 1\n");
	save("truncate-twice", &s);

	/* A cut inside the start's snapshot: a full sync instead. */
	esc(&s, 'S', 3);
	putf(&s, "TRUNCATE 1\nFULLSYNC 1 5 ");
	esc(&s, 'N', -1);
	putf(&s, "\n");
	put(&s, file, flen);
	esc(&s, 'E', -1);
	putf(&s, "COMMIT 5\n");
	save("truncate-full", &s);
	free(file);

	/* A primary of an older epoch than the replica's log: refused. */
	esc(&s, 'S', 2);
	putf(&s, "CONTINUE 0 4\n");
	set("x", "old epoch", 5);
	group(&s);
	putf(&s, "COMMIT 5\n");
	save("older-epoch", &s);

	/* Following on from a store that holds revisions 1-3. */
	esc(&s, 'S', 1);
	putf(&s, "CONTINUE 0 3\n");
	set("d", "v4", 4);
	group(&s);
	putf(&s, "COMMIT 4\nPING 1700000000000 4\n");
	save("continue-at-3", &s);

	/* A record whose bytes are not its fields' one encoding. */
	putf(&s, "CONTINUE 0 0\n");
	noncanonical_set(&s, "a", "v1", 1);
	putf(&s, "COMMIT 1\n");
	save("noncanonical", &s);

	/* Revisions going backwards between two groups of one read. */
	putf(&s, "CONTINUE 0 0\n");
	set("a", "v5", 5);
	group(&s);
	set("b", "v3", 3);
	group(&s);
	putf(&s, "COMMIT 5\n");
	save("backwards", &s);

	/* A REVISION record in the stream (only snapshots hold one). */
	putf(&s, "CONTINUE 0 0\n");
	rec(SS_REC_REV, NULL, NULL, 0, 7, 0);
	group(&s);
	putf(&s, "COMMIT 7\n");
	save("revision-record", &s);

	/* Faults: the log's fdatasync fails (the replica must stop, having
	 * acknowledged nothing of it); its write fails (the link drops). */
	esc(&s, 'f', 3);
	putf(&s, "CONTINUE 0 0\n");
	set("a", "v1", 1);
	group(&s);
	putf(&s, "COMMIT 1\n");
	save("fault-fdatasync", &s);
	putf(&s, "CONTINUE 0 0\n");
	set("a", "v1", 1);
	group(&s);
	putf(&s, "COMMIT 1\n");
	esc(&s, 'f', 0);
	set("b", "v2", 2);
	group(&s);
	putf(&s, "COMMIT 2\n");
	save("fault-pwrite", &s);
	esc(&s, 'P', 1);
	esc(&s, 'f', 2);
	putf(&s, "CONTINUE 0 0\n");
	set("a", "a value long enough to be written in two halves", 1);
	group(&s);
	putf(&s, "COMMIT 1\n");
	save("fault-short", &s);

	ss_batch_free(&g);
	printf("wrote %d seeds to %s\n", nseeds, outdir);
	return 0;
}
