/*
 * test_slab.c - the chunk allocator under the table: chunks do not overlap,
 * freed chunks are reused by their size, page tails are not lost, and
 * references avoid the values the table reserves.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/slab.h"

static void chunks_are_aligned_and_disjoint(void **state)
{
	enum { N = 20000 };
	struct ss_slab s;
	uint32_t *refs = calloc(N, sizeof *refs);

	(void)state;
	assert_non_null(refs);
	ss_slab_init(&s);
	/* Fill every chunk with its own index, then check none was
	 * overwritten by a neighbour. Sizes cycle through all classes. */
	for (int i = 0; i < N; i++) {
		size_t size = 1 + (size_t)(i * 37) % SS_SLAB_CHUNK_MAX;
		refs[i] = ss_slab_alloc(&s, size);
		assert_int_not_equal(refs[i], 0);
		assert_int_not_equal(refs[i], UINT32_MAX);
		char *p = ss_slab_ptr(&s, refs[i]);
		assert_int_equal((uintptr_t)p % 8, 0);
		memset(p, i & 0xff, size);
	}
	for (int i = 0; i < N; i++) {
		size_t size = 1 + (size_t)(i * 37) % SS_SLAB_CHUNK_MAX;
		const unsigned char *p = ss_slab_ptr(&s, refs[i]);
		for (size_t k = 0; k < size; k++)
			assert_int_equal(p[k], i & 0xff);
	}
	ss_slab_free(&s);
	free(refs);
}

static void a_released_chunk_is_reused_by_its_size(void **state)
{
	struct ss_slab s;

	(void)state;
	ss_slab_init(&s);
	uint32_t a = ss_slab_alloc(&s, 32);
	uint32_t b = ss_slab_alloc(&s, 32);
	assert_int_not_equal(a, b);
	size_t mem = ss_slab_memory(&s);
	ss_slab_release(&s, a, 32);
	assert_int_equal(ss_slab_alloc(&s, 29), a); /* 29 rounds to 32 */
	ss_slab_release(&s, b, 32);
	assert_int_not_equal(ss_slab_alloc(&s, 40), b); /* other size: new chunk */
	assert_int_equal(ss_slab_memory(&s), mem);
	ss_slab_free(&s);
}

static void page_tails_are_filed_not_lost(void **state)
{
	struct ss_slab s;

	(void)state;
	ss_slab_init(&s);
	/* 63 chunks of 1024 leave a 1024-byte tail; a 1000-byte request fits
	 * it; then 1024 does not fit the 24-byte tail, which is filed under
	 * 24 and handed out by the next 24-byte request. */
	for (int i = 0; i < 63; i++)
		assert_int_not_equal(ss_slab_alloc(&s, 1024), 0);
	uint32_t last = ss_slab_alloc(&s, 1000);
	assert_int_equal(ss_slab_memory(&s) / SS_SLAB_PAGE, 1);
	uint32_t next = ss_slab_alloc(&s, 1024);
	assert_int_equal(ss_slab_memory(&s) / SS_SLAB_PAGE, 2);
	uint32_t tail = ss_slab_alloc(&s, 24);
	assert_ptr_equal(ss_slab_ptr(&s, tail), (char *)ss_slab_ptr(&s, last) + 1000);
	assert_int_not_equal(next, tail);
	ss_slab_free(&s);
}

/* Past SS_SLAB_SMALL_PAGES, pages come from 2 MiB arenas: chunks there are
 * as usable and as disjoint as below, pages stay contiguous within an
 * arena, an arena counts whole in the memory figure, and the slab frees
 * them (ASan's leak check and munmap's ranges would tell otherwise). */
static void pages_past_the_small_ones_come_from_arenas(void **state)
{
	enum { CHUNK = 1024, PER_PAGE = SS_SLAB_PAGE / CHUNK };
	const uint32_t arena_pages = (2u << 20) / SS_SLAB_PAGE;
	uint32_t n = (SS_SLAB_SMALL_PAGES + arena_pages + 1) * PER_PAGE; /* 2 arenas begun */
	uint32_t *refs = calloc(n, sizeof *refs);
	struct ss_slab s;

	(void)state;
	assert_non_null(refs);
	ss_slab_init(&s);
	for (uint32_t i = 0; i < n; i++) {
		refs[i] = ss_slab_alloc(&s, CHUNK);
		assert_int_not_equal(refs[i], 0);
		memcpy(ss_slab_ptr(&s, refs[i]), &i, sizeof i);
		if (i == SS_SLAB_SMALL_PAGES * PER_PAGE - 1)
			assert_int_equal(ss_slab_memory(&s) - (size_t)s.pages_cap * sizeof(char *),
					 (size_t)SS_SLAB_SMALL_PAGES * SS_SLAB_PAGE);
		if (i == SS_SLAB_SMALL_PAGES * PER_PAGE) /* the first arena, whole */
			assert_int_equal(ss_slab_memory(&s) - (size_t)s.pages_cap * sizeof(char *),
					 (size_t)SS_SLAB_SMALL_PAGES * SS_SLAB_PAGE + (2u << 20));
	}
	assert_int_equal(s.npages, SS_SLAB_SMALL_PAGES + arena_pages + 1);
	assert_int_equal(ss_slab_memory(&s) - (size_t)s.pages_cap * sizeof(char *),
			 (size_t)SS_SLAB_SMALL_PAGES * SS_SLAB_PAGE + 2 * (2u << 20));
	for (uint32_t i = 0; i < n; i++) {
		uint32_t v;
		memcpy(&v, ss_slab_ptr(&s, refs[i]), sizeof v);
		assert_int_equal(v, i);
	}
	/* An arena is one mapping of 2 MiB, aligned: its pages follow each
	 * other, and the next arena starts on a 2 MiB boundary. */
	char *first = ss_slab_ptr(&s, refs[SS_SLAB_SMALL_PAGES * PER_PAGE]);
	char *second = ss_slab_ptr(&s, refs[(SS_SLAB_SMALL_PAGES + arena_pages) * PER_PAGE]);
	assert_int_equal((uintptr_t)first % (2u << 20), 0);
	assert_int_equal((uintptr_t)second % (2u << 20), 0);
	assert_ptr_equal(ss_slab_ptr(&s, refs[(SS_SLAB_SMALL_PAGES + 1) * PER_PAGE]),
			 first + SS_SLAB_PAGE);
	ss_slab_free(&s);
	free(refs);
}

static void oversized_requests_fail_with_enomem(void **state)
{
	struct ss_slab s;

	(void)state;
	ss_slab_init(&s);
	errno = 0;
	assert_int_equal(ss_slab_alloc(&s, SS_SLAB_CHUNK_MAX + 1), 0);
	assert_int_equal(errno, ENOMEM);
	ss_slab_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(chunks_are_aligned_and_disjoint),
		cmocka_unit_test(a_released_chunk_is_reused_by_its_size),
		cmocka_unit_test(page_tails_are_filed_not_lost),
		cmocka_unit_test(pages_past_the_small_ones_come_from_arenas),
		cmocka_unit_test(oversized_requests_fail_with_enomem),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
