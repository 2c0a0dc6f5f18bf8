/*
 * pending.c - the staged state of names, for conditions; see pending.h.
 *
 * A chained hash over the staged ops of the (at most two) unapplied
 * batches. A node is 16 bytes - chain links, the op's index, the name's
 * hash - kept in an array per batch that is emptied, not freed, when the
 * batch ends: the name, revision, value and expiry are read from the op
 * and the batch's bytes, never copied, and staging a write allocates
 * nothing once the arrays have grown to the largest batch. A node ref is
 * the batch slot in bit 31 and the index plus one below it; 0 is none.
 *
 * Chains are newest first, so a name's newest node is the first found, and
 * an undo (pop) or a batch's end uncovers the state staged before. Chains
 * are doubly linked, so a batch's end costs its own nodes, not the size of
 * the bucket array (which grew for the largest batch ever).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/pending.h"
#include "statestored/limits.h"
#include "statestored/record.h"

#define REF_SLOT 0x80000000u

/* FNV-1a: the index is small and short-lived; any decent spread will do. */
static uint32_t hash_name(const char *p, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 16777619u;
	}
	return h;
}

void ss_pending_init(struct ss_pending *p, uint64_t rev)
{
	memset(p, 0, sizeof(*p));
	p->rev = rev;
}

static struct ss_watched **watch_slot(const struct ss_pending *p, const char *name, size_t nlen)
{
	struct ss_watched **w = &p->watch[hash_name(name, nlen) & (p->watch_buckets - 1)];

	while (*w && ((*w)->nlen != nlen || memcmp((*w)->name, name, nlen) != 0))
		w = &(*w)->next;
	return w;
}

/* Doubles the watch hash once it holds two names a bucket, so a chain
 * stays short however many names are watched. */
static int watch_grow(struct ss_pending *p)
{
	size_t nb = p->watch_buckets ? 2 * p->watch_buckets : 256;
	struct ss_watched **t;

	if (p->watch && p->nwatch < 2 * p->watch_buckets)
		return 0;
	if (!(t = calloc(nb, sizeof(*t))))
		return p->watch ? 0 : -1; /* longer chains, still correct */
	for (size_t i = 0; i < p->watch_buckets; i++) {
		while (p->watch[i]) {
			struct ss_watched *w = p->watch[i];
			p->watch[i] = w->next;
			size_t h = hash_name(w->name, w->nlen) & (nb - 1);
			w->next = t[h];
			t[h] = w;
		}
	}
	free(p->watch);
	p->watch = t;
	p->watch_buckets = nb;
	return 0;
}

int ss_pending_watch(struct ss_pending *p, const char *name, size_t nlen)
{
	if (watch_grow(p) < 0)
		return -1;
	struct ss_watched **slot = watch_slot(p, name, nlen);
	if (*slot) {
		(*slot)->refs++;
		return 0;
	}
	struct ss_watched *w = malloc(sizeof(*w) + nlen);
	if (!w)
		return -1;
	w->next = NULL;
	w->touched = 0;
	w->refs = 1;
	w->nlen = nlen;
	memcpy(w->name, name, nlen);
	*slot = w;
	p->nwatch++;
	return 0;
}

void ss_pending_unwatch(struct ss_pending *p, const char *name, size_t nlen)
{
	struct ss_watched **slot = p->watch ? watch_slot(p, name, nlen) : NULL;

	if (!slot || !*slot || --(*slot)->refs > 0)
		return;
	struct ss_watched *w = *slot;
	*slot = w->next;
	free(w);
	p->nwatch--;
}

uint64_t ss_pending_touched(const struct ss_pending *p, const char *name, size_t nlen)
{
	struct ss_watched **slot = p->watch ? watch_slot(p, name, nlen) : NULL;

	return slot && *slot ? (*slot)->touched : 0;
}

void ss_pending_free(struct ss_pending *p)
{
	for (size_t i = 0; p->watch && i < p->watch_buckets; i++) {
		while (p->watch[i]) {
			struct ss_watched *w = p->watch[i];
			p->watch[i] = w->next;
			free(w);
		}
	}
	free(p->watch);
	free(p->buckets);
	free(p->batches[0].nodes);
	free(p->batches[1].nodes);
	memset(p, 0, sizeof(*p));
}

static struct ss_pending_node *node(const struct ss_pending *p, uint32_t ref)
{
	return &p->batches[ref >> 31].nodes[(ref & ~REF_SLOT) - 1];
}

static const struct ss_op *node_op(const struct ss_pending *p, uint32_t ref,
				   const struct ss_batch **b)
{
	*b = p->batches[ref >> 31].b;
	return &(*b)->ops[node(p, ref)->op];
}

/* Whether the op's name (as the batch holds it) is name[0..nlen). */
static int op_is(const struct ss_batch *b, const struct ss_op *op, const char *name, size_t nlen)
{
	char raw[SS_NAME_MAX];

	if (op->nraw != nlen)
		return 0;
	if (!(op->esc & SS_REC_NAME_ESC))
		return memcmp(b->buf + op->name_off, name, nlen) == 0;
	ss_record_unescape(b->buf + op->name_off, op->nlen, raw);
	return memcmp(raw, name, nlen) == 0;
}

/* The ref of the k-th newest node of name, or 0. */
static uint32_t find(const struct ss_pending *p, const char *name, size_t nlen, size_t k)
{
	uint32_t h = hash_name(name, nlen);
	const struct ss_batch *b;

	if (!p->nbuckets)
		return 0;
	for (uint32_t r = p->buckets[h & (p->nbuckets - 1)]; r; r = node(p, r)->next) {
		if (node(p, r)->hash != h)
			continue;
		const struct ss_op *op = node_op(p, r, &b);
		if (op_is(b, op, name, nlen) && k-- == 0)
			return r;
	}
	return 0;
}

int ss_pending_each_name(const struct ss_pending *p,
			 int (*fn)(void *arg, const char *name, size_t nlen), void *arg)
{
	char raw[SS_NAME_MAX];

	for (int s = 0; s < 2; s++) {
		const struct ss_batch *b = p->batches[s].b;
		for (size_t i = 0; b && i < p->batches[s].n; i++) {
			const struct ss_op *op = &b->ops[p->batches[s].nodes[i].op];
			const char *name = b->buf + op->name_off;
			if (op->esc & SS_REC_NAME_ESC) {
				ss_record_unescape(name, op->nlen, raw);
				name = raw;
			}
			if (fn(arg, name, op->nraw) < 0)
				return -1;
		}
	}
	return 0;
}

int ss_pending_nth(const struct ss_pending *p, const char *name, size_t nlen, size_t k,
		   struct ss_pending_state *st)
{
	uint32_t r = find(p, name, nlen, k);
	const struct ss_batch *b;

	if (!r)
		return 0;
	const struct ss_op *op = node_op(p, r, &b);
	st->rev = op->type == SS_REC_SET ? op->rev : 0;
	st->value = b->buf + op->value_off;
	st->vlen = op->vlen;
	st->value_esc = (op->esc & SS_REC_VALUE_ESC) != 0;
	st->expire_ms = op->expire_ms;
	return 1;
}

int ss_pending_get(const struct ss_pending *p, const char *name, size_t nlen,
		   struct ss_pending_state *st)
{
	return ss_pending_nth(p, name, nlen, 0, st);
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
			p->batches[i].seq = ++p->seq;
			p->batches[i].took = 0;
			p->batches[i].n = 0;
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

/* Puts ref at the head of its bucket's chain. */
static void link_node(struct ss_pending *p, uint32_t ref)
{
	struct ss_pending_node *n = node(p, ref);
	uint32_t *head = &p->buckets[n->hash & (p->nbuckets - 1)];

	n->prev = 0;
	n->next = *head;
	if (n->next)
		node(p, n->next)->prev = ref;
	*head = ref;
}

static void unlink_node(struct ss_pending *p, uint32_t ref)
{
	struct ss_pending_node *n = node(p, ref);

	if (n->prev)
		node(p, n->prev)->next = n->next;
	else
		p->buckets[n->hash & (p->nbuckets - 1)] = n->next;
	if (n->next)
		node(p, n->next)->prev = n->prev;
	p->count--;
}

/* Doubles the bucket array once it holds as many nodes as buckets. The
 * nodes are linked again oldest first (the older batch, then each batch in
 * staging order), so every chain stays newest first. */
static int grow(struct ss_pending *p)
{
	size_t n = p->nbuckets ? 2 * p->nbuckets : 64;
	uint32_t *nb;

	if (p->count < p->nbuckets)
		return 0;
	if (!(nb = calloc(n, sizeof(*nb))))
		return -1;
	free(p->buckets);
	p->buckets = nb;
	p->nbuckets = n;
	int first = p->batches[1].b && (!p->batches[0].b || p->batches[1].seq < p->batches[0].seq);
	for (int k = 0; k < 2; k++) {
		int s = k == 0 ? first : !first;
		for (size_t i = 0; p->batches[s].b && i < p->batches[s].n; i++)
			link_node(p, (uint32_t)s << 31 | (uint32_t)(i + 1));
	}
	return 0;
}

int ss_pending_put(struct ss_pending *p, const struct ss_batch *b, size_t op, const char *name,
		   size_t nlen)
{
	int s = slot_of(p, b, 1);

	if (s < 0 || grow(p) < 0)
		goto nomem;
	if (p->batches[s].n == p->batches[s].cap) {
		size_t cap = p->batches[s].cap ? 2 * p->batches[s].cap : 256;
		struct ss_pending_node *q = realloc(p->batches[s].nodes, cap * sizeof(*q));
		if (!q)
			goto nomem;
		p->batches[s].nodes = q;
		p->batches[s].cap = cap;
	}
	if (p->nwatch) {
		struct ss_watched **w = watch_slot(p, name, nlen);
		if (*w)
			(*w)->touched = p->rev + 1; /* the revision this record takes */
	}
	struct ss_pending_node *n = &p->batches[s].nodes[p->batches[s].n++];
	n->op = (uint32_t)op;
	n->hash = hash_name(name, nlen);
	p->count++;
	link_node(p, (uint32_t)s << 31 | (uint32_t)p->batches[s].n);
	return 0;
nomem:
	errno = ENOMEM;
	return -1;
}

void ss_pending_pop(struct ss_pending *p, const char *name, size_t nlen)
{
	uint32_t r = find(p, name, nlen, 0);

	/* The newest put of all is its batch's last node. */
	if (!r || (r & ~REF_SLOT) != p->batches[r >> 31].n)
		return;
	unlink_node(p, r);
	p->batches[r >> 31].n--;
}

void ss_pending_mark(struct ss_pending *p, const struct ss_batch *b, struct ss_pending_mark *m)
{
	int s = slot_of(p, b, 0);

	m->rev = p->rev;
	m->n = s < 0 ? 0 : p->batches[s].n;
	m->took = s < 0 ? 0 : p->batches[s].took;
	m->base = s < 0 ? 0 : p->batches[s].base;
}

void ss_pending_rewind(struct ss_pending *p, const struct ss_batch *b,
		       const struct ss_pending_mark *m)
{
	int s = slot_of(p, b, 0);

	if (s >= 0) {
		/* Newest first: each node is its chain's head when unlinked. */
		while (p->batches[s].n > m->n) {
			unlink_node(p, (uint32_t)s << 31 | (uint32_t)p->batches[s].n);
			p->batches[s].n--;
		}
		p->batches[s].took = m->took;
		if (m->took)
			p->batches[s].base = m->base;
	}
	p->rev = m->rev;
}

void ss_pending_done(struct ss_pending *p, const struct ss_batch *b, int written)
{
	int s = slot_of(p, b, 0);

	if (s < 0)
		return;
	for (size_t i = 0; i < p->batches[s].n; i++)
		unlink_node(p, (uint32_t)s << 31 | (uint32_t)(i + 1));
	/* None of a refused batch's revisions was acknowledged - every reply
	 * it owed, a CONFLICT included, is the write's error - and nothing
	 * was staged after it, so they are handed out again. */
	if (!written)
		p->failures++; /* a WATCH that saw them may see them reused */
	if (!written && p->batches[s].took)
		p->rev = p->batches[s].base;
	p->batches[s].b = NULL;
	p->batches[s].n = 0;
}

void ss_pending_set_rev(struct ss_pending *p, uint64_t rev)
{
	p->rev = rev;
}
