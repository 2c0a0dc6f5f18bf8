/*
 * crashfs.c - a recording ss_io and the crash states of a recording (see
 * crashfs.h for the model).
 *
 * Recording keeps a live view of root (name -> inode) and of open fds, so
 * that every call can be tied to the inode it acts on at the moment it is
 * made; replay never looks at names again except to build root's entries.
 * fdatasync and fsync are recorded but not performed: what is durable is
 * computed from the recording, never from the real disk, and skipping the
 * flush keeps a workload fast.
 *
 * A crash point is computed from scratch: the durable state by replaying
 * every call up to the last sync that covers it, the units by listing what
 * came after. That is quadratic in the recording, and recordings are small.
 */
#include "crashfs.h"

#include <dirent.h>
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

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		fail_msg("crashfs: out of memory");
	return p;
}

static char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		fail_msg("crashfs: out of memory");
	return p;
}

/* --- entries (name -> inode) ------------------------------------------ */

static long ent_find(const struct crashfs_entry *e, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(e[i].name, name) == 0)
			return (long)i;
	}
	return -1;
}

static void ent_set(struct crashfs_entry **e, size_t *n, const char *name, int ino)
{
	long i = ent_find(*e, *n, name);

	if (i >= 0) {
		(*e)[i].ino = ino;
		return;
	}
	*e = xrealloc(*e, (*n + 1) * sizeof(**e));
	(*e)[*n].name = xstrdup(name);
	(*e)[*n].ino = ino;
	(*n)++;
}

static void ent_del(struct crashfs_entry *e, size_t *n, const char *name)
{
	long i = ent_find(e, *n, name);

	if (i < 0)
		return;
	free(e[i].name);
	e[i] = e[--*n];
}

static struct crashfs_entry *ent_copy(const struct crashfs_entry *e, size_t n)
{
	struct crashfs_entry *out = xrealloc(NULL, n * sizeof(*out));

	for (size_t i = 0; i < n; i++) {
		out[i].name = xstrdup(e[i].name);
		out[i].ino = e[i].ino;
	}
	return out;
}

static void ent_free(struct crashfs_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(e[i].name);
	free(e);
}

/* --- blobs (file contents) --------------------------------------------- */

/* Sets b's size to len: new bytes are zeros (a hole or a truncate-up). */
static void blob_resize(struct crashfs_blob *b, size_t len)
{
	if (len > b->len) {
		b->buf = xrealloc(b->buf, len);
		memset(b->buf + b->len, 0, len - b->len);
	}
	b->len = len;
}

static void blob_write(struct crashfs_blob *b, size_t off, const char *p, size_t n)
{
	if (off + n > b->len)
		blob_resize(b, off + n);
	memcpy(b->buf + off, p, n);
}

static struct crashfs_blob blob_copy(const struct crashfs_blob *b)
{
	struct crashfs_blob out = {xrealloc(NULL, b->len), b->len};

	if (b->len)
		memcpy(out.buf, b->buf, b->len);
	return out;
}

/* --- recording ------------------------------------------------------- */

/* 1 if path is root, 2 if it is a file directly in root (*name set), 0 if
 * it is outside the model. */
static int classify(const struct crashfs *c, const char *path, const char **name)
{
	size_t n = strlen(c->root);

	*name = path;
	if (strcmp(path, c->root) == 0)
		return 1;
	if (strncmp(path, c->root, n) != 0 || path[n] != '/' || !path[n + 1] ||
	    strchr(path + n + 1, '/'))
		return 0;
	*name = path + n + 1;
	return 2;
}

static int live_ino(const struct crashfs *c, const char *name)
{
	long i = ent_find(c->live, c->nlive, name);

	return i < 0 ? -1 : c->live[i].ino;
}

/* The name of ino at this point of the recording, for descriptions. */
static char *name_now(const struct crashfs *c, int ino)
{
	char *p;

	if (ino == 0)
		return xstrdup(".");
	if (ino < 0)
		return xstrdup("(outside)");
	for (size_t i = 0; i < c->nlive; i++) {
		if (c->live[i].ino == ino)
			return xstrdup(c->live[i].name);
	}
	if (asprintf(&p, "(unlinked %s)", c->ino_name[ino]) < 0)
		fail_msg("crashfs: out of memory");
	return p;
}

static int new_ino(struct crashfs *c, const char *name)
{
	c->ino_name = xrealloc(c->ino_name, (size_t)(c->nino + 1) * sizeof(*c->ino_name));
	c->init_data = xrealloc(c->init_data, (size_t)(c->nino + 1) * sizeof(*c->init_data));
	c->ino_name[c->nino] = xstrdup(name);
	c->init_data[c->nino] = (struct crashfs_blob){NULL, 0};
	return c->nino++;
}

static struct crashfs_op *new_op(struct crashfs *c, enum crashfs_kind kind)
{
	struct crashfs_op *op;

	if (c->nops == c->opcap) {
		c->opcap = c->opcap ? 2 * c->opcap : 64;
		c->ops = xrealloc(c->ops, c->opcap * sizeof(*c->ops));
	}
	op = &c->ops[c->nops++];
	memset(op, 0, sizeof(*op));
	op->kind = kind;
	op->fd = -1;
	op->ino = -1;
	op->old_ino = -1;
	return op;
}

static int fd_ino(const struct crashfs *c, int fd)
{
	return fd >= 0 && fd < CRASHFS_FD_MAX ? c->fd_ino[fd] : -1;
}

static int rec_open(void *ctx, const char *path, int flags, mode_t mode)
{
	struct crashfs *c = ctx;
	const char *name;
	int where = classify(c, path, &name);
	int existed = where == 2 ? live_ino(c, name) : -1;
	int fd = ss_io_posix.open(NULL, path, flags, mode);
	int e = errno;
	struct crashfs_op *op = new_op(c, CRASHFS_OPEN);

	op->fd = fd;
	op->failed = fd < 0;
	op->name = xstrdup(where == 1 ? "." : name);
	if (fd >= 0) {
		if (fd >= CRASHFS_FD_MAX)
			fail_msg("crashfs: fd %d beyond CRASHFS_FD_MAX", fd);
		if (where == 1) {
			op->ino = 0;
		} else if (where == 2 && existed >= 0) {
			op->ino = existed;
			op->truncated = (flags & O_TRUNC) != 0;
		} else if (where == 2) {
			if (!(flags & O_CREAT))
				fail_msg("crashfs: %s opened, but the model has no such file", path);
			op->ino = new_ino(c, name);
			op->created = 1;
			ent_set(&c->live, &c->nlive, name, op->ino);
		}
		c->fd_ino[fd] = op->ino;
	}
	errno = e;
	return fd;
}

static int rec_close(void *ctx, int fd)
{
	struct crashfs *c = ctx;
	struct crashfs_op *op = new_op(c, CRASHFS_CLOSE);
	int r;

	op->fd = fd;
	op->ino = fd_ino(c, fd);
	op->name = name_now(c, op->ino);
	if (fd >= 0 && fd < CRASHFS_FD_MAX)
		c->fd_ino[fd] = -1;
	r = ss_io_posix.close(NULL, fd);
	op->failed = r < 0;
	return r;
}

static ssize_t rec_pwrite(void *ctx, int fd, const void *buf, size_t n, off_t off)
{
	struct crashfs *c = ctx;
	ssize_t w = ss_io_posix.pwrite(NULL, fd, buf, n, off);
	int e = errno;
	struct crashfs_op *op = new_op(c, CRASHFS_PWRITE);

	op->fd = fd;
	op->ino = fd_ino(c, fd);
	op->name = name_now(c, op->ino);
	op->off = off;
	op->failed = w <= 0;
	if (w > 0) {
		op->len = (size_t)w;
		op->data = xrealloc(NULL, (size_t)w);
		memcpy(op->data, buf, (size_t)w);
	}
	errno = e;
	return w;
}

static int rec_ftruncate(void *ctx, int fd, off_t len)
{
	struct crashfs *c = ctx;
	int r = ss_io_posix.ftruncate(NULL, fd, len);
	int e = errno;
	struct crashfs_op *op = new_op(c, CRASHFS_FTRUNCATE);

	op->fd = fd;
	op->ino = fd_ino(c, fd);
	op->name = name_now(c, op->ino);
	op->size = len;
	op->failed = r < 0;
	errno = e;
	return r;
}

static int rec_sync(struct crashfs *c, int fd, enum crashfs_kind kind)
{
	struct crashfs_op *op = new_op(c, kind);

	op->fd = fd;
	op->ino = fd_ino(c, fd);
	op->name = name_now(c, op->ino);
	if (fcntl(fd, F_GETFD) < 0) { /* keep EBADF honest */
		op->failed = 1;
		return -1;
	}
	return 0;
}

static int rec_fdatasync(void *ctx, int fd)
{
	return rec_sync(ctx, fd, CRASHFS_FDATASYNC);
}

static int rec_fsync(void *ctx, int fd)
{
	return rec_sync(ctx, fd, CRASHFS_FSYNC);
}

static int rec_rename(void *ctx, const char *from, const char *to)
{
	struct crashfs *c = ctx;
	const char *nf, *nt;
	int modeled = classify(c, from, &nf) == 2 && classify(c, to, &nt) == 2;
	int r = ss_io_posix.rename(NULL, from, to);
	int e = errno;
	struct crashfs_op *op = new_op(c, CRASHFS_RENAME);

	op->failed = r < 0;
	op->name = xstrdup(nf);
	op->name2 = xstrdup(modeled ? nt : to);
	if (modeled) {
		op->ino = live_ino(c, nf);
		op->old_ino = live_ino(c, nt);
		if (r == 0 && op->ino >= 0) {
			ent_del(c->live, &c->nlive, nf);
			ent_set(&c->live, &c->nlive, nt, op->ino);
		}
	}
	errno = e;
	return r;
}

static int rec_unlink(void *ctx, const char *path)
{
	struct crashfs *c = ctx;
	const char *name;
	int modeled = classify(c, path, &name) == 2;
	int r = ss_io_posix.unlink(NULL, path);
	int e = errno;
	struct crashfs_op *op = new_op(c, CRASHFS_UNLINK);

	op->failed = r < 0;
	op->name = xstrdup(name);
	if (modeled) {
		op->old_ino = live_ino(c, name);
		op->ino = 0; /* it changes root */
		if (r == 0)
			ent_del(c->live, &c->nlive, name);
	}
	errno = e;
	return r;
}

void crashfs_init(struct crashfs *c, const char *root)
{
	DIR *d;
	struct dirent *de;

	memset(c, 0, sizeof(*c));
	c->io = (struct ss_io){.ctx = c,
			       .open = rec_open,
			       .close = rec_close,
			       .pwrite = rec_pwrite,
			       .fdatasync = rec_fdatasync,
			       .fsync = rec_fsync,
			       .ftruncate = rec_ftruncate,
			       .rename = rec_rename,
			       .unlink = rec_unlink};
	c->root = xstrdup(root);
	for (int i = 0; i < CRASHFS_FD_MAX; i++)
		c->fd_ino[i] = -1;
	(void)new_ino(c, ".");
	d = opendir(root);
	if (!d)
		fail_msg("crashfs: opendir %s: %s", root, strerror(errno));
	while ((de = readdir(d))) {
		char *path = sstest_path(root, de->d_name);
		struct stat st;
		int ino;

		if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			ino = new_ino(c, de->d_name);
			c->init_data[ino].buf = sstest_read_file(path, &c->init_data[ino].len);
			ent_set(&c->init, &c->ninit, de->d_name, ino);
			ent_set(&c->live, &c->nlive, de->d_name, ino);
		}
		free(path);
	}
	closedir(d);
}

void crashfs_free(struct crashfs *c)
{
	for (size_t i = 0; i < c->nops; i++) {
		free(c->ops[i].name);
		free(c->ops[i].name2);
		free(c->ops[i].data);
	}
	free(c->ops);
	for (int i = 0; i < c->nino; i++) {
		free(c->ino_name[i]);
		free(c->init_data[i].buf);
	}
	free(c->ino_name);
	free(c->init_data);
	ent_free(c->init, c->ninit);
	ent_free(c->live, c->nlive);
	free(c->root);
	memset(c, 0, sizeof(*c));
}

size_t crashfs_nops(const struct crashfs *c)
{
	return c->nops;
}

const char *crashfs_ino_name(const struct crashfs *c, int ino)
{
	return ino >= 0 && ino < c->nino ? c->ino_name[ino] : "(outside)";
}

void crashfs_op_describe(const struct crashfs *c, size_t i, char *buf, size_t size)
{
	const struct crashfs_op *op = &c->ops[i];
	const char *f = op->failed ? " (failed)" : "";
	const char *n = op->name ? op->name : crashfs_ino_name(c, op->ino);
	int ino = op->ino;

	switch (op->kind) {
	case CRASHFS_OPEN:
		snprintf(buf, size, "open %s[i%d]%s%s", op->name, ino,
			 op->created ? " O_CREAT" : (op->truncated ? " O_TRUNC" : ""), f);
		break;
	case CRASHFS_CLOSE:
		snprintf(buf, size, "close %s[i%d]%s", n, ino, f);
		break;
	case CRASHFS_PWRITE:
		snprintf(buf, size, "pwrite %s[i%d] @%lld+%zu%s", n, ino, (long long)op->off,
			 op->len, f);
		break;
	case CRASHFS_FTRUNCATE:
		snprintf(buf, size, "ftruncate %s[i%d] %lld%s", n, ino, (long long)op->size, f);
		break;
	case CRASHFS_FDATASYNC:
	case CRASHFS_FSYNC:
		snprintf(buf, size, "%s %s[i%d]%s",
			 op->kind == CRASHFS_FSYNC ? "fsync" : "fdatasync", n, ino, f);
		break;
	case CRASHFS_RENAME:
		snprintf(buf, size, "rename %s[i%d] -> %s%s", op->name, ino, op->name2, f);
		break;
	case CRASHFS_UNLINK:
		snprintf(buf, size, "unlink %s[i%d]%s", op->name, op->old_ino, f);
		break;
	}
}

/* --- crash points ------------------------------------------------------ */

/* 1 if op changes root's entries. */
static int is_dir_op(const struct crashfs_op *op)
{
	if (op->failed)
		return 0;
	return (op->kind == CRASHFS_OPEN && op->created) ||
	       (op->kind == CRASHFS_RENAME && op->ino > 0) ||
	       (op->kind == CRASHFS_UNLINK && op->ino == 0);
}

/* 1 if op changes the data or size of a file (inode > 0). */
static int is_data_op(const struct crashfs_op *op)
{
	if (op->failed || op->ino <= 0)
		return 0;
	return op->kind == CRASHFS_PWRITE || op->kind == CRASHFS_FTRUNCATE ||
	       (op->kind == CRASHFS_OPEN && op->truncated);
}

static int is_sync(const struct crashfs_op *op)
{
	return !op->failed && op->ino >= 0 &&
	       (op->kind == CRASHFS_FDATASYNC || op->kind == CRASHFS_FSYNC);
}

static void apply_dir(struct crashfs_entry **e, size_t *n, const struct crashfs_op *op)
{
	switch (op->kind) {
	case CRASHFS_OPEN:
		ent_set(e, n, op->name, op->ino);
		break;
	case CRASHFS_RENAME:
		ent_del(*e, n, op->name);
		ent_set(e, n, op->name2, op->ino);
		break;
	case CRASHFS_UNLINK:
		ent_del(*e, n, op->name);
		break;
	default:
		break;
	}
}

/* Applies the data op, or for a pwrite its bytes [off, off + len). */
static void apply_data(struct crashfs_blob *b, const struct crashfs_op *op, size_t off, size_t len)
{
	if (op->kind == CRASHFS_PWRITE)
		blob_write(b, (size_t)op->off + off, op->data + off, len);
	else if (op->kind == CRASHFS_FTRUNCATE)
		blob_resize(b, (size_t)op->size);
	else
		blob_resize(b, 0);
}

static void add_unit(struct crashfs_point *pt, size_t op, size_t off, size_t len)
{
	pt->units = xrealloc(pt->units, (pt->nunits + 1) * sizeof(*pt->units));
	pt->units[pt->nunits++] = (struct crashfs_unit){op, off, len};
}

void crashfs_point_init(struct crashfs_point *pt, const struct crashfs *c, size_t k, size_t chunk)
{
	long *last = xrealloc(NULL, (size_t)c->nino * sizeof(*last));

	memset(pt, 0, sizeof(*pt));
	pt->c = c;
	pt->k = k < c->nops ? k : c->nops;
	pt->chunk = chunk;
	for (int i = 0; i < c->nino; i++)
		last[i] = -1;
	for (size_t i = 0; i < pt->k; i++) {
		if (is_sync(&c->ops[i]))
			last[c->ops[i].ino] = (long)i;
	}
	pt->dur = ent_copy(c->init, c->ninit);
	pt->ndur = c->ninit;
	pt->dur_data = xrealloc(NULL, (size_t)c->nino * sizeof(*pt->dur_data));
	for (int i = 0; i < c->nino; i++)
		pt->dur_data[i] = blob_copy(&c->init_data[i]);
	for (size_t i = 0; i < pt->k; i++) {
		const struct crashfs_op *op = &c->ops[i];

		if (is_dir_op(op)) {
			if ((long)i < last[0])
				apply_dir(&pt->dur, &pt->ndur, op);
			else
				add_unit(pt, i, 0, 0);
		} else if (is_data_op(op)) {
			if ((long)i < last[op->ino]) {
				apply_data(&pt->dur_data[op->ino], op, 0, op->len);
			} else if (op->kind != CRASHFS_PWRITE) {
				add_unit(pt, i, 0, 0);
			} else {
				/* One unit per chunk-aligned block the write touches. */
				size_t at = 0;

				while (at < op->len) {
					size_t abs = (size_t)op->off + at;
					size_t n = chunk - abs % chunk;

					if (n > op->len - at)
						n = op->len - at;
					add_unit(pt, i, at, n);
					at += n;
				}
			}
		}
	}
	free(last);
}

void crashfs_point_free(struct crashfs_point *pt)
{
	ent_free(pt->dur, pt->ndur);
	for (int i = 0; i < pt->c->nino; i++)
		free(pt->dur_data[i].buf);
	free(pt->dur_data);
	free(pt->units);
	memset(pt, 0, sizeof(*pt));
}

/* --- images -------------------------------------------------------------- */

static int cmp_name(const void *a, const void *b)
{
	return strcmp(((const struct crashfs_entry *)a)->name, ((const struct crashfs_entry *)b)->name);
}

void crashfs_image_build(struct crashfs_image *img, const struct crashfs_point *pt,
			 const unsigned char *on)
{
	const struct crashfs *c = pt->c;

	img->ent = ent_copy(pt->dur, pt->ndur);
	img->n = pt->ndur;
	for (size_t u = 0; u < pt->nunits; u++) {
		const struct crashfs_op *op = &c->ops[pt->units[u].op];

		if (on && on[u] && is_dir_op(op))
			apply_dir(&img->ent, &img->n, op);
	}
	qsort(img->ent, img->n, sizeof(*img->ent), cmp_name);
	img->data = xrealloc(NULL, img->n * sizeof(*img->data));
	for (size_t i = 0; i < img->n; i++) {
		int ino = img->ent[i].ino;

		img->data[i] = blob_copy(&pt->dur_data[ino]);
		for (size_t u = 0; on && u < pt->nunits; u++) {
			const struct crashfs_unit *un = &pt->units[u];
			const struct crashfs_op *op = &c->ops[un->op];

			if (on[u] && is_data_op(op) && op->ino == ino)
				apply_data(&img->data[i], op, un->off, un->len);
		}
	}
}

void crashfs_image_free(struct crashfs_image *img)
{
	for (size_t i = 0; i < img->n; i++)
		free(img->data[i].buf);
	free(img->data);
	ent_free(img->ent, img->n);
	memset(img, 0, sizeof(*img));
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * 0x100000001b3ull;
	return h;
}

uint64_t crashfs_image_hash(const struct crashfs_image *img)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < img->n; i++) {
		h = fnv(h, img->ent[i].name, strlen(img->ent[i].name) + 1);
		h = fnv(h, &img->data[i].len, sizeof(img->data[i].len));
		h = fnv(h, img->data[i].buf, img->data[i].len);
	}
	return h;
}

void crashfs_image_write(const struct crashfs_image *img, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		fail_msg("crashfs: opendir %s: %s", dir, strerror(errno));
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    unlinkat(dirfd(d), de->d_name, 0) < 0)
			fail_msg("crashfs: unlink %s/%s: %s", dir, de->d_name, strerror(errno));
	}
	closedir(d);
	for (size_t i = 0; i < img->n; i++) {
		char *path = sstest_path(dir, img->ent[i].name);

		sstest_write_file(path, img->data[i].buf, img->data[i].len);
		free(path);
	}
}

int crashfs_image_matches(const struct crashfs_image *img, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t seen = 0;
	int ok = 1;

	if (!d)
		return 0;
	while (ok && (de = readdir(d))) {
		char *path = sstest_path(dir, de->d_name);
		struct stat st;

		if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			long i = ent_find(img->ent, img->n, de->d_name);
			size_t len;
			char *buf = i < 0 ? NULL : sstest_read_file(path, &len);

			ok = i >= 0 && buf && len == img->data[i].len &&
			     memcmp(buf, img->data[i].buf, len) == 0;
			seen++;
			free(buf);
		}
		free(path);
	}
	closedir(d);
	return ok && seen == img->n;
}

/* --- describing a state ---------------------------------------------- */

struct sbuf {
	char *p;
	size_t len, cap;
};

static void sb_printf(struct sbuf *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(s->p ? s->p + s->len : NULL, s->p ? s->cap - s->len : 0, fmt, ap);
		va_end(ap);
		if (n >= 0 && s->p && (size_t)n < s->cap - s->len)
			break;
		s->cap = s->cap * 2 + (size_t)n + 64;
		s->p = xrealloc(s->p, s->cap);
	}
	s->len += (size_t)n;
}

char *crashfs_state_describe(const struct crashfs_point *pt, const unsigned char *on)
{
	struct sbuf s = {0};
	char what[256];
	size_t u = 0;

	sb_printf(&s, "crash after call %zu of %zu", pt->k, pt->c->nops);
	if (pt->k > 0) {
		crashfs_op_describe(pt->c, pt->k - 1, what, sizeof(what));
		sb_printf(&s, " (%s)", what);
	}
	sb_printf(&s, "; not yet durable:%s", pt->nunits ? "" : " nothing");
	while (u < pt->nunits) {
		size_t op = pt->units[u].op, n = 0, k = 0, v = u;

		while (v < pt->nunits && pt->units[v].op == op) {
			k += on[v] != 0;
			v++;
		}
		n = v - u;
		crashfs_op_describe(pt->c, op, what, sizeof(what));
		sb_printf(&s, " [#%zu %s: ", op + 1, what);
		if (k == n || k == 0) {
			sb_printf(&s, "%s]", k ? "persisted" : "lost");
		} else {
			/* Torn: list the persisted pieces as ranges. */
			sb_printf(&s, "torn, persisted pieces");
			for (size_t i = 0; i < n; i++) {
				size_t j = i;

				if (!on[u + i])
					continue;
				while (j + 1 < n && on[u + j + 1])
					j++;
				sb_printf(&s, j > i ? " %zu-%zu" : " %zu", i, j);
				i = j;
			}
			sb_printf(&s, " of %zu (%zu-byte chunks)]", n, pt->chunk);
		}
		u = v;
	}
	return s.p;
}

/* --- iterating states ---------------------------------------------------- */

static uint64_t next_rand(uint64_t *x)
{
	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * 0x2545f4914f6cdd1dull;
}

void crashfs_iter_init(struct crashfs_iter *it, const struct crashfs_point *pt, size_t max,
		       uint64_t seed)
{
	memset(it, 0, sizeof(*it));
	it->pt = pt;
	it->max = max;
	it->total = pt->nunits < 63 ? (uint64_t)1 << pt->nunits : UINT64_MAX;
	it->exhaustive = it->total <= max;
	it->rng = (seed ^ ((uint64_t)pt->k * 0x9e3779b97f4a7c15ull)) | 1;
}

/* The units of the op of unit u: [*lo, *hi). */
static void op_span(const struct crashfs_point *pt, size_t u, size_t *lo, size_t *hi)
{
	size_t op = pt->units[u].op;

	*lo = *hi = u;
	while (*lo > 0 && pt->units[*lo - 1].op == op)
		(*lo)--;
	while (*hi < pt->nunits && pt->units[*hi].op == op)
		(*hi)++;
}

/* Sets the units [lo, hi) of one op: all, none, a random subset, a prefix,
 * all but one, or only one. */
static void tear(uint64_t *rng, unsigned char *on, size_t lo, size_t hi)
{
	size_t n = hi - lo, pick = (size_t)(next_rand(rng) % n);
	unsigned mode = (unsigned)(next_rand(rng) % 6);

	for (size_t i = 0; i < n; i++) {
		switch (mode) {
		case 0: on[lo + i] = 1; break;
		case 1: on[lo + i] = 0; break;
		case 2: on[lo + i] = next_rand(rng) & 1; break;
		case 3: on[lo + i] = i < pick; break;
		case 4: on[lo + i] = i != pick; break;
		default: on[lo + i] = i == pick; break;
		}
	}
}

int crashfs_iter_next(struct crashfs_iter *it, unsigned char *on)
{
	const struct crashfs_point *pt = it->pt;
	size_t n = pt->nunits, lo, hi;

	if (it->exhaustive ? it->done == it->total : it->done == it->max)
		return 0;
	if (it->exhaustive) {
		for (size_t i = 0; i < n; i++)
			on[i] = (it->done >> i) & 1;
	} else if (it->done < 2) {
		memset(on, it->done == 0, n);
	} else {
		switch (next_rand(&it->rng) % 4) {
		case 0: /* every unit on its own */
			for (size_t i = 0; i < n; i++)
				on[i] = next_rand(&it->rng) & 1;
			break;
		case 1: /* call by call */
			for (size_t u = 0; u < n; u = hi) {
				op_span(pt, u, &lo, &hi);
				tear(&it->rng, on, lo, hi);
			}
			break;
		case 2: { /* in order up to a point, that call torn: ordered writeback */
			size_t cut = (size_t)(next_rand(&it->rng) % n);

			for (size_t i = 0; i < n; i++)
				on[i] = i < cut;
			op_span(pt, cut, &lo, &hi);
			tear(&it->rng, on, lo, hi);
			break;
		}
		default: /* all or nothing, but one call torn */
			memset(on, next_rand(&it->rng) & 1, n);
			op_span(pt, (size_t)(next_rand(&it->rng) % n), &lo, &hi);
			tear(&it->rng, on, lo, hi);
			break;
		}
	}
	it->done++;
	return 1;
}

/* --- the no-sync io -------------------------------------------------------- */

static int nosync_open(void *ctx, const char *path, int flags, mode_t mode)
{
	(void)ctx;
	return ss_io_posix.open(NULL, path, flags, mode);
}

static int nosync_close(void *ctx, int fd)
{
	(void)ctx;
	return ss_io_posix.close(NULL, fd);
}

static ssize_t nosync_pwrite(void *ctx, int fd, const void *buf, size_t n, off_t off)
{
	(void)ctx;
	return ss_io_posix.pwrite(NULL, fd, buf, n, off);
}

static int nosync_sync(void *ctx, int fd)
{
	(void)ctx;
	(void)fd;
	return 0;
}

static int nosync_ftruncate(void *ctx, int fd, off_t len)
{
	(void)ctx;
	return ss_io_posix.ftruncate(NULL, fd, len);
}

static int nosync_rename(void *ctx, const char *from, const char *to)
{
	(void)ctx;
	return ss_io_posix.rename(NULL, from, to);
}

static int nosync_unlink(void *ctx, const char *path)
{
	(void)ctx;
	return ss_io_posix.unlink(NULL, path);
}

const struct ss_io crashfs_nosync_io = {
	.ctx = NULL,
	.open = nosync_open,
	.close = nosync_close,
	.pwrite = nosync_pwrite,
	.fdatasync = nosync_sync,
	.fsync = nosync_sync,
	.ftruncate = nosync_ftruncate,
	.rename = nosync_rename,
	.unlink = nosync_unlink,
};
