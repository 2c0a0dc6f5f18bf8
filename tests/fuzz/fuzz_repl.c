/*
 * fuzz_repl.c - libFuzzer target for the replica's side of replication
 * (server/replica.c): the bytes a primary sends are untrusted network
 * input. The input is what arrives on the link after REPLSYNC, fed to the
 * replica's own parser (ss_replica_test_feed) in reads the input chooses,
 * on a real store in this process's scratch directory, with the server's
 * part played here as role.c plays it: install (a full sync's file,
 * ss_store_install), cut (close, reopen with truncate; a full sync if the
 * cut is inside the snapshot) and fatal (recorded; nothing more is fed, as
 * the daemon stops).
 *
 * The input is the stream, raw, with escapes (0xff never occurs in a log
 * line or a control line: names and values are escaped in the log):
 *
 *   0xff 0xff     a literal 0xff byte
 *   0xff '|'      a read ends here: what came since the last one is fed
 *   0xff 'k' b    from here on reads are cut into pieces of at most b bytes
 *                 (0: whole), so partial lines and groups are common
 *   0xff 'f' b    arm a one-shot I/O fault on the ((b>>3)&7)+1-th next call:
 *                 b&7 = pwrite EIO, pwrite ENOSPC, short pwrite, fdatasync
 *                 EIO, ftruncate EIO, rename EIO, fsync EIO, open EMFILE
 *   0xff 'N'      the decimal count of the bytes from the next newline
 *                 (excluded) up to the next 0xff 'E' (which stands for
 *                 nothing): "FULLSYNC 0 3 \xffN\n<file>\xffE" keeps a full
 *                 sync's length right whatever the fuzzer does to the file
 *   0xff other    a read boundary, as '|'
 * and, only at the very start:
 *   0xff 'S' b    the store the replica starts on, by b % 4: empty; three
 *                 commits (revisions 1-3); revisions 1-2, EPOCH 1 after
 *                 revision 2, revisions 3-4 (a promoted node's log); or the
 *                 three commits compacted (a cut into them needs a full
 *                 sync) [empty]
 *   0xff 'H' b    history depth b % 5 [2]
 *   0xff 'P' b    preallocation 0, 512 or 4096 bytes by b % 3 [0]
 * The input ends as if the link were still up. Seeds: corpus/fuzz_repl,
 * written by the engine's own encoder (fuzz-mkseeds-repl). FZ_REPL_VERBOSE=1
 * prints what each input did (applied, durable, drops, installs, cuts).
 *
 * Oracles (each a fz_check: the input is kept as a crash):
 *   - no crash, leak or undefined behaviour (the sanitizers);
 *   - nothing is applied without a COMMIT covering it: after every read,
 *     the table's revision is at most the highest of the store's revision
 *     at the start, after each full sync installed and after each cut, and
 *     every COMMIT the stream carried so far (a model of the stream here,
 *     line by line: handshake lines, a full sync's bytes skipped by its
 *     length, then control lines);
 *   - a COMMIT applies what it covers: once fed, no written group the
 *     highest COMMIT covers is still waiting (unless the link dropped or
 *     the server was told to stop);
 *   - what is applied stays shown across a restart: after every read, the
 *     commit point on disk (replication.commit, which a restart applies up
 *     to) covers the table's revision, unless a start, install or cut
 *     showed that revision already;
 *   - the replica acknowledges only what is durable: after every read, the
 *     revision it would ACK (durable_rev, what send_ack sends) is covered
 *     by the complete groups of its log as of the log's last successful
 *     fdatasync (this file's I/O table keeps a copy of each file's bytes at
 *     each fdatasync that succeeded);
 *   - the server is told to stop only when a fault was injected;
 *   - at the end the log replays (ss_store_check) with nothing torn (unless
 *     a fault was injected), and - once the replica stopped following,
 *     which applies everything written (as a promotion does) - replays to
 *     exactly the table in memory, revisions and commit times included
 *     (unless the server was told to stop);
 *   - the log holds only what the primary sent: every SET, DEL and EPOCH
 *     line of it is, byte for byte, a line of the input (or of the store
 *     the replica started on); a REVISION line (a cut's rewrite writes
 *     one) is the only line it may make, and the table's revision never
 *     exceeds the highest revision any line of the input (or the starting
 *     store) holds. So a record whose bytes are not the one encoding of its
 *     fields, which the log could not replay, is refused, never written;
 *   - revisions never go backwards on the replica: the SET and DEL records
 *     it appends to its log (since its start, last install or last cut)
 *     have revisions above what it held then, and never below the one
 *     before (one multi-commit's records share one).
 */
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/diag.h"
#include "common/numparse.h"
#include "engine/crc32c.h"
#include "fuzzsupport.h"
#include "server/repl.h"
#include "server/replica.h"
#include "server/server.h"
#include "statestored/record.h"
#include "statestored/store.h"
#include "statestored/table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

#define ESC 0xff
#define MY_PORT 7000

/* ---- an I/O table that remembers what each file held when it was synced ---- */

struct synced {
	dev_t dev;
	ino_t ino;
	char *bytes;
	size_t len;
};
#define SYNCED_MAX 16

struct tio {
	struct ss_io io;
	struct fz_io fz;
	struct synced files[SYNCED_MAX];
	size_t nfiles;
};

static struct tio tio;

static void tio_forget(void)
{
	for (size_t i = 0; i < tio.nfiles; i++)
		free(tio.files[i].bytes);
	tio.nfiles = 0;
}

/* fd was synced: keep a copy of its bytes under its inode. */
static void tio_remember(int fd)
{
	struct stat st;

	fz_check(fstat(fd, &st) == 0, "fstat of a synced file: %s", strerror(errno));
	struct synced *s = NULL;
	for (size_t i = 0; i < tio.nfiles; i++)
		if (tio.files[i].dev == st.st_dev && tio.files[i].ino == st.st_ino)
			s = &tio.files[i];
	if (!s) {
		fz_check(tio.nfiles < SYNCED_MAX, "more than %d files synced", SYNCED_MAX);
		s = &tio.files[tio.nfiles++];
		*s = (struct synced){.dev = st.st_dev, .ino = st.st_ino};
	}
	free(s->bytes);
	s->len = (size_t)st.st_size;
	s->bytes = fz_alloc(s->len + 1);
	/* fd may be open for writing only (a full sync's file is). */
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	int rfd = open(path, O_RDONLY | O_CLOEXEC);
	fz_check(rfd >= 0, "reopening a synced file to read it: %s", strerror(errno));
	size_t got = 0;
	while (got < s->len) {
		ssize_t k = pread(rfd, s->bytes + got, s->len - got, (off_t)got);
		fz_check(k > 0, "reading a synced file back: %s", k < 0 ? strerror(errno) : "EOF");
		got += (size_t)k;
	}
	close(rfd);
}

static const struct synced *tio_synced(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return NULL;
	for (size_t i = 0; i < tio.nfiles; i++)
		if (tio.files[i].dev == st.st_dev && tio.files[i].ino == st.st_ino)
			return &tio.files[i];
	return NULL;
}

static int t_open(void *c, const char *p, int f, mode_t m)
{
	(void)c;
	return tio.fz.io.open(tio.fz.io.ctx, p, f, m);
}
static int t_close(void *c, int fd)
{
	(void)c;
	return tio.fz.io.close(tio.fz.io.ctx, fd);
}
static ssize_t t_pwrite(void *c, int fd, const void *b, size_t n, off_t o)
{
	(void)c;
	return tio.fz.io.pwrite(tio.fz.io.ctx, fd, b, n, o);
}
static int t_fdatasync(void *c, int fd)
{
	(void)c;
	int rc = tio.fz.io.fdatasync(tio.fz.io.ctx, fd);
	if (rc == 0)
		tio_remember(fd);
	return rc;
}
static int t_fsync(void *c, int fd)
{
	(void)c;
	return tio.fz.io.fsync(tio.fz.io.ctx, fd);
}
static int t_ftruncate(void *c, int fd, off_t len)
{
	(void)c;
	return tio.fz.io.ftruncate(tio.fz.io.ctx, fd, len);
}
static int t_rename(void *c, const char *a, const char *b)
{
	(void)c;
	return tio.fz.io.rename(tio.fz.io.ctx, a, b);
}
static int t_unlink(void *c, const char *p)
{
	(void)c;
	return tio.fz.io.unlink(tio.fz.io.ctx, p);
}

static void tio_init(void)
{
	tio_forget();
	fz_io_init(&tio.fz);
	tio.io = (struct ss_io){.ctx = &tio, .open = t_open, .close = t_close, .pwrite = t_pwrite,
				.fdatasync = t_fdatasync, .fsync = t_fsync, .ftruncate = t_ftruncate,
				.rename = t_rename, .unlink = t_unlink};
}

/* The highest revision (of any record, EPOCH's included: it is what the
 * replica counts) among the complete groups of a log's bytes; 0 if none. */
static uint64_t log_max_rev(const char *p, size_t n)
{
	long version;
	long h = ss_record_header_check(p, n, &version);
	uint64_t max = 0;

	if (h <= 0 || version != SS_LOG_VERSION)
		return 0;
	size_t off = (size_t)h;
	while (off < n) {
		struct ss_record r;
		size_t used;
		if (ss_record_decode(p + off, n - off, &r, &used) != SS_DEC_OK ||
		    r.type != SS_REC_GROUP)
			break;
		size_t at = off + used;
		uint64_t gmax = 0;
		uint32_t i = 0;
		for (; i < r.count; i++) {
			struct ss_record x;
			if (ss_record_decode(p + at, n - at, &x, &used) != SS_DEC_OK ||
			    x.type == SS_REC_GROUP)
				break;
			gmax = x.rev > gmax ? x.rev : gmax;
			at += used;
		}
		if (i < r.count)
			break; /* torn: not durable */
		max = gmax > max ? gmax : max;
		off = at;
	}
	return max;
}

/* ---- the input ----------------------------------------------------------- */

enum ev_kind { EV_FEED, EV_CHUNK, EV_FAULT };
struct event {
	enum ev_kind kind;
	size_t off, len; /* EV_FEED: bytes of the stream */
	unsigned b;      /* EV_CHUNK, EV_FAULT */
};

struct input {
	char *bytes; /* the stream, unescaped */
	size_t len;
	struct event *evs;
	size_t nev, capev;
	unsigned start_state, history, prealloc;
};

static void add_ev(struct input *in, struct event e)
{
	if (e.kind == EV_FEED && e.len == 0)
		return;
	if (in->nev == in->capev) {
		in->capev = in->capev ? in->capev * 2 : 16;
		in->evs = fz_realloc(in->evs, in->capev * sizeof(*in->evs));
	}
	in->evs[in->nev++] = e;
}

/* The counts of the 'N' escapes, in order (pass 1), then the stream and
 * its events (pass 2). */
static void parse_input(const uint8_t *d, size_t n, struct input *in)
{
	size_t nlen = 0, caplen = 0, *lens = NULL;
	size_t i = 0;

	memset(in, 0, sizeof(*in));
	in->history = 2;
	/* The configuration escapes. */
	while (i + 2 < n && d[i] == ESC && (d[i + 1] == 'S' || d[i + 1] == 'H' || d[i + 1] == 'P')) {
		unsigned b = d[i + 2];
		if (d[i + 1] == 'S')
			in->start_state = b % 4;
		else if (d[i + 1] == 'H')
			in->history = b % 5;
		else
			in->prealloc = (unsigned[]){0, 512, 4096}[b % 3];
		i += 3;
	}
	size_t body = i;
	/* Pass 1: each 'N''s count. */
	{
		size_t open = (size_t)-1, count = 0; /* open: the N waiting for its newline/E */
		int counting = 0;
		for (size_t k = body; k < n; k++) {
			if (d[k] == ESC && k + 1 < n) {
				uint8_t c = d[++k];
				if (c == ESC) {
					count += counting;
					continue;
				}
				if (c == 'k' || c == 'f')
					k++;
				else if (c == 'N') {
					if (nlen == caplen) {
						caplen = caplen ? caplen * 2 : 4;
						lens = fz_realloc(lens, caplen * sizeof(*lens));
					}
					lens[nlen] = 0;
					open = nlen++;
					counting = 0;
					count = 0;
				} else if (c == 'E' && open != (size_t)-1) {
					lens[open] = counting ? count : 0;
					open = (size_t)-1;
					counting = 0;
				}
				continue;
			}
			if (open == (size_t)-1)
				continue;
			if (counting)
				count++;
			else if (d[k] == '\n')
				counting = 1;
		}
		if (open != (size_t)-1)
			lens[open] = counting ? count : 0;
	}
	/* Pass 2. */
	size_t cap = n + 24 * nlen + 1, ni = 0, last = 0;
	in->bytes = fz_alloc(cap);
	for (size_t k = body; k < n; k++) {
		if (d[k] != ESC) {
			in->bytes[in->len++] = (char)d[k];
			continue;
		}
		if (k + 1 == n)
			break; /* a lone escape at the end */
		uint8_t c = d[++k];
		if (c == ESC) {
			in->bytes[in->len++] = (char)ESC;
			continue;
		}
		if (c == 'N') {
			in->len += (size_t)sprintf(in->bytes + in->len, "%zu", lens[ni++]);
			continue;
		}
		if (c == 'E')
			continue;
		add_ev(in, (struct event){EV_FEED, last, in->len - last, 0});
		last = in->len;
		if ((c == 'k' || c == 'f') && k + 1 < n)
			add_ev(in, (struct event){c == 'k' ? EV_CHUNK : EV_FAULT, 0, 0, d[++k]});
	}
	add_ev(in, (struct event){EV_FEED, last, in->len - last, 0});
	free(lens);
}

/* The highest revision of any record line of p[0..n) (a line that
 * decodes, wherever it is). */
static uint64_t lines_max_rev(const char *p, size_t n)
{
	uint64_t max = 0;

	for (size_t off = 0; off < n;) {
		const char *nl = memchr(p + off, '\n', n - off);
		size_t end = nl ? (size_t)(nl - p) + 1 : n;
		struct ss_record r;
		size_t used;
		if (ss_record_decode(p + off, end - off, &r, &used) == SS_DEC_OK &&
		    r.type != SS_REC_GROUP && r.rev > max)
			max = r.rev;
		off = end;
	}
	return max;
}

/* Whether line[0..n) (its newline included) is a whole line of p[0..len). */
static int has_line(const char *p, size_t len, const char *line, size_t n)
{
	for (const char *q = p; q + n <= p + len;) {
		const char *hit = memmem(q, (size_t)(p + len - q), line, n);
		if (!hit)
			return 0;
		if (hit == p || hit[-1] == '\n')
			return 1;
		q = hit + 1;
	}
	return 0;
}

/* ---- the model of the stream: where COMMIT lines are ------------------- */

enum mstate { M_HELLO, M_FILE, M_STREAM };
struct model {
	enum mstate state;
	uint64_t file_left;
	char *line;
	size_t n, cap;
	uint64_t commit; /* the highest COMMIT seen */
};

static void model_line(struct model *m)
{
	char *p = m->line;
	size_t n = m->n;
	uint64_t a, b, c;

	if (m->state == M_STREAM) {
		if (n > 7 && memcmp(p, "COMMIT ", 7) == 0 && ss_parse_u64(p + 7, n - 7, &a) == 0 &&
		    a > m->commit)
			m->commit = a;
		return;
	}
	/* The handshake, as hello_line reads it. */
	if (n && p[n - 1] == '\r')
		n--;
	p[n] = '\0';
	if (sscanf(p, "CONTINUE %" SCNu64 " %" SCNu64, &a, &b) == 2) {
		m->state = M_STREAM;
	} else if (sscanf(p, "FULLSYNC %" SCNu64 " %" SCNu64 " %" SCNu64, &a, &b, &c) == 3) {
		m->state = c ? M_FILE : M_STREAM;
		m->file_left = c;
	}
	/* TRUNCATE: another handshake line follows; anything else drops. */
}

static void model_feed(struct model *m, const char *p, size_t n)
{
	for (size_t i = 0; i < n;) {
		if (m->state == M_FILE) {
			size_t k = n - i < m->file_left ? n - i : (size_t)m->file_left;
			i += k;
			m->file_left -= k;
			if (!m->file_left)
				m->state = M_STREAM;
			continue;
		}
		if (p[i] == '\n') {
			model_line(m);
			m->n = 0;
			i++;
			continue;
		}
		if (m->n + 2 > m->cap) {
			m->cap = m->cap ? m->cap * 2 : 256;
			m->line = fz_realloc(m->line, m->cap);
		}
		m->line[m->n++] = p[i++];
	}
}

/* ---- the server's part ---------------------------------------------------- */

struct run {
	struct ev_loop *loop;
	struct ss_diag diag;
	int64_t now;
	char dir[4096], log[4200];
	unsigned history, prealloc;
	struct ss_store *store;
	struct ss_repl repl;
	struct ss_replica rp;
	int fatal;       /* the exit code the server was told, or 0 */
	int lost;        /* the store is gone (an install or a cut failed after the close) */
	uint64_t bound;  /* what may be applied without a COMMIT (see the top) */
	uint64_t base_off, base_rev; /* the log's end and revision at the start,
				      * the last install or cut: the replica
				      * appends after it */
	uint64_t cuts, installs;
};

static struct run R;

static void store_options(struct ss_store_options *opt)
{
	*opt = (struct ss_store_options){.dir = R.dir, .io = &tio.io, .history = R.history,
					 .prealloc_bytes = R.prealloc};
}

static void swapped(void)
{
	uint64_t rev = ss_table_revision(ss_store_table(R.store));

	ss_repl_reset(&R.repl, R.store);
	ss_replica_set_store(&R.rp, R.store);
	if (rev > R.bound)
		R.bound = rev;
	R.base_off = ss_store_log_bytes(R.store);
	R.base_rev = rev;
}

static int op_install(void *arg)
{
	struct ss_store_options opt;
	struct ss_open_report rep;
	struct ss_error err;
	(void)arg;

	store_options(&opt);
	if (ss_store_install(&R.store, &opt, R.now, &rep, &err) < 0) {
		if (!R.store) {
			R.lost = 1;
			R.fatal = SS_EXIT_ERROR;
			ss_replica_set_store(&R.rp, NULL);
		}
		return -1;
	}
	R.installs++;
	swapped();
	return 0;
}

static int op_cut(void *arg, uint64_t rev, uint64_t *discarded)
{
	struct ss_store_options opt;
	struct ss_open_report rep;
	struct ss_error err;
	int rc = 0;
	(void)arg;

	*discarded = 0;
	ss_store_close(R.store);
	R.store = NULL;
	store_options(&opt);
	opt.truncate = 1;
	opt.truncate_rev = rev;
	if (ss_store_open(&R.store, &opt, R.now, &rep, &err) == 0) {
		*discarded = rep.discarded;
	} else if (err.kind == SS_ERR_TRUNCATE) {
		store_options(&opt);
		rc = ss_store_open(&R.store, &opt, R.now, &rep, &err) == 0 ? 1 : -1;
	} else {
		rc = -1;
	}
	if (rc < 0) {
		R.lost = 1;
		R.fatal = SS_EXIT_ERROR;
		ss_replica_set_store(&R.rp, NULL);
		return -1;
	}
	fz_check(ss_table_revision(ss_store_table(R.store)) <= rev || rc == 1,
		 "cut back to revision %" PRIu64 ", the store is at %" PRIu64, rev,
		 ss_table_revision(ss_store_table(R.store)));
	R.cuts++;
	swapped();
	return rc;
}

static void op_fatal(void *arg, int code)
{
	(void)arg;
	fz_check(code != 0, "told to stop with exit code 0");
	if (!R.fatal)
		R.fatal = code;
}

/* ---- the start ---------------------------------------------------------- */

static void add(struct ss_batch *b, enum ss_rec_type type, const char *name, const char *value,
		uint64_t rev, uint64_t epoch)
{
	struct ss_record r = {.type = type, .name = name, .nlen = name ? strlen(name) : 0,
			      .value = value, .vlen = value ? strlen(value) : 0, .rev = rev,
			      .epoch = epoch, .commit_ms = R.now - 1000};
	fz_check(ss_batch_add(b, &r, NULL) == 0, "ss_batch_add: %s", strerror(errno));
}

/* The store the replica starts on (state: see the top). */
static void start_store(unsigned state)
{
	struct ss_store_options opt;
	struct ss_error err;
	struct ss_batch b;

	store_options(&opt);
	if (ss_store_open(&R.store, &opt, R.now, NULL, &err) < 0)
		fz_fail("opening a fresh store: %s", err.msg);
	if (state == 0)
		return;
	ss_batch_init(&b);
	add(&b, SS_REC_SET, "a", "a1", 1, 0);
	fz_check(fz_commit(R.store, &b, R.now, &err) == 0, "commit: %s", err.msg);
	add(&b, SS_REC_SET, "b", "b2", 2, 0);
	fz_check(fz_commit(R.store, &b, R.now, &err) == 0, "commit: %s", err.msg);
	if (state == 2) {
		add(&b, SS_REC_EPOCH, NULL, NULL, 2, 1);
		fz_check(fz_commit(R.store, &b, R.now, &err) == 0, "commit: %s", err.msg);
	}
	add(&b, SS_REC_DEL, "a", NULL, 3, 0);
	fz_check(fz_commit(R.store, &b, R.now, &err) == 0, "commit: %s", err.msg);
	if (state == 2) {
		add(&b, SS_REC_SET, "c", "c4", 4, 0);
		fz_check(fz_commit(R.store, &b, R.now, &err) == 0, "commit: %s", err.msg);
	}
	ss_batch_free(&b);
	if (state == 3 && ss_store_compact(R.store, R.now, &err) < 0)
		fz_fail("compacting the start: %s", err.msg);
}

static struct ev_loop *the_loop(void)
{
	static struct ev_loop *loop;

	if (!loop) {
		loop = ev_loop_new(EVFLAG_AUTO);
		fz_check(loop != NULL, "ev_loop_new");
	}
	return loop;
}

static FILE *devnull(void)
{
	static FILE *f;

	if (!f) {
		f = fopen("/dev/null", "w");
		fz_check(f != NULL, "/dev/null: %s", strerror(errno));
	}
	return f;
}

/* ---- the checks ------------------------------------------------------------ */

/* After each read. */
static void check_read(const struct model *m, int dropped)
{
	if (R.lost)
		return;
	struct ss_table *t = ss_store_table(R.store);
	uint64_t applied = ss_table_revision(t);
	uint64_t bound = m->commit > R.bound ? m->commit : R.bound;

	fz_check(applied <= bound,
		 "revision %" PRIu64 " applied, but no COMMIT covers it: the stream's highest "
		 "COMMIT is %" PRIu64 ", the store held %" PRIu64 " at its start, install or cut",
		 applied, m->commit, R.bound);
	if (!dropped && !R.fatal)
		fz_check(R.rp.nqueue == 0 || R.rp.queue_rev[0] > R.rp.primary_commit,
			 "a written group of revision %" PRIu64 " waits although COMMIT %" PRIu64
			 " covers it",
			 R.rp.queue_rev[0], R.rp.primary_commit);
	/* A restart applies no more than the commit point on disk (the rest
	 * waits for the primary): it must cover what is applied now, or a
	 * restart would show less than was shown (revisions going back). A
	 * start, install or cut shows what its log's snapshot holds. */
	uint64_t noted = 0;
	if (applied > R.base_rev && ss_repl_commit_read(R.dir, &noted) < 0)
		noted = 0;
	fz_check(applied <= R.base_rev || noted >= applied,
		 "revision %" PRIu64 " applied, but the commit point a restart reads is %" PRIu64,
		 applied, noted);
	const struct synced *s = tio_synced(R.log);
	uint64_t durable = s ? log_max_rev(s->bytes, s->len) : 0;
	fz_check(R.rp.durable_rev <= durable,
		 "the replica would acknowledge revision %" PRIu64 " but its log as last synced "
		 "holds up to %" PRIu64,
		 R.rp.durable_rev, durable);
}

/* The log's record lines: each SET, DEL and EPOCH is a line of src; and
 * the SET and DEL records the replica appended (past base_off) never go
 * back in revision, nor to the revision it had when it began appending. */
static void check_log_lines(const char *src, size_t srclen)
{
	uint64_t last = R.base_rev;
	size_t n;
	char *p = fz_read_file(R.log, &n);
	long version;

	fz_check(p != NULL, "no log at the end");
	long h = ss_record_header_check(p, n, &version);
	fz_check(h > 0 && version == SS_LOG_VERSION, "the log's header is not version %d",
		 SS_LOG_VERSION);
	for (size_t off = (size_t)h; off < n && p[off];) {
		struct ss_record r;
		size_t used;
		if (ss_record_decode(p + off, n - off, &r, &used) != SS_DEC_OK)
			break; /* a torn tail: the check below judges it */
		if (r.type == SS_REC_SET || r.type == SS_REC_DEL || r.type == SS_REC_EPOCH)
			fz_check(has_line(src, srclen, p + off, used),
				 "the log holds a line the primary never sent: '%.*s'",
				 (int)(used < 200 ? used - 1 : 200), p + off);
		if (off >= R.base_off && (r.type == SS_REC_SET || r.type == SS_REC_DEL)) {
			fz_check(r.rev >= last && r.rev > R.base_rev,
				 "the replica appended revision %" PRIu64 " after %" PRIu64
				 " (it held %" PRIu64 "): '%.*s'", r.rev, last, R.base_rev,
				 (int)(used < 200 ? used - 1 : 200), p + off);
			last = r.rev;
		}
		off += used;
	}
	free(p);
}

/* ---- the target ------------------------------------------------------------ */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in;
	struct model m = {0};
	struct ss_replica_ops ops = {.install = op_install, .cut = op_cut, .fatal = op_fatal};
	struct ss_repl_config rcfg = {0};
	struct ss_repl_ops rops = {0};

	parse_input(data, size, &in);
	m.cap = 256;
	m.line = fz_alloc(m.cap);
	memset(&R, 0, sizeof(R));
	R.loop = the_loop();
	R.diag = (struct ss_diag){.level = SS_ERROR, .out = devnull()};
	R.now = (int64_t)(ev_now(R.loop) * 1000.0);
	R.history = in.history;
	R.prealloc = in.prealloc;
	snprintf(R.dir, sizeof R.dir, "%s", fz_path(0, "data"));
	snprintf(R.log, sizeof R.log, "%s/%s", R.dir, SS_LOG_FILE);
	fz_remove_tree(R.dir);
	tio_init();

	start_store(in.start_state);
	size_t startlen;
	char *startlog = fz_read_file(R.log, &startlen);
	fz_check(startlog != NULL, "no log after opening the store");
	/* Every line a correct log here may hold: the input's and the start's. */
	size_t srclen = in.len + 1 + startlen;
	char *src = fz_alloc(srclen + 1);
	memcpy(src, in.bytes, in.len);
	src[in.len] = '\n';
	memcpy(src + in.len + 1, startlog, startlen);
	uint64_t max_rev = lines_max_rev(src, srclen);
	R.bound = R.base_rev = ss_table_revision(ss_store_table(R.store));
	R.base_off = ss_store_log_bytes(R.store);

	ss_repl_init(&R.repl, R.loop, &R.diag, R.store, NULL, R.dir, &rcfg, &rops);
	fz_check(ss_replica_init(&R.rp, R.loop, &R.diag, &tio.io, &R.repl, R.dir, MY_PORT, NULL,
				 10.0, &ops) == 0,
		 "ss_replica_init");
	ss_replica_test_begin(&R.rp, R.store);

	/* Feed. */
	size_t chunk = 0;
	int dropped = 0;
	for (size_t e = 0; e < in.nev && !dropped && !R.fatal; e++) {
		const struct event *ev = &in.evs[e];
		if (ev->kind == EV_CHUNK) {
			chunk = ev->b;
			continue;
		}
		if (ev->kind == EV_FAULT) {
			static const struct {
				enum fz_op op;
				int err;
			} faults[8] = {{FZ_OP_PWRITE, EIO},    {FZ_OP_PWRITE, ENOSPC},
				       {FZ_OP_PWRITE, FZ_SHORT_WRITE}, {FZ_OP_FDATASYNC, EIO},
				       {FZ_OP_FTRUNCATE, EIO}, {FZ_OP_RENAME, EIO},
				       {FZ_OP_FSYNC, EIO},     {FZ_OP_OPEN, EMFILE}};
			(void)fz_io_arm(&tio.fz, faults[ev->b & 7].op, ((ev->b >> 3) & 7) + 1,
					faults[ev->b & 7].err);
			continue;
		}
		for (size_t off = 0; off < ev->len && !dropped && !R.fatal;) {
			size_t n = ev->len - off;
			if (chunk && n > chunk)
				n = chunk;
			const char *p = in.bytes + ev->off + off;
			model_feed(&m, p, n);
			dropped = ss_replica_test_feed(&R.rp, p, n) < 0;
			off += n;
			check_read(&m, dropped);
		}
	}
	fz_check(!R.fatal || tio.fz.injected > 0, "the server was told to stop (exit %d) with "
		 "no fault injected", R.fatal);
	if (getenv("FZ_REPL_VERBOSE"))
		fprintf(stderr,
			"fuzz_repl: %s; applied %" PRIu64 ", durable %" PRIu64 ", highest COMMIT %"
			PRIu64 "; %" PRIu64 " groups, %" PRIu64 " records, %" PRIu64 " fsyncs, %"
			PRIu64 " protocol errors; %" PRIu64 " installs, %" PRIu64 " cuts (%" PRIu64
			" records), %lu faults, exit %d%s\n",
			dropped ? "dropped" : "link up",
			R.lost ? 0 : ss_table_revision(ss_store_table(R.store)), R.rp.durable_rev,
			m.commit, R.rp.st.groups, R.rp.st.records, R.rp.st.fsyncs,
			R.rp.st.protocol_errors, R.installs, R.cuts, R.rp.st.truncated_records,
			tio.fz.injected, R.fatal, R.lost ? ", store lost" : "");

	/* Stop following: everything written is applied, as a promotion does. */
	struct fz_map mem = {0}, replayed = {0};
	uint64_t mem_rev = 0;
	if (!R.lost) {
		fz_check(ss_replica_stop(&R.rp) == 0, "ss_replica_stop");
		fz_map_from_table(&mem, ss_store_table(R.store), R.now);
		mem_rev = ss_table_revision(ss_store_table(R.store));
		fz_check(mem_rev <= max_rev, "the store is at revision %" PRIu64 ", past every "
			 "revision the primary sent (%" PRIu64 ")", mem_rev, max_rev);
	}
	uint64_t durable_rev = R.rp.durable_rev;
	ss_replica_free(&R.rp);
	ss_repl_free(&R.repl);
	ss_store_close(R.store);
	R.store = NULL;

	/* The log replays, and holds what was applied. */
	if (!R.lost) {
		struct ss_table *t = NULL;
		struct ss_check_report rep;
		struct ss_error err;
		if (ss_store_check(R.log, R.history, R.now, NULL, NULL, NULL, NULL, &t, &rep,
				   &err) < 0)
			fz_fail("the replica's log does not replay: %s", err.msg);
		fz_check(tio.fz.injected > 0 || (rep.torn_bytes == 0 && !rep.cut),
			 "the replica's log has a torn tail (%" PRIu64 " bytes) with no fault injected",
			 rep.torn_bytes);
		fz_map_from_table(&replayed, t, R.now);
		if (!R.fatal) {
			const char *diff = fz_map_diff(&mem, &replayed);
			fz_check(!diff, "the log replays to another table than the replica applied: %s",
				 diff);
			fz_check(ss_table_revision(t) == mem_rev, "the log replays to revision %" PRIu64
				 ", the replica applied %" PRIu64, ss_table_revision(t), mem_rev);
			fz_check(durable_rev <= max_rev, "the replica's durable revision %" PRIu64
				 " is past every revision the primary sent (%" PRIu64 ")", durable_rev,
				 max_rev);
		}
		ss_table_free(t);
		check_log_lines(src, srclen);
	}

	fz_map_free(&mem);
	fz_map_free(&replayed);
	free(startlog);
	free(src);
	free(m.line);
	free(in.bytes);
	free(in.evs);
	tio_forget();
	return 0;
}

/* ---- the mutator: keep CRCs right now and then --------------------------- */

/* Recomputes the CRC field ("<body> xxxxxxxx") of each line whose CRC's 9
 * bytes hold no escape, over the line's bytes as unescaped. */
static void fix_crcs(uint8_t *data, size_t size)
{
	static char body[SS_RECORD_MAX];
	size_t start = 0;

	while (start < size) {
		uint8_t *nl = memchr(data + start, '\n', size - start);
		if (!nl)
			break;
		size_t n = (size_t)(nl - data) - start;
		uint8_t *line = data + start;
		start += n + 1;
		if (n < 10 || line[n - 9] != ' ' || memchr(line + n - 9, ESC, 9))
			continue;
		size_t k = 0;
		for (size_t i = 0; i < n - 9 && k < sizeof body; i++) {
			if (line[i] != ESC) {
				body[k++] = (char)line[i];
			} else if (i + 1 < n - 9) {
				uint8_t c = line[++i];
				if (c == ESC)
					body[k++] = (char)ESC;
				else if (c == 'k' || c == 'f')
					i++;
			}
		}
		uint32_t crc = ss_crc32c(0, body, k);
		for (int i = 7; i >= 0; i--) {
			line[n - 8 + i] = (uint8_t)"0123456789abcdef"[crc & 0xf];
			crc >>= 4;
		}
	}
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
	size = LLVMFuzzerMutate(data, size, max_size);
	if (seed % 4 != 0)
		fix_crcs(data, size);
	return size;
}
