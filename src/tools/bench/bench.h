/*
 * bench.h - statestore-bench, a closed-loop load generator for statestored
 * (and, with --redis, for redis-server, so both can be measured alike).
 *
 * One thread drives N non-blocking connections from one libev loop. Each
 * connection keeps P requests in flight: when replies arrive, the same number
 * of new requests is written in one write(2). Latency is measured from the
 * write that carried a request to the read that carried its reply, into a
 * fixed histogram (hist.h); the hot path never allocates.
 *
 * Besides the timed run, the tool has the helper modes scripts/bench.sh uses:
 * --load-keys N (SET every key once, pipelined, as fast as the server takes
 * it), --sequential (key = request number mod keys, value = request number,
 * so the final state is a function of the request count) and --check-seq S
 * (GET every key and compare with the state that sequential writes 0..S-1
 * leave: a mismatch is an acknowledged write that was lost). --load-keys N
 * is exactly writes 0..N-1, so "--load-keys N" then "--sequential
 * --seq-base N" then "--check-seq <its next_seq>" checks every key.
 *
 * Two more request kinds measure the checkpoint service's write paths:
 * --cas (every connection reads the revision of each pipeline it owns once
 * with GETREV_CHECKPOINT, then commits with CAS_CHECKPOINT against the
 * revision of its previous OK reply, so every CAS is meant to succeed and a
 * CONFLICT is counted as an error) and --mset N (each request is one
 * multi-commit of N distinct pipelines; MSET with N keys for Redis).
 * --own-keys gives SETs the key layout --cas uses, so the two compare alike.
 * --wait N (Redis only) follows every SET of the timed run with "WAIT N 0"
 * in the same write: the pair is one request, done when the WAIT answers,
 * and a WAIT that counts fewer than N replicas is an error. It is how a
 * Redis client gets a replicated acknowledgement, measured by the same
 * closed loop that measures statestored's synchronous replication.
 *
 * The pieces declared here are pure so the unit tests can reach them.
 */
#ifndef STATESTORED_BENCH_H
#define STATESTORED_BENCH_H

#include <stddef.h>
#include <stdint.h>

/* Keys are "pipeline%08u": 16 bytes, like the memory benchmark's names. */
#define SS_BENCH_KEY_LEN 16
#define SS_BENCH_KEYS_MAX 100000000ull
#define SS_BENCH_PIPELINE_MAX 4096u
#define SS_BENCH_CONNS_MAX 10000u
#define SS_BENCH_VALUE_MAX 65536u
/* Pairs in one --mset request: 1000 x (16-byte name + 10-byte value) is far
 * inside the daemon's default 2 MiB line. */
#define SS_BENCH_MSET_MAX 1000u
/* --wait N: replicas a WAIT may ask for. */
#define SS_BENCH_WAIT_MAX 1000u

enum ss_bench_format { SS_BENCH_TEXT = 0, SS_BENCH_CSV, SS_BENCH_JSON };

struct ss_bench_opts {
	const char *host;      /* -h, default 127.0.0.1 */
	const char *port;      /* -p, default 7070 (6379 with --redis) */
	unsigned conns;        /* -c, default 50 */
	double set_ratio;      /* --set-ratio, 0..1, default 1.0 */
	uint64_t keys;         /* -k, default 100000 */
	size_t value_size;     /* -v, default 10 */
	double duration;       /* -d seconds, default 5 (unless -n) */
	uint64_t requests;     /* -n, 0 = run for the duration */
	unsigned pipeline;     /* -P, default 1 */
	int redis;             /* --redis: speak RESP */
	double warmup;         /* --warmup seconds, default 0 */
	unsigned ttl;          /* --ttl seconds, 0 = none */
	int prefill;           /* --prefill: SET every key once first */
	int sequential;        /* --sequential */
	uint64_t seq_base;     /* --seq-base B: request numbers start at B */
	uint64_t load_keys;    /* --load-keys N: only load keys 0..N-1 */
	int check;             /* --check-seq given */
	uint64_t check_seq;    /* --check-seq S */
	int probe;             /* --probe: 1 connection, depth 1, GETs */
	int cas;               /* --cas: CAS_CHECKPOINT on owned keys */
	int own_keys;          /* --own-keys (implied by --cas): request slot s of
				* connection c always uses key c * depth + s */
	unsigned mset;         /* --mset N: N pairs per request, 0 = off */
	unsigned wait;         /* --wait N: SET + "WAIT N 0" per request, 0 = off */
	enum ss_bench_format format;
};

/* Parses argv[1..argc) into *o (defaults first). Returns 0 on success, 1 if
 * help was asked for, -1 on a bad option with a message in err. Touches no
 * global state, so it can be called repeatedly. */
int ss_bench_parse_args(int argc, char **argv, struct ss_bench_opts *o, char *err, size_t errlen);

/* Writes v as exactly width decimal digits into dst, zero-padded on the left
 * (keeping only the low width digits if v has more). No terminator. */
void ss_bench_digits(char *dst, size_t width, uint64_t v);

/* Writes the SS_BENCH_KEY_LEN-byte name of key id (< SS_BENCH_KEYS_MAX) into
 * dst. No terminator. */
void ss_bench_key(char *dst, uint64_t id);

/* Writes v in decimal, without padding, into dst (room for 20 bytes).
 * Returns the digits written. No terminator. */
size_t ss_bench_u64(char *dst, uint64_t v);

/* Appends one multi-commit of n pairs to dst and returns its end: keys
 * first, first + 1, ... modulo keys (n <= keys keeps them distinct), every
 * value the vsize-digit form of vseq. Text protocol: "MSET_CHECKPOINT k v
 * ...\n"; redis: a RESP array "MSET k v ...". dst needs room for
 * ss_bench_mset_len(n, vsize) bytes. */
char *ss_bench_format_mset(char *dst, int redis, uint64_t first, unsigned n, uint64_t keys,
			   size_t vsize, uint64_t vseq);
size_t ss_bench_mset_len(unsigned n, size_t vsize);

/* Reads the revision in a CAS_CHECKPOINT reply line: "OK <rev>" returns 1,
 * "CONFLICT <current_rev>" returns 0, each with *rev set; anything else
 * (an ERR, a malformed line) returns -1. */
int ss_bench_cas_reply(const char *val, size_t vlen, uint64_t *rev);

/* Reads the revision in a GETREV_CHECKPOINT reply line: "<rev> <value>"
 * gives rev, "NULL" gives 0 (absent: CAS with 0 creates). Returns 0, or -1
 * for anything else. */
int ss_bench_getrev_reply(const char *val, size_t vlen, uint64_t *rev);

/* The sequence number whose value key holds after writes 0..seq-1 of a
 * --sequential run over keys keys, or -1 if no write touched it. */
int64_t ss_bench_seq_expected(uint64_t key, uint64_t seq, uint64_t keys);

enum ss_bench_reply {
	SS_BENCH_OK = 0, /* "OK" / "+OK" */
	SS_BENCH_VALUE,  /* any other success: a value, "+PONG", ":1" */
	SS_BENCH_NULL,   /* "NULL" / "$-1" */
	SS_BENCH_ERR,    /* "ERR ..." / "-..." */
};

/* Reads the reply to "WAIT n 0": an integer of at least n returns 1, a
 * smaller one 0, anything else (an error, not an integer) -1. */
int ss_bench_wait_reply(enum ss_bench_reply kind, const char *val, size_t vlen, unsigned n);

/* Parses one statestored reply line at the start of buf[0..len). Returns the
 * bytes it takes (newline included, > 0), 0 if the line is incomplete, or -1
 * if it is longer than max bytes without a newline. *kind is the reply kind;
 * *val / *vlen the line without its newline (and a trailing "\r"). */
long ss_bench_parse_line(const char *buf, size_t len, size_t max, enum ss_bench_reply *kind,
			 const char **val, size_t *vlen);

/* Parses one RESP reply (+, -, :, $ bulk or $-1) at the start of
 * buf[0..len). Same return convention; -1 also for arrays and any malformed
 * reply. *val / *vlen are the payload (the bulk's bytes, the simple string's
 * text). */
long ss_bench_parse_resp(const char *buf, size_t len, size_t max, enum ss_bench_reply *kind,
			 const char **val, size_t *vlen);

/* The figures a run reports. Latencies are in nanoseconds. */
struct ss_bench_result {
	const char *mode; /* "run", "load", "check" */
	uint64_t requests;
	double seconds;
	uint64_t p50_ns, p99_ns, p999_ns, max_ns;
	double mean_ns;
	uint64_t errors;
	uint64_t misses;     /* GETs answered NULL */
	uint64_t lost;       /* --check-seq mismatches */
	uint64_t max_gap_ns; /* longest time without any reply while busy */
	uint64_t next_seq;   /* one past the last request number sent (warmup and
			      * drain included; every one was answered): what
			      * --check-seq needs after a --sequential run */
};

/* Formats r as text (several lines), one CSV line (columns in the order of
 * SS_BENCH_CSV_HEADER) or one JSON object line, newline-terminated. Returns
 * the length snprintf would produce. */
#define SS_BENCH_CSV_HEADER \
	"mode,requests,seconds,ops_per_sec,p50_us,p99_us,p999_us,max_us,mean_us,errors,misses,lost,max_gap_us,next_seq"
int ss_bench_format_result(const struct ss_bench_result *r, enum ss_bench_format f, char *buf,
			   size_t len);

/* The statestore-bench program. Returns its exit status: 0 when the run
 * completed (errors are reported, not fatal), 1 on a connection or protocol
 * failure, 2 on bad options. */
int ss_bench_main(int argc, char **argv);

#endif
