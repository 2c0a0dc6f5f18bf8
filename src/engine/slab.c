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
 */
#include "engine/slab.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
	for (uint32_t i = 0; i < s->npages; i++)
		free(s->pages[i]);
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
	char *page = malloc(SS_SLAB_PAGE);
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
	return (size_t)s->npages * SS_SLAB_PAGE + (size_t)s->pages_cap * sizeof(char *);
}
