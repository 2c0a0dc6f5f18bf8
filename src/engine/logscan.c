/*
 * logscan.c - reading a log's bytes; see logscan.h.
 *
 * Records are decoded in place: they point into the buffer, and nothing is
 * allocated or copied per record. A group's records are held as decoded
 * records in one array, grown as needed and reused for every group, until
 * the whole group is known to be valid.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/logscan.h"

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

/* How far ahead of apply the prefetch hints run, in records: a cache miss
 * costs about as much as applying a few records. */
#define AHEAD_SLOT 16
#define AHEAD_ENTRY 8

int ss_logscan_replay(long version, const char *buf, size_t size, size_t pos,
		      ss_logscan_apply_fn apply, ss_logscan_prefetch_fn prefetch, void *arg,
		      struct ss_logscan *re)
{
	struct ss_record r, *rs = NULL; /* one group's records, reused */
	size_t cap = 0, used, gpos;
	uint64_t nrec = 0;

	re->groups = re->data = 0;
	uint32_t count, k;
	enum ss_dec d = SS_DEC_OK;
	int ret = -1;

	for (;;) {
		re->good_end = re->bad = re->group = pos;
		re->good_nrec = re->nrec = nrec;
		re->why = "is not a valid GROUP line";
		if (pos == size)
			break;
		if (ss_record_decode_version(version, buf + pos, size - pos, &r, &used) != SS_DEC_OK)
			break;
		if (r.type != SS_REC_GROUP) {
			re->why = "is a record outside any group";
			break;
		}
		count = r.count;
		if (grow(&rs, &cap, count) < 0)
			goto out;
		gpos = pos + used;
		for (k = 0; k < count; k++) {
			if (gpos == size)
				break;
			d = ss_record_decode_version(version, buf + gpos, size - gpos, &rs[k], &used);
			if (d != SS_DEC_OK || rs[k].type == SS_REC_GROUP)
				break;
			gpos += used;
		}
		if (k < count) {
			re->bad = gpos;
			re->nrec = nrec + 1 + k;
			re->why = gpos == size	   ? "ends the file inside the group" :
				  d == SS_DEC_OK ? "is a GROUP line inside the group" :
						   "is not a valid record of the group";
			break;
		}
		for (k = 0; k < count; k++) {
			if (prefetch && k + AHEAD_SLOT < count)
				prefetch(arg, &rs[k + AHEAD_SLOT], 0);
			if (prefetch && k + AHEAD_ENTRY < count)
				prefetch(arg, &rs[k + AHEAD_ENTRY], 1);
			if (apply(arg, &rs[k]) < 0)
				goto out;
		}
		nrec += 1 + count;
		re->groups++;
		re->data += count;
		pos = gpos;
	}
	ret = 0;
out:
	free(rs);
	return ret;
}

