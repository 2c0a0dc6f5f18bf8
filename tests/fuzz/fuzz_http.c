/*
 * fuzz_http.c - libFuzzer target for the HTTP endpoints: the session of
 * net/http.c (http-parser's glue, the bounds, keep-alive, pipelining)
 * answering through the daemon's own routing and exposition
 * (ss_metrics_handle, server/metrics.c) over a real store.
 *
 * The input is what a client sends, with escapes:
 *   0xff 0xff   a literal 0xff byte
 *   0xff 'e'    the client shuts its side (EOF); later bytes are not sent
 *   0xff 'u'    the store becomes unready (/readyz answers 503) or ready
 *   0xff other  a read boundary: what came before arrives in one read
 *
 * The stream is served twice, as conn.c serves a connection: a read takes
 * what ss_http_session_room allows, the session runs, and the client
 * reads every byte of output at once.
 *   flat   - every byte at once (in reads of what the room allows);
 *   split  - in the reads the escapes mark.
 * Oracles:
 *   - both give the same output, byte for byte, and end in the same state
 *     (requests answered, closing or not): how the bytes are cut into
 *     reads never changes what a client gets;
 *   - the input buffer never holds more than SS_HTTP_IN_MAX bytes, and the
 *     session never answers more than SS_HTTP_REQUESTS_MAX requests;
 *   - nothing is appended once the session is closing;
 *   - the output is a sequence of responses, each starting "HTTP/1.1 "
 *     with a status we send, and the last one before a close says
 *     "Connection: close".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzsupport.h"
#include "net/http.h"
#include "server/clients.h"
#include "server/compactor.h"
#include "server/metrics.h"
#include "statestored/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The daemon's parts the stats table reads: a real store, idle modules. */
static struct {
	struct ss_store *store;
	struct ss_commit commit;
	struct ss_compactor compactor;
	struct ss_clients clients;
	struct ss_loop_stats loop;
	struct ss_metrics metrics;
	int unready;
} fz;

static void sources(void *arg, struct ss_stats_sources *src)
{
	(void)arg;
	*src = (struct ss_stats_sources){.commit = &fz.commit, .compactor = &fz.compactor,
					 .clients = &fz.clients, .store = fz.store,
					 .loop = &fz.loop, .max_clients = 10,
					 .ready = !fz.unready};
}

static const char *unready(void *arg)
{
	(void)arg;
	return fz.unready ? "fuzzing \"unready\"\n\\" : NULL;
}

static void setup(void)
{
	struct ss_store_options opt = {.dir = fz_scratch_dir(), .io = &ss_io_posix};
	struct ss_metrics_ops ops = {.sources = sources, .unready = unready};
	struct ss_open_report rep;
	struct ss_error err;

	if (ss_store_open(&fz.store, &opt, FZ_LOG_NOW_MS, &rep, &err) < 0)
		fz_fail("cannot open the store: %s", err.msg);
	ss_stat_hist_latency(&fz.commit.st.fsync_us);
	ss_stat_hist_records(&fz.commit.st.batch_records);
	ss_stat_hist_observe(&fz.commit.st.fsync_us, 180);
	ss_stat_hist_observe(&fz.commit.st.batch_records, 3);
	if (ss_metrics_init(&fz.metrics, &fz.commit, &ops) < 0)
		fz_fail("ss_metrics_init");
}

struct run {
	struct ss_http_session s;
	struct ss_buf seen; /* every byte of output, in order */
	int answered;
};

static void drain(struct run *r)
{
	if (ss_buf_size(&r->s.out) > 0 &&
	    ss_buf_append(&r->seen, ss_buf_head(&r->s.out), ss_buf_size(&r->s.out)) < 0)
		fz_fail("out of memory");
	ss_buf_consume(&r->s.out, ss_buf_size(&r->s.out));
}

static void serve(struct run *r)
{
	int closing = r->s.close_after;
	size_t before = ss_buf_size(&r->s.out);
	int n = ss_http_session_run(&r->s);

	fz_check(n >= 0, "out of memory in the session");
	fz_check(!closing || ss_buf_size(&r->s.out) == before, "output after the close");
	r->answered += n;
	fz_check(r->s.served <= SS_HTTP_REQUESTS_MAX, "served %u requests", r->s.served);
	drain(r);
}

/* One read, as conn.c does it: at most the room. Returns the bytes taken. */
static size_t read_some(struct run *r, const char *p, size_t n)
{
	size_t room = ss_http_session_room(&r->s);

	if (room == 0)
		return 0;
	size_t take = n < room ? n : room;
	if (ss_buf_append(&r->s.in, p, take) < 0)
		fz_fail("out of memory");
	fz_check(ss_buf_size(&r->s.in) <= SS_HTTP_IN_MAX, "input past SS_HTTP_IN_MAX");
	serve(r);
	return take;
}

/* Sends p[0..n) in reads the room allows; stops when the session takes no
 * more (it is closing). */
static void send_bytes(struct run *r, const char *p, size_t n)
{
	while (n > 0) {
		size_t took = read_some(r, p, n);
		if (took == 0)
			return;
		p += took;
		n -= took;
	}
}

static void check_output(const struct run *r)
{
	const char *p = ss_buf_head(&r->seen);
	size_t n = ss_buf_size(&r->seen);

	if (n == 0)
		return;
	fz_check(n >= 12 && memcmp(p, "HTTP/1.1 ", 9) == 0, "output is not a response");
	int status = atoi(p + 9);
	fz_check(status == 200 || status == 400 || status == 404 || status == 405 ||
			 status == 431 || status == 503,
		 "status %d", status);
	if (r->s.close_after) {
		/* The last response says so. */
		const char *last = p, *q;
		while ((q = memmem(last + 1, n - (size_t)(last + 1 - p), "HTTP/1.1 ", 9)))
			last = q;
		fz_check(memmem(last, n - (size_t)(last - p), "Connection: close\r\n", 19) != NULL,
			 "closing without Connection: close");
	}
}

/* Runs the stream; split 1: in the reads the escapes mark. */
static void play(struct run *r, const uint8_t *data, size_t size, int split)
{
	char *lit = fz_alloc(size + 1);
	size_t n = 0;

	fz.unready = 0;
	ss_http_session_init(&r->s, ss_metrics_handle, &fz.metrics);
	ss_buf_init(&r->seen);
	r->answered = 0;
	for (size_t i = 0; i < size; i++) {
		if (data[i] != 0xff || i + 1 == size) {
			lit[n++] = (char)data[i];
			continue;
		}
		uint8_t e = data[++i];
		if (e == 0xff) {
			lit[n++] = (char)0xff;
		} else if (e == 'e') {
			break;
		} else if (e == 'u') {
			/* A state change: both runs see it after the same bytes. */
			send_bytes(r, lit, n);
			n = 0;
			fz.unready = !fz.unready;
		} else if (split) {
			send_bytes(r, lit, n);
			n = 0;
		}
	}
	send_bytes(r, lit, n);
	r->s.eof = 1;
	serve(r);
	free(lit);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct run flat, split;

	if (!ready) {
		setup();
		ready = 1;
	}
	play(&flat, data, size, 0);
	play(&split, data, size, 1);
	fz_check(ss_buf_size(&flat.seen) == ss_buf_size(&split.seen) &&
			 memcmp(ss_buf_head(&flat.seen), ss_buf_head(&split.seen),
				ss_buf_size(&flat.seen)) == 0,
		 "the reads changed the output: %zu bytes at once, %zu split",
		 ss_buf_size(&flat.seen), ss_buf_size(&split.seen));
	fz_check(flat.s.served == split.s.served && flat.s.close_after == split.s.close_after,
		 "the reads changed the end: %u/%u requests, closing %d/%d", flat.s.served,
		 split.s.served, flat.s.close_after, split.s.close_after);
	check_output(&flat);
	ss_http_session_free(&flat.s);
	ss_http_session_free(&split.s);
	ss_buf_free(&flat.seen);
	ss_buf_free(&split.seen);
	return 0;
}
