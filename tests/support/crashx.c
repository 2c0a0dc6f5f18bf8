/*
 * crashx.c - workload runs, the model of what they wrote, and the checker
 * and explorer over their crash states (see crashx.h).
 *
 * The model is a list of records in log order, each with the crash point
 * from which its write had happened (done_at) and from which it was
 * acknowledged (ack_at). At crash point k the records [0, lo) are
 * acknowledged and [0, hi) written, and a correct store holds the state
 * after some prefix p of them, lo <= p <= hi. The checker first looks at
 * each name alone, so that a violation reads as "lost", "stale", "never
 * written" rather than as a mismatch of whole tables, and then at the table
 * as a whole, the store's revision with it.
 *
 * The model's history of a name is what replaying its records at the clock
 * of the check leaves: a SET over a version live at that clock pushes it, a
 * DEL, a SET expired at that clock, or a SET over an expired version drop
 * the history. (A snapshot writes history versions without their expiry,
 * so where a replaced version's TTL passes between its replacement and the
 * check, a compacted and an uncompacted log disagree; the workloads that
 * check histories give the names they overwrite no TTL.)
 */
#include "crashx.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "sstest.h"
#include "statestored/record.h"
#include "statestored/snapshot.h"
#include "statestored/table.h"

typedef unsigned long long ull;

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		fail_msg("crashx: out of memory");
	return p;
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (n < 0)
		fail_msg("crashx: out of memory");
	return p;
}

static char *xmemdup(const char *p, size_t n)
{
	char *q = xrealloc(NULL, n + 1);

	memcpy(q, p, n);
	q[n] = '\0';
	return q;
}

/* --- the model ------------------------------------------------------------ */

static size_t model_name(struct crashx_model *m, const char *name, size_t nlen)
{
	for (size_t i = 0; i < m->nnames; i++) {
		if (strlen(m->names[i]) == nlen && memcmp(m->names[i], name, nlen) == 0)
			return i;
	}
	m->names = xrealloc(m->names, (m->nnames + 1) * sizeof(*m->names));
	m->base = xrealloc(m->base, (m->nnames + 1) * sizeof(*m->base));
	m->names[m->nnames] = xmemdup(name, nlen);
	memset(&m->base[m->nnames], 0, sizeof(*m->base));
	return m->nnames++;
}

static long model_find(const struct crashx_model *m, const char *name, size_t nlen)
{
	for (size_t i = 0; i < m->nnames; i++) {
		if (strlen(m->names[i]) == nlen && memcmp(m->names[i], name, nlen) == 0)
			return (long)i;
	}
	return -1;
}

static struct crashx_rec *model_add(struct crashx_model *m)
{
	struct crashx_rec *rec;

	if (m->nrecs == m->reccap) {
		m->reccap = m->reccap ? 2 * m->reccap : 32;
		m->recs = xrealloc(m->recs, m->reccap * sizeof(*m->recs));
	}
	rec = &m->recs[m->nrecs++];
	memset(rec, 0, sizeof(*rec));
	rec->batch = m->nbatches;
	rec->done_at = rec->ack_at = rec->gone_at = SIZE_MAX;
	return rec;
}

static void model_free(struct crashx_model *m)
{
	for (size_t i = 0; i < m->nnames; i++) {
		free(m->names[i]);
		free(m->base[i].value);
		for (size_t j = 0; j < m->base[i].nhist; j++)
			free(m->base[i].hist[j].value);
		free(m->base[i].hist);
	}
	for (size_t i = 0; i < m->nrecs; i++)
		free(m->recs[i].value);
	free(m->names);
	free(m->base);
	free(m->recs);
	free(m->epochs);
	memset(m, 0, sizeof(*m));
}

/* --- runs ---------------------------------------------------------------- */

void crashx_run_init(struct crashx_run *r, const char *workload, size_t prealloc,
		     const struct crashfs_image *initial)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->workload, sizeof(r->workload), "%s", workload);
	r->prealloc = prealloc;
	r->tmp = sstest_tmpdir();
	r->dir = sstest_path(r->tmp, "data");
	if (mkdir(r->dir, 0755) < 0)
		fail_msg("mkdir %s: %s", r->dir, strerror(errno));
	if (initial)
		crashfs_image_write(initial, r->dir);
	crashfs_init(&r->fs, r->dir);
	ss_batch_init(&r->b);
	for (size_t i = 0; i < sizeof(r->recv) / sizeof(r->recv[0]); i++)
		ss_batch_init(&r->recv[i]);
	r->walk_fd = -1;
}

void crashx_run_free(struct crashx_run *r)
{
	if (r->walk_fd >= 0)
		(void)close(r->walk_fd); /* a run that stopped short */
	ss_snapshot_free(&r->walk);
	ss_snapshot_out_free(&r->walk_out);
	ss_store_close(r->s);
	ss_batch_free(&r->b);
	for (size_t i = 0; i < sizeof(r->recv) / sizeof(r->recv[0]); i++)
		ss_batch_free(&r->recv[i]);
	crashfs_free(&r->fs);
	model_free(&r->m);
	free(r->violation);
	free(r->where);
	sstest_rmdir(r->tmp);
	free(r->dir);
	free(r->tmp);
	memset(r, 0, sizeof(*r));
}

/* The most history versions a run may keep (and the checker compare). */
#define HIST_MAX 16

/* Fills b's history from name's in t (versions after the current one). */
static void base_history(struct crashx_base *b, struct ss_table *t, const struct ss_entry *e,
			 int64_t now_ms)
{
	struct ss_version v[HIST_MAX + 1];
	size_t n = ss_table_history(t, e->name, e->nlen, now_ms, v, HIST_MAX + 1);

	b->nhist = n > 1 ? n - 1 : 0;
	b->hist = xrealloc(NULL, b->nhist * sizeof(*b->hist));
	for (size_t j = 0; j < b->nhist; j++) {
		const struct ss_version *x = &v[j + 1];

		b->hist[j] = (struct crashx_version){xmemdup(x->value, x->vlen), x->vlen, x->rev,
						     x->commit_ms};
	}
}

void crashx_run_open(struct crashx_run *r, int64_t now_ms)
{
	struct ss_store_options opt = {.dir = r->dir, .io = &r->fs.io,
				       .prealloc_bytes = r->prealloc, .history = r->history};
	struct ss_error err = {0};
	struct ss_table *t;
	struct ss_entry e;
	size_t cursor = 0;

	if (r->history > HIST_MAX)
		fail_msg("crashx: a history depth of %u, more than %d", r->history, HIST_MAX);
	if (ss_store_open(&r->s, &opt, now_ms, NULL, &err) < 0)
		fail_msg("%s: ss_store_open %s: %s", r->workload, r->dir, err.msg);
	t = ss_store_table(r->s);
	r->clock = now_ms > r->clock ? now_ms : r->clock;
	if (r->opened++) {
		if (ss_table_revision(t) != r->rev)
			fail_msg("%s: reopened at revision %llu, but %llu was the last taken",
				 r->workload, (ull)ss_table_revision(t), (ull)r->rev);
		return;
	}
	/* The first open's table is the base: what the directory held. */
	r->m.history = r->history;
	r->m.base_rev = r->rev = ss_table_revision(t);
	while (ss_table_next(t, &cursor, &e)) {
		struct crashx_base *b;
		size_t i;

		if (e.expire_ms != 0 && e.expire_ms <= now_ms)
			continue;
		i = model_name(&r->m, e.name, e.nlen); /* may move base */
		b = &r->m.base[i];
		*b = (struct crashx_base){1, xmemdup(e.value, e.vlen), e.vlen, e.expire_ms, e.rev,
					  e.commit_ms, NULL, 0};
		base_history(b, t, &e, now_ms);
	}
}

void crashx_run_close(struct crashx_run *r)
{
	ss_store_close(r->s);
	r->s = NULL;
}

/* A value unique to record n of the run: its number, then filler. */
static char *make_value(size_t n, const char *name, size_t vlen)
{
	char *v = xrealloc(NULL, vlen + 1);
	int k = snprintf(v, vlen + 1, "w%zu.%s.", n, name);
	uint32_t x = (uint32_t)n * 2654435761u + 1;

	if (k < 0 || (size_t)k >= vlen)
		fail_msg("crashx: value of %zu bytes too short for its tag", vlen);
	for (size_t i = (size_t)k; i < vlen; i++) {
		x = x * 1103515245u + 12345u;
		v[i] = (char)(0x21 + (x >> 16) % 94);
	}
	v[vlen] = '\0';
	return v;
}

/* Gives rec the revision and commit time of its command: a new revision,
 * or inside a multi-commit the one its first record took. Commit times are
 * the workload's clock plus the revision's place in the batch, so that no
 * two commands of a batch share one. */
static void take_rev(struct crashx_run *r, struct crashx_rec *rec)
{
	if (r->multi != 2) {
		r->rev++;
		r->in_batch++;
		if (r->multi)
			r->multi = 2; /* its revision is taken */
	}
	rec->rev = r->rev;
	rec->commit_ms = r->clock + (int64_t)r->in_batch;
	rec->multi = r->multi != 0;
}

/* Adds a SET of value (which the model takes) to the batch. */
static void add_set(struct crashx_run *r, const char *name, char *value, size_t vlen,
		    int64_t expire_ms)
{
	struct crashx_rec *rec = model_add(&r->m);
	struct ss_record sr = {.type = SS_REC_SET, .name = name, .nlen = strlen(name)};

	rec->name = model_name(&r->m, name, strlen(name));
	rec->value = value;
	rec->vlen = vlen;
	rec->expire_ms = expire_ms;
	take_rev(r, rec);
	sr.value = rec->value;
	sr.vlen = vlen;
	sr.expire_ms = expire_ms;
	sr.rev = rec->rev;
	sr.commit_ms = rec->commit_ms;
	if (ss_batch_add(&r->b, &sr, NULL) < 0)
		fail_msg("ss_batch_add: %s", strerror(errno));
}

void crashx_run_set(struct crashx_run *r, const char *name, size_t vlen, int64_t expire_ms)
{
	add_set(r, name, make_value(r->m.nrecs, name, vlen), vlen, expire_ms);
}

void crashx_run_del(struct crashx_run *r, const char *name)
{
	struct crashx_rec *rec = model_add(&r->m);
	struct ss_record sr = {.type = SS_REC_DEL, .name = name, .nlen = strlen(name)};

	if (r->multi)
		fail_msg("crashx: a DEL inside a multi-commit");
	rec->name = model_name(&r->m, name, strlen(name));
	rec->del = 1;
	take_rev(r, rec);
	sr.rev = rec->rev;
	sr.commit_ms = rec->commit_ms;
	if (ss_batch_add(&r->b, &sr, NULL) < 0)
		fail_msg("ss_batch_add: %s", strerror(errno));
}

void crashx_run_multi_begin(struct crashx_run *r)
{
	if (r->multi)
		fail_msg("crashx: a multi-commit inside a multi-commit");
	r->multi = 1;
}

void crashx_run_multi_end(struct crashx_run *r)
{
	if (r->multi != 2)
		fail_msg("crashx: a multi-commit with no record");
	r->multi = 0;
}

/* The number of records committed or written: all but the open batch's. */
static size_t recs_before_batch(const struct crashx_model *m)
{
	size_t p = m->nrecs;

	while (p > 0 && m->recs[p - 1].batch == m->nbatches)
		p--;
	return p;
}

static uint64_t model_rev_at(const struct crashx_model *m, size_t n, size_t p, int64_t now_ms);
static int model_wrote(const struct crashx_model *m, const char *name, uint64_t rev,
		       const char *value, size_t vlen);

uint64_t crashx_run_rev(struct crashx_run *r, const char *name)
{
	struct ss_entry e;
	size_t p = recs_before_batch(&r->m);
	long n = model_find(&r->m, name, strlen(name));
	uint64_t rev = 0, want = 0;

	for (size_t i = p; i < r->m.nrecs; i++) {
		if (n >= 0 && r->m.recs[i].name == (size_t)n)
			fail_msg("crashx: %s is already changed by the open batch", name);
	}
	if (ss_table_get(ss_store_table(r->s), name, strlen(name), r->clock, &e))
		rev = e.rev;
	if (n >= 0)
		want = model_rev_at(&r->m, (size_t)n, p, r->clock);
	if (rev != want)
		fail_msg("%s: the live store has %s at revision %llu, the model at %llu",
			 r->workload, name, (ull)rev, (ull)want);
	return rev;
}

uint64_t crashx_run_cas(struct crashx_run *r, const char *name, uint64_t expected, size_t vlen)
{
	uint64_t cur = crashx_run_rev(r, name);

	if (cur != expected)
		fail_msg("%s: CAS %s from %llu, but it is at %llu", r->workload, name,
			 (ull)expected, (ull)cur);
	crashx_run_set(r, name, vlen, 0);
	return r->rev;
}

uint64_t crashx_run_rollback(struct crashx_run *r, const char *name, uint64_t to_rev)
{
	struct ss_version v[HIST_MAX + 1];
	struct ss_entry e;
	size_t n, i;
	char *value;

	(void)crashx_run_rev(r, name);
	n = ss_table_history(ss_store_table(r->s), name, strlen(name), r->clock, v, HIST_MAX + 1);
	for (i = 0; i < n && v[i].rev != to_rev; i++)
		;
	if (i == n)
		fail_msg("%s: no revision %llu in the history of %s", r->workload, (ull)to_rev,
			 name);
	/* The model must know that version, with that value: it is the
	 * value some record of that revision wrote to name. */
	if (!model_wrote(&r->m, name, to_rev, v[i].value, v[i].vlen))
		fail_msg("%s: the live store's revision %llu of %s holds a value the model "
			 "never wrote there",
			 r->workload, (ull)to_rev, name);
	value = xmemdup(v[i].value, v[i].vlen);
	if (!ss_table_get(ss_store_table(r->s), name, strlen(name), r->clock, &e))
		fail_msg("crashx: %s vanished", name);
	add_set(r, name, value, v[i].vlen, e.expire_ms);
	return r->rev;
}

/* Marks the records and epochs of the batch being built as written (or
 * acknowledged) from crash point at on. */
static void mark_batch(struct crashx_run *r, size_t at, int ack)
{
	for (size_t i = r->m.nrecs; i > 0 && r->m.recs[i - 1].batch == r->m.nbatches; i--) {
		if (ack)
			r->m.recs[i - 1].ack_at = at;
		else
			r->m.recs[i - 1].done_at = at;
	}
	for (size_t i = r->m.nepochs; i > 0 && r->m.epochs[i - 1].batch == r->m.nbatches; i--)
		*(ack ? &r->m.epochs[i - 1].ack_at : &r->m.epochs[i - 1].done_at) = at;
}

void crashx_run_mark(struct crashx_run *r, size_t at, int ack)
{
	mark_batch(r, at, ack);
}

void crashx_run_write_only(struct crashx_run *r)
{
	struct ss_error err = {0};

	if (ss_store_write(r->s, &r->b, &err) < 0)
		fail_msg("%s: ss_store_write: %s", r->workload, err.msg);
	mark_batch(r, crashfs_nops(&r->fs), 0);
	r->m.nbatches++;
	r->in_batch = 0;
	ss_batch_reset(&r->b);
}

void crashx_run_commit(struct crashx_run *r, int64_t now_ms)
{
	struct ss_error err = {0};

	if (r->multi)
		fail_msg("crashx: a commit inside a multi-commit");

	if (ss_store_write(r->s, &r->b, &err) < 0)
		fail_msg("%s: ss_store_write: %s", r->workload, err.msg);
	mark_batch(r, crashfs_nops(&r->fs), 0);
	if (r->split_sync) {
		int fd = ss_store_sync_begin(r->s, &err), rc;

		if (fd < 0)
			fail_msg("%s: ss_store_sync_begin: %s", r->workload, err.msg);
		rc = ss_io_fdatasync(&r->fs.io, fd);
		if (ss_store_sync_end(r->s, rc, rc < 0 ? errno : 0, &err) < 0)
			fail_msg("%s: ss_store_sync_end: %s", r->workload, err.msg);
	} else if (ss_store_sync(r->s, &err) < 0) {
		fail_msg("%s: ss_store_sync: %s", r->workload, err.msg);
	}
	mark_batch(r, crashfs_nops(&r->fs), 1);
	if (ss_store_apply(r->s, &r->b, now_ms) < 0)
		fail_msg("%s: ss_store_apply: %s", r->workload, strerror(errno));
	r->m.nbatches++;
	r->in_batch = 0;
	r->clock = now_ms;
	ss_batch_reset(&r->b);
	if (ss_table_revision(ss_store_table(r->s)) != r->rev)
		fail_msg("%s: applied, the store is at revision %llu, not %llu", r->workload,
			 (ull)ss_table_revision(ss_store_table(r->s)), (ull)r->rev);
}

void crashx_run_compact(struct crashx_run *r, int64_t now_ms)
{
	struct ss_error err = {0};

	if (ss_store_compact(r->s, now_ms, &err) < 0)
		fail_msg("%s: ss_store_compact: %s", r->workload, err.msg);
	r->clock = now_ms;
}

/* Creates the snapshot's file (r->tmp_path) and starts the walk. */
static void walk_begin(struct crashx_run *r, int64_t now_ms)
{
	struct ss_error err = {0};

	r->walk_fd = ss_io_open(&r->fs.io, r->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
				0644);
	if (r->walk_fd < 0)
		fail_msg("%s: cannot create %s: %s", r->workload, r->tmp_path, strerror(errno));
	if (ss_snapshot_init(&r->walk, ss_store_table(r->s), now_ms, 0, &err) < 0)
		fail_msg("%s: ss_snapshot_init: %s", r->workload, err.msg);
	r->walk_len = 0;
	r->clock = now_ms > r->clock ? now_ms : r->clock;
}

void crashx_run_compact_begin(struct crashx_run *r, int64_t now_ms)
{
	struct ss_error err = {0};

	if (ss_store_compact_begin(r->s, 0, &r->tmp_path, &err) < 0)
		fail_msg("%s: ss_store_compact_begin: %s", r->workload, err.msg);
	walk_begin(r, now_ms);
}

void crashx_run_backup_begin(struct crashx_run *r, const char *name, int64_t now_ms)
{
	struct ss_error err = {0};
	char *dir = sstest_path(r->dir, name);

	snprintf(r->backup, sizeof(r->backup), "%s", name);
	if (ss_store_backup_begin(r->s, 0, dir, NULL, 0, &r->tmp_path, &err) < 0)
		fail_msg("%s: ss_store_backup_begin: %s", r->workload, err.msg);
	free(dir);
	walk_begin(r, now_ms);
}

int crashx_run_compact_step(struct crashx_run *r, size_t buckets)
{
	struct ss_error err = {0};
	int more;

	if (r->walk_fd < 0)
		fail_msg("crashx: a walk step with no walk on");
	more = ss_snapshot_step(&r->walk, buckets, &err);
	if (more < 0)
		fail_msg("%s: ss_snapshot_step: %s", r->workload, err.msg);
	/* What the step produced goes to the temp file now, as compactor.c
	 * hands its chunks to the thread (here the chunks are smaller). */
	r->walk_out.len = 0;
	ss_snapshot_take(&r->walk, &r->walk_out);
	if (r->walk_out.len > 0 &&
	    ss_io_pwrite_all(&r->fs.io, r->walk_fd, r->walk_out.p, r->walk_out.len,
			     (off_t)r->walk_len) < 0)
		fail_msg("%s: writing the snapshot: %s", r->workload, strerror(errno));
	r->walk_len += r->walk_out.len;
	return more;
}

int crashx_run_compact_walked(const struct crashx_run *r, const char *name)
{
	const struct ss_batch *g = &r->walk.group;
	size_t nlen = strlen(name);

	if (r->walk_fd < 0)
		fail_msg("crashx: walked() with no walk on");
	if (r->walk_len > sizeof(SS_LOG_HEADER) - 1)
		fail_msg("crashx: walked() reads the walk's open group, and one was sealed");
	for (size_t i = 0; i < g->nops; i++) {
		const struct ss_op *op = &g->ops[i];

		if (op->type == SS_REC_SET && op->nlen == nlen &&
		    memcmp(g->buf + op->name_off, name, nlen) == 0)
			return 1;
	}
	return 0;
}

void crashx_run_compact_snapshot(struct crashx_run *r)
{
	while (crashx_run_compact_step(r, 64))
		;
	if (ss_io_fdatasync(&r->fs.io, r->walk_fd) < 0 ||
	    r->fs.io.close(r->fs.io.ctx, r->walk_fd) < 0)
		fail_msg("%s: syncing the snapshot: %s", r->workload, strerror(errno));
	r->walk_fd = -1;
	ss_snapshot_free(&r->walk);
}

void crashx_run_compact_round_start(struct crashx_run *r)
{
	struct ss_error err = {0};
	int rc = ss_store_compact_round(r->s, 0, &r->job, &err);

	if (rc != 1)
		fail_msg("%s: ss_store_compact_round returned %d: %s", r->workload, rc,
			 rc < 0 ? err.msg : "no tail to copy");
}

void crashx_run_compact_round_end(struct crashx_run *r)
{
	struct ss_error err = {0};

	ss_compact_job_run(&r->job);
	if (ss_store_compact_round_end(r->s, &r->job, &err) < 0)
		fail_msg("%s: ss_store_compact_round_end: %s", r->workload, err.msg);
}

/* Counts, in the compacted log just made the log (the snapshot is its
 * first walk_len bytes), the tail's SETs of a revision the snapshot
 * already holds of that name or older, and the tail's changes to names
 * the snapshot holds an older version of. */
static void count_overlaps(struct crashx_run *r)
{
	char *path = sstest_path(r->dir, SS_LOG_FILE);
	size_t len, pos = sizeof(SS_LOG_HEADER) - 1, used;
	char *buf = sstest_read_file(path, &len);
	uint64_t *held = xrealloc(NULL, r->m.nnames * sizeof(*held));
	struct ss_record g, rec;

	if (!buf)
		fail_msg("crashx: cannot read %s", path);
	memset(held, 0, r->m.nnames * sizeof(*held));
	while (pos < len) {
		if (ss_record_decode(buf + pos, len - pos, &g, &used) != SS_DEC_OK ||
		    g.type != SS_REC_GROUP)
			fail_msg("crashx: %s: no group at byte %zu", path, pos);
		pos += used;
		for (uint32_t k = 0; k < g.count; k++, pos += used) {
			long n;

			if (ss_record_decode(buf + pos, len - pos, &rec, &used) != SS_DEC_OK)
				fail_msg("crashx: %s: a bad record at byte %zu", path, pos);
			if (rec.type != SS_REC_SET && rec.type != SS_REC_DEL)
				continue; /* REVISION, EPOCH: no name */
			n = model_find(&r->m, rec.name, rec.nlen);
			if (n < 0)
				fail_msg("crashx: %s holds a name the model lacks", path);
			if (pos < r->walk_len)
				held[n] = rec.rev > held[n] ? rec.rev : held[n];
			else if (rec.type == SS_REC_SET && rec.rev <= held[n])
				r->tail_overlaps++;
			else if (held[n] != 0)
				r->tail_newer++;
		}
	}
	free(held);
	free(buf);
	free(path);
}

static void compact_end(struct crashx_run *r)
{
	if (r->walk_fd >= 0 && r->fs.io.close(r->fs.io.ctx, r->walk_fd) < 0)
		fail_msg("%s: closing the snapshot: %s", r->workload, strerror(errno));
	r->walk_fd = -1;
	ss_snapshot_free(&r->walk);
}

void crashx_run_compact_finish(struct crashx_run *r)
{
	struct ss_error err = {0};

	if (r->walk_fd >= 0)
		fail_msg("crashx: a finish before the walk's end");
	if (ss_store_compact_finish(r->s, &err) < 0)
		fail_msg("%s: ss_store_compact_finish: %s", r->workload, err.msg);
	count_overlaps(r);
	compact_end(r);
}

void crashx_run_backup_finish(struct crashx_run *r)
{
	struct ss_error err = {0};

	if (r->walk_fd >= 0)
		fail_msg("crashx: a finish before the walk's end");
	if (ss_store_backup_finish(r->s, &r->backup_rev, &err) < 0)
		fail_msg("%s: ss_store_backup_finish: %s", r->workload, err.msg);
	if (r->backup_rev != r->rev)
		fail_msg("%s: the backup holds revision %llu, the store's is %llu", r->workload,
			 (ull)r->backup_rev, (ull)r->rev);
	r->backed_up = 1;
	compact_end(r);
}

void crashx_run_compact_abort(struct crashx_run *r)
{
	compact_end(r);
	ss_store_compact_abort(r->s);
}

void crashx_run_check_at(struct crashx_run *r, int64_t now_ms)
{
	if (r->ntimes == CRASHX_TIMES_MAX)
		fail_msg("crashx: more than %d check clocks", CRASHX_TIMES_MAX);
	r->times[r->ntimes++] = now_ms;
}

/* --- checking one state --------------------------------------------------- */

/* What a name holds: in a store, or in the model after some prefix; its
 * history newest first, the current version not included. */
struct held {
	int present;
	const char *value;
	size_t vlen;
	int64_t expire_ms;
	uint64_t rev;
	int64_t commit_ms;
	struct crashx_version hist[HIST_MAX];
	size_t nhist;
};

static int live(int64_t expire_ms, int64_t now_ms)
{
	return expire_ms == 0 || expire_ms > now_ms;
}

/* What name n holds after the records [0, p), at now_ms, as replay at
 * now_ms leaves it. *from is the last record of n before p (-1: none). */
static struct held model_at(const struct crashx_model *m, size_t n, size_t p, int64_t now_ms,
			    long *from)
{
	const struct crashx_base *b = &m->base[n];
	struct held h = {0};

	*from = -1;
	if (b->present && live(b->expire_ms, now_ms)) {
		h = (struct held){1, b->value, b->vlen, b->expire_ms,
				  b->rev, b->commit_ms, {{0}}, 0};
		h.nhist = b->nhist < m->history ? b->nhist : m->history;
		memcpy(h.hist, b->hist, h.nhist * sizeof(*h.hist));
	}
	for (size_t i = 0; i < p; i++) {
		const struct crashx_rec *rec = &m->recs[i];

		if (rec->name != n)
			continue;
		*from = (long)i;
		if (rec->del || !live(rec->expire_ms, now_ms)) {
			h.present = 0;
			h.nhist = 0;
			continue;
		}
		if (h.present && m->history > 0) {
			size_t keep = h.nhist < m->history ? h.nhist : m->history - 1;

			memmove(h.hist + 1, h.hist, keep * sizeof(*h.hist));
			h.hist[0] = (struct crashx_version){(char *)h.value, h.vlen, h.rev,
							    h.commit_ms};
			h.nhist = keep + 1;
		} else {
			h.nhist = 0;
		}
		h.present = 1;
		h.value = rec->value;
		h.vlen = rec->vlen;
		h.expire_ms = rec->expire_ms;
		h.rev = rec->rev;
		h.commit_ms = rec->commit_ms;
	}
	if (!h.present)
		h.nhist = 0;
	return h;
}

static uint64_t model_rev_at(const struct crashx_model *m, size_t n, size_t p, int64_t now_ms)
{
	long from;
	struct held h = model_at(m, n, p, now_ms, &from);

	return h.present ? h.rev : 0;
}

/* 1 if some record of revision rev wrote value to name (or the base holds
 * it at rev, current or in its history). */
static int model_wrote(const struct crashx_model *m, const char *name, uint64_t rev,
		       const char *value, size_t vlen)
{
	long n = model_find(m, name, strlen(name));
	const struct crashx_base *b;

	if (n < 0)
		return 0;
	for (size_t i = 0; i < m->nrecs; i++) {
		const struct crashx_rec *rec = &m->recs[i];

		if (rec->name == (size_t)n && !rec->del && rec->rev == rev && rec->vlen == vlen &&
		    memcmp(rec->value, value, vlen) == 0)
			return 1;
	}
	b = &m->base[n];
	if (b->present && b->rev == rev && b->vlen == vlen && memcmp(b->value, value, vlen) == 0)
		return 1;
	for (size_t j = 0; j < b->nhist; j++) {
		if (b->hist[j].rev == rev && b->hist[j].vlen == vlen &&
		    memcmp(b->hist[j].value, value, vlen) == 0)
			return 1;
	}
	return 0;
}

/* The store's revision after the records [0, p). */
static uint64_t model_store_rev(const struct crashx_model *m, size_t p)
{
	uint64_t rev = m->base_rev;

	for (size_t i = 0; i < p; i++)
		rev = m->recs[i].rev > rev ? m->recs[i].rev : rev;
	return rev;
}

/* Levels of agreement between two helds. */
static int same_value(const struct held *a, const struct held *b)
{
	if (a->present != b->present)
		return 0;
	return !a->present || (a->vlen == b->vlen && a->expire_ms == b->expire_ms &&
			       memcmp(a->value, b->value, a->vlen) == 0);
}

static int same_rev(const struct held *a, const struct held *b)
{
	return same_value(a, b) && (!a->present || (a->rev == b->rev &&
						    a->commit_ms == b->commit_ms));
}

static int same(const struct held *a, const struct held *b)
{
	if (!same_rev(a, b) || a->nhist != b->nhist)
		return 0;
	for (size_t i = 0; i < a->nhist; i++) {
		const struct crashx_version *x = &a->hist[i], *y = &b->hist[i];

		if (x->rev != y->rev || x->commit_ms != y->commit_ms || x->vlen != y->vlen ||
		    memcmp(x->value, y->value, x->vlen) != 0)
			return 0;
	}
	return 1;
}

/* The record (or -2 for the base) whose value for name n is v - of v's
 * revision if one is (a rollback writes an old value again); -1 if none. */
static long value_source(const struct crashx_model *m, size_t n, const struct held *v)
{
	long any = -1;

	for (size_t i = 0; i < m->nrecs; i++) {
		const struct crashx_rec *rec = &m->recs[i];

		if (rec->name == n && !rec->del && rec->vlen == v->vlen &&
		    memcmp(rec->value, v->value, v->vlen) == 0) {
			if (rec->rev == v->rev)
				return (long)i;
			if (any < 0)
				any = (long)i;
		}
	}
	if (any >= 0)
		return any;
	if (m->base[n].present && m->base[n].vlen == v->vlen &&
	    memcmp(m->base[n].value, v->value, v->vlen) == 0)
		return -2;
	return -1;
}

static char *describe_rec(const struct crashx_model *m, long i)
{
	const struct crashx_rec *rec;

	if (i == -2)
		return xasprintf("the value found at the run's start");
	if (i < 0)
		return xasprintf("nothing ever written");
	rec = &m->recs[i];
	if (rec->del)
		return xasprintf("the DEL of record %ld (batch %zu, rev %llu)", i, rec->batch,
				 (ull)rec->rev);
	return xasprintf("the SET of record %ld (batch %zu, rev %llu, commit_ms %lld, "
			 "expire_ms %lld)",
			 i, rec->batch, (ull)rec->rev, (long long)rec->commit_ms,
			 (long long)rec->expire_ms);
}

static char *describe_hist(const struct held *h)
{
	char *s = xasprintf("%s", h->nhist ? "" : "none");

	for (size_t i = 0; i < h->nhist; i++) {
		char *t = xasprintf("%s%s%llu@%lld(%.12s)", s, i ? " " : "", (ull)h->hist[i].rev,
				    (long long)h->hist[i].commit_ms, h->hist[i].value);

		free(s);
		s = t;
	}
	return s;
}

/* Why name n's observed o fits no prefix in [lo, hi]. */
static char *explain_name(const struct crashx_model *m, size_t n, const struct held *o, size_t lo,
			  size_t hi, int64_t now_ms)
{
	const char *name = m->names[n];
	long acked_from, src, from;
	struct held acked = model_at(m, n, lo, now_ms, &acked_from);
	char *want = describe_rec(m, acked_from), *got, *msg;

	/* The right value, but not its revision, commit time or history. */
	for (size_t p = lo; p <= hi; p++) {
		struct held h = model_at(m, n, p, now_ms, &from);

		if (!same_value(&h, o))
			continue;
		free(want);
		want = describe_rec(m, from);
		if (!same_rev(&h, o)) {
			msg = xasprintf("revision: %s holds the value of %s with rev %llu, "
					"commit_ms %lld",
					name, want, (ull)o->rev, (long long)o->commit_ms);
		} else {
			char *a = describe_hist(o), *b = describe_hist(&h);

			msg = xasprintf("history: %s holds %s with the history %s, but the "
					"model's is %s",
					name, want, a, b);
			free(a);
			free(b);
		}
		free(want);
		return msg;
	}
	if (!o->present) {
		msg = xasprintf("lost: %s is absent, but %s was acknowledged and holds it", name,
				want);
		free(want);
		return msg;
	}
	src = value_source(m, n, o);
	if (src == -1) {
		msg = xasprintf("phantom: %s holds a value never written to it (%.40s...)", name,
				o->value);
		free(want);
		return msg;
	}
	got = describe_rec(m, src);
	if (src >= 0 && !live(m->recs[src].expire_ms, now_ms))
		msg = xasprintf("expired: %s holds %s, expired at now_ms %lld", name, got,
				(long long)now_ms);
	else if (src >= 0 && m->recs[src].expire_ms != o->expire_ms)
		msg = xasprintf("expiry: %s holds %s with expire_ms %lld", name, got,
				(long long)o->expire_ms);
	else if (src >= 0 && (size_t)src >= hi)
		msg = xasprintf("early: %s holds %s, written only after this crash point", name,
				got);
	else
		msg = xasprintf("stale: %s holds %s, but %s was acknowledged after it%s", name, got,
				want, acked.present ? "" : " (absent)");
	free(want);
	free(got);
	return msg;
}

/* 1 if p is a batch boundary of m's records. */
static int boundary(const struct crashx_model *m, size_t p)
{
	return p == 0 || p == m->nrecs || m->recs[p - 1].batch != m->recs[p].batch;
}

/* 1 if p falls inside a multi-commit: between two of its records. */
static int inside_multi(const struct crashx_model *m, size_t p)
{
	return p > 0 && p < m->nrecs && m->recs[p - 1].multi && m->recs[p].multi &&
	       m->recs[p - 1].rev == m->recs[p].rev;
}

/* 1 if obs is m's state after the records [0, p). */
static int matches(const struct crashx_model *m, const struct held *obs, size_t p,
		   int64_t now_ms)
{
	for (size_t n = 0; n < m->nnames; n++) {
		long from;
		struct held h = model_at(m, n, p, now_ms, &from);

		if (!same(&h, &obs[n]))
			return 0;
	}
	return 1;
}

/* Why obs, with store revision rev, is the state after no allowed prefix
 * in [lo, hi]. */
static char *explain_prefix(const struct crashx_model *m, const struct held *obs, uint64_t rev,
			    size_t lo, size_t hi, int64_t now_ms, int atomic_batches)
{
	size_t p, first, last;

	for (p = lo; p <= hi; p++) {
		if ((!atomic_batches || boundary(m, p)) && !inside_multi(m, p) &&
		    matches(m, obs, p, now_ms))
			return xasprintf("revision: the store's revision is %llu, but the table "
					 "is the state after the first %zu records, whose revision "
					 "is %llu",
					 (ull)rev, p, (ull)model_store_rev(m, p));
	}
	for (p = lo; p <= hi && !matches(m, obs, p, now_ms); p++)
		;
	if (p <= hi && inside_multi(m, p)) {
		for (first = p; first > 0 && inside_multi(m, first); first--)
			;
		for (last = p; inside_multi(m, last + 1); last++)
			;
		return xasprintf("torn multi: the multi-commit of revision %llu (records "
				 "%zu-%zu) is applied in part: records %zu-%zu are in, %zu-%zu "
				 "are not",
				 (ull)m->recs[p].rev, first, last, first, p - 1, p, last);
	}
	if (p > hi || !atomic_batches)
		return xasprintf("no prefix: the table is the state after no prefix of the "
				 "records written (%zu acknowledged, %zu written): applied out "
				 "of order",
				 lo, hi);
	for (first = p; first > 0 && m->recs[first - 1].batch == m->recs[p].batch; first--)
		;
	for (last = p; last + 1 < m->nrecs && m->recs[last + 1].batch == m->recs[p].batch; last++)
		;
	return xasprintf("no prefix: batch %zu (records %zu-%zu) is applied in part: records "
			 "%zu-%zu are in, %zu-%zu are not",
			 m->recs[p].batch, first, last, first, p - 1, p, last);
}

/* What name holds in t at now_ms, copied (the caller frees with
 * held_free). */
static struct held observe(const struct crashx_model *m, struct ss_table *t, const char *name,
			   int64_t now_ms)
{
	struct ss_version v[HIST_MAX + 1];
	struct held h = {0};
	struct ss_entry e;
	size_t nv;

	if (!ss_table_get(t, name, strlen(name), now_ms, &e))
		return h;
	h = (struct held){1, xmemdup(e.value, e.vlen), e.vlen, e.expire_ms, e.rev, e.commit_ms,
			  {{0}}, 0};
	nv = ss_table_history(t, name, strlen(name), now_ms, v, (size_t)m->history + 1 + 1);
	/* One more than the depth is asked for: a table keeping too many
	 * versions shows as a history longer than the model's. */
	for (size_t i = 1; i < nv && h.nhist < HIST_MAX; i++)
		h.hist[h.nhist++] = (struct crashx_version){xmemdup(v[i].value, v[i].vlen),
							    v[i].vlen, v[i].rev, v[i].commit_ms};
	return h;
}

static void held_free(struct held *h)
{
	free((char *)h->value);
	for (size_t i = 0; i < h->nhist; i++)
		free(h->hist[i].value);
}

/* The epoch history of t at crash point k: a prefix of the model's epochs,
 * every acknowledged one in it, none not yet written or discarded. */
static char *check_epochs(const struct crashx_model *m, struct ss_table *t, size_t k)
{
	const struct ss_epoch *ep;
	size_t n = ss_table_epochs(t, &ep), lo = 0, hi = 0;

	while (lo < m->nepochs && m->epochs[lo].ack_at <= k)
		lo++;
	while (hi < m->nepochs && m->epochs[hi].done_at <= k && m->epochs[hi].gone_at > k)
		hi++;
	for (size_t i = 0; i < n; i++) {
		if (i < m->nepochs && ep[i].epoch == m->epochs[i].epoch &&
		    ep[i].rev == m->epochs[i].rev) {
			if (i < hi)
				continue;
			return xasprintf("early: epoch %llu (after revision %llu) is in the "
					 "history, but %s",
					 (ull)ep[i].epoch, (ull)ep[i].rev,
					 m->epochs[i].gone_at <= k ? "a cut discarded it"
								   : "it was not written yet");
		}
		return xasprintf("phantom: the epoch history's entry %zu is epoch %llu after "
				 "revision %llu, which the model does not have there",
				 i, (ull)ep[i].epoch, (ull)ep[i].rev);
	}
	if (n < lo)
		return xasprintf("lost: the epoch history holds %zu epochs, but %zu were "
				 "acknowledged (the next: epoch %llu after revision %llu)",
				 n, lo, (ull)m->epochs[n].epoch, (ull)m->epochs[n].rev);
	return NULL;
}

static char *check_table(const struct crashx_model *m, struct ss_store *s, size_t k,
			 int64_t now_ms, int atomic_batches)
{
	struct ss_table *t = ss_store_table(s);
	struct held *obs = xrealloc(NULL, m->nnames * sizeof(*obs));
	size_t lo = 0, hi = 0, cursor = 0, p;
	uint64_t rev = ss_table_revision(t);
	struct ss_entry e;
	char *msg = NULL;

	while (lo < m->nrecs && m->recs[lo].ack_at <= k)
		lo++;
	while (hi < m->nrecs && m->recs[hi].done_at <= k && m->recs[hi].gone_at > k)
		hi++;
	while (!msg && ss_table_next(t, &cursor, &e)) {
		if (live(e.expire_ms, now_ms) && model_find(m, e.name, e.nlen) < 0)
			msg = xasprintf("phantom: the name %.*s, never written, is present",
					(int)e.nlen, e.name);
	}
	for (size_t n = 0; n < m->nnames; n++)
		obs[n] = observe(m, t, m->names[n], now_ms);
	/* Each name alone: (a), (b), (e). */
	for (size_t n = 0; !msg && n < m->nnames; n++) {
		int fits = 0;

		for (p = lo; !fits && p <= hi; p++) {
			long from;
			struct held h = model_at(m, n, p, now_ms, &from);

			fits = same(&h, &obs[n]);
		}
		if (!fits)
			msg = explain_name(m, n, &obs[n], lo, hi, now_ms);
	}
	/* The store's revision: (f). */
	if (!msg && rev < model_store_rev(m, lo))
		msg = xasprintf("revision: the store's revision is %llu, below %llu, the last "
				"acknowledged",
				(ull)rev, (ull)model_store_rev(m, lo));
	/* The table as a whole: (d), (f). */
	for (p = lo; !msg && p <= hi; p++) {
		if ((!atomic_batches || boundary(m, p)) && !inside_multi(m, p) &&
		    rev == model_store_rev(m, p) && matches(m, obs, p, now_ms))
			break;
	}
	if (!msg && p > hi)
		msg = explain_prefix(m, obs, rev, lo, hi, now_ms, atomic_batches);
	if (!msg)
		msg = check_epochs(m, t, k);
	for (size_t n = 0; n < m->nnames; n++)
		held_free(&obs[n]);
	free(obs);
	return msg;
}

char *crashx_check(const struct crashx_model *m, size_t k, const char *dir, size_t prealloc,
		   int64_t now_ms, int atomic_batches)
{
	struct ss_store_options opt = {.dir = dir, .io = &crashfs_nosync_io,
				       .prealloc_bytes = prealloc, .history = m->history};
	struct ss_error err = {0};
	struct ss_store *s = NULL;
	char *msg;

	if (ss_store_open(&s, &opt, now_ms, NULL, &err) < 0)
		return xasprintf("refused: ss_store_open failed (kind %d): %s", (int)err.kind,
				 err.msg);
	msg = check_table(m, s, k, now_ms, atomic_batches);
	ss_store_close(s);
	return msg;
}

/* --- checking a backup ------------------------------------------------------ */

/* Checks the backup r made, if dir (a crash state) holds it: the state as
 * of r->backup_rev exactly, as crashx_check checks a live store whose
 * records up to that revision were all acknowledged and later ones never
 * written. NULL if it holds, or is not there. */
static char *check_backup(const struct crashx_run *r, const char *dir, int64_t now_ms,
			  int atomic_batches)
{
	struct crashx_model m = r->m;
	char *path, *msg = NULL;
	struct stat st;

	if (!r->backup[0])
		return NULL;
	path = sstest_path(dir, r->backup);
	if (lstat(path, &st) == 0) {
		if (!r->backed_up)
			msg = xasprintf("phantom: the backup %s is there, but its finish never "
					"returned", r->backup);
		m.nrecs = 0;
		while (!msg && m.nrecs < r->m.nrecs && r->m.recs[m.nrecs].rev <= r->backup_rev)
			m.nrecs++;
		m.recs = xrealloc(NULL, (m.nrecs ? m.nrecs : 1) * sizeof(*m.recs));
		for (size_t i = 0; i < m.nrecs; i++) {
			m.recs[i] = r->m.recs[i];
			m.recs[i].done_at = m.recs[i].ack_at = 0;
		}
		if (!msg) {
			msg = crashx_check(&m, 0, path, r->prealloc, now_ms, atomic_batches);
			if (msg) {
				char *full = xasprintf("%s (in the backup %s, as of revision %llu)",
						       msg, r->backup, (ull)r->backup_rev);
				free(msg);
				msg = full;
			}
		}
		free(m.recs);
	}
	free(path);
	return msg;
}

/* --- exploring ------------------------------------------------------------- */

const char *const crashx_class_names[CRASHX_NCLASSES] = {
	"refused", "lost", "stale", "phantom", "early", "expired", "expiry", "no prefix",
	"torn multi", "revision", "history",
};

static enum crashx_class class_of(const char *msg)
{
	for (int i = 0; i < CRASHX_NCLASSES; i++) {
		size_t n = strlen(crashx_class_names[i]);

		if (strncmp(msg, crashx_class_names[i], n) == 0 && msg[n] == ':')
			return (enum crashx_class)i;
	}
	fail_msg("crashx: a check said something of no known kind: %s", msg);
	return CRASHX_NCLASSES;
}

/* A set of 64-bit hashes (open addressing; 0 stands for 1). */
struct hset {
	uint64_t *slot;
	size_t cap, n;
};

static int hset_add(struct hset *h, uint64_t x)
{
	size_t i;

	x = x ? x : 1;
	if (2 * (h->n + 1) > h->cap) {
		struct hset g = {calloc(h->cap ? 2 * h->cap : 64, sizeof(uint64_t)),
				 h->cap ? 2 * h->cap : 64, 0};

		if (!g.slot)
			fail_msg("crashx: out of memory");
		for (i = 0; i < h->cap; i++) {
			if (h->slot[i])
				(void)hset_add(&g, h->slot[i]);
		}
		free(h->slot);
		*h = g;
	}
	for (i = (size_t)(x % h->cap); h->slot[i]; i = (i + 1) % h->cap) {
		if (h->slot[i] == x)
			return 0;
	}
	h->slot[i] = x;
	h->n++;
	return 1;
}

void crashx_explore(const struct crashx_run *r, const struct crashx_opts *o,
		    struct crashx_result *res)
{
	size_t nops = crashfs_nops(&r->fs), reported = 0;
	char *state_dir = sstest_tmpdir();
	struct crashfs_point pt;
	struct crashfs_image img;
	unsigned char *on;

	if (r->s)
		fail_msg("crashx_explore: close the store first");
	if (r->ntimes == 0)
		fail_msg("crashx_explore: %s sets no clock to check at", r->workload);
	/* The model of the recording must agree with what really happened. */
	crashfs_point_init(&pt, &r->fs, nops, o->chunk);
	on = xrealloc(NULL, pt.nunits);
	memset(on, 1, pt.nunits);
	crashfs_image_build(&img, &pt, on);
	if (!crashfs_image_matches(&img, r->dir))
		fail_msg("crashx: %s: the recorded calls do not replay to the real directory",
			 r->workload);
	crashfs_image_free(&img);
	crashfs_point_free(&pt);
	free(on);

	for (size_t k = 0; k <= nops; k++) {
		struct crashfs_iter it;
		struct hset seen = {0};

		crashfs_point_init(&pt, &r->fs, k, o->chunk);
		on = xrealloc(NULL, pt.nunits);
		crashfs_iter_init(&it, &pt, o->max_states, o->seed);
		res->points++;
		res->exhaustive_points += it.exhaustive;
		while (crashfs_iter_next(&it, on)) {
			enum crashx_class cls = CRASHX_NCLASSES;
			char *msg = NULL;

			res->generated++;
			crashfs_image_build(&img, &pt, on);
			if (!hset_add(&seen, crashfs_image_hash(&img))) {
				crashfs_image_free(&img);
				continue;
			}
			res->states++;
			for (size_t t = 0; !msg && t < r->ntimes; t++) {
				crashfs_image_write(&img, state_dir);
				res->opens++;
				msg = crashx_check(&r->m, k, state_dir, r->prealloc, r->times[t],
						   o->atomic_batches);
				if (!msg)
					msg = check_backup(r, state_dir, r->times[t],
							   o->atomic_batches);
				if (msg) {
					char *where = crashfs_state_describe(&pt, on);
					char *full;

					cls = class_of(msg);
					full = xasprintf(
						"%s (prealloc %zu, %zu-byte chunks, seed %llu), %s, "
						"opened at now_ms %lld: %s",
						r->workload, r->prealloc, o->chunk, (ull)o->seed,
						where, (long long)r->times[t], msg);

					free(where);
					free(msg);
					msg = full;
				}
			}
			crashfs_image_free(&img);
			if (!msg)
				continue;
			res->violations++;
			res->by_class[cls]++;
			if (o->out && reported++ < o->max_reports)
				fprintf(o->out, "VIOLATION %s\n", msg);
			if (!res->first)
				res->first = msg;
			else
				free(msg);
		}
		free(seen.slot);
		free(on);
		crashfs_point_free(&pt);
	}
	sstest_rmdir(state_dir);
	free(state_dir);
}

void crashx_run_print(const struct crashx_run *r, FILE *out)
{
	const struct crashx_model *m = &r->m;
	char what[256];

	fprintf(out, "-- %s (prealloc %zu): %zu calls\n", r->workload, r->prealloc,
		crashfs_nops(&r->fs));
	for (size_t i = 0; i <= crashfs_nops(&r->fs); i++) {
		for (size_t j = 0; j < m->nrecs; j++) {
			const struct crashx_rec *rec = &m->recs[j];
			int first = j == 0 || m->recs[j - 1].batch != rec->batch;

			if (first && rec->done_at == i)
				fprintf(out, "   -- batch %zu written\n", rec->batch);
			if (first && rec->ack_at == i)
				fprintf(out, "   -- batch %zu acknowledged\n", rec->batch);
		}
		if (i == crashfs_nops(&r->fs))
			break;
		crashfs_op_describe(&r->fs, i, what, sizeof(what));
		fprintf(out, "%4zu %s\n", i + 1, what);
	}
}

void crashx_result_free(struct crashx_result *res)
{
	free(res->first);
	memset(res, 0, sizeof(*res));
}

void crashx_run_workload(const struct crashx_workload *w, size_t prealloc,
			 const struct crashx_opts *o, struct crashx_result *res)
{
	struct crashx_run r;

	crashx_run_init(&r, w->name, prealloc, NULL);
	w->run(&r, o);
	crashx_run_close(&r);
	if (o->trace && o->out)
		crashx_run_print(&r, o->out);
	if (r.violation) {
		char *msg = xasprintf("%s (prealloc %zu, %zu-byte chunks), %s: %s", w->name,
				      prealloc, o->chunk, r.where, r.violation);

		res->violations++;
		res->by_class[class_of(r.violation)]++;
		if (o->out)
			fprintf(o->out, "VIOLATION %s\n", msg);
		if (!res->first)
			res->first = msg;
		else
			free(msg);
	}
	if (!r.violation || r.ntimes > 0) /* else it stopped short: nothing to explore */
		crashx_explore(&r, o, res);
	crashx_run_free(&r);
}
