/*
 * fuzz_conn.c - libFuzzer target for the whole request path: client bytes ->
 * ss_session_execute (the daemon's own request loop: ss_text_parse ->
 * ss_cmd_execute -> the open batch) -> ss_store_write / sync / apply ->
 * ss_session_answer, driven the way the server (clients.c, commit.c)
 * drives it, on a real store in this process's scratch directory (tmpfs
 * when available).
 *
 * The input is what clients send, with escapes that stand for events. Plain
 * protocol text is a valid input: it is all sent on connection 1, and read,
 * executed and committed when the input ends.
 *
 *   0xff 0xff       a literal 0xff byte
 *   0xff 'r'        the current connection becomes readable: one read (what
 *                   fits in its input buffer), then its requests execute
 *   0xff 'c'        the loop is about to block: commit the open batch
 *   0xff 'l'        one loop iteration: every connection reads, then commit
 *   0xff '1'..'3'   later bytes are sent on connection 1, 2 or 3
 *   0xff 'e'        the current connection's client shuts its side (EOF)
 *   0xff 't' b      the clock advances: b*10 ms if b < 128, else (b-127) min
 *   0xff 'x'        background expiry (ss_table_expire_some, a few slots)
 *   0xff 'f' b      arm a one-shot I/O fault on the ((b>>3)&7)+1-th next call:
 *                   b&7 = pwrite EIO, pwrite ENOSPC, short pwrite, fdatasync
 *                   EIO, ftruncate EIO, rename EIO, fsync EIO, open EMFILE
 *   0xff other      same as 'l'
 * and, only at the very start (configuration; defaults in brackets):
 *   0xff 'M' b      max_line: 1024, 1100, 4096, 70000 or 128 KiB [1024]
 *   0xff 'P' b      preallocation: 0, 64, 4096 or 65536 bytes [0]
 *   0xff 'N' b*5    the clock's start, unix ms, 40 bits big-endian [1.7e12]
 *   0xff 'B' b      the open batch's cap: 4096, 1, 100 or 1000 bytes [4096]
 *   0xff 'R' b      catch-up rounds before a compaction's finish: b&3 [1]
 *   0xff 'H' b      the history depth: 2, 0, 1 or 4 by b&3 [2]
 *
 * The harness plays the server's part (clients.c, commit.c, conn.c) around
 * session.c: a read takes what ss_session_room allows; process_input runs ss_session_execute,
 * lets the client read everything when it reports the output's high mark
 * (so backpressure never holds a connection back) and parks a connection
 * that found the batch full until the next commit; commit() writes, syncs
 * and applies the batch, answers its ops in order, resumes the connections
 * it answered and those that found the batch full, then advances a
 * compaction: a requested COMPACT writes its snapshot at once (the forked
 * child's work, of the table as it is then), and each later commit runs a
 * catch-up round over the tail that commits left in the old log - the job
 * here, not on a thread - until the round budget is spent, then the
 * finish, which answers the COMPACTs of that run. A failed sync stops
 * everything, as the daemon exits; so does a store left refusing writes (a failed write whose cut-back failed, a
 * compaction whose directory fsync failed), after the replies owed are
 * sent. The batch cap is small (the daemon's is 8 MiB) so that inputs
 * reach it.
 *
 * Oracles:
 *   - every request's result (seen through ss_session_env.observe) matches
 *     a reference dispatcher written from the protocol (status; exact reply
 *     for reads - GET, TTL, GETREV, HISTORY, every LIST row - checked
 *     against a reference model of the durable state; the staged ops for
 *     writes, with their revisions and commit times). The model keeps the
 *     revision counter (one per acknowledged mutating command, handed out
 *     again after a refused write), each name's revision, commit time and
 *     versions up to the depth; it decides every condition (CAS, MCAS, DEL
 *     and ROLLBACK with an expected revision, ROLLBACK's target) against
 *     the durable state plus what was staged before, in staging order, and
 *     the reply decided then is the one the commit must send;
 *   - all but the last op of a multi-commit answer nothing;
 *   - every reply is one well-formed line (or, for STATS, HISTORY and LIST,
 *     lines then END), and each connection gets exactly one reply per
 *     request, in order;
 *   - every connection finishes: once all clients have shut, every request
 *     is answered and every connection closes;
 *   - the in-memory table equals the model, revisions, commit times and
 *     history included, and its revision is the reference's after every
 *     commit; after closing and reopening the store, the replayed table
 *     equals it too (and its revision and history) (or, if a sync failed, the
 *     model plus that unacknowledged batch), with no error, and with nothing
 *     torn unless a fault was injected;
 *   - no write, sync or compaction fails unless a fault was injected.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzzsupport.h"
#include "statestored/batch.h"
#include "statestored/record.h"
#include "common/buf.h"
#include "cmd/cmd.h"
#include "cmd/session.h"
#include "statestored/snapshot.h"
#include "proto/proto.h"
#include "statestored/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NCONN 3
#define ESC 0xff
/* The daemon's batch cap is 8 MiB, far beyond a fuzz input: by default the
 * harness uses a cap that inputs reach, so that SS_SESSION_FULL runs. */
#define SS_FUZZ_BATCH_MAX 4096
/* The deepest history the harness configures ('H'). */
#define FZ_DEPTH_MAX 4

struct fconn {
	struct ss_session s; /* the server's side; first, so an op's owner is the fconn */
	int id;
	char *q;             /* bytes sent by the client, not yet read */
	size_t qlen, qoff, qcap;
	int shut; /* the client shut its side */
	/* the client's view */
	char *shapes;           /* per request in order: its reply is one line (0) or up to END (1) */
	size_t nshapes, shape_at;
	uint64_t requests;      /* requests that owe a reply */
	uint64_t replies;       /* replies received */
};

/* A name's versions in the model, newest (the current one) first. */
struct fhist {
	char *name;
	size_t nlen, n;
	struct {
		uint64_t rev;
		int64_t commit_ms;
		char *value;
		size_t vlen;
	} v[FZ_DEPTH_MAX + 1];
};

/* A change staged in the open batch, as the reference sees it. */
struct fstaged {
	char *name, *value;
	size_t nlen, vlen;
	uint64_t rev; /* 0: a DEL */
	int64_t expire_ms;
};

struct fz {
	struct fz_io fio;
	struct ss_store *store;
	struct ss_batch batch;
	struct ss_pending pending; /* the server's staged state (pending.h) */
	struct fz_map model; /* the durable state, as the protocol defines it */
	struct fhist *hist;  /* and the versions of each name */
	size_t nhist, hcap;
	unsigned depth;      /* the history depth the store keeps */
	struct fstaged *staged; /* the reference's view of the open batch */
	size_t nstaged, scap;
	char **owed;         /* per op of the open batch: its reply, or NULL for none */
	uint64_t rev, rev_durable; /* last revision handed out, and acknowledged */
	uint64_t *cursors;   /* LIST cursors the server issued */
	size_t ncursors;
	struct fz_map doubt; /* model + a batch whose sync failed */
	int have_doubt;
	struct fconn conns[NCONN];
	struct fconn *touched[NCONN];
	int cur;
	int64_t now;
	size_t max_line, prealloc, batch_max, expire_cursor;
	int compact_requested;
	int compacting;   /* a snapshot is written; the tail grows until the finish */
	unsigned rounds, round_budget; /* catch-up rounds done, and before the finish */
	int stopped; /* a sync failed: the daemon would exit */
	uint64_t rejected, commit_seq;
};

static struct fz Z;

/* ---- the reference model ----
 *
 * The durable state is z->model (values, expiries, revisions, commit times)
 * and z->hist (each name's versions, newest first, the current one
 * included, up to the depth). What the open batch will change is z->staged,
 * in staging order; conditions are decided against the newest staged state
 * of a name, else the durable one, as the protocol says. Revisions: z->rev
 * is the last one handed out, z->rev_durable the last one acknowledged. */

static int word_is(const struct ss_token *t, const char *w)
{
	size_t n = strlen(w);

	if (t->n != n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)t->p[i];
		if (c >= 'a' && c <= 'z')
			c = (unsigned char)(c - 32);
		if (c != (unsigned char)w[i])
			return 0;
	}
	return 1;
}

static int valid_token(const struct ss_token *t, size_t max)
{
	if (t->n < 1 || t->n > max)
		return 0;
	for (size_t i = 0; i < t->n; i++) {
		unsigned char c = (unsigned char)t->p[i];
		if (c < 0x21 || c > 0x7e)
			return 0;
	}
	return 1;
}

static int valid_value(const struct ss_token *t)
{
	/* GET answers NULL for a missing checkpoint: the value is taken. */
	return valid_token(t, SS_VALUE_MAX) && !(t->n == 4 && memcmp(t->p, "NULL", 4) == 0);
}

/* A decimal u64, digits only, any leading zeros, no wrap. */
static int ref_u64(const struct ss_token *t, uint64_t *out)
{
	uint64_t v = 0;

	if (t->n == 0)
		return 0;
	for (size_t k = 0; k < t->n; k++) {
		if (t->p[k] < '0' || t->p[k] > '9')
			return 0;
		unsigned d = (unsigned)(t->p[k] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return 0;
		v = v * 10 + d;
	}
	*out = v;
	return 1;
}

/* A TTL token: 1..SS_TTL_MAX_S seconds; *expire the absolute time. */
static int ref_ttl(const struct ss_token *t, int64_t now, int64_t *expire)
{
	uint64_t ttl;

	if (!ref_u64(t, &ttl) || ttl < 1 || ttl > SS_TTL_MAX_S)
		return 0;
	*expire = now + (int64_t)ttl * 1000;
	return 1;
}

static struct fhist *hist_find(struct fz *z, const char *name, size_t nlen)
{
	for (size_t i = 0; i < z->nhist; i++)
		if (z->hist[i].nlen == nlen && memcmp(z->hist[i].name, name, nlen) == 0)
			return &z->hist[i];
	return NULL;
}

static void hist_drop(struct fz *z, const char *name, size_t nlen)
{
	struct fhist *h = hist_find(z, name, nlen);

	if (!h)
		return;
	for (size_t k = 0; k < h->n; k++)
		free(h->v[k].value);
	free(h->name);
	*h = z->hist[--z->nhist];
}

/* name gets a new version; over a live entry the old ones are kept up to
 * the depth, over a missing or expired one they are dropped. */
static void hist_push(struct fz *z, const char *name, size_t nlen, const char *value, size_t vlen,
		      uint64_t rev, int64_t commit_ms, int live_before)
{
	struct fhist *h = live_before ? hist_find(z, name, nlen) : NULL;

	if (!live_before)
		hist_drop(z, name, nlen);
	if (!h) {
		if (z->nhist == z->hcap) {
			z->hcap = z->hcap ? 2 * z->hcap : 16;
			z->hist = fz_realloc(z->hist, z->hcap * sizeof(*z->hist));
		}
		h = &z->hist[z->nhist++];
		memset(h, 0, sizeof(*h));
		h->name = fz_alloc(nlen + 1);
		memcpy(h->name, name, nlen);
		h->nlen = nlen;
	}
	if (h->n == z->depth + 1)
		free(h->v[--h->n].value);
	memmove(&h->v[1], &h->v[0], h->n * sizeof(h->v[0]));
	h->n++;
	h->v[0].rev = rev;
	h->v[0].commit_ms = commit_ms;
	h->v[0].value = fz_alloc(vlen + 1);
	memcpy(h->v[0].value, value, vlen);
	h->v[0].vlen = vlen;
}

static void hist_free(struct fz *z)
{
	while (z->nhist)
		hist_drop(z, z->hist[0].name, z->hist[0].nlen);
	free(z->hist);
	z->hist = NULL;
	z->hcap = 0;
}

/* A name's state as the next staged command must find it. */
struct cur {
	uint64_t rev; /* 0: absent */
	const char *value;
	size_t vlen;
	int64_t expire_ms;
	const struct fstaged *staged; /* its newest staged change, if any */
};

static void ref_current(struct fz *z, const struct ss_token *name, struct cur *c)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = z->nstaged; i-- > 0;) {
		const struct fstaged *s = &z->staged[i];
		if (s->nlen != name->n || memcmp(s->name, name->p, s->nlen) != 0)
			continue;
		c->staged = s;
		c->rev = s->rev;
		c->value = s->value;
		c->vlen = s->vlen;
		c->expire_ms = s->expire_ms;
		/* A staged SET that expires before it is applied acts as a DEL. */
		if (c->rev && c->expire_ms && c->expire_ms <= z->now)
			c->rev = 0;
		return;
	}
	const struct fz_kv *kv = fz_map_find(&z->model, name->p, name->n);
	if (kv && fz_live(kv->expire_ms, z->now)) {
		c->rev = kv->rev;
		c->value = kv->value;
		c->vlen = kv->vlen;
		c->expire_ms = kv->expire_ms;
	}
}

/* What a request must do. */
enum ref { R_ERR, R_STAGE, R_READ, R_PING, R_QUIT, R_STATS, R_COMPACT, R_LIST, R_LIST_MAYBE };

/* One op the request must stage. */
struct xop {
	int type; /* SS_REC_SET, SS_REC_DEL, SS_OP_REPLY */
	const struct ss_token *name;
	const char *value;
	size_t vlen;
	int64_t expire_ms;
	uint64_t rev;
};

struct expect {
	enum ref kind;
	int multi;            /* R_READ: a multi-line reply (HISTORY) */
	char *reply;          /* R_READ: the exact reply; R_STAGE: the last op's */
	size_t rlen;
	struct xop *ops;      /* R_STAGE */
	size_t nops;
	int multi_commit;     /* R_STAGE: only the last op replies */
};

static void set_reply(struct expect *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_reply(struct expect *x, const char *fmt, ...)
{
	va_list ap;
	char *p = NULL;

	va_start(ap, fmt);
	int n = vasprintf(&p, fmt, ap);
	va_end(ap);
	fz_check(n >= 0, "out of memory");
	free(x->reply);
	x->reply = p;
	x->rlen = (size_t)n;
}

static void stage_one(struct fz *z, struct expect *x, int type, const struct ss_token *name,
		      const char *value, size_t vlen, int64_t expire_ms)
{
	x->kind = R_STAGE;
	x->ops = fz_realloc(x->ops, (x->nops + 1) * sizeof(*x->ops));
	x->ops[x->nops++] = (struct xop){type, name, value, vlen, expire_ms,
					 type == SS_OP_REPLY ? 0 : z->rev + 1};
}

/* A value with a "%.*s" for set_reply. */
#define VAL(p, n) (int)(n), (p)

static void ref_del(struct fz *z, const struct ss_request *req, struct expect *x)
{
	uint64_t want = 0;
	struct cur c;

	if (!valid_token(&req->argv[1], SS_NAME_MAX) ||
	    (req->argc == 3 && !ref_u64(&req->argv[2], &want)))
		return;
	ref_current(z, &req->argv[1], &c);
	if (req->argc == 3 && c.rev != want) {
		stage_one(z, x, SS_OP_REPLY, NULL, NULL, 0, 0);
		set_reply(x, "CONFLICT %llu\n", (unsigned long long)c.rev);
	} else if (c.rev == 0) {
		stage_one(z, x, SS_OP_REPLY, NULL, NULL, 0, 0);
		set_reply(x, "0\n");
	} else {
		stage_one(z, x, SS_REC_DEL, &req->argv[1], NULL, 0, 0);
		set_reply(x, "1\n");
	}
}

static void ref_set_or_cas(struct fz *z, const struct ss_request *req, struct expect *x, int cas)
{
	const struct ss_token *name = &req->argv[1], *value = &req->argv[cas ? 3 : 2];
	uint64_t want = 0;
	int64_t expire = 0;
	struct cur c;

	if (!valid_token(name, SS_NAME_MAX) || !valid_value(value) ||
	    (cas && !ref_u64(&req->argv[2], &want)))
		return;
	if (req->argc == (cas ? 5 : 4) && !ref_ttl(&req->argv[req->argc - 1], z->now, &expire))
		return;
	if (!cas) {
		stage_one(z, x, SS_REC_SET, name, value->p, value->n, expire);
		set_reply(x, "OK\n");
		return;
	}
	ref_current(z, name, &c);
	if (c.rev != want) {
		stage_one(z, x, SS_OP_REPLY, NULL, NULL, 0, 0);
		set_reply(x, "CONFLICT %llu\n", (unsigned long long)c.rev);
		return;
	}
	stage_one(z, x, SS_REC_SET, name, value->p, value->n, expire);
	set_reply(x, "OK %llu\n", (unsigned long long)z->rev + 1);
}

static void ref_multi(struct fz *z, const struct ss_request *req, struct expect *x, int step)
{
	int nargs = req->argc - 1;
	uint64_t want;

	if (nargs % step != 0)
		return;
	for (int i = 1; i < req->argc; i += step) {
		if (!valid_token(&req->argv[i], SS_NAME_MAX) ||
		    (step == 3 && !ref_u64(&req->argv[i + 1], &want)) ||
		    !valid_value(&req->argv[i + step - 1]))
			return;
		for (int j = 1; j < i; j += step)
			if (req->argv[j].n == req->argv[i].n &&
			    memcmp(req->argv[j].p, req->argv[i].p, req->argv[i].n) == 0)
				return; /* the same pipeline twice */
	}
	for (int i = 1; step == 3 && i < req->argc; i += step) {
		struct cur c;
		(void)ref_u64(&req->argv[i + 1], &want);
		ref_current(z, &req->argv[i], &c);
		if (c.rev != want) {
			stage_one(z, x, SS_OP_REPLY, NULL, NULL, 0, 0);
			set_reply(x, "CONFLICT %.*s %llu\n", VAL(req->argv[i].p, req->argv[i].n),
				  (unsigned long long)c.rev);
			return;
		}
	}
	for (int i = 1; i < req->argc; i += step) {
		const struct ss_token *v = &req->argv[i + step - 1];
		stage_one(z, x, SS_REC_SET, &req->argv[i], v->p, v->n, 0);
	}
	x->multi_commit = 1;
	set_reply(x, "OK %llu\n", (unsigned long long)z->rev + 1);
}

static void ref_rollback(struct fz *z, const struct ss_request *req, struct expect *x)
{
	uint64_t to, want = 0;
	struct cur c;
	const char *value = NULL;
	size_t vlen = 0;

	if (!valid_token(&req->argv[1], SS_NAME_MAX) || !ref_u64(&req->argv[2], &to) ||
	    (req->argc == 4 && !ref_u64(&req->argv[3], &want)))
		return;
	ref_current(z, &req->argv[1], &c);
	if (req->argc == 4 && c.rev != want) {
		stage_one(z, x, SS_OP_REPLY, NULL, NULL, 0, 0);
		set_reply(x, "CONFLICT %llu\n", (unsigned long long)c.rev);
		return;
	}
	/* The versions as they stand once everything staged is applied: the
	 * staged ones, newest first, then the table's (current first), no
	 * further back than the depth or a staged DEL. */
	size_t pos = 0;
	int stop = !c.rev;
	for (size_t i = z->nstaged; !stop && !value && i-- > 0;) {
		const struct fstaged *s = &z->staged[i];
		if (s->nlen != req->argv[1].n || memcmp(s->name, req->argv[1].p, s->nlen) != 0)
			continue;
		if (s->rev == 0 || pos > z->depth) {
			stop = 1;
		} else if (s->rev == to) {
			value = s->value;
			vlen = s->vlen;
		}
		pos++;
	}
	if (!stop && !value) {
		const struct fz_kv *kv = fz_map_find(&z->model, req->argv[1].p, req->argv[1].n);
		const struct fhist *h = hist_find(z, req->argv[1].p, req->argv[1].n);
		for (size_t k = 0; kv && fz_live(kv->expire_ms, z->now) && h && k < h->n &&
				   pos + k <= z->depth; k++) {
			if (h->v[k].rev == to) {
				value = h->v[k].value;
				vlen = h->v[k].vlen;
				break;
			}
		}
	}
	if (!value) {
		stage_one(z, x, SS_OP_REPLY, NULL, NULL, 0, 0);
		set_reply(x, "ERR no revision %llu in history\n", (unsigned long long)to);
		return;
	}
	stage_one(z, x, SS_REC_SET, &req->argv[1], value, vlen, c.expire_ms);
	set_reply(x, "OK %llu\n", (unsigned long long)z->rev + 1);
}

static void ref_read(struct fz *z, const struct ss_request *req, struct expect *x, int what)
{
	const struct fz_kv *kv;
	uint64_t count = SS_HISTORY_MAX + 1;

	if (!valid_token(&req->argv[1], SS_NAME_MAX))
		return;
	if (what == 'H' && req->argc == 3 &&
	    (!ref_u64(&req->argv[2], &count) || count < 1 || count > SS_HISTORY_MAX + 1))
		return;
	kv = fz_map_find(&z->model, req->argv[1].p, req->argv[1].n);
	int live = kv && fz_live(kv->expire_ms, z->now);
	x->kind = R_READ;
	switch (what) {
	case 'G':
		if (live)
			set_reply(x, "%.*s\n", VAL(kv->value, kv->vlen));
		else
			set_reply(x, "NULL\n");
		return;
	case 'R':
		if (live)
			set_reply(x, "%llu %.*s\n", (unsigned long long)kv->rev,
				  VAL(kv->value, kv->vlen));
		else
			set_reply(x, "NULL\n");
		return;
	case 'T':
		set_reply(x, "%lld\n",
			  !live ? -2LL
			  : kv->expire_ms == 0 ? -1LL
					       : (long long)((kv->expire_ms - z->now + 999) / 1000));
		return;
	}
	/* HISTORY */
	const struct fhist *h = live ? hist_find(z, req->argv[1].p, req->argv[1].n) : NULL;
	set_reply(x, "%s", "");
	x->multi = 1;
	fz_check(!live || (h && h->n >= 1 && h->v[0].rev == kv->rev),
		 "the model's history of '%.*s' does not start at its current revision",
		 VAL(req->argv[1].p, req->argv[1].n));
	for (size_t k = 0; h && k < h->n && k < count; k++) {
		char *prev = x->reply;
		x->reply = NULL;
		set_reply(x, "%s%llu %lld %.*s\n", prev, (unsigned long long)h->v[k].rev,
			  (long long)h->v[k].commit_ms, VAL(h->v[k].value, h->v[k].vlen));
		free(prev);
	}
	char *prev = x->reply;
	x->reply = NULL;
	set_reply(x, "%sEND\n", prev);
	free(prev);
}

static int cursor_issued(const struct fz *z, uint64_t c)
{
	for (size_t i = 0; i < z->ncursors; i++)
		if (z->cursors[i] == c)
			return 1;
	return 0;
}

static void ref_list(struct fz *z, const struct ss_request *req, struct expect *x)
{
	uint64_t cursor, count;

	/* A cursor never issued is refused, except for the 1 in 65536 that
	 * passes the check by chance: then either answer is right. */
	if (!ref_u64(&req->argv[1], &cursor))
		return;
	int known = cursor == 0 || cursor_issued(z, cursor);
	for (int i = 2; i < req->argc; i += 2) {
		if (i + 1 >= req->argc)
			return;
		if (word_is(&req->argv[i], "PREFIX")) {
			if (!valid_token(&req->argv[i + 1], SS_NAME_MAX))
				return;
		} else if (word_is(&req->argv[i], "COUNT")) {
			if (!ref_u64(&req->argv[i + 1], &count) || count < 1 ||
			    count > SS_LIST_COUNT_MAX)
				return;
		} else {
			return;
		}
	}
	x->kind = known ? R_LIST : R_LIST_MAYBE;
}

/* What the protocol says req must do, in the state the model is in. */
static void reference(struct fz *z, const struct ss_request *req, struct expect *x)
{
	static const struct {
		const char *name;
		int what, nargs_min, nargs_max;
	} cmds[] = {
		{"SET_CHECKPOINT", 'S', 2, 3},     {"GET_CHECKPOINT", 'G', 1, 1},
		{"DEL_CHECKPOINT", 'D', 1, 2},     {"TTL_CHECKPOINT", 'T', 1, 1},
		{"PING", 'P', 0, 0},               {"QUIT", 'Q', 0, 0},
		{"STATS", 's', 0, 0},              {"COMPACT", 'C', 0, 0},
		{"GETREV_CHECKPOINT", 'R', 1, 1},  {"CAS_CHECKPOINT", 'c', 3, 4},
		{"MSET_CHECKPOINT", 'm', 2, SS_ARGS_MAX - 1},
		{"MCAS_CHECKPOINT", 'M', 3, SS_ARGS_MAX - 1},
		{"HISTORY_CHECKPOINT", 'H', 1, 2}, {"ROLLBACK_CHECKPOINT", 'B', 2, 3},
		{"LIST_CHECKPOINTS", 'L', 1, 5},
	};
	int nargs = req->argc - 1;

	memset(x, 0, sizeof(*x));
	x->kind = R_ERR;
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (!word_is(&req->argv[0], cmds[i].name))
			continue;
		if (req->too_many || nargs < cmds[i].nargs_min || nargs > cmds[i].nargs_max)
			return;
		switch (cmds[i].what) {
		case 'S': ref_set_or_cas(z, req, x, 0); return;
		case 'c': ref_set_or_cas(z, req, x, 1); return;
		case 'D': ref_del(z, req, x); return;
		case 'm': ref_multi(z, req, x, 2); return;
		case 'M': ref_multi(z, req, x, 3); return;
		case 'B': ref_rollback(z, req, x); return;
		case 'G': case 'R': case 'T': case 'H': ref_read(z, req, x, cmds[i].what); return;
		case 'L': ref_list(z, req, x); return;
		case 'P': x->kind = R_PING; return;
		case 'Q': x->kind = R_QUIT; return;
		case 's': x->kind = R_STATS; return;
		case 'C': x->kind = R_COMPACT; return;
		}
	}
}

/* ---- reply checks ---- */

/* out's bytes appended since before must be exactly want. */
static void expect_reply(const struct fconn *c, size_t before, const char *want, size_t wlen,
			 const char *what)
{
	size_t got = ss_buf_size(&c->s.out) - before;
	const char *p = ss_buf_head(&c->s.out) + before;

	if (got != wlen || memcmp(p, want, wlen) != 0)
		fz_fail("conn %d: %s: replied '%.*s', expected '%.*s'", c->id, what,
			(int)(got < 300 ? got : 300), p, (int)(wlen < 300 ? wlen : 300), want);
}

/* out's bytes appended since before must be one line starting with prefix. */
static void expect_line(const struct fconn *c, size_t before, const char *prefix,
			const char *what)
{
	size_t got = ss_buf_size(&c->s.out) - before;
	const char *p = ss_buf_head(&c->s.out) + before;
	const char *nl = memchr(p, '\n', got);

	if (got < strlen(prefix) || memcmp(p, prefix, strlen(prefix)) != 0 || !nl ||
	    (size_t)(nl - p) != got - 1)
		fz_fail("conn %d: %s: replied '%.*s', expected one line starting '%s'", c->id, what,
			(int)(got < 300 ? got : 300), p, prefix);
}

static int stats(void *arg, const struct ss_proto *proto, struct ss_buf *out)
{
	struct fz *z = arg;
	char entries[24], rejected[24];

	snprintf(entries, sizeof(entries), "%zu", ss_table_count(ss_store_table(z->store)));
	snprintf(rejected, sizeof(rejected), "%llu", (unsigned long long)z->rejected);
	if (proto->row(out, "entries", entries) < 0 || proto->row(out, "rejected", rejected) < 0)
		return -1;
	return 2;
}

/* A LIST_CHECKPOINTS reply: "CURSOR <n>", rows of live pipelines exactly as
 * the model holds them, END. Records the cursor as issued. */
static void check_listing(struct fz *z, const struct fconn *c, const struct ss_request *req,
			  size_t before)
{
	const char *p = ss_buf_head(&c->s.out) + before;
	const char *end = ss_buf_head(&c->s.out) + ss_buf_size(&c->s.out);
	const struct ss_token *prefix = NULL;
	unsigned long long next;
	int n = 0;

	for (int i = 2; i + 1 < req->argc; i += 2)
		if (word_is(&req->argv[i], "PREFIX"))
			prefix = &req->argv[i + 1];
	/* The reply is not NUL-terminated: parse it within [p, end). */
	const char *nl0 = memchr(p, '\n', (size_t)(end - p));
	next = 0;
	if (nl0 && nl0 - p > 7 && memcmp(p, "CURSOR ", 7) == 0) {
		n = (int)(nl0 - p) + 1;
		for (const char *d = p + 7; d < nl0 && n > 0; d++) {
			if (*d < '0' || *d > '9' || next > (~0ull - 9) / 10)
				n = 0;
			else
				next = next * 10 + (unsigned long long)(*d - '0');
		}
	}
	fz_check(n > 0, "conn %d: a listing starts '%.*s'", c->id,
		 (int)(end - p < 40 ? end - p : 40), p);
	p += n;
	if (next && !cursor_issued(z, next)) {
		z->cursors = fz_realloc(z->cursors, (z->ncursors + 1) * sizeof(*z->cursors));
		z->cursors[z->ncursors++] = next;
	}
	for (;;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		fz_check(nl, "conn %d: a listing without END", c->id);
		if (nl - p == 3 && memcmp(p, "END", 3) == 0) {
			fz_check(nl + 1 == end, "conn %d: bytes after a listing's END", c->id);
			return;
		}
		const char *sp = memchr(p, ' ', (size_t)(nl - p));
		fz_check(sp, "conn %d: a listing row '%.*s'", c->id, (int)(nl - p), p);
		const struct fz_kv *kv = fz_map_find(&z->model, p, (size_t)(sp - p));
		fz_check(kv && fz_live(kv->expire_ms, z->now),
			 "conn %d: the listing holds '%.*s', which the model does not", c->id,
			 (int)(sp - p), p);
		fz_check(!prefix || (kv->nlen >= prefix->n &&
				     memcmp(kv->name, prefix->p, prefix->n) == 0),
			 "conn %d: the listing holds '%s' against its PREFIX", c->id, kv->name);
		char *want = NULL;
		int wn = asprintf(&want, "%s %llu %lld %.*s", kv->name, (unsigned long long)kv->rev,
				  (long long)kv->commit_ms, VAL(kv->value, kv->vlen));
		fz_check(wn >= 0, "out of memory");
		fz_check(wn == nl - p && memcmp(want, p, (size_t)wn) == 0,
			 "conn %d: listing row '%.*s', the model says '%s'", c->id, (int)(nl - p), p,
			 want);
		free(want);
		p = nl + 1;
	}
}

/* Pushes the shape of the next reply the client will read: one line (0) or
 * lines up to END (1). */
static void push_shape(struct fconn *c, char multi)
{
	c->shapes = fz_realloc(c->shapes, c->nshapes + 1);
	c->shapes[c->nshapes++] = multi;
}

/* An op's name and value, unescaped (the batch holds them as the log
 * will: a '\' in a name is written "\\"). */
static const char *op_name(const struct ss_batch *b, const struct ss_op *op, size_t *n)
{
	static char name[SS_NAME_MAX];

	if (!(op->esc & SS_REC_NAME_ESC)) {
		*n = op->nlen;
		return b->buf + op->name_off;
	}
	*n = ss_record_unescape(b->buf + op->name_off, op->nlen, name);
	fz_check(*n == op->nraw, "a name unescaped to %zu bytes, not %zu", *n, (size_t)op->nraw);
	return name;
}

static const char *op_value(const struct ss_batch *b, const struct ss_op *op, size_t *n)
{
	static char value[SS_VALUE_MAX];

	if (!(op->esc & SS_REC_VALUE_ESC)) {
		*n = op->vlen;
		return b->buf + op->value_off;
	}
	*n = ss_record_unescape(b->buf + op->value_off, op->vlen, value);
	fz_check(*n == op->vraw, "a value unescaped to %zu bytes, not %zu", *n, (size_t)op->vraw);
	return value;
}

/* The ops staged since nops0 must be exactly x's; records the replies owed. */
static void check_staged(struct fz *z, struct fconn *c, const struct expect *x, size_t nops0)
{
	const struct ss_batch *b = &z->batch;

	fz_check(b->nops == nops0 + x->nops, "conn %d: %zu ops staged, the reference says %zu",
		 c->id, b->nops - nops0, x->nops);
	for (size_t k = 0; k < x->nops; k++) {
		const struct ss_op *op = &b->ops[nops0 + k];
		const struct xop *w = &x->ops[k];
		int last = k + 1 == x->nops;
		fz_check(op->owner == c && op->type == w->type,
			 "conn %d: op %zu has type %d, the reference says %d", c->id, k, op->type,
			 w->type);
		fz_check(op->reply != 0 || (!last && x->multi_commit),
			 "conn %d: op %zu owes no reply", c->id, k);
		fz_check(op->reply == 0 || last, "conn %d: op %zu of a multi-commit replies", c->id,
			 k);
		if (w->type != SS_OP_REPLY) {
			size_t nlen;
			const char *name = op_name(b, op, &nlen);
			fz_check(nlen == w->name->n && memcmp(name, w->name->p, nlen) == 0,
				 "conn %d: the staged op is not the request's name", c->id);
			fz_check(op->rev == w->rev && op->commit_ms == z->now,
				 "conn %d: staged revision %llu at %lld, the reference says %llu at "
				 "%lld",
				 c->id, (unsigned long long)op->rev, (long long)op->commit_ms,
				 (unsigned long long)w->rev, (long long)z->now);
		}
		size_t vlen;
		const char *value = w->type == SS_REC_SET ? op_value(b, op, &vlen) : NULL;
		if (w->type == SS_REC_SET)
			fz_check(vlen == w->vlen && memcmp(value, w->value, w->vlen) == 0 &&
					 op->expire_ms == w->expire_ms,
				 "conn %d: the staged SET has the wrong value or expiry (%lld, want "
				 "%lld)",
				 c->id, (long long)op->expire_ms, (long long)w->expire_ms);
		/* The reference's own staged state and the reply owed. */
		if (w->type != SS_OP_REPLY) {
			if (z->nstaged == z->scap) {
				z->scap = z->scap ? 2 * z->scap : 16;
				z->staged = fz_realloc(z->staged, z->scap * sizeof(*z->staged));
			}
			struct fstaged *s = &z->staged[z->nstaged++];
			s->name = fz_alloc(w->name->n + 1);
			memcpy(s->name, w->name->p, w->name->n);
			s->nlen = w->name->n;
			s->rev = w->type == SS_REC_SET ? w->rev : 0;
			s->value = fz_alloc(w->vlen + 1);
			memcpy(s->value, w->value ? w->value : "", w->vlen);
			s->vlen = w->vlen;
			s->expire_ms = w->expire_ms;
		}
		z->owed = fz_realloc(z->owed, b->nops * sizeof(*z->owed));
		z->owed[nops0 + k] = NULL;
		if (last) {
			z->owed[nops0 + k] = fz_alloc(x->rlen + 1);
			memcpy(z->owed[nops0 + k], x->reply, x->rlen + 1);
		}
	}
	if (x->nops && x->ops[0].type != SS_OP_REPLY)
		z->rev++;
}

static void check_execute(struct fz *z, struct fconn *c, const struct ss_request *req,
			  enum ss_cmd_status st, int may_reply, size_t before, size_t nops0)
{
	struct expect x;
	size_t added = ss_buf_size(&c->s.out) - before;

	reference(z, req, &x);
	fz_check(st != SS_CMD_NOMEM, "conn %d: out of memory executing a request", c->id);
	if (x.kind != R_STAGE)
		fz_check(z->batch.nops == nops0, "conn %d: a non-write staged an op", c->id);
	if (st == SS_CMD_WAIT) {
		fz_check(!may_reply && x.kind != R_STAGE, "conn %d: '%.*s' waited (may_reply %d)",
			 c->id, (int)req->argv[0].n, req->argv[0].p, may_reply);
		fz_check(added == 0, "conn %d: a waiting command appended a reply", c->id);
		goto out;
	}
	/* Rule 3 of server.c: with replies owed, only writes go ahead. */
	if (!may_reply)
		fz_check(st == SS_CMD_STAGED, "conn %d: replied out of order (status %d)", c->id,
			 (int)st);
	if (x.kind == R_LIST_MAYBE)
		x.kind = added > 4 && memcmp(ss_buf_head(&c->s.out) + before, "ERR ", 4) == 0
				 ? R_ERR
				 : R_LIST;
	switch (x.kind) {
	case R_ERR:
		fz_check(st == SS_CMD_REPLIED, "conn %d: an invalid request got status %d", c->id,
			 (int)st);
		expect_line(c, before, "ERR ", "an invalid request");
		push_shape(c, 0);
		break;
	case R_STAGE:
		fz_check(st == SS_CMD_STAGED && added == 0, "conn %d: a write got status %d",
			 c->id, (int)st);
		check_staged(z, c, &x, nops0);
		push_shape(c, 0);
		break;
	case R_READ:
		fz_check(st == SS_CMD_REPLIED, "conn %d: a read got status %d", c->id, (int)st);
		expect_reply(c, before, x.reply, x.rlen, "a read");
		push_shape(c, (char)x.multi);
		break;
	case R_LIST:
	case R_LIST_MAYBE:
		fz_check(st == SS_CMD_REPLIED, "conn %d: LIST got status %d", c->id, (int)st);
		check_listing(z, c, req, before);
		push_shape(c, 1);
		break;
	case R_PING:
		fz_check(st == SS_CMD_REPLIED, "conn %d: PING got status %d", c->id, (int)st);
		expect_reply(c, before, "PONG\n", 5, "PING");
		push_shape(c, 0);
		break;
	case R_QUIT:
		fz_check(st == SS_CMD_QUIT, "conn %d: QUIT got status %d", c->id, (int)st);
		expect_reply(c, before, "OK\n", 3, "QUIT");
		push_shape(c, 0);
		break;
	case R_STATS: {
		fz_check(st == SS_CMD_REPLIED, "conn %d: STATS got status %d", c->id, (int)st);
		char line[128];
		int n = snprintf(line, sizeof(line), "STAT entries %zu\nSTAT rejected %llu\nEND\n",
				 ss_table_count(ss_store_table(z->store)),
				 (unsigned long long)z->rejected);
		expect_reply(c, before, line, (size_t)n, "STATS");
		push_shape(c, 1);
		break;
	}
	case R_COMPACT:
		fz_check(st == SS_CMD_COMPACT && added == 0, "conn %d: COMPACT got status %d",
			 c->id, (int)st);
		push_shape(c, 0);
		break;
	}
out:
	free(x.reply);
	free(x.ops);
}

/* One reply line's bytes: an ERR line is printable; any other is tokens
 * of token bytes, one space apart. */
static void check_line(const struct fconn *c, const char *p, size_t len)
{
	fz_check(len > 0, "conn %d: an empty reply line", c->id);
	if (len > 4 && memcmp(p, "ERR ", 4) == 0) {
		for (size_t i = 0; i < len; i++)
			fz_check(p[i] >= 0x20 && p[i] <= 0x7e, "conn %d: byte 0x%02x in an ERR line",
				 c->id, (unsigned char)p[i]);
		return;
	}
	fz_check(len <= SS_NAME_MAX + SS_VALUE_MAX + 64, "conn %d: a reply line of %zu bytes",
		 c->id, len);
	for (size_t i = 0; i < len; i++) {
		unsigned char b = (unsigned char)p[i];
		int ok = b == ' ' ? i > 0 && i + 1 < len && p[i - 1] != ' ' : ss_is_token_char(b);
		fz_check(ok, "conn %d: byte 0x%02x at %zu in the reply line '%.*s'", c->id, b, i,
			 (int)(len < 200 ? len : 200), p);
	}
}

/* The client reads every reply: checks the framing and counts replies. */
static void client_receive(struct fconn *c)
{
	size_t n = ss_buf_size(&c->s.out);
	if (n == 0)
		return;
	const char *p = ss_buf_head(&c->s.out);

	fz_check(p[n - 1] == '\n', "conn %d: output ends in a partial line", c->id);
	while (n > 0) {
		fz_check(c->shape_at < c->nshapes, "conn %d: a reply nobody asked for: '%.*s'",
			 c->id, (int)(n < 100 ? n : 100), p);
		int multi = c->shapes[c->shape_at++];
		for (;;) {
			const char *nl = memchr(p, '\n', n);
			fz_check(nl, "conn %d: a multi-line reply cut short", c->id);
			size_t len = (size_t)(nl - p);
			check_line(c, p, len);
			int end = !multi || (len == 3 && memcmp(p, "END", 3) == 0);
			p += len + 1;
			n -= len + 1;
			if (end)
				break;
		}
		c->replies++;
	}
	ss_buf_consume(&c->s.out, ss_buf_size(&c->s.out));
}

/* ---- the server, mirrored ---- */

/* ss_session_env.observe: every request the session runs is checked, and
 * counted as owing a reply unless it waits to run again. */
static void observe(void *arg, const struct ss_session *s, const struct ss_request *req,
		    enum ss_cmd_status st, size_t before, size_t nops0)
{
	struct fz *z = arg;
	struct fconn *c = (struct fconn *)(uintptr_t)s;

	if (!req) {
		fz_check(c->s.pending == 0, "conn %d: a long line answered before earlier replies",
			 c->id);
		expect_reply(c, before, "ERR line too long\n", 18, "an over-long line");
		push_shape(c, 0);
		c->requests++;
		return;
	}
	/* The rule is the harness's, not the session's: with replies owed,
	 * nothing may reply at once. */
	check_execute(z, c, req, st, c->s.pending == 0, before, nops0);
	if (st != SS_CMD_WAIT)
		c->requests++;
}

/* ss_conn_flush: the client reads everything sent; then, as conn.c does,
 * empty buffers larger than a read step are freed. */
static void flush(struct fconn *c)
{
	client_receive(c);
	if (!c->s.closed)
		ss_session_trim(&c->s);
}

static void settle(struct fconn *c)
{
	flush(c);
	if (!c->s.closed && ss_session_done(&c->s))
		c->s.closed = 1;
}

/* clients.c's run(). */
static void process_input(struct fz *z, struct fconn *c)
{
	struct ss_session_env env = {
		.table = ss_store_table(z->store),
		.batch = &z->batch,
		.pending = &z->pending,
		.now_ms = z->now,
		.max_line = z->max_line,
		.batch_max_bytes = z->batch_max,
		.stopping = z->stopped,
		.rejected = &z->rejected,
		.compact_requested = &z->compact_requested,
		.stats = stats,
		.stats_arg = z,
		.observe = observe,
		.observe_arg = z,
	};

	for (;;) {
		enum ss_session_result r = ss_session_execute(&c->s, &env);
		fz_check(r != SS_SESSION_NOMEM, "conn %d: out of memory", c->id);
		if (r == SS_SESSION_HIGH) {
			fz_check(ss_buf_size(&c->s.out) >= SS_SESSION_OUT_HIGH,
				 "conn %d: HIGH below the mark", c->id);
			flush(c); /* the client reads it all, so the output drains */
			continue;
		}
		if (r == SS_SESSION_FULL) {
			fz_check(z->batch.nops > 0 && (z->batch.len >= z->batch_max ||
							z->batch.nops >= SS_GROUP_MAX),
				 "conn %d: FULL with room in the batch", c->id);
			c->s.batch_wait = 1; /* resumed after the next commit */
		}
		break;
	}
	settle(c);
}

/* One readable event: reads what fits and what the client has sent. */
static void conn_read(struct fz *z, struct fconn *c)
{
	size_t room = ss_session_room(&c->s, z->max_line);
	size_t avail = c->qlen - c->qoff;

	if (c->s.closed || c->s.eof || c->s.close_after || room == 0)
		return;
	/* conn.c makes room before read(2), so the buffer is allocated even
	 * when the read finds EOF. */
	fz_check(ss_buf_space(&c->s.in, room), "out of memory");
	if (avail == 0) {
		if (!c->shut)
			return; /* not readable */
		c->s.eof = 1;
	} else {
		size_t n = avail < room ? avail : room;
		fz_check(ss_buf_append(&c->s.in, c->q + c->qoff, n) == 0, "out of memory");
		c->qoff += n;
	}
	process_input(z, c);
}

/* Applies a committed record op to m (and, for the model, to the history),
 * as the store does. Returns 1 for a DEL of a name live at now, else 0. */
static int model_apply(struct fz *z, struct fz_map *m, const struct ss_op *op, int history)
{
	size_t nlen, vlen;
	if (op->type == SS_OP_REPLY)
		return 0;
	const char *name = op_name(&z->batch, op, &nlen);
	const struct fz_kv *kv = fz_map_find(m, name, nlen);
	/* As the store does: the version a record replaces is judged at the
	 * record's commit time (or now, if that is later than now). */
	int64_t at = op->commit_ms > 0 && op->commit_ms < z->now ? op->commit_ms : z->now;
	int live = kv && fz_live(kv->expire_ms, at);

	if (op->type == SS_REC_DEL || (op->expire_ms != 0 && op->expire_ms <= at)) {
		if (history)
			hist_drop(z, name, nlen);
		return fz_map_del(m, name, nlen, at) && op->type == SS_REC_DEL;
	}
	/* op_name's and op_value's buffers are distinct. */
	const char *value = op_value(&z->batch, op, &vlen);
	if (history)
		hist_push(z, name, nlen, value, vlen, op->rev, op->commit_ms, live);
	fz_map_set_rev(m, name, nlen, value, vlen, op->expire_ms, op->rev, op->commit_ms);
	return 0;
}

/* The reference's view of the open batch ends with it. */
static void staged_clear(struct fz *z)
{
	for (size_t i = 0; i < z->nstaged; i++) {
		free(z->staged[i].name);
		free(z->staged[i].value);
	}
	z->nstaged = 0;
	for (size_t i = 0; i < z->batch.nops; i++) {
		free(z->owed[i]);
		z->owed[i] = NULL;
	}
}

/* Answers every COMPACT in the wait state: queued, or in the run that ended. */
static void compact_answer(struct fz *z, enum ss_compact_wait state, int rc, const char *msg)
{
	for (int i = 0; i < NCONN; i++) {
		struct fconn *c = &z->conns[i];
		if (c->s.compact_wait != state)
			continue;
		c->s.compact_wait = SS_COMPACT_NONE;
		size_t before = ss_buf_size(&c->s.out);
		fz_check(ss_cmd_reply_compact(c->s.proto, rc == 0 ? NULL : msg, &c->s.out) == 0,
			 "out of memory");
		if (rc == 0) {
			expect_reply(c, before, "OK\n", 3, "COMPACT");
		} else {
			expect_line(c, before, "ERR compaction failed: ", "a failed COMPACT");
			z->rejected++;
		}
		process_input(z, c);
	}
}

/* Starts a compaction as server.c and compactor.c do, the forked child's
 * part done at once: its image of the table is the table as it is now.
 * The tail then grows in the old log with every commit, until the rounds
 * and the finish (compact_step) copy it across. */
static void compact_start(struct fz *z)
{
	struct ss_error err;
	const char *tmp;
	unsigned long injected = z->fio.injected;
	int rc = ss_store_compact_begin(z->store, 0, &tmp, &err);

	z->compact_requested = 0;
	if (rc == 0 && ss_snapshot_write(ss_store_table(z->store), z->now, tmp, &z->fio.io,
					 &err) < 0) {
		ss_store_compact_abort(z->store);
		rc = -1;
	}
	fz_check(rc == 0 || z->fio.injected > injected,
		 "COMPACT failed with no fault injected during it: %s", err.msg);
	if (rc < 0) {
		compact_answer(z, SS_COMPACT_QUEUED, rc, err.msg);
		return;
	}
	z->compacting = 1;
	z->rounds = 0;
	for (int i = 0; i < NCONN; i++)
		if (z->conns[i].s.compact_wait == SS_COMPACT_QUEUED)
			z->conns[i].s.compact_wait = SS_COMPACT_RUNNING;
}

/* The next step of a running compaction: a catch-up round (the job run
 * here rather than on a thread), or, after round_budget of them, the
 * finish. */
static void compact_step(struct fz *z)
{
	struct ss_compact_job job;
	struct ss_error err;
	unsigned long injected = z->fio.injected;
	int rc = 0;

	if (z->rounds < z->round_budget) {
		rc = ss_store_compact_round(z->store, 0, &job, &err);
		if (rc == 1) {
			z->rounds++;
			ss_compact_job_run(&job);
			rc = ss_store_compact_round_end(z->store, &job, &err);
			if (rc == 0)
				goto checked;
		}
	}
	if (rc == 0) {
		rc = ss_store_compact_finish(z->store, &err);
		int old = ss_store_take_retired_fd(z->store);
		if (old >= 0)
			z->fio.io.close(z->fio.io.ctx, old);
	}
	z->compacting = 0;
	/* A failed directory fsync after the rename poisons the store: the
	 * daemon answers COMPACT, executes nothing more and exits. */
	if (rc != 0 && ss_store_state(z->store) != SS_STORE_OK)
		z->stopped = 1;
	compact_answer(z, SS_COMPACT_RUNNING, rc, err.msg);
checked:
	fz_check(rc == 0 || z->fio.injected > injected,
		 "a compaction step failed with no fault injected during it: %s", err.msg);
}

static void commit(struct fz *z)
{
	struct ss_batch *b = &z->batch;
	int ntouched = 0;

	if (b->nops > 0) {
		struct ss_error err;
		/* The store stops the daemon as soon as it refuses writes, so
		 * every failure must come from a fault injected during the
		 * call that failed. A batch of reply ops alone writes nothing. */
		unsigned long injected = z->fio.injected;
		int empty = b->nrecs == 0;
		int written = empty || ss_store_write(z->store, b, &err) == 0;

		z->commit_seq++;
		if (empty) {
			/* Replies only: decisions against durable state. */
		} else if (!written) {
			fz_check(z->fio.injected > injected,
				 "a batch write failed with no fault injected during it: %s", err.msg);
		} else {
			injected = z->fio.injected;
			if (ss_store_sync(z->store, &err) < 0) {
				fz_check(z->fio.injected > injected,
					 "a sync failed with no fault injected during it: %s", err.msg);
				/* The daemon exits answering nothing; the batch
				 * may or may not survive. */
				z->stopped = 1;
				z->have_doubt = 1;
				fz_map_live(&z->doubt, &z->model, INT64_MIN);
				for (size_t i = 0; i < b->nops; i++)
					(void)model_apply(z, &z->doubt, &b->ops[i], 0);
				return;
			}
			fz_check(ss_store_apply(z->store, b, z->now) == 0, "ss_store_apply failed");
		}
		for (size_t i = 0; i < b->nops; i++) {
			struct ss_op *op = &b->ops[i];
			struct fconn *c = op->owner;
			size_t before = ss_buf_size(&c->s.out), pending = c->s.pending;
			const char *want = z->owed[i];
			if (written) {
				int existed = model_apply(z, &z->model, op, 1);
				if (op->type == SS_REC_DEL)
					fz_check(op->result == existed,
						 "op %zu: DEL result %d, the model says %d", i,
						 op->result, existed);
			}
			fz_check(!want || pending > 0, "conn %d: an op answered with nothing pending",
				 c->id);
			int r = ss_session_answer(b, op, written, written ? 0 : err.sys_errno,
						  z->commit_seq);
			fz_check(!(r & SS_ANSWER_NOMEM), "out of memory");
			if (!want) {
				/* All but the last op of a multi-commit answer nothing. */
				fz_check(r == 0 && c->s.pending == pending &&
						 ss_buf_size(&c->s.out) == before,
					 "conn %d: op %zu of a multi-commit answered", c->id, i);
				continue;
			}
			if (written) {
				expect_reply(c, before, want, strlen(want), "a committed op");
			} else {
				expect_line(c, before, "ERR log write failed: ", "a failed write");
				z->rejected++;
			}
			if (r & SS_ANSWER_FIRST)
				z->touched[ntouched++] = c;
		}
		/* The commit hook of the staged state, as the server's; then
		 * the revisions: acknowledged, or (refused) handed out again. */
		ss_pending_done(&z->pending, b, written);
		if (written)
			z->rev_durable = z->rev;
		else
			z->rev = z->rev_durable;
		fz_check(ss_table_revision(ss_store_table(z->store)) == z->rev_durable,
			 "the table's revision is %llu after a commit, the reference says %llu",
			 (unsigned long long)ss_table_revision(ss_store_table(z->store)),
			 (unsigned long long)z->rev_durable);
		fz_check(ss_pending_next(&z->pending) == z->rev + 1,
			 "the next revision is %llu, the reference says %llu",
			 (unsigned long long)ss_pending_next(&z->pending),
			 (unsigned long long)z->rev + 1);
		staged_clear(z);
		/* A write whose cut-back failed too leaves the store broken:
		 * the daemon sends the ERRs, executes nothing more and exits. */
		int refusing = !written && ss_store_state(z->store) != SS_STORE_OK;
		if (refusing)
			z->stopped = 1;
		ss_batch_reset(b);
		for (int i = 0; i < ntouched; i++)
			process_input(z, z->touched[i]);
		if (refusing)
			return;
	}
	/* server.c's after_commit: the connections that found the batch
	 * full, then a requested compaction. */
	for (int i = 0; i < NCONN; i++) {
		struct fconn *c = &z->conns[i];
		if (c->s.batch_wait) {
			c->s.batch_wait = 0;
			process_input(z, c);
		}
	}
	if (z->compacting && !z->stopped)
		compact_step(z);
	else if (z->compact_requested && !z->stopped)
		compact_start(z);
}

static void loop_iteration(struct fz *z)
{
	for (int i = 0; i < NCONN && !z->stopped; i++)
		conn_read(z, &z->conns[i]);
	if (!z->stopped && (z->batch.nops > 0 || z->compact_requested || z->compacting))
		commit(z);
}

/* ---- the run ---- */

/* The client sends p[0..n) (dropped once it has shut its side). */
static void send_bytes(struct fconn *c, const uint8_t *p, size_t n)
{
	if (c->shut)
		return;
	if (c->qcap - c->qlen < n) {
		while (c->qcap - c->qlen < n)
			c->qcap = c->qcap ? c->qcap * 2 : 256;
		c->q = fz_realloc(c->q, c->qcap);
	}
	memcpy(c->q + c->qlen, p, n);
	c->qlen += n;
}

static void arm_fault(struct fz *z, uint8_t b)
{
	static const struct {
		enum fz_op op;
		int err;
	} kinds[8] = {
		{FZ_OP_PWRITE, EIO},     {FZ_OP_PWRITE, ENOSPC},   {FZ_OP_PWRITE, FZ_SHORT_WRITE},
		{FZ_OP_FDATASYNC, EIO},  {FZ_OP_FTRUNCATE, EIO},   {FZ_OP_RENAME, EIO},
		{FZ_OP_FSYNC, EIO},      {FZ_OP_OPEN, EMFILE},
	};
	(void)fz_io_arm(&z->fio, kinds[b & 7].op, 1 + ((b >> 3) & 7), kinds[b & 7].err);
}

static struct ss_store *open_store(struct fz *z, struct ss_open_report *rep, struct ss_error *err)
{
	struct ss_store_options opt = {.dir = fz_scratch_dir(), .io = &z->fio.io,
				       .prealloc_bytes = z->prealloc, .history = z->depth};
	struct ss_store *s;

	return ss_store_open(&s, &opt, z->now, rep, err) == 0 ? s : NULL;
}

static size_t configure(struct fz *z, const uint8_t *d, size_t size)
{
	static const size_t lines[] = {1024, 1100, 4096, 70000, SS_LINE_MAX_DEFAULT};
	static const size_t prealloc[] = {0, 64, 4096, 65536};
	static const size_t batch_max[] = {SS_FUZZ_BATCH_MAX, 1, 100, 1000};
	static const unsigned depths[] = {2, 0, 1, FZ_DEPTH_MAX};
	size_t i = 0;

	z->max_line = 1024;
	z->prealloc = 0;
	z->batch_max = SS_FUZZ_BATCH_MAX;
	z->round_budget = 1;
	z->depth = depths[0];
	z->now = INT64_C(1700000000000);
	while (i + 2 < size && d[i] == ESC) {
		if (d[i + 1] == 'M') {
			z->max_line = lines[d[i + 2] % 5];
			i += 3;
		} else if (d[i + 1] == 'P') {
			z->prealloc = prealloc[d[i + 2] & 3];
			i += 3;
		} else if (d[i + 1] == 'B') {
			z->batch_max = batch_max[d[i + 2] & 3];
			i += 3;
		} else if (d[i + 1] == 'H') {
			z->depth = depths[d[i + 2] & 3];
			i += 3;
		} else if (d[i + 1] == 'R') {
			z->round_budget = d[i + 2] & 3;
			i += 3;
		} else if (d[i + 1] == 'N' && i + 7 <= size) {
			int64_t t = 0;
			for (int k = 2; k < 7; k++)
				t = t << 8 | d[i + k];
			z->now = t;
			i += 7;
		} else {
			break;
		}
	}
	return i;
}

/* The table's versions of every live name equal the model's. */
static void check_history(struct fz *z, const struct ss_table *t, const char *when)
{
	struct ss_version v[FZ_DEPTH_MAX + 2];

	fz_check(ss_table_history_depth(t) == z->depth, "the table keeps %u versions, not %u",
		 ss_table_history_depth(t), z->depth);
	for (size_t i = 0; i < z->model.n; i++) {
		const struct fz_kv *kv = &z->model.kv[i];
		if (!fz_live(kv->expire_ms, z->now))
			continue;
		const struct fhist *h = hist_find(z, kv->name, kv->nlen);
		size_t n = ss_table_history(t, kv->name, kv->nlen, z->now, v, FZ_DEPTH_MAX + 2);
		fz_check(h && n == h->n, "%s: '%s' has %zu versions, the model %zu", when, kv->name,
			 n, h ? h->n : 0);
		for (size_t k = 0; k < n; k++)
			fz_check(v[k].rev == h->v[k].rev && v[k].commit_ms == h->v[k].commit_ms &&
					 v[k].vlen == h->v[k].vlen &&
					 memcmp(v[k].value, h->v[k].value, v[k].vlen) == 0,
				 "%s: version %zu of '%s' is %llu, the model says %llu", when, k,
				 kv->name, (unsigned long long)v[k].rev,
				 (unsigned long long)h->v[k].rev);
	}
}

static void oracle(struct fz *z)
{
	struct fz_map mem = {0}, want = {0}, disk = {0}, alt = {0};
	struct ss_open_report rep;
	struct ss_error err;
	const char *why;

	fz_map_from_table(&mem, ss_store_table(z->store), z->now);
	fz_map_live(&want, &z->model, z->now);
	if ((why = fz_map_diff(&want, &mem)))
		fz_fail("the in-memory table differs from the model: %s", why);
	check_history(z, ss_store_table(z->store), "in memory");
	ss_store_close(z->store);
	z->store = NULL;

	fz_io_disarm(&z->fio);
	struct ss_store *s = open_store(z, &rep, &err);
	if (!s)
		fz_fail("reopening the store failed: %s", err.msg);
	fz_map_from_table(&disk, ss_store_table(s), z->now);
	why = fz_map_diff(&want, &disk);
	if (why && z->have_doubt) {
		fz_map_live(&alt, &z->doubt, z->now);
		if (!fz_map_diff(&alt, &disk))
			why = NULL; /* the unacknowledged batch survived: allowed */
	}
	if (why)
		fz_fail("the replayed table differs from the model%s: %s",
			z->fio.injected ? " (after injected faults)" : "", why);
	if (!z->have_doubt) {
		/* Revisions, commit times and history survive replay. */
		check_history(z, ss_store_table(s), "after replay");
		fz_check(ss_table_revision(ss_store_table(s)) == z->rev_durable,
			 "the replayed store's revision is %llu, the reference says %llu",
			 (unsigned long long)ss_table_revision(ss_store_table(s)),
			 (unsigned long long)z->rev_durable);
	}
	if (z->fio.injected == 0)
		fz_check(rep.torn_bytes == 0, "%llu torn bytes at reopen with no fault injected",
			 (unsigned long long)rep.torn_bytes);
	ss_store_close(s);
	fz_map_free(&mem);
	fz_map_free(&want);
	fz_map_free(&disk);
	fz_map_free(&alt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz *z = &Z;
	struct ss_error err;
	size_t i;

	/* The batch keeps its memory from one input to the next (as the
	 * server's does from one commit to the next): allocating its 128 KiB
	 * afresh for every input costs more than the rest of a run. */
	struct ss_batch keep = z->batch;
	memset(z, 0, sizeof(*z));
	z->batch = keep;
	ss_batch_reset(&z->batch);
	ss_pending_init(&z->pending, 0);
	fz_io_init(&z->fio);
	i = configure(z, data, size);
	(void)unlink(fz_path(0, SS_LOG_FILE));
	(void)unlink(fz_path(1, SS_LOG_TMP_FILE));
	z->store = open_store(z, NULL, &err);
	if (!z->store)
		fz_fail("opening a fresh store failed: %s", err.msg);
	ss_pending_init(&z->pending, ss_table_revision(ss_store_table(z->store)));
	for (int k = 0; k < NCONN; k++) {
		ss_session_init(&z->conns[k].s, (uint64_t)k + 1);
		z->conns[k].id = k + 1;
	}

	for (; i < size && !z->stopped; i++) {
		struct fconn *c = &z->conns[z->cur];
		if (data[i] != ESC) {
			const uint8_t *esc = memchr(data + i, ESC, size - i);
			size_t n = esc ? (size_t)(esc - data) - i : size - i;
			send_bytes(c, data + i, n);
			i += n - 1;
			continue;
		}
		if (++i == size)
			break;
		switch (data[i]) {
		case ESC:
			send_bytes(c, &data[i], 1);
			break;
		case 'r':
			conn_read(z, c);
			break;
		case 'c':
			commit(z);
			break;
		case '1':
		case '2':
		case '3':
			z->cur = data[i] - '1';
			break;
		case 'e':
			c->shut = 1;
			break;
		case 't':
			if (i + 1 < size) {
				uint8_t b = data[++i];
				z->now += b < 128 ? b * 10 : (int64_t)(b - 127) * 60000;
			}
			break;
		case 'x':
			(void)ss_table_expire_some(ss_store_table(z->store), z->now, 8,
						   &z->expire_cursor);
			break;
		case 'f':
			if (i + 1 < size)
				arm_fault(z, data[++i]);
			break;
		default:
			loop_iteration(z);
			break;
		}
	}

	/* Every client shuts; the loop runs until everyone is answered. */
	size_t total = 0;
	for (int k = 0; k < NCONN; k++) {
		z->conns[k].shut = 1;
		total += z->conns[k].qlen;
	}
	for (size_t n = 0; n < 4 * total + 64 && !z->stopped; n++) {
		int done = 1;
		for (int k = 0; k < NCONN; k++)
			done &= z->conns[k].s.closed;
		if (done)
			break;
		loop_iteration(z);
	}
	for (int k = 0; k < NCONN && !z->stopped; k++) {
		struct fconn *c = &z->conns[k];
		fz_check(c->s.closed, "conn %d never finished: pending %zu, %zu bytes unread, %zu "
				      "buffered, compact_wait %d",
			 c->id, c->s.pending, c->qlen - c->qoff, ss_buf_size(&c->s.in),
			 (int)c->s.compact_wait);
		fz_check(c->replies == c->requests, "conn %d: %llu requests but %llu replies", c->id,
			 (unsigned long long)c->requests, (unsigned long long)c->replies);
	}

	oracle(z);

	staged_clear(z);
	ss_batch_reset(&z->batch);
	free(z->staged);
	free(z->owed);
	free(z->cursors);
	hist_free(z);
	ss_pending_free(&z->pending);
	fz_map_free(&z->model);
	fz_map_free(&z->doubt);
	for (int k = 0; k < NCONN; k++) {
		ss_session_free(&z->conns[k].s);
		free(z->conns[k].q);
		free(z->conns[k].shapes);
	}
	return 0;
}
