/*
 * fuzz_conn.c - libFuzzer target for the whole request path: client bytes ->
 * ss_session_execute (the daemon's own request loop: the text or the RESP
 * parser -> ss_cmd_execute -> the open batch) -> ss_store_write / sync /
 * apply -> ss_session_answer, driven the way the server (clients.c,
 * commit.c) drives it, on a real store in this process's scratch directory
 * (tmpfs when available).
 *
 * The input is what clients send, with escapes that stand for events. Plain
 * protocol text is a valid input: it is all sent on connection 1, and read,
 * executed and committed when the input ends. Raw bytes that start a request
 * with '*' are RESP, as the server decides; the '*' escape below writes a
 * well-formed RESP request for the fuzzer.
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
 *   0xff '*' a c args...
 *                   sends one RESP request, an array of bulk strings: the
 *                   command c (an index into fz_cmds, else c >= their count
 *                   and the name is an argument as below), lower-cased if
 *                   a & 0x10, then a & 15 arguments, each a byte L and then
 *                   L raw bytes (L < 0x80: any bytes, 0xff included), or
 *                   (L >= 0x80) the pooled argument (L & 0x7f) (fz_pool:
 *                   names with spaces, CR, LF or NUL, numbers, options). A
 *                   request the input cuts short is not sent.
 *   0xff '/' b      the next '*' request is sent in two parts, with one read
 *                   of the connection between them (cut at b % its length)
 *   0xff 'w' b      if a compaction's walk is on, one more step of it, of
 *                   1 << (b % 12) home buckets (at least one cursor position)
 *   0xff other      same as 'l'
 * and, only at the very start (configuration; defaults in brackets):
 *   0xff 'M' b      max_line: 1024, 1100, 4096, 70000 or 128 KiB [1024]
 *   0xff 'P' b      preallocation: 0, 64, 4096 or 65536 bytes [0]
 *   0xff 'N' b*5    the clock's start, unix ms, 40 bits big-endian [1.7e12]
 *   0xff 'B' b      the open batch's cap: 4096, 1, 100 or 1000 bytes [4096]
 *   0xff 'R' b      catch-up rounds before a compaction's finish: b&3 [1]
 *   0xff 'H' b      the history depth: 2, 0, 1 or 4 by b&3 [2]
 *   0xff 'W' b      the walk's step per loop iteration: 1, 0 (only 'w' and
 *                   the end of the input step it), 256 or 4096 home
 *                   buckets by b&3 [1]
 *
 * The harness plays the server's part (clients.c, commit.c, conn.c) around
 * session.c: a read takes what ss_session_room allows; process_input runs ss_session_execute,
 * lets the client read everything when it reports the output's high mark
 * (so backpressure never holds a connection back) and parks a connection
 * that found the batch full until the next commit; commit() writes, syncs
 * and applies the batch, answers its ops in order, resumes the connections
 * it answered and those that found the batch full, then advances a
 * compaction as compactor.c does: a requested COMPACT begins it and starts
 * a walk of the live table; each later commit - once per loop iteration,
 * as the server's slice - takes one step of the walk ('W'), and the 'w'
 * escape takes more wherever the input puts it, so commits, expiry and
 * lazy removals fall between the steps and the snapshot is fuzzy; each
 * step's bytes are written to the temp file at once, and the last step's
 * with an fdatasync. Then each commit runs a catch-up round over the tail
 * that commits left in the old log - the job here, not on a thread -
 * until the round budget is spent, then the finish, which answers the
 * COMPACTs of that run. When the input ends, the walk steps through what
 * is left of the table at the next iteration. BACKUP runs on the same
 * machinery, as server.c queues it (after COMPACTs, in arrival order,
 * one at a time): its walk keeps its prefix's names, its rounds copy the
 * tail filtered to them, and its finish (ss_store_backup_finish) answers
 * OK <rev>, which must be the durable revision. The directory the input
 * names is never used: it stands for one of 8 under the scratch
 * directory's backups/ (removed with each input), chosen by a hash of its
 * bytes, so that a BACKUP to a target an earlier one made is refused; a
 * failure must come from an injected fault or such a target. A failed sync stops
 * everything, as the daemon exits; so does a store left refusing writes (a failed write whose cut-back failed, a
 * compaction whose directory fsync failed), after the replies owed are
 * sent. The batch cap is small (the daemon's is 8 MiB) so that inputs
 * reach it.
 *
 * Oracles:
 *   - every request's result (seen through ss_session_env.observe) matches
 *     a reference dispatcher written from the protocols (status; the exact
 *     reply of reads and of most errors - a prefix for the text protocol's
 *     and the checkpoint commands' reasons; the staged ops of writes, with
 *     their revisions, commit times and which op owes the reply). The model
 *     keeps the revision counter (one per acknowledged mutating command,
 *     handed out again after a refused write), each name's revision, commit
 *     time and versions up to the depth; it decides every condition (CAS,
 *     MCAS, DEL and ROLLBACK with an expected revision, ROLLBACK's target,
 *     SET NX/XX, INCR, WATCH) against the durable state plus what was
 *     staged before, in staging order, and the reply decided then is the
 *     one the commit must send. Over RESP it covers GET, SET (NX XX GET EX
 *     PX EXAT PXAT KEEPTTL), SETNX, SETEX, PSETEX, GETSET, DEL, UNLINK,
 *     INCR, INCRBY, DECR, DECRBY, MGET, EXISTS, GETDEL, TTL, PTTL, TYPE,
 *     FLUSHALL, FLUSHDB, PING, ECHO, HELLO, RESET, QUIT, every checkpoint
 *     command, and MULTI, EXEC, DISCARD, WATCH, UNWATCH. Any other command
 *     the server knows is checked loosely: one well-formed reply, and
 *     whatever it stages is taken into the model (one revision, one op
 *     owing the reply). A reply decided by a value that is staged, not yet
 *     durable, waits for the batch; the environment variable
 *     FZ_CONN_LAX_INCR=1 lets INCR's error answer at once (the server's
 *     behaviour when this was written: see regress-incr-early-error), so
 *     that a run can look past it;
 *   - connections: each request runs in the protocol its first byte names,
 *     RESP in the version HELLO chose; a connection switches protocol only
 *     with no reply owed; a RESP request that ran is a complete frame of
 *     exactly its tokens (a reference walk of the framing), a protocol
 *     error comes only for a frame that is malformed or cannot fit, is one
 *     "-ERR Protocol error: ..." line, and nothing of the connection runs
 *     after it (nor after QUIT or a text line too long); at the end no
 *     complete request is left unexecuted;
 *   - transactions: commands after MULTI are queued (QUEUED) or refused
 *     (which makes EXEC answer EXECABORT, as an unknown command or a wrong
 *     arity does); EXEC stages every queued command's records and one reply
 *     op with their replies, each evaluated against the state the ones
 *     before it staged, one revision per write command, all in the open
 *     batch (so in one log group); a watched key whose revision moved (a
 *     write by anyone, a delete, an expiry) makes it a nil array that
 *     stages nothing;
 *   - all but the op that owes a command's reply answer nothing;
 *   - every reply is one well-formed text line (or, for STATS, HISTORY and
 *     LIST, lines then END) or one complete well-formed RESP value of the
 *     connection's version, and each connection gets exactly one reply per
 *     request, in order; a text reply never holds a byte outside the
 *     token alphabet (what RESP wrote is refused or left out);
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
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzzsupport.h"
#include "statestored/batch.h"
#include "statestored/record.h"
#include "common/buf.h"
#include "cmd/cmd.h"
#include "cmd/cmdutil.h"
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
/* The most a TTL may be, in ms (Redis's expiry options). */
#define FZ_TTL_MAX_MS ((int64_t)SS_TTL_MAX_S * 1000)

/* ---- expected replies ----
 *
 * A reply the reference expects: literal bytes with holes. A line hole
 * stands for the rest of a line (an error's reason, where only its start
 * is specified); an any hole for one complete well-formed RESP value. */

enum { H_LINE = 1, H_ANY = 2 };

struct want {
	char *b;
	size_t n, cap;
	struct {
		size_t at;
		int kind;
	} *holes;
	size_t nholes;
};

static void w_put(struct want *w, const void *p, size_t n)
{
	if (w->cap - w->n < n + 1) {
		while (w->cap - w->n < n + 1)
			w->cap = w->cap ? 2 * w->cap : 64;
		w->b = fz_realloc(w->b, w->cap);
	}
	if (n)
		memcpy(w->b + w->n, p, n);
	w->n += n;
	w->b[w->n] = '\0';
}

static void w_fmt(struct want *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void w_fmt(struct want *w, const char *fmt, ...)
{
	va_list ap;
	char *p = NULL;

	va_start(ap, fmt);
	int n = vasprintf(&p, fmt, ap);
	va_end(ap);
	fz_check(n >= 0, "out of memory");
	w_put(w, p, (size_t)n);
	free(p);
}

static void w_hole(struct want *w, int kind)
{
	w->holes = fz_realloc(w->holes, (w->nholes + 1) * sizeof(*w->holes));
	w->holes[w->nholes].at = w->n;
	w->holes[w->nholes++].kind = kind;
	w_put(w, "", 0);
}

static void w_append(struct want *w, const struct want *src)
{
	size_t base = w->n;

	for (size_t h = 0; h < src->nholes; h++) {
		w_put(w, src->b + (h ? src->holes[h - 1].at : 0),
		      src->holes[h].at - (h ? src->holes[h - 1].at : 0));
		w_hole(w, src->holes[h].kind);
	}
	size_t last = src->nholes ? src->holes[src->nholes - 1].at : 0;
	w_put(w, src->b + last, src->n - last);
	(void)base;
}

static void w_free(struct want *w)
{
	free(w->b);
	free(w->holes);
	memset(w, 0, sizeof(*w));
}

static struct want *w_clone(const struct want *src)
{
	struct want *w = fz_alloc(sizeof(*w));

	memset(w, 0, sizeof(*w));
	w_append(w, src);
	return w;
}

/* ---- RESP replies, as a client reads them ---- */

/* The line at p[0..n) after its type byte: its end (the '\r' of "\r\n")
 * in *e. 1, 0 if incomplete, -1 if it holds a bare CR or LF. */
static int resp_line(const char *p, size_t n, size_t *e)
{
	for (size_t i = 1; i < n; i++) {
		if (p[i] == '\n')
			return -1;
		if (p[i] != '\r')
			continue;
		if (i + 1 == n)
			return 0;
		if (p[i + 1] != '\n')
			return -1;
		*e = i;
		return 1;
	}
	return 0;
}

/* A decimal as the server writes it ("%lld"): an optional '-', digits
 * without a leading zero. 1 and *v, else 0. */
static int resp_num(const char *p, size_t n, long long *v)
{
	size_t i = 0;
	int neg = 0;
	unsigned long long u = 0;

	if (n > 0 && p[0] == '-') {
		neg = 1;
		i = 1;
	}
	if (i == n || n - i > 19 || (p[i] == '0' && (n - i > 1 || neg)))
		return 0;
	for (; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return 0;
		u = u * 10 + (unsigned)(p[i] - '0');
	}
	if (u > (unsigned long long)LLONG_MAX + neg)
		return 0;
	*v = neg ? (long long)(0 - u) : (long long)u;
	return 1;
}

/* One complete RESP value of version ver (2 or 3) at p[0..n): 1 with its
 * length, 0 if incomplete, -1 if malformed or of the other version (RESP2
 * has "$-1" and "*-1", RESP3 "_", maps, sets and verbatim strings). */
static int resp_value(const char *p, size_t n, int ver, int depth, size_t *len)
{
	size_t e;
	long long v;
	int r;

	if (n == 0)
		return 0;
	if (depth > 16)
		return -1;
	if ((r = resp_line(p, n, &e)) <= 0)
		return r;
	switch (p[0]) {
	case '+':
		*len = e + 2;
		return 1;
	case '-':
		*len = e + 2;
		return e > 1 ? 1 : -1;
	case ':':
		*len = e + 2;
		return resp_num(p + 1, e - 1, &v) ? 1 : -1;
	case '_':
		*len = e + 2;
		return ver == 3 && e == 1 ? 1 : -1;
	case '$':
		if (!resp_num(p + 1, e - 1, &v) || v < -1 || (v == -1 && ver != 2))
			return -1;
		if (v == -1) {
			*len = e + 2;
			return 1;
		}
		if (n < e + 2 + (size_t)v + 2)
			return 0;
		if (p[e + 2 + v] != '\r' || p[e + 3 + v] != '\n')
			return -1;
		*len = e + 2 + (size_t)v + 2;
		return 1;
	case '=':
		/* RESP3's verbatim string: "=<len>\r\ntxt:<bytes>\r\n" */
		if (ver != 3 || !resp_num(p + 1, e - 1, &v) || v < 4)
			return -1;
		if (n < e + 2 + (size_t)v + 2)
			return 0;
		if (p[e + 5] != ':' || p[e + 2 + v] != '\r' || p[e + 3 + v] != '\n')
			return -1;
		*len = e + 2 + (size_t)v + 2;
		return 1;
	case '*':
	case '~':
	case '%': {
		if (!resp_num(p + 1, e - 1, &v) || v < -1 ||
		    (v == -1 && (ver != 2 || p[0] != '*')) || (p[0] != '*' && ver != 3))
			return -1;
		size_t at = e + 2, k = v < 0 ? 0 : (size_t)v * (p[0] == '%' ? 2 : 1);
		for (size_t i = 0; i < k; i++) {
			size_t l;
			if ((r = resp_value(p + at, n - at, ver, depth + 1, &l)) <= 0)
				return r;
			at += l;
		}
		*len = at;
		return 1;
	}
	default:
		return -1;
	}
}

/* Whether p[0..n) is exactly w (ver: 0 text, else the RESP version). */
static int want_match(const char *p, size_t n, const struct want *w, int ver)
{
	size_t i = 0, j = 0;

	for (size_t h = 0;; h++) {
		size_t stop = h < w->nholes ? w->holes[h].at : w->n;
		if (n - i < stop - j || memcmp(p + i, w->b + j, stop - j) != 0)
			return 0;
		i += stop - j;
		j = stop;
		if (h == w->nholes)
			break;
		if (w->holes[h].kind == H_LINE) {
			while (i < n && p[i] != '\n' && p[i] != '\r')
				i++;
		} else {
			size_t l;
			if (resp_value(p + i, n - i, ver, 0, &l) <= 0)
				return 0;
			i += l;
		}
	}
	return i == n;
}

/* ---- RESP requests: a reference walk of the framing ----
 *
 * A request is "*<count>\r\n" and count times "$<len>\r\n<len bytes>\r\n",
 * a header being an optional '-' and 1..18 digits, as Redis writes a
 * number (no leading zero, no "-0"); the whole request fits in max_line + 2 bytes;
 * a negative count or length, a count past SS_ARGS_MAX, a header or a bulk
 * not ended by CRLF, a byte other than '$' where a bulk starts is
 * malformed. The walk says which of these the bytes are:
 *   FR_COMPLETE    a valid request, complete, within the bound: the server
 *                  must run it (with exactly these tokens);
 *   FR_INCOMPLETE  a valid start whose shortest completion fits: the
 *                  server must wait for more;
 *   FR_BAD         malformed, with the bytes that show it present: the
 *                  server must answer a protocol error;
 *   FR_EITHER      anything else (it cannot fit, or a header is not ended
 *                  yet and cannot be valid): an error now or a wait. */
enum { FR_COMPLETE, FR_INCOMPLETE, FR_BAD, FR_EITHER };

/* The header at b[pos]: FR_COMPLETE with *v and *next; FR_INCOMPLETE with
 * *v a lower bound of its value (no CRLF yet), *next the bytes at least
 * still to come; FR_BAD; or FR_EITHER. */
static int fr_header(const char *b, size_t len, size_t pos, long long *v, size_t *next)
{
	size_t i = pos + 1, digits = 0;
	long long n = 0;
	int neg = 0, lead0;

	if (i < len && b[i] == '-') {
		neg = 1;
		i++;
	}
	lead0 = i < len && b[i] == '0';
	for (; i < len && b[i] >= '0' && b[i] <= '9'; i++, digits++)
		if (digits < 18)
			n = n * 10 + (b[i] - '0');
	lead0 = lead0 && (digits > 1 || neg);
	if (i == len) {
		if (neg || digits > 18 || lead0)
			return FR_EITHER;
		*v = n;
		*next = (digits ? 0 : 1) + 2;
		return FR_INCOMPLETE;
	}
	if (b[i] != '\r')
		return FR_EITHER; /* a bad byte: refused at its CR or at the header's bound */
	if (i + 1 == len) {
		if (neg || digits == 0 || digits > 18 || lead0)
			return FR_EITHER;
		*v = n;
		*next = 1;
		return FR_INCOMPLETE;
	}
	if (b[i + 1] != '\n' || digits == 0 || digits > 18 || lead0)
		return FR_BAD;
	*v = neg ? -n : n;
	*next = i + 2;
	return FR_COMPLETE;
}

/* Walks the request at b[0..len) (b[0] == '*'); with cmp, a complete one
 * must hold exactly cmp's tokens (*same says whether it does). */
static int fr_walk(const char *b, size_t len, size_t max_line, const struct ss_request *cmp,
		   int *same)
{
	size_t limit = max_line + 2, pos, more;
	long long count, blen;
	int r = fr_header(b, len, 0, &count, &pos);

	*same = 1;
	if (r == FR_INCOMPLETE) {
		more = pos;
		return len + more + 6 * (size_t)count <= limit ? FR_INCOMPLETE : FR_EITHER;
	}
	if (r != FR_COMPLETE)
		return r;
	if (count < 0 || count > SS_ARGS_MAX)
		return FR_BAD;
	if (cmp && cmp->argc != count)
		*same = 0;
	for (long long k = 0; k < count; k++) {
		size_t rest = 6 * (size_t)(count - k - 1), next;
		if (pos + 6 + rest > limit)
			return FR_EITHER;
		if (pos >= len)
			return FR_INCOMPLETE;
		if (b[pos] != '$')
			return FR_BAD;
		r = fr_header(b, len, pos, &blen, &next);
		if (r == FR_INCOMPLETE)
			return len + next + (size_t)blen + 2 + rest <= limit ? FR_INCOMPLETE
									     : FR_EITHER;
		if (r != FR_COMPLETE)
			return r;
		if (blen < 0)
			return FR_BAD;
		if (next + (size_t)blen + 2 + rest > limit)
			return FR_EITHER;
		if (len < next + (size_t)blen + 2)
			return FR_INCOMPLETE;
		if (b[next + blen] != '\r' || b[next + blen + 1] != '\n')
			return FR_BAD;
		if (cmp && k < cmp->argc &&
		    (cmp->argv[k].n != (size_t)blen || memcmp(cmp->argv[k].p, b + next, blen) != 0))
			*same = 0;
		pos = next + (size_t)blen + 2;
	}
	return FR_COMPLETE;
}

static const char *const fr_names[] = {"complete", "incomplete", "malformed", "undecided"};

/* ---- the state ---- */

/* A queued RESP request (MULTI): copies of its tokens. */
struct fqueued {
	int argc;
	struct ss_token *argv;
};

/* A watched key: the revision it had when watched, and the last revision
 * handed out then. */
struct fwatch {
	char *name;
	size_t nlen;
	uint64_t rev, at;
};

/* A name some connection watches: how many watches, and the revision of
 * the last record staged to it since it was first watched (pending.h's
 * registry; 0: none). */
struct fwatched {
	char *name;
	size_t nlen, refs;
	uint64_t touched;
};

struct fconn {
	struct ss_session s; /* the server's side; first, so an op's owner is the fconn */
	int id;
	char *q;             /* bytes sent by the client, not yet read */
	size_t qlen, qoff, qcap;
	int shut; /* the client shut its side */
	unsigned split; /* '/': 0x100 | the cut of the next '*' request */
	/* the client's view */
	char *shapes;           /* per request in order: its reply's shape (push_shape) */
	size_t nshapes, shape_at;
	uint64_t requests;      /* requests that owe a reply */
	uint64_t replies;       /* replies received */
	/* the model of the connection */
	int resp;       /* the RESP version of its RESP replies: 2, or 3 after HELLO 3 */
	int last_kind;  /* the protocol of its last request: -1 none yet, 0 text, 1 RESP */
	int closing;    /* QUIT or a protocol error answered: nothing more may run */
	int multi, multi_error, multi_loose; /* MULTI; EXEC will abort; a loose command queued */
	struct fqueued *queue;
	size_t nqueued, qcap2, queued_args;
	struct fwatch *watch;
	size_t nwatch, wcap;
	uint64_t watch_failures; /* z->failures at its first WATCH */
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
	struct want **owed;  /* per op of the open batch: its reply, or NULL for none */
	uint64_t rev, rev_durable; /* last revision handed out, and acknowledged */
	uint64_t *cursors;   /* LIST cursors the server issued */
	size_t ncursors;
	struct fz_map doubt; /* model + a batch whose sync failed */
	int have_doubt;
	int exec;            /* the reference evaluates EXEC's queued commands */
	struct fwatched *reg; /* the watched names */
	size_t nreg, regcap;
	uint64_t failures;   /* batches whose write failed */
	int lax_incr;        /* FZ_CONN_LAX_INCR: see ref_incr */
	struct fconn conns[NCONN];
	struct fconn *touched[NCONN];
	int cur;
	int64_t now;
	size_t max_line, prealloc, batch_max, expire_cursor;
	int compact_requested;
	int compacting;   /* from the begin to the finish: the tail grows */
	int walking;      /* ... and the walk of the table is not over */
	struct ss_snapshot snap; /* the walk */
	struct ss_snapshot_out snap_out;
	int snap_fd;      /* the temp file while the walk writes it */
	uint64_t snap_len;
	size_t slice;     /* home buckets the walk steps per loop iteration */
	int draining;     /* the input is over: the walk steps through the rest */
	unsigned rounds, round_budget; /* catch-up rounds done, and before the finish */
	int backup;       /* the run is a BACKUP's (its compact_wait SS_BACKUP_RUNNING) */
	uint64_t backups_queued, backup_seq; /* the sessions count and number them */
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

static int text_safe(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x21 || (unsigned char)p[i] > 0x7e)
			return 0;
	return 1;
}

static int valid_token(const struct ss_token *t, size_t max)
{
	return t->n >= 1 && t->n <= max && text_safe(t->p, t->n);
}

/* A name, and a value to store, in the protocol ver (0: text; RESP takes
 * any bytes). GET answers NULL for a missing checkpoint: the value is
 * taken. */
static int name_ok(const struct ss_token *t, int ver)
{
	return ver ? t->n >= 1 && t->n <= SS_NAME_MAX : valid_token(t, SS_NAME_MAX);
}

static int value_ok(const struct ss_token *t, int ver)
{
	int ok = ver ? t->n >= 1 && t->n <= SS_VALUE_MAX : valid_token(t, SS_VALUE_MAX);
	return ok && !(t->n == 4 && memcmp(t->p, "NULL", 4) == 0);
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

/* A Redis integer: an optional '-', then digits without a leading zero
 * (but "0"; not "-0"), within a long long. */
static int ref_ll(const char *p, size_t n, long long *out)
{
	unsigned long long v = 0, lim;
	size_t i = 0;
	int neg = 0;

	if (n == 0 || n > 20)
		return 0;
	if (p[0] == '-') {
		neg = 1;
		i = 1;
		if (n == 1)
			return 0;
	}
	if (p[i] == '0' && (n > i + 1 || neg))
		return 0;
	lim = neg ? (unsigned long long)LLONG_MAX + 1 : (unsigned long long)LLONG_MAX;
	for (; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return 0;
		unsigned d = (unsigned)(p[i] - '0');
		if (v > (lim - d) / 10)
			return 0;
		v = v * 10 + d;
	}
	*out = neg ? (long long)(0 - v) : (long long)v;
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
	int staged; /* it comes from a change staged, not yet durable */
};

static void ref_current_raw(struct fz *z, const char *p, size_t n, struct cur *c)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = z->nstaged; i-- > 0;) {
		const struct fstaged *s = &z->staged[i];
		if (s->nlen != n || memcmp(s->name, p, n) != 0)
			continue;
		c->staged = 1;
		/* A staged SET that expires before it is applied acts as a DEL. */
		if (s->rev && !(s->expire_ms && s->expire_ms <= z->now)) {
			c->rev = s->rev;
			c->value = s->value;
			c->vlen = s->vlen;
			c->expire_ms = s->expire_ms;
		}
		return;
	}
	const struct fz_kv *kv = fz_map_find(&z->model, p, n);
	if (kv && fz_live(kv->expire_ms, z->now)) {
		c->rev = kv->rev;
		c->value = kv->value;
		c->vlen = kv->vlen;
		c->expire_ms = kv->expire_ms;
	}
}

static void ref_current(struct fz *z, const struct ss_token *name, struct cur *c)
{
	ref_current_raw(z, name->p, name->n, c);
}

/* A key as a Redis reply now may show it: the durable state, or inside
 * EXEC the staged one (EXEC's reply waits for the batch). 1 if it exists. */
static int ref_lookup(struct fz *z, const struct ss_token *k, struct cur *c)
{
	if (z->exec) {
		ref_current(z, k, c);
		return c->rev != 0;
	}
	memset(c, 0, sizeof(*c));
	const struct fz_kv *kv = fz_map_find(&z->model, k->p, k->n);
	if (!kv || !fz_live(kv->expire_ms, z->now))
		return 0;
	c->rev = kv->rev;
	c->value = kv->value;
	c->vlen = kv->vlen;
	c->expire_ms = kv->expire_ms;
	return 1;
}

/* ---- WATCH's registry (pending.h): every record staged to a watched name
 * is noted, so that EXEC sees a write even when it left the name as it was.
 * EXEC answers nil if a watched key's revision moved, a record was staged
 * to it since WATCH, or a batch failed since the connection's first
 * WATCH (its revisions are handed out again). */

static struct fwatched *reg_find(struct fz *z, const char *name, size_t nlen)
{
	for (size_t i = 0; i < z->nreg; i++)
		if (z->reg[i].nlen == nlen && memcmp(z->reg[i].name, name, nlen) == 0)
			return &z->reg[i];
	return NULL;
}

static void reg_watch(struct fz *z, const char *name, size_t nlen)
{
	struct fwatched *w = reg_find(z, name, nlen);

	if (!w) {
		if (z->nreg == z->regcap) {
			z->regcap = z->regcap ? 2 * z->regcap : 8;
			z->reg = fz_realloc(z->reg, z->regcap * sizeof(*z->reg));
		}
		w = &z->reg[z->nreg++];
		w->name = fz_alloc(nlen + 1);
		memcpy(w->name, name, nlen);
		w->nlen = nlen;
		w->refs = 0;
		w->touched = 0;
	}
	w->refs++;
}

static void reg_unwatch(struct fz *z, const char *name, size_t nlen)
{
	struct fwatched *w = reg_find(z, name, nlen);

	fz_check(w && w->refs > 0, "the model unwatches a name nobody watches");
	if (--w->refs > 0)
		return;
	free(w->name);
	*w = z->reg[--z->nreg];
}

/* A record of revision rev is staged to name. */
static void reg_touch(struct fz *z, const char *name, size_t nlen, uint64_t rev)
{
	struct fwatched *w = reg_find(z, name, nlen);

	if (w)
		w->touched = rev;
}

/* What a request must do. */
enum ref {
	R_NOW,        /* reply at once: want */
	R_STAGE,      /* stage ops; the one that owes answers want after the commit */
	R_QUIT,       /* reply want, then close */
	R_COMPACT,    /* queue a compaction */
	R_BACKUP,     /* queue a backup */
	R_LIST,       /* a listing */
	R_LIST_MAYBE, /* a listing, or an error (a cursor that may pass the check) */
	R_LOOSE,      /* a command the model does not cover: one reply, now or staged */
	R_LOOSE_EXEC, /* EXEC of a transaction holding such a command */
	R_FULL,       /* EXEC: the open batch lacks room; run again after the commit */
};

/* One op the request must stage. */
struct xop {
	int type; /* SS_REC_SET, SS_REC_DEL, SS_OP_REPLY */
	char *name, *value;
	size_t nlen, vlen;
	int64_t expire_ms;
	uint64_t rev;
	int owes; /* it answers the request */
};

/* What the request does to its connection, once it has run. */
enum {
	E_MULTI = 1,        /* MULTI: a transaction starts */
	E_MULTI_ERROR = 2,  /* the transaction will abort */
	E_QUEUE = 4,        /* the request is queued */
	E_CLEAR_MULTI = 8,  /* the transaction ends */
	E_CLEAR_WATCH = 16, /* the watches are forgotten */
	E_WATCH = 32,       /* x->watch are watched */
	E_RESP = 64,        /* the RESP version becomes x->new_resp */
	E_CLOSE = 128,      /* nothing more of the connection runs */
};

struct expect {
	enum ref kind;
	int ver;          /* the request's protocol: 0 text, 2 or 3 RESP */
	int shape;        /* its reply's shape (push_shape) */
	struct want want; /* R_NOW, R_QUIT; R_STAGE: the reply owed */
	struct xop *ops;  /* R_STAGE */
	size_t nops;
	int eff, new_resp, loose_queue;
	int may_wait;     /* R_STAGE: it may wait instead, with replies owed (ref_incr) */
	struct fwatch *watch;
	size_t nwatch;
};

static void expect_free(struct expect *x)
{
	w_free(&x->want);
	for (size_t i = 0; i < x->nops; i++) {
		free(x->ops[i].name);
		free(x->ops[i].value);
	}
	free(x->ops);
	for (size_t i = 0; i < x->nwatch; i++)
		free(x->watch[i].name);
	free(x->watch);
}

static char *dup_bytes(const char *p, size_t n)
{
	char *d = fz_alloc(n + 1);

	if (n)
		memcpy(d, p, n);
	d[n] = '\0';
	return d;
}

/* A record joins the reference's view of the open batch. */
static void staged_push(struct fz *z, int type, const char *name, size_t nlen, const char *value,
			size_t vlen, int64_t expire_ms, uint64_t rev)
{
	if (z->nstaged == z->scap) {
		z->scap = z->scap ? 2 * z->scap : 16;
		z->staged = fz_realloc(z->staged, z->scap * sizeof(*z->staged));
	}
	reg_touch(z, name, nlen, rev);
	struct fstaged *s = &z->staged[z->nstaged++];
	s->name = dup_bytes(name, nlen);
	s->nlen = nlen;
	s->rev = type == SS_REC_SET ? rev : 0;
	s->value = dup_bytes(type == SS_REC_SET ? value : "", type == SS_REC_SET ? vlen : 0);
	s->vlen = type == SS_REC_SET ? vlen : 0;
	s->expire_ms = type == SS_REC_SET ? expire_ms : 0;
}

/* Adds an op to x; a record joins the reference's staged state at once, so
 * that what is decided next (the next queued command of an EXEC) sees it. */
static void x_op(struct fz *z, struct expect *x, int type, const char *name, size_t nlen,
		 const char *value, size_t vlen, int64_t expire_ms, uint64_t rev, int owes)
{
	x->kind = R_STAGE;
	x->ops = fz_realloc(x->ops, (x->nops + 1) * sizeof(*x->ops));
	x->ops[x->nops++] = (struct xop){
		.type = type,
		.name = type == SS_OP_REPLY ? NULL : dup_bytes(name, nlen),
		.value = type == SS_REC_SET ? dup_bytes(value, vlen) : NULL,
		.nlen = nlen,
		.vlen = vlen,
		.expire_ms = expire_ms,
		.rev = rev,
		.owes = owes,
	};
	if (type != SS_OP_REPLY)
		staged_push(z, type, name, nlen, value, vlen, expire_ms, rev);
}

static void x_set(struct fz *z, struct expect *x, const struct ss_token *k, const char *v,
		  size_t vlen, int64_t expire_ms, uint64_t rev, int owes)
{
	x_op(z, x, SS_REC_SET, k->p, k->n, v, vlen, expire_ms, rev, owes);
}

/* A reply-only op: the answer waits for the batch to be durable. */
static void x_reply(struct fz *z, struct expect *x)
{
	x_op(z, x, SS_OP_REPLY, NULL, 0, NULL, 0, 0, 0, 1);
}

static uint64_t take_rev(struct fz *z)
{
	return ++z->rev;
}

/* Drops the staged state after its first n entries. */
static void staged_truncate(struct fz *z, size_t n)
{
	while (z->nstaged > n) {
		z->nstaged--;
		free(z->staged[z->nstaged].name);
		free(z->staged[z->nstaged].value);
	}
}

/* ---- replies in each protocol (ver 0: text; 2, 3: RESP) ---- */

static void r_bulk(struct want *w, const char *p, size_t n)
{
	w_fmt(w, "$%zu\r\n", n);
	w_put(w, p, n);
	w_put(w, "\r\n", 2);
}

static void r_nil(struct want *w, int ver)
{
	w_put(w, ver == 3 ? "_\r\n" : "$-1\r\n", ver == 3 ? 3 : 5);
}

/* A RESP error line: CR and LF become spaces, as the server writes them. */
static void r_err(struct want *w, const char *msg, size_t n)
{
	w_put(w, "-", 1);
	for (size_t i = 0; i < n; i++)
		w_put(w, msg[i] == '\r' || msg[i] == '\n' ? " " : &msg[i], 1);
	w_put(w, "\r\n", 2);
}

static void r_errf(struct want *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void r_errf(struct want *w, const char *fmt, ...)
{
	va_list ap;
	char *p = NULL;

	va_start(ap, fmt);
	int n = vasprintf(&p, fmt, ap);
	va_end(ap);
	fz_check(n >= 0, "out of memory");
	r_err(w, p, (size_t)n);
	free(p);
}

static void p_ok(struct want *w, int ver)
{
	w_fmt(w, ver ? "+OK\r\n" : "OK\n");
}

static void p_ok_rev(struct want *w, int ver, uint64_t rev)
{
	w_fmt(w, ver ? ":%llu\r\n" : "OK %llu\n", (unsigned long long)rev);
}

static void p_int(struct want *w, int ver, long long v)
{
	w_fmt(w, ver ? ":%lld\r\n" : "%lld\n", v);
}

static void p_conflict(struct want *w, int ver, const char *name, size_t nlen, uint64_t rev)
{
	struct want m = {0};

	w_put(&m, "CONFLICT ", 9);
	if (name) {
		w_put(&m, name, nlen);
		w_put(&m, " ", 1);
	}
	w_fmt(&m, "%llu", (unsigned long long)rev);
	if (ver)
		r_err(w, m.b, m.n);
	else
		w_fmt(w, "%s\n", m.b);
	w_free(&m);
}

/* An error whose reason is not specified beyond its start. */
static void p_err_any(struct want *w, int ver)
{
	w_put(w, ver ? "-ERR " : "ERR ", ver ? 5 : 4);
	w_hole(w, H_LINE);
	w_put(w, ver ? "\r\n" : "\n", ver ? 2 : 1);
}

/* An error whose reason starts with prefix. */
static void p_err_prefix(struct want *w, int ver, const char *prefix)
{
	w_fmt(w, "%sERR %s", ver ? "-" : "", prefix);
	w_hole(w, H_LINE);
	w_put(w, ver ? "\r\n" : "\n", ver ? 2 : 1);
}

/* An error with the reason exactly msg. */
static void p_err(struct want *w, int ver, const char *msg)
{
	if (ver)
		r_errf(w, "ERR %s", msg);
	else
		w_fmt(w, "ERR %s\n", msg);
}

static void p_null(struct want *w, int ver)
{
	if (ver)
		r_nil(w, ver);
	else
		w_put(w, "NULL\n", 5);
}

/* ---- the checkpoint commands (either protocol) ---- */

static void ref_del(struct fz *z, const struct ss_request *req, struct expect *x)
{
	uint64_t want = 0;
	struct cur c;
	int ver = x->ver;

	if (!name_ok(&req->argv[1], ver) || (req->argc == 3 && !ref_u64(&req->argv[2], &want))) {
		p_err_any(&x->want, ver);
		return;
	}
	ref_current(z, &req->argv[1], &c);
	if (req->argc == 3 && c.rev != want) {
		x_reply(z, x);
		p_conflict(&x->want, ver, NULL, 0, c.rev);
	} else if (c.rev == 0) {
		x_reply(z, x);
		p_int(&x->want, ver, 0);
	} else {
		x_op(z, x, SS_REC_DEL, req->argv[1].p, req->argv[1].n, NULL, 0, 0, take_rev(z), 1);
		p_int(&x->want, ver, 1);
	}
}

static void ref_set_or_cas(struct fz *z, const struct ss_request *req, struct expect *x, int cas)
{
	const struct ss_token *name = &req->argv[1], *value = &req->argv[cas ? 3 : 2];
	uint64_t want = 0;
	int64_t expire = 0;
	struct cur c;
	int ver = x->ver;

	if (!name_ok(name, ver) || !value_ok(value, ver) ||
	    (cas && !ref_u64(&req->argv[2], &want)) ||
	    (req->argc == (cas ? 5 : 4) && !ref_ttl(&req->argv[req->argc - 1], z->now, &expire))) {
		p_err_any(&x->want, ver);
		return;
	}
	if (!cas) {
		x_set(z, x, name, value->p, value->n, expire, take_rev(z), 1);
		p_ok(&x->want, ver);
		return;
	}
	ref_current(z, name, &c);
	if (c.rev != want) {
		x_reply(z, x);
		p_conflict(&x->want, ver, NULL, 0, c.rev);
		return;
	}
	uint64_t rev = take_rev(z);
	x_set(z, x, name, value->p, value->n, expire, rev, 1);
	p_ok_rev(&x->want, ver, rev);
}

static void ref_multi_commit(struct fz *z, const struct ss_request *req, struct expect *x, int step)
{
	int nargs = req->argc - 1, ver = x->ver;
	uint64_t want;

	for (int i = 1; nargs % step == 0 && i < req->argc; i += step) {
		if (!name_ok(&req->argv[i], ver) ||
		    (step == 3 && !ref_u64(&req->argv[i + 1], &want)) ||
		    !value_ok(&req->argv[i + step - 1], ver))
			goto bad;
		for (int j = 1; j < i; j += step)
			if (req->argv[j].n == req->argv[i].n &&
			    memcmp(req->argv[j].p, req->argv[i].p, req->argv[i].n) == 0)
				goto bad; /* the same pipeline twice */
	}
	if (nargs % step != 0)
		goto bad;
	for (int i = 1; step == 3 && i < req->argc; i += step) {
		struct cur c;
		(void)ref_u64(&req->argv[i + 1], &want);
		ref_current(z, &req->argv[i], &c);
		if (c.rev != want) {
			x_reply(z, x);
			p_conflict(&x->want, ver, req->argv[i].p, req->argv[i].n, c.rev);
			return;
		}
	}
	uint64_t rev = take_rev(z);
	for (int i = 1; i < req->argc; i += step) {
		const struct ss_token *v = &req->argv[i + step - 1];
		x_set(z, x, &req->argv[i], v->p, v->n, 0, rev, i + step >= req->argc);
	}
	p_ok_rev(&x->want, ver, rev);
	return;
bad:
	p_err_any(&x->want, ver);
}

static void ref_rollback(struct fz *z, const struct ss_request *req, struct expect *x)
{
	uint64_t to, want = 0;
	struct cur c;
	const char *value = NULL;
	size_t vlen = 0;
	int ver = x->ver;

	if (!name_ok(&req->argv[1], ver) || !ref_u64(&req->argv[2], &to) ||
	    (req->argc == 4 && !ref_u64(&req->argv[3], &want))) {
		p_err_any(&x->want, ver);
		return;
	}
	ref_current(z, &req->argv[1], &c);
	if (req->argc == 4 && c.rev != want) {
		x_reply(z, x);
		p_conflict(&x->want, ver, NULL, 0, c.rev);
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
		x_reply(z, x);
		char msg[64];
		snprintf(msg, sizeof msg, "no revision %llu in history", (unsigned long long)to);
		p_err(&x->want, ver, msg);
		return;
	}
	/* x_set copies the value before the staged state can move. */
	char *copy = dup_bytes(value, vlen);
	uint64_t rev = take_rev(z);
	x_set(z, x, &req->argv[1], copy, vlen, c.expire_ms, rev, 1);
	free(copy);
	p_ok_rev(&x->want, ver, rev);
}

static void ref_read(struct fz *z, const struct ss_request *req, struct expect *x, int what)
{
	const struct fz_kv *kv;
	uint64_t count = SS_HISTORY_MAX + 1;
	int ver = x->ver;
	struct want *w = &x->want;

	if (!name_ok(&req->argv[1], ver) ||
	    (what == 'H' && req->argc == 3 &&
	     (!ref_u64(&req->argv[2], &count) || count < 1 || count > SS_HISTORY_MAX + 1))) {
		p_err_any(w, ver);
		return;
	}
	kv = fz_map_find(&z->model, req->argv[1].p, req->argv[1].n);
	int live = kv && fz_live(kv->expire_ms, z->now);
	switch (what) {
	case 'G':
		if (!live)
			p_null(w, ver);
		else if (ver)
			r_bulk(w, kv->value, kv->vlen);
		else if (!text_safe(kv->value, kv->vlen))
			p_err(w, 0, SS_NOT_TEXT);
		else
			w_fmt(w, "%.*s\n", (int)kv->vlen, kv->value);
		return;
	case 'R':
		if (!live) {
			p_null(w, ver);
		} else if (ver) {
			w_fmt(w, "*2\r\n:%llu\r\n", (unsigned long long)kv->rev);
			r_bulk(w, kv->value, kv->vlen);
		} else if (!text_safe(kv->value, kv->vlen)) {
			p_err(w, 0, SS_NOT_TEXT);
		} else {
			w_fmt(w, "%llu %.*s\n", (unsigned long long)kv->rev, (int)kv->vlen,
			      kv->value);
		}
		return;
	case 'T':
		p_int(w, ver,
		      !live		   ? -2LL
		      : kv->expire_ms == 0 ? -1LL
					   : (long long)((kv->expire_ms - z->now + 999) / 1000));
		return;
	}
	/* HISTORY */
	const struct fhist *h = live ? hist_find(z, req->argv[1].p, req->argv[1].n) : NULL;
	fz_check(!live || (h && h->n >= 1 && h->v[0].rev == kv->rev),
		 "the model's history of '%.*s' does not start at its current revision",
		 (int)req->argv[1].n, req->argv[1].p);
	size_t n = h ? (h->n < count ? h->n : (size_t)count) : 0;
	if (!ver) {
		for (size_t k = 0; k < n; k++) {
			if (!text_safe(h->v[k].value, h->v[k].vlen)) {
				p_err(w, 0, SS_NOT_TEXT);
				return;
			}
		}
		for (size_t k = 0; k < n; k++)
			w_fmt(w, "%llu %lld %.*s\n", (unsigned long long)h->v[k].rev,
			      (long long)h->v[k].commit_ms, (int)h->v[k].vlen, h->v[k].value);
		w_put(w, "END\n", 4);
		x->shape = 1;
		return;
	}
	w_fmt(w, "*%zu\r\n", n);
	for (size_t k = 0; k < n; k++) {
		w_fmt(w, "*3\r\n:%llu\r\n:%lld\r\n", (unsigned long long)h->v[k].rev,
		      (long long)h->v[k].commit_ms);
		r_bulk(w, h->v[k].value, h->v[k].vlen);
	}
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
		goto bad;
	int known = cursor == 0 || cursor_issued(z, cursor);
	for (int i = 2; i < req->argc; i += 2) {
		if (i + 1 >= req->argc)
			goto bad;
		if (word_is(&req->argv[i], "PREFIX")) {
			if (!name_ok(&req->argv[i + 1], x->ver))
				goto bad;
		} else if (word_is(&req->argv[i], "COUNT")) {
			if (!ref_u64(&req->argv[i + 1], &count) || count < 1 ||
			    count > SS_LIST_COUNT_MAX)
				goto bad;
		} else {
			goto bad;
		}
	}
	x->kind = known ? R_LIST : R_LIST_MAYBE;
	x->shape = x->ver ? x->ver : 1;
	return;
bad:
	p_err_any(&x->want, x->ver);
}

static void ref_stats(struct fz *z, struct expect *x)
{
	char entries[24], rejected[24];

	snprintf(entries, sizeof(entries), "%zu", ss_table_count(ss_store_table(z->store)));
	snprintf(rejected, sizeof(rejected), "%llu", (unsigned long long)z->rejected);
	if (!x->ver) {
		w_fmt(&x->want, "STAT entries %s\nSTAT rejected %s\nEND\n", entries, rejected);
		x->shape = 1;
		return;
	}
	w_fmt(&x->want, x->ver == 3 ? "%%2\r\n" : "*4\r\n");
	r_bulk(&x->want, "entries", 7);
	r_bulk(&x->want, entries, strlen(entries));
	r_bulk(&x->want, "rejected", 8);
	r_bulk(&x->want, rejected, strlen(rejected));
}

/* ---- the Redis commands (RESP) ---- */

#define NOT_INT "ERR value is not an integer or out of range"
#define SYNTAX "ERR syntax error"

static const char *key_err(const struct ss_token *t)
{
	if (t->n == 0)
		return "ERR empty keys are not supported";
	if (t->n > SS_NAME_MAX)
		return "ERR key is longer than 512 bytes";
	return NULL;
}

static const char *val_err(const struct ss_token *t)
{
	if (t->n == 0)
		return "ERR empty values are not supported";
	if (t->n > SS_VALUE_MAX)
		return "ERR value is longer than 65536 bytes";
	if (t->n == 4 && memcmp(t->p, "NULL", 4) == 0)
		return "ERR the value 'NULL' is reserved: GET_CHECKPOINT answers it for a missing "
		       "key";
	return NULL;
}

/* The first bad key among argv[1..]: its error, or NULL. */
static const char *keys_err(const struct ss_request *req)
{
	for (int i = 1; i < req->argc; i++)
		if (key_err(&req->argv[i]))
			return key_err(&req->argv[i]);
	return NULL;
}

static void r_fail(struct expect *x, const char *msg)
{
	r_err(&x->want, msg, strlen(msg));
}

/* How many of t's bytes Redis echoes in an error, at most max: it prints
 * arguments as C strings, so up to the first NUL. */
static size_t echo_len(const struct ss_token *t, size_t max)
{
	size_t n = t->n < max ? t->n : max;
	const char *nul = memchr(t->p, '\0', n);

	return nul ? (size_t)(nul - t->p) : n;
}

/* The absolute expiry of v in unit u (0 s, 1 ms, 2 unix s, 3 unix ms), or
 * -1 past the 10 years a TTL may be; a time already past is allowed (it
 * deletes). */
static int64_t ref_when(int64_t now, long long v, int u)
{
	long long ms = v;

	if (u == 0 || u == 2) {
		if (v > LLONG_MAX / 1000 || v < LLONG_MIN / 1000)
			return -1;
		ms = v * 1000;
	}
	if (u == 0 || u == 1) {
		if (ms > FZ_TTL_MAX_MS || ms < -FZ_TTL_MAX_MS)
			return -1;
		ms += now;
	}
	if (ms > now + FZ_TTL_MAX_MS)
		return -1;
	return ms < 1 ? 1 : ms;
}

/* An expiry option's argument: NULL and *expire, or the error (into msg). */
static const char *ref_expiry(struct fz *z, const struct ss_token *t, int u, int64_t *expire,
			      char *msg, size_t msz, const char *cmd)
{
	long long v;

	if (!ref_ll(t->p, t->n, &v))
		return NOT_INT;
	int64_t w = v > 0 ? ref_when(z->now, v, u) : -1;
	if (w < 0) {
		snprintf(msg, msz, "ERR invalid expire time in '%s' command", cmd);
		return msg;
	}
	*expire = w;
	return NULL;
}

static void ref_get(struct fz *z, const struct ss_request *req, struct expect *x)
{
	struct cur c;

	if (key_err(&req->argv[1])) {
		r_fail(x, key_err(&req->argv[1]));
		return;
	}
	if (ref_lookup(z, &req->argv[1], &c))
		r_bulk(&x->want, c.value, c.vlen);
	else
		r_nil(&x->want, x->ver);
}

/* MGET (what 'M'), EXISTS ('E'), TTL ('T'), PTTL ('P'), TYPE ('Y'). */
static void ref_rread(struct fz *z, const struct ss_request *req, struct expect *x, int what)
{
	struct cur c;
	long long n = 0;

	if (keys_err(req)) {
		r_fail(x, keys_err(req));
		return;
	}
	switch (what) {
	case 'M':
		w_fmt(&x->want, "*%d\r\n", req->argc - 1);
		for (int i = 1; i < req->argc; i++) {
			if (ref_lookup(z, &req->argv[i], &c))
				r_bulk(&x->want, c.value, c.vlen);
			else
				r_nil(&x->want, x->ver);
		}
		return;
	case 'E':
		for (int i = 1; i < req->argc; i++)
			n += ref_lookup(z, &req->argv[i], &c);
		w_fmt(&x->want, ":%lld\r\n", n);
		return;
	case 'Y':
		w_fmt(&x->want, "+%s\r\n", ref_lookup(z, &req->argv[1], &c) ? "string" : "none");
		return;
	}
	if (!ref_lookup(z, &req->argv[1], &c))
		n = -2;
	else if (!c.expire_ms)
		n = -1;
	else
		n = what == 'T' ? (c.expire_ms - z->now + 500) / 1000 : c.expire_ms - z->now;
	w_fmt(&x->want, ":%lld\r\n", n);
}

/* SET k v under the options (checked already): OK, or with get the old
 * value, or nil when NX or XX refuses; reply_int: 1 or 0 (SETNX). */
static void ref_do_set(struct fz *z, struct expect *x, const struct ss_token *k,
		       const struct ss_token *v, int nx, int xx, int get, int keepttl,
		       int64_t expire, int reply_int)
{
	struct cur c;

	ref_current(z, k, &c);
	char *old = dup_bytes(c.rev ? c.value : "", c.rev ? c.vlen : 0);
	size_t olen = c.rev ? c.vlen : 0;
	if ((nx && c.rev) || (xx && !c.rev)) {
		x_reply(z, x);
		if (reply_int)
			w_fmt(&x->want, ":0\r\n");
		else if (get && c.rev)
			r_bulk(&x->want, old, olen);
		else
			r_nil(&x->want, x->ver);
	} else {
		int64_t e = keepttl ? c.expire_ms : expire;
		uint64_t rev = take_rev(z);
		if (reply_int || get) {
			x_reply(z, x);
			if (reply_int)
				w_fmt(&x->want, ":1\r\n");
			else if (c.rev)
				r_bulk(&x->want, old, olen);
			else
				r_nil(&x->want, x->ver);
		} else {
			p_ok(&x->want, x->ver);
		}
		x_set(z, x, k, v->p, v->n, e, rev, !(reply_int || get));
	}
	free(old);
}

/* SET's options as Redis parses them (parseExtendedStringArgumentsOrReply):
 * NX, XX, GET, KEEPTTL and one kind of expiry (EX, PX, EXAT or PXAT, with
 * its argument), each any number of times (the last expiry counts), but
 * NX not with XX, KEEPTTL not with an expiry, nor two kinds of expiry; the
 * options come first, then the key and the value. */
static const char *ref_set_opts(struct fz *z, const struct ss_request *req, int *nx, int *xx,
				int *get, int *keepttl, int64_t *expire, char *msg, size_t msz)
{
	static const char *const units[] = {"EX", "PX", "EXAT", "PXAT"};
	int unit = -1;
	const struct ss_token *when = NULL;

	for (int j = 3; j < req->argc; j++) {
		const struct ss_token *t = &req->argv[j];
		int u = -1;
		for (int k = 0; k < 4; k++)
			if (word_is(t, units[k]))
				u = k;
		if (word_is(t, "NX") && !*xx)
			*nx = 1;
		else if (word_is(t, "XX") && !*nx)
			*xx = 1;
		else if (word_is(t, "GET"))
			*get = 1;
		else if (word_is(t, "KEEPTTL") && unit < 0)
			*keepttl = 1;
		else if (u >= 0 && j + 1 < req->argc && !*keepttl && (unit < 0 || unit == u))
			unit = u, when = &req->argv[++j];
		else
			return SYNTAX;
	}
	return when ? ref_expiry(z, when, unit, expire, msg, msz, "set") : NULL;
}

/* SET ('S'), SETNX ('N'), GETSET ('G'), SETEX ('E'), PSETEX ('P'). */
static void ref_set(struct fz *z, const struct ss_request *req, struct expect *x, int what)
{
	const struct ss_token *k = &req->argv[1];
	const struct ss_token *v = &req->argv[what == 'E' || what == 'P' ? 3 : 2];
	int nx = 0, xx = 0, get = 0, keepttl = 0;
	int64_t expire = 0;
	char msg[64];
	const char *why = NULL;

	if (what == 'S')
		why = ref_set_opts(z, req, &nx, &xx, &get, &keepttl, &expire, msg, sizeof msg);
	if (!why)
		why = key_err(k);
	if (!why)
		why = val_err(v);
	if (!why && (what == 'E' || what == 'P'))
		why = ref_expiry(z, &req->argv[2], what == 'E' ? 0 : 1, &expire, msg, sizeof msg,
				 what == 'E' ? "setex" : "psetex");
	if (why) {
		r_fail(x, why);
		return;
	}
	ref_do_set(z, x, k, v, nx || what == 'N', xx, get || what == 'G', keepttl, expire,
		   what == 'N');
}

static int cmp_key(const void *a, const void *b)
{
	const struct ss_token *x = *(const struct ss_token *const *)a;
	const struct ss_token *y = *(const struct ss_token *const *)b;
	int c = memcmp(x->p, y->p, x->n < y->n ? x->n : y->n);

	return c ? c : (x->n > y->n) - (x->n < y->n);
}

/* DEL and UNLINK: the keys that exist go, in one group with one revision,
 * in the order of their bytes; the answer (first) is how many. */
static void ref_rdel(struct fz *z, const struct ss_request *req, struct expect *x)
{
	size_t n = (size_t)req->argc - 1, k = 0;
	const struct ss_token **v;

	if (keys_err(req)) {
		r_fail(x, keys_err(req));
		return;
	}
	v = fz_alloc(n * sizeof(*v));
	for (size_t i = 0; i < n; i++)
		v[i] = &req->argv[i + 1];
	qsort(v, n, sizeof(*v), cmp_key);
	for (size_t i = 0; i < n; i++) {
		struct cur c;
		if (i > 0 && cmp_key(&v[i - 1], &v[i]) == 0)
			continue;
		ref_current(z, v[i], &c);
		if (c.rev)
			v[k++] = v[i];
	}
	x_reply(z, x);
	w_fmt(&x->want, ":%zu\r\n", k);
	uint64_t rev = k ? take_rev(z) : 0;
	for (size_t i = 0; i < k; i++)
		x_op(z, x, SS_REC_DEL, v[i]->p, v[i]->n, NULL, 0, 0, rev, 0);
	free(v);
}

/* FLUSHALL, FLUSHDB [ASYNC|SYNC]: a DEL of every live key, staged or
 * durable, in one group at one revision (in the order of their bytes),
 * answering OK; with no key, OK after the batch all the same. */
static void ref_flush(struct fz *z, const struct ss_request *req, struct expect *x)
{
	size_t n = 0, k = 0;
	struct ss_token *v;

	if (req->argc == 2 && !word_is(&req->argv[1], "ASYNC") && !word_is(&req->argv[1], "SYNC")) {
		r_fail(x, SYNTAX);
		return;
	}
	v = fz_alloc((z->model.n + z->nstaged + 1) * sizeof(*v));
	for (size_t i = 0; i < z->model.n; i++)
		v[n++] = (struct ss_token){z->model.kv[i].name, z->model.kv[i].nlen};
	for (size_t i = 0; i < z->nstaged; i++)
		v[n++] = (struct ss_token){z->staged[i].name, z->staged[i].nlen};
	const struct ss_token **sv = fz_alloc((n + 1) * sizeof(*sv));
	for (size_t i = 0; i < n; i++)
		sv[i] = &v[i];
	qsort(sv, n, sizeof(*sv), cmp_key);
	for (size_t i = 0; i < n; i++) {
		struct cur c;
		if (i > 0 && cmp_key(&sv[i - 1], &sv[i]) == 0)
			continue;
		ref_current(z, sv[i], &c);
		if (c.rev)
			sv[k++] = sv[i];
	}
	/* Copies: the staged state grows (and moves) as they are staged. */
	char **names = fz_alloc((k + 1) * sizeof(*names));
	for (size_t i = 0; i < k; i++)
		names[i] = dup_bytes(sv[i]->p, sv[i]->n);
	size_t *lens = fz_alloc((k + 1) * sizeof(*lens));
	for (size_t i = 0; i < k; i++)
		lens[i] = sv[i]->n;
	if (!k)
		x_reply(z, x);
	uint64_t rev = k ? take_rev(z) : 0;
	for (size_t i = 0; i < k; i++) {
		x_op(z, x, SS_REC_DEL, names[i], lens[i], NULL, 0, 0, rev, i + 1 == k);
		free(names[i]);
	}
	p_ok(&x->want, x->ver);
	free(names);
	free(lens);
	free(sv);
	free(v);
}

static void ref_getdel(struct fz *z, const struct ss_request *req, struct expect *x)
{
	struct cur c;

	if (key_err(&req->argv[1])) {
		r_fail(x, key_err(&req->argv[1]));
		return;
	}
	ref_current(z, &req->argv[1], &c);
	x_reply(z, x);
	if (!c.rev) {
		r_nil(&x->want, x->ver);
		return;
	}
	r_bulk(&x->want, c.value, c.vlen);
	x_op(z, x, SS_REC_DEL, req->argv[1].p, req->argv[1].n, NULL, 0, 0, take_rev(z), 0);
}

/* INCR, DECR (by +-1), INCRBY, DECRBY (by 0: argv[2], negated if neg). The
 * value is decimal text; it keeps its TTL. An error decided by a value
 * that is staged, not yet durable, must wait for the batch like any other
 * decision; FZ_CONN_LAX_INCR=1 takes an immediate one (what the server
 * does as of this writing; see regress-incr-early-error). */
static void ref_incr(struct fz *z, const struct ss_request *req, struct expect *x, long long by,
		     int neg)
{
	struct cur c;
	long long v = 0;
	const char *why = key_err(&req->argv[1]);

	if (!why && req->argc == 3) {
		if (!ref_ll(req->argv[2].p, req->argv[2].n, &by))
			why = NOT_INT;
		else if (neg && by == LLONG_MIN)
			why = "ERR decrement would overflow";
		else if (neg)
			by = -by;
	}
	if (why) {
		r_fail(x, why);
		return;
	}
	ref_current(z, &req->argv[1], &c);
	if (c.rev && !ref_ll(c.value, c.vlen, &v))
		why = NOT_INT;
	else if ((by > 0 && v > LLONG_MAX - by) || (by < 0 && v < LLONG_MIN - by))
		why = "ERR increment or decrement would overflow";
	if (why) {
		if (c.staged && !z->exec && !z->lax_incr) {
			x_reply(z, x);
			x->may_wait = 1;
		}
		r_fail(x, why);
		return;
	}
	v += by;
	char num[24];
	int len = snprintf(num, sizeof num, "%lld", v);
	x_reply(z, x);
	w_fmt(&x->want, ":%lld\r\n", v);
	x_set(z, x, &req->argv[1], num, (size_t)len, c.expire_ms, take_rev(z), 0);
}

static void ref_hello(struct fconn *c, const struct ss_request *req,
		      struct expect *x)
{
	long long proto = c->resp;
	int i = 1;

	if (req->argc > 1) {
		if (!ref_ll(req->argv[1].p, req->argv[1].n, &proto)) {
			r_fail(x, "ERR Protocol version is not an integer or out of range");
			return;
		}
		if (proto != 2 && proto != 3) { /* before the options, as Redis */
			r_fail(x, "NOPROTO unsupported protocol version");
			return;
		}
		i = 2;
	}
	for (; i < req->argc; i++) {
		int more = req->argc - i - 1;
		if (word_is(&req->argv[i], "AUTH") && more >= 2) {
			const struct ss_token *user = &req->argv[i + 1];
			if (user->n != 7 || memcmp(user->p, "default", 7) != 0) {
				r_fail(x, "WRONGPASS invalid username-password pair or user "
				       "is disabled.");
				return;
			}
			i += 2;
		} else if (word_is(&req->argv[i], "SETNAME") && more >= 1) {
			const struct ss_token *t = &req->argv[++i];
			for (size_t k = 0; k < t->n; k++)
				if ((unsigned char)t->p[k] <= ' ' || (unsigned char)t->p[k] > '~') {
					r_fail(x, "ERR Client names cannot contain spaces, "
					       "newlines or special characters.");
					return;
				}
		} else {
			r_errf(&x->want, "ERR Syntax error in HELLO option '%.*s'",
			       (int)echo_len(&req->argv[i], 900), req->argv[i].p);
			return;
		}
	}
	int v = (int)proto;
	x->eff |= E_RESP;
	x->new_resp = v;
	x->shape = v;
	w_fmt(&x->want, v == 3 ? "%%7\r\n" : "*14\r\n");
	static const char *const f[] = {"server", "redis", "version", "7.2.0", "proto"};
	for (int k = 0; k < 5; k++)
		r_bulk(&x->want, f[k], strlen(f[k]));
	w_fmt(&x->want, ":%d\r\n", v);
	r_bulk(&x->want, "id", 2);
	w_fmt(&x->want, ":%d\r\n", c->id);
	static const char *const g[] = {"mode", "standalone", "role", "master", "modules"};
	for (int k = 0; k < 5; k++)
		r_bulk(&x->want, g[k], strlen(g[k]));
	w_fmt(&x->want, "*0\r\n");
}

static int watch_broken(struct fz *z, const struct fconn *c)
{
	if (c->nwatch && z->failures != c->watch_failures)
		return 1;
	for (size_t i = 0; i < c->nwatch; i++) {
		struct cur cur;
		const struct fwatched *w = reg_find(z, c->watch[i].name, c->watch[i].nlen);
		ref_current_raw(z, c->watch[i].name, c->watch[i].nlen, &cur);
		fz_check(w, "the model lost a watched name");
		if (cur.rev != c->watch[i].rev || w->touched > c->watch[i].at)
			return 1;
	}
	return 0;
}

static void reference(struct fz *z, struct fconn *c, const struct ss_request *req, int ver,
		      struct expect *x);

static void ref_exec(struct fz *z, struct fconn *c, struct expect *x)
{
	if (!c->multi) {
		r_fail(x, "ERR EXEC without MULTI");
		return;
	}
	if (c->multi_error) {
		x->eff |= E_CLEAR_MULTI | E_CLEAR_WATCH;
		r_fail(x, "EXECABORT Transaction discarded because of previous errors.");
		return;
	}
	if (c->queued_args + 1 > SS_GROUP_MAX) {
		x->eff |= E_CLEAR_MULTI | E_CLEAR_WATCH;
		r_fail(x, "ERR transaction too large for one log group");
		return;
	}
	if (z->batch.nops + c->queued_args + 1 > SS_GROUP_MAX) {
		x->kind = R_FULL;
		return;
	}
	x->eff |= E_CLEAR_MULTI | E_CLEAR_WATCH;
	if (watch_broken(z, c)) {
		x_reply(z, x);
		w_put(&x->want, x->ver == 3 ? "_\r\n" : "*-1\r\n", x->ver == 3 ? 3 : 5);
		return;
	}
	w_fmt(&x->want, "*%zu\r\n", c->nqueued);
	if (c->multi_loose) {
		x->kind = R_LOOSE_EXEC;
		for (size_t i = 0; i < c->nqueued; i++)
			w_hole(&x->want, H_ANY);
		return;
	}
	/* Each queued command as it runs now, against what the ones before it
	 * staged: its records (owing nothing) and its reply into the array. */
	z->exec = 1;
	for (size_t i = 0; i < c->nqueued; i++) {
		struct ss_request q;
		struct expect y;
		memset(&q, 0, sizeof q);
		q.argc = c->queue[i].argc;
		q.argv = c->queue[i].argv;
		reference(z, c, &q, x->ver, &y);
		fz_check(y.kind == R_NOW || y.kind == R_STAGE,
			 "conn %d: the queued '%.*s' has no reply for EXEC (kind %d)", c->id,
			 (int)q.argv[0].n, q.argv[0].p, (int)y.kind);
		for (size_t k = 0; k < y.nops; k++) {
			struct xop *o = &y.ops[k];
			if (o->type == SS_OP_REPLY)
				continue;
			x->ops = fz_realloc(x->ops, (x->nops + 1) * sizeof(*x->ops));
			x->ops[x->nops] = *o;
			x->ops[x->nops++].owes = 0;
			o->name = o->value = NULL; /* moved */
		}
		w_append(&x->want, &y.want);
		expect_free(&y);
	}
	z->exec = 0;
	x_reply(z, x);
}

static void ref_watch(struct fz *z, struct fconn *c, const struct ss_request *req,
		      struct expect *x)
{
	if (c->multi) {
		r_fail(x, "ERR WATCH inside MULTI is not allowed");
		return;
	}
	if (keys_err(req)) {
		r_fail(x, keys_err(req));
		return;
	}
	x->eff |= E_WATCH;
	x->watch = fz_alloc((size_t)(req->argc - 1) * sizeof(*x->watch));
	for (int i = 1; i < req->argc; i++) {
		struct cur cur;
		ref_current(z, &req->argv[i], &cur);
		x->watch[x->nwatch++] = (struct fwatch){dup_bytes(req->argv[i].p, req->argv[i].n),
							 req->argv[i].n, cur.rev, z->rev};
	}
	p_ok(&x->want, x->ver);
}

/* ---- the dispatcher ---- */

struct mcmd {
	const char *name;
	int what, min, max;
	int multi; /* SS_MULTI_QUEUE, _NOW or _REFUSE */
	int reads; /* refused in MULTI because it reads the durable state */
};

#define MANY (SS_ARGS_MAX - 1)
#define QUEUE SS_MULTI_QUEUE
#define NOW SS_MULTI_NOW
#define REFUSE SS_MULTI_REFUSE

/* The checkpoint commands, in both protocols. */
static const struct mcmd cp_cmds[] = {
	{"SET_CHECKPOINT", 'S', 2, 3, QUEUE, 0},        {"GET_CHECKPOINT", 'G', 1, 1, REFUSE, 1},
	{"DEL_CHECKPOINT", 'D', 1, 2, QUEUE, 0},        {"TTL_CHECKPOINT", 'T', 1, 1, REFUSE, 1},
	{"PING", 'P', 0, 0, QUEUE, 0},                  {"QUIT", 'Q', 0, 0, NOW, 0},
	{"STATS", 's', 0, 0, REFUSE, 1},                {"COMPACT", 'C', 0, 0, REFUSE, 0},
	{"GETREV_CHECKPOINT", 'R', 1, 1, REFUSE, 1},    {"CAS_CHECKPOINT", 'c', 3, 4, QUEUE, 0},
	{"MSET_CHECKPOINT", 'm', 2, MANY, QUEUE, 0},    {"MCAS_CHECKPOINT", 'M', 3, MANY, QUEUE, 0},
	{"HISTORY_CHECKPOINT", 'H', 1, 2, REFUSE, 1},   {"ROLLBACK_CHECKPOINT", 'B', 2, 3, QUEUE, 0},
	{"LIST_CHECKPOINTS", 'L', 1, 5, REFUSE, 1},     {"BACKUP", 'K', 1, 2, REFUSE, 0},
};

/* The Redis commands the model covers (RESP only; found before those). */
static const struct mcmd redis_cmds[] = {
	{"PING", 'p', 0, 1, QUEUE, 0},                  {"ECHO", 'e', 1, 1, QUEUE, 0},
	{"HELLO", 'h', 0, 6, REFUSE, 0},                {"RESET", 'r', 0, 0, NOW, 0},
	{"GET", 'g', 1, 1, QUEUE, 0},                   {"SET", 'S', 2, MANY, QUEUE, 0},
	{"SETNX", 'N', 2, 2, QUEUE, 0},                 {"GETSET", 'G', 2, 2, QUEUE, 0},
	{"SETEX", 'E', 3, 3, QUEUE, 0},                 {"PSETEX", 'P', 3, 3, QUEUE, 0},
	{"GETDEL", 'x', 1, 1, QUEUE, 0},                {"MGET", 'M', 1, MANY, QUEUE, 0},
	{"DEL", 'd', 1, MANY, QUEUE, 0},                {"UNLINK", 'd', 1, MANY, QUEUE, 0},
	{"EXISTS", 'X', 1, MANY, QUEUE, 0},             {"TTL", 'T', 1, 1, QUEUE, 0},
	{"PTTL", 't', 1, 1, QUEUE, 0},                  {"TYPE", 'Y', 1, 1, QUEUE, 0},
	{"FLUSHALL", 'F', 0, 1, REFUSE, 0},             {"FLUSHDB", 'F', 0, 1, REFUSE, 0},
	{"MULTI", 'm', 0, 0, NOW, 0},                   {"EXEC", 'z', 0, 0, NOW, 0},
	{"DISCARD", 'D', 0, 0, NOW, 0},                 {"WATCH", 'w', 1, MANY, NOW, 0},
	{"UNWATCH", 'u', 0, 0, QUEUE, 0},               {"INCR", '+', 1, 1, QUEUE, 0},
	{"DECR", '-', 1, 1, QUEUE, 0},                  {"INCRBY", 'i', 2, 2, QUEUE, 0},
	{"DECRBY", 'j', 2, 2, QUEUE, 0},
};

static const struct mcmd *find_cmd(const struct mcmd *t, size_t n, const struct ss_token *name)
{
	for (size_t i = 0; i < n; i++)
		if (word_is(name, t[i].name))
			return &t[i];
	return NULL;
}

static void lower(const char *name, char *buf, size_t size)
{
	size_t i;

	for (i = 0; name[i] && i + 1 < size; i++)
		buf[i] = name[i] >= 'A' && name[i] <= 'Z' ? (char)(name[i] - 'A' + 'a') : name[i];
	buf[i] = '\0';
}

/* Redis's "unknown command" error, with the arguments it echoes. */
static void ref_unknown(const struct ss_request *req, struct expect *x)
{
	struct want m = {0};

	w_put(&m, "ERR unknown command '", 21);
	w_put(&m, req->argv[0].p, echo_len(&req->argv[0], 128));
	w_put(&m, "', with args beginning with: ", 29);
	size_t n = 0;
	for (int i = 1; i < req->argc && n < 128; i++) {
		size_t len = echo_len(&req->argv[i], 128 - n);
		w_put(&m, "'", 1);
		w_put(&m, req->argv[i].p, len);
		w_put(&m, "' ", 2);
		n += len + 3;
	}
	r_err(&x->want, m.b, m.n);
	w_free(&m);
}

/* BACKUP <dir> [prefix]: the checks cmd.c makes before it queues one. */
static void ref_backup(const struct ss_request *req, struct expect *x)
{
	const struct ss_token *dir = &req->argv[1];

	if (dir->n == 0 || dir->n > SS_BACKUP_PATH_MAX || memchr(dir->p, '\0', dir->n))
		p_err_prefix(&x->want, x->ver, "backup failed: the directory must be");
	else if (req->argc > 2 && !name_ok(&req->argv[2], x->ver))
		p_err_prefix(&x->want, x->ver, "backup failed: the prefix is not a valid");
	else
		x->kind = R_BACKUP;
}

static void run_cp(struct fz *z, const struct mcmd *m, const struct ss_request *req,
		   struct expect *x)
{
	switch (m->what) {
	case 'S': ref_set_or_cas(z, req, x, 0); return;
	case 'c': ref_set_or_cas(z, req, x, 1); return;
	case 'D': ref_del(z, req, x); return;
	case 'm': ref_multi_commit(z, req, x, 2); return;
	case 'M': ref_multi_commit(z, req, x, 3); return;
	case 'B': ref_rollback(z, req, x); return;
	case 'G': case 'R': case 'T': case 'H': ref_read(z, req, x, m->what); return;
	case 'L': ref_list(z, req, x); return;
	case 'P': w_fmt(&x->want, "PONG\n"); return;
	case 'Q':
		x->kind = R_QUIT;
		x->eff |= E_CLOSE;
		p_ok(&x->want, x->ver);
		return;
	case 's': ref_stats(z, x); return;
	case 'C': x->kind = R_COMPACT; return;
	case 'K': ref_backup(req, x); return;
	}
	fz_fail("no reference for '%s'", m->name);
}

static void run_redis(struct fz *z, struct fconn *c, const struct mcmd *m,
		      const struct ss_request *req, struct expect *x)
{
	switch (m->what) {
	case 'p':
		if (req->argc == 2)
			r_bulk(&x->want, req->argv[1].p, req->argv[1].n);
		else
			w_fmt(&x->want, "+PONG\r\n");
		return;
	case 'e': r_bulk(&x->want, req->argv[1].p, req->argv[1].n); return;
	case 'h': ref_hello(c, req, x); return;
	case 'r':
		x->eff |= E_CLEAR_MULTI | E_CLEAR_WATCH | E_RESP;
		x->new_resp = 2;
		w_fmt(&x->want, "+RESET\r\n");
		return;
	case 'g': ref_get(z, req, x); return;
	case 'S': case 'N': case 'G': case 'E': case 'P': ref_set(z, req, x, m->what); return;
	case 'x': ref_getdel(z, req, x); return;
	case 'M': case 'X': case 'T': case 't': case 'Y':
		ref_rread(z, req, x, m->what == 'X' ? 'E' : m->what == 't' ? 'P' : m->what);
		return;
	case 'd': ref_rdel(z, req, x); return;
	case 'F': ref_flush(z, req, x); return;
	case '+': ref_incr(z, req, x, 1, 0); return;
	case '-': ref_incr(z, req, x, -1, 0); return;
	case 'i': ref_incr(z, req, x, 0, 0); return;
	case 'j': ref_incr(z, req, x, 0, 1); return;
	case 'm':
		if (c->multi) {
			r_fail(x, "ERR MULTI calls can not be nested");
			return;
		}
		x->eff |= E_MULTI;
		p_ok(&x->want, x->ver);
		return;
	case 'D':
		if (!c->multi) {
			r_fail(x, "ERR DISCARD without MULTI");
			return;
		}
		x->eff |= E_CLEAR_MULTI | E_CLEAR_WATCH;
		p_ok(&x->want, x->ver);
		return;
	case 'z': ref_exec(z, c, x); return;
	case 'w': ref_watch(z, c, req, x); return;
	case 'u':
		if (!z->exec)
			x->eff |= E_CLEAR_WATCH;
		p_ok(&x->want, x->ver);
		return;
	}
	fz_fail("no reference for '%s'", m->name);
}

/* What the protocol says req must do (ver: 0 text, else its RESP
 * version), in the state the model and the connection c are in. */
static void reference(struct fz *z, struct fconn *c, const struct ss_request *req, int ver,
		      struct expect *x)
{
	int nargs = req->argc - 1;
	char name[40];

	memset(x, 0, sizeof(*x));
	x->kind = R_NOW;
	x->ver = ver;
	x->shape = ver;
	if (!ver && c->multi && !z->exec) {
		/* A text request inside a RESP MULTI: refused, and EXEC aborts. */
		x->eff |= E_MULTI_ERROR;
		p_err(&x->want, 0, "a text request inside a RESP MULTI: EXEC or DISCARD first");
		return;
	}
	if (!ver) {
		const struct mcmd *m = find_cmd(cp_cmds, sizeof cp_cmds / sizeof cp_cmds[0],
						&req->argv[0]);
		if (!m || req->too_many || nargs < m->min || nargs > m->max)
			p_err_any(&x->want, 0);
		else
			run_cp(z, m, req, x);
		return;
	}
	const struct mcmd *m = find_cmd(redis_cmds, sizeof redis_cmds / sizeof redis_cmds[0],
					&req->argv[0]);
	const struct ss_cmd *loose = m ? NULL : ss_redis_lookup(&req->argv[0]);
	const struct mcmd *cp = m || loose ? NULL
					   : find_cmd(cp_cmds, sizeof cp_cmds / sizeof cp_cmds[0],
						      &req->argv[0]);
	int queueing = c->multi && !z->exec;
	if (!m && !loose && !cp) {
		if (queueing)
			x->eff |= E_MULTI_ERROR;
		ref_unknown(req, x);
		return;
	}
	lower(m ? m->name : loose ? loose->name : cp->name, name, sizeof name);
	int min = m ? m->min : loose ? loose->min_args : cp->min;
	int max = m ? m->max : loose ? loose->max_args : cp->max;
	int cls = m ? m->multi : loose ? loose->multi : cp->multi;
	int reads = m ? m->reads : loose ? loose->role == SS_CMD_READ : cp->reads;
	if (nargs < min || nargs > max) {
		if (queueing)
			x->eff |= E_MULTI_ERROR;
		r_errf(&x->want, "ERR wrong number of arguments for '%s' command", name);
		return;
	}
	if (queueing && cls != SS_MULTI_NOW) {
		if (cls == SS_MULTI_REFUSE) {
			x->eff |= E_MULTI_ERROR;
			if (reads)
				r_errf(&x->want,
				       "ERR '%s' is not allowed in a transaction: it reads the durable "
				       "state, which would not show the transaction's own writes",
				       name);
			else
				r_errf(&x->want, "ERR '%s' is not allowed in a transaction", name);
			return;
		}
		x->eff |= E_QUEUE;
		x->loose_queue = loose != NULL;
		w_fmt(&x->want, "+QUEUED\r\n");
		return;
	}
	if (loose) {
		x->kind = R_LOOSE;
		return;
	}
	if (m)
		run_redis(z, c, m, req, x);
	else
		run_cp(z, cp, req, x);
}

/* ---- reply checks ---- */

/* p[0..n) printable, for a failure message (static buffer per slot). */
static const char *show(int slot, const char *p, size_t n)
{
	static char buf[2][1300];
	size_t o = 0;

	for (size_t i = 0; i < n && o + 5 < sizeof buf[0]; i++) {
		unsigned char b = (unsigned char)p[i];
		if (b >= 0x20 && b < 0x7f && b != '\\')
			buf[slot][o++] = (char)b;
		else
			o += (size_t)snprintf(buf[slot] + o, 5, "\\x%02x", b);
	}
	buf[slot][o] = '\0';
	return buf[slot];
}

/* out's bytes appended since before must be exactly w (ver: the reply's
 * protocol, 0 text). */
static void expect_want(const struct fconn *c, size_t before, const struct want *w, int ver,
			const char *what)
{
	size_t got = ss_buf_size(&c->s.out) - before;
	const char *p = ss_buf_head(&c->s.out) + before;

	if (!want_match(p, got, w, ver))
		fz_fail("conn %d: %s: replied '%s', expected '%s'%s", c->id, what,
			show(0, p, got < 300 ? got : 300), show(1, w->b, w->n < 300 ? w->n : 300),
			w->nholes ? " (with holes)" : "");
}

/* out's bytes appended since before must be one line (an error) starting
 * with prefix, in the protocol ver. */
static void expect_line(const struct fconn *c, size_t before, const char *prefix, int ver,
			const char *what)
{
	struct want w = {0};

	w_fmt(&w, "%s%s", ver ? "-" : "", prefix);
	w_hole(&w, H_LINE);
	w_put(&w, ver ? "\r\n" : "\n", ver ? 2 : 1);
	expect_want(c, before, &w, ver, what);
	w_free(&w);
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

static const struct ss_token *list_prefix(const struct ss_request *req)
{
	const struct ss_token *prefix = NULL;

	for (int i = 2; i + 1 < req->argc; i += 2)
		if (word_is(&req->argv[i], "PREFIX"))
			prefix = &req->argv[i + 1];
	return prefix;
}

static void note_cursor(struct fz *z, uint64_t next)
{
	if (next && !cursor_issued(z, next)) {
		z->cursors = fz_realloc(z->cursors, (z->ncursors + 1) * sizeof(*z->cursors));
		z->cursors[z->ncursors++] = next;
	}
}

/* A listed row must be a live entry of the model, exactly, under the
 * PREFIX. */
static void check_row(struct fz *z, const struct fconn *c, const struct ss_token *prefix,
		      const char *name, size_t nlen, unsigned long long rev, long long ms,
		      const char *value, size_t vlen)
{
	const struct fz_kv *kv = fz_map_find(&z->model, name, nlen);

	fz_check(kv && fz_live(kv->expire_ms, z->now),
		 "conn %d: the listing holds '%s', which the model does not", c->id,
		 show(0, name, nlen));
	fz_check(!prefix || (kv->nlen >= prefix->n && memcmp(kv->name, prefix->p, prefix->n) == 0),
		 "conn %d: the listing holds '%s' against its PREFIX", c->id, show(0, name, nlen));
	fz_check(rev == kv->rev && ms == kv->commit_ms && vlen == kv->vlen &&
			 memcmp(value, kv->value, vlen) == 0,
		 "conn %d: listing row '%s' at %llu %lld, the model says %llu %lld '%s'", c->id,
		 show(0, name, nlen), rev, ms, (unsigned long long)kv->rev,
		 (long long)kv->commit_ms, show(1, kv->value, kv->vlen));
}

/* A text LIST_CHECKPOINTS reply: "CURSOR <n>", rows of live pipelines
 * exactly as the model holds them, END. Records the cursor as issued. */
static void check_listing(struct fz *z, const struct fconn *c, const struct ss_request *req,
			  size_t before)
{
	const char *p = ss_buf_head(&c->s.out) + before;
	const char *end = ss_buf_head(&c->s.out) + ss_buf_size(&c->s.out);
	const struct ss_token *prefix = list_prefix(req);
	unsigned long long next;
	int n = 0;

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
	fz_check(n > 0, "conn %d: a listing starts '%s'", c->id,
		 show(0, p, end - p < 40 ? (size_t)(end - p) : 40));
	p += n;
	note_cursor(z, next);
	for (;;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		fz_check(nl, "conn %d: a listing without END", c->id);
		if (nl - p == 3 && memcmp(p, "END", 3) == 0) {
			fz_check(nl + 1 == end, "conn %d: bytes after a listing's END", c->id);
			return;
		}
		/* name rev commit_ms value: no field holds a space (check_line). */
		const char *f[4];
		size_t fl[4];
		const char *q = p;
		for (int k = 0; k < 4; k++) {
			const char *sp = k < 3 ? memchr(q, ' ', (size_t)(nl - q)) : nl;
			fz_check(sp, "conn %d: a listing row '%s'", c->id,
				 show(0, p, (size_t)(nl - p)));
			f[k] = q;
			fl[k] = (size_t)(sp - q);
			q = sp + 1;
		}
		struct ss_token rt = {f[1], fl[1]};
		uint64_t rev = 0;
		long long ms = 0;
		fz_check(ref_u64(&rt, &rev) && ref_ll(f[2], fl[2], &ms),
			 "conn %d: a listing row '%s'", c->id, show(0, p, (size_t)(nl - p)));
		check_row(z, c, prefix, f[0], fl[0], rev, ms, f[3], fl[3]);
		p = nl + 1;
	}
}

/* Readers of a RESP reply being checked: each reads one item at *p and
 * moves past it, or returns 0. */
static int rd_lit(const char **p, const char *end, const char *s)
{
	size_t n = strlen(s);

	if ((size_t)(end - *p) < n || memcmp(*p, s, n) != 0)
		return 0;
	*p += n;
	return 1;
}

static int rd_num(const char **p, const char *end, char type, long long *v)
{
	size_t e;

	if (*p >= end || **p != type || resp_line(*p, (size_t)(end - *p), &e) != 1 ||
	    !resp_num(*p + 1, e - 1, v))
		return 0;
	*p += e + 2;
	return 1;
}

static int rd_bulk(const char **p, const char *end, const char **b, size_t *n)
{
	long long len;

	if (!rd_num(p, end, '$', &len) || len < 0 || end - *p < len + 2 ||
	    (*p)[len] != '\r' || (*p)[len + 1] != '\n')
		return 0;
	*b = *p;
	*n = (size_t)len;
	*p += len + 2;
	return 1;
}

/* A RESP LIST_CHECKPOINTS reply: [cursor, [[name, rev, commit_ms, value],
 * ...]], every row exactly as the model holds it. */
static void check_listing_resp(struct fz *z, const struct fconn *c, const struct ss_request *req,
			       size_t before)
{
	const char *p = ss_buf_head(&c->s.out) + before, *start = p;
	const char *end = ss_buf_head(&c->s.out) + ss_buf_size(&c->s.out);
	const struct ss_token *prefix = list_prefix(req);
	const char *cp, *name, *value;
	size_t cn, nlen, vlen;
	long long n, rev, ms;
	uint64_t next;

	fz_check(rd_lit(&p, end, "*2\r\n") && rd_bulk(&p, end, &cp, &cn) &&
			 ref_u64(&(struct ss_token){cp, cn}, &next) && rd_num(&p, end, '*', &n) &&
			 n >= 0,
		 "conn %d: a listing starts '%s'", c->id,
		 show(0, start, end - start < 60 ? (size_t)(end - start) : 60));
	note_cursor(z, next);
	for (long long k = 0; k < n; k++) {
		fz_check(rd_lit(&p, end, "*4\r\n") && rd_bulk(&p, end, &name, &nlen) &&
				 rd_num(&p, end, ':', &rev) && rd_num(&p, end, ':', &ms) &&
				 rd_bulk(&p, end, &value, &vlen),
			 "conn %d: listing row %lld is not [name, rev, commit_ms, value]: '%s'", c->id,
			 k, show(0, p, end - p < 60 ? (size_t)(end - p) : 60));
		check_row(z, c, prefix, name, nlen, (unsigned long long)rev, ms, value, vlen);
	}
	fz_check(p == end, "conn %d: bytes after a listing", c->id);
}

/* Pushes the shape of the next reply the client will read: a text line
 * (0), text lines up to END (1), or one RESP value of version 2 or 3. */
static void push_shape(struct fconn *c, int shape)
{
	c->shapes = fz_realloc(c->shapes, c->nshapes + 1);
	c->shapes[c->nshapes++] = (char)shape;
}

/* An op's name and value, unescaped (the batch holds them as the log
 * will: a '\' in a name is written "\\"). */
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

static void owed_grow(struct fz *z)
{
	z->owed = fz_realloc(z->owed, z->batch.nops * sizeof(*z->owed));
}

/* The ops staged since nops0 must be exactly x's; records the reply owed. */
static void check_staged(struct fz *z, struct fconn *c, const struct expect *x, size_t nops0)
{
	const struct ss_batch *b = &z->batch;

	fz_check(b->nops == nops0 + x->nops, "conn %d: %zu ops staged, the reference says %zu",
		 c->id, b->nops - nops0, x->nops);
	owed_grow(z);
	for (size_t k = 0; k < x->nops; k++) {
		const struct ss_op *op = &b->ops[nops0 + k];
		const struct xop *w = &x->ops[k];
		fz_check(op->owner == c && op->type == w->type,
			 "conn %d: op %zu has type %d, the reference says %d", c->id, k, op->type,
			 w->type);
		fz_check((op->reply != 0) == w->owes, "conn %d: op %zu %s, the reference says %s",
			 c->id, k, op->reply ? "owes a reply" : "owes none",
			 w->owes ? "it owes one" : "it owes none");
		if (w->type != SS_OP_REPLY) {
			size_t nlen;
			const char *name = fz_op_name(b, op, &nlen);
			fz_check(nlen == w->nlen && memcmp(name, w->name, nlen) == 0,
				 "conn %d: op %zu stages '%s', the reference says '%s'", c->id, k,
				 show(0, name, nlen), show(1, w->name, w->nlen));
			fz_check(op->rev == w->rev && op->commit_ms == z->now,
				 "conn %d: staged revision %llu at %lld, the reference says %llu at "
				 "%lld",
				 c->id, (unsigned long long)op->rev, (long long)op->commit_ms,
				 (unsigned long long)w->rev, (long long)z->now);
		}
		if (w->type == SS_REC_SET) {
			size_t vlen;
			const char *value = op_value(b, op, &vlen);
			fz_check(vlen == w->vlen && memcmp(value, w->value, w->vlen) == 0 &&
					 op->expire_ms == w->expire_ms,
				 "conn %d: the staged SET has value '%s' expiring %lld, the reference "
				 "says '%s' %lld",
				 c->id, show(0, value, vlen), (long long)op->expire_ms,
				 show(1, w->value, w->vlen), (long long)w->expire_ms);
		}
		z->owed[nops0 + k] = w->owes ? w_clone(&x->want) : NULL;
	}
}

/* A command the model does not cover staged the ops since nops0: they join
 * the reference's staged state as they are, if they look like one
 * command's (one revision, commit time now, one op owing the reply) or,
 * for an EXEC, a transaction's (one revision per command, the reply op
 * last). Its reply is anything want allows. */
static void absorb(struct fz *z, struct fconn *c, size_t nops0, int exec, const struct want *want)
{
	const struct ss_batch *b = &z->batch;
	size_t owing = 0;
	uint64_t rev = z->rev;
	int first = 1;

	fz_check(b->nops > nops0, "conn %d: a write staged nothing", c->id);
	owed_grow(z);
	for (size_t k = nops0; k < b->nops; k++) {
		const struct ss_op *op = &b->ops[k];
		fz_check(op->owner == c, "conn %d: staged an op for another connection", c->id);
		z->owed[k] = op->reply ? w_clone(want) : NULL;
		owing += op->reply != 0;
		if (op->type == SS_OP_REPLY)
			continue;
		fz_check(op->type == SS_REC_SET || op->type == SS_REC_DEL,
			 "conn %d: staged an op of type %d", c->id, op->type);
		fz_check(op->commit_ms == z->now, "conn %d: staged commit time %lld at %lld", c->id,
			 (long long)op->commit_ms, (long long)z->now);
		fz_check(first ? op->rev == z->rev + 1 : op->rev == rev || (exec && op->rev == rev + 1),
			 "conn %d: staged revision %llu after %llu", c->id,
			 (unsigned long long)op->rev, (unsigned long long)rev);
		first = 0;
		rev = op->rev;
		size_t nlen, vlen = 0;
		const char *name = fz_op_name(b, op, &nlen);
		const char *value = op->type == SS_REC_SET ? op_value(b, op, &vlen) : NULL;
		staged_push(z, op->type, name, nlen, value, vlen, op->expire_ms, rev);
	}
	fz_check(owing == 1, "conn %d: %zu of its staged ops owe a reply", c->id, owing);
	fz_check(!exec || (b->ops[b->nops - 1].type == SS_OP_REPLY && b->ops[b->nops - 1].reply),
		 "conn %d: EXEC's reply is not its last op", c->id);
	z->rev = rev;
}

static void apply_effects(struct fz *z, struct fconn *c, struct expect *x,
			  const struct ss_request *req)
{
	if (x->eff & E_CLEAR_MULTI) {
		for (size_t i = 0; i < c->nqueued; i++) {
			for (int k = 0; k < c->queue[i].argc; k++)
				free((char *)c->queue[i].argv[k].p);
			free(c->queue[i].argv);
		}
		c->nqueued = c->queued_args = 0;
		c->multi = c->multi_error = c->multi_loose = 0;
	}
	if (x->eff & E_CLEAR_WATCH) {
		for (size_t i = 0; i < c->nwatch; i++) {
			reg_unwatch(z, c->watch[i].name, c->watch[i].nlen);
			free(c->watch[i].name);
		}
		c->nwatch = 0;
	}
	if (x->eff & E_MULTI)
		c->multi = 1;
	if (x->eff & E_MULTI_ERROR)
		c->multi_error = 1;
	if (x->eff & E_QUEUE) {
		if (c->nqueued == c->qcap2) {
			c->qcap2 = c->qcap2 ? 2 * c->qcap2 : 8;
			c->queue = fz_realloc(c->queue, c->qcap2 * sizeof(*c->queue));
		}
		struct fqueued *q = &c->queue[c->nqueued++];
		q->argc = req->argc;
		q->argv = fz_alloc((size_t)req->argc * sizeof(*q->argv));
		for (int k = 0; k < req->argc; k++) {
			q->argv[k].p = dup_bytes(req->argv[k].p, req->argv[k].n);
			q->argv[k].n = req->argv[k].n;
		}
		c->queued_args += (size_t)req->argc;
		c->multi_loose |= x->loose_queue;
	}
	if (x->eff & E_WATCH) {
		if (c->nwatch == 0)
			c->watch_failures = z->failures;
		for (size_t i = 0; i < x->nwatch; i++) {
			reg_watch(z, x->watch[i].name, x->watch[i].nlen);
			if (c->nwatch == c->wcap) {
				c->wcap = c->wcap ? 2 * c->wcap : 8;
				c->watch = fz_realloc(c->watch, c->wcap * sizeof(*c->watch));
			}
			c->watch[c->nwatch++] = x->watch[i];
		}
		x->nwatch = 0; /* moved */
	}
	if (x->eff & E_RESP)
		c->resp = x->new_resp;
	if (x->eff & E_CLOSE)
		c->closing = 1;
}

static void check_execute(struct fz *z, struct fconn *c, const struct ss_request *req, int ver,
			  enum ss_cmd_status st, int may_reply, size_t before, size_t nops0)
{
	struct expect x;
	size_t added = ss_buf_size(&c->s.out) - before, n0 = z->nstaged;
	uint64_t rev0 = z->rev;
	const char *cmd = show(0, req->argv[0].p, req->argv[0].n < 40 ? req->argv[0].n : 40);
	char cname[200];

	snprintf(cname, sizeof cname, "%s", cmd);
	reference(z, c, req, ver, &x);
	fz_check(st != SS_CMD_NOMEM, "conn %d: out of memory executing a request", c->id);
	if (st == SS_CMD_WAIT || st == SS_CMD_FULL) {
		/* Nothing happened: the reference takes back what it staged. */
		staged_truncate(z, n0);
		z->rev = rev0;
		fz_check(added == 0 && z->batch.nops == nops0,
			 "conn %d: '%s' waited (status %d) but replied or staged", c->id, cname,
			 (int)st);
		if (st == SS_CMD_FULL)
			fz_check(x.kind == R_FULL, "conn %d: '%s' found the batch full", c->id, cname);
		else
			fz_check(!may_reply && ((x.kind != R_STAGE && x.kind != R_LOOSE_EXEC &&
						 x.kind != R_FULL) ||
						x.may_wait),
				 "conn %d: '%s' waited (may_reply %d, reference kind %d)", c->id, cname,
				 may_reply, (int)x.kind);
		goto out;
	}
	fz_check(x.kind != R_FULL, "conn %d: '%s' ran, the reference says the batch lacks room",
		 c->id, cname);
	if (x.kind != R_STAGE && x.kind != R_LOOSE && x.kind != R_LOOSE_EXEC)
		fz_check(z->batch.nops == nops0, "conn %d: '%s' (not a write) staged an op", c->id,
			 cname);
	/* Rule 3 of server.c: with replies owed, only writes go ahead. */
	if (!may_reply)
		fz_check(st == SS_CMD_STAGED, "conn %d: '%s' replied out of order (status %d)",
			 c->id, cname, (int)st);
	if (x.kind == R_LIST_MAYBE) {
		int err = ver ? added > 5 && memcmp(ss_buf_head(&c->s.out) + before, "-ERR ", 5) == 0
			      : added > 4 && memcmp(ss_buf_head(&c->s.out) + before, "ERR ", 4) == 0;
		x.kind = err ? R_NOW : R_LIST;
		if (err) {
			x.shape = ver;
			p_err_any(&x.want, ver);
		}
	}
	switch (x.kind) {
	case R_NOW:
		fz_check(st == SS_CMD_REPLIED, "conn %d: '%s' got status %d, the reference replies",
			 c->id, cname, (int)st);
		expect_want(c, before, &x.want, ver, cname);
		break;
	case R_STAGE:
		fz_check(!(x.may_wait && st == SS_CMD_REPLIED),
			 "conn %d: '%s' answered at once an error decided by a value staged, not "
			 "yet durable (it must wait for the batch, as the value does)",
			 c->id, cname);
		fz_check(st == SS_CMD_STAGED && added == 0, "conn %d: the write '%s' got status %d",
			 c->id, cname, (int)st);
		check_staged(z, c, &x, nops0);
		break;
	case R_LIST:
		fz_check(st == SS_CMD_REPLIED, "conn %d: LIST got status %d", c->id, (int)st);
		if (ver)
			check_listing_resp(z, c, req, before);
		else
			check_listing(z, c, req, before);
		break;
	case R_QUIT:
		fz_check(st == SS_CMD_QUIT, "conn %d: QUIT got status %d", c->id, (int)st);
		expect_want(c, before, &x.want, ver, "QUIT");
		break;
	case R_COMPACT:
		fz_check(st == SS_CMD_COMPACT && added == 0, "conn %d: COMPACT got status %d",
			 c->id, (int)st);
		break;
	case R_BACKUP:
		fz_check(st == SS_CMD_BACKUP && added == 0, "conn %d: BACKUP got status %d",
			 c->id, (int)st);
		break;
	case R_LOOSE: {
		struct want any = {0};
		w_hole(&any, H_ANY);
		if (st == SS_CMD_REPLIED) {
			fz_check(z->batch.nops == nops0, "conn %d: '%s' replied and staged", c->id,
				 cname);
			expect_want(c, before, &any, ver, cname);
		} else {
			fz_check(st == SS_CMD_STAGED && added == 0, "conn %d: '%s' got status %d",
				 c->id, cname, (int)st);
			absorb(z, c, nops0, 0, &any);
		}
		w_free(&any);
		break;
	}
	case R_LOOSE_EXEC:
		fz_check(st == SS_CMD_STAGED && added == 0, "conn %d: EXEC got status %d", c->id,
			 (int)st);
		absorb(z, c, nops0, 1, &x.want);
		break;
	case R_LIST_MAYBE:
	case R_FULL:
		break;
	}
	push_shape(c, x.shape);
	apply_effects(z, c, &x, req);
out:
	expect_free(&x);
}

/* One text reply line's bytes: an ERR line is printable; any other is
 * tokens of token bytes, one space apart. */
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
		fz_check(ok, "conn %d: byte 0x%02x at %zu in the reply line '%s'", c->id, b, i,
			 show(0, p, len < 200 ? len : 200));
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
		fz_check(c->shape_at < c->nshapes, "conn %d: a reply nobody asked for: '%s'", c->id,
			 show(0, p, n < 100 ? n : 100));
		int shape = c->shapes[c->shape_at++];
		if (shape >= 2) {
			size_t len = 0;
			int r = resp_value(p, n, shape, 0, &len);
			fz_check(r == 1, "conn %d: reply %llu is not one %s RESP%d value: '%s'", c->id,
				 (unsigned long long)c->replies + 1, r ? "well-formed" : "complete",
				 shape, show(0, p, n < 200 ? n : 200));
			p += len;
			n -= len;
			c->replies++;
			continue;
		}
		for (;;) {
			const char *nl = memchr(p, '\n', n);
			fz_check(nl, "conn %d: a multi-line reply cut short", c->id);
			size_t len = (size_t)(nl - p);
			check_line(c, p, len);
			int end = !shape || (len == 3 && memcmp(p, "END", 3) == 0);
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

/* The RESP protocol errors the parser may answer (resp.h). */
static int protocol_error(const char *p, size_t n)
{
	static const char *const why[] = {
		"invalid multibulk length\r\n", "expected '$', got '", "invalid bulk length\r\n",
		"bulk string not ended by CRLF\r\n", "request longer than --max-line\r\n",
	};
	static const char head[] = "-ERR Protocol error: ";

	if (n < sizeof head - 1 || memcmp(p, head, sizeof head - 1) != 0)
		return 0;
	p += sizeof head - 1;
	n -= sizeof head - 1;
	for (size_t i = 0; i < sizeof why / sizeof why[0]; i++) {
		size_t k = strlen(why[i]);
		if (n >= k && memcmp(p, why[i], k) == 0)
			return i == 1 ? n == k + 4 && memcmp(p + k + 1, "'\r\n", 3) == 0 : n == k;
	}
	return 0;
}

/* ss_session_env.observe: every request the session runs is checked, and
 * counted as owing a reply unless it waits to run again. */
static void observe(void *arg, const struct ss_session *s, const struct ss_request *req,
		    enum ss_cmd_status st, size_t before, size_t nops0)
{
	struct fz *z = arg;
	struct fconn *c = (struct fconn *)(uintptr_t)s;
	const char *head = ss_buf_head(&c->s.in);
	size_t inlen = ss_buf_size(&c->s.in);
	int resp = inlen > 0 && head[0] == '*', same;

	fz_check(inlen > 0, "conn %d: a request ran with nothing read", c->id);
	fz_check(!c->closing, "conn %d: a request ran after QUIT or a protocol error", c->id);
	fz_check(resp == (c->s.proto->resp != 0), "conn %d: a request starting '%s' ran as %s",
		 c->id, show(0, head, 1), c->s.proto->name);
	fz_check(!resp || c->s.proto->resp == c->resp, "conn %d: RESP%d, the model says RESP%d",
		 c->id, c->s.proto->resp, c->resp);
	/* The protocol changes only between replies. */
	if (c->last_kind >= 0 && c->last_kind != resp)
		fz_check(c->s.pending == 0, "conn %d: switched protocol with %zu replies owed",
			 c->id, c->s.pending);
	c->last_kind = resp;
	if (!req) {
		fz_check(c->s.pending == 0, "conn %d: a bad request answered before earlier replies",
			 c->id);
		if (resp) {
			int fr = fr_walk(head, inlen, z->max_line, NULL, &same);
			fz_check(fr == FR_BAD || fr == FR_EITHER,
				 "conn %d: a protocol error on a request the reference finds %s: '%s'",
				 c->id, fr_names[fr], show(0, head, inlen < 200 ? inlen : 200));
			size_t got = ss_buf_size(&c->s.out) - before;
			fz_check(protocol_error(ss_buf_head(&c->s.out) + before, got),
				 "conn %d: a protocol error answered '%s'", c->id,
				 show(0, ss_buf_head(&c->s.out) + before, got < 200 ? got : 200));
			push_shape(c, c->resp);
		} else {
			struct want w = {0};
			w_put(&w, "ERR line too long\n", 18);
			expect_want(c, before, &w, 0, "an over-long line");
			w_free(&w);
			push_shape(c, 0);
		}
		c->requests++;
		c->closing = 1;
		return;
	}
	if (resp) {
		int fr = fr_walk(head, inlen, z->max_line, req, &same);
		fz_check(fr == FR_COMPLETE && same,
			 "conn %d: ran a RESP request of %d tokens from bytes the reference finds %s%s: "
			 "'%s'",
			 c->id, req->argc, fr_names[fr], same ? "" : " with other tokens",
			 show(0, head, inlen < 200 ? inlen : 200));
	}
	/* The rule is the harness's, not the session's: with replies owed,
	 * nothing may reply at once. */
	check_execute(z, c, req, resp ? c->resp : 0, st, c->s.pending == 0, before, nops0);
	if (st != SS_CMD_WAIT && st != SS_CMD_FULL)
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
		.backups_queued = &z->backups_queued,
		.backup_seq = &z->backup_seq,
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
	const char *name = fz_op_name(&z->batch, op, &nlen);
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
	/* fz_op_name's and op_value's buffers are distinct. */
	const char *value = op_value(&z->batch, op, &vlen);
	if (history)
		hist_push(z, name, nlen, value, vlen, op->rev, op->commit_ms, live);
	fz_map_set_rev(m, name, nlen, value, vlen, op->expire_ms, op->rev, op->commit_ms);
	return 0;
}

/* The reference's view of the open batch ends with it. */
static void staged_clear(struct fz *z)
{
	staged_truncate(z, 0);
	for (size_t i = 0; i < z->batch.nops; i++) {
		if (z->owed[i]) {
			w_free(z->owed[i]);
			free(z->owed[i]);
		}
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
		int ver = c->s.proto->resp;
		fz_check(ss_cmd_reply_compact(c->s.proto, rc == 0 ? NULL : msg, &c->s.out) == 0,
			 "out of memory");
		if (rc == 0) {
			struct want w = {0};
			p_ok(&w, ver);
			expect_want(c, before, &w, ver, "COMPACT");
			w_free(&w);
		} else {
			expect_line(c, before, "ERR compaction failed: ", ver, "a failed COMPACT");
			z->rejected++;
		}
		process_input(z, c);
	}
}
/* Starts a compaction as server.c and compactor.c do: the begin marks
 * where the tail starts, the temp file is created, and the walk of the
 * live table starts at the clock of now; the steps come later (walk_step).
 * The tail then grows in the old log with every commit, until the rounds
 * and the finish (compact_step) copy it across. */
/* After the begin: creates the snapshot's file (path) and starts the walk
 * of the live table, of only prefix[0..plen) for a backup of one. 0, or -1
 * with *err, the run given up. */
static int walk_start(struct fz *z, const char *path, const char *prefix, size_t plen,
		      struct ss_error *err)
{
	z->snap_fd = ss_io_open(&z->fio.io, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (z->snap_fd < 0) {
		snprintf(err->msg, sizeof(err->msg), "cannot create the %s %s: %s",
			 z->backup ? "backup" : "compacted log", path, strerror(errno));
		ss_store_compact_abort(z->store);
		return -1;
	}
	fz_check(ss_snapshot_init(&z->snap, ss_store_table(z->store), z->now, 0, err) == 0,
		 "ss_snapshot_init: %s", err->msg);
	z->snap.prefix = prefix;
	z->snap.plen = plen;
	z->compacting = 1;
	z->walking = 1;
	z->snap_len = 0;
	z->rounds = 0;
	return 0;
}

static void compact_start(struct fz *z)
{
	struct ss_error err;
	const char *tmp;
	unsigned long injected = z->fio.injected;
	int rc = ss_store_compact_begin(z->store, 0, &tmp, &err);

	z->compact_requested = 0;
	if (rc == 0)
		rc = walk_start(z, tmp, NULL, 0, &err);
	fz_check(rc == 0 || z->fio.injected > injected,
		 "COMPACT failed with no fault injected during it: %s", err.msg);
	if (rc < 0) {
		compact_answer(z, SS_COMPACT_QUEUED, rc, err.msg);
		return;
	}
	for (int i = 0; i < NCONN; i++)
		if (z->conns[i].s.compact_wait == SS_COMPACT_QUEUED)
			z->conns[i].s.compact_wait = SS_COMPACT_RUNNING;
}

/* Answers the connection whose BACKUP is in state (it may have shut its
 * side; it still gets its reply): OK <rev>, the durable revision, which
 * the backup holds, or the error. */
static void backup_answer(struct fz *z, enum ss_compact_wait state, int rc, uint64_t rev,
			  const char *msg)
{
	for (int i = 0; i < NCONN; i++) {
		struct fconn *c = &z->conns[i];
		if (c->s.compact_wait != state)
			continue;
		c->s.compact_wait = SS_COMPACT_NONE;
		ss_session_backup_clear(&c->s);
		size_t before = ss_buf_size(&c->s.out);
		int ver = c->s.proto->resp;
		fz_check(ss_cmd_reply_backup(c->s.proto, rc == 0 ? NULL : msg, rev, &c->s.out) == 0,
			 "out of memory");
		if (rc == 0) {
			struct want w = {0};
			fz_check(rev == z->rev_durable,
				 "BACKUP holds revision %llu, but the durable one is %llu",
				 (unsigned long long)rev, (unsigned long long)z->rev_durable);
			p_ok_rev(&w, ver, rev);
			expect_want(c, before, &w, ver, "BACKUP");
			w_free(&w);
		} else {
			expect_line(c, before, "ERR backup failed: ", ver, "a failed BACKUP");
			z->rejected++;
		}
		process_input(z, c);
		return;
	}
	fz_fail("no connection's BACKUP is in state %d", (int)state);
}

/* Starts the BACKUP queued first, as server.c does, on the compaction's
 * machinery, into the stand-in for its directory (see the top). */
static void backup_start(struct fz *z)
{
	struct fconn *c = NULL;
	struct ss_error err;
	const char *log;
	char dir[512];
	uint32_t h = 2166136261u;
	unsigned long injected = z->fio.injected;

	for (int i = 0; i < NCONN; i++) {
		struct fconn *k = &z->conns[i];
		if (k->s.compact_wait == SS_BACKUP_QUEUED && (!c || k->s.backup.seq < c->s.backup.seq))
			c = k;
	}
	if (!c) {
		z->backups_queued = 0;
		return;
	}
	z->backups_queued--;
	for (const char *p = c->s.backup.dir; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	snprintf(dir, sizeof(dir), "%s/b%u", fz_path(2, "backups"), (unsigned)(h % 8));
	c->s.compact_wait = SS_BACKUP_RUNNING;
	z->backup = 1;
	int rc = ss_store_backup_begin(z->store, 0, dir, c->s.backup.prefix, c->s.backup.plen,
				       &log, &err);
	if (rc == 0)
		rc = walk_start(z, log, c->s.backup.prefix, c->s.backup.plen, &err);
	if (rc == 0)
		return;
	fz_check(z->fio.injected > injected || err.sys_errno == EEXIST ||
			 err.sys_errno == ENOTEMPTY,
		 "BACKUP to a new target failed with no fault injected during it: %s", err.msg);
	z->backup = 0;
	backup_answer(z, SS_BACKUP_RUNNING, -1, 0, err.msg);
}

/* Answers the run that failed: its COMPACTs, or its BACKUP. */
static void run_failed(struct fz *z, const char *msg)
{
	if (z->backup) {
		z->backup = 0;
		backup_answer(z, SS_BACKUP_RUNNING, -1, 0, msg);
	} else {
		compact_answer(z, SS_COMPACT_RUNNING, -1, msg);
	}
}

/* Ends the walk: closes the temp file's descriptor (if the walk still
 * holds it) and frees the walk. */
static void walk_end(struct fz *z)
{
	if (z->snap_fd >= 0)
		(void)z->fio.io.close(z->fio.io.ctx, z->snap_fd);
	z->snap_fd = -1;
	z->walking = 0;
	ss_snapshot_free(&z->snap);
}

/* One step of the walk, of at most `buckets` home buckets: what it
 * produced goes to the temp file at once, and after the last step the
 * file is fdatasync'd and closed, as the helper thread's last write and
 * the loop do. A failed write, sync or close ends the compaction: the
 * temp file goes, and the COMPACTs of the run are answered. */
static void walk_step(struct fz *z, size_t buckets)
{
	struct ss_error err;
	unsigned long injected = z->fio.injected;
	const char *what = NULL;
	int more = ss_snapshot_step(&z->snap, buckets, &err);

	fz_check(more >= 0, "ss_snapshot_step: %s", err.msg);
	z->snap_out.len = 0;
	ss_snapshot_take(&z->snap, &z->snap_out);
	if (z->snap_out.len > 0 && ss_io_pwrite_all(&z->fio.io, z->snap_fd, z->snap_out.p,
						    z->snap_out.len, (off_t)z->snap_len) < 0)
		what = "write";
	z->snap_len += z->snap_out.len;
	if (!what && !more && ss_io_fdatasync(&z->fio.io, z->snap_fd) < 0)
		what = "fdatasync";
	if (!what && !more) {
		int fd = z->snap_fd;

		z->snap_fd = -1;
		if (z->fio.io.close(z->fio.io.ctx, fd) < 0)
			what = "close";
	}
	if (!what) {
		if (!more)
			walk_end(z);
		return;
	}
	snprintf(err.msg, sizeof(err.msg), "cannot %s the compacted log: %s", what,
		 strerror(errno));
	fz_check(z->fio.injected > injected,
		 "the walk's %s failed with no fault injected during it: %s", what, err.msg);
	walk_end(z);
	ss_store_compact_abort(z->store);
	z->compacting = 0;
	run_failed(z, err.msg);
}

/* The next step of a running compaction: a step of its walk, or once the
 * walk is over a catch-up round (the job run here rather than on a
 * thread), or, after round_budget of them, the finish. */
static void compact_step(struct fz *z)
{
	struct ss_compact_job job;
	struct ss_error err;
	unsigned long injected = z->fio.injected;
	int rc = 0;

	if (z->walking) {
		size_t slice = z->draining ? SIZE_MAX : z->slice;
		if (slice > 0)
			walk_step(z, slice);
		return;
	}
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
	if (rc == 0 && z->backup) {
		uint64_t rev = 0;

		rc = ss_store_backup_finish(z->store, &rev, &err);
		z->compacting = 0;
		z->backup = 0;
		fz_check(ss_store_state(z->store) == SS_STORE_OK, "a BACKUP poisoned the store");
		backup_answer(z, SS_BACKUP_RUNNING, rc, rev, err.msg);
		goto checked;
	}
	if (rc == 0) {
		rc = ss_store_compact_finish(z->store, &err);
		int old = ss_store_take_retired_fd(z->store);
		if (old >= 0)
			z->fio.io.close(z->fio.io.ctx, old);
	}
	z->compacting = 0;
	if (rc != 0 && z->backup) { /* a round failed */
		run_failed(z, err.msg);
		goto checked;
	}
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
			const struct want *want = z->owed[i];
			int ver = c->s.proto->resp;
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
				/* Only the op that owes a command's reply answers. */
				fz_check(r == 0 && c->s.pending == pending &&
						 ss_buf_size(&c->s.out) == before,
					 "conn %d: op %zu, which owes no reply, answered", c->id, i);
				continue;
			}
			if (written)
				expect_want(c, before, want, ver, "a committed op");
			else {
				expect_line(c, before, "ERR log write failed: ", ver, "a failed write");
				z->rejected++;
			}
			if (r & SS_ANSWER_FIRST)
				z->touched[ntouched++] = c;
		}
		/* The commit hook of the staged state, as the server's; then
		 * the revisions: acknowledged, or (refused) handed out again. */
		ss_pending_done(&z->pending, b, written);
		if (!written)
			z->failures++; /* its revisions are handed out again */
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
	else if (z->backups_queued > 0 && !z->stopped)
		backup_start(z);
}

static void loop_iteration(struct fz *z)
{
	for (int i = 0; i < NCONN && !z->stopped; i++)
		conn_read(z, &z->conns[i]);
	if (!z->stopped &&
	    (z->batch.nops > 0 || z->compact_requested || z->compacting || z->backups_queued > 0))
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

/* The command names and the pooled arguments of the '*' escape. */
static const char *const fz_cmds[] = {
	"GET", "SET", "DEL", "INCR", "INCRBY", "DECR", "DECRBY", "MGET", "EXISTS", "GETDEL",
	"MULTI", "EXEC", "DISCARD", "WATCH", "UNWATCH", "PING", "ECHO", "HELLO", "RESET", "QUIT",
	"TTL", "PTTL", "TYPE", "UNLINK", "SETNX", "GETSET", "SETEX", "PSETEX",
	"SET_CHECKPOINT", "GET_CHECKPOINT", "DEL_CHECKPOINT", "TTL_CHECKPOINT", "GETREV_CHECKPOINT",
	"CAS_CHECKPOINT", "MSET_CHECKPOINT", "MCAS_CHECKPOINT", "HISTORY_CHECKPOINT",
	"ROLLBACK_CHECKPOINT", "LIST_CHECKPOINTS", "STATS", "COMPACT",
	/* beyond the model: checked loosely */
	"EXPIRE", "PERSIST", "MSET", "GETEX", "DBSIZE", "INFO", "SELECT", "TIME", "KEYS", "SCAN",
	"CLIENT", "MSETNX", "PEXPIRE",
	/* unknown */
	"NOSUCH",
	"FLUSHALL", "FLUSHDB",
	"BACKUP", /* last: the corpus's indices stay */
};
#define FZ_NCMDS (sizeof fz_cmds / sizeof fz_cmds[0])

#define S(s) {s, sizeof(s) - 1}
static const struct {
	const char *p;
	size_t n;
} fz_pool[] = {
	S("k"), S("a"), S("b"), S("counter"), S("a b"), S("x\r\ny"), S("\0"), S("\xff"),
	S("nl\n"), S("1"), S("0"), S("-1"), S("2"), S("3"), S("10"), S("100"),
	S("9223372036854775807"), S("-9223372036854775808"), S("abc"), S("NULL"), S("NX"),
	S("XX"), S("GET"), S("EX"), S("PX"), S("EXAT"), S("PXAT"), S("KEEPTTL"), S("PERSIST"),
	S("PREFIX"), S("COUNT"), S("AUTH"), S("default"), S("SETNAME"), S("01"), S(""), S("5"),
	S("1700000005"), S("1700000000500"), S("315360000"), S("315360001"), S("-0"), S("*"),
	S("\r"), S("k\\"), S("\t"), S("xx"), S("4"), S("6"),
};
#undef S
#define FZ_NPOOL (sizeof fz_pool / sizeof fz_pool[0])
/* The pooled argument past the rest: a key one byte too long. */
static char fz_long_key[SS_NAME_MAX + 1];

/* The argument of a '*' request at d[*i + 1..]: 1 and it, moving *i to
 * its last byte; 0 if the input ends first. */
static int next_arg(const uint8_t *d, size_t size, size_t *i, const char **p, size_t *n)
{
	if (*i + 1 >= size)
		return 0;
	uint8_t l = d[++*i];
	if (l >= 0x80) {
		size_t k = (size_t)(l & 0x7f) % (FZ_NPOOL + 1);
		if (k == FZ_NPOOL) {
			memset(fz_long_key, 'K', sizeof fz_long_key);
			*p = fz_long_key;
			*n = sizeof fz_long_key;
		} else {
			*p = fz_pool[k].p;
			*n = fz_pool[k].n;
		}
		return 1;
	}
	if (*i + l >= size)
		return 0;
	*p = (const char *)d + *i + 1;
	*n = l;
	*i += l;
	return 1;
}

/* The '*' escape at d[i]: encodes and sends one RESP request. Returns the
 * index of its last byte. */
static size_t send_resp(struct fz *z, struct fconn *c, const uint8_t *d, size_t size, size_t i)
{
	const char *p[16];
	size_t n[16];
	char name[SS_NAME_MAX + 2];

	if (i + 2 >= size)
		return size - 1;
	uint8_t a = d[++i], cmd = d[++i];
	int argc = 1 + (a & 15);
	if (cmd < FZ_NCMDS) {
		p[0] = fz_cmds[cmd];
		n[0] = strlen(fz_cmds[cmd]);
	} else if (!next_arg(d, size, &i, &p[0], &n[0])) {
		return size - 1;
	}
	for (int k = 1; k < argc; k++)
		if (!next_arg(d, size, &i, &p[k], &n[k]))
			return size - 1;
	if (a & 0x10) {
		size_t m = n[0] < sizeof name ? n[0] : sizeof name;
		for (size_t k = 0; k < m; k++)
			name[k] = p[0][k] >= 'A' && p[0][k] <= 'Z' ? (char)(p[0][k] + 32) : p[0][k];
		p[0] = name;
		n[0] = m;
	}
	struct want f = {0};
	w_fmt(&f, "*%d\r\n", argc);
	for (int k = 0; k < argc; k++)
		r_bulk(&f, p[k], n[k]);
	size_t cut = c->split ? (c->split & 0xff) % f.n : 0;
	c->split = 0;
	if (cut) {
		send_bytes(c, (const uint8_t *)f.b, cut);
		conn_read(z, c);
	}
	send_bytes(c, (const uint8_t *)f.b + cut, f.n - cut);
	w_free(&f);
	return i;
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
	static const size_t slices[] = {1, 0, 256, 4096};
	size_t i = 0;

	z->max_line = 1024;
	z->prealloc = 0;
	z->batch_max = SS_FUZZ_BATCH_MAX;
	z->round_budget = 1;
	z->depth = depths[0];
	z->slice = slices[0];
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
		} else if (d[i + 1] == 'W') {
			z->slice = slices[d[i + 2] & 3];
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

	if (z->walking)
		walk_end(z); /* stopped mid-walk: the reopen removes the temp file */
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

/* What a connection left unexecuted at the end must be an incomplete
 * request: one complete in its buffer would have run. */
static void check_leftover(struct fz *z, const struct fconn *c)
{
	const char *p = ss_buf_head(&c->s.in);
	size_t n = ss_buf_size(&c->s.in);
	int same;

	if (c->s.close_after || n == 0)
		return;
	if (p[0] != '*') {
		fz_check(!memchr(p, '\n', n), "conn %d: a complete text line was never executed: '%s'",
			 c->id, show(0, p, n < 200 ? n : 200));
		return;
	}
	int fr = fr_walk(p, n, z->max_line, NULL, &same);
	fz_check(fr == FR_INCOMPLETE || fr == FR_EITHER,
		 "conn %d: it closed with a RESP request the reference finds %s: '%s'", c->id,
		 fr_names[fr], show(0, p, n < 200 ? n : 200));
}

static void conn_free(struct fz *z, struct fconn *c)
{
	struct expect x = {.eff = E_CLEAR_MULTI | E_CLEAR_WATCH};

	apply_effects(z, c, &x, NULL);
	free(c->queue);
	free(c->watch);
	ss_session_free(&c->s);
	free(c->q);
	free(c->shapes);
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
	z->snap_fd = -1;
	{
		const char *lax = getenv("FZ_CONN_LAX_INCR");
		z->lax_incr = lax && *lax == '1';
	}
	i = configure(z, data, size);
	(void)unlink(fz_path(0, SS_LOG_FILE));
	(void)unlink(fz_path(1, SS_LOG_TMP_FILE));
	/* BACKUP's stand-in targets (backup_start), fresh for each input. */
	fz_remove_tree(fz_path(2, "backups"));
	if (mkdir(fz_path(2, "backups"), 0700) < 0)
		fz_fail("mkdir %s: %s", fz_path(2, "backups"), strerror(errno));
	z->store = open_store(z, NULL, &err);
	if (!z->store)
		fz_fail("opening a fresh store failed: %s", err.msg);
	ss_pending_init(&z->pending, ss_table_revision(ss_store_table(z->store)));
	for (int k = 0; k < NCONN; k++) {
		ss_session_init(&z->conns[k].s, (uint64_t)k + 1);
		z->conns[k].id = k + 1;
		z->conns[k].resp = 2;
		z->conns[k].last_kind = -1;
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
		case '*':
			i = send_resp(z, c, data, size, i);
			break;
		case '/':
			if (i + 1 < size)
				c->split = 0x100u | data[++i];
			break;
		case 'w':
			if (i + 1 < size) {
				uint8_t b = data[++i];
				if (z->walking)
					walk_step(z, (size_t)1 << (b % 12));
			}
			break;
		default:
			loop_iteration(z);
			break;
		}
	}

	/* Every client shuts; the loop runs until everyone is answered. */
	size_t total = 0;
	z->draining = 1;
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
		check_leftover(z, c);
	}

	oracle(z);
	ss_snapshot_out_free(&z->snap_out);

	staged_clear(z);
	ss_batch_reset(&z->batch);
	free(z->staged);
	free(z->owed);
	free(z->cursors);
	hist_free(z);
	/* The sessions first: they unwatch their keys in the staged state. */
	for (int k = 0; k < NCONN; k++)
		conn_free(z, &z->conns[k]);
	fz_check(z->nreg == 0, "%zu names still watched after every connection ended", z->nreg);
	free(z->reg);
	ss_pending_free(&z->pending);
	fz_map_free(&z->model);
	fz_map_free(&z->doubt);
	return 0;
}
