/*
 * store.c - the storage engine: a data directory, its log and its table.
 *
 * This file wires the parts together and owns the data directory: it creates
 * it, takes its LOCK (flock, so the lock dies with the process and a second
 * store on the same directory - even in the same process - is refused),
 * removes a compaction temp file left by a crash, and replays the log into a
 * fresh table. The log file itself is logfile.c; writing a compacted copy is
 * snapshot.c, walked while commits go on (ss_store_compact_begin / _finish:
 * what was logged meanwhile is appended, then the copy renamed over the
 * log).
 *
 * ss_store_check is the same replay with every write left out (no lock,
 * no directory, the log opened read-only): statestore-check's verdicts are
 * this file's and logfile.c's, not a second parser's.
 *
 * The commit protocol (store.h) keeps one rule: the table only ever holds
 * what the log holds durably. ss_store_write and ss_store_sync touch only the
 * log; ss_store_apply touches only the table, after the sync succeeded.
 *
 * Expiry is an absolute time. A SET whose expiry has passed when it is
 * applied - at replay, or in a batch - acts as a DEL: its value is never
 * visible, and an older value of the same name must not survive it.
 */
#include "statestored/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/backup.h"
#include "engine/error.h"
#include "engine/logfile.h"
#include "statestored/snapshot.h"

struct ss_store {
	const struct ss_io *io;
	char *dir;
	char *log_path;
	char *tmp_path;
	char *sync_path;
	int lock_fd;
	struct ss_table *table;
	char *scratch; /* SS_NAME_MAX + SS_VALUE_MAX: a record's fields unescaped */
	struct ss_logfile log;
	uint64_t compacted_bytes;
	/* A compaction in progress, from begin to finish or abort. The tail
	 * is the old log's bytes from tail_from to its end; those before
	 * tail_from were copied to the temp file, which is tmp_len bytes. */
	int tmp_fd;          /* the temp file, once a round or the finish opened it */
	uint64_t tmp_len;
	uint64_t tail_from;
	/* A backup is the same steps with another target: its log (which
	 * rounds append to instead of tmp_path) and, with a prefix, a tail
	 * filtered to it. NULL while compacting. */
	struct ss_backup *bk;
	uint64_t backup_limit; /* a backup's tail ends here (0: at the log's end) */
};

/* Replay's view of the table. */
struct replay_ctx {
	struct ss_store *s;
	int64_t now_ms;
	uint64_t expired;
	uint64_t v1_rev; /* a v1 log's records take revisions 1, 2, ... */
	int ttls;        /* some record carried an expiry */
	ss_store_check_fn observe; /* ss_store_check's, or NULL */
	void *observe_arg;
	ss_store_progress_fn progress; /* or NULL */
	void *progress_arg;
	uint64_t applied;  /* records applied, counted only for progress */
	uint64_t at_bytes; /* how far the last named record reached */
	/* A cut (ss_store_options.truncate): records past cut_rev are
	 * skipped; snap_rev is a REVISION record's past it, which fails the
	 * open (0: none met). */
	int filter; /* cut or hold: replay_apply asks skips() */
	int cut;
	uint64_t cut_rev;
	uint64_t skipped;   /* records skipped, EPOCH included */
	uint64_t discarded; /* ... of them SET and DEL */
	uint64_t snap_rev;
	/* A hold (ss_store_options.hold): records past hold_rev are skipped
	 * and kept in the log; held counts their SET and DEL, held_from is
	 * the first group with one (NO_HELD: none), group_off the group being
	 * applied. While a REVISION record's raise replays the groups before
	 * it again (rescan), records of floor or below were applied the first
	 * time, and every other one is applied now. */
	int hold;
	int rescan;
	uint64_t hold_rev;
	uint64_t floor;
	uint64_t held;
	uint64_t held_from;
	uint64_t group_off;
};

#define NO_HELD UINT64_MAX

static char *join(const char *dir, const char *name)
{
	char *p;

	return asprintf(&p, "%s/%s", dir, name) < 0 ? NULL : p;
}

/* Creates dir and any missing parents, and makes their entries durable
 * (an fsync of each created level's parent), or a power loss could take
 * the whole data directory with it. dir's own parent is fsync'd even if dir
 * was there: a previous start may have created it and then failed that
 * fsync (or died before it), and no later step would make up for it. */
static int make_dir(const struct ss_io *io, const char *dir, struct ss_error *err)
{
	char *path = strdup(dir), *parent = NULL;
	int r = -1;

	if (!path) {
		ss_error_set(err, SS_ERR_NOMEM, ENOMEM, "out of memory opening %s", dir);
		return -1;
	}
	/* Each level in turn: "a", "a/b", "a/b/c". */
	for (char *p = path + 1;; p++) {
		int last = *p == '\0';
		if (!last && (*p != '/' || p[-1] == '/'))
			continue;
		*p = '\0';
		int made = mkdir(path, 0755) == 0;
		if (!made && errno != EEXIST) {
			ss_error_set(err, SS_ERR_IO, errno, "cannot create the data directory %s: %s",
				     path, strerror(errno));
			goto out;
		}
		if (made || last) {
			free(parent);
			parent = ss_io_dir_of(path);
			if (!parent) {
				ss_error_set(err, SS_ERR_NOMEM, ENOMEM, "out of memory opening %s", dir);
				goto out;
			}
			if (ss_io_fsync_dir(io, parent) < 0) {
				ss_error_set(err, SS_ERR_IO, errno, "cannot fsync %s, which holds %s: %s",
					     parent, path, strerror(errno));
				goto out;
			}
		}
		if (last)
			break;
		*p = '/';
	}
	r = 0;
out:
	free(parent);
	free(path);
	return r;
}

long ss_store_lock_pid(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	long pid = 0;

	for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9' && pid < 100000000; i++)
		pid = pid * 10 + (buf[i] - '0');
	return pid;
}

/* Records our pid in LOCK: written over the old one, then cut to its
 * length, so that a full disk rarely stands in the way (the file's block
 * is already there). Returns 0 or -1 with errno. */
static int record_lock_pid(const struct ss_io *io, int fd)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());

	if (ss_io_pwrite_all(io, fd, buf, (size_t)n, 0) < 0 || ss_io_ftruncate(io, fd, n) < 0)
		return -1;
	return 0;
}

int ss_store_lock(const struct ss_io *io, const char *dir, int create, long *holder,
		  struct ss_error *err)
{
	char *path = join(dir, SS_LOCK_FILE);
	int fd = -1;

	if (!path) {
		ss_error_set(err, SS_ERR_NOMEM, ENOMEM, "out of memory locking %s", dir);
		return -1;
	}
	fd = ss_io_open(io, path, create ? O_RDWR | O_CREAT | O_CLOEXEC : O_RDONLY | O_CLOEXEC,
			0644);
	if (fd < 0) {
		ss_error_set(err, SS_ERR_IO, errno, "cannot open the lock file %s: %s", path,
			     strerror(errno));
	} else if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK) {
			*holder = ss_store_lock_pid(fd);
			ss_error_set(err, SS_ERR_LOCKED, EWOULDBLOCK,
				     "the data directory %s is in use: another store holds %s "
				     "(pid %ld recorded in it)",
				     dir, path, *holder);
		} else {
			ss_error_set(err, SS_ERR_IO, errno, "cannot lock %s: %s", path,
				     strerror(errno));
		}
		io->close(io->ctx, fd);
		fd = -1;
	}
	free(path);
	return fd;
}

/* Removes a file an interrupted compaction or full sync left at path
 * (what names it), setting *removed. 0, or -1 with *err. */
static int remove_stale(struct ss_store *s, const char *path, const char *what, int *removed,
			struct ss_error *err)
{
	if (ss_io_unlink(s->io, path) == 0) {
		*removed = 1;
		return 0;
	}
	if (errno == ENOENT)
		return 0;
	ss_error_set(err, SS_ERR_IO, errno, "cannot remove the stale %s file %s: %s", what, path,
		     strerror(errno));
	return -1;
}

static int take_lock(struct ss_store *s, struct ss_open_report *rep, struct ss_error *err)
{
	s->lock_fd = ss_store_lock(s->io, s->dir, 1, &rep->lock_pid, err);
	if (s->lock_fd < 0)
		return -1;
	if (record_lock_pid(s->io, s->lock_fd) < 0)
		rep->lock_pid_errno = errno;
	return 0;
}

/* The one path from a record to the table, for replay and for a batch
 * alike: r's name and value as the log holds them (escaped where r->esc
 * says). The store's revision rises to r->rev in every case.
 *
 * Whether the version a SET replaces was live - and so joins the history -
 * is judged at the SET's own commit time, not at now_ms: that is what the
 * table saw when the SET was first applied, and replay must rebuild the
 * same history whether it replays the records or a snapshot of them (a
 * version whose TTL ran out after it was replaced stays in the history).
 * A v1 record has no commit time (0), and one from the future (the clock
 * stepped back since) is no guide: those are judged at now_ms. A SET
 * already expired at the time it is judged acts as a DEL. Entries that
 * expired between their commit and now_ms are the caller's to drop.
 *
 * At replay (replaying), a SET whose name already holds its revision or a
 * newer one is skipped (ss_table_set_newer). The daemon gives each name
 * strictly rising revisions as it appends, so only a compacted log meets
 * this: its snapshot was walked while commits went on (snapshot.h), and
 * may hold a version twice, or one its tail logs again. A DEL needs no
 * such rule: what follows it in the tail rebuilds the name from nothing,
 * as it did when first applied. A live batch is applied whole, never
 * skipped: a revision out of order there would be a bug to see, not to
 * hide.
 * Returns 0, 1 if an expired SET acted as a DEL, -1 on ENOMEM; *existed:
 * whether a DEL found the name. */
static int apply_record(struct ss_store *s, const struct ss_record *r, int64_t now_ms,
			int replaying, int *existed)
{
	const char *name = r->name, *value = r->value;
	int64_t at = r->commit_ms > 0 && r->commit_ms < now_ms ? r->commit_ms : now_ms;

	/* An EPOCH takes no revision (record.h): its rev names one that was
	 * already noted, and a cut (truncate) must not raise the counter
	 * with it, so it is not noted here. */
	if (r->type == SS_REC_EPOCH)
		return ss_table_note_epoch(s->table, r->epoch, r->rev);
	ss_table_note_revision(s->table, r->rev);
	if (r->type == SS_REC_REV)
		return 0;
	if (r->esc & SS_REC_NAME_ESC) {
		ss_record_unescape(r->name, r->nlen, s->scratch);
		name = s->scratch;
	}
	if (r->type == SS_REC_DEL) {
		*existed = ss_table_del(s->table, name, r->nraw, at);
		return 0;
	}
	if (r->expire_ms != 0 && r->expire_ms <= at) {
		(void)ss_table_del(s->table, name, r->nraw, at);
		return 1;
	}
	if (r->esc & SS_REC_VALUE_ESC) {
		ss_record_unescape(r->value, r->vlen, s->scratch + SS_NAME_MAX);
		value = s->scratch + SS_NAME_MAX;
	}
	if (!replaying)
		return ss_table_set(s->table, name, r->nraw, value, r->vraw, r->expire_ms, r->rev,
				    r->commit_ms, at);
	const struct ss_entry e = {.name = name, .nlen = r->nraw, .value = value, .vlen = r->vraw,
				   .expire_ms = r->expire_ms, .rev = r->rev,
				   .commit_ms = r->commit_ms};
	return ss_table_set_newer(s->table, &e, at) < 0 ? -1 : 0;
}

static void replay_prefetch(void *arg, const struct ss_record *r, int stage)
{
	struct replay_ctx *c = arg;

	if ((r->type == SS_REC_SET || r->type == SS_REC_DEL) && !(r->esc & SS_REC_NAME_ESC))
		ss_table_prefetch(c->s->table, r->name, r->nlen, stage);
}

_Static_assert((SS_STORE_PROGRESS_RECORDS & (SS_STORE_PROGRESS_RECORDS - 1)) == 0,
	       "progress is a mask test: a power of two");

/* Tells the caller how far replay is. A SET's or DEL's name points into
 * the mapped log, so it says how far into the file the replay is; a
 * REVISION record, which has none, repeats the last figure. */
static void replay_progress(struct replay_ctx *c, const struct ss_record *r)
{
	const struct ss_logfile *lf = &c->s->log;
	struct ss_replay_progress p = {.records = c->applied, .total = lf->replay_len};

	if (r->name && lf->replay_map && r->name >= lf->replay_map &&
	    r->name < lf->replay_map + lf->replay_len)
		c->at_bytes = (uint64_t)(r->name - lf->replay_map);
	p.bytes = c->at_bytes;
	c->progress(c->progress_arg, &p);
}

/* Whether a cut skips r: a SET, DEL or EPOCH past the cut (store.h). A
 * REVISION past it fails the open once the scan ends (snap_rev); from
 * there on nothing more is applied. */
static int cut_skips(struct replay_ctx *c, const struct ss_record *r)
{
	if (c->snap_rev)
		return 1;
	if (r->rev <= c->cut_rev)
		return 0;
	if (r->type == SS_REC_REV) {
		c->snap_rev = r->rev;
		return 1;
	}
	c->skipped++;
	c->discarded += r->type != SS_REC_EPOCH;
	return 1;
}

/* Whether a hold skips r: a SET, DEL or EPOCH past hold_rev (store.h). A
 * REVISION record is never past it: hold_group raised it first. */
static int hold_skips(struct replay_ctx *c, const struct ss_record *r)
{
	if (c->rescan)
		return r->rev <= c->floor;
	if (r->rev <= c->hold_rev)
		return 0;
	c->skipped++;
	c->held += r->type != SS_REC_EPOCH;
	if (c->held_from == NO_HELD)
		c->held_from = c->group_off;
	return 1;
}

static int skips(struct replay_ctx *c, const struct ss_record *r)
{
	return c->hold ? hold_skips(c, r) : cut_skips(c, r);
}

static int replay_apply(void *arg, const struct ss_record *r);

/* A hold's group hook: notes where the group starts and, if it holds a
 * REVISION record past hold_rev, raises hold_rev to it before any of its
 * records is applied - those before the record hold no higher revision,
 * and those after it are past the raise. What was held before this group
 * comes before the record too, so it was committed: its groups are
 * replayed again, applying what the first pass skipped, and nothing is
 * held any more. One extra pass at most over the log (a rescan ends
 * where the next may begin), and only where a hold meets a REVISION
 * record past it: a snapshot's start, its end, a backup's end. (A
 * version-1 log, whose revisions replay_apply counts as it goes, has no
 * REVISION record, so it is never read twice.) */
static int hold_group(void *arg, size_t off, const struct ss_record *rs, size_t n)
{
	struct replay_ctx *c = arg;
	const struct ss_logfile *lf = &c->s->log;
	uint64_t top = c->hold_rev;
	struct ss_logscan re;

	c->group_off = off;
	if (c->rescan)
		return 0;
	for (size_t k = 0; k < n; k++)
		if (rs[k].type == SS_REC_REV && rs[k].rev > top)
			top = rs[k].rev;
	if (top == c->hold_rev)
		return 0;
	if (c->held_from != NO_HELD) {
		size_t from = (size_t)c->held_from;
		c->rescan = 1;
		c->floor = c->hold_rev;
		int rc = ss_logscan_replay(lf->version, lf->replay_map, off, from, SIZE_MAX,
					   replay_apply, NULL, hold_group, c, &re);
		c->rescan = 0;
		if (rc < 0)
			return -1;
		if (re.good_end != off) { /* cannot be: these groups were read whole */
			errno = EIO;
			return -1;
		}
		c->skipped = c->held = 0;
		c->held_from = NO_HELD;
		c->group_off = off;
	}
	c->hold_rev = top;
	return 0;
}

static int replay_apply(void *arg, const struct ss_record *r)
{
	struct replay_ctx *c = arg;
	struct ss_record v1;
	int existed, rc;

	if (c->s->log.version == 1) {
		v1 = *r;
		v1.rev = ++c->v1_rev;
		v1.commit_ms = 0; /* unknown */
		r = &v1;
	}
	if (c->filter && skips(c, r))
		return 0;
	c->ttls |= r->type == SS_REC_SET && r->expire_ms != 0;
	if (c->observe)
		c->observe(c->observe_arg, r);
	rc = apply_record(c->s, r, c->now_ms, 1, &existed);
	if (rc == 1)
		c->expired++;
	/* A counter and a mask test per record: nothing a replay can measure. */
	if (c->progress && (++c->applied & (SS_STORE_PROGRESS_RECORDS - 1)) == 0)
		replay_progress(c, r);
	return rc < 0 ? -1 : 0;
}

/* What expired before now goes now, as it would have gone at its time
 * had the daemon run: with its history. */
static void expire_replayed(struct replay_ctx *c)
{
	for (size_t cur = 0; c->ttls;) {
		size_t prev = cur, n = ss_table_expire_some(c->s->table, c->now_ms, 4096, &cur);
		c->expired += n;
		if (n == 0 && cur <= prev)
			break; /* wrapped around without finding any more */
	}
}

int ss_store_open(struct ss_store **out, const struct ss_store_options *opt, int64_t now_ms,
		  struct ss_open_report *rep, struct ss_error *err)
{
	struct ss_open_report local;
	struct ss_logfile_report lrep;
	struct replay_ctx ctx = {0};
	struct ss_store *s;
	int ret = -1;

	*out = NULL;
	if (!rep)
		rep = &local;
	memset(rep, 0, sizeof(*rep));
	if (opt->hold && opt->truncate) {
		ss_error_set(err, SS_ERR_IO, EINVAL,
			     "cannot open %s with both a hold and a truncate: a cut rewrites the "
			     "log, a hold keeps it",
			     opt->dir);
		return -1;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		ss_error_set(err, SS_ERR_NOMEM, ENOMEM, "out of memory opening %s", opt->dir);
		return -1;
	}
	s->io = opt->io ? opt->io : &ss_io_posix;
	s->lock_fd = -1;
	s->tmp_fd = -1;
	ss_logfile_init(&s->log, NULL, NULL, s->io, 0);
	s->dir = strdup(opt->dir);
	s->log_path = join(opt->dir, SS_LOG_FILE);
	s->tmp_path = join(opt->dir, SS_LOG_TMP_FILE);
	s->sync_path = join(opt->dir, SS_LOG_SYNC_FILE);
	s->table = ss_table_new(opt->history);
	s->scratch = malloc(SS_NAME_MAX + SS_VALUE_MAX);
	if (!s->dir || !s->log_path || !s->tmp_path || !s->sync_path || !s->table ||
	    !s->scratch) {
		ss_error_set(err, SS_ERR_NOMEM, ENOMEM, "out of memory opening %s", opt->dir);
		goto out;
	}
	if (make_dir(s->io, s->dir, err) < 0 || take_lock(s, rep, err) < 0)
		goto out;
	if (remove_stale(s, s->tmp_path, "compaction", &rep->removed_tmp, err) < 0 ||
	    remove_stale(s, s->sync_path, "full-sync", &rep->removed_sync, err) < 0)
		goto out;
	ss_logfile_init(&s->log, s->log_path, s->dir, s->io, opt->prealloc_bytes);
	s->log.replay_thread_min = opt->replay_thread_min;
	ctx.s = s;
	ctx.now_ms = now_ms;
	ctx.progress = opt->progress;
	ctx.progress_arg = opt->progress_arg;
	ctx.cut = opt->truncate;
	ctx.cut_rev = opt->truncate_rev;
	ctx.hold = opt->hold;
	ctx.hold_rev = opt->hold_rev;
	ctx.held_from = NO_HELD;
	ctx.filter = ctx.cut || ctx.hold;
	if (ctx.hold)
		s->log.replay_group = hold_group;
	if (ss_logfile_open(&s->log, replay_apply, replay_prefetch, &ctx, &lrep, err) < 0)
		goto out;
	s->log.replay_group = NULL;
	if (ctx.hold && ctx.skipped > 0 && s->log.version != SS_LOG_VERSION) {
		ss_error_set(err, SS_ERR_IO, EINVAL,
			     "cannot hold back the log %s past revision %llu: it has format "
			     "version %ld, and its upgrade would rewrite it without what is held; "
			     "open it once without the hold",
			     s->log_path, (unsigned long long)opt->hold_rev, s->log.version);
		goto out;
	}
	if (ctx.snap_rev) {
		ss_error_set(err, SS_ERR_TRUNCATE, 0,
			     "cannot cut back to revision %llu: the log's snapshot is at %llu "
			     "(the log %s)",
			     (unsigned long long)ctx.cut_rev, (unsigned long long)ctx.snap_rev,
			     s->log_path);
		goto out;
	}
	/* A log an older version wrote is rewritten in the current format
	 * now, before anything is appended to it: a compaction's tail is
	 * copied byte for byte, so one file must hold one format. A cut is
	 * made durable the same way: the rewritten log holds none of what
	 * was skipped, and until its rename the old log is the log. */
	if (s->log.version != SS_LOG_VERSION || (ctx.cut && ctx.skipped > 0)) {
		long old = s->log.version;
		if (ss_store_compact(s, now_ms, err) < 0)
			goto out;
		if (old != SS_LOG_VERSION)
			rep->upgraded_from = (int)old;
	}
	rep->records = lrep.records - ctx.skipped;
	rep->discarded = ctx.discarded;
	if (ctx.hold) {
		rep->held = ctx.held;
		rep->held_from = ctx.held_from == NO_HELD ? s->log.end : ctx.held_from;
		rep->hold_rev = ctx.hold_rev;
	}
	rep->groups = lrep.groups;
	expire_replayed(&ctx);
	rep->expired = ctx.expired;
	rep->torn_bytes = lrep.torn_bytes;
	rep->log_bytes = s->log.end;
	s->compacted_bytes = s->log.end;
	*out = s;
	ret = 0;
out:
	if (ret < 0)
		ss_store_close(s);
	return ret;
}

void ss_store_close(struct ss_store *s)
{
	if (!s)
		return;
	if (s->tmp_fd >= 0)
		s->io->close(s->io->ctx, s->tmp_fd);
	ss_backup_discard(s->io, s->bk);
	ss_logfile_close(&s->log);
	if (s->lock_fd >= 0)
		s->io->close(s->io->ctx, s->lock_fd); /* releases the flock */
	ss_table_free(s->table);
	free(s->scratch);
	free(s->dir);
	free(s->log_path);
	free(s->tmp_path);
	free(s->sync_path);
	free(s);
}

struct ss_table *ss_store_table(struct ss_store *s)
{
	return s->table;
}

int ss_store_write(struct ss_store *s, struct ss_batch *b, struct ss_error *err)
{
	size_t len;
	const char *group = ss_batch_seal(b, &len);

	return ss_logfile_append(&s->log, group, len, err);
}

int ss_store_sync(struct ss_store *s, struct ss_error *err)
{
	return ss_logfile_sync(&s->log, err);
}

int ss_store_sync_begin(struct ss_store *s, struct ss_error *err)
{
	return ss_logfile_sync_begin(&s->log, err);
}

int ss_store_sync_end(struct ss_store *s, int rc, int errnum, struct ss_error *err)
{
	return ss_logfile_sync_end(&s->log, rc, errnum, err);
}

int ss_store_apply(struct ss_store *s, struct ss_batch *b, int64_t now_ms)
{
	for (size_t i = 0; i < b->nops; i++) {
		struct ss_op *op = &b->ops[i];
		struct ss_record r = {
			.type = op->type,
			.name = b->buf + op->name_off,
			.nlen = op->nlen,
			.value = b->buf + op->value_off,
			.vlen = op->vlen,
			.expire_ms = op->expire_ms,
			.epoch = op->type == SS_REC_EPOCH ? (uint64_t)op->expire_ms : 0,
			.rev = op->rev,
			.commit_ms = op->commit_ms,
			.esc = op->esc,
			.nraw = op->nraw,
			.vraw = op->vraw,
		};
		int existed = 0;

		if (op->type == SS_OP_REPLY)
			continue;
		if (apply_record(s, &r, now_ms, 0, &existed) < 0)
			return -1;
		op->result = op->type == SS_REC_DEL ? existed : 0;
	}
	return 0;
}

int ss_store_compact_begin(struct ss_store *s, size_t unapplied, const char **tmp_path,
			   struct ss_error *err)
{
	*tmp_path = s->tmp_path;
	if (ss_logfile_writable(&s->log, err) < 0)
		return -1;
	if (ss_io_unlink(s->io, s->tmp_path) < 0 && errno != ENOENT) {
		ss_error_set(err, SS_ERR_IO, errno, "cannot remove the stale compaction file %s: %s",
			     s->tmp_path, strerror(errno));
		return -1;
	}
	s->tail_from = s->log.end - unapplied;
	s->tmp_len = 0;
	return 0;
}

/* Where the snapshot and the tail go, and what to call it in a message. */
static const char *target(const struct ss_store *s)
{
	return s->bk ? s->bk->log : s->tmp_path;
}

static const char *target_what(const struct ss_store *s)
{
	return s->bk ? "backup" : "compacted log";
}

/* Opens the snapshot the caller wrote, for appending the tail to it. */
static int open_tmp(struct ss_store *s, struct ss_error *err)
{
	struct stat st;

	const char *path = target(s);

	if (s->tmp_fd >= 0)
		return 0;
	s->tmp_fd = ss_io_open(s->io, path, O_RDWR | O_CLOEXEC, 0);
	if (s->tmp_fd < 0) {
		ss_error_set(err, SS_ERR_IO, errno, "cannot open the %s %s: %s", target_what(s),
			     path, strerror(errno));
		return -1;
	}
	if (fstat(s->tmp_fd, &st) < 0) {
		ss_error_set(err, SS_ERR_IO, errno, "cannot stat the %s %s: %s", target_what(s),
			     path, strerror(errno));
		return -1;
	}
	s->tmp_len = (uint64_t)st.st_size;
	return 0;
}

/* The message of a failed copy of the tail. */
static void copy_failed(struct ss_store *s, uint64_t n, int errnum, struct ss_error *err)
{
	ss_error_set(err, SS_ERR_IO, errnum,
		     "cannot copy the %llu bytes logged since the snapshot to the %s %s: %s",
		     (unsigned long long)n, target_what(s), target(s), strerror(errnum));
}

void ss_store_limit_backup_tail(struct ss_store *s, uint64_t end)
{
	s->backup_limit = end;
}

/* Where the tail being copied ends: the log's end, or for a backup the
 * caller's limit (never below what is copied already). */
static uint64_t tail_end(const struct ss_store *s)
{
	uint64_t end = s->log.end;

	if (s->bk && s->backup_limit && s->backup_limit < end)
		end = s->backup_limit > s->tail_from ? s->backup_limit : s->tail_from;
	return end;
}

int ss_store_compact_round(struct ss_store *s, uint64_t min_bytes, struct ss_compact_job *job,
			   struct ss_error *err)
{
	if (ss_logfile_writable(&s->log, err) < 0 || open_tmp(s, err) < 0) {
		ss_store_compact_abort(s);
		return -1;
	}
	uint64_t end = tail_end(s);
	if (end - s->tail_from <= min_bytes)
		return 0;
	*job = (struct ss_compact_job){.io = s->io,
				       .src_fd = s->log.fd,
				       .dst_fd = s->tmp_fd,
				       .from = s->tail_from,
				       .to = end,
				       .dst_off = s->tmp_len,
				       .prefix = s->bk ? s->bk->prefix : NULL,
				       .plen = s->bk ? s->bk->plen : 0};
	return 1;
}

/* Copies the tail's bytes [from, to) to dst at dst_off: as they are, or
 * only a backup prefix's records. 0 and *written, or -1 with errno. */
static int copy_tail(const struct ss_io *io, int src, uint64_t from, uint64_t to, int dst,
		     uint64_t dst_off, const char *prefix, size_t plen, uint64_t *written)
{
	if (prefix)
		return ss_backup_copy(io, src, from, to, dst, dst_off, prefix, plen, written);
	*written = 0;
	if (ss_logfile_copy(io, src, from, to, dst, dst_off) < 0)
		return -1;
	*written = to - from;
	return 0;
}

void ss_compact_job_run(struct ss_compact_job *job)
{
	job->errnum = 0;
	if (copy_tail(job->io, job->src_fd, job->from, job->to, job->dst_fd, job->dst_off,
		      job->prefix, job->plen, &job->written) < 0 ||
	    ss_io_fdatasync(job->io, job->dst_fd) < 0)
		job->errnum = errno ? errno : EIO;
}

int ss_store_compact_round_end(struct ss_store *s, const struct ss_compact_job *job,
			       struct ss_error *err)
{
	if (job->errnum) {
		copy_failed(s, job->to - job->from, job->errnum, err);
		ss_store_compact_abort(s);
		return -1;
	}
	s->tail_from = job->to;
	s->tmp_len += job->written;
	return 0;
}

int ss_store_backup_begin(struct ss_store *s, size_t unapplied, const char *dir,
			  const char *prefix, size_t plen, const char **log_path,
			  struct ss_error *err)
{
	if (ss_logfile_writable(&s->log, err) < 0 ||
	    ss_backup_prepare(s->io, dir, s->dir, prefix, plen, &s->bk, err) < 0)
		return -1;
	*log_path = s->bk->log;
	s->tail_from = s->log.end - unapplied;
	s->tmp_len = 0;
	return 0;
}

int ss_store_backup_finish(struct ss_store *s, uint64_t *rev, struct ss_error *err)
{
	uint64_t n, w;

	if (ss_logfile_writable(&s->log, err) < 0 || open_tmp(s, err) < 0)
		goto failed;
	/* What was logged since the last round, then the store's revision:
	 * the backup is the state as of it, which the tail's last group
	 * reached (between commits, everything logged is applied). */
	uint64_t end = tail_end(s);
	n = end - s->tail_from;
	if (n > 0 && copy_tail(s->io, s->log.fd, s->tail_from, end, s->tmp_fd, s->tmp_len,
			       s->bk->prefix, s->bk->plen, &w) < 0) {
		copy_failed(s, n, errno, err);
		goto failed;
	}
	s->tmp_len += n > 0 ? w : 0;
	*rev = ss_table_revision(s->table);
	if (ss_backup_write_revision(s->io, s->tmp_fd, s->tmp_len, *rev, &w) < 0 ||
	    ss_io_fdatasync(s->io, s->tmp_fd) < 0) {
		ss_error_set(err, SS_ERR_IO, errno, "cannot write the backup %s: %s", s->bk->log,
			     strerror(errno));
		goto failed;
	}
	s->tmp_len += w;
	int fd = s->tmp_fd;
	s->tmp_fd = -1;
	if (s->io->close(s->io->ctx, fd) < 0) {
		ss_error_set(err, SS_ERR_IO, errno, "cannot close the backup %s: %s", s->bk->log,
			     strerror(errno));
		goto failed;
	}
	if (ss_backup_publish(s->io, s->bk, err) < 0)
		goto failed;
	ss_backup_free(s->bk);
	s->bk = NULL;
	return 0;
failed:
	ss_store_compact_abort(s);
	return -1;
}

int ss_store_restore(const struct ss_io *io, const char *log, uint64_t len, const char *dir,
		     struct ss_error *err)
{
	struct ss_backup *b;
	int src = -1, dst = -1, ret = -1;

	if (ss_backup_prepare(io, dir, NULL, NULL, 0, &b, err) < 0)
		return -1;
	src = open(log, O_RDONLY | O_CLOEXEC);
	if (src < 0) {
		ss_error_set(err, SS_ERR_IO, errno, "cannot read %s: %s", log, strerror(errno));
		goto out;
	}
	dst = ss_io_open(io, b->log, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (dst < 0 || ss_logfile_copy(io, src, 0, len, dst, 0) < 0 ||
	    ss_io_fdatasync(io, dst) < 0) {
		ss_error_set(err, SS_ERR_IO, errno, "cannot write %s: %s", b->log, strerror(errno));
		goto out;
	}
	int fd = dst;
	dst = -1;
	if (io->close(io->ctx, fd) < 0) {
		ss_error_set(err, SS_ERR_IO, errno, "cannot close %s: %s", b->log, strerror(errno));
		goto out;
	}
	if (ss_backup_publish(io, b, err) < 0)
		goto out;
	ret = 0;
out:
	if (src >= 0)
		close(src);
	if (dst >= 0)
		io->close(io->ctx, dst);
	if (ret < 0)
		ss_backup_discard(io, b);
	else
		ss_backup_free(b);
	return ret;
}

int ss_store_compact_finish(struct ss_store *s, struct ss_error *err)
{
	uint64_t n;
	int r;

	if (ss_logfile_writable(&s->log, err) < 0 || open_tmp(s, err) < 0) {
		ss_store_compact_abort(s);
		return -1;
	}
	/* What was logged since the last round, on this thread: a little. */
	n = s->log.end - s->tail_from;
	if (n > 0) {
		if (ss_logfile_copy(s->io, s->log.fd, s->tail_from, s->log.end, s->tmp_fd,
				    s->tmp_len) < 0) {
			copy_failed(s, n, errno, err);
			ss_store_compact_abort(s);
			return -1;
		}
		s->tmp_len += n;
	}
	/* The snapshot and every round were fdatasync'd: only this
	 * copy, if any, is unsynced. */
	r = ss_logfile_replace(&s->log, s->tmp_path, s->tmp_fd, s->tmp_len, n > 0, err);
	s->tmp_fd = -1; /* the log's now, or closed */
	if (r != -1) /* -2: the new file is the log, though poisoned */
		s->compacted_bytes = s->log.end;
	return r < 0 ? -1 : 0;
}

int ss_store_take_retired_fd(struct ss_store *s)
{
	return ss_logfile_take_retired(&s->log);
}

enum ss_store_state ss_store_state(const struct ss_store *s)
{
	if (s->log.broken)
		return SS_STORE_BROKEN;
	return s->log.poisoned ? SS_STORE_POISONED : SS_STORE_OK;
}

void ss_store_compact_abort(struct ss_store *s)
{
	if (s->tmp_fd >= 0)
		s->io->close(s->io->ctx, s->tmp_fd);
	s->tmp_fd = -1;
	if (s->bk) {
		ss_backup_discard(s->io, s->bk);
		s->bk = NULL;
		return;
	}
	(void)ss_io_unlink(s->io, s->tmp_path);
}

int ss_store_compact(struct ss_store *s, int64_t now_ms, struct ss_error *err)
{
	const char *tmp;

	if (ss_store_compact_begin(s, 0, &tmp, err) < 0)
		return -1;
	if (ss_snapshot_write(s->table, now_ms, tmp, s->io, err) < 0)
		return -1;
	int r = ss_store_compact_finish(s, err);
	int old = ss_store_take_retired_fd(s);
	if (old >= 0)
		s->io->close(s->io->ctx, old);
	return r;
}

int ss_store_log_fd(const struct ss_store *s)
{
	return s->log.fd;
}

/* Checks the full-sync file at path as a start would replay it: 0, or -1
 * with *err (SS_ERR_CORRUPT for a torn file, which a start would cut). */
static int check_sync_file(const char *path, unsigned history, int64_t now_ms,
			   struct ss_error *err)
{
	struct ss_check_report crep;
	struct ss_table *t = NULL;

	if (ss_store_check(path, history, now_ms, NULL, NULL, NULL, NULL, &t, &crep, err) < 0)
		return -1;
	ss_table_free(t);
	if (crep.cut || crep.new_header) {
		ss_error_set(err, SS_ERR_CORRUPT, 0,
			     "the full-sync log %s is incomplete: %s at byte offset %llu (%llu bytes "
			     "torn)",
			     path, crep.new_header ? "its header is torn" : "it ends inside a group",
			     (unsigned long long)crep.end, (unsigned long long)crep.torn_bytes);
		return -1;
	}
	return 0;
}

int ss_store_install(struct ss_store **sp, const struct ss_store_options *opt, int64_t now_ms,
		     struct ss_open_report *rep, struct ss_error *err)
{
	struct ss_store *s = *sp;
	const struct ss_io *io = s->io;

	if (check_sync_file(s->sync_path, opt->history, now_ms, err) < 0)
		goto refused;
	if (ss_io_rename(io, s->sync_path, s->log_path) < 0) {
		ss_error_set(err, SS_ERR_IO, errno, "cannot rename %s to %s: %s", s->sync_path,
			     s->log_path, strerror(errno));
		goto refused;
	}
	/* The new log is the log from here on; the old store's descriptor
	 * points at the replaced file. Until the directory is fsync'd a crash
	 * may bring the old log back - whole, as the new one is. */
	if (ss_io_fsync_dir(io, s->dir) < 0) {
		ss_error_set(err, SS_ERR_IO, errno,
			     "cannot fsync the directory %s after renaming the full-sync log over "
			     "%s: %s",
			     s->dir, s->log_path, strerror(errno));
		ss_store_close(s);
		*sp = NULL;
		return -1;
	}
	ss_store_close(s);
	*sp = NULL;
	return ss_store_open(sp, opt, now_ms, rep, err);
refused:
	(void)ss_io_unlink(io, s->sync_path);
	return -1;
}

uint64_t ss_store_log_bytes(const struct ss_store *s)
{
	return s->log.end;
}

uint64_t ss_store_log_bytes_compacted(const struct ss_store *s)
{
	return s->compacted_bytes;
}

int ss_store_check(const char *path, unsigned history, int64_t now_ms, ss_store_check_fn observe,
		   void *arg, ss_store_progress_fn progress, void *progress_arg,
		   struct ss_table **table, struct ss_check_report *rep, struct ss_error *err)
{
	/* A store that is never opened: replay's path to the table (replay_apply,
	 * apply_record) needs only a table and the scratch space. */
	struct ss_store s = {.io = &ss_io_posix, .lock_fd = -1, .tmp_fd = -1};
	struct replay_ctx ctx = {.s = &s,
				 .now_ms = now_ms,
				 .observe = observe,
				 .observe_arg = arg,
				 .progress = progress,
				 .progress_arg = progress_arg};
	struct ss_logfile_report lrep;
	int ret = -1;

	*table = NULL;
	memset(rep, 0, sizeof(*rep));
	s.table = ss_table_new(history);
	s.scratch = malloc(SS_NAME_MAX + SS_VALUE_MAX);
	if (!s.table || !s.scratch) {
		ss_error_set(err, SS_ERR_NOMEM, ENOMEM, "out of memory checking %s", path);
		goto out;
	}
	ss_logfile_init(&s.log, path, NULL, s.io, 0);
	ret = ss_logfile_inspect(&s.log, replay_apply, replay_prefetch, &ctx, &lrep, err);
	rep->records = lrep.records;
	rep->groups = lrep.groups;
	rep->torn_bytes = lrep.torn_bytes;
	rep->file_bytes = lrep.file_bytes;
	rep->end = s.log.end;
	rep->version = s.log.version;
	rep->cut = lrep.fix == SS_LOGFILE_FIX_CUT;
	rep->new_header = lrep.fix == SS_LOGFILE_FIX_HEADER;
	if (ret < 0)
		goto out;
	expire_replayed(&ctx);
	rep->expired = ctx.expired;
	*table = s.table;
	s.table = NULL;
out:
	ss_table_free(s.table);
	free(s.scratch);
	return ret;
}
