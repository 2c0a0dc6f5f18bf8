/*
 * pending.c - the staged state of names, for conditions; see pending.h.
 *
 * A chained hash of nodes, one per staged change, newest first within a
 * bucket, so a name's newest node is the first found and an undo (pop) or
 * the end of a batch (every node it staged goes) uncovers the state staged
 * before it. Chains are doubly linked and each batch keeps its own list of
 * nodes, so ending a batch costs its own changes, not the size of the
 * bucket array (which grew for the largest batch ever and never shrinks).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/pending.h"

struct ss_pending_entry {
	struct ss_pending_entry *next, **pprev; /* the bucket's chain */
	struct ss_pending_entry *bnext;         /* the batch's list */
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

static void unlink_entry(struct ss_pending *p, struct ss_pending_entry *e)
{
	*e->pprev = e->next;
	if (e->next)
		e->next->pprev = e->pprev;
	p->count--;
	free(e);
}

void ss_pending_free(struct ss_pending *p)
{
	for (int i = 0; i < 2; i++) {
		struct ss_pending_entry *e = p->batches[i].nodes, *next;
		for (; e; e = next) {
			next = e->bnext;
			free(e);
		}
	}
	free(p->buckets);
	memset(p, 0, sizeof(*p));
}

static struct ss_pending_entry *find(const struct ss_pending *p, const char *name, size_t nlen)
{
	uint64_t h = hash_name(name, nlen);

	if (!p->nbuckets)
		return NULL;
	for (struct ss_pending_entry *e = p->buckets[h & (p->nbuckets - 1)]; e; e = e->next)
		if (e->hash == h && e->nlen == nlen && memcmp(e->bytes, name, nlen) == 0)
			return e;
	return NULL;
}

int ss_pending_get(const struct ss_pending *p, const char *name, size_t nlen,
		   struct ss_pending_state *st)
{
	struct ss_pending_entry *e = find(p, name, nlen);

	if (!e)
		return 0;
	*st = e->st;
	return 1;
}

int ss_pending_nth(const struct ss_pending *p, const char *name, size_t nlen, size_t k,
		   struct ss_pending_state *st)
{
	struct ss_pending_entry *e = find(p, name, nlen);
	uint64_t h = e ? e->hash : 0;

	/* A name's nodes share a bucket, newest first; others may sit
	 * between them. */
	for (; e; e = e->next) {
		if (e->hash != h || e->nlen != nlen || memcmp(e->bytes, name, nlen) != 0)
			continue;
		if (k-- == 0) {
			*st = e->st;
			return 1;
		}
	}
	return 0;
}

/* b's slot; with create, a free one is taken for it. There is always one:
 * at most two batches are unapplied, and each frees its slot at its end. */
static int slot_of(struct ss_pending *p, const struct ss_batch *b, int create)
{
	for (int i = 0; i < 2; i++)
		if (p->batches[i].b == b)
			return i;
	for (int i = 0; create && i < 2; i++) {
		if (!p->batches[i].b) {
			p->batches[i].b = b;
			p->batches[i].base = p->rev;
			p->batches[i].took = 0;
			p->batches[i].nodes = NULL;
			return i;
		}
	}
	return -1;
}

uint64_t ss_pending_next(const struct ss_pending *p)
{
	return p->rev + 1;
}

void ss_pending_take(struct ss_pending *p, const struct ss_batch *b)
{
	int i = slot_of(p, b, 1);

	if (i >= 0 && !p->batches[i].took) {
		p->batches[i].took = 1;
		p->batches[i].base = p->rev;
	}
	p->rev++;
}

/* Puts e at the head of its bucket's chain. */
static void link_entry(struct ss_pending_entry **head, struct ss_pending_entry *e)
{
	e->next = *head;
	if (e->next)
		e->next->pprev = &e->next;
	e->pprev = head;
	*head = e;
}

/* Doubles the bucket array once it holds as many nodes as buckets. The
 * chains are rebuilt oldest first, so each stays newest first. */
static int grow(struct ss_pending *p)
{
	size_t n = p->nbuckets ? 2 * p->nbuckets : 64;
	struct ss_pending_entry **nb, **order;
	size_t k = 0;

	if (p->count < p->nbuckets)
		return 0;
	nb = calloc(n, sizeof(*nb));
	order = malloc((p->count ? p->count : 1) * sizeof(*order));
	if (!nb || !order) {
		free(nb);
		free(order);
		return -1;
	}
	for (size_t i = 0; i < p->nbuckets; i++)
		for (struct ss_pending_entry *e = p->buckets[i]; e; e = e->next)
			order[k++] = e;
	/* Within a chain, order[] has newest first; relinking from the end
	 * puts the oldest in first and the newest on top. */
	while (k-- > 0)
		link_entry(&nb[order[k]->hash & (n - 1)], order[k]);
	free(order);
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
	int slot;

	if (grow(p) < 0 || (slot = slot_of(p, b, 1)) < 0 ||
	    !(e = malloc(sizeof(*e) + nlen + vlen))) {
		errno = ENOMEM;
		return -1;
	}
	e->hash = hash_name(name, nlen);
	e->nlen = nlen;
	e->st = *st;
	memcpy(e->bytes, name, nlen);
	if (vlen)
		memcpy(e->bytes + nlen, st->value, vlen);
	e->st.value = e->bytes + nlen;
	e->st.vlen = vlen;
	link_entry(&p->buckets[e->hash & (p->nbuckets - 1)], e);
	e->bnext = p->batches[slot].nodes;
	p->batches[slot].nodes = e;
	p->count++;
	return 0;
}

void ss_pending_pop(struct ss_pending *p, const char *name, size_t nlen)
{
	struct ss_pending_entry *e = find(p, name, nlen);

	/* The newest put for name is the newest of its batch too: a command
	 * takes back its own puts, last first, before anything else runs. */
	for (int i = 0; e && i < 2; i++) {
		if (p->batches[i].b && p->batches[i].nodes == e) {
			p->batches[i].nodes = e->bnext;
			unlink_entry(p, e);
			return;
		}
	}
}

void ss_pending_done(struct ss_pending *p, const struct ss_batch *b, int written)
{
	int i = slot_of(p, b, 0);
	struct ss_pending_entry *e, *next;

	if (i < 0)
		return;
	for (e = p->batches[i].nodes; e; e = next) {
		next = e->bnext;
		unlink_entry(p, e);
	}
	/* None of a refused batch's revisions was acknowledged - every reply
	 * it owed, a CONFLICT included, is the write's error - and nothing
	 * was staged after it, so they are handed out again. */
	if (!written && p->batches[i].took)
		p->rev = p->batches[i].base;
	p->batches[i].b = NULL;
	p->batches[i].nodes = NULL;
}
