/*
 * logscan.c - reading a log's bytes; see logscan.h.
 *
 * Records are decoded in place: they point into the buffer, and nothing is
 * allocated or copied per record. Decoded records are held in blocks of
 * whole groups, arrays grown as needed and reused, and a group is applied
 * only once all its records were read and found valid.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "engine/logscan.h"
#include "engine/thread.h"

/* 1 if c can appear in a record line: a token byte or the space (an
 * escaped field holds only token bytes). */
static int record_byte(unsigned char c)
{
	return c == ' ' || ss_is_token_char(c);
}

/* Returns 1 if a complete valid group starts at pos: a valid GROUP k line
 * and k valid SET/DEL records. Otherwise returns 0 and sets *stop to where a
 * later group could start at the earliest: past the valid records that
 * followed a valid GROUP line (none of them can start a group), else pos. */
static int complete_group(long version, const char *buf, size_t size, size_t pos,
			  size_t *stop)
{
	struct ss_record r;
	size_t used;
	uint32_t count;

	*stop = pos;
	if (ss_record_decode_version(version, buf + pos, size - pos, &r, &used) != SS_DEC_OK ||
	    r.type != SS_REC_GROUP)
		return 0;
	count = r.count;
	pos += used;
	for (uint32_t k = 0; k < count; k++) {
		*stop = pos;
		if (pos == size || ss_record_decode_version(version, buf + pos, size - pos, &r, &used) != SS_DEC_OK ||
		    r.type == SS_REC_GROUP)
			return 0;
		pos += used;
	}
	return 1;
}

long long ss_logscan_find_group(long version, const char *buf, size_t size, size_t pos)
{
	size_t stop;

	while (pos < size) {
		const char *nl = memchr(buf + pos, '\n', size - pos);
		size_t eol = nl ? (size_t)(nl - buf) + 1 : size;
		size_t at = nl ? eol - 1 : eol;
		size_t next = eol;

		if (complete_group(version, buf, size, pos, &stop))
			return (long long)pos;
		if (stop > next)
			next = stop;
		while (at > pos && record_byte((unsigned char)buf[at - 1]))
			at--;
		if (at > pos && at < eol) {
			if (complete_group(version, buf, size, at, &stop))
				return (long long)at;
			if (stop > next)
				next = stop;
		}
		pos = next;
	}
	return -1;
}

/* Makes room for n decoded records in *rs. Returns 0 or -1 (ENOMEM). */
static int grow(struct ss_record **rs, size_t *cap, size_t n)
{
	size_t c = *cap ? *cap : 64;
	struct ss_record *p;

	if (n <= *cap)
		return 0;
	while (c < n)
		c *= 2;
	p = realloc(*rs, c * sizeof(*p));
	if (!p) {
		errno = ENOMEM;
		return -1;
	}
	*rs = p;
	*cap = c;
	return 0;
}

/*
 * Replay in two stages: decode (find each line, parse its fields, check its
 * CRC) and apply (the table). Decoding is about a third of a replay and
 * needs nothing from the table, so on a log worth it a second thread
 * decodes blocks of whole groups while this one applies the blocks before.
 * Records point into the mapped log, which outlives both, so a block is
 * only an array of decoded records. A block ends after the group that
 * takes it past BLOCK_RECS records, so a group is never split; the last
 * block carries the scan's verdict.
 */
#define BLOCK_RECS 2048
#define NBLOCKS 4


/* Where a group of a block starts: in the log, and in the block's rs. */
struct group_at {
	size_t off;
	size_t first;
};

struct block {
	struct ss_record *rs; /* the decoded records of whole groups */
	size_t n, cap;
	struct group_at *gs;  /* with a group hook only: the block's groups */
	size_t ng, gcap;
	int last;	       /* the scan ended here: verdict holds */
	int nomem;	       /* ... because rs could not grow */
	int full;	       /* decoded, not yet applied (threaded only) */
	struct ss_logscan verdict;
};

struct scan {
	long version;
	const char *buf;
	size_t size, pos;
	int groups; /* a group hook wants each group's offset */
	uint64_t nrec;
	struct ss_logscan re; /* the decoder's running state */
	/* threaded only */
	struct block blk[NBLOCKS];
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop; /* the applier gave up: the decoder ends */
};

/* Makes room for one more group in b->gs. Returns 0 or -1 (ENOMEM). */
static int grow_groups(struct block *b)
{
	size_t c = b->gcap ? b->gcap * 2 : 64;
	struct group_at *p;

	if (b->ng < b->gcap)
		return 0;
	p = realloc(b->gs, c * sizeof(*p));
	if (!p) {
		errno = ENOMEM;
		return -1;
	}
	b->gs = p;
	b->gcap = c;
	return 0;
}

/* Decodes whole groups from s->pos into b until it holds BLOCK_RECS records
 * or the scan ends (b->last, with the verdict). */
static void decode_block(struct scan *s, struct block *b)
{
	struct ss_logscan *re = &s->re;
	struct ss_record r;
	size_t used, gpos;
	uint32_t count, k;
	enum ss_dec d = SS_DEC_OK;

	b->n = b->ng = 0;
	b->last = b->nomem = 0;
	while (b->n < BLOCK_RECS) {
		re->good_end = re->bad = re->group = s->pos;
		re->good_nrec = re->nrec = s->nrec;
		re->why = "is not a valid GROUP line";
		b->last = 1;
		if (s->pos == s->size)
			break;
		if (ss_record_decode_version(s->version, s->buf + s->pos, s->size - s->pos, &r,
					     &used) != SS_DEC_OK)
			break;
		if (r.type != SS_REC_GROUP) {
			re->why = "is a record outside any group";
			break;
		}
		count = r.count;
		if (grow(&b->rs, &b->cap, b->n + count) < 0 ||
		    (s->groups && grow_groups(b) < 0)) {
			b->nomem = 1;
			break;
		}
		gpos = s->pos + used;
		for (k = 0; k < count; k++) {
			if (gpos == s->size)
				break;
			d = ss_record_decode_version(s->version, s->buf + gpos, s->size - gpos,
						     &b->rs[b->n + k], &used);
			if (d != SS_DEC_OK || b->rs[b->n + k].type == SS_REC_GROUP)
				break;
			gpos += used;
		}
		if (k < count) {
			re->bad = gpos;
			re->nrec = s->nrec + 1 + k;
			re->why = gpos == s->size    ? "ends the file inside the group" :
				  d == SS_DEC_OK ? "is a GROUP line inside the group" :
						   "is not a valid record of the group";
			break;
		}
		b->last = 0;
		if (s->groups)
			b->gs[b->ng++] = (struct group_at){.off = s->pos, .first = b->n};
		b->n += count;
		s->nrec += 1 + count;
		re->groups++;
		re->data += count;
		s->pos = gpos;
	}
	b->verdict = *re;
}

/* How far ahead of apply the prefetch hints run, in records: a cache miss
 * costs about as much as applying a few records. */
#define AHEAD_SLOT 16
#define AHEAD_ENTRY 8

/* A block that grew for one huge group (a flush of a million records)
 * gives its memory back once applied, so four blocks never hold four.
 * Groups of everyday batches (thousands of records) keep theirs: freeing
 * and growing them again per block cost a third of a replay. */
static void shrink_block(struct block *b)
{
	if (b->cap > 64 * BLOCK_RECS) {
		free(b->rs);
		b->rs = NULL;
		b->cap = 0;
	}
	if (b->gcap > 64 * BLOCK_RECS) {
		free(b->gs);
		b->gs = NULL;
		b->gcap = 0;
	}
}

/* Applies b's records [from, to). */
static int apply_range(const struct block *b, size_t from, size_t to, ss_logscan_apply_fn apply,
		       ss_logscan_prefetch_fn prefetch, void *arg)
{
	for (size_t k = from; k < to; k++) {
		if (prefetch && k + AHEAD_SLOT < b->n)
			prefetch(arg, &b->rs[k + AHEAD_SLOT], 0);
		if (prefetch && k + AHEAD_ENTRY < b->n)
			prefetch(arg, &b->rs[k + AHEAD_ENTRY], 1);
		if (apply(arg, &b->rs[k]) < 0)
			return -1;
	}
	return 0;
}

/* Without a group hook a block is one run of records; with one, the hook
 * runs before each group's: a cost per group, not per record. */
static int apply_block(const struct block *b, ss_logscan_apply_fn apply,
		       ss_logscan_prefetch_fn prefetch, ss_logscan_group_fn group, void *arg)
{
	if (!group)
		return apply_range(b, 0, b->n, apply, prefetch, arg);
	for (size_t g = 0; g < b->ng; g++) {
		size_t from = b->gs[g].first, to = g + 1 < b->ng ? b->gs[g + 1].first : b->n;
		if (group(arg, b->gs[g].off, b->rs + from, to - from) < 0 ||
		    apply_range(b, from, to, apply, prefetch, arg) < 0)
			return -1;
	}
	return 0;
}

static void *decoder_main(void *arg)
{
	struct scan *s = arg;

	for (unsigned i = 0;; i = (i + 1) % NBLOCKS) {
		struct block *b = &s->blk[i];

		pthread_mutex_lock(&s->mu);
		while (b->full && !s->stop)
			pthread_cond_wait(&s->cv, &s->mu);
		int stop = s->stop;
		pthread_mutex_unlock(&s->mu);
		if (stop)
			break;
		decode_block(s, b);
		pthread_mutex_lock(&s->mu);
		b->full = 1;
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
		if (b->last)
			break;
	}
	return NULL;
}

/* Applies the blocks the decoder thread fills, in order, until the last.
 * Returns what ss_logscan_replay returns. */
static int replay_threaded(struct scan *s, ss_logscan_apply_fn apply,
			   ss_logscan_prefetch_fn prefetch, ss_logscan_group_fn group, void *arg,
			   struct ss_logscan *re)
{
	int ret = -1, e = 0;

	for (unsigned i = 0;; i = (i + 1) % NBLOCKS) {
		struct block *b = &s->blk[i];

		pthread_mutex_lock(&s->mu);
		while (!b->full)
			pthread_cond_wait(&s->cv, &s->mu);
		pthread_mutex_unlock(&s->mu);
		if (apply_block(b, apply, prefetch, group, arg) < 0) {
			e = errno;
			*re = b->verdict;
			break;
		}
		if (b->last) {
			*re = b->verdict;
			ret = b->nomem ? -1 : 0;
			e = ENOMEM;
			break;
		}
		shrink_block(b);
		pthread_mutex_lock(&s->mu);
		b->full = 0;
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
	}
	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	if (ret < 0)
		errno = e;
	return ret;
}

int ss_logscan_replay(long version, const char *buf, size_t size, size_t pos,
		      size_t thread_min, ss_logscan_apply_fn apply, ss_logscan_prefetch_fn prefetch,
		      ss_logscan_group_fn group, void *arg, struct ss_logscan *re)
{
	struct scan s = {
		.version = version, .buf = buf, .size = size, .pos = pos, .groups = group != NULL};
	pthread_t thread;
	int ret = -1, threaded = 0;

	if (!thread_min)
		thread_min = SS_LOGSCAN_THREAD_MIN;
	if (size - pos >= thread_min && pthread_mutex_init(&s.mu, NULL) == 0) {
		if (pthread_cond_init(&s.cv, NULL) == 0) {
			threaded = ss_thread_start(&thread, decoder_main, &s) == 0;
			if (!threaded)
				pthread_cond_destroy(&s.cv);
		}
		if (!threaded)
			pthread_mutex_destroy(&s.mu);
	}
	if (threaded) {
		ret = replay_threaded(&s, apply, prefetch, group, arg, re);
		int e = errno;
		(void)pthread_join(thread, NULL); /* cannot fail: joinable, not us */
		pthread_cond_destroy(&s.cv);
		pthread_mutex_destroy(&s.mu);
		errno = e;
	} else {
		/* One thread: decode a block, apply it. */
		struct block *b = &s.blk[0];
		for (;;) {
			decode_block(&s, b);
			*re = b->verdict;
			if (apply_block(b, apply, prefetch, group, arg) < 0)
				break;
			if (b->last) {
				ret = b->nomem ? -1 : 0;
				break;
			}
			shrink_block(b);
		}
		if (ret < 0 && b->nomem)
			errno = ENOMEM;
	}
	for (unsigned i = 0; i < NBLOCKS; i++) {
		free(s.blk[i].rs);
		free(s.blk[i].gs);
	}
	return ret;
}
