/*
 * slab.h - small fixed-size chunks carved from 64 KiB pages, named by
 * 32-bit references.
 *
 * The table's entry store. A chunk is 8..SS_SLAB_CHUNK_MAX bytes, a multiple
 * of 8, 8-byte aligned. Chunks of each size are recycled through their own
 * free list, so there is no per-chunk header and no per-chunk malloc. Pages
 * are never returned before ss_slab_free: freed chunks are reused by later
 * allocations of the same size.
 *
 * A reference is a nonzero 32-bit number (page index and offset) that is
 * never UINT32_MAX, so a table can use 0 and UINT32_MAX as markers. Half
 * the size of a pointer is what lets the table's slot array cost 4 bytes a
 * slot. References reach 2^19 - 1 pages, about 32 GiB of chunks.
 */
#ifndef STATESTORED_SLAB_H
#define STATESTORED_SLAB_H

#include <stddef.h>
#include <stdint.h>

#define SS_SLAB_PAGE 65536u      /* bytes in one page */
#define SS_SLAB_CHUNK_MAX 1024u  /* largest chunk */
#define SS_SLAB_CLASSES (SS_SLAB_CHUNK_MAX / 8)
#define SS_SLAB_PAGES_MAX ((1u << 19) - 1)
#define SS_SLAB_SMALL_PAGES 512u /* pages malloc'd one by one; then 2 MiB arenas */

struct ss_slab {
	char **pages;
	uint32_t npages;
	uint32_t pages_cap;
	uint32_t used; /* bytes already carved from the last page */
	/* free_head[k]: the first free chunk of 8*k bytes, 0 if none. A free
	 * chunk holds the reference of the next one in its first 4 bytes. */
	uint32_t free_head[SS_SLAB_CLASSES + 1];
};

/* Makes s an empty allocator. Allocates nothing. */
void ss_slab_init(struct ss_slab *s);

/* Frees every page; every reference into s becomes invalid. s may be
 * initialised again. */
void ss_slab_free(struct ss_slab *s);

/* Returns the reference of a chunk of at least size bytes (1..
 * SS_SLAB_CHUNK_MAX, rounded up to a multiple of 8), or 0 with errno ENOMEM.
 * The chunk's contents are unspecified. */
uint32_t ss_slab_alloc(struct ss_slab *s, size_t size);

/* Returns a chunk to its free list. size is the size it was allocated with
 * (or any size that rounds up to the same multiple of 8). */
void ss_slab_release(struct ss_slab *s, uint32_t ref, size_t size);

/* Bytes held: pages (an arena whole) and the page index. */
size_t ss_slab_memory(const struct ss_slab *s);

/* The address of a chunk. Valid until ss_slab_free: pages never move. */
static inline void *ss_slab_ptr(const struct ss_slab *s, uint32_t ref)
{
	uint32_t r = ref - 1;
	return s->pages[r >> 13] + ((size_t)(r & 0x1fff) << 3);
}

#endif
