/*
 * slab.c - the chunk allocator under the table (see slab.h).
 *
 * Why not malloc: at 10M entries of ~30 bytes, malloc's 16-byte minimum
 * header and 16-byte rounding would add a third again to every entry, and a
 * pointer per slot would double the slot array. Here an entry costs its size
 * rounded to 8 and a slot costs a 4-byte reference.
 *
 * Layout. pages[] holds 64 KiB pages, all full except the last, of which
 * `used` bytes are carved. A reference is 1 + (page << 13 | offset / 8): 13
 * bits of offset cover a page in 8-byte steps, the +1 keeps 0 free to mean
 * "none", and the page limit keeps UINT32_MAX unused.
 *
 * Allocation takes the head of the size's free list, or carves the next
 * bytes of the last page. When the last page cannot fit the chunk, its tail
 * (a multiple of 8, smaller than the chunk, so at most 1016 bytes) goes on
 * the free list of its own size instead of being lost, and a new page
 * starts.
 *
 * Freed chunks stay with their size: memory moves between sizes only through
 * new pages. A workload that shifts all its entries from one size to another
 * keeps the old pages; that is the price of having no chunk headers.
 *
 * Huge pages. The first SS_SLAB_SMALL_PAGES pages (32 MiB) are malloc'd one
 * by one, so a small store grows 64 KiB at a time. Past them, pages are
 * carved from arenas of 2 MiB (ARENA_PAGES pages), aligned to 2 MiB and
 * marked MADV_HUGEPAGE. At 10M entries (400 MB of chunks) that turns ~100k
 * small pages into ~200 huge ones, and these costs with them:
 *   - the first touch of each page, a fault that costs about 10 us on a
 *     virtual machine (0.4 GB/s here, measured; a huge page faults in
 *     2 MiB at once);
 *   - TLB misses on the random accesses of lookups;
 *   - fork's copy of the page tables, when COMPACT forked (issue 15 replaced
 *     it with a walk): 20 ms at 10M entries with small pages, 2-8 ms with
 *     arenas.
 * The price is that an arena is resident as a whole once touched: at most
 * one partly used arena, 2 MiB, is memory not yet holding entries. Below
 * 32 MiB that would be a visible share; past it, at most 6%, and 0.5% at
 * 10M entries. The hint is only a hint: where transparent huge pages are
 * off, arenas are small pages like any others.
 */
#include "engine/slab.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define ARENA_BYTES (2u << 20)
#define ARENA_PAGES (ARENA_BYTES / SS_SLAB_PAGE)

_Static_assert(SS_SLAB_SMALL_PAGES % ARENA_PAGES == 0, "arenas start on an arena boundary");

/* A 2 MiB-aligned anonymous mapping of ARENA_BYTES, marked for huge pages,
 * or NULL (errno set). Over-maps by one arena and trims the two ends. */
static char *arena_map(void)
{
	size_t len = 2 * (size_t)ARENA_BYTES;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	char *a = (char *)(((uintptr_t)p + ARENA_BYTES - 1) & ~(uintptr_t)(ARENA_BYTES - 1));
	size_t head = (size_t)(a - p), tail = len - head - ARENA_BYTES;
	/* munmap of part of a private anonymous mapping fails only for a bad
	 * range, which these are not; the trims cannot fail. */
	if (head)
		(void)munmap(p, head);
	if (tail)
		(void)munmap(a + ARENA_BYTES, tail);
	(void)madvise(a, ARENA_BYTES, MADV_HUGEPAGE); /* a hint: without it, small pages */
	return a;
}

/* Page i's memory: its own malloc below SS_SLAB_SMALL_PAGES, else a slice
 * of its arena, whose first page starts the mapping. */
static int in_arena(uint32_t i)
{
	return i >= SS_SLAB_SMALL_PAGES;
}

/* 1 if page i is the first of its arena: the one that maps and unmaps it. */
static int arena_first(uint32_t i)
{
	return in_arena(i) && (i - SS_SLAB_SMALL_PAGES) % ARENA_PAGES == 0;
}

static size_t class_of(size_t size)
{
	return size ? (size + 7) / 8 : 1;
}

static uint32_t make_ref(uint32_t page, uint32_t off)
{
	return ((page << 13) | (off >> 3)) + 1;
}

static void push_free(struct ss_slab *s, uint32_t ref, size_t cls)
{
	memcpy(ss_slab_ptr(s, ref), &s->free_head[cls], sizeof(uint32_t));
	s->free_head[cls] = ref;
}

void ss_slab_init(struct ss_slab *s)
{
	memset(s, 0, sizeof *s);
}

void ss_slab_free(struct ss_slab *s)
{
	for (uint32_t i = 0; i < s->npages; i++) {
		if (!in_arena(i))
			free(s->pages[i]);
		else if (arena_first(i))
			(void)munmap(s->pages[i], ARENA_BYTES);
	}
	free(s->pages);
	memset(s, 0, sizeof *s);
}

/* Adds an empty last page, first filing the old last page's tail. */
static int new_page(struct ss_slab *s)
{
	if (s->npages >= SS_SLAB_PAGES_MAX) {
		errno = ENOMEM;
		return -1;
	}
	if (s->npages == s->pages_cap) {
		uint32_t cap = s->pages_cap ? s->pages_cap * 2 : 16;
		char **p = realloc(s->pages, (size_t)cap * sizeof *p);
		if (!p)
			return -1;
		s->pages = p;
		s->pages_cap = cap;
	}
	uint32_t i = s->npages;
	char *page;
	if (!in_arena(i))
		page = malloc(SS_SLAB_PAGE);
	else if (arena_first(i))
		page = arena_map();
	else
		page = s->pages[i - 1] + SS_SLAB_PAGE;
	if (!page)
		return -1;
	if (s->npages && s->used < SS_SLAB_PAGE) {
		uint32_t tail = SS_SLAB_PAGE - s->used;
		push_free(s, make_ref(s->npages - 1, s->used), tail / 8);
	}
	s->pages[s->npages++] = page;
	s->used = 0;
	return 0;
}

uint32_t ss_slab_alloc(struct ss_slab *s, size_t size)
{
	if (size > SS_SLAB_CHUNK_MAX) {
		errno = ENOMEM;
		return 0;
	}
	size_t cls = class_of(size);
	uint32_t ref = s->free_head[cls];
	if (ref) {
		memcpy(&s->free_head[cls], ss_slab_ptr(s, ref), sizeof(uint32_t));
		return ref;
	}
	uint32_t bytes = (uint32_t)cls * 8;
	if (!s->npages || SS_SLAB_PAGE - s->used < bytes) {
		if (new_page(s) < 0)
			return 0;
	}
	ref = make_ref(s->npages - 1, s->used);
	s->used += bytes;
	return ref;
}

void ss_slab_release(struct ss_slab *s, uint32_t ref, size_t size)
{
	push_free(s, ref, class_of(size));
}

size_t ss_slab_memory(const struct ss_slab *s)
{
	size_t pages = s->npages;

	if (in_arena(s->npages)) /* arenas count whole: they fault in whole */
		pages = SS_SLAB_SMALL_PAGES +
			(s->npages - SS_SLAB_SMALL_PAGES + ARENA_PAGES - 1) / ARENA_PAGES * ARENA_PAGES;
	return pages * SS_SLAB_PAGE + (size_t)s->pages_cap * sizeof(char *);
}
