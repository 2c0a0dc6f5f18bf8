/*
 * snapshot.c - a table's live state as the bytes of a log file, in steps.
 *
 * The snapshot is an ordinary log (record.h): the header, a REVISION record
 * with the table's revision, an EPOCH record for each epoch of the table's
 * history (oldest first), then for each live entry its history as
 * SET_CHECKPOINT records, oldest first and without expiry, and last the
 * current version with its expiry (the same absolute time as before). Each
 * record keeps its revision and commit time, and replaying a version over
 * the one before pushes that one into the history, so a compacted log
 * replays to exactly the state it was taken from, histories included.
 * Expired entries are left out. Why a walk the table changes under is
 * still exact: snapshot.h.
 *
 * Records are framed in groups as every log write is: a group closes at
 * SS_SNAPSHOT_GROUP_MAX records or at about 1 MB. So a table of millions of
 * small entries makes a few thousand groups, not millions, and replay's
 * per-group array stays small. A group is built with the same ss_batch code
 * as a commit, so there is one framing, not two. Sealed groups are copied
 * to the output buffer, which the caller takes and writes; the buffer's
 * memory is reused, so a long walk does not fault in fresh pages.
 */
#include "statestored/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "statestored/io.h"
#include "statestored/record.h"
#include "statestored/table.h"


typedef unsigned long long ull;

static void no_memory(struct ss_snapshot *s, struct ss_error *err)
{
	s->failed = 1;
	ss_error_set(err, SS_ERR_NOMEM, ENOMEM, "out of memory writing a snapshot of %llu entries",
		     (ull)ss_table_count(s->t));
}

int ss_snapshot_out_reserve(struct ss_snapshot_out *o, size_t cap)
{
	if (o->cap >= cap)
		return 0;
	char *q = realloc(o->p, cap);
	if (!q)
		return -1;
	o->p = q;
	o->cap = cap;
	return 0;
}

static int out_append(struct ss_snapshot_out *o, const char *p, size_t n)
{
	if (o->cap - o->len < n) {
		size_t cap = o->cap ? o->cap : 64 * 1024;
		while (cap - o->len < n)
			cap *= 2;
		if (ss_snapshot_out_reserve(o, cap) < 0)
			return -1;
	}
	memcpy(o->p + o->len, p, n);
	o->len += n;
	return 0;
}

/* Moves the open group, if any, to the output. */
static int seal(struct ss_snapshot *s)
{
	size_t n;
	const char *p = ss_batch_seal(&s->group, &n);

	if (n > 0 && out_append(&s->out, p, n) < 0)
		return -1;
	ss_batch_reset(&s->group);
	return 0;
}

/* Adds r to the open group, sealing the group first when it is full. */
static int add(struct ss_snapshot *s, const struct ss_record *r)
{
	if ((s->group.nops == SS_SNAPSHOT_GROUP_MAX || s->group.len >= SS_SNAPSHOT_GROUP_BYTES) &&
	    seal(s) < 0)
		return -1;
	if (ss_batch_add(&s->group, r, NULL) < 0)
		return -1;
	s->records++;
	return 0;
}

/* ss_table_scan's callback: the versions of e, oldest first, the current
 * one with its expiry. Returns nonzero to stop the walk on a failure. */
static int add_entry(void *arg, const struct ss_entry *e)
{
	struct ss_snapshot *s = arg;
	size_t n = s->nv > 1 ? ss_table_history(s->t, e->name, e->nlen, s->now_ms, s->v, s->nv) : 0;

	for (size_t i = n; i-- > 1;) {
		struct ss_record r = {.type = SS_REC_SET, .name = e->name, .nlen = e->nlen,
				      .value = s->v[i].value, .vlen = s->v[i].vlen,
				      .rev = s->v[i].rev, .commit_ms = s->v[i].commit_ms};
		if (add(s, &r) < 0)
			goto failed;
	}
	struct ss_record r = {.type = SS_REC_SET, .name = e->name, .nlen = e->nlen,
			      .value = e->value, .vlen = e->vlen, .expire_ms = e->expire_ms,
			      .rev = e->rev, .commit_ms = e->commit_ms};
	if (add(s, &r) < 0)
		goto failed;
	s->entries++;
	return 0;
failed:
	s->failed = 1;
	return 1;
}

int ss_snapshot_init(struct ss_snapshot *s, struct ss_table *t, int64_t now_ms, size_t reserve,
		     struct ss_error *err)
{
	memset(s, 0, sizeof(*s));
	s->t = t;
	s->now_ms = now_ms;
	s->block = ss_table_scan_block_for(t, SS_SNAPSHOT_BLOCK_BYTES, SS_SCAN_BLOCK_SNAPSHOT);
	s->nv = (size_t)ss_table_history_depth(t) + 1;
	ss_batch_init(&s->group);
	if ((s->nv > 1 && !(s->v = malloc(s->nv * sizeof(*s->v)))) ||
	    ss_snapshot_out_reserve(&s->out, reserve) < 0 ||
	    out_append(&s->out, SS_LOG_HEADER, sizeof(SS_LOG_HEADER) - 1) < 0) {
		no_memory(s, err);
		return -1;
	}
	/* The counter first: the entries that raised it may all be gone. */
	s->rev_begin = ss_table_revision(t);
	if (ss_table_revision(t) > 0) {
		struct ss_record rev = {.type = SS_REC_REV, .rev = ss_table_revision(t)};
		if (add(s, &rev) < 0) {
			no_memory(s, err);
			return -1;
		}
	}
	/* Then every epoch: replication decides a partial sync by the
	 * history, so a compaction, a backup or a full sync keeps all of it. */
	const struct ss_epoch *ep;
	size_t nep = ss_table_epochs(t, &ep);
	for (size_t i = 0; i < nep; i++) {
		struct ss_record r = {.type = SS_REC_EPOCH, .epoch = ep[i].epoch, .rev = ep[i].rev};
		if (add(s, &r) < 0) {
			no_memory(s, err);
			return -1;
		}
	}
	return 0;
}

int ss_snapshot_step(struct ss_snapshot *s, size_t buckets, struct ss_error *err)
{
	if (s->failed) {
		no_memory(s, err);
		return -1;
	}
	if (s->done)
		return 0;
	s->cursor =
		ss_table_scan(s->t, s->cursor, s->block, buckets, s->prefix, s->plen, s->now_ms,
			      add_entry, s);
	if (s->failed) {
		no_memory(s, err);
		return -1;
	}
	if (s->cursor != 0)
		return 1;
	/* The counter again if commits raised it during the walk: every
	 * record above holds a revision no higher (it was read from the table
	 * by now), so a cut (store.h: truncate) below this one would need
	 * versions the walk may have taken newer ones for. */
	if (ss_table_revision(s->t) > s->rev_begin) {
		struct ss_record rev = {.type = SS_REC_REV, .rev = ss_table_revision(s->t)};
		if (add(s, &rev) < 0) {
			no_memory(s, err);
			return -1;
		}
	}
	if (seal(s) < 0) {
		no_memory(s, err);
		return -1;
	}
	s->done = 1;
	return 0;
}

void ss_snapshot_take(struct ss_snapshot *s, struct ss_snapshot_out *o)
{
	struct ss_snapshot_out tmp = *o;

	*o = s->out;
	s->out = tmp;
	s->out.len = 0;
}

void ss_snapshot_out_free(struct ss_snapshot_out *o)
{
	free(o->p);
	*o = (struct ss_snapshot_out){0};
}

void ss_snapshot_free(struct ss_snapshot *s)
{
	ss_batch_free(&s->group);
	ss_snapshot_out_free(&s->out);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

int ss_snapshot_write(struct ss_table *t, int64_t now_ms, const char *path, const struct ss_io *io,
		      struct ss_error *err)
{
	struct ss_snapshot s;
	struct ss_snapshot_out o = {0};
	off_t off = 0;
	int fd = -1, created = 0, ret = -1, more;

	if (ss_snapshot_init(&s, t, now_ms, 2 * SS_SNAPSHOT_GROUP_BYTES, err) < 0)
		goto out;
	fd = ss_io_open(io, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		ss_error_set(err, SS_ERR_IO, errno, "cannot create %s: %s", path, strerror(errno));
		goto out;
	}
	created = 1;
	do {
		more = ss_snapshot_step(&s, 1, err);
		if (more < 0)
			goto out;
		if (more && s.out.len < SS_SNAPSHOT_GROUP_BYTES)
			continue; /* write about a group's worth at a time */
		ss_snapshot_take(&s, &o);
		if (o.len > 0 && ss_io_pwrite_all(io, fd, o.p, o.len, off) < 0) {
			ss_error_set(err, SS_ERR_IO, errno, "cannot write %s at byte offset %llu: %s",
				     path, (ull)off, strerror(errno));
			goto out;
		}
		off += (off_t)o.len;
		o.len = 0;
	} while (more);
	if (ss_io_fdatasync(io, fd) < 0) {
		ss_error_set(err, SS_ERR_IO, errno, "cannot fdatasync %s: %s", path, strerror(errno));
		goto out;
	}
	ret = 0;
out:
	if (fd >= 0 && io->close(io->ctx, fd) < 0 && ret == 0) {
		ss_error_set(err, SS_ERR_IO, errno, "cannot close %s: %s", path, strerror(errno));
		ret = -1;
	}
	if (ret < 0 && created)
		(void)ss_io_unlink(io, path);
	ss_snapshot_out_free(&o);
	ss_snapshot_free(&s);
	return ret;
}
