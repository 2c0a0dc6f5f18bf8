/*
 * crashfs.c - a recording ss_io (see crashfs.h for the model; the crash
 * states of a recording are crashstate.c).
 *
 * Recording keeps a live view of root (name -> inode) and of open fds, so
 * that every call can be tied to the inode it acts on at the moment it is
 * made; replay never looks at names again except to build root's entries.
 * fdatasync and fsync are recorded but not performed: what is durable is
 * computed from the recording, never from the real disk, and skipping the
 * flush keeps a workload fast.
 */
#include "crashfs.h"
#include "statestored/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crashfs_util.h"
#include "sstest.h"

/* --- recording ------------------------------------------------------- */

/* 1 if path is root, 2 if it is an entry directly in root (*name set), 3
 * if it is a file in a subdirectory of root (*name set to "sub/file"), 0 if
 * it is outside the model. */
static int classify(const struct crashfs *c, const char *path, const char **name)
{
	size_t n = strlen(c->root);
	const char *slash;

	*name = path;
	if (strcmp(path, c->root) == 0)
		return 1;
	if (strncmp(path, c->root, n) != 0 || path[n] != '/' || !path[n + 1])
		return 0;
	slash = strchr(path + n + 1, '/');
	if (slash) {
		if (slash == path + n + 1 || !slash[1] || strchr(slash + 1, '/'))
			return 0;
		*name = path + n + 1;
		return 3;
	}
	*name = path + n + 1;
	/* LOCK is outside the model: the engine never syncs it, and nothing
	 * after a crash reads it but the pid in it, a hint for diagnosis. As
	 * unsynced units it would only multiply the states of every point. */
	if (strcmp(*name, SS_LOCK_FILE) == 0)
		return 0;
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
	c->ino_dir = xrealloc(c->ino_dir, (size_t)(c->nino + 1) * sizeof(*c->ino_dir));
	c->init_data = xrealloc(c->init_data, (size_t)(c->nino + 1) * sizeof(*c->init_data));
	c->ino_name[c->nino] = xstrdup(name);
	c->ino_dir[c->nino] = 0;
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

/* The subdirectory of rel ("sub/file"): its inode, or -1 if the model does
 * not know it. */
static int sub_ino(const struct crashfs *c, const char *rel)
{
	size_t n = (size_t)(strchr(rel, '/') - rel);
	char *sub = xstrdup(rel);
	int ino;

	sub[n] = '\0';
	ino = live_ino(c, sub);
	free(sub);
	return ino > 0 && c->ino_dir[ino] ? ino : -1;
}

/* rel's entry as the model keeps it: "#<its directory's inode>/<file>"
 * (crashfs.h), malloc'd; dir set to that inode. NULL if the directory is
 * unknown. */
static char *sub_key(const struct crashfs *c, const char *rel, int *dir)
{
	char *key;

	*dir = sub_ino(c, rel);
	if (*dir < 0)
		return NULL;
	if (asprintf(&key, "#%d/%s", *dir, strchr(rel, '/') + 1) < 0)
		fail_msg("crashfs: out of memory");
	return key;
}

/* Records the mkdir of rel's directory, which the engine made outside the
 * io (crashfs.h): a new directory inode with an entry in root. */
static void rec_mkdir(struct crashfs *c, const char *rel)
{
	size_t n = (size_t)(strchr(rel, '/') - rel);
	char *sub = xstrdup(rel);
	struct crashfs_op *op;
	int ino;

	sub[n] = '\0';
	ino = new_ino(c, sub);
	c->ino_dir[ino] = 1;
	op = new_op(c, CRASHFS_MKDIR);
	op->ino = ino;
	op->created = 1;
	op->name = sub;
	ent_set(&c->live, &c->nlive, sub, ino);
}

static int rec_open(void *ctx, const char *path, int flags, mode_t mode)
{
	struct crashfs *c = ctx;
	const char *name;
	int where = classify(c, path, &name);
	int dir = 0;
	char *key = NULL;
	int fd = ss_io_posix.open(NULL, path, flags, mode);
	int e = errno;

	if (where == 3 && fd >= 0 && (flags & O_CREAT) && sub_ino(c, name) < 0)
		rec_mkdir(c, name);
	if (where == 3 && !(key = sub_key(c, name, &dir)) && fd >= 0)
		fail_msg("crashfs: %s opened, but the model has no such directory", path);
	if (key)
		name = key;
	int existed = where >= 2 ? live_ino(c, name) : -1;
	struct crashfs_op *op = new_op(c, CRASHFS_OPEN);

	op->fd = fd;
	op->failed = fd < 0;
	op->dir = dir;
	op->name = xstrdup(where == 1 ? "." : name);
	free(key);
	if (fd >= 0) {
		if (fd >= CRASHFS_FD_MAX)
			fail_msg("crashfs: fd %d beyond CRASHFS_FD_MAX", fd);
		if (where == 1) {
			op->ino = 0;
		} else if (where >= 2 && existed >= 0) {
			op->ino = existed;
			op->truncated = (flags & O_TRUNC) != 0;
		} else if (where >= 2) {
			if (!(flags & O_CREAT))
				fail_msg("crashfs: %s opened, but the model has no such file", path);
			op->ino = new_ino(c, op->name);
			op->created = 1;
			ent_set(&c->live, &c->nlive, op->name, op->ino);
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
	int where = classify(c, path, &name);
	int dir = 0;
	char *key = where == 3 ? sub_key(c, name, &dir) : NULL;
	int modeled = where == 2 || key;
	int r = ss_io_posix.unlink(NULL, path);
	int e = errno;
	struct crashfs_op *op = new_op(c, CRASHFS_UNLINK);

	op->failed = r < 0;
	op->name = xstrdup(key ? key : name);
	if (modeled) {
		op->old_ino = live_ino(c, op->name);
		op->ino = dir; /* the directory it changes */
		op->dir = dir;
		if (r == 0)
			ent_del(c->live, &c->nlive, op->name);
	}
	free(key);
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

		if (stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
		    strcmp(de->d_name, SS_LOCK_FILE) != 0) {
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
	free(c->ino_dir);
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
	case CRASHFS_MKDIR:
		snprintf(buf, size, "mkdir %s[i%d] (seen at its first file)", op->name, ino);
		break;
	}
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
