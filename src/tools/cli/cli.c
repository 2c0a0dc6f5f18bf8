/*
 * cli.c - statestore-cli: one-shot and pipelined batch client (see cli.h).
 *
 * One engine serves both modes. Requests are queued as bytes in an output
 * buffer and their expected reply kinds in a ring; a poll() loop writes
 * requests, reads replies and (in batch mode) reads stdin at the same time,
 * so a large batch never deadlocks on full socket buffers in both
 * directions. The socket is non-blocking; stdin is left as it is (it may be
 * shared with a terminal) and is only read after poll() says it is ready.
 *
 * Flow control: at most SS_CLI_INFLIGHT requests are unanswered and at most
 * SS_CLI_OUT_HIGH bytes wait to be sent; past either, stdin is not read until
 * replies drain. That bounds our memory and the server's reply buffer.
 *
 * Timeout: while a reply is owed, the time since the server last made
 * progress (took bytes or sent bytes) may not exceed -t. Time spent waiting
 * for stdin does not count.
 *
 * Framing: stdin is cut into lines and tokenized by ss_text_parse, the
 * server's own parser, and each line goes to the server byte for byte. So
 * the server sees the request we classified, and we expect the number of
 * reply lines it will send; a client-side reading of '\r' or blanks that
 * differed from the server's by one byte would shift every later reply.
 */
#include "common/buf.h"
#include "common/clock.h"
#include "common/connect.h"
#include "common/numparse.h"
#include "tools/cli/cli.h"
#include "common/stdfds.h"

#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "statestored/limits.h"

#define SS_CLI_INFLIGHT 4096
#define SS_CLI_OUT_HIGH (256u * 1024)
#define SS_CLI_READ_CHUNK 65536
/* The longest request line taken from stdin or argv: the most any server
 * accepts (its --max-line bound), so a longer line can only be a mistake. */
#define SS_CLI_LINE_MAX SS_LINE_MAX_MAX
/* How much of a refused argument an error message quotes. */
#define SS_CLI_QUOTE_MAX 64

static const char usage_text[] =
	"usage: statestore-cli [-h HOST] [-p PORT] [-t SECONDS] [COMMAND [ARG...]]\n"
	"       statestore-cli --help | -V\n"
	"\n"
	"With a command: joins COMMAND and ARGs with spaces, sends that one request\n"
	"and prints the reply (STATS, HISTORY_CHECKPOINT, LIST_CHECKPOINTS, CONFIG_GET:\n"
	"every line through END). An argument may not be empty or contain a space, tab or line\n"
	"break.\n"
	"Without a command: reads requests from stdin, one per line, pipelines them\n"
	"over one connection and prints one reply per request, in order. Lines are\n"
	"sent as they are; empty lines are skipped; QUIT (without arguments) ends the\n"
	"batch. An error reply is a line starting with \"ERR \"; a CONFLICT reply (a\n"
	"CAS, conditional DEL, MCAS or ROLLBACK whose expected revision was not the\n"
	"current one; nothing changed) is printed to stdout in both modes.\n"
	"\n"
	"options:\n"
	"  -h, --host HOST      server address (default " SS_CLI_DEFAULT_HOST ")\n"
	"  -p, --port PORT      server port (default " SS_CLI_DEFAULT_PORT ")\n"
	"  -t, --timeout SECS   how long to wait for the server while it owes a reply,\n"
	"                       more than 0, at most 86400, fractions allowed (default 5)\n"
	"  -V, --version        print the version and exit\n"
	"      --help           show this text\n"
	"\n"
	"exit status:\n"
	"  0  every request succeeded\n"
	"  1  the server replied ERR (one-shot: the reply goes to stderr; batch: it is\n"
	"     printed in its place on stdout and the batch goes on)\n"
	"  2  usage error (bad option, or an argument the protocol cannot carry)\n"
	"  3  could not connect, or the connection broke\n"
	"  4  timed out (connecting, or waiting for a reply)\n"
	"  5  local error (out of memory, reading stdin, writing stdout)\n"
	"  6  the server replied CONFLICT (batch: at least once, and never ERR)\n"
	"\n"
	"examples:\n"
	"  statestore-cli SET_CHECKPOINT orders 1000 3600\n"
	"  statestore-cli -p 7070 GET_CHECKPOINT orders\n"
	"  statestore-cli GETREV_CHECKPOINT orders           # -> <rev> <value>\n"
	"  statestore-cli CAS_CHECKPOINT orders 41 1100      # -> OK <rev> | CONFLICT <rev>\n"
	"  statestore-cli MSET_CHECKPOINT orders/p0 10 orders/p1 20\n"
	"  statestore-cli HISTORY_CHECKPOINT orders 5\n"
	"  statestore-cli ROLLBACK_CHECKPOINT orders 41\n"
	"  statestore-cli LIST_CHECKPOINTS 0 PREFIX orders/ COUNT 100\n"
	"  printf 'PING\\nSTATS\\n' | statestore-cli\n";

/* ---- pure helpers ------------------------------------------------------ */

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t errlen,
								 const char *fmt, ...)
{
	va_list ap;
	if (errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int parse_port(const char *s)
{
	uint64_t v;
	return ss_parse_urange(s, 1, 65535, &v) == 0 ? (int)v : -1;
}

static int parse_timeout_ms(const char *s)
{
	double v;
	if (ss_parse_drange(s, 0, SS_CLI_TIMEOUT_MAX_S, &v) < 0 || v <= 0)
		return -1;
	v = ceil(v * 1000.0);
	return v < 1 ? 1 : (int)v;
}

/* Matches argv[*i] against an option with short form c ('h') and long form
 * name ("host"). Returns 1 and sets *val (taking the next argument if the
 * value is not glued on), 0 if it is another option, -1 if the value is
 * missing. */
static int match_opt(int argc, char **argv, int *i, char c, const char *name, const char **val)
{
	const char *a = argv[*i];
	size_t nl = strlen(name);
	const char *glued = NULL;
	if (a[1] == c)
		glued = a[2] != '\0' ? a + 2 : NULL;
	else if (a[1] == '-' && strncmp(a + 2, name, nl) == 0 && a[2 + nl] == '=')
		glued = a + 3 + nl;
	else if (!(a[1] == '-' && strcmp(a + 2, name) == 0))
		return 0;
	if (glued) {
		*val = glued;
		return 1;
	}
	if (*i + 1 >= argc)
		return -1;
	*i += 1;
	*val = argv[*i];
	return 1;
}

int ss_cli_parse_options(int argc, char **argv, struct ss_cli_options *o, char *err,
			 size_t errlen)
{
	static const struct {
		char c;
		const char *name;
	} opts[] = {{'h', "host"}, {'p', "port"}, {'t', "timeout"}};
	int i;

	o->host = SS_CLI_DEFAULT_HOST;
	o->port = SS_CLI_DEFAULT_PORT;
	o->timeout_ms = SS_CLI_DEFAULT_TIMEOUT_MS;
	o->help = 0;
	o->version = 0;
	if (errlen > 0)
		err[0] = '\0';
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		size_t k;
		int m = 0;
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (a[0] != '-' || a[1] == '\0')
			break;
		if (strcmp(a, "--help") == 0) {
			o->help = 1;
			continue;
		}
		if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
			o->version = 1;
			continue;
		}
		for (k = 0; k < sizeof(opts) / sizeof(opts[0]); k++) {
			m = match_opt(argc, argv, &i, opts[k].c, opts[k].name, &val);
			if (m != 0)
				break;
		}
		if (m == 0) {
			set_err(err, errlen, "unknown option '%s'", a);
			return -1;
		}
		if (m < 0) {
			set_err(err, errlen, "option '%s' needs a value", a);
			return -1;
		}
		if (opts[k].c == 'h') {
			if (*val == '\0') {
				set_err(err, errlen, "empty host");
				return -1;
			}
			o->host = val;
		} else if (opts[k].c == 'p') {
			if (parse_port(val) < 0) {
				set_err(err, errlen, "invalid port '%s' (want 1..65535)", val);
				return -1;
			}
			o->port = val;
		} else {
			o->timeout_ms = parse_timeout_ms(val);
			if (o->timeout_ms < 0) {
				set_err(err, errlen,
					"invalid timeout '%s' (want seconds, more than 0 and at "
					"most %g)",
					val, SS_CLI_TIMEOUT_MAX_S);
				return -1;
			}
		}
	}
	o->cmd_index = i;
	return 0;
}

/* Writes a into out (outlen > 4 * SS_CLI_QUOTE_MAX + 3) as printable text
 * for a message: at most SS_CLI_QUOTE_MAX bytes of it, control bytes
 * escaped, "..." if cut. */
static void quote_arg(const char *a, char *out, size_t outlen)
{
	size_t i, pos = 0;

	for (i = 0; a[i] != '\0' && i < SS_CLI_QUOTE_MAX; i++) {
		unsigned char ch = (unsigned char)a[i];
		const char *esc = ch == '\n' ? "\\n" : ch == '\r' ? "\\r" : ch == '\t' ? "\\t" : NULL;
		if (esc)
			pos += (size_t)snprintf(out + pos, outlen - pos, "%s", esc);
		else if (ch < 0x20 || ch == 0x7f)
			pos += (size_t)snprintf(out + pos, outlen - pos, "\\x%02x", ch);
		else
			out[pos++] = (char)ch;
	}
	if (a[i] != '\0')
		pos += (size_t)snprintf(out + pos, outlen - pos, "...");
	out[pos] = '\0';
}

/* Why the protocol cannot carry argument a as one token, or NULL if it can.
 * It has no quoting: the server splits on spaces and tabs, drops a '\r'
 * before the newline, and ends the request at a '\n'. */
static const char *arg_problem(const char *a)
{
	if (*a == '\0')
		return "is empty";
	if (strchr(a, '\n'))
		return "contains a newline";
	if (strchr(a, '\r'))
		return "contains a carriage return";
	if (strchr(a, ' '))
		return "contains a space";
	if (strchr(a, '\t'))
		return "contains a tab";
	return NULL;
}

char *ss_cli_join_args(char *const *args, int n, size_t *len, char *err, size_t errlen)
{
	size_t total = 1, pos = 0;
	char *line;
	int i;

	if (errlen > 0)
		err[0] = '\0';
	if (n <= 0) {
		set_err(err, errlen, "no command");
		errno = EINVAL;
		return NULL;
	}
	for (i = 0; i < n; i++) {
		const char *why = arg_problem(args[i]);
		if (why) {
			char q[4 * SS_CLI_QUOTE_MAX + 4];
			quote_arg(args[i], q, sizeof(q));
			set_err(err, errlen, "argument %d '%s' %s: the protocol cannot carry it",
				i + 1, q, why);
			errno = EINVAL;
			return NULL;
		}
		total += strlen(args[i]) + 1;
	}
	line = malloc(total);
	if (!line) {
		set_err(err, errlen, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	for (i = 0; i < n; i++) {
		size_t l = strlen(args[i]);
		if (i > 0)
			line[pos++] = ' ';
		memcpy(line + pos, args[i], l);
		pos += l;
	}
	line[pos++] = '\n';
	line[pos] = '\0';
	*len = pos;
	return line;
}

enum ss_cli_reply ss_cli_classify(const struct ss_request *req)
{
	if (req->argc == 0)
		return SS_CLI_REPLY_NONE;
	/* With arguments (too many included: argc is then SS_ARGS_MAX) the
	 * server answers STATS and QUIT with one ERR line and goes on. */
	if (req->argc == 1 && ss_token_is(&req->argv[0], "STATS"))
		return SS_CLI_REPLY_ROWS;
	if (ss_token_is(&req->argv[0], "HISTORY_CHECKPOINT") ||
	    ss_token_is(&req->argv[0], "LIST_CHECKPOINTS") ||
	    ss_token_is(&req->argv[0], "CONFIG_GET"))
		return SS_CLI_REPLY_ROWS;
	if (req->argc == 1 && ss_token_is(&req->argv[0], "QUIT"))
		return SS_CLI_REPLY_QUIT;
	return SS_CLI_REPLY_LINE;
}

size_t ss_cli_reply_end(const char *buf, size_t len, enum ss_cli_reply kind)
{
	size_t pos = 0;
	const char *nl = memchr(buf, '\n', len);
	if (!nl)
		return 0;
	if (kind != SS_CLI_REPLY_ROWS || ss_text_is_error(buf, (size_t)(nl - buf) + 1))
		return (size_t)(nl - buf) + 1;
	while (pos < len) {
		size_t l;
		nl = memchr(buf + pos, '\n', len - pos);
		if (!nl)
			return 0;
		l = (size_t)(nl - (buf + pos));
		if (l > 0 && buf[pos + l - 1] == '\r')
			l--;
		if (l == 3 && memcmp(buf + pos, "END", 3) == 0)
			return (size_t)(nl - buf) + 1;
		pos = (size_t)(nl - buf) + 1;
	}
	return 0;
}

int ss_cli_is_conflict(const char *line, size_t len)
{
	static const char word[] = "CONFLICT ";
	size_t n = sizeof(word) - 1;

	return len > n && memcmp(line, word, n) == 0 && line[n] != '\n' && line[n] != '\r';
}

/* ---- the client -------------------------------------------------------- */


struct cli {
	struct ss_cli_options opt;
	int batch;
	int fd;
	struct ss_buf in;    /* stdin bytes not yet made into requests */
	struct ss_buf out;   /* request bytes not yet sent */
	struct ss_buf reply; /* received bytes not yet printed */
	unsigned char kinds[SS_CLI_INFLIGHT]; /* ring: reply kind of each unanswered request */
	size_t head, pending;
	int in_eof;        /* stdin reached EOF */
	int stop_input;    /* take no more requests: one-shot, QUIT sent, or sending failed */
	int send_errno;    /* sending failed; we still read what the server said */
	unsigned long lineno, nreq, nerr, nconflict;
	struct ss_request req; /* the last line parsed: its tokens point into in */
	unsigned long unsent_after_quit; /* requests read from stdin after a QUIT */
	int64_t last_progress_ms; /* when the server last took or sent bytes */
};

__attribute__((format(printf, 1, 2))) static void cli_warn(const char *fmt, ...)
{
	va_list ap;
	fputs("statestore-cli: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* All requests are queued: nothing more will come from stdin or argv. */
static int input_done(const struct cli *c)
{
	return c->stop_input || (c->in_eof && ss_buf_size(&c->in) == 0);
}

static int window_open(const struct cli *c)
{
	return c->pending < SS_CLI_INFLIGHT && ss_buf_size(&c->out) < SS_CLI_OUT_HIGH;
}

/* Queues one request line[0..len), its newline included, to be sent as it
 * is, expecting kind. Returns 0 or an exit code. The caller checks the
 * window. */
static int queue_request(struct cli *c, const char *line, size_t len, enum ss_cli_reply kind)
{
	if (c->pending == 0 && ss_buf_size(&c->out) == 0)
		c->last_progress_ms = ss_clock_ms(); /* the clock starts when a reply is owed */
	if (ss_buf_append(&c->out, line, len) < 0) {
		cli_warn("out of memory");
		return SS_CLI_EXIT_LOCAL;
	}
	c->kinds[(c->head + c->pending) % SS_CLI_INFLIGHT] = (unsigned char)kind;
	c->pending++;
	c->nreq++;
	if (kind == SS_CLI_REPLY_QUIT)
		c->stop_input = 1; /* the server closes after it: later lines would be lost */
	return 0;
}

/* Counts the lines in buf[0..len) that hold a request: the complete ones
 * with a token, and a last unfinished one with a byte that can only be part
 * of a token (whatever follows, it will hold a request). */
static unsigned long count_requests(struct cli *c, const char *buf, size_t len)
{
	unsigned long n = 0;
	long used;
	size_t i;

	while ((used = ss_text_parse(buf, len, SS_CLI_LINE_MAX, &c->req)) > 0) {
		if (c->req.argc > 0)
			n++;
		buf += used;
		len -= (size_t)used;
	}
	for (i = 0; used == 0 && i < len; i++) {
		if (buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\r')
			return n + 1;
	}
	return n;
}

/* Turns buffered stdin lines into requests while the window is open. A
 * line is what ss_text_parse says it is, and it is queued byte for byte.
 * Returns 0 or an exit code. */
static int take_lines(struct cli *c)
{
	while (!c->stop_input && window_open(c) && ss_buf_size(&c->in) > 0) {
		const char *start = ss_buf_head(&c->in);
		long used = ss_text_parse(start, ss_buf_size(&c->in), SS_CLI_LINE_MAX, &c->req);
		enum ss_cli_reply kind;
		int rc;
		if (used < 0) {
			cli_warn("stdin line %lu is longer than %d bytes", c->lineno + 1,
				 SS_CLI_LINE_MAX);
			return SS_CLI_EXIT_USAGE;
		}
		if (used == 0)
			return 0; /* the rest of the line is still to come */
		c->lineno++;
		kind = ss_cli_classify(&c->req);
		rc = kind == SS_CLI_REPLY_NONE ? 0 : queue_request(c, start, (size_t)used, kind);
		ss_buf_consume(&c->in, (size_t)used); /* after the copy: start points into c->in */
		if (rc != 0)
			return rc;
		if (kind == SS_CLI_REPLY_QUIT)
			c->unsent_after_quit =
			    count_requests(c, ss_buf_head(&c->in), ss_buf_size(&c->in));
	}
	return 0;
}

/* One read() from stdin, which poll() said is ready. */
static int read_stdin(struct cli *c)
{
	ssize_t n;
	char *dst = ss_buf_space(&c->in, SS_CLI_READ_CHUNK);
	if (!dst) {
		cli_warn("out of memory");
		return SS_CLI_EXIT_LOCAL;
	}
	do
		n = read(STDIN_FILENO, dst, SS_CLI_READ_CHUNK);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		cli_warn("reading stdin: %s", strerror(errno));
		return SS_CLI_EXIT_LOCAL;
	}
	if (n == 0) {
		size_t have = ss_buf_size(&c->in);
		c->in_eof = 1;
		/* A last line without its newline is a request too: end it, or
		 * neither the parser nor the server would ever see it whole. */
		if (have > 0 && ss_buf_head(&c->in)[have - 1] != '\n') {
			dst[0] = '\n';
			n = 1;
		}
	}
	ss_buf_commit(&c->in, (size_t)n);
	return take_lines(c);
}

/* Prints every complete reply at the front of c->reply. Returns 0 or an
 * exit code. */
static int emit_replies(struct cli *c)
{
	while (c->pending > 0) {
		const char *r = ss_buf_head(&c->reply);
		enum ss_cli_reply kind = (enum ss_cli_reply)c->kinds[c->head];
		size_t n = ss_cli_reply_end(r, ss_buf_size(&c->reply), kind);
		FILE *to = stdout;
		if (n == 0)
			break;
		if (ss_text_is_error(r, n)) {
			c->nerr++;
			if (!c->batch)
				to = stderr;
		} else if (kind == SS_CLI_REPLY_LINE && ss_cli_is_conflict(r, n)) {
			c->nconflict++; /* a decision, not an error: stdout in both modes */
		}
		if (fwrite(r, 1, n, to) != n) {
			cli_warn("writing output: %s", strerror(errno));
			return SS_CLI_EXIT_LOCAL;
		}
		ss_buf_consume(&c->reply, n);
		c->head = (c->head + 1) % SS_CLI_INFLIGHT;
		c->pending--;
	}
	return 0;
}

/* Reads all the socket has and prints the replies it completes. Returns 0,
 * -1 at EOF, or an exit code. */
static int read_socket(struct cli *c)
{
	for (;;) {
		ssize_t n;
		int rc;
		char *dst = ss_buf_space(&c->reply, SS_CLI_READ_CHUNK);
		if (!dst) {
			cli_warn("out of memory");
			return SS_CLI_EXIT_LOCAL;
		}
		n = recv(c->fd, dst, SS_CLI_READ_CHUNK, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0) {
			cli_warn("connection to the server broke: %s", strerror(errno));
			return SS_CLI_EXIT_CONN;
		}
		if (n == 0)
			return -1;
		ss_buf_commit(&c->reply, (size_t)n);
		c->last_progress_ms = ss_clock_ms();
		rc = emit_replies(c);
		if (rc != 0)
			return rc;
	}
}

/* Sends what the socket takes. A failure is remembered, not reported: the
 * server may have closed after an ERR (line too long, max clients), and
 * reading on lets us print what it said before we give up. */
static void write_socket(struct cli *c)
{
	while (ss_buf_size(&c->out) > 0) {
		ssize_t n = send(c->fd, ss_buf_head(&c->out), ss_buf_size(&c->out), MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0) {
			c->send_errno = errno;
			ss_buf_consume(&c->out, ss_buf_size(&c->out));
			c->stop_input = 1;
			return;
		}
		ss_buf_consume(&c->out, (size_t)n);
		c->last_progress_ms = ss_clock_ms();
	}
}

/* Connects within the timeout. Returns 0 or an exit code, having said why. */
static int cli_connect(struct cli *c)
{
	char err[256];
	int fd = ss_connect(c->opt.host, c->opt.port, c->opt.timeout_ms, err, sizeof(err));

	if (fd < 0) {
		cli_warn("%s", err);
		return fd == -2 ? SS_CLI_EXIT_TIMEOUT : SS_CLI_EXIT_CONN;
	}
	c->fd = fd;
	return 0;
}

/* The exit code once every reply is in: an ERR matters more than a
 * CONFLICT (a wrong request, not a decision). */
static int done_status(const struct cli *c)
{
	if (c->nerr > 0)
		return SS_CLI_EXIT_ERR_REPLY;
	return c->nconflict > 0 ? SS_CLI_EXIT_CONFLICT : SS_CLI_EXIT_OK;
}

/* The event loop. Returns an exit code once every request is answered or
 * something failed. */
static int run(struct cli *c)
{
	for (;;) {
		struct pollfd p[2];
		int np = 1, timeout = -1, pr, rc, poll_stdin;

		if (input_done(c) && c->pending == 0)
			return done_status(c);
		if (fflush(stdout) != 0) {
			cli_warn("writing output: %s", strerror(errno));
			return SS_CLI_EXIT_LOCAL;
		}
		if (c->pending > 0) {
			int64_t left = c->last_progress_ms + c->opt.timeout_ms - ss_clock_ms();
			if (left <= 0) {
				cli_warn("timed out: no reply from the server within %.3g s",
					 c->opt.timeout_ms / 1000.0);
				return SS_CLI_EXIT_TIMEOUT;
			}
			timeout = (int)left;
		}
		p[0].fd = c->fd;
		p[0].events = POLLIN | (ss_buf_size(&c->out) > 0 ? POLLOUT : 0);
		p[0].revents = 0;
		poll_stdin = !c->in_eof && !c->stop_input && window_open(c);
		if (poll_stdin) {
			p[1].fd = STDIN_FILENO;
			p[1].events = POLLIN;
			p[1].revents = 0;
			np = 2;
		}
		pr = poll(p, (nfds_t)np, timeout);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0) {
			cli_warn("poll: %s", strerror(errno));
			return SS_CLI_EXIT_LOCAL;
		}
		if (p[0].revents & (POLLOUT | POLLERR | POLLHUP))
			write_socket(c);
		if (p[0].revents & (POLLIN | POLLERR | POLLHUP)) {
			rc = read_socket(c);
			if (rc > 0)
				return rc;
			if (rc < 0 && !(input_done(c) && c->pending == 0 && !c->send_errno)) {
				if (c->send_errno)
					cli_warn("server closed the connection: %s",
						 strerror(c->send_errno));
				else if (c->pending)
					cli_warn("server closed the connection with %zu replies "
						 "outstanding", c->pending);
				else
					cli_warn("server closed the connection");
				return SS_CLI_EXIT_CONN;
			}
		}
		if (c->send_errno && c->pending == 0) {
			cli_warn("sending to the server failed: %s", strerror(c->send_errno));
			return SS_CLI_EXIT_CONN;
		}
		rc = poll_stdin && (p[1].revents & (POLLIN | POLLHUP | POLLERR)) ? read_stdin(c)
										: take_lines(c);
		if (rc != 0)
			return rc;
	}
}

/* What the process needs before it opens anything. Returns 0 or an exit
 * code, having said why. */
static int cli_setup_process(void)
{
	const char *what;

	/* With stdout closed, our socket would get descriptor 1 and the reply
	 * would be "printed" into the server as a request. Writing to a pipe
	 * nobody reads (`statestore-cli STATS | head -1`) must fail with EPIPE
	 * and exit 5 with a message, not kill us. */
	if (ss_program_start(&what) != 0) {
		cli_warn("%s: %s", what, strerror(errno));
		return SS_CLI_EXIT_LOCAL;
	}
	return 0;
}

/* Prints text to stdout for --help and --version. Returns an exit code. */
static int print_and_exit(const char *text)
{
	if (fputs(text, stdout) == EOF || fflush(stdout) != 0) {
		cli_warn("writing output: %s", strerror(errno));
		return SS_CLI_EXIT_LOCAL;
	}
	return SS_CLI_EXIT_OK;
}

/* Queues the one-shot request made of argv[cmd_index..argc). Returns 0 or
 * an exit code, having said why. */
static int queue_command(struct cli *c, int argc, char **argv)
{
	char err[256];
	size_t len;
	long used;
	int rc;
	char *line = ss_cli_join_args(argv + c->opt.cmd_index, argc - c->opt.cmd_index, &len, err,
				      sizeof(err));

	if (!line) {
		rc = errno == ENOMEM ? SS_CLI_EXIT_LOCAL : SS_CLI_EXIT_USAGE;
		cli_warn("%s", err);
		return rc;
	}
	/* Classified by the server's parser, like a stdin line. */
	used = ss_text_parse(line, len, SS_CLI_LINE_MAX, &c->req);
	if (used < 0) {
		cli_warn("the command is longer than %d bytes", SS_CLI_LINE_MAX);
		rc = SS_CLI_EXIT_USAGE;
	} else {
		rc = queue_request(c, line, len, ss_cli_classify(&c->req));
	}
	free(line);
	c->stop_input = 1;
	return rc;
}

int ss_cli_main(int argc, char **argv)
{
	struct cli c;
	char err[256];
	int rc;

	rc = cli_setup_process();
	if (rc != 0)
		return rc;
	memset(&c, 0, sizeof(c));
	c.fd = -1;
	ss_request_init(&c.req);
	if (ss_cli_parse_options(argc, argv, &c.opt, err, sizeof(err)) != 0) {
		cli_warn("%s", err);
		fputs("try 'statestore-cli --help'\n", stderr);
		return SS_CLI_EXIT_USAGE;
	}
	if (c.opt.help)
		return print_and_exit(usage_text);
	if (c.opt.version)
		return print_and_exit("statestore-cli " SS_VERSION "\n");
	c.batch = c.opt.cmd_index >= argc;
	if (!c.batch)
		rc = queue_command(&c, argc, argv);
	if (rc == 0)
		rc = cli_connect(&c);
	if (rc == 0) {
		c.last_progress_ms = ss_clock_ms();
		rc = run(&c);
	}
	/* Said, not an error: lines after QUIT are not requests of this batch,
	 * but someone who piped them in should learn they went nowhere. Only
	 * what was read before the QUIT was taken is counted (stdin is read in
	 * chunks and not after QUIT): there may be more. */
	if (c.unsent_after_quit > 0)
		cli_warn("QUIT ended the batch; %lu later request%s read from stdin %s not sent",
			 c.unsent_after_quit, c.unsent_after_quit == 1 ? "" : "s",
			 c.unsent_after_quit == 1 ? "was" : "were");
	if (c.batch && rc == SS_CLI_EXIT_ERR_REPLY)
		cli_warn("%lu of %lu requests got an ERR reply", c.nerr, c.nreq);
	if (c.batch && (rc == SS_CLI_EXIT_ERR_REPLY || rc == SS_CLI_EXIT_CONFLICT) &&
	    c.nconflict > 0)
		cli_warn("%lu of %lu requests got a CONFLICT reply", c.nconflict, c.nreq);
	if (fflush(stdout) != 0 && rc == SS_CLI_EXIT_OK) {
		cli_warn("writing output: %s", strerror(errno));
		rc = SS_CLI_EXIT_LOCAL;
	}
	/* Every reply is in by now, so a failing close loses nothing. */
	if (c.fd >= 0)
		(void)close(c.fd);
	ss_buf_free(&c.in);
	ss_buf_free(&c.out);
	ss_buf_free(&c.reply);
	ss_request_free(&c.req);
	return rc;
}
