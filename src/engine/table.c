/*
 * table.c - the hash table from name to checkpoint (see table.h).
 *
 * Goal: about 40 bytes per entry for a 16-byte name and a 10-byte value, at
 * 10M+ entries, with no operation ever paying for a whole rehash. Measured
 * at 1M such entries: 40.4 bytes each by ss_table_memory (32 of entry, 8.4
 * of slot array), 48.4 when each also has an expiry; RSS agrees within 1%.
 *
 * SLOTS. An open-addressing array of 4-byte slots, linear probing. A slot
 * holds 0 (empty) or the slab reference (slab.h) of an entry. The array
 * length `cap` is a power of two and is kept at most half full: with no hash
 * tag in the slot, every occupied slot a probe passes costs a look at its
 * entry, and at load 1/2 a miss passes 1.5 of them on average. Half-full
 * 4-byte slots still cost less than three-quarters-full 8-byte ones, 8 to 16
 * bytes per entry.
 *
 * ENTRIES. Each entry is one slab chunk, its size rounded up to 8:
 *
 *     meta (4 bytes) | expire_ms (8, only if META_EXP) | name | value
 *
 * meta packs the name length (bits 0-10), the value length (bits 11-21) and
 * two flags. Multi-byte fields are read with memcpy: they are unaligned. A
 * name and value that do not fit a chunk of SS_SLAB_CHUNK_MAX bytes live in
 * a malloc'd `struct big` instead, and the chunk (META_BIG, lengths 0) holds
 * meta, the optional expiry and a pointer to it. Overwriting a name with a
 * value that keeps the entry's chunk size and expiry flag rewrites the value
 * in place; any other overwrite allocates the new entry before freeing the
 * old, so a failed allocation leaves the old one, and a value that points
 * into the old entry is still readable while it is copied.
 *
 * DELETION. Backward shift, no tombstones: after emptying slot i, each later
 * entry of the cluster that may legally sit at i (its home slot is not
 * cyclically within (i, j]) moves back into the hole, until an empty slot
 * ends the cluster. So probe lengths never degrade with churn.
 *
 * RESIZE. When an insert would pass load 1/2, a zeroed array of twice the
 * length becomes the main array and the previous one becomes `old`. Every
 * set, del and expire_some then moves the next MIGRATE_STEP old slots
 * (old[moved..]) into the main array. Invariants while `old` exists:
 *   - a name is in at most one of the two arrays;
 *   - old[0..moved) is empty and never read; inserts go to the main array;
 *   - the old array's clusters above `moved` are exactly as they were, except
 *     that deleted entries there become tombstones (SLOT_GONE) instead of
 *     being shifted. A probe in the old array therefore starts at
 *     max(home, moved) and wraps to `moved` rather than 0: the part of any
 *     cluster below `moved` has been moved away, the rest is intact;
 *   - count <= cap / 2 still holds, so the main array has room for every
 *     entry of both. Moving 16 slots per insert empties an old array of
 *     cap/2 slots in cap/32 inserts, long before the cap/4 inserts that
 *     could fill the main array; should it not be done, the next grow
 *     finishes it first.
 * Lookups check the main array, then the old one. Entries never move in
 * memory: a resize moves only 4-byte references, so ss_entry pointers
 * survive it, and a get of a live entry changes nothing at all.
 *
 * EXPIRY is lazy (get and del remove what they find expired) plus
 * ss_table_expire_some, which walks slot indices of the main array from a
 * cursor and, during a resize, the old slot at the same index modulo the
 * old length.
 *
 * Slabs are not returned to the system when entries go, and the slot array
 * never shrinks: memory is sized for the peak entry count.
 *
 * The hash is seeded with a constant, so an adversary who controls names
 * could make them collide; names come from clients trusted to be the
 * owners' pipelines.
 */
#include "statestored/table.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/slab.h"

#define MIN_CAP 64
#define MIGRATE_STEP 16 /* old slots moved per set, del or expire_some */

#define SLOT_EMPTY 0u
#define SLOT_GONE UINT32_MAX /* tombstone, only ever in the old array */

#define META_LEN_BITS 11
#define META_LEN_MASK ((1u << META_LEN_BITS) - 1)
#define META_EXP (1u << 22)
#define META_BIG (1u << 23)

struct big {
	size_t nlen;
	size_t vlen;
	char data[]; /* name, then value */
};

struct ss_table {
	uint32_t *slots; /* main array, cap slots */
	size_t cap;
	uint32_t *old; /* NULL unless resizing */
	size_t old_cap;
	size_t moved;  /* old[0..moved) already moved */
	size_t count;
	size_t big_bytes; /* malloc'd struct big bytes */
	struct ss_slab slab;
};

/* ---- hashing ---------------------------------------------------------- */

static uint64_t rotl64(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

/* Folds one 8-byte word into the state. For a fixed state the map from word
 * to new state is a bijection (odd multiply, xor-shift, xor, odd multiply,
 * rotate), so two keys differing in one word cannot collide there. */
static uint64_t hash_fold(uint64_t h, uint64_t w)
{
	w *= 0x6a09e667f3bcc909u;
	w ^= w >> 31;
	h ^= w;
	h *= 0xbb67ae8584caa73bu;
	return rotl64(h, 27);
}

/* 64-bit hash of n bytes: the length seeds the state, words are folded in,
 * and a multiply-xorshift finalizer spreads every input bit over the low
 * bits that pick the slot. The constants are the fractional bits of pi and
 * of the square roots of 2, 3, 5 and 7 (made odd): any odd, irregular
 * multiplier mixes; these show nothing was tuned in. */
static uint64_t hash_bytes(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	uint64_t h = 0x243f6a8885a308d3u ^ ((uint64_t)n * 0x9e3779b97f4a7c15u);
	uint64_t w;

	for (; n >= 8; p += 8, n -= 8) {
		memcpy(&w, p, 8);
		h = hash_fold(h, w);
	}
	if (n) {
		w = 0;
		memcpy(&w, p, n);
		h = hash_fold(h, w);
	}
	h ^= h >> 32;
	h *= 0x3c6ef372fe94f82bu;
	h ^= h >> 29;
	h *= 0xa54ff53a5f1d36f1u;
	h ^= h >> 32;
	return h;
}

/* ---- entries ---------------------------------------------------------- */

static int is_expired(int64_t expire_ms, int64_t now_ms)
{
	return expire_ms != 0 && now_ms >= expire_ms;
}

static uint32_t entry_meta(const struct ss_table *t, uint32_t ref)
{
	uint32_t meta;
	memcpy(&meta, ss_slab_ptr(&t->slab, ref), sizeof meta);
	return meta;
}

static size_t meta_head(uint32_t meta)
{
	return 4 + ((meta & META_EXP) ? 8 : 0);
}

/* The chunk size an entry was allocated with. */
static size_t meta_chunk(uint32_t meta)
{
	if (meta & META_BIG)
		return meta_head(meta) + sizeof(struct big *);
	return meta_head(meta) + (meta & META_LEN_MASK) + ((meta >> META_LEN_BITS) & META_LEN_MASK);
}

static struct big *entry_big(const char *chunk, uint32_t meta)
{
	struct big *b;
	memcpy(&b, chunk + meta_head(meta), sizeof b);
	return b;
}

static void entry_read(const struct ss_table *t, uint32_t ref, struct ss_entry *e)
{
	const char *p = ss_slab_ptr(&t->slab, ref);
	uint32_t meta;

	memcpy(&meta, p, sizeof meta);
	e->expire_ms = 0;
	if (meta & META_EXP)
		memcpy(&e->expire_ms, p + 4, sizeof e->expire_ms);
	if (meta & META_BIG) {
		const struct big *b = entry_big(p, meta);
		e->name = b->data;
		e->nlen = b->nlen;
		e->value = b->data + b->nlen;
		e->vlen = b->vlen;
	} else {
		e->name = p + meta_head(meta);
		e->nlen = meta & META_LEN_MASK;
		e->value = e->name + e->nlen;
		e->vlen = (meta >> META_LEN_BITS) & META_LEN_MASK;
	}
}

static int entry_is(const struct ss_table *t, uint32_t ref, const char *name, size_t nlen)
{
	struct ss_entry e;
	entry_read(t, ref, &e);
	return e.nlen == nlen && (nlen == 0 || memcmp(e.name, name, nlen) == 0);
}

static uint64_t entry_hash(const struct ss_table *t, uint32_t ref)
{
	struct ss_entry e;
	entry_read(t, ref, &e);
	return hash_bytes(e.name, e.nlen);
}

static void copy_bytes(char *dst, const char *src, size_t n)
{
	if (n)
		memmove(dst, src, n);
}

/* Returns the reference of a new entry holding copies of name and value, or
 * 0 with errno ENOMEM. */
static uint32_t entry_new(struct ss_table *t, const char *name, size_t nlen, const char *value,
			  size_t vlen, int64_t expire_ms)
{
	uint32_t meta = expire_ms ? META_EXP : 0;
	size_t head = meta_head(meta);
	struct big *b = NULL;
	size_t size;

	if (nlen <= SS_SLAB_CHUNK_MAX && vlen <= SS_SLAB_CHUNK_MAX &&
	    head + nlen + vlen <= SS_SLAB_CHUNK_MAX) {
		meta |= (uint32_t)nlen | (uint32_t)vlen << META_LEN_BITS;
		size = head + nlen + vlen;
	} else {
		if (nlen > SIZE_MAX - sizeof *b || vlen > SIZE_MAX - sizeof *b - nlen) {
			errno = ENOMEM;
			return 0;
		}
		b = malloc(sizeof *b + nlen + vlen);
		if (!b)
			return 0;
		b->nlen = nlen;
		b->vlen = vlen;
		copy_bytes(b->data, name, nlen);
		copy_bytes(b->data + nlen, value, vlen);
		meta |= META_BIG;
		size = head + sizeof b;
	}
	uint32_t ref = ss_slab_alloc(&t->slab, size);
	if (!ref) {
		free(b);
		errno = ENOMEM;
		return 0;
	}
	char *p = ss_slab_ptr(&t->slab, ref);
	memcpy(p, &meta, sizeof meta);
	if (expire_ms)
		memcpy(p + 4, &expire_ms, sizeof expire_ms);
	if (b) {
		memcpy(p + head, &b, sizeof b);
		t->big_bytes += sizeof *b + nlen + vlen;
	} else {
		copy_bytes(p + head, name, nlen);
		copy_bytes(p + head + nlen, value, vlen);
	}
	return ref;
}

/* Replaces the value and expiry of the entry in place when that needs no
 * new chunk: a small entry whose layout up to the value stays the same.
 * Returns 1 if it did, 0 if the caller must allocate a new entry. memmove,
 * because value may point into this very entry. */
static int entry_rewrite(struct ss_table *t, uint32_t ref, const char *value, size_t vlen,
			 int64_t expire_ms)
{
	char *p = ss_slab_ptr(&t->slab, ref);
	uint32_t meta;

	memcpy(&meta, p, sizeof meta);
	if ((meta & META_BIG) || !(meta & META_EXP) != !expire_ms)
		return 0;
	uint32_t nmeta = (meta & ~(META_LEN_MASK << META_LEN_BITS)) | (uint32_t)vlen << META_LEN_BITS;
	if (vlen > SS_SLAB_CHUNK_MAX || (meta_chunk(meta) + 7) / 8 != (meta_chunk(nmeta) + 7) / 8)
		return 0;
	size_t head = meta_head(meta);
	copy_bytes(p + head + (meta & META_LEN_MASK), value, vlen);
	memcpy(p, &nmeta, sizeof nmeta);
	if (expire_ms)
		memcpy(p + 4, &expire_ms, sizeof expire_ms);
	return 1;
}

static void entry_drop(struct ss_table *t, uint32_t ref)
{
	char *p = ss_slab_ptr(&t->slab, ref);
	uint32_t meta;

	memcpy(&meta, p, sizeof meta);
	if (meta & META_BIG) {
		struct big *b = entry_big(p, meta);
		t->big_bytes -= sizeof *b + b->nlen + b->vlen;
		free(b);
	}
	ss_slab_release(&t->slab, ref, meta_chunk(meta));
}

/* ---- slots -------------------------------------------------------------- */

/* Where a name was found. */
struct pos {
	uint32_t *arr;
	size_t i;
	int in_old;
};

static int find_main(const struct ss_table *t, uint64_t h, const char *name, size_t nlen,
		     struct pos *p)
{
	size_t mask = t->cap - 1;

	for (size_t i = h & mask;; i = (i + 1) & mask) {
		uint32_t r = t->slots[i];
		if (r == SLOT_EMPTY)
			return 0;
		if (entry_is(t, r, name, nlen)) {
			*p = (struct pos){t->slots, i, 0};
			return 1;
		}
	}
}

/* Probes the old array's live part old[moved..old_cap) as the file comment
 * describes: start at max(home, moved), wrap to moved, stop at an empty
 * slot or after visiting every live slot. */
static int find_old(const struct ss_table *t, uint64_t h, const char *name, size_t nlen,
		    struct pos *p)
{
	size_t mask = t->old_cap - 1;
	size_t i = h & mask;

	for (size_t left = t->old_cap - t->moved; left; left--) {
		if (i < t->moved)
			i = t->moved;
		uint32_t r = t->old[i];
		if (r == SLOT_EMPTY)
			return 0;
		if (r != SLOT_GONE && entry_is(t, r, name, nlen)) {
			*p = (struct pos){t->old, i, 1};
			return 1;
		}
		i = (i + 1) & mask;
	}
	return 0;
}

static int find(const struct ss_table *t, uint64_t h, const char *name, size_t nlen,
		struct pos *p)
{
	return find_main(t, h, name, nlen, p) || (t->old && find_old(t, h, name, nlen, p));
}

/* Puts ref in the main array; its name must not be in the table. */
static void insert_main(struct ss_table *t, uint64_t h, uint32_t ref)
{
	size_t mask = t->cap - 1;
	size_t i = h & mask;

	while (t->slots[i] != SLOT_EMPTY)
		i = (i + 1) & mask;
	t->slots[i] = ref;
}

/* Empties main slot i by backward shift (see the file comment). */
static void unlink_main(struct ss_table *t, size_t i)
{
	size_t mask = t->cap - 1;

	for (size_t j = (i + 1) & mask; t->slots[j] != SLOT_EMPTY; j = (j + 1) & mask) {
		size_t home = entry_hash(t, t->slots[j]) & mask;
		/* Distances back from j: if home is no farther than the hole,
		 * home lies in (i, j] and the entry must stay. */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			t->slots[i] = t->slots[j];
			i = j;
		}
	}
	t->slots[i] = SLOT_EMPTY;
}

/* Removes and frees the entry at p. */
static void remove_at(struct ss_table *t, const struct pos *p)
{
	uint32_t ref = p->arr[p->i];

	if (p->in_old)
		p->arr[p->i] = SLOT_GONE;
	else
		unlink_main(t, p->i);
	entry_drop(t, ref);
	t->count--;
}

/* Moves up to n old slots into the main array; frees the old array when it
 * is empty. */
static void migrate(struct ss_table *t, size_t n)
{
	while (t->old && n--) {
		uint32_t r = t->old[t->moved];
		/* Emptied, though never read again: no stale reference to a
		 * freed chunk is left for a bug to follow. */
		t->old[t->moved++] = SLOT_EMPTY;
		if (r != SLOT_EMPTY && r != SLOT_GONE)
			insert_main(t, entry_hash(t, r), r);
		if (t->moved == t->old_cap) {
			free(t->old);
			t->old = NULL;
			t->old_cap = 0;
			t->moved = 0;
		}
	}
}

/* Starts a resize to twice the length. Returns 0, or -1 with errno ENOMEM
 * and nothing changed but a finished earlier resize. */
static int grow(struct ss_table *t)
{
	migrate(t, SIZE_MAX);
	if (t->cap > SIZE_MAX / 2 / sizeof *t->slots) {
		errno = ENOMEM;
		return -1;
	}
	uint32_t *slots = calloc(t->cap * 2, sizeof *slots);
	if (!slots)
		return -1;
	t->old = t->slots;
	t->old_cap = t->cap;
	t->moved = 0;
	t->slots = slots;
	t->cap *= 2;
	return 0;
}

/* ---- the interface -------------------------------------------------------- */

struct ss_table *ss_table_new(void)
{
	struct ss_table *t = calloc(1, sizeof *t);

	if (!t)
		return NULL;
	t->slots = calloc(MIN_CAP, sizeof *t->slots);
	if (!t->slots) {
		free(t);
		return NULL;
	}
	t->cap = MIN_CAP;
	ss_slab_init(&t->slab);
	return t;
}

static void free_bigs(struct ss_table *t, const uint32_t *arr, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++) {
		if (arr[i] != SLOT_EMPTY && arr[i] != SLOT_GONE &&
		    (entry_meta(t, arr[i]) & META_BIG))
			free(entry_big(ss_slab_ptr(&t->slab, arr[i]), entry_meta(t, arr[i])));
	}
}

void ss_table_free(struct ss_table *t)
{
	if (!t)
		return;
	free_bigs(t, t->slots, 0, t->cap);
	if (t->old)
		free_bigs(t, t->old, t->moved, t->old_cap);
	ss_slab_free(&t->slab);
	free(t->slots);
	free(t->old);
	free(t);
}

int ss_table_set(struct ss_table *t, const char *name, size_t nlen, const char *value,
		 size_t vlen, int64_t expire_ms)
{
	uint64_t h = hash_bytes(name, nlen);
	struct pos p;
	uint32_t ref;

	migrate(t, MIGRATE_STEP);
	if (find(t, h, name, nlen, &p)) {
		if (entry_rewrite(t, p.arr[p.i], value, vlen, expire_ms))
			return 0;
		ref = entry_new(t, name, nlen, value, vlen, expire_ms);
		if (!ref)
			return -1;
		uint32_t prev = p.arr[p.i];
		p.arr[p.i] = ref;
		entry_drop(t, prev);
		return 0;
	}
	ref = entry_new(t, name, nlen, value, vlen, expire_ms);
	if (!ref)
		return -1;
	if (t->count + 1 > t->cap / 2 && grow(t) < 0) {
		entry_drop(t, ref);
		errno = ENOMEM;
		return -1;
	}
	insert_main(t, h, ref);
	t->count++;
	return 0;
}

int ss_table_get(struct ss_table *t, const char *name, size_t nlen, int64_t now_ms,
		 struct ss_entry *out)
{
	struct ss_entry e;
	struct pos p;

	if (!find(t, hash_bytes(name, nlen), name, nlen, &p))
		return 0;
	entry_read(t, p.arr[p.i], &e);
	if (is_expired(e.expire_ms, now_ms)) {
		remove_at(t, &p);
		return 0;
	}
	if (out)
		*out = e;
	return 1;
}

int ss_table_del(struct ss_table *t, const char *name, size_t nlen, int64_t now_ms)
{
	struct ss_entry e;
	struct pos p;

	migrate(t, MIGRATE_STEP);
	if (!find(t, hash_bytes(name, nlen), name, nlen, &p))
		return 0;
	entry_read(t, p.arr[p.i], &e);
	remove_at(t, &p);
	return !is_expired(e.expire_ms, now_ms);
}

size_t ss_table_count(const struct ss_table *t)
{
	return t->count;
}

size_t ss_table_memory(const struct ss_table *t)
{
	return sizeof *t + (t->cap + t->old_cap) * sizeof *t->slots + ss_slab_memory(&t->slab) +
	       t->big_bytes;
}

int ss_table_resizing(const struct ss_table *t)
{
	return t->old != NULL;
}

/* Removes the entry at p if it is expired. Returns 1 if it did. */
static int expire_at(struct ss_table *t, const struct pos *p, int64_t now_ms)
{
	uint32_t r = p->arr[p->i];
	struct ss_entry e;

	if (r == SLOT_EMPTY || r == SLOT_GONE)
		return 0;
	entry_read(t, r, &e);
	if (!is_expired(e.expire_ms, now_ms))
		return 0;
	remove_at(t, p);
	return 1;
}

size_t ss_table_expire_some(struct ss_table *t, int64_t now_ms, size_t max_slots,
			    size_t *cursor)
{
	size_t removed = 0;
	size_t i;

	migrate(t, MIGRATE_STEP);
	i = *cursor & (t->cap - 1);
	while (max_slots--) {
		struct pos p = {t->slots, i, 0};
		if (expire_at(t, &p, now_ms)) {
			/* The backward shift may have pulled a later entry into
			 * slot i: look at it again before moving on. */
			removed++;
			continue;
		}
		if (t->old && (i & (t->old_cap - 1)) >= t->moved) {
			p = (struct pos){t->old, i & (t->old_cap - 1), 1};
			removed += (size_t)expire_at(t, &p, now_ms);
		}
		i = (i + 1) & (t->cap - 1);
	}
	*cursor = i;
	return removed;
}

int ss_table_next(const struct ss_table *t, size_t *cursor, struct ss_entry *out)
{
	size_t i = *cursor;

	for (; i < t->cap; i++) {
		if (t->slots[i] != SLOT_EMPTY) {
			entry_read(t, t->slots[i], out);
			*cursor = i + 1;
			return 1;
		}
	}
	if (t->old) {
		size_t o = i - t->cap;
		for (o = o < t->moved ? t->moved : o; o < t->old_cap; o++) {
			if (t->old[o] != SLOT_EMPTY && t->old[o] != SLOT_GONE) {
				entry_read(t, t->old[o], out);
				*cursor = t->cap + o + 1;
				return 1;
			}
		}
	}
	*cursor = t->cap + t->old_cap;
	return 0;
}
