/*
 * repl.c - the primary's side of replication; see repl.h.
 *
 * Divisions: the index of durable groups; a link's stream (fill); the
 * handshake (adopt) and what the replica sends back (ACK); the sync set
 * and the gate; full sync; the timers; the rows INFO shows.
 */
#include "server/repl.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/numparse.h"
#include "statestored/batch.h"
#include "statestored/table.h"

/* Bytes read from the log (or a full sync's file) per pread. */
#define REPL_CHUNK (256u * 1024)
/* Longest line a replica sends (ACK <rev>). */
#define REPL_LINE_MAX 64
/* Index entries kept: past this the oldest half is dropped, and a replica
 * behind what is left gets a full sync. */
#define REPL_IDX_MAX (4u * 1024 * 1024)

enum link_state { LINK_WAIT_FULL, LINK_FILE, LINK_ONLINE };

struct ss_repl_link {
	struct ss_repl *r;
	void *client;
	struct ss_buf *in, *out;
	struct ss_repl_link *next;
	char id[80];
	enum link_state state;
	uint64_t cursor;      /* the next log byte to send */
	uint64_t skip_to;     /* a partial group's records up to this are held already */
	uint64_t sent_commit; /* the last COMMIT sent */
	uint64_t acked;       /* the replica's durable revision */
	double heard;         /* when it last sent anything */
	double caught_up;     /* when its ACK last matched the durable revision */
	int file_fd;
	uint64_t file_off, file_len; /* a full sync's file: sent, and its size */
	uint64_t after_rev;   /* a full sync's: the stream goes on after it */
	unsigned in_set : 1, set_news : 1, ping_due : 1;
};

static double now(const struct ss_repl *r) { return ev_now(r->loop); }

/* ---- the index of durable groups ------------------------------------- */

static void idx_reset(struct ss_repl *r, uint64_t rev, uint64_t off)
{
	r->nidx = 0;
	r->base_mixed = 0;
	r->base_rev = r->durable_rev = rev;
	r->base_off = r->durable_end = off;
}

/* A durable group ends at end with last revision rev. */
static void note_group(struct ss_repl *r, uint64_t rev, uint64_t end)
{
	if (r->nidx == REPL_IDX_MAX) {
		size_t half = r->nidx / 2;
		r->base_rev = r->idx[half - 1].rev;
		r->base_off = r->idx[half - 1].end;
		memmove(r->idx, r->idx + half, (r->nidx - half) * sizeof(*r->idx));
		r->nidx -= half;
	}
	if (r->nidx == r->capidx) {
		size_t cap = r->capidx ? r->capidx * 2 : 1024;
		struct ss_repl_idx *p = realloc(r->idx, cap * sizeof(*p));
		if (!p) {
			/* Forget the history rather than fail the commit: a
			 * replica behind this point gets a full sync. */
			idx_reset(r, rev, end);
			return;
		}
		r->idx = p;
		r->capidx = cap;
	}
	r->idx[r->nidx++] = (struct ss_repl_idx){rev, end};
	r->durable_rev = rev;
	r->durable_end = end;
}

/* Where the stream for a replica holding everything up to rev, of epoch
 * epoch, starts: *off, a group's start, and *skip: that group's records up
 * to skip are held already (0: send it whole). Returns 0, or -1 if the log
 * no longer reaches back there (a full sync). */
static int stream_start(const struct ss_repl *r, uint64_t rev, uint64_t epoch, uint64_t *off,
			uint64_t *skip)
{
	*skip = 0;
	if (rev < r->base_rev)
		return -1;
	if (rev == r->base_rev) {
		*off = r->base_off;
		*skip = r->base_mixed ? rev : 0;
		return 0;
	}
	/* The first group whose last revision reaches rev. */
	size_t lo = 0, hi = r->nidx;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (r->idx[mid].rev < rev)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == r->nidx)
		return -1; /* past what is durable here */
	if (r->idx[lo].rev == rev) {
		/* Groups that take no revision (a promotion's EPOCH) end at rev
		 * too: a replica of our epoch holds them all, one of an older
		 * epoch needs the ones after the first (it skips an EPOCH it
		 * holds). */
		if (epoch == ss_table_epoch(ss_store_table(r->store)))
			while (lo + 1 < r->nidx && r->idx[lo + 1].rev == rev)
				lo++;
		*off = r->idx[lo].end;
		return 0;
	}
	/* rev is inside this group: a replica's log groups are the primary's
	 * merged, so a replica may hold part of one of ours. */
	*off = lo ? r->idx[lo - 1].end : r->base_off;
	*skip = rev;
	return 0;
}

/* The end of the first group ending after off, and the last one ending
 * at most at limit (0 if none). */
static void boundaries(const struct ss_repl *r, uint64_t off, uint64_t limit, uint64_t *first,
		       uint64_t *last)
{
	size_t lo = 0, hi = r->nidx;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (r->idx[mid].end <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	*first = lo < r->nidx ? r->idx[lo].end : r->durable_end;
	*last = 0;
	size_t a = lo, b = r->nidx;
	while (a < b) {
		size_t mid = a + (b - a) / 2;
		if (r->idx[mid].end <= limit)
			a = mid + 1;
		else
			b = mid;
	}
	if (a > lo)
		*last = r->idx[a - 1].end;
}

/* ---- a link's stream ---------------------------------------------------- */

/* The records of the group at [off, end) past revision skip, framed as a
 * group of their own: for a replica that holds the rest. */
static int send_rest_of_group(struct ss_repl_link *l, uint64_t off, uint64_t end)
{
	struct ss_batch b;
	struct ss_buf raw;
	int fd = ss_store_log_fd(l->r->store), rc = -1;
	char *name = malloc(SS_NAME_MAX + SS_VALUE_MAX);

	ss_batch_init(&b);
	ss_buf_init(&raw);
	if (!name || ss_buf_pread(&raw, fd, off, (size_t)(end - off)) < 0)
		goto out;
	const char *p = ss_buf_head(&raw), *e = p + ss_buf_size(&raw);
	for (int first = 1; p < e; first = 0) {
		struct ss_record rec;
		size_t used;
		if (ss_record_decode(p, (size_t)(e - p), &rec, &used) != SS_DEC_OK)
			goto out;
		p += used;
		if (first || rec.rev <= l->skip_to)
			continue; /* the GROUP line, and what the replica holds */
		struct ss_record raw_rec;
		ss_record_raw(&rec, name, &raw_rec);
		if (ss_batch_add(&b, &raw_rec, NULL) < 0)
			goto out;
	}
	size_t n;
	const char *g = ss_batch_seal(&b, &n);
	rc = n ? ss_buf_append(l->out, g, n) : 0;
out:
	free(name);
	ss_buf_free(&raw);
	ss_batch_free(&b);
	return rc;
}

/* The epochs a replica of an older epoch lacks that began at or before
 * the point it holds (those after it come with the stream), as a group of
 * their own: a compaction or a restart may have left them only in a
 * snapshot, before where the stream starts. The replica skips one it has. */
static int send_epochs(struct ss_repl_link *l, uint64_t epoch, uint64_t upto)
{
	const struct ss_epoch *h;
	size_t n = ss_table_epochs(ss_store_table(l->r->store), &h);
	struct ss_batch b;
	int rc = 0;

	ss_batch_init(&b);
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct ss_record e = {.type = SS_REC_EPOCH, .epoch = h[i].epoch, .rev = h[i].rev};
		if (h[i].epoch > epoch && h[i].rev <= upto)
			rc = ss_batch_add(&b, &e, NULL);
	}
	size_t len;
	const char *g = ss_batch_seal(&b, &len);
	if (rc == 0 && len)
		rc = ss_buf_append(l->out, g, len);
	ss_batch_free(&b);
	return rc;
}

/* Control lines go only between groups: here, cursor is at a boundary. */
static int control_lines(struct ss_repl_link *l)
{
	struct ss_repl *r = l->r;

	if (l->sent_commit < r->commit_rev) {
		if (ss_buf_printf(l->out, "COMMIT %" PRIu64 "\n", r->commit_rev) < 0)
			return -1;
		l->sent_commit = r->commit_rev;
	}
	if (l->set_news) {
		if (ss_buf_printf(l->out, "SYNCSET %d ", l->in_set) < 0)
			return -1;
		int any = 0;
		for (unsigned i = 0; i < r->sync_replicas; i++)
			if (r->set[i] && ss_buf_printf(l->out, "%s%s", any++ ? "," : "", r->set[i]->id) < 0)
				return -1;
		if (ss_buf_puts(l->out, any ? "\n" : "-\n") < 0)
			return -1;
		l->set_news = 0;
	}
	if (l->ping_due) {
		if (ss_buf_printf(l->out, "PING %lld %" PRIu64 "\n", (long long)(now(r) * 1000.0),
				  r->durable_rev) < 0)
			return -1;
		l->ping_due = 0;
	}
	return 0;
}

static void remove_full_dir(struct ss_repl *r);

/* A link is done with the full sync's file: once no link reads it, and no
 * other waits for it, it goes. */
static void full_sent(struct ss_repl *r, const struct ss_repl_link *done)
{
	for (const struct ss_repl_link *l = r->links; l; l = l->next)
		if (l != done && (l->state == LINK_FILE || l->state == LINK_WAIT_FULL))
			return;
	if (!r->full_running)
		remove_full_dir(r);
}

/* Tops up the link's output: the full sync's file, then the log's
 * durable groups, up to --repl-buffer queued. Returns 0, or -1 (the link
 * must close). */
static int fill(struct ss_repl_link *l)
{
	struct ss_repl *r = l->r;

	while (ss_buf_size(l->out) < r->buffer) {
		if (l->state == LINK_WAIT_FULL)
			return 0;
		if (l->state == LINK_FILE) {
			uint64_t left = l->file_len - l->file_off;
			size_t n = left < REPL_CHUNK ? (size_t)left : REPL_CHUNK;
			if (n > 0 && ss_buf_pread(l->out, l->file_fd, l->file_off, n) < 0) {
				ss_log_warn(r->diag, "replica %s: cannot read the full sync file: %s",
					    l->id, strerror(errno));
				return -1;
			}
			l->file_off += n;
			if (l->file_off < l->file_len)
				continue;
			close(l->file_fd);
			l->file_fd = -1;
			full_sent(r, l);
			uint64_t off;
			if (stream_start(r, l->after_rev, ss_table_epoch(ss_store_table(r->store)), &off,
					 &l->skip_to) < 0) {
				ss_log_warn(r->diag, "replica %s: the log moved on during its full "
						     "sync; it starts again", l->id);
				return -1;
			}
			l->cursor = off;
			l->state = LINK_ONLINE;
			continue;
		}
		if (l->cursor >= r->durable_end)
			return control_lines(l);
		uint64_t first, last;
		boundaries(r, l->cursor, l->cursor + REPL_CHUNK, &first, &last);
		if (l->skip_to) {
			if (send_rest_of_group(l, l->cursor, first) < 0)
				return -1;
			l->skip_to = 0;
			l->cursor = first;
			if (control_lines(l) < 0)
				return -1;
			continue;
		}
		uint64_t to = last > l->cursor ? last : first;
		size_t n = to - l->cursor < REPL_CHUNK ? (size_t)(to - l->cursor) : REPL_CHUNK;
		if (ss_buf_pread(l->out, ss_store_log_fd(r->store), l->cursor, n) < 0) {
			ss_log_warn(r->diag, "replica %s: cannot read the log: %s", l->id,
				    strerror(errno));
			return -1;
		}
		l->cursor += n;
		if (l->cursor == to && control_lines(l) < 0)
			return -1;
	}
	return 0;
}

static void close_link(struct ss_repl_link *l);

/* Tops up every link and sends what it can. Reads nothing: the caller
 * may be inside the commit cycle, which must not be re-entered. */
static void fill_all(struct ss_repl *r)
{
	struct ss_repl_link *nx;

	for (struct ss_repl_link *l = r->links; l; l = nx) {
		nx = l->next;
		if (fill(l) < 0)
			close_link(l);
		else
			r->ops.kick(l->client);
	}
}

/* ---- the sync set and the gate ----------------------------------------- */

static void set_changed(struct ss_repl *r)
{
	for (struct ss_repl_link *l = r->links; l; l = l->next)
		l->set_news = 1;
	ss_log_info(r->diag, "sync set changed");
}

static unsigned set_size(const struct ss_repl *r)
{
	unsigned n = 0;

	for (unsigned i = 0; i < r->sync_replicas; i++)
		n += r->set[i] != NULL;
	return n;
}

/* A replica joins the sync set once it holds everything acknowledged. */
static void maybe_join(struct ss_repl *r, struct ss_repl_link *l)
{
	if (l->in_set || l->state != LINK_ONLINE || l->acked < r->commit_rev || r->fenced)
		return;
	for (unsigned i = 0; i < r->sync_replicas; i++)
		if (!r->set[i]) {
			r->set[i] = l;
			l->in_set = 1;
			ss_log_notice(r->diag, "replica %s joined the sync set at revision %" PRIu64,
				      l->id, l->acked);
			set_changed(r);
			return;
		}
}

/* Whether N members of the sync set have the held batch. */
static int enough_acks(const struct ss_repl *r)
{
	unsigned n = 0;

	if (!r->held_rev || r->fenced)
		return 0;
	for (unsigned i = 0; i < r->sync_replicas; i++)
		n += r->set[i] && r->set[i]->acked >= r->held_rev;
	return n >= r->sync_replicas;
}

/* The held batch goes once N members of the sync set have it - from the
 * loop, not from inside the ACK that made it so: releasing answers its
 * clients, whose next requests run at once and may close links (this one
 * among them: CLIENT KILL, REPLICAOF) under the caller's feet. */
static void maybe_release(struct ss_repl *r)
{
	if (enough_acks(r) && !ev_is_active(&r->release_w))
		ev_idle_start(r->loop, &r->release_w);
}

static void on_release(struct ev_loop *loop, ev_idle *w, int revents)
{
	(void)loop;
	(void)revents;
	struct ss_repl *r = w->data;

	ev_idle_stop(r->loop, w);
	if (!enough_acks(r))
		return;
	r->commit_rev = r->held_rev;
	ss_repl_commit_note(r, r->commit_rev);
	ss_store_limit_backup_tail(r->store, 0); /* nothing held: the log's end */
	r->held_rev = 0;
	r->open_seen = 0;
	ev_timer_stop(r->loop, &r->wait_w);
	ss_commit_release(r->commit);
	fill_all(r);
}

static int gate_held(void *arg, struct ss_batch *b, uint64_t last_rev, uint64_t log_end)
{
	struct ss_repl *r = arg;
	(void)b;

	uint64_t before = r->durable_end;
	note_group(r, last_rev, log_end);
	if (r->sync_replicas == 0) {
		r->commit_rev = last_rev;
		if (r->nlinks) /* a node that never had a replica keeps no file */
			ss_repl_commit_note(r, last_rev);
		fill_all(r);
		return 0;
	}
	r->held_rev = last_rev;
	r->held_end = log_end;
	/* A backup taken meanwhile (a full sync) stops before it. */
	ss_store_limit_backup_tail(r->store, before);
	r->st.sync_waits++;
	if (r->sync_timeout > 0) {
		ev_timer_set(&r->wait_w, r->sync_timeout, r->sync_timeout);
		ev_timer_start(r->loop, &r->wait_w);
	}
	fill_all(r);
	return 1;
}

/* --sync-timeout, every period while a batch is held: the held batch's
 * clients (durable here, waiting) and the open batch's that were there at
 * the last expiry (not written yet, waiting behind it) are told their
 * outcome is unknown. So no write is answered before it waited the
 * timeout, and none waits past twice it. */
static void on_wait(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	struct ss_repl *r = w->data;
	char held[200], open[200];

	if (!r->held_rev) {
		ev_timer_stop(r->loop, w);
		return;
	}
	r->st.sync_timeouts++;
	snprintf(held, sizeof held,
		 "sync timeout: durable here but not on %u replicas; the outcome is unknown, "
		 "GETREV_CHECKPOINT resolves it",
		 r->sync_replicas);
	snprintf(open, sizeof open,
		 "sync timeout: not yet written, waiting behind a write not on %u replicas; the "
		 "outcome is unknown, GETREV_CHECKPOINT resolves it",
		 r->sync_replicas);
	size_t seen = r->open_seen;
	r->open_seen = r->commit->open->nops;
	ss_commit_abandon_parts(r->commit, held, seen, open);
}

void ss_repl_fence(struct ss_repl *r, uint64_t epoch)
{
	char msg[160];

	if (r->fenced && epoch <= r->fenced_epoch)
		return;
	r->fenced = 1;
	r->fenced_epoch = epoch;
	ss_log_error(r->diag, "fenced: epoch %" PRIu64 " exists, newer than this primary's %" PRIu64
			      "; no write is acknowledged from now on",
		     epoch, ss_table_epoch(ss_store_table(r->store)));
	snprintf(msg, sizeof msg, "fenced: epoch %" PRIu64 " exists, newer than this primary's "
				  "epoch %" PRIu64,
		 epoch, ss_table_epoch(ss_store_table(r->store)));
	ss_commit_abandon(r->commit, msg);
}

/* ---- links: the handshake and what replicas send ----------------------- */

static void unset(struct ss_repl *r, struct ss_repl_link *l)
{
	if (!l->in_set)
		return;
	for (unsigned i = 0; i < r->sync_replicas; i++)
		if (r->set[i] == l)
			r->set[i] = NULL;
	l->in_set = 0;
	ss_log_notice(r->diag, "replica %s left the sync set", l->id);
	set_changed(r);
	/* Another caught-up replica takes its place. */
	for (struct ss_repl_link *o = r->links; o; o = o->next)
		if (o != l)
			maybe_join(r, o);
}

static void forget(struct ss_repl_link *l)
{
	struct ss_repl *r = l->r;
	struct ss_repl_link **p = &r->links;

	while (*p && *p != l)
		p = &(*p)->next;
	if (*p) {
		*p = l->next;
		r->nlinks--;
	}
	unset(r, l);
	if (l->file_fd >= 0)
		close(l->file_fd);
	free(l);
}

void ss_repl_link_closed(struct ss_repl_link *l)
{
	ss_log_notice(l->r->diag, "replica %s disconnected", l->id);
	forget(l);
}

/* The server closes the client; its closed callback forgets the link. */
static void close_link(struct ss_repl_link *l)
{
	l->r->ops.close(l->client);
}

void *ss_repl_link_client(const struct ss_repl_link *l) { return l->client; }

/* Where a replica holding (epoch, rev) and this primary's histories part:
 * the last revision both share. */
static uint64_t common_point(const struct ss_repl *r, uint64_t epoch, uint64_t rev, int *known)
{
	const struct ss_epoch *h;
	size_t n = ss_table_epochs(ss_store_table(r->store), &h);
	uint64_t mine = ss_table_epoch(ss_store_table(r->store));

	*known = 1;
	if (epoch == mine)
		return rev < r->durable_rev ? rev : r->durable_rev;
	/* The epoch after the replica's began after revision h[i].rev: what
	 * the replica wrote past it under its own epoch is not ours. */
	int seen = epoch == 0;
	for (size_t i = 0; i < n; i++) {
		if (h[i].epoch == epoch)
			seen = 1;
		if (h[i].epoch > epoch)
			return rev < h[i].rev ? rev : h[i].rev;
	}
	*known = seen;
	return rev;
}

struct ss_repl_link *ss_repl_adopt(struct ss_repl *r, void *client, struct ss_buf *in,
				   struct ss_buf *out, const char *addr, uint64_t epoch, uint64_t rev,
				   int port, int full)
{
	uint64_t mine = ss_table_epoch(ss_store_table(r->store));

	if (!r->active) {
		ss_buf_puts(out, "ERR not a primary\n");
		return NULL;
	}
	if (epoch > mine) {
		ss_repl_fence(r, epoch);
		ss_buf_printf(out, "ERR fenced: epoch %" PRIu64 " exists, newer than this primary's "
				   "epoch %" PRIu64 "\n", epoch, mine);
		return NULL;
	}
	struct ss_repl_link *l = calloc(1, sizeof(*l));
	if (!l) {
		ss_buf_puts(out, "ERR out of memory\n");
		return NULL;
	}
	l->r = r;
	l->client = client;
	l->in = in;
	l->out = out;
	l->file_fd = -1;
	l->heard = l->caught_up = now(r);
	/* Its id: its address as we see it, with the port it serves on. */
	char host[64];
	snprintf(host, sizeof host, "%s", addr);
	char *colon = strrchr(host, ':');
	if (colon)
		*colon = '\0';
	snprintf(l->id, sizeof l->id, "%s:%d", host, port);

	int known;
	uint64_t common = common_point(r, epoch, rev, &known);
	uint64_t off;
	if (!full && known && common < rev) {
		ss_log_notice(r->diag, "replica %s holds revisions past %" PRIu64 " that are not "
				       "ours: it cuts them",
			      l->id, common);
		ss_buf_printf(out, "TRUNCATE %" PRIu64 "\n", common);
		free(l);
		return NULL; /* it cuts, then asks again */
	}
	l->next = r->links;
	r->links = l;
	r->nlinks++;
	l->set_news = 1;
	if (!full && known && stream_start(r, common, epoch, &off, &l->skip_to) == 0) {
		r->st.partial_syncs++;
		l->state = LINK_ONLINE;
		l->cursor = off;
		l->acked = common;
		ss_log_notice(r->diag, "replica %s: partial sync from revision %" PRIu64, l->id,
			      common);
		ss_buf_printf(out, "CONTINUE %" PRIu64 " %" PRIu64 "\n", mine, common);
		if (epoch < mine && send_epochs(l, epoch, common) < 0) {
			forget(l);
			return NULL;
		}
	} else {
		l->state = LINK_WAIT_FULL;
		r->full_wanted = 1;
		r->ops.want_backup(r->ops.arg);
		ss_log_notice(r->diag, "replica %s: full sync (it holds revision %" PRIu64
				       " of epoch %" PRIu64 ")",
			      l->id, rev, epoch);
	}
	if (fill(l) < 0) {
		forget(l);
		return NULL;
	}
	maybe_join(r, l);
	return l;
}

/* One line from the replica: ACK <rev>. */
static int link_line(struct ss_repl_link *l, const char *p, size_t n)
{
	struct ss_repl *r = l->r;
	uint64_t rev;

	if (n > 4 && memcmp(p, "ACK ", 4) == 0 && ss_parse_u64(p + 4, n - 4, &rev) == 0) {
		if (rev > r->durable_rev) {
			ss_log_warn(r->diag, "replica %s acknowledged revision %" PRIu64
					     ", past ours (%" PRIu64 ")", l->id, rev, r->durable_rev);
			return -1;
		}
		if (rev > l->acked)
			l->acked = rev;
		if (l->acked >= r->durable_rev)
			l->caught_up = now(r);
		maybe_join(r, l);
		maybe_release(r);
		return 0;
	}
	ss_log_warn(r->diag, "replica %s sent a line that is not ACK <rev>; dropping it", l->id);
	return -1;
}

int ss_repl_link_io(struct ss_repl_link *l)
{
	struct ss_buf *in = l->in;

	for (;;) {
		size_t n = ss_buf_size(in);
		const char *p = ss_buf_head(in);
		const char *nl = memchr(p, '\n', n);
		if (!nl) {
			if (n > REPL_LINE_MAX)
				return -1;
			break;
		}
		l->heard = now(l->r);
		size_t len = (size_t)(nl - p);
		if (len && p[len - 1] == '\r')
			len--;
		if (link_line(l, p, len) < 0)
			return -1;
		ss_buf_consume(in, (size_t)(nl - p) + 1);
	}
	return fill(l);
}

/* ---- full sync ------------------------------------------------------------ */

int ss_repl_wants_backup(const struct ss_repl *r) { return r->full_wanted && !r->full_running; }

/* Removes what an earlier full sync left: DIR and DIR.partial, each a
 * data directory of a log and a LOCK. */
static void remove_full_dir(struct ss_repl *r)
{
	static const char *const files[] = {SS_LOG_FILE, SS_LOCK_FILE};
	char path[4200];

	for (int k = 0; k < 2; k++) {
		const char *suffix = k ? ".partial" : "";
		for (size_t i = 0; i < 2; i++) {
			snprintf(path, sizeof path, "%s%s/%s", r->full_dir, suffix, files[i]);
			if (unlink(path) < 0 && errno != ENOENT)
				ss_log_warn(r->diag, "cannot remove %s: %s", path, strerror(errno));
		}
		snprintf(path, sizeof path, "%s%s", r->full_dir, suffix);
		if (rmdir(path) < 0 && errno != ENOENT)
			ss_log_warn(r->diag, "cannot remove %s: %s", path, strerror(errno));
	}
}

const char *ss_repl_backup_dir(struct ss_repl *r)
{
	remove_full_dir(r);
	return r->full_dir;
}

void ss_repl_backup_started(struct ss_repl *r)
{
	r->full_running = 1;
	r->full_wanted = 0;
}

void ss_repl_backup_done(struct ss_repl *r, const char *failure, uint64_t rev)
{
	struct stat st;
	struct ss_repl_link *nx;

	r->full_running = 0;
	if (!failure && stat(r->full_log, &st) < 0)
		failure = strerror(errno);
	for (struct ss_repl_link *l = r->links; l; l = nx) {
		nx = l->next;
		if (l->state != LINK_WAIT_FULL)
			continue;
		if (failure) {
			ss_log_warn(r->diag, "replica %s: full sync failed: %s", l->id, failure);
			close_link(l);
			continue;
		}
		l->file_fd = open(r->full_log, O_RDONLY | O_CLOEXEC);
		if (l->file_fd < 0 ||
		    ss_buf_printf(l->out, "FULLSYNC %" PRIu64 " %" PRIu64 " %" PRIu64 "\n",
				  ss_table_epoch(ss_store_table(r->store)), rev,
				  (uint64_t)st.st_size) < 0) {
			close_link(l);
			continue;
		}
		r->st.full_syncs++;
		l->file_len = (uint64_t)st.st_size;
		l->state = LINK_FILE;
		l->after_rev = rev;
		l->acked = 0;
		ss_log_notice(r->diag, "replica %s: full sync of %" PRIu64 " bytes at revision %" PRIu64,
			      l->id, (uint64_t)st.st_size, rev);
	}
	fill_all(r);
}

/* ---- the log's life ----------------------------------------------------- */

void ss_repl_log_replaced(struct ss_repl *r, uint64_t log_rev)
{
	struct ss_repl_link *nx;
	uint64_t old_end = r->durable_end;

	/* A replica's log may hold more than its table (groups not yet
	 * committed): the index restarts at what the log holds. */
	idx_reset(r, log_rev, ss_store_log_bytes(r->store));
	/* The offsets moved; nothing is held now (a compaction waits for a
	 * held batch). */
	ss_store_limit_backup_tail(r->store, 0);
	for (struct ss_repl_link *l = r->links; l; l = nx) {
		nx = l->next;
		if (l->state != LINK_ONLINE)
			continue;
		if (l->cursor == old_end && !l->skip_to)
			l->cursor = r->durable_end;
		else
			close_link(l); /* it reconnects, and syncs from the new log */
	}
}

void ss_repl_note_group(struct ss_repl *r, uint64_t rev, uint64_t end) { note_group(r, rev, end); }

void ss_repl_rebase(struct ss_repl *r, uint64_t rev, uint64_t off)
{
	idx_reset(r, rev, off);
	r->base_mixed = 1;
}

void ss_repl_reset(struct ss_repl *r, struct ss_store *store)
{
	r->store = store;
	idx_reset(r, ss_table_revision(ss_store_table(store)), ss_store_log_bytes(store));
	r->commit_rev = r->durable_rev;
	ss_store_limit_backup_tail(store, 0); /* nothing is held */
}

/* ---- timers ------------------------------------------------------------- */

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	struct ss_repl *r = w->data;
	struct ss_repl_link *nx;

	for (struct ss_repl_link *l = r->links; l; l = nx) {
		nx = l->next;
		/* A replica waiting for its full sync's backup hears a PING
		 * a second, before the FULLSYNC line: it must not take the
		 * backup's time for a dead primary. */
		if (l->state == LINK_WAIT_FULL &&
		    ss_buf_printf(l->out, "PING %lld\n", (long long)(now(r) * 1000.0)) < 0) {
			close_link(l);
			continue;
		}
		if (r->timeout > 0 && now(r) - l->heard > r->timeout) {
			ss_log_warn(r->diag, "replica %s: silent for %.0f s (--repl-timeout); dropped",
				    l->id, r->timeout);
			close_link(l);
			continue;
		}
		l->ping_due = 1;
	}
	fill_all(r);
}

/* ---- the commit point -------------------------------------------------- */

/* One line at the start of the file, padded to a fixed length so that a
 * rewrite never leaves an older line's tail behind: the revision twice,
 * so that a torn write reads as no commit point at all. */
#define COMMIT_LINE 48

static char *commit_path(const char *data_dir)
{
	size_t n = strlen(data_dir) + sizeof(SS_REPL_COMMIT_FILE) + 2;
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s/%s", data_dir, SS_REPL_COMMIT_FILE);
	return p;
}

int ss_repl_commit_read(const char *data_dir, uint64_t *rev)
{
	char *path = commit_path(data_dir), buf[COMMIT_LINE + 1];
	unsigned long long a, b;
	ssize_t n = -1;
	int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;

	free(path);
	if (fd < 0)
		return -1;
	do
		n = pread(fd, buf, COMMIT_LINE, 0);
	while (n < 0 && errno == EINTR);
	if (close(fd) < 0 || n != COMMIT_LINE)
		return -1;
	buf[n] = '\0';
	if (sscanf(buf, "commit %llu %llu", &a, &b) != 2 || a != b)
		return -1;
	*rev = a;
	return 0;
}

void ss_repl_commit_note(struct ss_repl *r, uint64_t rev)
{
	char line[COMMIT_LINE + 1];
	ssize_t n;

	if (rev == r->noted_commit)
		return;
	if (r->commit_fd < 0) {
		char *path = commit_path(r->data_dir);
		r->commit_fd = path ? open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644) : -1;
		free(path);
		if (r->commit_fd < 0) {
			if (!r->commit_warned++)
				ss_log_warn(r->diag, "cannot open %s/%s: %s; a restart as a replica "
						     "hides its whole log until its primary commits it",
					    r->data_dir, SS_REPL_COMMIT_FILE, strerror(errno));
			return;
		}
	}
	snprintf(line, sizeof line, "commit %" PRIu64 " %" PRIu64, rev, rev);
	size_t len = strlen(line);
	memset(line + len, ' ', COMMIT_LINE - 1 - len);
	line[COMMIT_LINE - 1] = '\n';
	do
		n = pwrite(r->commit_fd, line, COMMIT_LINE, 0);
	while (n < 0 && errno == EINTR);
	if (n != COMMIT_LINE) {
		if (!r->commit_warned++)
			ss_log_warn(r->diag, "cannot write %s/%s: %s", r->data_dir,
				    SS_REPL_COMMIT_FILE, n < 0 ? strerror(errno) : "short write");
		return;
	}
	r->noted_commit = rev;
}

/* ---- the role ------------------------------------------------------------ */

void ss_repl_activate(struct ss_repl *r, struct ss_store *store)
{
	r->store = store;
	r->active = 1;
	r->fenced = 0;
	r->commit_rev = r->durable_rev;
	r->gate = (struct ss_commit_gate){.held = gate_held, .arg = r};
	r->commit->gate = &r->gate;
	ev_timer_again(r->loop, &r->tick_w);
}

void ss_repl_deactivate(struct ss_repl *r)
{
	r->active = 0;
	r->commit->gate = NULL;
	r->held_rev = 0;
	ss_store_limit_backup_tail(r->store, 0);
	ev_timer_stop(r->loop, &r->wait_w);
	ev_idle_stop(r->loop, &r->release_w);
	while (r->links) {
		struct ss_repl_link *l = r->links;
		close_link(l);
		if (r->links == l)
			forget(l); /* the closer could not */
	}
}

void ss_repl_init(struct ss_repl *r, struct ev_loop *loop, const struct ss_diag *diag,
		  struct ss_store *store, struct ss_commit *commit, const char *data_dir,
		  const struct ss_repl_config *cfg, const struct ss_repl_ops *ops)
{
	memset(r, 0, sizeof(*r));
	r->ops = *ops;
	r->loop = loop;
	r->diag = diag;
	r->store = store;
	r->commit = commit;
	r->data_dir = data_dir;
	r->sync_replicas = cfg->sync_replicas;
	r->sync_timeout = cfg->sync_timeout;
	r->buffer = cfg->buffer;
	r->timeout = cfg->timeout;
	r->set = calloc(r->sync_replicas ? r->sync_replicas : 1, sizeof(*r->set));
	size_t n = strlen(data_dir) + 32;
	r->full_dir = malloc(n);
	r->full_log = malloc(n + sizeof(SS_LOG_FILE));
	if (r->full_dir)
		snprintf(r->full_dir, n, "%s/replica-sync", data_dir);
	if (r->full_log)
		snprintf(r->full_log, n + sizeof(SS_LOG_FILE), "%s/replica-sync/%s", data_dir,
			 SS_LOG_FILE);
	ev_timer_init(&r->tick_w, on_tick, 0., 1.);
	r->tick_w.data = r;
	r->commit_fd = -1;
	ev_timer_init(&r->wait_w, on_wait, 0., 0.);
	r->wait_w.data = r;
	ev_idle_init(&r->release_w, on_release);
	r->release_w.data = r;
	ss_repl_reset(r, store);
}

void ss_repl_free(struct ss_repl *r)
{
	if (r->loop) {
		ev_timer_stop(r->loop, &r->tick_w);
		ev_timer_stop(r->loop, &r->wait_w);
		ev_idle_stop(r->loop, &r->release_w);
	}
	while (r->links)
		forget(r->links);
	if (r->commit_fd >= 0 && close(r->commit_fd) < 0)
		ss_log_warn(r->diag, "closing %s: %s", SS_REPL_COMMIT_FILE, strerror(errno));
	free(r->idx);
	free(r->set);
	free(r->full_dir);
	free(r->full_log);
}

/* ---- INFO ----------------------------------------------------------------- */

uint64_t ss_repl_lag(const struct ss_repl *r, uint64_t *ms)
{
	uint64_t lag = 0;

	*ms = 0;
	for (const struct ss_repl_link *l = r->links; l; l = l->next) {
		uint64_t n = r->durable_rev > l->acked ? r->durable_rev - l->acked : 0;
		uint64_t t = n ? (uint64_t)((now(r) - l->caught_up) * 1000.0) : 0;
		if (n > lag)
			lag = n;
		if (t > *ms)
			*ms = t;
	}
	return lag;
}

unsigned ss_repl_holding_all(const struct ss_repl *r)
{
	unsigned n = 0;

	for (const struct ss_repl_link *l = r->links; l; l = l->next)
		n += l->state == LINK_ONLINE && l->acked >= r->commit_rev;
	return n;
}

size_t ss_repl_writes_waiting(const struct ss_repl *r)
{
	if (!r->held_rev || !r->commit->inflight)
		return 0;
	return r->commit->inflight->nrecs + r->commit->open->nrecs;
}

int ss_repl_rows(struct ss_repl *r, ss_repl_row_fn row, void *arg)
{
	char name[32], v[256];
	int i = 0;

	v[0] = '\0';
	for (unsigned k = 0; k < r->sync_replicas; k++)
		if (r->set[k]) {
			size_t len = strlen(v);
			snprintf(v + len, sizeof v - len, "%s%s", len ? "," : "", r->set[k]->id);
		}
	if (row(arg, "sync_set", v[0] ? v : "-") < 0)
		return -1;
	for (struct ss_repl_link *l = r->links; l; l = l->next, i++) {
		snprintf(name, sizeof name, "replica%d", i);
		uint64_t lag = r->durable_rev > l->acked ? r->durable_rev - l->acked : 0;
		snprintf(v, sizeof v,
			 "id=%s,state=%s,acked=%" PRIu64 ",lag_revisions=%" PRIu64
			 ",lag_ms=%lld,in_sync_set=%d",
			 l->id, l->state == LINK_ONLINE ? "online" : "sync", l->acked, lag,
			 lag ? (long long)((now(r) - l->caught_up) * 1000.0) : 0LL, l->in_set);
		if (row(arg, name, v) < 0)
			return -1;
	}
	if (row(arg, "sync_wait",
		r->held_rev ? (set_size(r) < r->sync_replicas ? "replicas" : "acks") : "none") < 0)
		return -1;
	return 0;
}
