/*
 * sstest.c - helpers shared by the unit tests (see sstest.h).
 *
 * The fault-injecting io counts every call per operation and fails exactly
 * the armed one, so a test can say "the second fdatasync fails with EIO" and
 * check what the engine did about it, with no sleeps and no timing.
 */
#include "sstest.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "statestored/batch.h"
#include "statestored/table.h"

size_t sstest_replay_thread_min;

char *sstest_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *p;

	if (!base || !*base)
		base = "/tmp";
	if (asprintf(&p, "%s/sstest.XXXXXX", base) < 0)
		fail_msg("out of memory");
	if (!mkdtemp(p))
		fail_msg("mkdtemp %s: %s", p, strerror(errno));
	return p;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

void sstest_rmdir(const char *path)
{
	if (path)
		(void)nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *sstest_path(const char *dir, const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", dir, name) < 0)
		fail_msg("out of memory");
	return p;
}

void sstest_write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		fail_msg("open %s: %s", path, strerror(errno));
	if (len > 0 && write(fd, buf, len) != (ssize_t)len)
		fail_msg("write %s: %s", path, strerror(errno));
	close(fd);
}

char *sstest_read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf;
	size_t got = 0;

	if (fd < 0) {
		if (errno != ENOENT)
			fail_msg("open %s: %s", path, strerror(errno));
		*len = 0;
		return NULL;
	}
	if (fstat(fd, &st) < 0)
		fail_msg("fstat %s: %s", path, strerror(errno));
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		fail_msg("out of memory");
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);

		if (r <= 0)
			fail_msg("read %s: %s", path, r < 0 ? strerror(errno) : "short file");
		got += (size_t)r;
	}
	close(fd);
	buf[got] = '\0';
	*len = got;
	return buf;
}

long long sstest_file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) < 0 ? -1 : (long long)st.st_size;
}

void sstest_truncate(const char *path, long long len)
{
	if (truncate(path, (off_t)len) < 0)
		fail_msg("truncate %s: %s", path, strerror(errno));
}

#define SSTEST_CALLS_MAX 1000000

/* Counts the call; returns the fault to inject into it, or NULL. */
static const struct sstest_fault *fault_hit(struct sstest_fault_io *f, enum sstest_op op)
{
	unsigned long n = ++f->calls[op];

	/* Fail fast rather than hang when a retry loop never ends. */
	if (n > SSTEST_CALLS_MAX)
		fail_msg("one io op called over %d times: a retry loop that never ends?",
			 SSTEST_CALLS_MAX);
	for (int i = 0; i < SSTEST_FAULTS_MAX; i++) {
		struct sstest_fault *x = &f->faults[i];

		if (!x->armed || x->op != op || n < x->at || (n > x->at && !x->persistent))
			continue;
		f->injected++;
		if (!x->persistent)
			x->armed = 0; /* its fields stay valid for the caller */
		return x;
	}
	return NULL;
}

#define FAULT(op)                                                    \
	do {                                                         \
		const struct sstest_fault *hit_ = fault_hit(f, (op)); \
		if (hit_) {                                          \
			errno = hit_->err;                           \
			return -1;                                   \
		}                                                    \
	} while (0)

static int fault_open(void *ctx, const char *path, int flags, mode_t mode)
{
	struct sstest_fault_io *f = ctx;

	FAULT(SSTEST_OP_OPEN);
	return ss_io_posix.open(NULL, path, flags, mode);
}

static int fault_close(void *ctx, int fd)
{
	struct sstest_fault_io *f = ctx;

	const struct sstest_fault *hit = fault_hit(f, SSTEST_OP_CLOSE);

	if (hit) {
		ss_io_posix.close(NULL, fd); /* never leak the fd */
		errno = hit->err;
		return -1;
	}
	return ss_io_posix.close(NULL, fd);
}

static ssize_t fault_pwrite(void *ctx, int fd, const void *buf, size_t n, off_t off)
{
	struct sstest_fault_io *f = ctx;

	const struct sstest_fault *hit = fault_hit(f, SSTEST_OP_PWRITE);

	if (hit) {
		if (hit->err == SSTEST_SHORT_WRITE)
			return ss_io_posix.pwrite(NULL, fd, buf, n / 2, off);
		errno = hit->err;
		return -1;
	}
	return ss_io_posix.pwrite(NULL, fd, buf, n, off);
}

static int fault_fdatasync(void *ctx, int fd)
{
	struct sstest_fault_io *f = ctx;

	FAULT(SSTEST_OP_FDATASYNC);
	return ss_io_posix.fdatasync(NULL, fd);
}

static int fault_fsync(void *ctx, int fd)
{
	struct sstest_fault_io *f = ctx;

	FAULT(SSTEST_OP_FSYNC);
	return ss_io_posix.fsync(NULL, fd);
}

static int fault_ftruncate(void *ctx, int fd, off_t len)
{
	struct sstest_fault_io *f = ctx;

	FAULT(SSTEST_OP_FTRUNCATE);
	return ss_io_posix.ftruncate(NULL, fd, len);
}

static int fault_rename(void *ctx, const char *from, const char *to)
{
	struct sstest_fault_io *f = ctx;

	FAULT(SSTEST_OP_RENAME);
	return ss_io_posix.rename(NULL, from, to);
}

static int fault_unlink(void *ctx, const char *path)
{
	struct sstest_fault_io *f = ctx;

	FAULT(SSTEST_OP_UNLINK);
	return ss_io_posix.unlink(NULL, path);
}

void sstest_fault_io_init(struct sstest_fault_io *f)
{
	memset(f, 0, sizeof(*f));
	f->io.ctx = f;
	f->io.open = fault_open;
	f->io.close = fault_close;
	f->io.pwrite = fault_pwrite;
	f->io.fdatasync = fault_fdatasync;
	f->io.fsync = fault_fsync;
	f->io.ftruncate = fault_ftruncate;
	f->io.rename = fault_rename;
	f->io.unlink = fault_unlink;
}

void sstest_fault_io_arm(struct sstest_fault_io *f, enum sstest_op op, unsigned long nth, int err,
			 int persistent)
{
	struct sstest_fault *slot = NULL;

	assert_true(nth >= 1);
	assert_true(err != SSTEST_SHORT_WRITE || op == SSTEST_OP_PWRITE);
	for (int i = 0; !slot && i < SSTEST_FAULTS_MAX; i++) {
		if (!f->faults[i].armed)
			slot = &f->faults[i];
	}
	if (!slot)
		fail_msg("sstest_fault_io_arm: more than %d faults armed", SSTEST_FAULTS_MAX);
	slot->armed = 1;
	slot->op = op;
	slot->at = f->calls[op] + nth;
	slot->err = err;
	slot->persistent = persistent;
}

void sstest_fault_io_disarm(struct sstest_fault_io *f)
{
	memset(f->faults, 0, sizeof(f->faults));
}

struct ss_store *sstest_open(const char *dir, const struct ss_io *io, size_t prealloc,
			     int64_t now_ms, struct ss_open_report *rep)
{
	return sstest_open_history(dir, io, prealloc, 0, now_ms, rep);
}

struct ss_store *sstest_open_history(const char *dir, const struct ss_io *io, size_t prealloc,
				     unsigned history, int64_t now_ms, struct ss_open_report *rep)
{
	struct ss_store_options opt = {.dir = dir,
				       .io = io,
				       .prealloc_bytes = prealloc,
				       .history = history,
				       .replay_thread_min = sstest_replay_thread_min};
	struct ss_error err = {0};
	struct ss_store *s = NULL;

	if (ss_store_open(&s, &opt, now_ms, rep, &err) < 0)
		fail_msg("ss_store_open %s: %s", dir, err.msg);
	return s;
}

int sstest_commit(struct ss_store *s, struct ss_batch *b, int64_t now_ms, struct ss_error *err)
{
	struct ss_error local;

	if (!err)
		err = &local;
	if (ss_store_write(s, b, err) < 0 || ss_store_sync(s, err) < 0)
		return -1;
	if (ss_store_apply(s, b, now_ms) < 0)
		fail_msg("ss_store_apply: %s", strerror(errno));
	return 0;
}

/* The revision and commit time a one-record commit takes: the one after
 * the store's, at now_ms (the engine takes both from its caller). */
static void stamp(struct ss_store *s, struct ss_record *r, int64_t now_ms)
{
	r->rev = ss_table_revision(ss_store_table(s)) + 1;
	r->commit_ms = now_ms > 0 ? now_ms : 0;
}

static int commit(struct ss_store *s, struct ss_record *r, int64_t now_ms, struct ss_error *err)
{
	struct ss_batch b;
	int ret;

	stamp(s, r, now_ms);
	ss_batch_init(&b);
	if (ss_batch_add(&b, r, NULL) < 0)
		fail_msg("ss_batch_add: %s", strerror(errno));
	ret = sstest_commit(s, &b, now_ms, err);
	ss_batch_free(&b);
	return ret;
}

/* A SET record of name and value (NUL-terminated, not copied). */
static struct ss_record set_record(const char *name, const char *value, int64_t expire_ms)
{
	struct ss_record r = {.type = SS_REC_SET,
			      .name = name,
			      .nlen = strlen(name),
			      .value = value,
			      .vlen = strlen(value),
			      .expire_ms = expire_ms};

	return r;
}

int sstest_set(struct ss_store *s, const char *name, const char *value, int64_t expire_ms,
	       int64_t now_ms, struct ss_error *err)
{
	struct ss_record r = set_record(name, value, expire_ms);

	return commit(s, &r, now_ms, err);
}

int sstest_del(struct ss_store *s, const char *name, int64_t now_ms, struct ss_error *err)
{
	struct ss_record r = {.type = SS_REC_DEL, .name = name, .nlen = strlen(name)};

	return commit(s, &r, now_ms, err);
}

int sstest_set_bytes(struct ss_store *s, const void *name, size_t nlen, const void *value,
		     size_t vlen, int64_t expire_ms, int64_t now_ms, struct ss_error *err)
{
	struct ss_record r = {.type = SS_REC_SET,
			      .name = name,
			      .nlen = nlen,
			      .value = value,
			      .vlen = vlen,
			      .expire_ms = expire_ms};

	return commit(s, &r, now_ms, err);
}

int sstest_epoch(struct ss_store *s, uint64_t epoch, uint64_t rev, int64_t now_ms,
		 struct ss_error *err)
{
	struct ss_record r = {.type = SS_REC_EPOCH, .epoch = epoch, .rev = rev};
	struct ss_batch b;
	int ret;

	ss_batch_init(&b);
	if (ss_batch_add(&b, &r, NULL) < 0)
		fail_msg("ss_batch_add EPOCH: %s", strerror(errno));
	ret = sstest_commit(s, &b, now_ms, err);
	ss_batch_free(&b);
	return ret;
}

int sstest_multi_set(struct ss_store *s, const char *const *names, const char *const *values,
		     size_t n, int64_t now_ms, struct ss_error *err)
{
	struct ss_record *rs = calloc(n, sizeof(*rs));
	struct ss_batch b;
	int ret;

	if (!rs)
		fail_msg("out of memory");
	for (size_t i = 0; i < n; i++) {
		rs[i] = (struct ss_record){.type = SS_REC_SET,
					   .name = names[i],
					   .nlen = strlen(names[i]),
					   .value = values[i],
					   .vlen = strlen(values[i])};
		stamp(s, &rs[i], now_ms);
	}
	ss_batch_init(&b);
	if (ss_batch_add_group(&b, rs, n, NULL) < 0)
		fail_msg("ss_batch_add_group: %s", strerror(errno));
	ret = sstest_commit(s, &b, now_ms, err);
	ss_batch_free(&b);
	free(rs);
	return ret;
}

char *sstest_get(struct ss_store *s, const char *name, int64_t now_ms)
{
	struct ss_entry e;

	if (!ss_table_get(ss_store_table(s), name, strlen(name), now_ms, &e))
		return NULL;
	return strndup(e.value, e.vlen);
}

void sstest_assert_value_at(struct ss_store *s, const char *name, const char *value,
			    int64_t now_ms, const char *file, int line)
{
	char *got = sstest_get(s, name, now_ms);

	if (!value && got)
		fail_msg("%s:%d: %s should be absent, has %.60s", file, line, name, got);
	if (value && !got)
		fail_msg("%s:%d: %s should be %.60s, is absent", file, line, name, value);
	if (value && strcmp(got, value) != 0)
		fail_msg("%s:%d: %s should be %.60s, is %.60s", file, line, name, value, got);
	free(got);
}

/* Appends p[0..n) to *out (a malloc'd string) with every byte that is not
 * printable, a space or a backslash written \xhh, so any bytes compare
 * and print as text. */
static void append_escaped(char **out, size_t *len, const char *p, size_t n)
{
	char *q = realloc(*out, *len + 4 * n + 1);

	if (!q)
		fail_msg("out of memory");
	*out = q;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c > 0x20 && c < 0x7f && c != '\\')
			q[(*len)++] = (char)c;
		else
			*len += (size_t)sprintf(q + *len, "\\x%02x", c);
	}
	q[*len] = '\0';
}

static void append_text(char **out, size_t *len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void append_text(char **out, size_t *len, const char *fmt, ...)
{
	va_list ap;
	char *tmp, *q;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&tmp, fmt, ap);
	va_end(ap);
	if (n < 0)
		fail_msg("out of memory");
	q = realloc(*out, *len + (size_t)n + 1);
	if (!q)
		fail_msg("out of memory");
	*out = q;
	memcpy(q + *len, tmp, (size_t)n + 1);
	*len += (size_t)n;
	free(tmp);
}

static int cmp_lines(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char *sstest_dump(struct ss_table *t, int64_t now_ms)
{
	size_t n = 0, cursor = 0, total = 1;
	char **lines = calloc(ss_table_count(t) + 1, sizeof(*lines));
	struct ss_entry e;
	char *out, *p;

	if (!lines)
		fail_msg("out of memory");
	while (ss_table_next(t, &cursor, &e)) {
		if (e.expire_ms != 0 && e.expire_ms <= now_ms)
			continue;
		if (asprintf(&lines[n], "%.*s %.*s %lld\n", (int)e.nlen, e.name, (int)e.vlen,
			     e.value, (long long)e.expire_ms) < 0)
			fail_msg("out of memory");
		total += strlen(lines[n++]);
	}
	qsort(lines, n, sizeof(*lines), cmp_lines);
	out = p = malloc(total);
	if (!out)
		fail_msg("out of memory");
	for (size_t i = 0; i < n; i++) {
		p = stpcpy(p, lines[i]);
		free(lines[i]);
	}
	*p = '\0';
	free(lines);
	return out;
}

char *sstest_dump_full(struct ss_table *t, int64_t now_ms)
{
	size_t n = 0, cursor = 0, total = 1, max = ss_table_history_depth(t) + 1;
	char **lines = calloc(ss_table_count(t) + 1, sizeof(*lines));
	struct ss_version *v = calloc(max, sizeof(*v));
	struct ss_entry e;
	char *out = NULL, *p;
	size_t olen = 0;

	if (!lines || !v)
		fail_msg("out of memory");
	while (ss_table_next(t, &cursor, &e)) {
		size_t len = 0, nv;
		char *line = NULL;

		if (e.expire_ms != 0 && e.expire_ms <= now_ms)
			continue;
		append_escaped(&line, &len, e.name, e.nlen);
		append_text(&line, &len, " expire %lld:", (long long)e.expire_ms);
		nv = ss_table_history(t, e.name, e.nlen, now_ms, v, max);
		assert_true(nv >= 1);
		assert_int_equal(v[0].rev, e.rev);
		assert_int_equal(v[0].commit_ms, e.commit_ms);
		assert_int_equal(v[0].vlen, e.vlen);
		for (size_t i = 0; i < nv; i++) {
			append_text(&line, &len, " %llu@%lld=", (unsigned long long)v[i].rev,
				    (long long)v[i].commit_ms);
			append_escaped(&line, &len, v[i].value, v[i].vlen);
		}
		append_text(&line, &len, "\n");
		lines[n++] = line;
		total += len;
	}
	qsort(lines, n, sizeof(*lines), cmp_lines);
	append_text(&out, &olen, "revision %llu\n", (unsigned long long)ss_table_revision(t));
	const struct ss_epoch *ep;
	size_t nep = ss_table_epochs(t, &ep);
	if (nep > 0) {
		append_text(&out, &olen, "epochs");
		for (size_t i = 0; i < nep; i++)
			append_text(&out, &olen, " %llu@%llu", (unsigned long long)ep[i].epoch,
				    (unsigned long long)ep[i].rev);
		append_text(&out, &olen, "\n");
	}
	out = realloc(out, olen + total);
	if (!out)
		fail_msg("out of memory");
	p = out + olen;
	for (size_t i = 0; i < n; i++) {
		p = stpcpy(p, lines[i]);
		free(lines[i]);
	}
	*p = '\0';
	free(lines);
	free(v);
	return out;
}

void sstest_walk_begin(struct sstest_walk *w, struct ss_store *s, size_t unapplied,
		       int64_t now_ms, const struct ss_io *io)
{
	struct ss_error err = {0};
	const char *tmp;

	memset(w, 0, sizeof(*w));
	w->io = io ? io : &ss_io_posix;
	if (ss_store_compact_begin(s, unapplied, &tmp, &err) < 0)
		fail_msg("ss_store_compact_begin: %s", err.msg);
	w->fd = ss_io_open(w->io, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (w->fd < 0)
		fail_msg("cannot create %s: %s", tmp, strerror(errno));
	if (ss_snapshot_init(&w->snap, ss_store_table(s), now_ms, 0, &err) < 0)
		fail_msg("ss_snapshot_init: %s", err.msg);
}

/* Writes what the walk has produced since the last call. */
static void walk_write(struct sstest_walk *w)
{
	w->out.len = 0;
	ss_snapshot_take(&w->snap, &w->out);
	if (w->out.len == 0)
		return;
	if (ss_io_pwrite_all(w->io, w->fd, w->out.p, w->out.len, (off_t)w->len) < 0)
		fail_msg("writing the snapshot: %s", strerror(errno));
	w->len += w->out.len;
}

int sstest_walk_step(struct sstest_walk *w, size_t buckets)
{
	struct ss_error err = {0};
	int more;

	w->steps_resizing += (unsigned)ss_table_resizing(w->snap.t);
	w->steps++;
	more = ss_snapshot_step(&w->snap, buckets, &err);
	if (more < 0)
		fail_msg("ss_snapshot_step: %s", err.msg);
	walk_write(w);
	return more;
}

uint64_t sstest_walk_end(struct sstest_walk *w)
{
	uint64_t len;

	while (sstest_walk_step(w, 64))
		;
	if (ss_io_fdatasync(w->io, w->fd) < 0 || w->io->close(w->io->ctx, w->fd) < 0)
		fail_msg("syncing the snapshot: %s", strerror(errno));
	len = w->len;
	ss_snapshot_free(&w->snap);
	ss_snapshot_out_free(&w->out);
	memset(w, 0, sizeof(*w));
	return len;
}

void sstest_log_raw(struct sstest_log *l, const void *p, size_t n)
{
	while (l->cap - l->len < n) {
		l->cap = l->cap ? l->cap * 2 : 4096;
		l->buf = realloc(l->buf, l->cap);
		if (!l->buf)
			fail_msg("out of memory");
	}
	memcpy(l->buf + l->len, p, n);
	l->len += n;
}

void sstest_log_init(struct sstest_log *l)
{
	memset(l, 0, sizeof(*l));
	sstest_log_raw(l, SS_LOG_HEADER, strlen(SS_LOG_HEADER));
}

void sstest_log_free(struct sstest_log *l)
{
	free(l->buf);
	l->buf = NULL;
}

static void log_line(struct sstest_log *l, const struct ss_record *r)
{
	char *tmp = malloc(SS_RECORD_MAX);

	if (!tmp || l->nrec == SSTEST_LOG_RECORDS_MAX)
		fail_msg("sstest_log: out of room");
	assert_null(ss_record_check(r));
	l->off[l->nrec++] = l->len;
	sstest_log_raw(l, tmp, ss_record_encode(r, tmp));
	l->off[l->nrec] = l->len;
	free(tmp);
}

void sstest_log_group(struct sstest_log *l, uint32_t count)
{
	struct ss_record r = {.type = SS_REC_GROUP, .count = count};

	log_line(l, &r);
	l->open = count;
}

/* A SET or DEL: in the open group, or as a group of its own. */
static void log_record(struct sstest_log *l, const struct ss_record *r)
{
	if (l->open == 0)
		sstest_log_group(l, 1);
	log_line(l, r);
	l->open--;
}

/* The next revision of the log: one more than any it holds, at the
 * default commit time. */
static void log_stamp(struct sstest_log *l, struct ss_record *r)
{
	r->rev = ++l->rev;
	r->commit_ms = SSTEST_LOG_COMMIT_MS(r->rev);
}

void sstest_log_set(struct sstest_log *l, const char *name, const char *value, int64_t expire_ms)
{
	struct ss_record r = set_record(name, value, expire_ms);

	log_stamp(l, &r);
	log_record(l, &r);
}

void sstest_log_bare_set(struct sstest_log *l, const char *name, const char *value,
			 int64_t expire_ms)
{
	struct ss_record r = set_record(name, value, expire_ms);

	log_stamp(l, &r);
	log_line(l, &r);
}

void sstest_log_del(struct sstest_log *l, const char *name)
{
	struct ss_record r = {.type = SS_REC_DEL, .name = name, .nlen = strlen(name)};

	log_stamp(l, &r);
	log_record(l, &r);
}

static void log_took(struct sstest_log *l, uint64_t rev)
{
	if (rev > l->rev)
		l->rev = rev;
}

void sstest_log_set_at(struct sstest_log *l, const void *name, size_t nlen, const void *value,
		       size_t vlen, int64_t expire_ms, uint64_t rev, int64_t commit_ms)
{
	struct ss_record r = {.type = SS_REC_SET,
			      .name = name,
			      .nlen = nlen,
			      .value = value,
			      .vlen = vlen,
			      .expire_ms = expire_ms,
			      .rev = rev,
			      .commit_ms = commit_ms};

	log_took(l, rev);
	log_record(l, &r);
}

void sstest_log_del_at(struct sstest_log *l, const void *name, size_t nlen, uint64_t rev,
		       int64_t commit_ms)
{
	struct ss_record r = {.type = SS_REC_DEL,
			      .name = name,
			      .nlen = nlen,
			      .rev = rev,
			      .commit_ms = commit_ms};

	log_took(l, rev);
	log_record(l, &r);
}

void sstest_log_revision(struct sstest_log *l, uint64_t rev)
{
	struct ss_record r = {.type = SS_REC_REV, .rev = rev};

	log_took(l, rev);
	log_record(l, &r);
}

void sstest_log_epoch(struct sstest_log *l, uint64_t epoch, uint64_t rev)
{
	struct ss_record r = {.type = SS_REC_EPOCH, .epoch = epoch, .rev = rev};

	log_record(l, &r);
}

void sstest_log_write(const struct sstest_log *l, const char *path, size_t len)
{
	assert_true(len <= l->len);
	sstest_write_file(path, l->buf, len);
}

int sstest_setup(void **state)
{
	struct sstest_fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	fx->dir = sstest_tmpdir();
	fx->log = sstest_path(fx->dir, SS_LOG_FILE);
	fx->tmp = sstest_path(fx->dir, SS_LOG_TMP_FILE);
	sstest_fault_io_init(&fx->f);
	sstest_log_init(&fx->l);
	*state = fx;
	return 0;
}

int sstest_teardown(void **state)
{
	struct sstest_fixture *fx = *state;

	sstest_rmdir(fx->dir);
	sstest_log_free(&fx->l);
	free(fx->log);
	free(fx->tmp);
	free(fx->dir);
	free(fx);
	return 0;
}

struct ss_store *sstest_reset(struct sstest_fixture *fx, size_t prealloc, int64_t now_ms)
{
	sstest_rmdir(fx->dir);
	sstest_fault_io_init(&fx->f);
	return sstest_open(fx->dir, &fx->f.io, prealloc, now_ms, NULL);
}

void sstest_assert_state(struct ss_store *s, const char *want, int64_t now_ms)
{
	char *dump = sstest_dump(ss_store_table(s), now_ms);

	assert_string_equal(dump, want);
	free(dump);
}

void sstest_assert_file_equals(const char *path, const void *want, size_t wlen)
{
	size_t len;
	char *got = sstest_read_file(path, &len);

	assert_non_null(got);
	assert_int_equal(len, wlen);
	assert_memory_equal(got, want, wlen);
	free(got);
}
