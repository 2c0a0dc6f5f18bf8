/*
 * server.c - the event loop, the listener, signals, background expiry and the
 * commit cycle; see server.h.
 *
 * The durability contract lives here, so here is how each rule is kept.
 *
 * 1. Nothing is acknowledged before it is durable: a mutation's reply is
 *    produced only by commit(), after ss_store_sync() has returned 0.
 * 2. Nothing non-durable is visible: mutations are staged in the open batch
 *    and reach the table (the only thing reads consult) in ss_store_apply,
 *    after the sync. A connection that has staged a mutation executes no
 *    read until that mutation is answered (the dispatcher answers SS_CMD_WAIT
 *    and the connection pauses), so even the writer cannot read ahead.
 * 3. Per-connection order: replies are appended to the connection's output
 *    in execution order; a connection with staged mutations only stages more
 *    (valid writes) and those are answered in batch order.
 * 4. Group commit: the batch is written and synced in the ev_prepare
 *    watcher, which runs once per loop iteration after every ready socket
 *    has been read: one write and one fdatasync for all of them.
 * 5. A failed write: the store cuts the log back; every op of the batch gets
 *    ERR and nothing reaches the table. Later batches are tried normally.
 *    If the cut-back failed too, the store refuses every later write until
 *    it is reopened: the ERRs go out, and the process exits SS_EXIT_ERROR
 *    rather than serve on, refusing everything, until someone notices.
 * 6. A failed fdatasync: nothing of the batch is answered, the loop stops and
 *    the process exits SS_EXIT_FSYNC. Retrying fsync after a failure can
 *    report success for pages the kernel already dropped.
 * 7. COMPACT runs between commits (nothing written and unapplied), so the
 *    snapshot holds every applied batch and later batches go to the new log.
 *    If only the directory fsync after the rename failed, the store is
 *    poisoned as after a failed fdatasync: COMPACT gets its ERR, then the
 *    process exits SS_EXIT_FSYNC.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "statestored/cmd.h"
#include "statestored/conn.h"
#include "statestored/server.h"
#include "statestored/store.h"

/* A batch stops taking new mutations past this size; they wait one commit. */
#define SS_BATCH_SOFT_MAX (8u * 1024 * 1024)
/* Background expiry: slots examined per round, rounds per tick at most. */
#define SS_EXPIRE_SLOTS 1024
#define SS_EXPIRE_ROUNDS 16
#define SS_EXPIRE_PERIOD 0.1

struct ss_stats {
	uint64_t commits;      /* mutations acknowledged */
	uint64_t batches;      /* batches written */
	uint64_t fsyncs;
	uint64_t fsync_us_total, fsync_us_max;
	uint64_t write_errors; /* mutations refused because the write failed */
	uint64_t rejected;     /* ERR replies */
	uint64_t compactions;
	uint64_t expired;      /* entries removed by background expiry */
	uint64_t connections;  /* accepted over the lifetime */
	uint64_t refused;      /* connections turned away at max clients */
};

struct ss_server {
	const struct ss_server_config *cfg;
	const struct ss_diag *diag;
	struct ev_loop *loop;
	struct ss_store *store;
	int listen_fd, spare_fd;
	ev_io accept_w;
	ev_timer accept_retry_w;
	ev_signal sigterm_w, sigint_w;
	ev_prepare commit_w;
	ev_idle spin_w;
	ev_timer expire_w;
	size_t expire_cursor;
	struct ss_batch batch;
	struct ss_conn_hooks hooks;
	struct ss_conn *conns; /* every connection not yet freed */
	size_t nclients;
	struct ss_conn **touched; /* scratch: connections of one batch */
	size_t ntouched, touchcap;
	struct ss_conn **waiters; /* paused by a full batch */
	size_t nwaiters, waitcap;
	uint64_t commit_seq;
	int compact_requested;
	int shutting_down;
	int exit_code;
	double started;
	double emfile_warned; /* when EMFILE was last logged */
	struct ss_stats st;
};

static int64_t now_ms(const struct ss_server *srv) { return (int64_t)(ev_now(srv->loop) * 1000.0); }

static uint64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void server_stats(void *arg, struct ss_buf *out);

/* Appends c to a growable array of connections. Returns 0 or -1 (ENOMEM). */
static int conn_array_push(struct ss_conn ***arr, size_t *n, size_t *cap, struct ss_conn *c)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		struct ss_conn **p = realloc(*arr, ncap * sizeof(*p));
		if (!p)
			return -1;
		*arr = p;
		*cap = ncap;
	}
	(*arr)[(*n)++] = c;
	return 0;
}

static void conn_unlink_free(struct ss_server *srv, struct ss_conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	ss_conn_free(c);
	free(c);
	srv->nclients--;
}

/* Sends what can be sent, closes a finished connection, and frees it once
 * nothing refers to it any more (no staged op, no COMPACT, no batch wait). */
static void settle(struct ss_server *srv, struct ss_conn *c)
{
	if (c->fd >= 0 && ss_conn_flush(c) < 0) {
		ss_buf_consume(&c->out, ss_buf_size(&c->out));
		ss_conn_close(c);
	}
	if (c->fd >= 0 && ss_conn_done(c))
		ss_conn_close(c);
	if (c->fd < 0 && c->pending == 0 && !c->compact_wait && !c->batch_wait)
		conn_unlink_free(srv, c);
}

/* Executes the complete requests in c's input until one must wait. */
static void process_input(struct ss_server *srv, struct ss_conn *c)
{
	struct ss_request req;
	struct ss_cmd_env env = {
		.table = ss_store_table(srv->store),
		.batch = &srv->batch,
		.owner = c,
		.now_ms = now_ms(srv),
		.rejected = &srv->st.rejected,
		.stats = server_stats,
		.stats_arg = srv,
	};

	int high;
again:
	high = 0;
	while (c->fd >= 0 && !c->close_after && !c->compact_wait && !srv->shutting_down) {
		/* Backpressure: past the high mark, execute nothing more until
		 * the client has read enough; on_writable resumes us once the
		 * output drains below the mark. */
		if (ss_buf_size(&c->out) >= SS_CONN_OUT_HIGH) {
			high = 1;
			break;
		}
		long n = ss_proto_parse(ss_buf_head(&c->in), ss_buf_size(&c->in), srv->cfg->max_line,
					&req);
		if (n == 0)
			break;
		if (n < 0) {
			if (c->pending > 0)
				break; /* answer once the earlier replies are out */
			srv->st.rejected++;
			if (ss_buf_puts(&c->out, "ERR line too long\n") < 0)
				ss_conn_close(c);
			ss_buf_consume(&c->in, ss_buf_size(&c->in));
			c->close_after = 1;
			break;
		}
		if (req.argc == 0) {
			ss_buf_consume(&c->in, (size_t)n);
			continue;
		}
		if (srv->batch.len >= SS_BATCH_SOFT_MAX || srv->batch.nops >= SS_GROUP_MAX) {
			if (!c->batch_wait &&
			    conn_array_push(&srv->waiters, &srv->nwaiters, &srv->waitcap, c) == 0)
				c->batch_wait = 1;
			break;
		}
		env.may_reply = c->pending == 0;
		enum ss_cmd_status s = ss_cmd_execute(&req, &env, &c->out);
		if (s == SS_CMD_WAIT)
			break;
		if (s == SS_CMD_NOMEM) {
			ss_error(srv->diag, "out of memory serving a request; closing the connection");
			ss_conn_close(c);
			break;
		}
		ss_buf_consume(&c->in, (size_t)n);
		if (s == SS_CMD_STAGED)
			c->pending++;
		else if (s == SS_CMD_COMPACT)
			c->compact_wait = 1, srv->compact_requested = 1;
		else if (s == SS_CMD_QUIT)
			c->close_after = 1;
	}
	/* The flush may drain the output completely, and then no writable
	 * event would come to resume us: go on right away. */
	if (high && ss_conn_flush(c) == 0 && ss_buf_size(&c->out) < SS_CONN_OUT_HIGH)
		goto again;
	settle(srv, c);
}

static void on_conn_input(struct ss_conn *c, void *arg) { process_input(arg, c); }

/* Stops everything after a failure that makes further service unsafe. */
static void fatal_stop(struct ss_server *srv, int code)
{
	srv->exit_code = code;
	srv->shutting_down = 1;
	for (struct ss_conn *c = srv->conns; c; c = c->next) {
		ss_buf_consume(&c->out, ss_buf_size(&c->out));
		ss_conn_close(c);
	}
	ev_break(srv->loop, EVBREAK_ALL);
}

/* Stops after a failure that left the store refusing every write until it
 * is reopened. Unlike fatal_stop, the replies already made (the ERRs that
 * say what failed) still go out, best effort, as on SIGTERM; the caller has
 * set shutting_down before resuming connections, so nothing more is
 * executed. The process then exits with code. */
static void stop_refusing(struct ss_server *srv, int code)
{
	ss_error(srv->diag,
		 "the log refuses every further write until it is reopened; exiting so that a "
		 "restart replays it");
	srv->exit_code = code;
	srv->shutting_down = 1;
	ev_io_stop(srv->loop, &srv->accept_w);
	ev_timer_stop(srv->loop, &srv->accept_retry_w);
	for (struct ss_conn *c = srv->conns; c; c = c->next)
		if (c->fd >= 0 && ss_conn_flush(c) < 0)
			ss_conn_close(c);
	ev_break(srv->loop, EVBREAK_ALL);
}

/* fdatasync, timed. Returns 0, or -1 after stopping the server. */
static int sync_log(struct ss_server *srv)
{
	struct ss_error err;
	uint64_t t0 = mono_us();
	int rc = ss_store_sync(srv->store, &err);
	uint64_t dt = mono_us() - t0;

	srv->st.fsyncs++;
	srv->st.fsync_us_total += dt;
	if (dt > srv->st.fsync_us_max)
		srv->st.fsync_us_max = dt;
	if (rc < 0) {
		ss_error(srv->diag,
			 "%s; nothing of the last batch was acknowledged; exiting so that a "
			 "restart replays the log",
			 err.msg);
		fatal_stop(srv, SS_EXIT_FSYNC);
		return -1;
	}
	return 0;
}

static void compact(struct ss_server *srv)
{
	struct ss_error err;
	uint64_t before = ss_store_log_bytes(srv->store);
	uint64_t t0 = mono_us();
	int rc = ss_store_compact(srv->store, now_ms(srv), &err);
	uint64_t dt = mono_us() - t0;

	srv->compact_requested = 0;
	if (rc == 0) {
		srv->st.compactions++;
		ss_info(srv->diag, "compaction: %zu entries, log %llu -> %llu bytes in %.1f ms",
			ss_table_count(ss_store_table(srv->store)), (unsigned long long)before,
			(unsigned long long)ss_store_log_bytes(srv->store), (double)dt / 1000.0);
	} else {
		ss_error(srv->diag, "compaction failed: %s", err.msg);
	}
	/* A failed directory fsync after the rename poisons the store. */
	int refusing = rc != 0 && ss_store_state(srv->store) != SS_STORE_OK;
	if (refusing)
		srv->shutting_down = 1; /* answer COMPACT, execute nothing more */
	struct ss_conn *next;
	for (struct ss_conn *c = srv->conns; c; c = next) {
		next = c->next;
		if (!c->compact_wait)
			continue;
		c->compact_wait = 0;
		if (ss_cmd_reply_compact(rc == 0 ? NULL : err.msg, &c->out) < 0)
			ss_conn_close(c);
		if (rc != 0)
			srv->st.rejected++;
		process_input(srv, c);
	}
	if (refusing)
		stop_refusing(srv, SS_EXIT_FSYNC);
}

/* Writes, syncs and applies the open batch, then answers it; resumes the
 * connections that waited on it; runs a requested compaction. */
static void commit(struct ss_server *srv)
{
	struct ss_batch *b = &srv->batch;

	if (b->nops > 0) {
		struct ss_error err;
		int written = ss_store_write(srv->store, b, &err) == 0;

		srv->commit_seq++;
		if (!written) {
			ss_warn(srv->diag, "%s; %zu mutations refused", err.msg, b->nops);
		} else {
			srv->st.batches++;
			if (sync_log(srv) < 0)
				return;
			if (ss_store_apply(srv->store, b, now_ms(srv)) < 0) {
				ss_error(srv->diag, "out of memory applying a durable batch; exiting so "
						    "that a restart replays the log");
				fatal_stop(srv, SS_EXIT_ERROR);
				return;
			}
		}
		srv->ntouched = 0;
		for (size_t i = 0; i < b->nops; i++) {
			struct ss_op *op = &b->ops[i];
			struct ss_conn *c = op->owner;
			int rc = written ? ss_cmd_reply_op(op, &c->out)
					 : ss_cmd_reply_write_failed(err.sys_errno, &c->out);
			if (rc < 0)
				ss_conn_close(c);
			if (written) {
				srv->st.commits++;
			} else {
				srv->st.write_errors++;
				srv->st.rejected++;
			}
			c->pending--;
			if (c->mark != srv->commit_seq) {
				c->mark = srv->commit_seq;
				if (conn_array_push(&srv->touched, &srv->ntouched, &srv->touchcap, c) < 0) {
					/* Cannot track it: resume it right away. */
					c->mark = 0;
				}
			}
		}
		/* A write whose cut-back failed too leaves the store broken. */
		int refusing = !written && ss_store_state(srv->store) != SS_STORE_OK;
		if (refusing)
			srv->shutting_down = 1; /* send the ERRs, execute nothing more */
		ss_batch_reset(b);
		for (size_t i = 0; i < srv->ntouched; i++)
			process_input(srv, srv->touched[i]);
		if (refusing) {
			stop_refusing(srv, SS_EXIT_ERROR);
			return;
		}
	}

	/* Connections that found the batch full get their turn now. */
	size_t nwait = srv->nwaiters;
	srv->nwaiters = 0;
	for (size_t i = 0; i < nwait && i < srv->waitcap; i++) {
		struct ss_conn *c = srv->waiters[i];
		c->batch_wait = 0;
		process_input(srv, c);
	}

	if (srv->compact_requested && !srv->shutting_down)
		compact(srv);

	/* Mutations staged by the connections just resumed: do not block. */
	if (b->nops > 0 && !ev_is_active(&srv->spin_w))
		ev_idle_start(srv->loop, &srv->spin_w);
	else if (b->nops == 0 && ev_is_active(&srv->spin_w))
		ev_idle_stop(srv->loop, &srv->spin_w);
}

static void on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
	(void)loop;
	(void)revents;
	struct ss_server *srv = w->data;
	if (srv->batch.nops > 0 || srv->compact_requested || srv->nwaiters > 0)
		commit(srv);
}

static void on_idle(struct ev_loop *loop, ev_idle *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents; /* only keeps the loop from blocking; on_prepare commits */
}

static void on_expire(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	struct ss_server *srv = w->data;
	struct ss_table *t = ss_store_table(srv->store);

	for (int round = 0; round < SS_EXPIRE_ROUNDS; round++) {
		size_t n = ss_table_expire_some(t, now_ms(srv), SS_EXPIRE_SLOTS, &srv->expire_cursor);
		srv->st.expired += n;
		if (n < SS_EXPIRE_SLOTS / 4)
			break; /* few expired here: come back next tick */
	}
}

/* accept() failed with EMFILE: use the spare descriptor to take the
 * connection and close it, so the listener does not spin on it. Without a
 * spare, pause accepting briefly. */
static void shed_load(struct ss_server *srv)
{
	if (srv->spare_fd >= 0) {
		close(srv->spare_fd);
		int fd = accept(srv->listen_fd, NULL, NULL);
		if (fd >= 0)
			close(fd);
		srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	if (srv->spare_fd < 0) {
		ev_io_stop(srv->loop, &srv->accept_w);
		ev_timer_start(srv->loop, &srv->accept_retry_w);
	}
	/* Once a second at most: a flood would otherwise flood the log too. */
	if (ev_now(srv->loop) - srv->emfile_warned >= 1.0) {
		srv->emfile_warned = ev_now(srv->loop);
		ss_warn(srv->diag, "out of file descriptors; refusing connections");
	}
}

static void on_accept_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	struct ss_server *srv = w->data;
	if (srv->spare_fd < 0)
		srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (!srv->shutting_down)
		ev_io_start(loop, &srv->accept_w);
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)revents;
	struct ss_server *srv = w->data;

	for (int i = 0; i < 64; i++) {
		int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
				continue;
			if (errno == EMFILE || errno == ENFILE) {
				shed_load(srv);
				return;
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				ss_warn(srv->diag, "accept: %s", strerror(errno));
			return;
		}
		if (srv->nclients >= (size_t)srv->cfg->max_clients) {
			static const char msg[] = "ERR max clients reached\n";
			/* Best effort: the socket is new, its buffer empty. */
			if (write(fd, msg, sizeof(msg) - 1) < 0)
				ss_debug(srv->diag, "refusing a client: %s", strerror(errno));
			close(fd);
			srv->st.refused++;
			continue;
		}
		int one = 1;
		if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
			ss_debug(srv->diag, "TCP_NODELAY: %s", strerror(errno));
		struct ss_conn *c = malloc(sizeof(*c));
		if (!c) {
			ss_error(srv->diag, "out of memory accepting a connection");
			close(fd);
			continue;
		}
		ss_conn_init(c, loop, fd, srv->cfg->max_line, &srv->hooks);
		c->prev = NULL;
		c->next = srv->conns;
		if (srv->conns)
			srv->conns->prev = c;
		srv->conns = c;
		srv->nclients++;
		srv->st.connections++;
	}
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)revents;
	struct ss_server *srv = w->data;

	ss_info(srv->diag, "%s received: finishing the batch in flight and shutting down",
		w->signum == SIGTERM ? "SIGTERM" : "SIGINT");
	srv->shutting_down = 1;
	ev_io_stop(loop, &srv->accept_w);
	ev_timer_stop(loop, &srv->accept_retry_w);
	commit(srv);
	for (struct ss_conn *c = srv->conns; c; c = c->next)
		if (c->fd >= 0 && ss_conn_flush(c) < 0)
			ss_conn_close(c);
	ev_break(loop, EVBREAK_ALL);
}

static void server_stats(void *arg, struct ss_buf *out)
{
	struct ss_server *srv = arg;
	const struct ss_stats *s = &srv->st;
	struct ss_table *t = ss_store_table(srv->store);
	unsigned long long mean = s->fsyncs ? s->fsync_us_total / s->fsyncs : 0;
	const struct {
		const char *name;
		unsigned long long v;
	} rows[] = {
		{"uptime_s", (unsigned long long)(ev_now(srv->loop) - srv->started)},
		{"pid", (unsigned long long)getpid()},
		{"clients", srv->nclients},
		{"max_clients", (unsigned long long)srv->cfg->max_clients},
		{"connections", s->connections},
		{"refused_connections", s->refused},
		{"entries", ss_table_count(t)},
		{"table_bytes", ss_table_memory(t)},
		{"log_bytes", ss_store_log_bytes(srv->store)},
		{"log_bytes_compacted", ss_store_log_bytes_compacted(srv->store)},
		{"commits", s->commits},
		{"batches", s->batches},
		{"fsyncs", s->fsyncs},
		{"fsync_us_mean", mean},
		{"fsync_us_max", s->fsync_us_max},
		{"write_errors", s->write_errors},
		{"rejected", s->rejected},
		{"compactions", s->compactions},
		{"expired", s->expired},
	};

	ss_buf_printf(out, "STAT version %s\n", SS_VERSION);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		ss_buf_printf(out, "STAT %s %llu\n", rows[i].name, rows[i].v);
}

/* Binds and listens. Returns the fd, or -1 after logging why. */
static int listen_on(const struct ss_server *srv)
{
	const struct ss_server_config *cfg = srv->cfg;
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	char port[16];
	int fd = -1, one = 1;

	snprintf(port, sizeof(port), "%d", cfg->port);
	int rc = getaddrinfo(cfg->bind_addr, port, &hints, &ai);
	if (rc != 0) {
		ss_error(srv->diag, "bad bind address '%s': %s", cfg->bind_addr, gai_strerror(rc));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ss_error(srv->diag, "socket: %s", strerror(errno));
		goto fail;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) {
		ss_error(srv->diag, "SO_REUSEADDR: %s", strerror(errno));
		goto fail;
	}
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		ss_error(srv->diag, "bind %s:%d: %s", cfg->bind_addr, cfg->port, strerror(errno));
		goto fail;
	}
	if (listen(fd, 1024) < 0) {
		ss_error(srv->diag, "listen: %s", strerror(errno));
		goto fail;
	}
	freeaddrinfo(ai);
	return fd;
fail:
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return -1;
}

/* The port actually bound (for -p 0). */
static int bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static int open_store(struct ss_server *srv)
{
	const struct ss_server_config *cfg = srv->cfg;
	struct ss_store_options opt = {
		.dir = cfg->data_dir, .io = cfg->io, .prealloc_bytes = cfg->prealloc_bytes};
	struct ss_open_report rep;
	struct ss_error err;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t wall_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	uint64_t t0 = mono_us();
	if (ss_store_open(&srv->store, &opt, wall_ms, &rep, &err) < 0) {
		ss_error(srv->diag, "cannot open the data directory: %s", err.msg);
		switch (err.kind) {
		case SS_ERR_LOCKED:
			return SS_EXIT_LOCKED;
		case SS_ERR_CORRUPT:
		case SS_ERR_VERSION:
			return SS_EXIT_CORRUPT;
		default:
			return SS_EXIT_ERROR;
		}
	}
	uint64_t dt = mono_us() - t0;
	if (rep.removed_tmp)
		ss_info(srv->diag, "removed a stale compaction temp file");
	if (rep.torn_bytes > 0)
		ss_warn(srv->diag, "the log had a torn tail: cut %llu bytes after the last valid record",
			(unsigned long long)rep.torn_bytes);
	ss_info(srv->diag,
		"replayed %llu records in %.1f ms: %zu entries loaded, %llu expired dropped, "
		"%llu torn bytes cut, log %llu bytes",
		(unsigned long long)rep.records, (double)dt / 1000.0,
		ss_table_count(ss_store_table(srv->store)), (unsigned long long)rep.expired,
		(unsigned long long)rep.torn_bytes, (unsigned long long)rep.log_bytes);
	return SS_EXIT_OK;
}

static void server_cleanup(struct ss_server *srv)
{
	while (srv->conns)
		conn_unlink_free(srv, srv->conns);
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	if (srv->spare_fd >= 0)
		close(srv->spare_fd);
	ss_batch_free(&srv->batch);
	free(srv->touched);
	free(srv->waiters);
	ss_store_close(srv->store);
	if (srv->loop)
		ev_loop_destroy(srv->loop);
}

int ss_server_run(const struct ss_server_config *cfg)
{
	struct ss_server srv_s, *srv = &srv_s;
	struct sigaction sa;

	memset(srv, 0, sizeof(*srv));
	srv->cfg = cfg;
	srv->diag = cfg->diag;
	srv->listen_fd = srv->spare_fd = -1;
	ss_batch_init(&srv->batch);

	/* A write to a closed socket must fail with EPIPE, not kill us. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) < 0) {
		ss_error(srv->diag, "sigaction(SIGPIPE): %s", strerror(errno));
		return SS_EXIT_ERROR;
	}

	ss_info(srv->diag, "statestored %s starting: pid %d, data dir %s", SS_VERSION, (int)getpid(),
		cfg->data_dir);
#ifdef SS_BENCH_NOSYNC
	ss_warn(srv->diag, "BENCH-ONLY BUILD: fdatasync is disabled, acknowledged writes are NOT durable");
#endif
	int code = open_store(srv);
	if (code != SS_EXIT_OK)
		goto out;

	/* Listening starts only now that replay is done. */
	code = SS_EXIT_ERROR;
	srv->listen_fd = listen_on(srv);
	if (srv->listen_fd < 0)
		goto out;
	srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	/* The default loop: it is the one libev lets watch child processes. */
	srv->loop = ev_default_loop(EVFLAG_AUTO);
	if (!srv->loop) {
		ss_error(srv->diag, "cannot create the event loop");
		goto out;
	}
	srv->started = ev_now(srv->loop);
	srv->hooks.on_input = on_conn_input;
	srv->hooks.arg = srv;

	ev_io_init(&srv->accept_w, on_accept, srv->listen_fd, EV_READ);
	ev_timer_init(&srv->accept_retry_w, on_accept_retry, 0.1, 0.);
	ev_signal_init(&srv->sigterm_w, on_signal, SIGTERM);
	ev_signal_init(&srv->sigint_w, on_signal, SIGINT);
	ev_prepare_init(&srv->commit_w, on_prepare);
	ev_idle_init(&srv->spin_w, on_idle);
	ev_timer_init(&srv->expire_w, on_expire, SS_EXPIRE_PERIOD, SS_EXPIRE_PERIOD);
	srv->accept_w.data = srv->accept_retry_w.data = srv;
	srv->sigterm_w.data = srv->sigint_w.data = srv;
	srv->commit_w.data = srv->expire_w.data = srv;
	ev_io_start(srv->loop, &srv->accept_w);
	ev_signal_start(srv->loop, &srv->sigterm_w);
	ev_signal_start(srv->loop, &srv->sigint_w);
	ev_prepare_start(srv->loop, &srv->commit_w);
	ev_timer_start(srv->loop, &srv->expire_w);

	ss_info(srv->diag, "listening on %s:%d (max clients %d, max line %zu bytes)", cfg->bind_addr,
		bound_port(srv->listen_fd), cfg->max_clients, cfg->max_line);
	srv->exit_code = SS_EXIT_OK;
	ev_run(srv->loop, 0);
	code = srv->exit_code;
	if (code == SS_EXIT_OK)
		ss_info(srv->diag, "shut down cleanly");
out:
	server_cleanup(srv);
	return code;
}
