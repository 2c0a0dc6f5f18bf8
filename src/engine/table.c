/*
 * table.c - the hash table from name to checkpoint (see table.h): where
 * entries are, and which one a name means. What one entry's bytes are, and
 * its history block, is entry.c's.
 *
 * Goal: about 40 bytes per entry for a 16-byte name and a 10-digit value, at
 * 10M+ entries, with no operation ever paying for a whole rehash, and a
 * revision and commit time per entry at no extra cost. Measured by
 * ss_table_memory at 1M such entries (names "pipeline-0000042", zero-padded
 * 10-digit values, revisions 1..1M, commit times spread over 11.6 days):
 * 40.4 bytes each with history depth 0 (32 of entry, 8.4 of slot array),
 * exactly what the table cost before it kept revisions and commit times;
 * 48.4 when each also has an expiry. With depth 4 and 4 overwrites per key:
 * 104.5 (40 of entry, 56 of history, 8.4 of slots) when each key's versions
 * are written one after another, as a snapshot load writes them; 192.5
 * held when every key is rewritten in rounds, because the slab keeps the
 * pages of the smaller history blocks each key passed through (entry.c).
 *
 * SLOTS. An open-addressing array of 4-byte slots, linear probing. A slot
 * holds 0 (empty) or the slab reference (slab.h) of an entry (entry.h). The
 * array length `cap` is a power of two and is kept at most half full: with
 * no hash tag in the slot, every occupied slot a probe passes costs a look
 * at its entry's name, and at load 1/2 a miss passes 1.5 of them on
 * average. Half-full 4-byte slots still cost less than three-quarters-full
 * 8-byte ones, 8 to 16 bytes per entry. That is the 8.4 above: 1M entries
 * sit in 2^21 slots (8 MiB), the smallest power of two they fill at most
 * half.
 *
 * Half is also what keeps a replay linear. The hash has no seed, and a
 * snapshot lists entries in the slot order of the table that wrote it; the
 * replaying table, smaller while it grows, receives them sweeping its own
 * slots in order and, once the sweep wraps, lays a second layer over the
 * first. Each layer has the writer's load, so two stay at most full only
 * if that is at most 1/2. At 5/8 (tried for issue 15, to fit 10M entries
 * in 2^24 slots) a 10M restart piled into one ever-longer cluster and ran
 * for minutes. A per-table random seed cured that, but cost the locality
 * that makes replay fast: slot writes in order, not at random (10M: 5.2-
 * 5.7 s instead of 3.3-3.9 s). So the limit stays 1/2, unseeded, and 10M
 * entries take 2^25 slots: 13.4 bytes each.
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
 * SCAN walks home buckets, not slots: deletion shifts entries between
 * slots, but never changes an entry's home (hash & mask), and every entry
 * homed at b sits in the run of occupied slots that starts at b. A cursor
 * position is a block of 2^k consecutive home buckets (the caller's k; the
 * whole array if it is smaller), visited in one pass over its slots and the
 * run that spills past its end, taking the entries homed in the block: a
 * slot of the block past an empty one holds an entry homed in the block,
 * so only the two runs that cross its edges need their names hashed, and
 * every entry is read about once. (Visiting single buckets, as Redis's
 * dictScan does, reads every entry of a bucket's run to check its home:
 * three entry reads, three cache misses, per entry listed at load 1/2.)
 * Block b of an array holds the entries whose hash has b in bits k and up,
 * under the array's mask, and the cursor goes through the blocks in
 * order, 0, 1, 2, ... That survives a resize because the table only ever
 * doubles: block b of an array of n blocks becomes blocks b and b + n of
 * the doubled one, so the blocks not yet visited (b at or past the cursor)
 * become blocks at or past it, and those already visited become blocks
 * before it or past it (visited again: an entry may be returned twice).
 * During a resize position v also visits the old array's block v (each of
 * its buckets probed as lookups probe it), if it has one; an entry that
 * moves to the main array moves to block v or v + n, never behind the
 * cursor. Redis's dictScan must survive shrinking too, so it counts in
 * reverse binary; a cursor that counts up does not, but it keeps a walk's
 * order the table's own: a snapshot taken in this order replays into a
 * growing table in one sweep (see above), while reverse-binary order
 * piled its first entries into the same few runs of the smaller table and
 * made a 10M restart six times slower (12.9 s against 2.0-2.2 s).
 *
 * EXPIRY is lazy (get, del and set remove what they find expired) plus
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
#include <sys/mman.h>

#include "engine/entry.h"

#define MIN_CAP 64
#define MIGRATE_STEP 16 /* old slots moved per set, del or expire_some */

#define SLOT_EMPTY 0u
#define SLOT_GONE UINT32_MAX /* tombstone, only ever in the old array */

struct ss_table {
	uint32_t *slots; /* main array, cap slots */
	size_t cap;
	uint32_t *old; /* NULL unless resizing */
	size_t old_cap;
	size_t moved;  /* old[0..moved) already moved */
	size_t count;
	uint64_t revision;
	struct ss_epoch *epochs; /* ascending by epoch; a handful in a lifetime */
	size_t nepochs, epoch_cap;
	struct ss_entries ents;
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

/* ---- slots -------------------------------------------------------------- */

static int is_expired(int64_t expire_ms, int64_t now_ms)
{
	return expire_ms != 0 && now_ms >= expire_ms;
}

static int entry_is(const struct ss_table *t, uint32_t ref, const char *name, size_t nlen)
{
	const char *n;
	size_t len;

	ss_entry_name(&t->ents, ref, &n, &len);
	return len == nlen && (nlen == 0 || memcmp(n, name, nlen) == 0);
}

static uint64_t entry_hash(const struct ss_table *t, uint32_t ref)
{
	const char *n;
	size_t len;

	ss_entry_name(&t->ents, ref, &n, &len);
	return hash_bytes(n, len);
}


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
 * slot or after visiting every live slot. Calls fn on each reference met
 * (tombstones included) until it returns nonzero; returns the slot where
 * it did, or old_cap. */
static size_t probe_old(const struct ss_table *t, size_t home,
			int (*fn)(void *arg, uint32_t ref), void *arg)
{
	size_t mask = t->old_cap - 1;
	size_t i = home;

	for (size_t left = t->old_cap - t->moved; left; left--) {
		if (i < t->moved)
			i = t->moved;
		uint32_t r = t->old[i];
		if (r == SLOT_EMPTY)
			break;
		if (fn(arg, r))
			return i;
		i = (i + 1) & mask;
	}
	return t->old_cap;
}

struct name_probe {
	const struct ss_table *t;
	const char *name;
	size_t nlen;
};

static int probe_is_name(void *arg, uint32_t ref)
{
	const struct name_probe *np = arg;
	return ref != SLOT_GONE && entry_is(np->t, ref, np->name, np->nlen);
}

static int find_old(const struct ss_table *t, uint64_t h, const char *name, size_t nlen,
		    struct pos *p)
{
	struct name_probe np = {t, name, nlen};
	size_t i = probe_old(t, h & (t->old_cap - 1), probe_is_name, &np);

	if (i == t->old_cap)
		return 0;
	*p = (struct pos){t->old, i, 1};
	return 1;
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

/* Removes and frees the entry at p, with its history. */
static void remove_at(struct ss_table *t, const struct pos *p)
{
	uint32_t ref = p->arr[p->i];

	if (p->in_old)
		p->arr[p->i] = SLOT_GONE;
	else
		unlink_main(t, p->i);
	ss_entry_drop(&t->ents, ref);
	t->count--;
}

/* Slot arrays. One of 2 MiB or more is mapped with a hint for huge pages:
 * a 1M-entry table's 8 MiB array is then 4 TLB entries, not 2048, and 4
 * page faults, not 2048. It is touched all over at once anyway (hashes
 * spread), so the hint costs no memory. */
#define HUGE_MIN (2u << 20)

static uint32_t *slots_alloc(size_t n)
{
	size_t bytes = n * sizeof(uint32_t);
	void *p;

	if (bytes < HUGE_MIN)
		return calloc(n, sizeof(uint32_t));
	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	(void)madvise(p, bytes, MADV_HUGEPAGE); /* a hint: without it, small pages */
	return p;
}

static void slots_free(uint32_t *p, size_t n)
{
	size_t bytes = n * sizeof(uint32_t);

	if (bytes < HUGE_MIN)
		free(p);
	else if (p)
		(void)munmap(p, bytes);
}

/* Moves up to n old slots into the main array; frees the old array when it
 * is empty. */
static void migrate(struct ss_table *t, size_t n)
{
	while (t->old && n--) {
		/* Moving an entry reads its name to hash it: a cache miss per
		 * entry, a million of them when a replay doubles a 1M table.
		 * The next step's entries are loaded while this one moves. */
		size_t ahead = t->moved + MIGRATE_STEP;
		if (ahead < t->old_cap && t->old[ahead] != SLOT_EMPTY && t->old[ahead] != SLOT_GONE)
			__builtin_prefetch(ss_slab_ptr(&t->ents.slab, t->old[ahead]));
		uint32_t r = t->old[t->moved];
		/* Emptied, though never read again: no stale reference to a
		 * freed chunk is left for a bug to follow. */
		t->old[t->moved++] = SLOT_EMPTY;
		if (r != SLOT_EMPTY && r != SLOT_GONE)
			insert_main(t, entry_hash(t, r), r);
		if (t->moved == t->old_cap) {
			slots_free(t->old, t->old_cap);
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
	uint32_t *slots = slots_alloc(t->cap * 2);
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

struct ss_table *ss_table_new(unsigned history)
{
	struct ss_table *t;

	if (history > SS_HISTORY_MAX) {
		errno = EINVAL;
		return NULL;
	}
	t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->slots = calloc(MIN_CAP, sizeof *t->slots);
	if (!t->slots) {
		free(t);
		return NULL;
	}
	t->cap = MIN_CAP;
	ss_entries_init(&t->ents, history);
	return t;
}

static void free_heap(struct ss_table *t, const uint32_t *arr, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		if (arr[i] != SLOT_EMPTY && arr[i] != SLOT_GONE)
			ss_entry_free_heap(&t->ents, arr[i]);
}

void ss_table_free(struct ss_table *t)
{
	if (!t)
		return;
	free_heap(t, t->slots, 0, t->cap);
	if (t->old)
		free_heap(t, t->old, t->moved, t->old_cap);
	ss_entries_free(&t->ents);
	slots_free(t->slots, t->cap);
	slots_free(t->old, t->old_cap);
	free(t->epochs);
	free(t);
}

unsigned ss_table_history_depth(const struct ss_table *t)
{
	return t->ents.depth;
}

static int insert(struct ss_table *t, uint64_t h, const struct ss_entry *e)
{
	uint32_t ref = ss_entry_new(&t->ents, e);
	if (!ref)
		return -1;
	if (t->count + 1 > t->cap / 2 && grow(t) < 0) {
		ss_entry_drop(&t->ents, ref);
		errno = ENOMEM;
		return -1;
	}
	insert_main(t, h, ref);
	t->count++;
	return 0;
}

void ss_table_prefetch(const struct ss_table *t, const char *name, size_t nlen, int stage)
{
	size_t i = hash_bytes(name, nlen) & (t->cap - 1);

	if (stage == 0) {
		__builtin_prefetch(&t->slots[i]);
	} else if (t->slots[i] != SLOT_EMPTY) {
		__builtin_prefetch(ss_slab_ptr(&t->ents.slab, t->slots[i]));
	}
}

/* ss_table_set, and with newer_only ss_table_set_newer: returns 1 if it
 * left an entry whose revision is not older than rev as it was. */
static int set_entry(struct ss_table *t, const struct ss_entry *e, int64_t now_ms, int newer_only)
{
	uint64_t h = hash_bytes(e->name, e->nlen);
	struct pos p;
	int rc;

	migrate(t, MIGRATE_STEP);
	if (find(t, h, e->name, e->nlen, &p)) {
		uint32_t *slot = &p.arr[p.i];
		if (newer_only && ss_entry_rev(&t->ents, *slot) >= e->rev) {
			ss_table_note_revision(t, e->rev);
			return 1;
		}
		int live = !is_expired(ss_entry_expiry(&t->ents, *slot), now_ms);
		rc = ss_entry_replace(&t->ents, slot, e, live);
	} else {
		rc = insert(t, h, e);
	}
	if (rc < 0)
		return -1;
	/* Only now, so that a failed set changes nothing. */
	ss_entries_note_commit(&t->ents, e->commit_ms);
	ss_table_note_revision(t, e->rev);
	return 0;
}

int ss_table_set(struct ss_table *t, const char *name, size_t nlen, const char *value,
		 size_t vlen, int64_t expire_ms, uint64_t rev, int64_t commit_ms, int64_t now_ms)
{
	const struct ss_entry e = {.name = name, .nlen = nlen, .value = value, .vlen = vlen,
				   .expire_ms = expire_ms, .rev = rev, .commit_ms = commit_ms};

	return set_entry(t, &e, now_ms, 0);
}

int ss_table_set_newer(struct ss_table *t, const struct ss_entry *e, int64_t now_ms)
{
	return set_entry(t, e, now_ms, 1);
}

uint64_t ss_table_revision(const struct ss_table *t)
{
	return t->revision;
}

void ss_table_note_revision(struct ss_table *t, uint64_t rev)
{
	if (rev > t->revision)
		t->revision = rev;
}

int ss_table_note_epoch(struct ss_table *t, uint64_t epoch, uint64_t rev)
{
	size_t i = t->nepochs;

	/* Epochs arrive in rising order (a log holds them so), so the place
	 * is almost always the end: search from there. */
	while (i > 0 && t->epochs[i - 1].epoch > epoch)
		i--;
	if (i > 0 && t->epochs[i - 1].epoch == epoch)
		return 0;
	if (t->nepochs == t->epoch_cap) {
		size_t cap = t->epoch_cap ? 2 * t->epoch_cap : 4;
		struct ss_epoch *p = realloc(t->epochs, cap * sizeof(*p));
		if (!p) {
			errno = ENOMEM;
			return -1;
		}
		t->epochs = p;
		t->epoch_cap = cap;
	}
	memmove(&t->epochs[i + 1], &t->epochs[i], (t->nepochs - i) * sizeof(*t->epochs));
	t->epochs[i] = (struct ss_epoch){.epoch = epoch, .rev = rev};
	t->nepochs++;
	return 0;
}

uint64_t ss_table_epoch(const struct ss_table *t)
{
	return t->nepochs ? t->epochs[t->nepochs - 1].epoch : 0;
}

size_t ss_table_epochs(const struct ss_table *t, const struct ss_epoch **out)
{
	*out = t->epochs;
	return t->nepochs;
}

size_t ss_table_history(const struct ss_table *t, const char *name, size_t nlen, int64_t now_ms,
			struct ss_version *out, size_t max)
{
	struct pos p;

	if (!max || !find(t, hash_bytes(name, nlen), name, nlen, &p))
		return 0;
	uint32_t ref = p.arr[p.i];
	if (is_expired(ss_entry_expiry(&t->ents, ref), now_ms))
		return 0;
	return ss_entry_history(&t->ents, ref, out, max);
}

int ss_table_get(struct ss_table *t, const char *name, size_t nlen, int64_t now_ms,
		 struct ss_entry *out)
{
	struct pos p;

	if (!find(t, hash_bytes(name, nlen), name, nlen, &p))
		return 0;
	if (is_expired(ss_entry_expiry(&t->ents, p.arr[p.i]), now_ms)) {
		remove_at(t, &p);
		return 0;
	}
	if (out)
		ss_entry_read(&t->ents, p.arr[p.i], out);
	return 1;
}

int ss_table_del(struct ss_table *t, const char *name, size_t nlen, int64_t now_ms)
{
	struct pos p;

	migrate(t, MIGRATE_STEP);
	if (!find(t, hash_bytes(name, nlen), name, nlen, &p))
		return 0;
	int64_t exp = ss_entry_expiry(&t->ents, p.arr[p.i]);
	remove_at(t, &p);
	return !is_expired(exp, now_ms);
}

size_t ss_table_count(const struct ss_table *t)
{
	return t->count;
}

size_t ss_table_memory(const struct ss_table *t)
{
	return sizeof *t + (t->cap + t->old_cap) * sizeof *t->slots +
	       ss_entries_memory(&t->ents);
}

size_t ss_table_scan_block_for(const struct ss_table *t, size_t bytes, size_t max)
{
	/* Buckets per byte of entries, on average: cap over the entries'
	 * memory (slabs and values, not the slot arrays). */
	size_t ents = ss_entries_memory(&t->ents);
	size_t block = 1;

	while (block < max && (double)block * 2 * (double)ents <= (double)bytes * (double)t->cap)
		block *= 2;
	return block;
}

int ss_table_resizing(const struct ss_table *t)
{
	return t->old != NULL;
}

/* Removes the entry at p if it is expired. Returns 1 if it did. */
static int expire_at(struct ss_table *t, const struct pos *p, int64_t now_ms)
{
	uint32_t r = p->arr[p->i];

	if (r == SLOT_EMPTY || r == SLOT_GONE || !is_expired(ss_entry_expiry(&t->ents, r), now_ms))
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

/* ---- scan ------------------------------------------------------------------ */

struct scan {
	const struct ss_table *t;
	const char *prefix;
	size_t plen;
	int64_t now_ms;
	int (*fn)(void *arg, const struct ss_entry *e);
	void *arg;
	size_t block; /* home buckets per cursor position, at most */
	size_t home;  /* the old array's bucket being visited */
	size_t mask;  /* of the old array */
	int stop;     /* fn asked to stop */
};

/* Passes the entry ref to fn if it is live and named with the prefix. */
static void scan_emit(struct scan *s, uint32_t ref)
{
	struct ss_entry e;

	ss_entry_read(&s->t->ents, ref, &e);
	if (is_expired(e.expire_ms, s->now_ms) || e.nlen < s->plen ||
	    (s->plen && memcmp(e.name, s->prefix, s->plen) != 0))
		return;
	if (s->fn(s->arg, &e))
		s->stop = 1;
}

/* probe_old's callback: emits ref if it is homed at the bucket being
 * visited. Returns 0: the probe is to go on. */
static int scan_old_ref(void *arg, uint32_t ref)
{
	struct scan *s = arg;

	if (ref != SLOT_GONE && (entry_hash(s->t, ref) & s->mask) == s->home)
		scan_emit(s, ref);
	return 0;
}

/* The home buckets of one block of an array of cap slots. */
static size_t block_len(const struct scan *s, size_t cap)
{
	return cap < s->block ? cap : s->block;
}

/* Visits block v of the main array: the entries homed in its buckets
 * [lo, lo + n). They sit in slots from lo to the first empty slot at or
 * after lo + n. One read of each slot in order, and of each entry met: an
 * entry in a slot of the block past an empty slot of the block is homed
 * there (its probe run starts after that empty slot), so only the run that
 * crosses into the block at lo and the one that spills out past its end
 * need their homes checked. */
static void scan_main(struct scan *s, uint64_t v)
{
	const struct ss_table *t = s->t;
	size_t mask = t->cap - 1, n = block_len(s, t->cap);
	size_t lo = (size_t)v * n;
	int check = n < t->cap; /* a block of the whole array holds every home */

	for (size_t off = 0; off < t->cap; off++) {
		size_t i = (lo + off) & mask;
		uint32_t r = t->slots[i];
		uint32_t ahead = t->slots[(i + 4) & mask];
		if (ahead != SLOT_EMPTY)
			__builtin_prefetch(ss_slab_ptr(&t->ents.slab, ahead));
		if (r == SLOT_EMPTY) {
			if (off >= n)
				break;
			check = 0;
			continue;
		}
		if ((off < n && !check) || ((entry_hash(t, r) - lo) & mask) < n)
			scan_emit(s, r);
	}
}

/* Visits block v of the old array: each of its buckets, probed as lookups
 * probe the old array (only while a resize runs). */
static void scan_old(struct scan *s, uint64_t v)
{
	size_t n = block_len(s, s->t->old_cap);

	s->mask = s->t->old_cap - 1;
	for (size_t b = (size_t)v * n; b < (size_t)v * n + n; b++) {
		s->home = b;
		probe_old(s->t, b, scan_old_ref, s);
	}
}

/* The mask of block numbers of an array of cap slots. */
static uint64_t block_mask(const struct scan *s, size_t cap)
{
	return cap / block_len(s, cap) - 1;
}

/* Visits one cursor position and returns the next, 0 after the last. A
 * position is a block of the main array; while resizing, position v
 * visits the old array's block v as well, if it has one: the old array's
 * blocks before v were visited before the resize began (as main blocks),
 * or since. */
static uint64_t scan_step(struct scan *s, uint64_t v)
{
	const struct ss_table *t = s->t;
	uint64_t m1 = block_mask(s, t->cap);

	v &= m1;
	if (t->old && v <= block_mask(s, t->old_cap))
		scan_old(s, v);
	scan_main(s, v);
	return v == m1 ? 0 : v + 1;
}

/* buckets counts home buckets; at least one block is visited, so that a
 * call always makes progress and 0 keeps meaning "done". */
uint64_t ss_table_scan(const struct ss_table *t, uint64_t cursor, size_t block, size_t buckets,
		       const char *prefix, size_t plen, int64_t now_ms,
		       int (*fn)(void *arg, const struct ss_entry *e), void *arg)
{
	struct scan s = {t, prefix, plen, now_ms, fn, arg, block ? block : 1, 0, 0, 0};
	const uint64_t pos_mask = (UINT64_C(1) << SS_SCAN_POS_BITS) - 1;

	while (s.block & (s.block - 1))
		s.block &= s.block - 1; /* a power of two: the highest in block */
	size_t blocks = buckets / block_len(&s, t->cap);
	/* log2 of the main array's block count, kept in the cursor above the
	 * position: a table with fewer blocks than the cursor was issued for
	 * (one rebuilt smaller by a restart) may hold the blocks not yet
	 * visited anywhere, so the walk starts over there. */
	unsigned lg = (unsigned)__builtin_ctzll(block_mask(&s, t->cap) + 1);
	unsigned issued = (unsigned)(cursor >> SS_SCAN_POS_BITS) & 63;
	uint64_t v = issued > lg + 1 ? 0 : cursor & pos_mask;

	if (!blocks)
		blocks = 1;
	do
		v = scan_step(&s, v);
	while (v && --blocks && !s.stop);
	return v ? v | (uint64_t)(lg + 1) << SS_SCAN_POS_BITS : 0;
}

int ss_table_next(const struct ss_table *t, size_t *cursor, struct ss_entry *out)
{
	size_t i = *cursor;

	for (; i < t->cap; i++) {
		if (t->slots[i] != SLOT_EMPTY) {
			ss_entry_read(&t->ents, t->slots[i], out);
			*cursor = i + 1;
			return 1;
		}
	}
	if (t->old) {
		size_t o = i - t->cap;
		for (o = o < t->moved ? t->moved : o; o < t->old_cap; o++) {
			if (t->old[o] != SLOT_EMPTY && t->old[o] != SLOT_GONE) {
				ss_entry_read(&t->ents, t->old[o], out);
				*cursor = t->cap + o + 1;
				return 1;
			}
		}
	}
	*cursor = t->cap + t->old_cap;
	return 0;
}
