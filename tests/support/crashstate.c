/*
 * crashstate.c - the crash states of a crashfs recording (see crashfs.h for
 * the model): crash points, the states' images on disk, their descriptions,
 * and enumerating or sampling them.
 *
 * A crash point is computed from scratch: the durable state by replaying
 * every call up to the last sync that covers it, the units by listing what
 * came after. That is quadratic in the recording, and recordings are small.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crashfs.h"
#include "statestored/store.h"
#include "crashfs_util.h"
#include "sstest.h"

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

/* --- crash points ------------------------------------------------------ */

/* 1 if op changes a directory's entries: root's, or a subdirectory's
 * (op->dir). */
static int is_dir_op(const struct crashfs_op *op)
{
	if (op->failed)
		return 0;
	return (op->kind == CRASHFS_OPEN && op->created) || op->kind == CRASHFS_MKDIR ||
	       (op->kind == CRASHFS_RENAME && op->ino > 0) ||
	       (op->kind == CRASHFS_UNLINK && op->ino >= 0);
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
	case CRASHFS_MKDIR:
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
			/* Durable at the fsync of the directory it changes. */
			if ((long)i < last[op->dir])
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

/* The entries e[0..n) (root's, and subdirectories' as "#<ino>/<file>") as
 * paths from root (crashfs.h: "sub/", "sub/file"); a subdirectory's files
 * whose directory has no entry in root are left out. Frees e; sets *n. */
static struct crashfs_entry *resolve(const struct crashfs *c, struct crashfs_entry *e, size_t *n)
{
	struct crashfs_entry *out = xrealloc(NULL, *n * sizeof(*out));
	size_t m = 0;

	for (size_t i = 0; i < *n; i++) {
		char *path = NULL;

		if (e[i].name[0] == '#') {
			int dir = atoi(e[i].name + 1);
			const char *file = strchr(e[i].name, '/') + 1;

			for (size_t j = 0; !path && j < *n; j++) {
				if (e[j].ino == dir && e[j].name[0] != '#' &&
				    asprintf(&path, "%s/%s", e[j].name, file) < 0)
					fail_msg("crashfs: out of memory");
			}
		} else if (c->ino_dir[e[i].ino]) {
			if (asprintf(&path, "%s/", e[i].name) < 0)
				fail_msg("crashfs: out of memory");
		} else {
			path = xstrdup(e[i].name);
		}
		if (path)
			out[m++] = (struct crashfs_entry){path, e[i].ino};
	}
	ent_free(e, *n);
	*n = m;
	return out;
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
	img->ent = resolve(c, img->ent, &img->n);
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

/* 1 if an image's entry name is a subdirectory's ("sub/"). */
static int names_dir(const char *name)
{
	size_t n = strlen(name);

	return n > 0 && name[n - 1] == '/';
}

void crashfs_image_write(const struct crashfs_image *img, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		fail_msg("crashfs: opendir %s: %s", dir, strerror(errno));
	while ((de = readdir(d))) {
		char *path = sstest_path(dir, de->d_name);
		struct stat st;

		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
				sstest_rmdir(path);
			else if (unlinkat(dirfd(d), de->d_name, 0) < 0)
				fail_msg("crashfs: unlink %s: %s", path, strerror(errno));
		}
		free(path);
	}
	closedir(d);
	/* Sorted by name: a subdirectory ("sub/") comes before its files. */
	for (size_t i = 0; i < img->n; i++) {
		char *path = sstest_path(dir, img->ent[i].name);

		if (names_dir(img->ent[i].name)) {
			path[strlen(path) - 1] = '\0';
			if (mkdir(path, 0755) < 0)
				fail_msg("crashfs: mkdir %s: %s", path, strerror(errno));
		} else {
			sstest_write_file(path, img->data[i].buf, img->data[i].len);
		}
		free(path);
	}
}

/* Whether dir's regular files (LOCK aside) and, with depth, its
 * subdirectories and their files are img's entries, their names prefixed
 * with prefix; adds the entries seen to *seen. */
static int matches_in(const struct crashfs_image *img, const char *dir, const char *prefix,
		      int depth, size_t *seen)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int ok = 1;

	if (!d)
		return 0;
	while (ok && (de = readdir(d))) {
		char *path = sstest_path(dir, de->d_name);
		char *name;
		struct stat st;

		if (asprintf(&name, "%s%s", prefix, de->d_name) < 0)
			fail_msg("crashfs: out of memory");
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
		    strcmp(de->d_name, SS_LOCK_FILE) != 0) { /* not modeled: crashfs.h */
			long i = ent_find(img->ent, img->n, name);
			size_t len;
			char *buf = i < 0 ? NULL : sstest_read_file(path, &len);

			ok = i >= 0 && buf && len == img->data[i].len &&
			     memcmp(buf, img->data[i].buf, len) == 0;
			(*seen)++;
			free(buf);
		} else if (depth > 0 && S_ISDIR(st.st_mode) && strcmp(de->d_name, ".") &&
			   strcmp(de->d_name, "..")) {
			char *sub;

			if (asprintf(&sub, "%s/", name) < 0)
				fail_msg("crashfs: out of memory");
			ok = ent_find(img->ent, img->n, sub) >= 0 &&
			     matches_in(img, path, sub, depth - 1, seen);
			(*seen)++;
			free(sub);
		}
		free(name);
		free(path);
	}
	closedir(d);
	return ok;
}

int crashfs_image_matches(const struct crashfs_image *img, const char *dir)
{
	size_t seen = 0;

	return matches_in(img, dir, "", 1, &seen) && seen == img->n;
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
