/*
 * table.c - the hash table from name to checkpoint (see table.h).
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
 * held when every key is rewritten in rounds (see HISTORY).
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
 *     meta (4) | expire_ms (8, if META_EXP) | history (4, if META_HIST) |
 *     name | value | rev (1-8) | commit time (1-8)
 *
 * meta packs the name length (bits 0-9), the value length (bits 10-20),
 * four flags and the byte counts of the last two fields (bits 25-27 and
 * 28-30, less one). Multi-byte fields are read with memcpy: they are
 * unaligned. The encodings exist to keep the common entry at 32 bytes:
 *   - value: a value of 1..40 ASCII digits (META_DIGITS; the length is the
 *     digit count, leading zeros included) is stored two digits a byte, so
 *     "0000000042" takes 5 bytes, and is unpacked into ss_entry.buf on
 *     read. Any other value is stored as its raw bytes.
 *   - rev: little-endian in as few bytes as hold it. Because meta carries
 *     the count, no byte spends a bit on continuation as LEB128 does: 3
 *     bytes hold revisions below 2^24 (16.7M), where LEB128 stops at 2^21.
 *   - commit time: the zigzag of its difference from the table's time base
 *     (the first commit_ms the table ever stored), little-endian the same
 *     way: 3 bytes within 2^23 ms (2.3 hours) of the base, 4 bytes within
 *     24.8 days, up to 8 bytes beyond. The base is fixed for the table's
 *     life, so a table that runs for weeks pays a fifth byte.
 * So 4 + 16 + 5 + 3 + 4 = 32 bytes for the measured entry while revisions
 * stay below 16.7M and commits within 24.8 days of the base; past either
 * it is 33, which rounds to a 40-byte chunk.
 * A name and value that do not fit a chunk of SS_SLAB_CHUNK_MAX bytes (or
 * a name over 1023 bytes) live in a malloc'd `struct big` with plain rev and
 * commit_ms fields instead, and the chunk (META_BIG, lengths 0) holds meta,
 * the optional expiry and history reference, and a pointer to it.
 * Overwriting a name with an entry that keeps the chunk size, the expiry
 * and history flags rewrites it in place; any other overwrite allocates the
 * new entry before freeing the old, so a failed allocation leaves the old
 * one, and a value that points into the old entry is still readable while
 * it is copied.
 *
 * HISTORY. With depth 0 an entry has no history field at all. With depth
 * N > 0, an entry that has earlier versions holds (META_HIST) the slab
 * reference of a history block: a 4-byte header (the length, and
 * HIST_EXT) and the versions, newest first, each as
 *
 *     zigzag(newer rev - rev) | zigzag(newer commit_ms - commit_ms) |
 *     value length << 1 | packed | value (packed digits or raw)
 *
 * in LEB128 varints, each difference taken from the next newer version (the
 * entry itself for the first). Pushing a version therefore writes only its
 * own bytes and copies the others unchanged, and a key written every few
 * seconds pays 1-3 bytes for each delta. A block too big for a chunk is
 * malloc'd and the chunk holds its address (HIST_EXT). A set builds the new
 * block (copying the kept versions: O(history bytes) a set, 12 bytes a
 * version for the measured entry) before anything changes, so ENOMEM still
 * leaves the table unchanged. Depth 4 costs 4 more bytes of entry (a 40
 * byte chunk) and a 56-byte block: 4 + 4 * (3 + 3 + 1 + 5) for keys
 * rewritten once per million revisions within seconds. On its way to full
 * depth a block passes through the 24-, 32- and 48-byte chunk sizes, and
 * the slab keeps pages with their size: if all 1M keys climb together
 * (rewritten in rounds) those pages stay, 192.5 bytes held per entry for
 * 104.5 used; once at full depth, further writes add nothing. Giving
 * wholly free pages back is slab.c's to learn.
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
 * homed at b sits in the run of occupied slots that starts at b. So a
 * bucket is visited by probing from b to the first empty slot and taking
 * the entries whose home is b. Buckets go in Redis's reverse-binary cursor
 * order (dict.c, dictScan), which survives the mask doubling between calls.
 * During a resize a cursor position visits the old array's bucket (probed
 * as lookups probe it) and the two main-array buckets it expands to, as
 * dictScan does while rehashing: wherever an entry with those low hash bits
 * sits, it is seen.
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

#include "engine/slab.h"

#define MIN_CAP 64
#define MIGRATE_STEP 16 /* old slots moved per set, del or expire_some */

#define SLOT_EMPTY 0u
#define SLOT_GONE UINT32_MAX /* tombstone, only ever in the old array */

#define META_NLEN_MASK 0x3ffu /* bits 0-9: name length */
#define META_VLEN_SHIFT 10     /* bits 10-20: value length (digits if packed) */
#define META_VLEN_MASK 0x7ffu
#define META_EXP (1u << 21)
#define META_BIG (1u << 22)
#define META_DIGITS (1u << 23)
#define META_HIST (1u << 24)
#define META_REV_SHIFT 25 /* bits 25-27: bytes of rev, less one */
#define META_MS_SHIFT 28  /* bits 28-30: bytes of the commit time, less one */

/* The longest digit value stored packed: it must unpack into ss_entry.buf. */
#define DIGITS_MAX 40

#define HIST_EXT 0x80000000u /* history header: the block is malloc'd */
#define HIST_LEN_MAX 0x7fffffffu

struct big {
	size_t nlen;
	size_t vlen;
	uint64_t rev;
	int64_t commit_ms;
	char data[]; /* name, then value */
};

struct ss_table {
	uint32_t *slots; /* main array, cap slots */
	size_t cap;
	uint32_t *old; /* NULL unless resizing */
	size_t old_cap;
	size_t moved;  /* old[0..moved) already moved */
	size_t count;
	size_t big_bytes;  /* malloc'd struct big bytes */
	size_t hist_bytes; /* malloc'd history block bytes */
	unsigned depth;    /* earlier versions kept per entry */
	uint64_t revision;
	int64_t base_ms; /* commit times are stored relative to it */
	int has_base;
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

/* ---- encodings ---------------------------------------------------------- */

/* Zigzag: differences are taken modulo 2^64, so every pair of 64-bit
 * numbers round-trips, and a small difference of either sign encodes
 * small. */
static uint64_t zz_enc(uint64_t d)
{
	return (d << 1) ^ (0 - (d >> 63));
}

static uint64_t zz_dec(uint64_t z)
{
	return (z >> 1) ^ (0 - (z & 1));
}

/* Bytes that hold x little-endian, at least 1. */
static unsigned le_len(uint64_t x)
{
	unsigned n = 1;

	while (n < 8 && (x >> (8 * n)))
		n++;
	return n;
}

static void le_put(char *p, uint64_t x, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (char)(x >> (8 * i));
}

static uint64_t le_get(const char *p, unsigned n)
{
	uint64_t x = 0;

	for (unsigned i = 0; i < n; i++)
		x |= (uint64_t)(unsigned char)p[i] << (8 * i);
	return x;
}

static size_t varint_len(uint64_t x)
{
	size_t n = 1;

	for (; x >= 0x80; x >>= 7)
		n++;
	return n;
}

static char *varint_put(char *p, uint64_t x)
{
	for (; x >= 0x80; x >>= 7)
		*p++ = (char)(x | 0x80);
	*p++ = (char)x;
	return p;
}

static const char *varint_get(const char *p, uint64_t *x)
{
	unsigned char c;
	int shift = 0;

	*x = 0;
	do {
		c = (unsigned char)*p++;
		*x |= (uint64_t)(c & 0x7f) << shift;
		shift += 7;
	} while (c & 0x80);
	return p;
}

/* Returns 1 if value is 1..DIGITS_MAX ASCII digits, stored packed. Looks at
 * no byte of a longer value, so a length too large to allocate is never
 * read. */
static int is_digits(const char *value, size_t vlen)
{
	if (vlen == 0 || vlen > DIGITS_MAX)
		return 0;
	for (size_t i = 0; i < vlen; i++)
		if ((unsigned char)value[i] < '0' || (unsigned char)value[i] > '9')
			return 0;
	return 1;
}

static size_t packed_len(size_t digits)
{
	return (digits + 1) / 2;
}

/* Digit i goes in the low nibble of byte i/2 if i is even, the high one if
 * odd. Packed in a local buffer first, so src may overlap dst. */
static void digits_pack(char *dst, const char *src, size_t n)
{
	unsigned char tmp[DIGITS_MAX / 2] = {0};

	for (size_t i = 0; i < n; i++)
		tmp[i / 2] |= (unsigned char)(((unsigned char)src[i] - '0') << (4 * (i & 1)));
	memcpy(dst, tmp, packed_len(n));
}

static void digits_unpack(char *dst, const char *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = (char)('0' + (((unsigned char)src[i / 2] >> (4 * (i & 1))) & 0xf));
}

static void copy_bytes(char *dst, const char *src, size_t n)
{
	if (n)
		memmove(dst, src, n);
}

/* ---- entries ---------------------------------------------------------- */

static int is_expired(int64_t expire_ms, int64_t now_ms)
{
	return expire_ms != 0 && now_ms >= expire_ms;
}

/* What is to be written for one set: the caller's arguments, and how they
 * encode (rec_shape). */
struct rec {
	const char *name;
	size_t nlen;
	const char *value;
	size_t vlen;
	int64_t expire_ms;
	uint64_t rev;
	int64_t commit_ms;
	uint32_t meta;
	size_t size; /* chunk bytes */
	uint64_t zms; /* commit_ms as stored: zigzag from the base */
};

static uint32_t entry_meta(const struct ss_table *t, uint32_t ref)
{
	uint32_t meta;
	memcpy(&meta, ss_slab_ptr(&t->slab, ref), sizeof meta);
	return meta;
}

static size_t meta_head(uint32_t meta)
{
	return 4 + ((meta & META_EXP) ? 8 : 0) + ((meta & META_HIST) ? 4 : 0);
}

static size_t meta_nlen(uint32_t meta)
{
	return meta & META_NLEN_MASK;
}

static size_t meta_vlen(uint32_t meta)
{
	return (meta >> META_VLEN_SHIFT) & META_VLEN_MASK;
}

/* Bytes the value takes in the chunk. */
static size_t meta_vstored(uint32_t meta)
{
	return (meta & META_DIGITS) ? packed_len(meta_vlen(meta)) : meta_vlen(meta);
}

static unsigned meta_revlen(uint32_t meta)
{
	return ((meta >> META_REV_SHIFT) & 7) + 1;
}

static unsigned meta_mslen(uint32_t meta)
{
	return ((meta >> META_MS_SHIFT) & 7) + 1;
}

/* The chunk size an entry was allocated with. */
static size_t meta_chunk(uint32_t meta)
{
	if (meta & META_BIG)
		return meta_head(meta) + sizeof(struct big *);
	return meta_head(meta) + meta_nlen(meta) + meta_vstored(meta) + meta_revlen(meta) +
	       meta_mslen(meta);
}

static int64_t table_base(const struct ss_table *t, int64_t commit_ms)
{
	return t->has_base ? t->base_ms : commit_ms;
}

static struct big *entry_big(const char *chunk, uint32_t meta)
{
	struct big *b;
	memcpy(&b, chunk + meta_head(meta), sizeof b);
	return b;
}

/* The history block reference of an entry, 0 if it has none. */
static uint32_t entry_hist(const struct ss_table *t, uint32_t ref)
{
	const char *p = ss_slab_ptr(&t->slab, ref);
	uint32_t meta, h;

	memcpy(&meta, p, sizeof meta);
	if (!(meta & META_HIST))
		return 0;
	memcpy(&h, p + meta_head(meta) - 4, sizeof h);
	return h;
}

static void entry_name(const struct ss_table *t, uint32_t ref, const char **name, size_t *nlen)
{
	const char *p = ss_slab_ptr(&t->slab, ref);
	uint32_t meta;

	memcpy(&meta, p, sizeof meta);
	if (meta & META_BIG) {
		const struct big *b = entry_big(p, meta);
		*name = b->data;
		*nlen = b->nlen;
	} else {
		*name = p + meta_head(meta);
		*nlen = meta_nlen(meta);
	}
}

/* Decodes the value, revision and commit time of an entry; a packed value
 * is unpacked into buf (DIGITS_MAX bytes). */
static void entry_version(const struct ss_table *t, uint32_t ref, char *buf, const char **value,
			  size_t *vlen, uint64_t *rev, int64_t *commit_ms)
{
	const char *p = ss_slab_ptr(&t->slab, ref);
	uint32_t meta;

	memcpy(&meta, p, sizeof meta);
	if (meta & META_BIG) {
		const struct big *b = entry_big(p, meta);
		*value = b->data + b->nlen;
		*vlen = b->vlen;
		*rev = b->rev;
		*commit_ms = b->commit_ms;
		return;
	}
	const char *v = p + meta_head(meta) + meta_nlen(meta);
	const char *tail = v + meta_vstored(meta);
	*vlen = meta_vlen(meta);
	if (meta & META_DIGITS) {
		digits_unpack(buf, v, *vlen);
		*value = buf;
	} else {
		*value = v;
	}
	*rev = le_get(tail, meta_revlen(meta));
	uint64_t z = le_get(tail + meta_revlen(meta), meta_mslen(meta));
	*commit_ms = (int64_t)((uint64_t)t->base_ms + zz_dec(z));
}

static void entry_read(const struct ss_table *t, uint32_t ref, struct ss_entry *e)
{
	const char *p = ss_slab_ptr(&t->slab, ref);
	uint32_t meta;

	memcpy(&meta, p, sizeof meta);
	e->expire_ms = 0;
	if (meta & META_EXP)
		memcpy(&e->expire_ms, p + 4, sizeof e->expire_ms);
	entry_name(t, ref, &e->name, &e->nlen);
	entry_version(t, ref, e->buf, &e->value, &e->vlen, &e->rev, &e->commit_ms);
}

static int64_t entry_expiry(const struct ss_table *t, uint32_t ref)
{
	const char *p = ss_slab_ptr(&t->slab, ref);
	uint32_t meta;
	int64_t exp = 0;

	memcpy(&meta, p, sizeof meta);
	if (meta & META_EXP)
		memcpy(&exp, p + 4, sizeof exp);
	return exp;
}

static int entry_is(const struct ss_table *t, uint32_t ref, const char *name, size_t nlen)
{
	const char *n;
	size_t len;

	entry_name(t, ref, &n, &len);
	return len == nlen && (nlen == 0 || memcmp(n, name, nlen) == 0);
}

static uint64_t entry_hash(const struct ss_table *t, uint32_t ref)
{
	const char *n;
	size_t len;

	entry_name(t, ref, &n, &len);
	return hash_bytes(n, len);
}

/* Decides how r is stored: packed or raw, in a chunk or big, and with how
 * many bytes for rev and the commit time. hist: whether it has a history
 * reference. */
static void rec_shape(const struct ss_table *t, struct rec *r, int hist)
{
	uint32_t meta = (r->expire_ms ? META_EXP : 0) | (hist ? META_HIST : 0);
	size_t head = meta_head(meta);
	int digits = is_digits(r->value, r->vlen);
	size_t vst = digits ? packed_len(r->vlen) : r->vlen;

	r->zms = zz_enc((uint64_t)r->commit_ms - (uint64_t)table_base(t, r->commit_ms));
	unsigned rl = le_len(r->rev), ml = le_len(r->zms);
	if (r->nlen <= META_NLEN_MASK && vst <= SS_SLAB_CHUNK_MAX &&
	    head + r->nlen + vst + rl + ml <= SS_SLAB_CHUNK_MAX) {
		meta |= (uint32_t)r->nlen | (uint32_t)r->vlen << META_VLEN_SHIFT |
			(digits ? META_DIGITS : 0) | (rl - 1) << META_REV_SHIFT |
			(ml - 1) << META_MS_SHIFT;
		r->size = head + r->nlen + vst + rl + ml;
	} else {
		meta |= META_BIG;
		r->size = head + sizeof(struct big *);
	}
	r->meta = meta;
}

/* Returns a malloc'd copy of r's name and value, or NULL with errno
 * ENOMEM. */
static struct big *big_new(struct ss_table *t, const struct rec *r)
{
	struct big *b;

	if (r->nlen > SIZE_MAX - sizeof *b || r->vlen > SIZE_MAX - sizeof *b - r->nlen) {
		errno = ENOMEM;
		return NULL;
	}
	b = malloc(sizeof *b + r->nlen + r->vlen);
	if (!b)
		return NULL;
	b->nlen = r->nlen;
	b->vlen = r->vlen;
	b->rev = r->rev;
	b->commit_ms = r->commit_ms;
	copy_bytes(b->data, r->name, r->nlen);
	copy_bytes(b->data + r->nlen, r->value, r->vlen);
	t->big_bytes += sizeof *b + r->nlen + r->vlen;
	return b;
}

static void big_free(struct ss_table *t, struct big *b)
{
	t->big_bytes -= sizeof *b + b->nlen + b->vlen;
	free(b);
}

/* Writes r into chunk p, which may be the entry's own chunk (an in-place
 * rewrite): the name and value are copied first, with memmove, so either
 * may point into the chunk; the fields they could overlap come after. */
static void entry_write(char *p, const struct rec *r, uint32_t hist, struct big *b)
{
	size_t head = meta_head(r->meta);

	if (b) {
		memcpy(p + head, &b, sizeof b);
	} else {
		char *v = p + head + r->nlen;
		copy_bytes(p + head, r->name, r->nlen);
		if (r->meta & META_DIGITS)
			digits_pack(v, r->value, r->vlen);
		else
			copy_bytes(v, r->value, r->vlen);
		char *tail = v + meta_vstored(r->meta);
		le_put(tail, r->rev, meta_revlen(r->meta));
		le_put(tail + meta_revlen(r->meta), r->zms, meta_mslen(r->meta));
	}
	if (r->meta & META_EXP)
		memcpy(p + 4, &r->expire_ms, sizeof r->expire_ms);
	if (hist)
		memcpy(p + head - 4, &hist, sizeof hist);
	memcpy(p, &r->meta, sizeof r->meta);
}

/* Returns the reference of a new entry holding r (shaped) and the history
 * block hist (0: none), or 0 with errno ENOMEM. */
static uint32_t entry_new(struct ss_table *t, const struct rec *r, uint32_t hist)
{
	struct big *b = NULL;

	if ((r->meta & META_BIG) && !(b = big_new(t, r)))
		return 0;
	uint32_t ref = ss_slab_alloc(&t->slab, r->size);
	if (!ref) {
		if (b)
			big_free(t, b);
		errno = ENOMEM;
		return 0;
	}
	entry_write(ss_slab_ptr(&t->slab, ref), r, hist, b);
	return ref;
}

/* Rewrites the entry in place when r needs no new chunk: both small, the
 * same flags before the name and the same chunk size. Returns 1 if it
 * did, 0 if the caller must allocate a new entry. */
static int entry_rewrite(struct ss_table *t, uint32_t ref, const struct rec *r, uint32_t hist)
{
	uint32_t meta = entry_meta(t, ref);

	if (((meta | r->meta) & META_BIG) || ((meta ^ r->meta) & (META_EXP | META_HIST)) ||
	    (meta_chunk(meta) + 7) / 8 != (r->size + 7) / 8)
		return 0;
	entry_write(ss_slab_ptr(&t->slab, ref), r, hist, NULL);
	return 1;
}

/* Frees the entry's chunk and big part, not its history. */
static void chunk_drop(struct ss_table *t, uint32_t ref)
{
	char *p = ss_slab_ptr(&t->slab, ref);
	uint32_t meta;

	memcpy(&meta, p, sizeof meta);
	if (meta & META_BIG)
		big_free(t, entry_big(p, meta));
	ss_slab_release(&t->slab, ref, meta_chunk(meta));
}

/* ---- history blocks ----------------------------------------------------- */

/* The bytes of history block ref. */
static const char *hist_data(const struct ss_table *t, uint32_t ref, size_t *len)
{
	const char *p = ss_slab_ptr(&t->slab, ref);
	const char *ext;
	uint32_t hdr;

	memcpy(&hdr, p, sizeof hdr);
	*len = hdr & HIST_LEN_MAX;
	if (!(hdr & HIST_EXT))
		return p + 4;
	memcpy(&ext, p + 4, sizeof ext);
	return ext;
}

/* Returns the reference of a new history block of len bytes and, in
 * *data, where to write them; or 0 with errno ENOMEM. */
static uint32_t hist_alloc(struct ss_table *t, size_t len, char **data)
{
	size_t size = 4 + len;
	uint32_t hdr = (uint32_t)len;
	char *ext = NULL;

	if (len > HIST_LEN_MAX) {
		errno = ENOMEM;
		return 0;
	}
	if (size > SS_SLAB_CHUNK_MAX) {
		ext = malloc(len);
		if (!ext)
			return 0;
		size = 4 + sizeof ext;
		hdr |= HIST_EXT;
	}
	uint32_t ref = ss_slab_alloc(&t->slab, size);
	if (!ref) {
		free(ext);
		errno = ENOMEM;
		return 0;
	}
	char *p = ss_slab_ptr(&t->slab, ref);
	memcpy(p, &hdr, sizeof hdr);
	if (ext) {
		memcpy(p + 4, &ext, sizeof ext);
		t->hist_bytes += len;
		*data = ext;
	} else {
		*data = p + 4;
	}
	return ref;
}

static void hist_free(struct ss_table *t, uint32_t ref)
{
	size_t len;

	if (!ref)
		return;
	const char *data = hist_data(t, ref, &len);
	if (4 + len > SS_SLAB_CHUNK_MAX) {
		free((char *)data);
		t->hist_bytes -= len;
		ss_slab_release(&t->slab, ref, 4 + sizeof data);
	} else {
		ss_slab_release(&t->slab, ref, 4 + len);
	}
}

/* Skips one version; returns where the next starts. */
static const char *version_skip(const char *p)
{
	uint64_t x;

	p = varint_get(p, &x);
	p = varint_get(p, &x);
	p = varint_get(p, &x);
	return p + ((x & 1) ? packed_len(x >> 1) : x >> 1);
}

/* Decodes one version into v, whose rev and commit_ms hold the next newer
 * version's on entry (the differences are from it). Returns where the next
 * starts. */
static const char *version_get(const char *p, struct ss_version *v)
{
	uint64_t drev, dms, tag;

	p = varint_get(p, &drev);
	p = varint_get(p, &dms);
	p = varint_get(p, &tag);
	v->rev -= zz_dec(drev);
	v->commit_ms = (int64_t)((uint64_t)v->commit_ms - zz_dec(dms));
	v->vlen = (size_t)(tag >> 1);
	if (tag & 1) {
		digits_unpack(v->buf, p, v->vlen);
		v->value = v->buf;
		return p + packed_len(v->vlen);
	}
	v->value = p;
	return p + v->vlen;
}

/* Builds, in a new block, the history of an entry about to become version
 * (rev, commit_ms): the replaced version cur, then the newest depth - 1 of
 * the old block's versions, copied as they are (their differences are
 * from the version before them, which does not change). Returns 0 and the
 * block in *out, or -1 with errno ENOMEM and nothing changed. */
static int hist_push(struct ss_table *t, uint32_t old, const struct ss_entry *cur, uint64_t rev,
		     int64_t commit_ms, uint32_t *out)
{
	uint64_t drev = zz_enc(rev - cur->rev);
	uint64_t dms = zz_enc((uint64_t)commit_ms - (uint64_t)cur->commit_ms);
	int digits = is_digits(cur->value, cur->vlen);
	uint64_t tag = (uint64_t)cur->vlen << 1 | (uint64_t)digits;
	size_t vst = digits ? packed_len(cur->vlen) : cur->vlen;
	const char *keep = NULL;
	size_t olen = 0, klen = 0;
	char *d;

	if (old) {
		keep = hist_data(t, old, &olen);
		const char *p = keep;
		for (unsigned n = 1; n < t->depth && p < keep + olen; n++)
			p = version_skip(p);
		klen = (size_t)(p - keep);
	}
	size_t len = varint_len(drev) + varint_len(dms) + varint_len(tag) + vst + klen;
	uint32_t ref = hist_alloc(t, len, &d);
	if (!ref)
		return -1;
	d = varint_put(d, drev);
	d = varint_put(d, dms);
	d = varint_put(d, tag);
	if (digits)
		digits_pack(d, cur->value, cur->vlen);
	else
		copy_bytes(d, cur->value, cur->vlen);
	copy_bytes(d + vst, keep, klen);
	*out = ref;
	return 0;
}

/* Frees what an entry holds outside the slab (ss_table_free frees the
 * slab whole). */
static void entry_free_heap(struct ss_table *t, uint32_t ref)
{
	char *p = ss_slab_ptr(&t->slab, ref);
	uint32_t meta, hist = entry_hist(t, ref);
	size_t len;

	memcpy(&meta, p, sizeof meta);
	if (meta & META_BIG)
		free(entry_big(p, meta));
	if (hist) {
		const char *data = hist_data(t, hist, &len);
		if (4 + len > SS_SLAB_CHUNK_MAX)
			free((char *)data);
	}
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
	hist_free(t, entry_hist(t, ref));
	chunk_drop(t, ref);
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
	t->depth = history;
	ss_slab_init(&t->slab);
	return t;
}

static void free_heap(struct ss_table *t, const uint32_t *arr, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		if (arr[i] != SLOT_EMPTY && arr[i] != SLOT_GONE)
			entry_free_heap(t, arr[i]);
}

void ss_table_free(struct ss_table *t)
{
	if (!t)
		return;
	free_heap(t, t->slots, 0, t->cap);
	if (t->old)
		free_heap(t, t->old, t->moved, t->old_cap);
	ss_slab_free(&t->slab);
	free(t->slots);
	free(t->old);
	free(t);
}

unsigned ss_table_history_depth(const struct ss_table *t)
{
	return t->depth;
}

/* Replaces the entry at p with r. Over a live entry the replaced version
 * joins the history; over an expired one the history goes. The new
 * history and entry are allocated before anything is freed. */
static int replace(struct ss_table *t, const struct pos *p, struct rec *r, int64_t now_ms)
{
	uint32_t old = p->arr[p->i];
	uint32_t old_hist = entry_hist(t, old);
	uint32_t hist = 0;
	struct ss_entry cur;

	entry_read(t, old, &cur);
	if (t->depth && !is_expired(cur.expire_ms, now_ms) &&
	    hist_push(t, old_hist, &cur, r->rev, r->commit_ms, &hist) < 0)
		return -1;
	rec_shape(t, r, hist != 0);
	if (!entry_rewrite(t, old, r, hist)) {
		uint32_t ref = entry_new(t, r, hist);
		if (!ref) {
			hist_free(t, hist);
			return -1;
		}
		p->arr[p->i] = ref;
		chunk_drop(t, old);
	}
	hist_free(t, old_hist);
	return 0;
}

static int insert(struct ss_table *t, uint64_t h, struct rec *r)
{
	rec_shape(t, r, 0);
	uint32_t ref = entry_new(t, r, 0);
	if (!ref)
		return -1;
	if (t->count + 1 > t->cap / 2 && grow(t) < 0) {
		chunk_drop(t, ref);
		errno = ENOMEM;
		return -1;
	}
	insert_main(t, h, ref);
	t->count++;
	return 0;
}

int ss_table_set(struct ss_table *t, const char *name, size_t nlen, const char *value,
		 size_t vlen, int64_t expire_ms, uint64_t rev, int64_t commit_ms, int64_t now_ms)
{
	struct rec r = {name, nlen, value, vlen, expire_ms, rev, commit_ms, 0, 0, 0};
	uint64_t h = hash_bytes(name, nlen);
	struct pos p;
	int rc;

	migrate(t, MIGRATE_STEP);
	if (find(t, h, name, nlen, &p))
		rc = replace(t, &p, &r, now_ms);
	else
		rc = insert(t, h, &r);
	if (rc < 0)
		return -1;
	/* Only now: an entry encoded against a base that was then dropped
	 * by a failure would not exist, and a failed set changes nothing. */
	if (!t->has_base) {
		t->base_ms = commit_ms;
		t->has_base = 1;
	}
	ss_table_note_revision(t, rev);
	return 0;
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

size_t ss_table_history(const struct ss_table *t, const char *name, size_t nlen, int64_t now_ms,
			struct ss_version *out, size_t max)
{
	const char *h = NULL, *end = NULL;
	struct pos p;
	size_t n, len;

	if (!max || !find(t, hash_bytes(name, nlen), name, nlen, &p))
		return 0;
	uint32_t ref = p.arr[p.i];
	if (is_expired(entry_expiry(t, ref), now_ms))
		return 0;
	entry_version(t, ref, out[0].buf, &out[0].value, &out[0].vlen, &out[0].rev,
		      &out[0].commit_ms);
	uint32_t hist = entry_hist(t, ref);
	if (hist) {
		h = hist_data(t, hist, &len);
		end = h + len;
	}
	for (n = 1; n < max && h < end; n++) {
		out[n].rev = out[n - 1].rev;
		out[n].commit_ms = out[n - 1].commit_ms;
		h = version_get(h, &out[n]);
	}
	return n;
}

int ss_table_get(struct ss_table *t, const char *name, size_t nlen, int64_t now_ms,
		 struct ss_entry *out)
{
	struct pos p;

	if (!find(t, hash_bytes(name, nlen), name, nlen, &p))
		return 0;
	if (is_expired(entry_expiry(t, p.arr[p.i]), now_ms)) {
		remove_at(t, &p);
		return 0;
	}
	if (out)
		entry_read(t, p.arr[p.i], out);
	return 1;
}

int ss_table_del(struct ss_table *t, const char *name, size_t nlen, int64_t now_ms)
{
	struct pos p;

	migrate(t, MIGRATE_STEP);
	if (!find(t, hash_bytes(name, nlen), name, nlen, &p))
		return 0;
	int64_t exp = entry_expiry(t, p.arr[p.i]);
	remove_at(t, &p);
	return !is_expired(exp, now_ms);
}

size_t ss_table_count(const struct ss_table *t)
{
	return t->count;
}

size_t ss_table_memory(const struct ss_table *t)
{
	return sizeof *t + (t->cap + t->old_cap) * sizeof *t->slots + ss_slab_memory(&t->slab) +
	       t->big_bytes + t->hist_bytes;
}

int ss_table_resizing(const struct ss_table *t)
{
	return t->old != NULL;
}

/* Removes the entry at p if it is expired. Returns 1 if it did. */
static int expire_at(struct ss_table *t, const struct pos *p, int64_t now_ms)
{
	uint32_t r = p->arr[p->i];

	if (r == SLOT_EMPTY || r == SLOT_GONE || !is_expired(entry_expiry(t, r), now_ms))
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
	size_t home;  /* the bucket being visited */
	size_t mask;  /* of the array being visited */
	int stop;     /* fn asked to stop */
};

/* Passes ref to fn if it is homed at the bucket being visited, live and
 * named with the prefix. Returns 0: probe_old is to go on. */
static int scan_emit(void *arg, uint32_t ref)
{
	struct scan *s = arg;
	struct ss_entry e;

	if (ref == SLOT_GONE || (entry_hash(s->t, ref) & s->mask) != s->home)
		return 0;
	entry_read(s->t, ref, &e);
	if (is_expired(e.expire_ms, s->now_ms) || e.nlen < s->plen ||
	    (s->plen && memcmp(e.name, s->prefix, s->plen) != 0))
		return 0;
	if (s->fn(s->arg, &e))
		s->stop = 1;
	return 0;
}

/* Visits main bucket b: every entry homed there sits in the run of
 * occupied slots from b, and the array always has an empty slot. */
static void scan_main(struct scan *s, size_t b)
{
	const struct ss_table *t = s->t;

	s->home = b;
	s->mask = t->cap - 1;
	for (size_t i = b; t->slots[i] != SLOT_EMPTY; i = (i + 1) & s->mask)
		scan_emit(s, t->slots[i]);
}

static void scan_old(struct scan *s, size_t b)
{
	s->home = b;
	s->mask = s->t->old_cap - 1;
	probe_old(s->t, b, scan_emit, s);
}

static uint64_t bits_reverse(uint64_t v)
{
	v = ((v >> 1) & 0x5555555555555555u) | ((v & 0x5555555555555555u) << 1);
	v = ((v >> 2) & 0x3333333333333333u) | ((v & 0x3333333333333333u) << 2);
	v = ((v >> 4) & 0x0f0f0f0f0f0f0f0fu) | ((v & 0x0f0f0f0f0f0f0f0fu) << 4);
	v = ((v >> 8) & 0x00ff00ff00ff00ffu) | ((v & 0x00ff00ff00ff00ffu) << 8);
	v = ((v >> 16) & 0x0000ffff0000ffffu) | ((v & 0x0000ffff0000ffffu) << 16);
	return (v >> 32) | (v << 32);
}

/* The next cursor: the bits under mask incremented from the top bit down,
 * the bits above it cleared. Wraps to 0 after the last bucket. */
static uint64_t cursor_next(uint64_t v, uint64_t mask)
{
	v |= ~mask;
	return bits_reverse(bits_reverse(v) + 1);
}

/* Visits one cursor position and returns the next. While resizing, that
 * is the old array's bucket and both main buckets it splits into, as
 * dictScan visits a rehashing dict's small and large tables. */
static uint64_t scan_step(struct scan *s, uint64_t v)
{
	const struct ss_table *t = s->t;
	uint64_t m1 = t->cap - 1;

	if (!t->old) {
		scan_main(s, (size_t)(v & m1));
		return cursor_next(v, m1);
	}
	uint64_t m0 = t->old_cap - 1;
	scan_old(s, (size_t)(v & m0));
	do {
		scan_main(s, (size_t)(v & m1));
		v = cursor_next(v, m1);
	} while (v & (m0 ^ m1));
	return v;
}

/* buckets counts cursor positions; 0 is taken as 1, so that a call always
 * makes progress and 0 keeps meaning "done". */
uint64_t ss_table_scan(const struct ss_table *t, uint64_t cursor, size_t buckets,
		       const char *prefix, size_t plen, int64_t now_ms,
		       int (*fn)(void *arg, const struct ss_entry *e), void *arg)
{
	struct scan s = {t, prefix, plen, now_ms, fn, arg, 0, 0, 0};

	if (!buckets)
		buckets = 1;
	do
		cursor = scan_step(&s, cursor);
	while (cursor && --buckets && !s.stop);
	return cursor;
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
