/*
 * crashfs_util.h - helpers shared by crashfs.c (recording) and crashstate.c
 * (crash states): allocation that cannot fail in a test, and a directory's
 * entries as an array of name -> inode. Internal to the test support library.
 */
#ifndef STATESTORED_CRASHFS_UTIL_H
#define STATESTORED_CRASHFS_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "crashfs.h"

static inline void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		fail_msg("crashfs: out of memory");
	return p;
}

static inline char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		fail_msg("crashfs: out of memory");
	return p;
}

/* --- entries (name -> inode) ------------------------------------------ */

static inline long ent_find(const struct crashfs_entry *e, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(e[i].name, name) == 0)
			return (long)i;
	}
	return -1;
}

static inline void ent_set(struct crashfs_entry **e, size_t *n, const char *name, int ino)
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

static inline void ent_del(struct crashfs_entry *e, size_t *n, const char *name)
{
	long i = ent_find(e, *n, name);

	if (i < 0)
		return;
	free(e[i].name);
	e[i] = e[--*n];
}

static inline struct crashfs_entry *ent_copy(const struct crashfs_entry *e, size_t n)
{
	struct crashfs_entry *out = xrealloc(NULL, n * sizeof(*out));

	for (size_t i = 0; i < n; i++) {
		out[i].name = xstrdup(e[i].name);
		out[i].ino = e[i].ino;
	}
	return out;
}

static inline void ent_free(struct crashfs_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(e[i].name);
	free(e);
}

#endif
