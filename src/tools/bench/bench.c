/*
 * bench.c - statestore-bench's engine: connections, the closed loop, phases.
 *
 * The tool shares a small machine with the server it measures, so it is
 * built not to be the bottleneck: one thread, one libev loop, and per
 * connection one read(2) of everything available, then one write(2) carrying
 * every request those replies made room for. Requests are formatted with
 * memcpy and a digit loop into a buffer sized once at start; latencies go to
 * a fixed histogram. Nothing is allocated after the connections are set up.
 *
 * A run is one to three phases over the same connections:
 *   load   SET keys 0..K-1 once each, value = key id (--prefill, --load-keys)
 *   check  GET keys 0..K-1 and compare with what --sequential writes 0..S-1
 *          leave behind (--check-seq S)
 *   getrev GETREV_CHECKPOINT every key a connection owns, once (--cas)
 *   run    the timed closed loop (-d seconds or -n requests)
 * A phase with a count ends at its last reply; a timed one stops issuing at
 * the deadline and drains what is in flight, counting only replies that
 * arrived inside [start + warmup, deadline].
 */
#include "tools/bench/bench.h"
#include "common/stdfds.h"
#include "common/clock.h"
#include "common/connect.h"
#include "tools/bench/hist.h"

#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A phase that makes no progress for this long has a hung server. */
#define STALL_LIMIT_S 30.0

enum op { OP_SET = 0, OP_GET, OP_CAS, OP_GETREV, OP_MSET };
enum phase { PH_LOAD, PH_CHECK, PH_GETREV, PH_RUN };

struct pending {
	uint64_t t_ns;
	uint64_t key;
	enum op op;
	unsigned char waiting; /* --wait: the SET's reply came; the WAIT's is next */
	unsigned char set_err; /* --wait: that SET reply was an error */
};

struct bench;

struct conn {
	ev_io rio;
	ev_io wio;
	struct bench *b;
	int fd;
	char *in;
	size_t in_len, in_cap;
	char *out;
	size_t out_len, out_off, out_cap;
	struct pending *ring; /* depth slots; head is the oldest */
	unsigned head, count;
	unsigned idx; /* this connection's number, 0..conns-1 */
	uint64_t rr;  /* requests issued this phase: --own-keys's next slot */
};

struct bench {
	struct ss_bench_opts o;
	struct ev_loop *loop;
	struct conn *conns;
	unsigned nconns;
	ev_timer deadline, watchdog;
	ev_signal sigint, sigterm;

	enum phase phase;
	unsigned depth;   /* requests in flight per connection */
	unsigned max_depth; /* of any phase: what the buffers hold */
	uint64_t limit;   /* requests to issue; UINT64_MAX = until the deadline */
	uint64_t next_seq;
	uint64_t done;    /* replies this phase */
	uint64_t done_at_watch;
	unsigned inflight;
	int stopping, failed;

	uint64_t t_start, t_measure, t_stop, t_last;
	uint64_t last_reply_ns, max_gap_ns;
	uint64_t measured, errors, misses, lost;
	uint64_t rng, set_threshold;

	size_t req_max; /* longest request we format */
	char ttl_s[24]; /* " <ttl>" for statestored */
	size_t ttl_len;
	char ttl_resp[48]; /* "$2\r\nEX\r\n$<n>\r\n<ttl>\r\n" for Redis */
	size_t ttl_resp_len;
	char vlen_s[24];
	size_t vlen_len;
	char wait_req[64]; /* --wait: "*3\r\n$4\r\nWAIT\r\n$<d>\r\n<n>\r\n$1\r\n0\r\n" */
	size_t wait_len;
	char *expect; /* scratch: the value a check expects */
	uint64_t *revs; /* --cas: per key, the revision the next CAS expects */
	struct ss_hist hist;
};

static uint64_t rng_next(struct bench *b)
{
	/* xorshift64*: fast, and good enough to pick keys. */
	b->rng ^= b->rng >> 12;
	b->rng ^= b->rng << 25;
	b->rng ^= b->rng >> 27;
	return b->rng * 0x2545F4914F6CDD1Dull;
}

static void fail(struct bench *b, const char *what, int err)
{
	if (!b->failed) {
		if (err)
			fprintf(stderr, "statestore-bench: %s: %s\n", what, strerror(err));
		else
			fprintf(stderr, "statestore-bench: %s\n", what);
	}
	b->failed = 1;
	ev_break(b->loop, EVBREAK_ALL);
}

/* ---- request formatting ---- */

static char *put(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

#define PUTS(p, lit) put((p), (lit), sizeof(lit) - 1)

/* GETREV_CHECKPOINT <key>, or CAS_CHECKPOINT <key> <rev> <value> [<ttl>]
 * with the revision the key's last reply gave. statestored only. */
static char *format_rev_request(const struct bench *b, char *p, enum op op, uint64_t key,
				uint64_t vseq)
{
	p = op == OP_CAS ? PUTS(p, "CAS_CHECKPOINT ") : PUTS(p, "GETREV_CHECKPOINT ");
	ss_bench_key(p, key);
	p += SS_BENCH_KEY_LEN;
	if (op == OP_CAS) {
		*p++ = ' ';
		p += ss_bench_u64(p, b->revs[key]);
		*p++ = ' ';
		ss_bench_digits(p, b->o.value_size, vseq);
		p += b->o.value_size;
		if (b->ttl_len) {
			*p++ = ' ';
			p = put(p, b->ttl_s, b->ttl_len);
		}
	}
	*p++ = '\n';
	return p;
}

/* Appends one request to dst (room for b->req_max bytes); returns its end. */
static char *format_request(const struct bench *b, char *p, enum op op, uint64_t key,
			    uint64_t vseq)
{
	size_t v = b->o.value_size;
	if (op == OP_MSET)
		return ss_bench_format_mset(p, b->o.redis, key, b->o.mset, b->o.keys, v, vseq);
	if (op == OP_GETREV || op == OP_CAS)
		return format_rev_request(b, p, op, key, vseq);
	if (!b->o.redis) {
		p = op == OP_SET ? PUTS(p, "SET_CHECKPOINT ") : PUTS(p, "GET_CHECKPOINT ");
		ss_bench_key(p, key);
		p += SS_BENCH_KEY_LEN;
		if (op == OP_SET) {
			*p++ = ' ';
			ss_bench_digits(p, v, vseq);
			p += v;
			if (b->ttl_len) {
				*p++ = ' ';
				p = put(p, b->ttl_s, b->ttl_len);
			}
		}
		*p++ = '\n';
		return p;
	}
	if (op == OP_GET) {
		p = PUTS(p, "*2\r\n$3\r\nGET\r\n$16\r\n");
	} else {
		p = b->ttl_len ? PUTS(p, "*5\r\n$3\r\nSET\r\n$16\r\n") : PUTS(p, "*3\r\n$3\r\nSET\r\n$16\r\n");
	}
	ss_bench_key(p, key);
	p += SS_BENCH_KEY_LEN;
	p = PUTS(p, "\r\n");
	if (op == OP_SET) {
		*p++ = '$';
		p = put(p, b->vlen_s, b->vlen_len);
		p = PUTS(p, "\r\n");
		ss_bench_digits(p, v, vseq);
		p += v;
		p = PUTS(p, "\r\n");
		if (b->ttl_len) {
			p = put(p, b->ttl_resp, b->ttl_resp_len);
		}
	}
	return p;
}

/* ---- connections ---- */

static void watch_write(struct conn *c, int on)
{
	if (on && !ev_is_active(&c->wio))
		ev_io_start(c->b->loop, &c->wio);
	else if (!on && ev_is_active(&c->wio))
		ev_io_stop(c->b->loop, &c->wio);
}

/* Writes what is buffered. Returns 0 (the rest waits for EV_WRITE) or -1. */
static int flush(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				watch_write(c, 1);
				return 0;
			}
			fail(c->b, "send", errno);
			return -1;
		}
		c->out_off += (size_t)n;
	}
	c->out_off = c->out_len = 0;
	watch_write(c, 0);
	return 0;
}

static int may_issue(const struct bench *b)
{
	return !b->stopping && b->next_seq < b->limit;
}

/* The key of c's next request under --own-keys. Replies come back in the
 * order of the requests, and each one frees the slot of the oldest, so
 * taking the slots round robin never puts two requests on one key in flight
 * at once: a CAS always expects the revision its predecessor's reply gave. */
static uint64_t own_key(struct conn *c)
{
	unsigned depth = c->b->o.pipeline;
	return (uint64_t)c->idx * depth + c->rr++ % depth;
}

static enum op run_op(struct bench *b)
{
	if (b->o.cas)
		return OP_CAS;
	if (b->o.mset)
		return OP_MSET;
	if (b->o.set_ratio < 1.0 &&
	    (b->o.set_ratio <= 0.0 || (rng_next(b) >> 11) >= b->set_threshold))
		return OP_GET;
	return OP_SET;
}

/* Tops c up to depth requests in flight and sends them in one write. */
static void issue(struct conn *c, uint64_t now)
{
	struct bench *b = c->b;
	if (c->count >= b->depth || !may_issue(b))
		return;
	if (c->out_off > 0) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	char *p = c->out + c->out_len;
	while (c->count < b->depth && may_issue(b)) {
		uint64_t seq = b->next_seq++;
		enum op op = OP_SET;
		uint64_t key = seq;
		if (b->phase == PH_CHECK) {
			op = OP_GET;
		} else if (b->phase == PH_GETREV) {
			op = OP_GETREV;
			key = own_key(c);
		} else if (b->phase == PH_RUN) {
			op = run_op(b);
			key = b->o.own_keys ? own_key(c)
			      : b->o.sequential ? seq % b->o.keys : rng_next(b) % b->o.keys;
		}
		p = format_request(b, p, op, key, seq);
		if (b->wait_len && b->phase == PH_RUN && op == OP_SET)
			p = put(p, b->wait_req, b->wait_len);
		struct pending *slot = &c->ring[(c->head + c->count) % b->depth];
		slot->t_ns = now;
		slot->key = key;
		slot->op = op;
		slot->waiting = slot->set_err = 0;
		c->count++;
		b->inflight++;
	}
	c->out_len = (size_t)(p - c->out);
	(void)flush(c);
}

static int in_window(const struct bench *b, uint64_t t)
{
	return t >= b->t_measure && t <= b->t_stop;
}

static void check_value(struct bench *b, uint64_t key, enum ss_bench_reply kind, const char *val,
			size_t vlen)
{
	int64_t want = ss_bench_seq_expected(key, b->o.check_seq, b->o.keys);
	if (want < 0) {
		if (kind != SS_BENCH_NULL)
			b->lost++; /* never written, yet something is there */
		return;
	}
	ss_bench_digits(b->expect, b->o.value_size, (uint64_t)want);
	if (kind != SS_BENCH_VALUE || vlen != b->o.value_size ||
	    memcmp(val, b->expect, vlen) != 0)
		b->lost++;
}

/* Takes the revision out of a GETREV, CAS or multi-commit reply. Returns 0
 * for a success, 1 for one more error (a CONFLICT, an ERR, a multi-commit
 * that did not say OK), -1 for a reply the run cannot go on from. */
static int rev_reply(struct bench *b, const struct pending *p, enum ss_bench_reply kind,
		     const char *val, size_t vlen)
{
	uint64_t rev = 0;
	if (p->op == OP_GETREV) {
		if (kind == SS_BENCH_ERR || ss_bench_getrev_reply(val, vlen, &rev) != 0)
			return -1;
		b->revs[p->key] = rev;
		return 0;
	}
	if (p->op == OP_MSET) /* "OK <rev>"; Redis: "+OK" */
		return b->o.redis ? kind != SS_BENCH_OK : ss_bench_cas_reply(val, vlen, &rev) != 1;
	int r = ss_bench_cas_reply(val, vlen, &rev);
	if (r >= 0)
		b->revs[p->key] = rev; /* a CONFLICT names the current one */
	return r != 1;
}

static void on_reply(struct conn *c, uint64_t now, enum ss_bench_reply kind, const char *val,
		     size_t vlen)
{
	struct bench *b = c->b;
	struct pending *p = &c->ring[c->head];
	if (b->wait_len && b->phase == PH_RUN && p->op == OP_SET) {
		if (!p->waiting) { /* the SET's reply: the request is done at the WAIT's */
			p->waiting = 1;
			p->set_err = kind == SS_BENCH_ERR;
			return;
		}
		int w = ss_bench_wait_reply(kind, val, vlen, b->o.wait);
		if (w < 0 && kind != SS_BENCH_ERR) {
			fail(b, "WAIT did not answer an integer", 0);
			return;
		}
		/* A failed SET, or a WAIT that errs or counts too few replicas:
		 * the write is not acknowledged as asked. */
		kind = p->set_err || w != 1 ? SS_BENCH_ERR : SS_BENCH_OK;
	}
	c->head = (c->head + 1) % b->depth;
	c->count--;
	b->inflight--;
	b->done++;
	if (p->op == OP_GETREV || p->op == OP_CAS || p->op == OP_MSET) {
		int r = rev_reply(b, p, kind, val, vlen);
		if (r < 0) {
			fail(b, "GETREV_CHECKPOINT did not answer \"<rev> <value>\" or NULL", 0);
			return;
		}
		b->errors += (uint64_t)r;
	} else if (kind == SS_BENCH_ERR) {
		b->errors++;
	} else if (kind == SS_BENCH_NULL && p->op == OP_GET && b->phase != PH_CHECK) {
		b->misses++;
	}
	if (b->phase == PH_CHECK && kind != SS_BENCH_ERR)
		check_value(b, p->key, kind, val, vlen);
	if (!in_window(b, now))
		return;
	b->measured++;
	ss_hist_record(&b->hist, now - p->t_ns);
	if (b->last_reply_ns && now - b->last_reply_ns > b->max_gap_ns)
		b->max_gap_ns = now - b->last_reply_ns;
	b->last_reply_ns = now;
	b->t_last = now;
}

static int phase_over(const struct bench *b)
{
	return b->inflight == 0 && (b->stopping || b->next_seq >= b->limit);
}

static void on_read(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = w->data;
	struct bench *b = c->b;
	(void)loop;
	(void)revents;
	ssize_t n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
	if (n < 0) {
		if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
			fail(b, "read", errno);
		return;
	}
	if (n == 0) {
		fail(b, "the server closed a connection", 0);
		return;
	}
	uint64_t now = ss_clock_ns();
	c->in_len += (size_t)n;
	size_t off = 0;
	while (off < c->in_len) {
		enum ss_bench_reply kind;
		const char *val;
		size_t vlen;
		long used = b->o.redis
			? ss_bench_parse_resp(c->in + off, c->in_len - off, c->in_cap, &kind, &val, &vlen)
			: ss_bench_parse_line(c->in + off, c->in_len - off, c->in_cap, &kind, &val, &vlen);
		if (used == 0)
			break;
		if (used < 0) {
			fail(b, "malformed reply from the server", 0);
			return;
		}
		if (c->count == 0) {
			fail(b, "a reply nobody asked for", 0);
			return;
		}
		on_reply(c, now, kind, val, vlen);
		if (b->failed)
			return;
		off += (size_t)used;
	}
	if (off > 0) {
		memmove(c->in, c->in + off, c->in_len - off);
		c->in_len -= off;
	}
	if (phase_over(b)) {
		ev_break(b->loop, EVBREAK_ALL);
		return;
	}
	issue(c, now);
}

static void on_write(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	(void)flush(w->data);
}

static void stop_issuing(struct bench *b)
{
	if (b->stopping)
		return;
	b->stopping = 1;
	b->t_stop = ss_clock_ns();
	if (b->inflight == 0)
		ev_break(b->loop, EVBREAK_ALL);
}

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	stop_issuing(w->data);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop;
	(void)revents;
	stop_issuing(w->data);
}

static void on_watchdog(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct bench *b = w->data;
	(void)loop;
	(void)revents;
	if (b->done == b->done_at_watch && b->inflight > 0)
		fail(b, "no reply for 30 s; is the server hung?", 0);
	b->done_at_watch = b->done;
}

static int connect_all(struct bench *b)
{
	char err[256];

	for (unsigned i = 0; i < b->nconns; i++) {
		struct conn *c = &b->conns[i];
		c->fd = ss_connect(b->o.host, b->o.port, 30000, err, sizeof(err));
		if (c->fd < 0) {
			fprintf(stderr, "statestore-bench: %s\n", err);
			return -1;
		}
		ev_io_init(&c->rio, on_read, c->fd, EV_READ);
		ev_io_init(&c->wio, on_write, c->fd, EV_WRITE);
		c->rio.data = c;
		c->wio.data = c;
	}
	return 0;
}

static int alloc_conns(struct bench *b)
{
	/* Room for the longest reply statestored can send (a 64 KiB value) and
	 * for the largest value we ask Redis for, twice over so a read always
	 * has space after a partial reply. */
	size_t vmax = b->o.value_size > SS_BENCH_VALUE_MAX ? b->o.value_size : SS_BENCH_VALUE_MAX;
	size_t in_cap = 2 * (vmax + 256);
	b->conns = calloc(b->nconns, sizeof(*b->conns));
	if (!b->conns)
		return -1;
	for (unsigned i = 0; i < b->nconns; i++) {
		struct conn *c = &b->conns[i];
		c->b = b;
		c->idx = i;
		c->fd = -1;
		c->in_cap = in_cap;
		c->out_cap = b->req_max * b->max_depth;
		c->in = malloc(c->in_cap);
		c->out = malloc(c->out_cap);
		c->ring = calloc(b->max_depth, sizeof(*c->ring));
		if (!c->in || !c->out || !c->ring)
			return -1;
	}
	return 0;
}

static void free_conns(struct bench *b)
{
	if (!b->conns)
		return;
	for (unsigned i = 0; i < b->nconns; i++) {
		struct conn *c = &b->conns[i];
		if (c->fd >= 0) {
			if (ev_is_active(&c->rio))
				ev_io_stop(b->loop, &c->rio);
			if (ev_is_active(&c->wio))
				ev_io_stop(b->loop, &c->wio);
			if (close(c->fd) != 0)
				fprintf(stderr, "statestore-bench: close: %s\n", strerror(errno));
		}
		free(c->in);
		free(c->out);
		free(c->ring);
	}
	free(b->conns);
}

/* Runs one phase to its end. Returns 0, or -1 after a failure was reported. */
static int run_phase(struct bench *b, enum phase ph, uint64_t limit, double seconds)
{
	b->phase = ph;
	b->next_seq = ph == PH_RUN ? b->o.seq_base : 0;
	b->limit = limit == UINT64_MAX ? limit : b->next_seq + limit;
	b->done = b->done_at_watch = 0;
	b->stopping = 0;
	b->measured = b->errors = b->misses = b->lost = 0;
	b->last_reply_ns = b->max_gap_ns = 0;
	ss_hist_init(&b->hist);
	for (unsigned i = 0; i < b->nconns; i++) {
		b->conns[i].head = 0; /* every phase starts and ends with none in flight */
		b->conns[i].rr = 0;
	}
	b->t_start = ss_clock_ns();
	b->t_measure = ph == PH_RUN ? b->t_start + (uint64_t)(b->o.warmup * 1e9) : b->t_start;
	b->t_stop = UINT64_MAX;
	b->t_last = b->t_measure;
	ev_now_update(b->loop);
	if (seconds > 0) {
		ev_timer_set(&b->deadline, seconds, 0.);
		ev_timer_start(b->loop, &b->deadline);
	}
	ev_timer_again(b->loop, &b->watchdog);
	for (unsigned i = 0; i < b->nconns; i++)
		issue(&b->conns[i], b->t_start);
	if (!b->failed && !phase_over(b))
		ev_run(b->loop, 0);
	ev_timer_stop(b->loop, &b->deadline);
	ev_timer_stop(b->loop, &b->watchdog);
	if (b->t_stop == UINT64_MAX)
		b->t_stop = b->t_last;
	return b->failed ? -1 : 0;
}

static void report(const struct bench *b, const char *mode)
{
	struct ss_bench_result r;
	memset(&r, 0, sizeof(r));
	r.mode = mode;
	r.requests = b->measured;
	r.seconds = b->t_stop > b->t_measure ? (double)(b->t_stop - b->t_measure) / 1e9 : 0.0;
	r.p50_ns = ss_hist_percentile(&b->hist, 50.0);
	r.p99_ns = ss_hist_percentile(&b->hist, 99.0);
	r.p999_ns = ss_hist_percentile(&b->hist, 99.9);
	r.max_ns = b->hist.count ? b->hist.max : 0;
	r.mean_ns = ss_hist_mean(&b->hist);
	r.errors = b->errors;
	r.misses = b->misses;
	r.lost = b->lost;
	r.max_gap_ns = b->max_gap_ns;
	r.next_seq = b->next_seq;
	char buf[1024];
	(void)ss_bench_format_result(&r, b->o.format, buf, sizeof(buf));
	fputs(buf, stdout);
	fflush(stdout);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: statestore-bench [options]\n"
		"  -h HOST            server address (127.0.0.1)\n"
		"  -p PORT            server port (7070; 6379 with --redis)\n"
		"  -c N               connections (50)\n"
		"  --set-ratio R      fraction of requests that are SETs, 0..1 (1.0)\n"
		"  -k N               key space: keys pipeline00000000.. (100000)\n"
		"  -v BYTES           value size, in digits (10)\n"
		"  -d SECONDS         run for this long (5), or\n"
		"  -n N               send N requests\n"
		"  -P N               requests in flight per connection (1)\n"
		"  --warmup SECONDS   run this long before measuring (0)\n"
		"  --ttl SECONDS      SETs carry a ttl\n"
		"  --prefill          SET every key once before measuring\n"
		"  --redis            speak RESP to redis-server (SET/GET)\n"
		"  --sequential       key = request number mod -k, value = request number\n"
		"  --seq-base B       with --sequential: request numbers start at B\n"
		"  --load-keys N      only SET keys 0..N-1 once each (value = key number)\n"
		"  --check-seq S      only GET keys 0..-k-1 and count those that differ from\n"
		"                     what S --sequential writes leave (reported as lost)\n"
		"  --probe            1 connection of back-to-back GETs: max_gap is the\n"
		"                     longest time the server did not answer\n"
		"  --cas              CAS_CHECKPOINT instead of SET: each connection owns -P\n"
		"                     pipelines, reads their revisions once (GETREV_CHECKPOINT),\n"
		"                     then expects the revision of its previous OK; a CONFLICT\n"
		"                     counts as an error (statestored only)\n"
		"  --own-keys         SETs on the pipelines --cas would use (key space:\n"
		"                     connections x -P), to compare the two alike\n"
		"  --mset N           each request is one multi-commit of N distinct pipelines\n"
		"                     (MSET_CHECKPOINT; MSET with --redis); ops/s are commits/s\n"
		"  --wait N           with --redis: every SET followed by WAIT N 0 in the same\n"
		"                     write; the pair is one request, done at the WAIT's reply,\n"
		"                     and a WAIT that counts fewer than N replicas is an error\n"
		"  --csv | --json     one machine-readable line; CSV columns:\n"
		"                     " SS_BENCH_CSV_HEADER "\n"
		"  --help\n");
}

/* What the timed run sends, for the text report's first line. */
static const char *workload_name(const struct ss_bench_opts *o, char *buf, size_t len)
{
	if (o->cas)
		snprintf(buf, len, "CAS on owned keys");
	else if (o->mset)
		snprintf(buf, len, "multi-commits of %u", o->mset);
	else if (o->wait)
		snprintf(buf, len, "SET + WAIT %u 0", o->wait);
	else
		snprintf(buf, len, "%.0f%% SET%s", o->set_ratio * 100,
			 o->own_keys ? " on owned keys" : "");
	return buf;
}

int ss_bench_main(int argc, char **argv)
{
	char err[256], wl[64];
	struct ss_bench_opts o;
	const char *what;
	if (ss_program_start(&what) < 0) {
		fprintf(stderr, "statestore-bench: %s: %s\n", what, strerror(errno));
		return 1;
	}
	int rc = ss_bench_parse_args(argc, argv, &o, err, sizeof(err));
	if (rc == 1) {
		usage(stdout);
		return 0;
	}
	if (rc < 0) {
		fprintf(stderr, "statestore-bench: %s\n", err);
		usage(stderr);
		return 2;
	}
	struct bench *b = calloc(1, sizeof(*b));
	if (!b) {
		fprintf(stderr, "statestore-bench: out of memory\n");
		return 1;
	}
	int status = 1;
	b->o = o;
	b->nconns = o.conns;
	b->depth = o.pipeline;
	/* Prefilling is about filling the server, not about latency: keep
	 * enough in flight that group commit has something to group. */
	unsigned load_depth = o.prefill && o.pipeline < 16 ? 16 : o.pipeline;
	b->max_depth = load_depth > o.pipeline ? load_depth : o.pipeline;
	b->rng = 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid() ^ ss_clock_ns();
	b->set_threshold = (uint64_t)(o.set_ratio * (double)(1ull << 53));
	if (o.ttl) {
		b->ttl_len = (size_t)snprintf(b->ttl_s, sizeof(b->ttl_s), "%u", o.ttl);
		b->ttl_resp_len = (size_t)snprintf(b->ttl_resp, sizeof(b->ttl_resp),
						   "$2\r\nEX\r\n$%zu\r\n%s\r\n", b->ttl_len, b->ttl_s);
	}
	b->vlen_len = (size_t)snprintf(b->vlen_s, sizeof(b->vlen_s), "%zu", o.value_size);
	if (o.wait) {
		char n[16];
		int nl = snprintf(n, sizeof(n), "%u", o.wait);
		b->wait_len = (size_t)snprintf(b->wait_req, sizeof(b->wait_req),
					       "*3\r\n$4\r\nWAIT\r\n$%d\r\n%s\r\n$1\r\n0\r\n", nl, n);
	}
	b->req_max = (o.mset ? ss_bench_mset_len(o.mset, o.value_size) : o.value_size + 128) +
		     b->wait_len;
	b->expect = malloc(o.value_size);
	b->revs = o.cas ? calloc(o.keys, sizeof(*b->revs)) : NULL;
	b->loop = ev_loop_new(EVFLAG_AUTO);
	if (!b->loop || !b->expect || (o.cas && !b->revs) || alloc_conns(b) != 0) {
		fprintf(stderr, "statestore-bench: out of memory\n");
		goto out;
	}
	ev_timer_init(&b->deadline, on_deadline, 0., 0.);
	ev_timer_init(&b->watchdog, on_watchdog, 0., STALL_LIMIT_S);
	ev_signal_init(&b->sigint, on_signal, SIGINT);
	ev_signal_init(&b->sigterm, on_signal, SIGTERM);
	b->deadline.data = b->watchdog.data = b->sigint.data = b->sigterm.data = b;
	ev_signal_start(b->loop, &b->sigint);
	ev_signal_start(b->loop, &b->sigterm);
	if (connect_all(b) != 0)
		goto out;
	for (unsigned i = 0; i < b->nconns; i++)
		ev_io_start(b->loop, &b->conns[i].rio);
	if (o.format == SS_BENCH_TEXT)
		printf("statestore-bench: %s %s:%s, %u connections, depth %u, %s, %llu keys, "
		       "%zu-byte values\n",
		       o.redis ? "redis" : "statestored", o.host, o.port, o.conns, o.pipeline,
		       workload_name(&o, wl, sizeof(wl)), (unsigned long long)o.keys,
		       o.value_size);
	fflush(stdout);

	if (o.load_keys || o.prefill) {
		b->depth = load_depth;
		if (run_phase(b, PH_LOAD, o.keys, 0) != 0)
			goto out;
		if (o.load_keys) {
			report(b, "load");
			status = 0;
			goto out;
		}
		b->depth = o.pipeline;
	}
	if (o.check) {
		uint64_t n = o.check_seq < o.keys ? o.check_seq : o.keys;
		if (n > 0 && run_phase(b, PH_CHECK, n, 0) != 0)
			goto out;
		report(b, "check");
		status = 0;
		goto out;
	}
	/* Every pipeline a connection owns, once: the revision its first CAS
	 * expects (0 for one that does not exist yet). */
	if (o.cas && run_phase(b, PH_GETREV, o.keys, 0) != 0)
		goto out;
	if (run_phase(b, PH_RUN, o.requests ? o.requests : UINT64_MAX,
		      o.requests ? 0 : o.warmup + o.duration) != 0)
		goto out;
	report(b, "run");
	status = 0;
out:
	free_conns(b);
	if (b->loop)
		ev_loop_destroy(b->loop);
	free(b->expect);
	free(b->revs);
	free(b);
	return status;
}
