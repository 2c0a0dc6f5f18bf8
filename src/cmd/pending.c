/*
 * pending.c - the staged state of names, for conditions; see pending.h.
 *
 * A chained hash of nodes, one per staged change, newest first within a
 * bucket, so a name's newest node is the first found and an undo (pop) or
 * the end of a batch (every node it tagged goes) uncovers the state staged
 * before it. The nodes are few - at most the ops of two batches - and the
 * bucket array grows to keep about one node per bucket.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/pending.h"

struct ss_pending_entry {
	struct ss_pending_entry *next;
	const struct ss_batch *b;
	uint64_t hash;
	struct ss_pending_state st;
	size_t nlen;
	char bytes[]; /* name, then value */
};

/* FNV-1a: the map is small and short-lived; any decent spread will do. */
static uint64_t hash_name(const char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325u;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 0x100000001b3u;
	}
	return h;
}

void ss_pending_init(struct ss_pending *p, uint64_t rev)
{
	memset(p, 0, sizeof(*p));
	p->rev = rev;
}

void ss_pending_free(struct ss_pending *p)
{
	for (size_t i = 0; i < p->nbuckets; i++) {
		struct ss_pending_entry *e = p->buckets[i], *next;
		for (; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(p->buckets);
	p->buckets = NULL;
	p->nbuckets = p->count = 0;
}

static struct ss_pending_entry *find(const struct ss_pending *p, const char *name, size_t nlen,
				     uint64_t h, struct ss_pending_entry ***link)
{
	if (!p->nbuckets)
		return NULL;
	struct ss_pending_entry **l = &p->buckets[h & (p->nbuckets - 1)];
	for (; *l; l = &(*l)->next) {
		struct ss_pending_entry *e = *l;
		if (e->hash == h && e->nlen == nlen && memcmp(e->bytes, name, nlen) == 0) {
			if (link)
				*link = l;
			return e;
		}
	}
	return NULL;
}

int ss_pending_get(const struct ss_pending *p, const char *name, size_t nlen,
		   struct ss_pending_state *st)
{
	struct ss_pending_entry *e = find(p, name, nlen, hash_name(name, nlen), NULL);

	if (!e)
		return 0;
	*st = e->st;
	return 1;
}

uint64_t ss_pending_next(const struct ss_pending *p)
{
	return p->rev + 1;
}

void ss_pending_take(struct ss_pending *p, const struct ss_batch *b)
{
	int free_slot = -1;

	for (int i = 0; i < 2; i++) {
		if (p->starts[i].b == b)
			goto take;
		if (!p->starts[i].b && free_slot < 0)
			free_slot = i;
	}
	/* b's first revision. There is always a free slot: at most two
	 * batches are unapplied, and each frees its slot when it ends. */
	if (free_slot >= 0) {
		p->starts[free_slot].b = b;
		p->starts[free_slot].base = p->rev;
	}
take:
	p->rev++;
}

/* Doubles the bucket array when it holds as many nodes as buckets. */
static int grow(struct ss_pending *p)
{
	size_t n = p->nbuckets ? 2 * p->nbuckets : 64;
	struct ss_pending_entry **nb;

	if (p->count < p->nbuckets)
		return 0;
	nb = calloc(n, sizeof(*nb));
	if (!nb)
		return -1;
	/* Rehash keeping each chain's order, so newest stays first. */
	for (size_t i = 0; i < p->nbuckets; i++) {
		struct ss_pending_entry *e = p->buckets[i], *next;
		for (; e; e = next) {
			next = e->next;
			struct ss_pending_entry **l = &nb[e->hash & (n - 1)];
			while (*l)
				l = &(*l)->next;
			e->next = NULL;
			*l = e;
		}
	}
	free(p->buckets);
	p->buckets = nb;
	p->nbuckets = n;
	return 0;
}

int ss_pending_put(struct ss_pending *p, const struct ss_batch *b, const char *name, size_t nlen,
		   const struct ss_pending_state *st)
{
	size_t vlen = st->rev ? st->vlen : 0;
	struct ss_pending_entry *e;

	if (grow(p) < 0 || !(e = malloc(sizeof(*e) + nlen + vlen))) {
		errno = ENOMEM;
		return -1;
	}
	e->b = b;
	e->hash = hash_name(name, nlen);
	e->nlen = nlen;
	e->st = *st;
	memcpy(e->bytes, name, nlen);
	if (vlen)
		memcpy(e->bytes + nlen, st->value, vlen);
	e->st.value = e->bytes + nlen;
	e->st.vlen = vlen;
	struct ss_pending_entry **head = &p->buckets[e->hash & (p->nbuckets - 1)];
	e->next = *head;
	*head = e;
	p->count++;
	return 0;
}

void ss_pending_pop(struct ss_pending *p, const char *name, size_t nlen)
{
	struct ss_pending_entry **link, *e = find(p, name, nlen, hash_name(name, nlen), &link);

	if (!e)
		return;
	*link = e->next;
	free(e);
	p->count--;
}

void ss_pending_done(struct ss_pending *p, const struct ss_batch *b, int written)
{
	for (size_t i = 0; i < p->nbuckets && p->count; i++) {
		struct ss_pending_entry **l = &p->buckets[i];
		while (*l) {
			struct ss_pending_entry *e = *l;
			if (e->b == b) {
				*l = e->next;
				free(e);
				p->count--;
			} else {
				l = &e->next;
			}
		}
	}
	for (int i = 0; i < 2; i++) {
		if (p->starts[i].b != b)
			continue;
		/* None of a refused batch's revisions was acknowledged - every
		 * reply it owed, a CONFLICT included, is the write's error -
		 * and nothing was staged after it, so they are handed out
		 * again. */
		if (!written)
			p->rev = p->starts[i].base;
		p->starts[i].b = NULL;
	}
}
