/* test_redis.c - the RESP commands at the session layer, where a quick
 * version goes wrong: no write's reply before its batch is committed,
 * decisions in staging order across sessions, reads behind a session's own
 * writes, RESP3, MULTI/EXEC/DISCARD/WATCH on the group commit (one batch,
 * nil on a moved watch, waiting for room), the text protocol on the same
 * session, and protocol errors.
 *
 * The fixture is test_session.c's: a table, a batch, a pending index and
 * sessions; a "commit" applies the batch to the table and answers every op
 * with ss_session_answer, then ends the batch with ss_pending_done, as the
 * server's commit cycle does after its fdatasync. Requests are RESP-framed
 * by a tiny encoder; replies are compared byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cmd/session.h"
#include "statestored/limits.h"
#include "statestored/record.h"

#define NS 3 /* sessions: two clients and, for the batch-room test, a filler */
#define NOW 1000000

struct fixture {
	struct ss_table *t;
	struct ss_batch b;
	struct ss_pending p;
	struct ss_session s[NS];
	uint64_t rejected;
	int compact_requested;
	struct ss_session_env env;
	uint64_t seq;
};

static const struct ss_cmd_config config[] = {{"port", "7000", 0}, {"max-line", "4096", 0}};

/* STATS' rows: one, the number of entries. */
static int stats(void *arg, const struct ss_proto *proto, struct ss_buf *out)
{
	struct fixture *f = arg;
	char n[24];

	snprintf(n, sizeof n, "%zu", ss_table_count(f->t));
	return proto->row(out, "entries", n) < 0 ? -1 : 1;
}

static int setup(void **state)
{
	static struct fixture f;
	memset(&f, 0, sizeof(f));
	f.t = ss_table_new(4);
	assert_non_null(f.t);
	ss_batch_init(&f.b);
	ss_pending_init(&f.p, ss_table_revision(f.t));
	for (int i = 0; i < NS; i++)
		ss_session_init(&f.s[i], (uint64_t)i + 1);
	f.env = (struct ss_session_env){.table = f.t,
					.batch = &f.b,
					.pending = &f.p,
					.now_ms = NOW,
					.max_line = 4096,
					.batch_max_bytes = 1 << 20,
					.rejected = &f.rejected,
					.compact_requested = &f.compact_requested,
					.stats = stats,
					.stats_arg = &f,
					.config = config,
					.nconfig = sizeof config / sizeof config[0]};
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	ss_table_free(f->t);
	ss_batch_free(&f->b);
	ss_pending_free(&f->p);
	for (int i = 0; i < NS; i++)
		ss_session_free(&f->s[i]);
	return 0;
}

/* ---- the client side --------------------------------------------------- */

/* Session i sends one RESP request: the NULL-terminated arguments, each a
 * bulk string. */
static void send_resp(struct fixture *f, int i, ...)
{
	struct ss_buf *in = &f->s[i].in;
	const char *a;
	va_list ap;
	int n = 0;

	va_start(ap, i);
	while (va_arg(ap, const char *))
		n++;
	va_end(ap);
	assert_int_equal(ss_buf_printf(in, "*%d\r\n", n), 0);
	va_start(ap, i);
	while ((a = va_arg(ap, const char *)))
		assert_int_equal(ss_buf_printf(in, "$%zu\r\n%s\r\n", strlen(a), a), 0);
	va_end(ap);
}
#define SEND(f, i, ...) send_resp((f), (i), __VA_ARGS__, (const char *)NULL)

/* Raw bytes: a text line, or malformed RESP. */
static void send_raw(struct fixture *f, int i, const char *bytes)
{
	assert_int_equal(ss_buf_append(&f->s[i].in, bytes, strlen(bytes)), 0);
}

static enum ss_session_result run(struct fixture *f, int i)
{
	return ss_session_execute(&f->s[i], &f->env);
}

/* What session i's client reads now (everything sent so far); the buffer
 * holds until the next call. */
static const char *receive(struct fixture *f, int i)
{
	static char got[16384];
	size_t n = ss_buf_size(&f->s[i].out);
	assert_true(n < sizeof(got));
	memcpy(got, ss_buf_head(&f->s[i].out), n);
	got[n] = '\0';
	ss_buf_consume(&f->s[i].out, n);
	return got;
}

/* s with CR and LF shown as \r and \n, cut to fit out (512 bytes). */
static const char *visible(const char *s, char *out)
{
	size_t k = 0;
	for (; *s && k < 500; s++) {
		if (*s == '\r' || *s == '\n') {
			out[k++] = '\\';
			out[k++] = *s == '\r' ? 'r' : 'n';
		} else {
			out[k++] = *s;
		}
	}
	out[k] = '\0';
	return out;
}

/* Session i's client has read exactly want since it last read. */
static void expect_out(struct fixture *f, int i, const char *want, int line)
{
	const char *got = receive(f, i);
	char a[512], b[512];
	if (strcmp(got, want) != 0)
		fail_msg("line %d: session %d read \"%s\", want \"%s\"", line, i, visible(got, a),
			 visible(want, b));
}
#define EXPECT(f, i, want) expect_out((f), (i), (want), __LINE__)

/* ---- the server side --------------------------------------------------- */

static int owned(const struct fixture *f, const void *owner)
{
	for (int i = 0; i < NS; i++)
		if (owner == &f->s[i])
			return 1;
	return 0;
}

/* The batch is durable: apply its records to the table (unescaping what
 * the log holds escaped, as store.c does), answer every op, end it for the
 * staged state. Returns how many answers said "resume this session". */
static int commit(struct fixture *f)
{
	static char name[SS_NAME_MAX], value[SS_VALUE_MAX];
	int first = 0;

	f->seq++;
	for (size_t i = 0; i < f->b.nops; i++) {
		struct ss_op *op = &f->b.ops[i];
		const char *n = f->b.buf + op->name_off, *v = f->b.buf + op->value_off;
		if (op->type == SS_OP_REPLY)
			continue;
		ss_table_note_revision(f->t, op->rev);
		if (op->esc & SS_REC_NAME_ESC) {
			assert_int_equal(ss_record_unescape(n, op->nlen, name), op->nraw);
			n = name;
		}
		if (op->type == SS_REC_DEL) {
			op->result = (int8_t)ss_table_del(f->t, n, op->nraw, f->env.now_ms);
			continue;
		}
		assert_int_equal(op->type, SS_REC_SET);
		if (op->expire_ms && op->expire_ms <= f->env.now_ms) {
			(void)ss_table_del(f->t, n, op->nraw, f->env.now_ms);
			continue;
		}
		if (op->esc & SS_REC_VALUE_ESC) {
			assert_int_equal(ss_record_unescape(v, op->vlen, value), op->vraw);
			v = value;
		}
		assert_int_equal(ss_table_set(f->t, n, op->nraw, v, op->vraw, op->expire_ms, op->rev,
					      op->commit_ms, f->env.now_ms),
				 0);
	}
	for (size_t i = 0; i < f->b.nops; i++) {
		assert_true(owned(f, f->b.ops[i].owner));
		int r = ss_session_answer(&f->b, &f->b.ops[i], 1, 0, f->seq);
		assert_false(r & SS_ANSWER_NOMEM);
		first += r & SS_ANSWER_FIRST;
	}
	ss_pending_done(&f->p, &f->b, 1);
	ss_batch_reset(&f->b);
	return first;
}

/* The batch's write failed (errnum): nothing applied, every op answered
 * with the write's error, its revisions handed out again. */
static void commit_failed(struct fixture *f, int errnum)
{
	f->seq++;
	for (size_t i = 0; i < f->b.nops; i++)
		assert_false(ss_session_answer(&f->b, &f->b.ops[i], 0, errnum, f->seq) &
			     SS_ANSWER_NOMEM);
	ss_pending_done(&f->p, &f->b, 0);
	ss_batch_reset(&f->b);
}

/* ---- writes answer after their commit ------------------------------------ */

/* Each write alone: staged, no reply, one owed; after the commit, its exact
 * reply. A reply sent before the fdatasync would acknowledge what a crash
 * can take back. */
static void test_a_write_replies_only_after_its_commit(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *argv[6];
		const char *reply;
	} cases[] = {
		{{"SET", "k", "v"}, "+OK\r\n"},
		{{"INCR", "n"}, ":1\r\n"},
		{{"INCR", "n"}, ":2\r\n"},
		{{"SETNX", "k", "w"}, ":0\r\n"},
		{{"SETNX", "j", "w"}, ":1\r\n"},
		{{"GETSET", "k", "v2"}, "$1\r\nv\r\n"},
		{{"GETSET", "fresh", "x"}, "$-1\r\n"},
		{{"EXPIRE", "k", "100"}, ":1\r\n"},
		{{"EXPIRE", "missing", "100"}, ":0\r\n"},
		{{"DEL", "k", "j", "missing"}, ":2\r\n"},
		{{"DEL", "k"}, ":0\r\n"},
		{{"SET", "k", "v", "NX"}, "+OK\r\n"},
		{{"SET", "k", "v", "NX"}, "$-1\r\n"},
	};

	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		struct ss_buf *in = &f->s[0].in;
		int argc = 0;
		while (argc < 6 && cases[c].argv[argc])
			argc++;
		assert_int_equal(ss_buf_printf(in, "*%d\r\n", argc), 0);
		for (int a = 0; a < argc; a++)
			assert_int_equal(ss_buf_printf(in, "$%zu\r\n%s\r\n", strlen(cases[c].argv[a]),
						       cases[c].argv[a]),
					 0);
		assert_int_equal(run(f, 0), SS_SESSION_IDLE);
		assert_int_equal(ss_buf_size(in), 0); /* executed */
		assert_int_equal(f->s[0].pending, 1);
		assert_true(f->b.nops >= 1);
		EXPECT(f, 0, ""); /* not before the commit */
		assert_int_equal(commit(f), 1);
		assert_int_equal(f->s[0].pending, 0);
		EXPECT(f, 0, cases[c].reply);
	}
	/* The last SET's value is durable now. */
	SEND(f, 0, "GET", "k");
	SEND(f, 0, "GET", "n");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	EXPECT(f, 0, "$1\r\nv\r\n$1\r\n2\r\n");
}

/* Pipelined, the same writes are staged together, each deciding against the
 * ones before it, and answered in order after the one commit. */
static void test_pipelined_writes_answer_in_order_after_one_commit(void **state)
{
	struct fixture *f = *state;
	SEND(f, 0, "SET", "k", "v");
	SEND(f, 0, "INCR", "n");
	SEND(f, 0, "SETNX", "k", "x");
	SEND(f, 0, "GETSET", "k", "w");
	SEND(f, 0, "EXPIRE", "k", "50");
	SEND(f, 0, "DEL", "k", "n");
	SEND(f, 0, "PING");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	assert_int_equal(f->s[0].pending, 6);
	EXPECT(f, 0, "");
	assert_int_equal(commit(f), 1); /* one resume for six answers */
	EXPECT(f, 0, "+OK\r\n:1\r\n:0\r\n$1\r\nv\r\n:1\r\n:2\r\n");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	EXPECT(f, 0, "+PONG\r\n");
}

/* ---- decisions in staging order across sessions ---------------------------- */

static void test_two_sessions_decide_in_staging_order(void **state)
{
	struct fixture *f = *state;

	/* SET NX twice on one key in one batch: one sets, one is refused. */
	SEND(f, 0, "SET", "k", "first", "NX");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	SEND(f, 1, "SET", "k", "second", "NX");
	assert_int_equal(run(f, 1), SS_SESSION_IDLE);
	/* INCR twice on one key: 1, then 2 - not 1 and 1. */
	SEND(f, 0, "INCR", "n");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	SEND(f, 1, "INCR", "n");
	assert_int_equal(run(f, 1), SS_SESSION_IDLE);
	/* DEL twice on one key: the second finds nothing. */
	SEND(f, 0, "DEL", "n");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	SEND(f, 1, "DEL", "n");
	assert_int_equal(run(f, 1), SS_SESSION_IDLE);
	/* EXPIRE on a key set only in this batch. */
	SEND(f, 1, "EXPIRE", "k", "30");
	assert_int_equal(run(f, 1), SS_SESSION_IDLE);
	assert_int_equal(f->s[0].pending, 3);
	assert_int_equal(f->s[1].pending, 4);
	EXPECT(f, 0, "");
	EXPECT(f, 1, "");
	commit(f);
	EXPECT(f, 0, "+OK\r\n:1\r\n:1\r\n");
	EXPECT(f, 1, "$-1\r\n:2\r\n:0\r\n:1\r\n");
	SEND(f, 1, "GET", "k");
	SEND(f, 1, "TTL", "k");
	SEND(f, 1, "EXISTS", "n");
	assert_int_equal(run(f, 1), SS_SESSION_IDLE);
	EXPECT(f, 1, "$5\r\nfirst\r\n:30\r\n:0\r\n");

	/* GETSET answers the value staged just before it, by another
	 * session, not the durable one. */
	SEND(f, 0, "SET", "g", "old");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	commit(f);
	EXPECT(f, 0, "+OK\r\n");
	SEND(f, 0, "SET", "g", "mid");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	SEND(f, 1, "GETSET", "g", "new");
	assert_int_equal(run(f, 1), SS_SESSION_IDLE);
	SEND(f, 0, "GETSET", "g", "last");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	commit(f);
	EXPECT(f, 0, "+OK\r\n$3\r\nnew\r\n");
	EXPECT(f, 1, "$3\r\nmid\r\n");
	SEND(f, 1, "GET", "g");
	assert_int_equal(run(f, 1), SS_SESSION_IDLE);
	EXPECT(f, 1, "$4\r\nlast\r\n");
}

/* A read never runs ahead of its own session's staged write (it would
 * answer before it, and read state that is not durable); another
 * session's read sees only the durable state. */
static void test_a_read_waits_for_its_sessions_staged_write(void **state)
{
	struct fixture *f = *state;
	SEND(f, 0, "SET", "k", "v");
	SEND(f, 0, "GET", "k");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	assert_int_equal(f->b.nops, 1);
	assert_true(ss_buf_size(&f->s[0].in) > 0); /* the GET is still there */
	EXPECT(f, 0, "");
	SEND(f, 1, "GET", "k");
	assert_int_equal(run(f, 1), SS_SESSION_IDLE);
	EXPECT(f, 1, "$-1\r\n"); /* not durable yet */
	/* Running again changes nothing until the commit. */
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	EXPECT(f, 0, "");
	assert_int_equal(commit(f), 1);
	EXPECT(f, 0, "+OK\r\n");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	EXPECT(f, 0, "$1\r\nv\r\n");
	assert_int_equal(ss_buf_size(&f->s[0].in), 0);
}

/* ---- RESP3 ---------------------------------------------------------------- */

static void test_hello_3_switches_nil_and_maps(void **state)
{
	struct fixture *f = *state;

	/* RESP2 first, on session 1. */
	SEND(f, 1, "GET", "missing");
	SEND(f, 1, "CONFIG", "GET", "port");
	SEND(f, 1, "STATS");
	assert_int_equal(run(f, 1), SS_SESSION_IDLE);
	EXPECT(f, 1, "$-1\r\n*2\r\n$4\r\nport\r\n$4\r\n7000\r\n*2\r\n$7\r\nentries\r\n$1\r\n0\r\n");
	/* HELLO 4 is refused and changes nothing. */
	SEND(f, 1, "HELLO", "4");
	SEND(f, 1, "GET", "missing");
	assert_int_equal(run(f, 1), SS_SESSION_IDLE);
	EXPECT(f, 1, "-NOPROTO unsupported protocol version\r\n$-1\r\n");

	SEND(f, 0, "HELLO", "3");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	EXPECT(f, 0,
	       "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.2.0\r\n"
	       "$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:1\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n"
	       "$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n");
	SEND(f, 0, "GET", "missing");
	SEND(f, 0, "CONFIG", "GET", "port");
	SEND(f, 0, "STATS");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	EXPECT(f, 0, "_\r\n%1\r\n$4\r\nport\r\n$4\r\n7000\r\n%1\r\n$7\r\nentries\r\n$1\r\n0\r\n");

	/* A nil decided at staging is answered in RESP3 after the commit. */
	SEND(f, 0, "SET", "k", "v");
	SEND(f, 0, "SET", "k", "w", "NX");
	SEND(f, 0, "GETSET", "fresh", "x");
	SEND(f, 0, "GETDEL", "nothing");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	EXPECT(f, 0, "");
	commit(f);
	EXPECT(f, 0, "+OK\r\n_\r\n_\r\n_\r\n");
	/* Session 1 still speaks RESP2. */
	SEND(f, 1, "SET", "k", "w", "NX");
	assert_int_equal(run(f, 1), SS_SESSION_IDLE);
	commit(f);
	EXPECT(f, 1, "$-1\r\n");
}

/* ---- MULTI / EXEC ------------------------------------------------------------ */

static void test_exec_runs_the_queue_in_one_batch_and_answers_after_commit(void **state)
{
	struct fixture *f = *state;

	SEND(f, 1, "SET", "before", "1"); /* another session's write, same batch */
	assert_int_equal(run(f, 1), SS_SESSION_IDLE);
	SEND(f, 0, "MULTI");
	SEND(f, 0, "SET", "k", "v");
	SEND(f, 0, "GET", "k");
	SEND(f, 0, "INCR", "n");
	SEND(f, 0, "INCR", "n");
	SEND(f, 0, "MSET", "a", "1", "b", "2");
	SEND(f, 0, "GET", "before"); /* staged by session 1 before the EXEC */
	SEND(f, 0, "EXEC");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	/* Nothing of the queue ran before EXEC: only QUEUED. */
	EXPECT(f, 0, "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n");
	assert_int_equal(f->s[0].pending, 1);
	/* Session 1's SET, then EXEC's five records (SET, INCR, INCR, MSET's
	 * two) and its one reply op, all in this batch. */
	assert_int_equal(f->b.nrecs, 6);
	assert_int_equal(f->b.nops, 7);
	for (size_t i = 1; i < f->b.nops; i++)
		assert_ptr_equal(f->b.ops[i].owner, &f->s[0]);
	SEND(f, 0, "GET", "k"); /* after EXEC: waits for its answer */
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	EXPECT(f, 0, "");
	assert_int_equal(commit(f), 2); /* both sessions resume */
	EXPECT(f, 0, "*6\r\n+OK\r\n$1\r\nv\r\n:1\r\n:2\r\n+OK\r\n$1\r\n1\r\n");
	EXPECT(f, 1, "+OK\r\n");
	assert_int_equal(f->s[0].pending, 0);
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	EXPECT(f, 0, "$1\r\nv\r\n");
	/* The transaction is over: a GET runs at once again. */
	SEND(f, 0, "GET", "n");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	EXPECT(f, 0, "$1\r\n2\r\n");
}

/* Inside EXEC a refused write is one element of the array, not an abort:
 * Redis runs the rest. */
static void test_exec_answers_a_failing_command_in_its_array(void **state)
{
	struct fixture *f = *state;
	SEND(f, 0, "SET", "s", "text");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	commit(f);
	EXPECT(f, 0, "+OK\r\n");
	SEND(f, 0, "MULTI");
	SEND(f, 0, "INCR", "s");
	SEND(f, 0, "SET", "k", "v", "NX");
	SEND(f, 0, "SET", "k", "w", "NX");
	SEND(f, 0, "EXEC");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	EXPECT(f, 0, "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n");
	assert_int_equal(f->b.nrecs, 1);
	commit(f);
	EXPECT(f, 0, "*3\r\n-ERR value is not an integer or out of range\r\n+OK\r\n$-1\r\n");
}

static void exec_aborts(struct fixture *f, const char *queued_error, int line)
{
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	char want[512];
	snprintf(want, sizeof want,
		 "+OK\r\n+QUEUED\r\n%s-EXECABORT Transaction discarded because of previous "
		 "errors.\r\n",
		 queued_error);
	expect_out(f, 0, want, line);
	/* Nothing staged: not the SET queued before the error either. */
	assert_int_equal(f->b.nops, 0);
	assert_int_equal(f->s[0].pending, 0);
	assert_int_equal(f->s[0].client.multi, 0);
	/* And the connection left the transaction. */
	SEND(f, 0, "GET", "k");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	expect_out(f, 0, "$-1\r\n", line);
}

static void test_an_unknown_command_while_queued_aborts_exec(void **state)
{
	struct fixture *f = *state;
	SEND(f, 0, "MULTI");
	SEND(f, 0, "SET", "k", "v");
	SEND(f, 0, "FOO", "a", "b");
	SEND(f, 0, "SET", "k2", "v");
	SEND(f, 0, "EXEC");
	exec_aborts(f, "-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n+QUEUED\r\n",
		    __LINE__);
}

static void test_a_wrong_arity_while_queued_aborts_exec(void **state)
{
	struct fixture *f = *state;
	SEND(f, 0, "MULTI");
	SEND(f, 0, "SET", "k", "v");
	SEND(f, 0, "GET");
	SEND(f, 0, "EXEC");
	exec_aborts(f, "-ERR wrong number of arguments for 'get' command\r\n", __LINE__);
}

/* Reads of the durable state as a whole would not show the transaction's
 * own writes: refused while queued, and the EXEC aborts. */
static void test_a_refused_read_in_multi_aborts_exec(void **state)
{
	struct fixture *f = *state;
	SEND(f, 0, "MULTI");
	SEND(f, 0, "SET", "k", "v");
	SEND(f, 0, "SCAN", "0");
	SEND(f, 0, "EXEC");
	exec_aborts(f,
		    "-ERR 'scan' is not allowed in a transaction: it reads the durable state, "
		    "which would not show the transaction's own writes\r\n",
		    __LINE__);
	SEND(f, 0, "MULTI");
	SEND(f, 0, "SET", "k", "v");
	SEND(f, 0, "GET_CHECKPOINT", "k");
	SEND(f, 0, "EXEC");
	exec_aborts(f,
		    "-ERR 'get_checkpoint' is not allowed in a transaction: it reads the durable "
		    "state, which would not show the transaction's own writes\r\n",
		    __LINE__);
}

/* Redis's texts; a nested MULTI or a WATCH inside MULTI is an error that
 * does not abort the transaction (as in Redis, the EXEC still runs). */
static void test_transaction_misuse_errors(void **state)
{
	struct fixture *f = *state;
	SEND(f, 0, "EXEC");
	SEND(f, 0, "DISCARD");
	SEND(f, 0, "MULTI");
	SEND(f, 0, "MULTI");
	SEND(f, 0, "WATCH", "x");
	SEND(f, 0, "SET", "k", "v");
	SEND(f, 0, "EXEC");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	EXPECT(f, 0,
	       "-ERR EXEC without MULTI\r\n-ERR DISCARD without MULTI\r\n+OK\r\n"
	       "-ERR MULTI calls can not be nested\r\n-ERR WATCH inside MULTI is not allowed\r\n"
	       "+QUEUED\r\n");
	assert_int_equal(f->b.nrecs, 1);
	commit(f);
	EXPECT(f, 0, "*1\r\n+OK\r\n");

	/* DISCARD drops the queue: nothing staged, the key never set. */
	SEND(f, 0, "MULTI");
	SEND(f, 0, "SET", "d", "v");
	SEND(f, 0, "DISCARD");
	SEND(f, 0, "GET", "d");
	SEND(f, 0, "EXEC");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	EXPECT(f, 0, "+OK\r\n+QUEUED\r\n+OK\r\n$-1\r\n-ERR EXEC without MULTI\r\n");
	assert_int_equal(f->b.nops, 0);
	/* An empty transaction answers an empty array, after a commit. */
	SEND(f, 0, "MULTI");
	SEND(f, 0, "EXEC");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	EXPECT(f, 0, "+OK\r\n");
	commit(f);
	EXPECT(f, 0, "*0\r\n");
}

/* ---- WATCH -------------------------------------------------------------------- */

/* Session 0 runs MULTI; SET k mine; EXEC; answered with the commit. */
static void watched_exec(struct fixture *f)
{
	SEND(f, 0, "MULTI");
	SEND(f, 0, "SET", "k", "mine");
	SEND(f, 0, "EXEC");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	EXPECT(f, 0, "+OK\r\n+QUEUED\r\n");
	assert_int_equal(f->s[0].pending, 1);
}

static void test_a_watched_key_changed_by_a_staged_write_fails_exec(void **state)
{
	struct fixture *f = *state;
	SEND(f, 0, "WATCH", "k");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	EXPECT(f, 0, "+OK\r\n");
	SEND(f, 1, "SET", "k", "theirs"); /* staged, not durable yet */
	assert_int_equal(run(f, 1), SS_SESSION_IDLE);
	watched_exec(f);
	/* Session 1's record only; EXEC staged its nil and nothing else. */
	assert_int_equal(f->b.nrecs, 1);
	assert_int_equal(f->b.nops, 2);
	commit(f);
	EXPECT(f, 0, "*-1\r\n");
	EXPECT(f, 1, "+OK\r\n");
	SEND(f, 0, "GET", "k");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	EXPECT(f, 0, "$6\r\ntheirs\r\n");
	/* EXEC forgot the watch: the next transaction applies. */
	watched_exec(f);
	commit(f);
	EXPECT(f, 0, "*1\r\n+OK\r\n");
}

static void test_a_watched_key_changed_by_a_committed_write_fails_exec(void **state)
{
	struct fixture *f = *state;
	SEND(f, 0, "HELLO", "3");
	SEND(f, 0, "WATCH", "k");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	receive(f, 0);
	SEND(f, 1, "SET", "k", "theirs");
	assert_int_equal(run(f, 1), SS_SESSION_IDLE);
	commit(f);
	EXPECT(f, 1, "+OK\r\n");
	watched_exec(f);
	assert_int_equal(f->b.nrecs, 0);
	assert_int_equal(f->b.nops, 1);
	commit(f);
	EXPECT(f, 0, "_\r\n"); /* RESP3's nil */
}

/* A watch on keys nobody touched (another key changed) lets EXEC apply;
 * so does UNWATCH after a change. */
static void test_an_unchanged_watch_lets_exec_apply(void **state)
{
	struct fixture *f = *state;
	SEND(f, 1, "SET", "k", "v1");
	assert_int_equal(run(f, 1), SS_SESSION_IDLE);
	commit(f);
	EXPECT(f, 1, "+OK\r\n");
	SEND(f, 0, "WATCH", "k", "absent");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	EXPECT(f, 0, "+OK\r\n");
	SEND(f, 1, "SET", "other", "1");
	SEND(f, 1, "GET", "k"); /* reads change nothing */
	assert_int_equal(run(f, 1), SS_SESSION_IDLE);
	commit(f);
	assert_int_equal(run(f, 1), SS_SESSION_IDLE);
	EXPECT(f, 1, "+OK\r\n$2\r\nv1\r\n");
	watched_exec(f);
	assert_int_equal(f->b.nrecs, 1);
	commit(f);
	EXPECT(f, 0, "*1\r\n+OK\r\n");

	SEND(f, 0, "WATCH", "k");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	SEND(f, 1, "SET", "k", "v2");
	assert_int_equal(run(f, 1), SS_SESSION_IDLE);
	commit(f);
	SEND(f, 0, "UNWATCH");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	EXPECT(f, 0, "+OK\r\n+OK\r\n");
	watched_exec(f);
	commit(f);
	EXPECT(f, 0, "*1\r\n+OK\r\n");
}

/* A watched key changed by the watcher itself counts too, as in Redis. */
static void test_a_watched_key_changed_by_its_own_session_fails_exec(void **state)
{
	struct fixture *f = *state;
	SEND(f, 0, "WATCH", "k");
	SEND(f, 0, "SET", "k", "self");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	commit(f);
	EXPECT(f, 0, "+OK\r\n+OK\r\n");
	watched_exec(f);
	commit(f);
	EXPECT(f, 0, "*-1\r\n");
}

static void test_a_watched_key_that_expired_fails_exec(void **state)
{
	struct fixture *f = *state;
	SEND(f, 1, "SET", "k", "v", "PX", "500");
	assert_int_equal(run(f, 1), SS_SESSION_IDLE);
	commit(f);
	EXPECT(f, 1, "+OK\r\n");
	SEND(f, 0, "WATCH", "k");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	EXPECT(f, 0, "+OK\r\n");
	f->env.now_ms += 1000; /* k expires */
	watched_exec(f);
	assert_int_equal(f->b.nrecs, 0);
	commit(f);
	EXPECT(f, 0, "*-1\r\n");
}

/* Absent at WATCH, then created and deleted again: Redis fails the EXEC
 * (both writes touched the key), though a revision compare sees 0 == 0:
 * the watch registry (pending.h) saw the writes. */
static void test_a_watched_key_created_and_deleted_fails_exec(void **state)
{
	struct fixture *f = *state;
	SEND(f, 0, "WATCH", "k");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	EXPECT(f, 0, "+OK\r\n");
	SEND(f, 1, "SET", "k", "x");
	SEND(f, 1, "DEL", "k");
	assert_int_equal(run(f, 1), SS_SESSION_IDLE);
	commit(f);
	EXPECT(f, 1, "+OK\r\n:1\r\n");
	watched_exec(f);
	commit(f);
	EXPECT(f, 0, "*-1\r\n");
}

/* WATCH saw a write still staged; its batch failed and the revision was
 * handed out again, to another write of the same key. The key changed
 * after WATCH (a value the watcher never saw is durable now). */
static void test_a_watched_revision_reused_after_a_failed_batch_fails_exec(void **state)
{
	struct fixture *f = *state;
	SEND(f, 1, "SET", "k", "v1");
	assert_int_equal(run(f, 1), SS_SESSION_IDLE);
	commit(f);
	EXPECT(f, 1, "+OK\r\n");
	SEND(f, 1, "SET", "k", "lost");
	assert_int_equal(run(f, 1), SS_SESSION_IDLE);
	SEND(f, 0, "WATCH", "k"); /* sees "lost", revision 2, staged */
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	EXPECT(f, 0, "+OK\r\n");
	commit_failed(f, 28 /* ENOSPC */);
	EXPECT(f, 1, "-ERR log write failed: No space left on device\r\n");
	SEND(f, 1, "SET", "k", "v3"); /* takes revision 2 again */
	assert_int_equal(run(f, 1), SS_SESSION_IDLE);
	commit(f);
	EXPECT(f, 1, "+OK\r\n");
	watched_exec(f);
	commit(f);
	EXPECT(f, 0, "*-1\r\n");
}


/* ---- FLUSHALL ------------------------------------------------------------------ */

/* FLUSHALL deletes the durable keys and the ones only staged before it, in
 * one group at one revision, answered after the commit; a write staged
 * after it stays. */
static void test_flushall_deletes_durable_and_staged_keys_at_one_revision(void **state)
{
	struct fixture *f = *state;
	SEND(f, 0, "MSET", "a", "1", "b", "2");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	commit(f);
	EXPECT(f, 0, "+OK\r\n");
	uint64_t before = f->p.rev;
	SEND(f, 1, "SET", "c", "3"); /* staged, not durable */
	assert_int_equal(run(f, 1), SS_SESSION_IDLE);
	SEND(f, 0, "FLUSHALL");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	SEND(f, 1, "SET", "d", "4"); /* after the flush */
	assert_int_equal(run(f, 1), SS_SESSION_IDLE);
	EXPECT(f, 0, "");
	/* c's SET, three DELs (a, b, c) at one revision, d's SET. */
	assert_int_equal(f->b.nrecs, 5);
	assert_int_equal(f->b.ops[1].rev, f->b.ops[3].rev);
	assert_int_equal(f->b.ops[1].rev, before + 2);
	commit(f);
	EXPECT(f, 0, "+OK\r\n");
	EXPECT(f, 1, "+OK\r\n+OK\r\n");
	SEND(f, 0, "DBSIZE");
	SEND(f, 0, "KEYS", "*");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	EXPECT(f, 0, ":1\r\n*1\r\n$1\r\nd\r\n");
	/* An empty store: nothing staged, still answered after the commit. */
	SEND(f, 0, "FLUSHDB", "ASYNC");
	SEND(f, 0, "FLUSHALL");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	commit(f);
	EXPECT(f, 0, "+OK\r\n+OK\r\n");
	SEND(f, 0, "FLUSHALL", "NOW");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	EXPECT(f, 0, "-ERR syntax error\r\n");
}

/* A flush touches every watched key; inside MULTI it is refused. */
static void test_flushall_fails_a_watch_and_is_refused_in_multi(void **state)
{
	struct fixture *f = *state;
	SEND(f, 1, "SET", "k", "v");
	assert_int_equal(run(f, 1), SS_SESSION_IDLE);
	commit(f);
	EXPECT(f, 1, "+OK\r\n");
	SEND(f, 0, "WATCH", "k");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	EXPECT(f, 0, "+OK\r\n");
	SEND(f, 1, "FLUSHALL");
	assert_int_equal(run(f, 1), SS_SESSION_IDLE);
	commit(f);
	EXPECT(f, 1, "+OK\r\n");
	watched_exec(f);
	commit(f);
	EXPECT(f, 0, "*-1\r\n");
	SEND(f, 0, "MULTI");
	SEND(f, 0, "SET", "k", "v");
	SEND(f, 0, "FLUSHALL");
	SEND(f, 0, "EXEC");
	exec_aborts(f, "-ERR 'flushall' is not allowed in a transaction\r\n", __LINE__);
}

/* ---- EXEC waits for room in the open batch ------------------------------------- */

static void test_exec_waits_for_a_batch_with_room(void **state)
{
	struct fixture *f = *state;

	/* The open batch holds SS_GROUP_MAX - 2 ops (reply ops of a third
	 * session that owe nothing). */
	for (size_t i = 0; i < SS_GROUP_MAX - 2; i++)
		assert_int_equal(ss_batch_add_reply(&f->b, &f->s[2], 0, 0, NULL, 0), 0);
	SEND(f, 1, "SET", "x", "1"); /* one op still fits */
	assert_int_equal(run(f, 1), SS_SESSION_IDLE);
	assert_int_equal(f->b.nops, SS_GROUP_MAX - 1);
	uint64_t next = ss_pending_next(&f->p);

	/* EXEC needs at most four (a record per argument of SET k v, and its
	 * reply): it does not fit, so it waits, staging nothing. */
	SEND(f, 0, "MULTI");
	SEND(f, 0, "SET", "k", "v");
	SEND(f, 0, "EXEC");
	assert_int_equal(run(f, 0), SS_SESSION_FULL);
	EXPECT(f, 0, "+OK\r\n+QUEUED\r\n");
	assert_int_equal(f->b.nops, SS_GROUP_MAX - 1);
	assert_int_equal(f->b.nrecs, 1);
	assert_int_equal(ss_pending_next(&f->p), next);
	assert_int_equal(f->s[0].pending, 0);
	assert_true(ss_buf_size(&f->s[0].in) > 0); /* EXEC not consumed */
	assert_int_equal(f->s[0].client.multi, 1);
	assert_int_equal(run(f, 0), SS_SESSION_FULL); /* still no room */

	commit(f);
	EXPECT(f, 1, "+OK\r\n");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	assert_int_equal(f->b.nrecs, 1);
	assert_int_equal(f->b.nops, 2);
	EXPECT(f, 0, "");
	commit(f);
	EXPECT(f, 0, "*1\r\n+OK\r\n");
}

/* ---- the text protocol on the same session --------------------------------------- */

static void test_the_text_protocol_is_unchanged_on_a_resp_session(void **state)
{
	struct fixture *f = *state;
	char want[512];

	SEND(f, 0, "SET", "spaced", "a b"); /* a value text cannot carry */
	SEND(f, 0, "SET", "plain", "v");
	send_raw(f, 0, "GET_CHECKPOINT plain\n"); /* waits for the switch */
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	assert_int_equal(f->b.nrecs, 2);
	EXPECT(f, 0, "");
	commit(f);
	EXPECT(f, 0, "+OK\r\n+OK\r\n");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	EXPECT(f, 0, "v\n");
	send_raw(f, 0, "GET_CHECKPOINT spaced\nGET_CHECKPOINT none\nPING\n");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	EXPECT(f, 0,
	       "ERR the value holds bytes the text protocol cannot carry; read it over RESP\n"
	       "NULL\nPONG\n");
	/* LIST_CHECKPOINTS over text leaves the spaced value out. */
	send_raw(f, 0, "LIST_CHECKPOINTS 0\n");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	EXPECT(f, 0, "CURSOR 0\nplain 2 1000000 v\nEND\n");
	/* Over RESP it shows both (in the table's order). */
	SEND(f, 0, "LIST_CHECKPOINTS", "0");
	SEND(f, 0, "GET_CHECKPOINT", "spaced");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	const char *got = receive(f, 0);
	const char *row1 = "*4\r\n$6\r\nspaced\r\n:1\r\n:1000000\r\n$3\r\na b\r\n";
	const char *row2 = "*4\r\n$5\r\nplain\r\n:2\r\n:1000000\r\n$1\r\nv\r\n";
	const char *tail = "$3\r\na b\r\n";
	snprintf(want, sizeof want, "*2\r\n$1\r\n0\r\n*2\r\n%s%s%s", row1, row2, tail);
	char alt[512];
	snprintf(alt, sizeof alt, "*2\r\n$1\r\n0\r\n*2\r\n%s%s%s", row2, row1, tail);
	if (strcmp(got, want) != 0 && strcmp(got, alt) != 0) {
		char a[512], b[512];
		fail_msg("read \"%s\", want \"%s\" (rows in either order)", visible(got, a),
			 visible(want, b));
	}
	/* And a text write after RESP replies in text. */
	send_raw(f, 0, "SET_CHECKPOINT t 1\n");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	commit(f);
	EXPECT(f, 0, "OK\n");
	SEND(f, 0, "GET", "t");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	EXPECT(f, 0, "$1\r\n1\r\n");
}

/* ---- protocol errors ----------------------------------------------------------------- */

static void test_a_protocol_error_answers_and_closes(void **state)
{
	struct fixture *f = *state;
	SEND(f, 0, "SET", "k", "v");
	send_raw(f, 0, "*1\r\n$x\r\n");
	SEND(f, 0, "SET", "after", "1");
	SEND(f, 0, "PING");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	assert_int_equal(f->b.nops, 1); /* the first SET only */
	EXPECT(f, 0, "");               /* the SET's +OK comes first */
	assert_int_equal(f->rejected, 0);
	commit(f);
	EXPECT(f, 0, "+OK\r\n");
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	EXPECT(f, 0, "-ERR Protocol error: invalid bulk length\r\n");
	assert_true(f->s[0].close_after);
	assert_int_equal(f->rejected, 1);
	assert_int_equal(f->b.nops, 0); /* nothing after it ran */
	assert_int_equal(ss_buf_size(&f->s[0].in), 0);
	assert_true(ss_session_done(&f->s[0]));
	assert_int_equal(run(f, 0), SS_SESSION_IDLE);
	EXPECT(f, 0, "");
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_a_write_replies_only_after_its_commit),
		T(test_pipelined_writes_answer_in_order_after_one_commit),
		T(test_two_sessions_decide_in_staging_order),
		T(test_a_read_waits_for_its_sessions_staged_write),
		T(test_hello_3_switches_nil_and_maps),
		T(test_exec_runs_the_queue_in_one_batch_and_answers_after_commit),
		T(test_exec_answers_a_failing_command_in_its_array),
		T(test_an_unknown_command_while_queued_aborts_exec),
		T(test_a_wrong_arity_while_queued_aborts_exec),
		T(test_a_refused_read_in_multi_aborts_exec),
		T(test_transaction_misuse_errors),
		T(test_a_watched_key_changed_by_a_staged_write_fails_exec),
		T(test_a_watched_key_changed_by_a_committed_write_fails_exec),
		T(test_an_unchanged_watch_lets_exec_apply),
		T(test_a_watched_key_changed_by_its_own_session_fails_exec),
		T(test_a_watched_key_that_expired_fails_exec),
		T(test_a_watched_key_created_and_deleted_fails_exec),
		T(test_a_watched_revision_reused_after_a_failed_batch_fails_exec),
		T(test_flushall_deletes_durable_and_staged_keys_at_one_revision),
		T(test_flushall_fails_a_watch_and_is_refused_in_multi),
		T(test_exec_waits_for_a_batch_with_room),
		T(test_the_text_protocol_is_unchanged_on_a_resp_session),
		T(test_a_protocol_error_answers_and_closes),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
