/*
 * entry.c - one entry's bytes in a slab chunk, and its history block (see
 * entry.h).
 *
 * Goal: a revision and a commit time per entry at no extra cost over the
 * 32-byte chunk the table used before it kept them, for a 16-byte name and
 * a 10-digit value; and a few earlier versions per key in a few bytes
 * each.
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
 *   - commit time: the zigzag of its difference from the time base (the
 *     first commit_ms the table ever stored), little-endian the same way:
 *     3 bytes within 2^23 ms (2.3 hours) of the base, 4 bytes within 24.8
 *     days, up to 8 bytes beyond. The base is fixed for the table's life,
 *     so a table that runs for weeks pays a fifth byte.
 * So 4 + 16 + 5 + 3 + 4 = 32 bytes for the common entry while revisions
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
 * version for the common entry) before anything changes, so ENOMEM still
 * leaves the entry unchanged. Depth 4 costs 4 more bytes of entry (a 40
 * byte chunk) and a 56-byte block: 4 + 4 * (3 + 3 + 1 + 5) for keys
 * rewritten once per million revisions within seconds. On its way to full
 * depth a block passes through the 24-, 32- and 48-byte chunk sizes, and
 * the slab keeps pages with their size: if every key climbs together
 * (rewritten in rounds) those pages stay (table.c gives the totals);
 * once at full depth, further writes add nothing. Giving wholly free pages
 * back is slab.c's to learn.
 */
#include "engine/entry.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

/* A big entry's fields, malloc'd; its chunk holds the pointer. */
struct big {
	size_t nlen;
	size_t vlen;
	uint64_t rev;
	int64_t commit_ms;
	char data[]; /* name, then value */
};

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

static uint32_t entry_meta(const struct ss_entries *es, uint32_t ref)
{
	uint32_t meta;
	memcpy(&meta, ss_slab_ptr(&es->slab, ref), sizeof meta);
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

static int64_t time_base(const struct ss_entries *es, int64_t commit_ms)
{
	return es->has_base ? es->base_ms : commit_ms;
}

static struct big *entry_big(const char *chunk, uint32_t meta)
{
	struct big *b;
	memcpy(&b, chunk + meta_head(meta), sizeof b);
	return b;
}

/* The history block reference of an entry, 0 if it has none. */
static uint32_t entry_hist(const struct ss_entries *es, uint32_t ref)
{
	const char *p = ss_slab_ptr(&es->slab, ref);
	uint32_t meta, h;

	memcpy(&meta, p, sizeof meta);
	if (!(meta & META_HIST))
		return 0;
	memcpy(&h, p + meta_head(meta) - 4, sizeof h);
	return h;
}

void ss_entry_name(const struct ss_entries *es, uint32_t ref, const char **name, size_t *nlen)
{
	const char *p = ss_slab_ptr(&es->slab, ref);
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
static void entry_version(const struct ss_entries *es, uint32_t ref, char *buf, const char **value,
			  size_t *vlen, uint64_t *rev, int64_t *commit_ms)
{
	const char *p = ss_slab_ptr(&es->slab, ref);
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
	*commit_ms = (int64_t)((uint64_t)es->base_ms + zz_dec(z));
}

uint64_t ss_entry_rev(const struct ss_entries *es, uint32_t ref)
{
	const char *p = ss_slab_ptr(&es->slab, ref);
	uint32_t meta;

	memcpy(&meta, p, sizeof meta);
	if (meta & META_BIG)
		return entry_big(p, meta)->rev;
	return le_get(p + meta_head(meta) + meta_nlen(meta) + meta_vstored(meta),
		      meta_revlen(meta));
}

void ss_entry_read(const struct ss_entries *es, uint32_t ref, struct ss_entry *e)
{
	const char *p = ss_slab_ptr(&es->slab, ref);
	uint32_t meta;

	memcpy(&meta, p, sizeof meta);
	e->expire_ms = 0;
	if (meta & META_EXP)
		memcpy(&e->expire_ms, p + 4, sizeof e->expire_ms);
	ss_entry_name(es, ref, &e->name, &e->nlen);
	entry_version(es, ref, e->buf, &e->value, &e->vlen, &e->rev, &e->commit_ms);
}

int64_t ss_entry_expiry(const struct ss_entries *es, uint32_t ref)
{
	const char *p = ss_slab_ptr(&es->slab, ref);
	uint32_t meta;
	int64_t exp = 0;

	memcpy(&meta, p, sizeof meta);
	if (meta & META_EXP)
		memcpy(&exp, p + 4, sizeof exp);
	return exp;
}

/* Decides how r is stored: packed or raw, in a chunk or big, and with how
 * many bytes for rev and the commit time. hist: whether it has a history
 * reference. */
static void rec_shape(const struct ss_entries *es, struct rec *r, int hist)
{
	uint32_t meta = (r->expire_ms ? META_EXP : 0) | (hist ? META_HIST : 0);
	size_t head = meta_head(meta);
	int digits = is_digits(r->value, r->vlen);
	size_t vst = digits ? packed_len(r->vlen) : r->vlen;

	r->zms = zz_enc((uint64_t)r->commit_ms - (uint64_t)time_base(es, r->commit_ms));
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
static struct big *big_new(struct ss_entries *es, const struct rec *r)
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
	es->big_bytes += sizeof *b + r->nlen + r->vlen;
	return b;
}

static void big_free(struct ss_entries *es, struct big *b)
{
	es->big_bytes -= sizeof *b + b->nlen + b->vlen;
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
static uint32_t entry_new(struct ss_entries *es, const struct rec *r, uint32_t hist)
{
	struct big *b = NULL;

	if ((r->meta & META_BIG) && !(b = big_new(es, r)))
		return 0;
	uint32_t ref = ss_slab_alloc(&es->slab, r->size);
	if (!ref) {
		if (b)
			big_free(es, b);
		errno = ENOMEM;
		return 0;
	}
	entry_write(ss_slab_ptr(&es->slab, ref), r, hist, b);
	return ref;
}

/* Rewrites the entry in place when r needs no new chunk: both small, the
 * same flags before the name and the same chunk size. Returns 1 if it
 * did, 0 if the caller must allocate a new entry. */
static int entry_rewrite(struct ss_entries *es, uint32_t ref, const struct rec *r, uint32_t hist)
{
	uint32_t meta = entry_meta(es, ref);

	if (((meta | r->meta) & META_BIG) || ((meta ^ r->meta) & (META_EXP | META_HIST)) ||
	    (meta_chunk(meta) + 7) / 8 != (r->size + 7) / 8)
		return 0;
	entry_write(ss_slab_ptr(&es->slab, ref), r, hist, NULL);
	return 1;
}

/* Frees the entry's chunk and big part, not its history. */
static void chunk_drop(struct ss_entries *es, uint32_t ref)
{
	char *p = ss_slab_ptr(&es->slab, ref);
	uint32_t meta;

	memcpy(&meta, p, sizeof meta);
	if (meta & META_BIG)
		big_free(es, entry_big(p, meta));
	ss_slab_release(&es->slab, ref, meta_chunk(meta));
}

/* ---- history blocks ----------------------------------------------------- */

/* The bytes of history block ref. */
static const char *hist_data(const struct ss_entries *es, uint32_t ref, size_t *len)
{
	const char *p = ss_slab_ptr(&es->slab, ref);
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
static uint32_t hist_alloc(struct ss_entries *es, size_t len, char **data)
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
	uint32_t ref = ss_slab_alloc(&es->slab, size);
	if (!ref) {
		free(ext);
		errno = ENOMEM;
		return 0;
	}
	char *p = ss_slab_ptr(&es->slab, ref);
	memcpy(p, &hdr, sizeof hdr);
	if (ext) {
		memcpy(p + 4, &ext, sizeof ext);
		es->hist_bytes += len;
		*data = ext;
	} else {
		*data = p + 4;
	}
	return ref;
}

static void hist_free(struct ss_entries *es, uint32_t ref)
{
	size_t len;

	if (!ref)
		return;
	const char *data = hist_data(es, ref, &len);
	if (4 + len > SS_SLAB_CHUNK_MAX) {
		free((char *)data);
		es->hist_bytes -= len;
		ss_slab_release(&es->slab, ref, 4 + sizeof data);
	} else {
		ss_slab_release(&es->slab, ref, 4 + len);
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
static int hist_push(struct ss_entries *es, uint32_t old, const struct ss_entry *cur, uint64_t rev,
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
		keep = hist_data(es, old, &olen);
		const char *p = keep;
		for (unsigned n = 1; n < es->depth && p < keep + olen; n++)
			p = version_skip(p);
		klen = (size_t)(p - keep);
	}
	size_t len = varint_len(drev) + varint_len(dms) + varint_len(tag) + vst + klen;
	uint32_t ref = hist_alloc(es, len, &d);
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

/* ---- the interface -------------------------------------------------------- */

void ss_entries_init(struct ss_entries *es, unsigned depth)
{
	memset(es, 0, sizeof *es);
	es->depth = depth;
	ss_slab_init(&es->slab);
}

void ss_entries_free(struct ss_entries *es)
{
	ss_slab_free(&es->slab);
}

/* Only the malloc'd parts: ss_entries_free frees the slab whole. */
void ss_entry_free_heap(struct ss_entries *es, uint32_t ref)
{
	char *p = ss_slab_ptr(&es->slab, ref);
	uint32_t meta, hist = entry_hist(es, ref);
	size_t len;

	memcpy(&meta, p, sizeof meta);
	if (meta & META_BIG)
		free(entry_big(p, meta));
	if (hist) {
		const char *data = hist_data(es, hist, &len);
		if (4 + len > SS_SLAB_CHUNK_MAX)
			free((char *)data);
	}
}

size_t ss_entries_memory(const struct ss_entries *es)
{
	return ss_slab_memory(&es->slab) + es->big_bytes + es->hist_bytes;
}

void ss_entries_note_commit(struct ss_entries *es, int64_t commit_ms)
{
	if (!es->has_base) {
		es->base_ms = commit_ms;
		es->has_base = 1;
	}
}

/* The rec of a set of e, shaped for a history reference or none. */
static void rec_of(const struct ss_entries *es, const struct ss_entry *e, int hist, struct rec *r)
{
	*r = (struct rec){e->name, e->nlen, e->value, e->vlen, e->expire_ms, e->rev, e->commit_ms,
			  0, 0, 0};
	rec_shape(es, r, hist);
}

uint32_t ss_entry_new(struct ss_entries *es, const struct ss_entry *e)
{
	struct rec r;

	rec_of(es, e, 0, &r);
	return entry_new(es, &r, 0);
}

/* Over a live entry the replaced version joins the history; over an
 * expired one the history goes. The new history and entry are allocated
 * before anything is freed. */
int ss_entry_replace(struct ss_entries *es, uint32_t *ref, const struct ss_entry *e, int live)
{
	uint32_t old = *ref;
	uint32_t old_hist = entry_hist(es, old);
	uint32_t hist = 0;
	struct ss_entry cur;
	struct rec r;

	if (es->depth && live) {
		ss_entry_read(es, old, &cur);
		if (hist_push(es, old_hist, &cur, e->rev, e->commit_ms, &hist) < 0)
			return -1;
	}
	rec_of(es, e, hist != 0, &r);
	if (!entry_rewrite(es, old, &r, hist)) {
		uint32_t nref = entry_new(es, &r, hist);
		if (!nref) {
			hist_free(es, hist);
			return -1;
		}
		*ref = nref;
		chunk_drop(es, old);
	}
	hist_free(es, old_hist);
	return 0;
}

void ss_entry_drop(struct ss_entries *es, uint32_t ref)
{
	hist_free(es, entry_hist(es, ref));
	chunk_drop(es, ref);
}

size_t ss_entry_history(const struct ss_entries *es, uint32_t ref, struct ss_version *out,
			size_t max)
{
	const char *h = NULL, *end = NULL;
	size_t n, len;

	entry_version(es, ref, out[0].buf, &out[0].value, &out[0].vlen, &out[0].rev,
		      &out[0].commit_ms);
	uint32_t hist = entry_hist(es, ref);
	if (hist) {
		h = hist_data(es, hist, &len);
		end = h + len;
	}
	for (n = 1; n < max && h < end; n++) {
		out[n].rev = out[n - 1].rev;
		out[n].commit_ms = out[n - 1].commit_ms;
		h = version_get(h, &out[n]);
	}
	return n;
}
