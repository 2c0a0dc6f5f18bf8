/*
 * table.c - TEMPORARY STAND-IN for the real table module.
 *
 * The engine branch needs a working ss_table to build and test the store
 * while the real table (slabs, incremental growth) is written on another
 * branch. This one is deliberately simple: linear probing over an array of
 * pointers to malloc'd entries, backward-shift deletion (no tombstones), and
 * a full rehash when the load passes 3/4. It keeps the contract of table.h,
 * which is all the engine relies on. Drop this commit at merge.
 */
#include "statestored/table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct tentry {
	size_t nlen, vlen;
	int64_t expire_ms;
	char data[]; /* name, then value */
};

struct ss_table {
	struct tentry **slots;
	size_t cap; /* a power of two */
	size_t count;
	size_t bytes; /* of all entries */
};

static uint64_t hash_name(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	while (n--) {
		h ^= (unsigned char)*p++;
		h *= 1099511628211ull;
	}
	return h;
}

static int expired(const struct tentry *e, int64_t now_ms)
{
	return e->expire_ms != 0 && now_ms >= e->expire_ms;
}

struct ss_table *ss_table_new(void)
{
	struct ss_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->cap = 16;
	t->slots = calloc(t->cap, sizeof(*t->slots));
	if (!t->slots) {
		free(t);
		errno = ENOMEM;
		return NULL;
	}
	return t;
}

void ss_table_free(struct ss_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->cap; i++)
		free(t->slots[i]);
	free(t->slots);
	free(t);
}

/* Returns the slot holding name, or the empty slot where it would go. */
static size_t find_slot(const struct ss_table *t, const char *name, size_t nlen)
{
	size_t mask = t->cap - 1;
	size_t i = (size_t)hash_name(name, nlen) & mask;

	while (t->slots[i]) {
		const struct tentry *e = t->slots[i];

		if (e->nlen == nlen && memcmp(e->data, name, nlen) == 0)
			return i;
		i = (i + 1) & mask;
	}
	return i;
}

static int grow(struct ss_table *t)
{
	size_t ncap = t->cap * 2;
	struct tentry **old = t->slots;
	size_t ocap = t->cap;

	t->slots = calloc(ncap, sizeof(*t->slots));
	if (!t->slots) {
		t->slots = old;
		errno = ENOMEM;
		return -1;
	}
	t->cap = ncap;
	for (size_t i = 0; i < ocap; i++) {
		if (old[i])
			t->slots[find_slot(t, old[i]->data, old[i]->nlen)] = old[i];
	}
	free(old);
	return 0;
}

/* Empties slot i and shifts later entries of its probe run back. */
static void remove_at(struct ss_table *t, size_t i)
{
	size_t mask = t->cap - 1;
	size_t j = i;

	t->bytes -= sizeof(struct tentry) + t->slots[i]->nlen + t->slots[i]->vlen;
	free(t->slots[i]);
	t->slots[i] = NULL;
	t->count--;
	for (;;) {
		j = (j + 1) & mask;
		if (!t->slots[j])
			return;
		size_t k = (size_t)hash_name(t->slots[j]->data, t->slots[j]->nlen) & mask;
		/* Move j back to the hole at i unless its home k lies in (i, j]. */
		int home_between = (i <= j) ? (k > i && k <= j) : (k > i || k <= j);
		if (!home_between) {
			t->slots[i] = t->slots[j];
			t->slots[j] = NULL;
			i = j;
		}
	}
}

int ss_table_set(struct ss_table *t, const char *name, size_t nlen, const char *value,
		 size_t vlen, int64_t expire_ms)
{
	struct tentry *e = malloc(sizeof(*e) + nlen + vlen);

	if (!e) {
		errno = ENOMEM;
		return -1;
	}
	e->nlen = nlen;
	e->vlen = vlen;
	e->expire_ms = expire_ms;
	memcpy(e->data, name, nlen);
	memcpy(e->data + nlen, value, vlen);
	if ((t->count + 1) * 4 > t->cap * 3 && grow(t) < 0) {
		free(e);
		return -1;
	}
	size_t i = find_slot(t, name, nlen);
	if (t->slots[i]) {
		t->bytes -= sizeof(struct tentry) + t->slots[i]->nlen + t->slots[i]->vlen;
		free(t->slots[i]);
	} else {
		t->count++;
	}
	t->slots[i] = e;
	t->bytes += sizeof(*e) + nlen + vlen;
	return 0;
}

static void fill(const struct tentry *e, struct ss_entry *out)
{
	out->name = e->data;
	out->nlen = e->nlen;
	out->value = e->data + e->nlen;
	out->vlen = e->vlen;
	out->expire_ms = e->expire_ms;
}

int ss_table_get(struct ss_table *t, const char *name, size_t nlen, int64_t now_ms,
		 struct ss_entry *out)
{
	size_t i = find_slot(t, name, nlen);

	if (!t->slots[i])
		return 0;
	if (expired(t->slots[i], now_ms)) {
		remove_at(t, i);
		return 0;
	}
	fill(t->slots[i], out);
	return 1;
}

int ss_table_del(struct ss_table *t, const char *name, size_t nlen, int64_t now_ms)
{
	size_t i = find_slot(t, name, nlen);

	if (!t->slots[i])
		return 0;
	int live = !expired(t->slots[i], now_ms);
	remove_at(t, i);
	return live;
}

size_t ss_table_count(const struct ss_table *t)
{
	return t->count;
}

size_t ss_table_memory(const struct ss_table *t)
{
	return sizeof(*t) + t->cap * sizeof(*t->slots) + t->bytes;
}

size_t ss_table_expire_some(struct ss_table *t, int64_t now_ms, size_t max_slots,
			    size_t *cursor)
{
	size_t removed = 0;
	size_t i = *cursor < t->cap ? *cursor : 0;

	for (size_t n = 0; n < max_slots; n++) {
		if (t->slots[i] && expired(t->slots[i], now_ms)) {
			remove_at(t, i); /* slot i may now hold a shifted entry */
			removed++;
			continue;
		}
		i = (i + 1) & (t->cap - 1);
	}
	*cursor = i;
	return removed;
}

int ss_table_next(const struct ss_table *t, size_t *cursor, struct ss_entry *out)
{
	for (size_t i = *cursor; i < t->cap; i++) {
		if (t->slots[i]) {
			fill(t->slots[i], out);
			*cursor = i + 1;
			return 1;
		}
	}
	*cursor = t->cap;
	return 0;
}
