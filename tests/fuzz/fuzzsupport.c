/*
 * fuzzsupport.c - helpers shared by the fuzz targets; see fuzzsupport.h.
 */
#include "fuzzsupport.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "statestored/limits.h"
#include "statestored/record.h"

void fz_fail_at(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "\n==fuzz oracle failure at %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n", stderr);
	fflush(stderr);
	abort();
}

void *fz_alloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		fz_fail("out of memory (%zu bytes)", n);
	return p;
}

void *fz_realloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q)
		fz_fail("out of memory (%zu bytes)", n);
	return q;
}

/* ---- scratch directory ---- */

static char scratch[256];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	(void)remove(path);
	return 0;
}

void fz_remove_tree(const char *path)
{
	(void)nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void remove_scratch(void)
{
	if (scratch[0])
		fz_remove_tree(scratch);
}

const char *fz_scratch_dir(void)
{
	const char *base = getenv("TMPDIR");

	if (scratch[0])
		return scratch;
	if (access("/dev/shm", W_OK) == 0)
		base = "/dev/shm";
	else if (!base || !*base)
		base = "/tmp";
	snprintf(scratch, sizeof(scratch), "%s/ssfuzz.XXXXXX", base);
	if (!mkdtemp(scratch))
		fz_fail("mkdtemp %s: %s", scratch, strerror(errno));
	atexit(remove_scratch);
	return scratch;
}

const char *fz_path(int slot, const char *name)
{
	static char paths[4][320];

	snprintf(paths[slot & 3], sizeof(paths[0]), "%s/%s", fz_scratch_dir(), name);
	return paths[slot & 3];
}

void fz_write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	const char *p = buf;

	if (fd < 0)
		fz_fail("open %s: %s", path, strerror(errno));
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n <= 0)
			fz_fail("write %s: %s", path, strerror(errno));
		p += n;
		len -= (size_t)n;
	}
	close(fd);
}

char *fz_read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf;
	size_t got = 0;

	*len = 0;
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0)
		fz_fail("fstat %s: %s", path, strerror(errno));
	buf = fz_alloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n <= 0)
			fz_fail("read %s: %s", path, strerror(errno));
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	*len = got;
	return buf;
}

/* ---- reference map ---- */

static int cmp_name(const char *a, size_t an, const char *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);

	if (c)
		return c;
	return an < bn ? -1 : an > bn;
}

/* Index of name, or of where it would go; *found set. */
static size_t map_pos(const struct fz_map *m, const char *name, size_t nlen, int *found)
{
	size_t lo = 0, hi = m->n;

	*found = 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = cmp_name(m->kv[mid].name, m->kv[mid].nlen, name, nlen);
		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static char *dup_bytes(const char *p, size_t n)
{
	char *d = fz_alloc(n + 1);

	memcpy(d, p, n);
	d[n] = '\0';
	return d;
}

void fz_map_free(struct fz_map *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->kv[i].name);
		free(m->kv[i].value);
	}
	free(m->kv);
	memset(m, 0, sizeof(*m));
}

struct fz_kv *fz_map_find(const struct fz_map *m, const char *name, size_t nlen)
{
	int found;
	size_t i = map_pos(m, name, nlen, &found);

	return found ? &m->kv[i] : NULL;
}

void fz_map_set(struct fz_map *m, const char *name, size_t nlen, const char *value, size_t vlen,
		int64_t expire_ms)
{
	fz_map_set_rev(m, name, nlen, value, vlen, expire_ms, 0, 0);
}

void fz_map_set_rev(struct fz_map *m, const char *name, size_t nlen, const char *value,
		    size_t vlen, int64_t expire_ms, uint64_t rev, int64_t commit_ms)
{
	int found;
	size_t i = map_pos(m, name, nlen, &found);

	if (found) {
		free(m->kv[i].value);
	} else {
		if (m->n == m->cap) {
			m->cap = m->cap ? m->cap * 2 : 16;
			m->kv = fz_realloc(m->kv, m->cap * sizeof(*m->kv));
		}
		memmove(&m->kv[i + 1], &m->kv[i], (m->n - i) * sizeof(*m->kv));
		m->n++;
		m->kv[i].name = dup_bytes(name, nlen);
		m->kv[i].nlen = nlen;
	}
	m->kv[i].value = dup_bytes(value, vlen);
	m->kv[i].vlen = vlen;
	m->kv[i].expire_ms = expire_ms;
	m->kv[i].rev = rev;
	m->kv[i].commit_ms = commit_ms;
}

int fz_map_del(struct fz_map *m, const char *name, size_t nlen, int64_t now_ms)
{
	int found, live;
	size_t i = map_pos(m, name, nlen, &found);

	if (!found)
		return 0;
	live = fz_live(m->kv[i].expire_ms, now_ms);
	free(m->kv[i].name);
	free(m->kv[i].value);
	memmove(&m->kv[i], &m->kv[i + 1], (m->n - i - 1) * sizeof(*m->kv));
	m->n--;
	return live;
}

void fz_map_from_table(struct fz_map *m, const struct ss_table *t, int64_t now_ms)
{
	size_t cursor = 0, count = 0;
	struct ss_entry e;

	while (ss_table_next(t, &cursor, &e)) {
		count++;
		if (!fz_live(e.expire_ms, now_ms))
			continue;
		if (fz_map_find(m, e.name, e.nlen))
			fz_fail("the table returned '%.*s' twice from ss_table_next", (int)e.nlen,
				e.name);
		fz_map_set_rev(m, e.name, e.nlen, e.value, e.vlen, e.expire_ms, e.rev,
			       e.commit_ms);
	}
	if (count != ss_table_count(t))
		fz_fail("ss_table_next returned %zu entries but ss_table_count says %zu", count,
			ss_table_count(t));
}

void fz_map_live(struct fz_map *dst, const struct fz_map *src, int64_t now_ms)
{
	for (size_t i = 0; i < src->n; i++) {
		const struct fz_kv *kv = &src->kv[i];
		if (fz_live(kv->expire_ms, now_ms))
			fz_map_set_rev(dst, kv->name, kv->nlen, kv->value, kv->vlen, kv->expire_ms,
				       kv->rev, kv->commit_ms);
	}
}

const char *fz_map_diff(const struct fz_map *a, const struct fz_map *b)
{
	static char why[1024];
	size_t i;

	for (i = 0; i < a->n && i < b->n; i++) {
		const struct fz_kv *x = &a->kv[i], *y = &b->kv[i];
		if (cmp_name(x->name, x->nlen, y->name, y->nlen) != 0) {
			snprintf(why, sizeof(why), "entry %zu is '%.100s' in one, '%.100s' in the other",
				 i, x->name, y->name);
			return why;
		}
		if (x->vlen != y->vlen || memcmp(x->value, y->value, x->vlen) != 0) {
			snprintf(why, sizeof(why), "'%.100s' has value '%.100s' in one, '%.100s' in the other",
				 x->name, x->value, y->value);
			return why;
		}
		if (x->expire_ms != y->expire_ms) {
			snprintf(why, sizeof(why), "'%.100s' expires at %lld in one, %lld in the other",
				 x->name, (long long)x->expire_ms, (long long)y->expire_ms);
			return why;
		}
		if (x->rev != y->rev || x->commit_ms != y->commit_ms) {
			snprintf(why, sizeof(why),
				 "'%.100s' has revision %llu (commit %lld) in one, %llu (%lld) in the "
				 "other",
				 x->name, (unsigned long long)x->rev, (long long)x->commit_ms,
				 (unsigned long long)y->rev, (long long)y->commit_ms);
			return why;
		}
	}
	if (a->n != b->n) {
		const struct fz_kv *x = i < a->n ? &a->kv[i] : &b->kv[i];
		snprintf(why, sizeof(why), "%zu entries in one, %zu in the other (first extra: '%.100s')",
			 a->n, b->n, x->name);
		return why;
	}
	return NULL;
}

int fz_commit(struct ss_store *s, struct ss_batch *b, int64_t now_ms, struct ss_error *err)
{
	int rc = -1;

	if (ss_store_write(s, b, err) == 0 && ss_store_sync(s, err) == 0) {
		if (ss_store_apply(s, b, now_ms) < 0)
			fz_fail("ss_store_apply: out of memory");
		rc = 0;
	}
	ss_batch_reset(b);
	return rc;
}

const char *fz_op_name(const struct ss_batch *b, const struct ss_op *op, size_t *n)
{
	static char name[SS_NAME_MAX];

	if (!(op->esc & SS_REC_NAME_ESC)) {
		*n = op->nlen;
		return b->buf + op->name_off;
	}
	*n = ss_record_unescape(b->buf + op->name_off, op->nlen, name);
	fz_check(*n == op->nraw, "a name unescaped to %zu bytes, not %zu", *n, (size_t)op->nraw);
	return name;
}

/* ---- fault-injecting io ---- */

/* Returns the errno to fail this call of op with, or 0. */
static int fault_for(struct fz_io *f, enum fz_op op)
{
	unsigned long n = ++f->calls[op];

	for (int i = 0; i < FZ_FAULTS_MAX; i++) {
		if (f->faults[i].armed && f->faults[i].op == op && f->faults[i].at == n) {
			f->faults[i].armed = 0;
			f->injected++;
			return f->faults[i].err;
		}
	}
	return 0;
}

#define FZ(ctx) ((struct fz_io *)(ctx))
#define POSIX ss_io_posix

static int io_open(void *ctx, const char *path, int flags, mode_t mode)
{
	int e = fault_for(FZ(ctx), FZ_OP_OPEN);
	if (e)
		return errno = e, -1;
	return POSIX.open(POSIX.ctx, path, flags, mode);
}

static int io_close(void *ctx, int fd)
{
	(void)ctx;
	return POSIX.close(POSIX.ctx, fd);
}

static ssize_t io_pwrite(void *ctx, int fd, const void *buf, size_t n, off_t off)
{
	int e = fault_for(FZ(ctx), FZ_OP_PWRITE);
	if (e == FZ_SHORT_WRITE)
		return POSIX.pwrite(POSIX.ctx, fd, buf, n / 2, off);
	if (e)
		return errno = e, -1;
	return POSIX.pwrite(POSIX.ctx, fd, buf, n, off);
}

static int io_fdatasync(void *ctx, int fd)
{
	(void)fd;
	int e = fault_for(FZ(ctx), FZ_OP_FDATASYNC);
	if (e)
		return errno = e, -1;
	return 0;
}

static int io_fsync(void *ctx, int fd)
{
	(void)fd;
	int e = fault_for(FZ(ctx), FZ_OP_FSYNC);
	if (e)
		return errno = e, -1;
	return 0;
}

static int io_ftruncate(void *ctx, int fd, off_t len)
{
	int e = fault_for(FZ(ctx), FZ_OP_FTRUNCATE);
	if (e)
		return errno = e, -1;
	return POSIX.ftruncate(POSIX.ctx, fd, len);
}

static int io_rename(void *ctx, const char *from, const char *to)
{
	int e = fault_for(FZ(ctx), FZ_OP_RENAME);
	if (e)
		return errno = e, -1;
	return POSIX.rename(POSIX.ctx, from, to);
}

static int io_unlink(void *ctx, const char *path)
{
	int e = fault_for(FZ(ctx), FZ_OP_UNLINK);
	if (e)
		return errno = e, -1;
	return POSIX.unlink(POSIX.ctx, path);
}

void fz_io_init(struct fz_io *f)
{
	memset(f, 0, sizeof(*f));
	f->io = (struct ss_io){
		.ctx = f,
		.open = io_open,
		.close = io_close,
		.pwrite = io_pwrite,
		.fdatasync = io_fdatasync,
		.fsync = io_fsync,
		.ftruncate = io_ftruncate,
		.rename = io_rename,
		.unlink = io_unlink,
	};
}

int fz_io_arm(struct fz_io *f, enum fz_op op, unsigned long nth, int err)
{
	for (int i = 0; i < FZ_FAULTS_MAX; i++) {
		if (!f->faults[i].armed) {
			f->faults[i].armed = 1;
			f->faults[i].op = op;
			f->faults[i].at = f->calls[op] + nth;
			f->faults[i].err = err;
			return 0;
		}
	}
	return -1;
}

void fz_io_disarm(struct fz_io *f)
{
	for (int i = 0; i < FZ_FAULTS_MAX; i++)
		f->faults[i].armed = 0;
}
