/*
 * crashrepl.c - replication's steps for crash-state workloads (crashx.h):
 * a replica that writes the groups a primary streams, a full sync that
 * installs a primary's log, and a deposed primary's cut of its log.
 *
 * The replica's side is driven as the server will drive it: bytes in (the
 * primary's group, as its log holds it), records decoded and unescaped,
 * a batch of the replica's own built from them, written and synced before
 * the ACK, applied only when the primary's COMMIT covers it. The model is
 * crashx.c's: records with the crash points from which they are written
 * and acknowledged, and now epochs with them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crashx.h"
#include "sstest.h"
#include "statestored/record.h"
#include "statestored/table.h"

typedef unsigned long long ull;

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		fail_msg("crashrepl: out of memory");
	return p;
}

static char *xmemdup(const char *p, size_t n)
{
	char *q = xrealloc(NULL, n + 1);

	if (n)
		memcpy(q, p, n);
	q[n] = '\0';
	return q;
}

static struct ss_store_options run_options(const struct crashx_run *r)
{
	return (struct ss_store_options){.dir = r->dir, .io = &r->fs.io,
					 .prealloc_bytes = r->prealloc, .history = r->history};
}

/* The live store's epoch history must be the model's, all of it. */
static void assert_epochs(const struct crashx_run *r, const char *when)
{
	const struct ss_epoch *ep;
	size_t n = ss_table_epochs(ss_store_table(r->s), &ep), want = 0;

	for (size_t i = 0; i < r->m.nepochs; i++)
		want += r->m.epochs[i].gone_at == SIZE_MAX;
	if (n != want)
		fail_msg("%s: %s, the store has %zu epochs, the model %zu", r->workload, when, n,
			 want);
	for (size_t i = 0; i < n; i++) {
		if (ep[i].epoch != r->m.epochs[i].epoch || ep[i].rev != r->m.epochs[i].rev)
			fail_msg("%s: %s, epoch %zu is %llu after %llu, the model's %llu after %llu",
				 r->workload, when, i, (ull)ep[i].epoch, (ull)ep[i].rev,
				 (ull)r->m.epochs[i].epoch, (ull)r->m.epochs[i].rev);
	}
}

static void assert_revision(const struct crashx_run *r, const char *when)
{
	uint64_t rev = ss_table_revision(ss_store_table(r->s));

	if (rev != r->rev)
		fail_msg("%s: %s, the store is at revision %llu, not %llu", r->workload, when,
			 (ull)rev, (ull)r->rev);
}

static struct crashx_epoch *model_epoch(struct crashx_model *m)
{
	struct crashx_epoch *e;

	m->epochs = xrealloc(m->epochs, (m->nepochs + 1) * sizeof(*m->epochs));
	e = &m->epochs[m->nepochs++];
	memset(e, 0, sizeof(*e));
	e->done_at = e->ack_at = e->gone_at = SIZE_MAX;
	return e;
}

void crashx_run_epoch(struct crashx_run *r, uint64_t epoch, uint64_t rev)
{
	struct ss_record er = {.type = SS_REC_EPOCH, .epoch = epoch, .rev = rev};
	struct crashx_epoch *e;

	if (ss_batch_add(&r->b, &er, NULL) < 0)
		fail_msg("ss_batch_add EPOCH: %s", strerror(errno));
	e = model_epoch(&r->m);
	e->epoch = epoch;
	e->rev = rev;
	e->batch = r->m.nbatches;
}

/* Decodes the group g[0..len) as a replica reads it off the wire and adds
 * its records, in raw bytes, to rb. */
static void decode_group(const struct crashx_run *r, const char *g, size_t len,
			 struct ss_batch *rb)
{
	char *scratch = xrealloc(NULL, SS_NAME_MAX + SS_VALUE_MAX);
	struct ss_record rec, raw;
	size_t pos, used;

	if (ss_record_decode(g, len, &rec, &used) != SS_DEC_OK || rec.type != SS_REC_GROUP)
		fail_msg("%s: the primary's bytes do not start with a GROUP line", r->workload);
	pos = used;
	for (uint32_t k = 0, count = rec.count; k < count; k++, pos += used) {
		if (ss_record_decode(g + pos, len - pos, &rec, &used) != SS_DEC_OK ||
		    rec.type == SS_REC_GROUP)
			fail_msg("%s: record %u of the primary's group does not decode",
				 r->workload, k);
		ss_record_raw(&rec, scratch, &raw); /* as the replica does */
		if (ss_batch_add(rb, &raw, NULL) < 0)
			fail_msg("%s: ss_batch_add of a received record: %s", r->workload,
				 strerror(errno));
	}
	if (pos != len)
		fail_msg("%s: %zu bytes after the primary's group", r->workload, len - pos);
	free(scratch);
}

void crashx_run_receive(struct crashx_run *r, int64_t now_ms)
{
	struct ss_error err = {0};
	struct ss_batch *rb;
	size_t len, mine_len;
	const char *g = ss_batch_seal(&r->b, &len), *mine;

	if (r->multi)
		fail_msg("crashx: a group received inside a multi-commit");
	if (!g)
		fail_msg("crashx: an empty group received");
	if (r->nrecv == sizeof(r->recv) / sizeof(r->recv[0]))
		fail_msg("crashx: more than %zu groups received and not applied", r->nrecv);
	rb = &r->recv[r->nrecv++];
	ss_batch_reset(rb);
	decode_group(r, g, len, rb);
	/* The encoding is canonical: the replica logs the primary's bytes. */
	mine = ss_batch_seal(rb, &mine_len);
	if (mine_len != len || memcmp(mine, g, len) != 0)
		fail_msg("%s: the replica's group is not the primary's bytes", r->workload);
	if (ss_store_write(r->s, rb, &err) < 0)
		fail_msg("%s: ss_store_write: %s", r->workload, err.msg);
	crashx_run_mark(r, crashfs_nops(&r->fs), 0);
	if (ss_store_sync(r->s, &err) < 0)
		fail_msg("%s: ss_store_sync: %s", r->workload, err.msg);
	crashx_run_mark(r, crashfs_nops(&r->fs), 1); /* the ACK */
	r->m.nbatches++;
	r->in_batch = 0;
	r->clock = now_ms > r->clock ? now_ms : r->clock;
	ss_batch_reset(&r->b);
}

void crashx_run_apply_received(struct crashx_run *r, int64_t now_ms)
{
	for (size_t i = 0; i < r->nrecv; i++) {
		if (ss_store_apply(r->s, &r->recv[i], now_ms) < 0)
			fail_msg("%s: ss_store_apply: %s", r->workload, strerror(errno));
		ss_batch_reset(&r->recv[i]);
	}
	r->nrecv = 0;
	r->clock = now_ms > r->clock ? now_ms : r->clock;
	assert_revision(r, "applied what was received");
	assert_epochs(r, "applied what was received");
}

/* Writes buf[0..len) to the data directory's SS_LOG_SYNC_FILE through the
 * recording io, in 4 KB pieces as they would arrive, and fdatasyncs it. */
static void write_sync_file(struct crashx_run *r, const char *buf, size_t len)
{
	char *path = sstest_path(r->dir, SS_LOG_SYNC_FILE);
	int fd = ss_io_open(&r->fs.io, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		fail_msg("%s: cannot create %s: %s", r->workload, path, strerror(errno));
	for (size_t off = 0; off < len; off += 4096) {
		size_t n = len - off < 4096 ? len - off : 4096;

		if (ss_io_pwrite_all(&r->fs.io, fd, buf + off, n, (off_t)off) < 0)
			fail_msg("%s: writing %s: %s", r->workload, path, strerror(errno));
	}
	if (ss_io_fdatasync(&r->fs.io, fd) < 0 || r->fs.io.close(r->fs.io.ctx, fd) < 0)
		fail_msg("%s: syncing %s: %s", r->workload, path, strerror(errno));
	free(path);
}

/* The primary's log: a copy of r's log, the batch being built committed to
 * it, compacted (a full sync sends a snapshot). Returns its bytes. */
static char *primary_log(struct crashx_run *r, int64_t now_ms, size_t *len)
{
	char *pdir = sstest_path(r->tmp, "primary");
	char *src = sstest_path(r->dir, SS_LOG_FILE), *dst = sstest_path(pdir, SS_LOG_FILE);
	struct ss_store_options opt = {.dir = pdir, .history = r->history};
	struct ss_error err = {0};
	struct ss_store *p;
	size_t n;
	char *buf;

	if (mkdir(pdir, 0755) < 0)
		fail_msg("mkdir %s: %s", pdir, strerror(errno));
	buf = sstest_read_file(src, &n);
	if (!buf)
		fail_msg("%s: cannot read %s", r->workload, src);
	sstest_write_file(dst, buf, n);
	free(buf);
	if (ss_store_open(&p, &opt, now_ms, NULL, &err) < 0)
		fail_msg("%s: the primary's open: %s", r->workload, err.msg);
	if (ss_store_write(p, &r->b, &err) < 0 || ss_store_sync(p, &err) < 0)
		fail_msg("%s: the primary's commit: %s", r->workload, err.msg);
	if (ss_store_apply(p, &r->b, now_ms) < 0)
		fail_msg("%s: the primary's apply: %s", r->workload, strerror(errno));
	if (ss_store_compact(p, now_ms, &err) < 0)
		fail_msg("%s: the primary's compaction: %s", r->workload, err.msg);
	ss_store_close(p);
	buf = sstest_read_file(dst, len);
	if (!buf)
		fail_msg("%s: cannot read %s", r->workload, dst);
	sstest_rmdir(pdir);
	free(pdir);
	free(src);
	free(dst);
	return buf;
}

/* The first rename of a full-sync file over the log at or after call from. */
static size_t rename_call(const struct crashx_run *r, size_t from)
{
	for (size_t i = from; i < r->fs.nops; i++) {
		const struct crashfs_op *op = &r->fs.ops[i];

		if (op->kind == CRASHFS_RENAME && !op->failed && op->name &&
		    strstr(op->name, SS_LOG_SYNC_FILE))
			return i;
	}
	fail_msg("%s: install made no rename of %s", r->workload, SS_LOG_SYNC_FILE);
	return SIZE_MAX;
}

void crashx_run_install(struct crashx_run *r, int64_t now_ms)
{
	struct ss_store_options opt = run_options(r);
	struct ss_open_report rep;
	struct ss_error err = {0};
	size_t len, from;
	char *buf;

	if (r->multi || r->nrecv)
		fail_msg("crashx: an install inside a multi-commit or with groups unapplied");
	r->clock = now_ms > r->clock ? now_ms : r->clock;
	buf = primary_log(r, now_ms, &len);
	write_sync_file(r, buf, len);
	free(buf);
	from = crashfs_nops(&r->fs);
	if (ss_store_install(&r->s, &opt, now_ms, &rep, &err) < 0)
		fail_msg("%s: ss_store_install: %s", r->workload, err.msg);
	/* The primary's writes are in the log from the rename on (whole: one
	 * batch), and acknowledged once install returned. */
	crashx_run_mark(r, rename_call(r, from) + 1, 0);
	crashx_run_mark(r, crashfs_nops(&r->fs), 1);
	r->m.nbatches++;
	r->in_batch = 0;
	ss_batch_reset(&r->b);
	assert_revision(r, "installed");
	assert_epochs(r, "installed");
}

void crashx_run_install_torn(struct crashx_run *r, int64_t now_ms, size_t short_by)
{
	struct ss_store_options opt = run_options(r);
	char *log = sstest_path(r->dir, SS_LOG_FILE), *sync = sstest_path(r->dir, SS_LOG_SYNC_FILE);
	uint64_t end = ss_store_log_bytes(r->s);
	struct ss_store *before = r->s;
	struct ss_error err = {0};
	size_t len;
	char *buf = sstest_read_file(log, &len);

	if (!buf || len < end || end < short_by)
		fail_msg("%s: cannot read %s", r->workload, log);
	write_sync_file(r, buf, (size_t)end - short_by);
	if (ss_store_install(&r->s, &opt, now_ms, NULL, &err) == 0 || err.kind != SS_ERR_CORRUPT)
		fail_msg("%s: install of a torn full sync returned kind %d: %s", r->workload,
			 (int)err.kind, err.msg);
	if (r->s != before || access(sync, F_OK) == 0)
		fail_msg("%s: a refused install changed the store or left %s", r->workload, sync);
	assert_revision(r, "after a refused install");
	free(buf);
	free(log);
	free(sync);
}

/* r's model: from's names, base and records, every record and epoch
 * durable from the start; those up to cut (batch 0) acknowledged, those
 * past it (batch 1) not. */
static void inherit(struct crashx_run *r, const struct crashx_model *from, uint64_t cut)
{
	struct crashx_model *m = &r->m;

	m->history = from->history;
	m->base_rev = from->base_rev;
	m->nnames = from->nnames;
	m->names = xrealloc(NULL, m->nnames * sizeof(*m->names));
	m->base = xrealloc(NULL, m->nnames * sizeof(*m->base));
	for (size_t i = 0; i < m->nnames; i++) {
		const struct crashx_base *b = &from->base[i];

		if (b->present)
			fail_msg("crashx: a cut of a run that did not start empty");
		m->names[i] = xmemdup(from->names[i], strlen(from->names[i]));
		m->base[i] = (struct crashx_base){0};
	}
	m->nrecs = m->reccap = from->nrecs;
	m->recs = xrealloc(NULL, m->nrecs * sizeof(*m->recs));
	r->rev = m->base_rev;
	for (size_t i = 0; i < m->nrecs; i++) {
		struct crashx_rec *rec = &m->recs[i];

		*rec = from->recs[i];
		rec->value = rec->del ? NULL : xmemdup(rec->value, rec->vlen);
		rec->batch = rec->rev > cut;
		rec->done_at = 0;
		rec->ack_at = rec->rev > cut ? SIZE_MAX : 0;
		rec->gone_at = SIZE_MAX;
		if (rec->rev <= cut && rec->rev > r->rev)
			r->rev = rec->rev;
		if (i > 0 && rec->batch < m->recs[i - 1].batch)
			fail_msg("crashx: a record up to the cut follows one past it");
	}
	m->nepochs = from->nepochs;
	m->epochs = xrealloc(NULL, m->nepochs * sizeof(*m->epochs));
	for (size_t i = 0; i < m->nepochs; i++) {
		m->epochs[i] = from->epochs[i];
		m->epochs[i].batch = m->epochs[i].rev > cut;
		m->epochs[i].done_at = 0;
		m->epochs[i].ack_at = m->epochs[i].rev > cut ? SIZE_MAX : 0;
		m->epochs[i].gone_at = SIZE_MAX;
	}
	m->nbatches = 2;
}

void crashx_run_open_truncate(struct crashx_run *r, const struct crashx_model *from,
			      int64_t now_ms, uint64_t cut)
{
	struct ss_store_options opt = run_options(r);
	struct ss_open_report rep;
	struct ss_error err = {0};
	uint64_t discarded = 0;
	size_t at;

	if (r->opened)
		fail_msg("crashx: a cut must be a run's first open");
	inherit(r, from, cut);
	opt.truncate = 1;
	opt.truncate_rev = cut;
	if (ss_store_open(&r->s, &opt, now_ms, &rep, &err) < 0)
		fail_msg("%s: ss_store_open with truncate at %llu: %s", r->workload, (ull)cut,
			 err.msg);
	r->opened = 1;
	r->clock = now_ms > r->clock ? now_ms : r->clock;
	at = crashfs_nops(&r->fs);
	for (size_t i = 0; i < r->m.nrecs; i++) {
		if (r->m.recs[i].rev > cut) {
			r->m.recs[i].gone_at = at;
			discarded++;
		}
	}
	for (size_t i = 0; i < r->m.nepochs; i++) {
		if (r->m.epochs[i].rev > cut)
			r->m.epochs[i].gone_at = at;
	}
	if (rep.discarded != discarded)
		fail_msg("%s: the cut discarded %llu records, the model %llu", r->workload,
			 (ull)rep.discarded, (ull)discarded);
	assert_revision(r, "cut");
	assert_epochs(r, "cut");
}
