/*
 * statestored-faulty: the real daemon with failures injected through its I/O
 * table, for integration tests. Never installed; not built into statestored.
 * Without SS_FAULT (and the other variables below) it behaves exactly like
 * statestored.
 *
 * SS_FAULT selects the failure, in one of two modes.
 *
 * Marker mode fires on log writes whose bytes contain the marker
 * SS_FAULT_MARK (default "INJECT_FAULT"), so a test chooses exactly which
 * request fails by putting the marker in its value:
 *
 *   pwrite:ENOSPC   a write containing the marker fails with ENOSPC
 *   pwrite:EIO      ... with EIO
 *   short:ENOSPC    such a write stores half its bytes, returns that short
 *                   count, and the retry for the rest fails with ENOSPC
 *   fdatasync:EIO   the first fdatasync after such a write fails with EIO
 *
 * Counting mode fires on the n-th call of one op, counted from process start
 * (1 is the first call), once; up to four such faults, comma-separated,
 * each fire on their own call (e.g. a failed append and then its cut-back):
 *
 *   <op>:<err>@<n>[,<op>:<err>@<n>...]
 *     op   open | pwrite | fdatasync | fsync | ftruncate | rename | unlink
 *     err  EIO | ENOSPC | EINTR | EDQUOT: the call does nothing and fails
 *          with that errno;
 *          short (pwrite only): the call writes the first half of its bytes
 *          (n / 2, at least 1) and returns that count; the caller's retry
 *          for the rest is a later call and is not failed. A 1-byte write
 *          cannot be short: it is passed through, and the fault still fires
 *          (it is counted as fired).
 *   e.g. SS_FAULT=fdatasync:EIO@3 fails the third fdatasync of the process;
 *   SS_FAULT=fdatasync:EIO@3,ftruncate:EIO@2 also the second ftruncate.
 *
 * close is counted too but never failed. Calls the daemon makes outside its
 * I/O table (fstat, mmap, flock, mkdir, sockets) are neither counted nor
 * failed. Every thread's calls count in one sequence: the loop's, the
 * syncer's and the compactor's helper thread's (which writes and syncs the
 * compaction's snapshot and copies its tail).
 *
 * Slowness, in either mode or alone:
 *
 *   SS_FAULT_SYNC_DELAY_US=n  every fdatasync sleeps n microseconds first,
 *       a disk that is slow to sync (the daemon then moves its syncs off
 *       the loop; STATS fsyncs_background counts them).
 *   SS_FAULT_SNAPSHOT_DELAY_US=n  the snapshot's fdatasync - the first
 *       fdatasync of the compaction's temp file (statestored.log.tmp) after
 *       an open that creates it, made on the compactor's helper thread once
 *       the walk's bytes are written - sleeps n microseconds first: a
 *       compaction that takes long, as one of millions of entries does, so
 *       that a test can act while it runs (kill the daemon, say). The loop
 *       goes on serving meanwhile, and what it commits is the tail.
 *   SS_FAULT_SNAPSHOT_GATE=path  that same fdatasync waits until path
 *       exists, having first created path.waiting: a test knows the whole
 *       snapshot is in the temp file and the compaction waits, commits what
 *       it wants into the tail, then opens the gate (or kills the daemon).
 *       The call is counted before it waits; a counting-mode fault that
 *       fires on it fails it at once, without the wait.
 * Both apply to that first sync only. The later syncs of the same file -
 * the catch-up rounds', on the helper thread, and the finish's, on the loop
 * - copy a small tail: slowing them would stall the loop in the finish and
 * make every round as slow as a whole snapshot, which no disk does.
 *
 *   SS_FAULT_SNAPSHOT_WRITE_GATE=path  the first pwrite to the temp file
 *       after an open that creates it - the walk's first chunk of snapshot
 *       bytes, on the helper thread - waits the same way. The walk goes on
 *       until SS_COMPACT_CHUNK + SS_COMPACT_AHEAD more bytes are ready, then
 *       waits for that write (compactor.c): with a table whose snapshot is
 *       well over twice that, the walk is held in its middle, its temp file
 *       still empty, for as long as the test likes - to change the table
 *       under it (grow it past a resize, say), or to kill the daemon.
 *
 * An open that creates the temp file (each compaction's, or
 * ss_snapshot_write's when a start upgrades the log) arms all three again;
 * so does one that creates a BACKUP's log, which these faults treat as the
 * temp file.
 * A gate holds one of the daemon's own threads, and the daemon ends a
 * compaction's job before it exits (SIGTERM, a failed fdatasync of the
 * log, ...: ss_compactor_cancel), as it would wait for a slow disk: a test
 * that leaves a gate shut must open it before it expects an exit.
 *
 *   SS_FAULT_REPLAY_DELAY_US=n  replay sleeps n microseconds at each of
 *       its progress points (every SS_STORE_PROGRESS_RECORDS records), so
 *       that a log of a few hundred thousand records replays for seconds
 *       and the daemon's once-a-second progress lines (and STATUS= lines)
 *       appear as they would for a log of hundreds of millions. The pacing
 *       under test is the daemon's own; only the replay is slower.
 *
 * Observation, in either mode (both optional):
 *
 *   SS_FAULT_COUNTS=path  the per-op call counts, rewritten (write a temp
 *       file, rename it) before each call is made, so the file is complete
 *       and current whenever the daemon exits - cleanly, with an error, or by
 *       a signal - and after each reply a client got. Format, one line each:
 *           <op> <count>          for open pwrite fdatasync fsync ftruncate
 *                                 rename unlink close, in that order
 *           fired <op> <n> <err>  for each counting-mode fault that fired,
 *                                 in the order they are given
 *   SS_FAULT_TRACE=path  one line appended per call, before it is made:
 *           <seq> <op> <n> <detail>
 *       seq numbers all calls together, n the calls of op; detail names the
 *       file (open, unlink, rename: the paths; otherwise the file behind the
 *       descriptor, from /proc/self/fd), pwrite adds "off=<o> len=<l>" and
 *       "zeros" when every byte is zero (preallocation, cut-backs),
 *       ftruncate "len=<l>". The call that fails ends with "FAULT <err>".
 */
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/daemon.h"
#include "statestored/store.h"

enum op { OP_OPEN, OP_PWRITE, OP_FDATASYNC, OP_FSYNC, OP_FTRUNCATE, OP_RENAME, OP_UNLINK, OP_CLOSE, OP_N };

static const char *const op_names[OP_N] = {"open",      "pwrite", "fdatasync", "fsync",
					   "ftruncate", "rename", "unlink",    "close"};

#define ERR_SHORT (-1) /* counting mode's short write */

#define FAULTS_MAX 4

/* What the daemon's threads share. */
struct shared {
	/* Held across a count and the rewrite of the counts file, by every
	 * thread of the daemon: without it, two threads counting at once (a
	 * sync on the syncer thread, a close on the compactor's) could rename
	 * their files in the other order, and the file would miss the newer
	 * count - a test reading it after a reply would then place that call
	 * in the wrong step. */
	pthread_mutex_t mu;
	unsigned long calls[OP_N];
	unsigned long seq;
	int fired[FAULTS_MAX];
	/* The temp file created last has had its first fdatasync (the
	 * snapshot's): the delay and the gate are spent; its first pwrite:
	 * the write gate is spent. */
	int snapshot_synced, snapshot_written;
};

/* One counting-mode fault. */
struct nth_fault {
	enum op op;
	int err; /* an errno, or ERR_SHORT */
	unsigned long nth;
};

struct fault {
	/* Marker mode. */
	enum { F_NONE, F_PWRITE, F_SHORT, F_FDATASYNC, F_COUNT } kind;
	int err; /* marker mode's errno; in counting mode, the firing fault's */
	const char *mark;
	int armed;     /* fdatasync: a marked write happened */
	int short_due; /* short: the retry of a short write must fail */
	long sync_delay_us; /* SS_FAULT_SYNC_DELAY_US */
	long snapshot_delay_us; /* SS_FAULT_SNAPSHOT_DELAY_US */
	const char *snapshot_gate; /* SS_FAULT_SNAPSHOT_GATE */
	const char *write_gate;    /* SS_FAULT_SNAPSHOT_WRITE_GATE */
	/* Counting mode. */
	struct nth_fault nf[FAULTS_MAX];
	int nfaults;
	/* Observation. */
	struct shared *sh;
	const char *counts_path;
	int trace_fd;
};

static const struct {
	const char *name;
	int err;
} errs[] = {{"ENOSPC", ENOSPC}, {"EIO", EIO}, {"EINTR", EINTR}, {"EDQUOT", EDQUOT}, {"short", ERR_SHORT}};

static const char *err_name(int err)
{
	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		if (errs[i].err == err)
			return errs[i].name;
	}
	return "?";
}

/* Rewrites the counts file whole: a temp file renamed over it, so a reader
 * never sees half of one. Real calls, not the table's: not counted. */
static void write_counts(const struct fault *f)
{
	char tmp[PATH_MAX], text[1024];
	int len = 0, fd;

	if (!f->counts_path)
		return;
	for (int i = 0; i < OP_N; i++)
		len += snprintf(text + len, sizeof(text) - (size_t)len, "%s %lu\n", op_names[i],
				__atomic_load_n(&f->sh->calls[i], __ATOMIC_SEQ_CST));
	for (int i = 0; i < f->nfaults; i++) {
		if (__atomic_load_n(&f->sh->fired[i], __ATOMIC_SEQ_CST))
			len += snprintf(text + len, sizeof(text) - (size_t)len, "fired %s %lu %s\n",
					op_names[f->nf[i].op], f->nf[i].nth, err_name(f->nf[i].err));
	}
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", f->counts_path, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (write(fd, text, (size_t)len) != len) {
		close(fd);
		unlink(tmp);
		return;
	}
	close(fd);
	if (rename(tmp, f->counts_path) < 0)
		unlink(tmp);
}

/* Appends "<seq> <op> <n> <fmt...>[ FAULT <err>]\n" to the trace in one
 * write (O_APPEND), so lines from two threads never interleave. */
static void trace(const struct fault *f, unsigned long seq, enum op op, unsigned long n, int fail,
		  const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void trace(const struct fault *f, unsigned long seq, enum op op, unsigned long n, int fail,
		  const char *fmt, ...)
{
	char line[2 * PATH_MAX + 256];
	int len;
	va_list ap;

	if (f->trace_fd < 0)
		return;
	len = snprintf(line, sizeof(line), "%lu %s %lu ", seq, op_names[op], n);
	va_start(ap, fmt);
	len += vsnprintf(line + len, sizeof(line) - (size_t)len, fmt, ap);
	va_end(ap);
	if (len > (int)sizeof(line) - 32)
		len = (int)sizeof(line) - 32;
	if (fail)
		len += snprintf(line + len, sizeof(line) - (size_t)len, " FAULT %s", err_name(f->err));
	line[len++] = '\n';
	if (write(f->trace_fd, line, (size_t)len) < 0)
		return; /* observation only: the daemon goes on */
}

/* The file behind fd, for the trace. */
static const char *fd_name(int fd, char *buf, size_t size)
{
	char link[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, buf, size - 1);
	if (n < 0)
		snprintf(buf, size, "fd%d", fd);
	else
		buf[n] = '\0';
	return buf;
}

/* Counts one call of op. Returns 1 if a counting-mode fault fires on it
 * (the caller then fails it with f->err, set here), 0 otherwise; *seq and
 * *n are the call's numbers for the trace. */
static int count_call(struct fault *f, enum op op, unsigned long *seq, unsigned long *n)
{
	int fire = 0;

	pthread_mutex_lock(&f->sh->mu);
	*seq = __atomic_add_fetch(&f->sh->seq, 1, __ATOMIC_SEQ_CST);
	*n = __atomic_add_fetch(&f->sh->calls[op], 1, __ATOMIC_SEQ_CST);
	for (int i = 0; i < f->nfaults && !fire; i++) {
		if (op == f->nf[i].op && *n == f->nf[i].nth &&
		    __atomic_exchange_n(&f->sh->fired[i], 1, __ATOMIC_SEQ_CST) == 0) {
			fire = 1;
			f->err = f->nf[i].err;
		}
	}
	write_counts(f);
	pthread_mutex_unlock(&f->sh->mu);
	return fire;
}

static int fail_with(int err)
{
	errno = err;
	return -1;
}

static void sleep_us(long us)
{
	struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = us % 1000000 * 1000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Creates gate.waiting, then waits until gate exists (polling: the test's
 * side of it is a file it creates). */
static void wait_for_gate(const char *gate)
{
	char waiting[PATH_MAX];

	snprintf(waiting, sizeof(waiting), "%s.waiting", gate);
	int fd = open(waiting, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0)
		close(fd);
	while (access(gate, F_OK) < 0)
		sleep_us(1000);
}

/* Whether path ends with the whole name tail (after a slash, or alone). */
static int ends_with(const char *path, const char *tail)
{
	size_t n = strlen(path), k = strlen(tail);

	return n >= k && strcmp(path + n - k, tail) == 0 && (n == k || path[n - k - 1] == '/');
}

/* Whether path is a BACKUP's log, DIR.partial/statestored.log
 * (engine/backup.c): ".partial" ends the name of a directory, so it is
 * preceded by that name, not by a slash as a whole name is in ends_with. */
static int is_backup_log(const char *path)
{
	static const char tail[] = ".partial/statestored.log";
	size_t n = strlen(path), k = sizeof(tail) - 1;

	return n > k && strcmp(path + n - k, tail) == 0 && path[n - k - 1] != '/';
}

/* A compaction's temp file, or a BACKUP's log: both are a snapshot the
 * compactor writes. */
static int is_tmp_path(const char *path)
{
	return ends_with(path, SS_LOG_TMP_FILE) || is_backup_log(path);
}

/* Whether fd is the compaction's temp file. */
static int is_tmp_fd(int fd)
{
	char name[PATH_MAX];

	return is_tmp_path(fd_name(fd, name, sizeof(name)));
}

static int f_open(void *ctx, const char *path, int flags, mode_t mode)
{
	struct fault *f = ctx;
	unsigned long seq, n;
	int fire = count_call(f, OP_OPEN, &seq, &n);

	trace(f, seq, OP_OPEN, n, fire, "%s%s%s%s", path, flags & O_CREAT ? " O_CREAT" : "",
	      flags & O_TRUNC ? " O_TRUNC" : "", flags & O_DIRECTORY ? " O_DIRECTORY" : "");
	if (fire)
		return fail_with(f->err);
	int fd = ss_io_posix.open(ss_io_posix.ctx, path, flags, mode);
	if (fd >= 0 && (flags & O_CREAT) && is_tmp_path(path)) { /* a new snapshot */
		__atomic_store_n(&f->sh->snapshot_synced, 0, __ATOMIC_SEQ_CST);
		__atomic_store_n(&f->sh->snapshot_written, 0, __ATOMIC_SEQ_CST);
	}
	return fd;
}

static int f_close(void *ctx, int fd)
{
	struct fault *f = ctx;
	unsigned long seq, n;
	char name[PATH_MAX];

	(void)count_call(f, OP_CLOSE, &seq, &n);
	trace(f, seq, OP_CLOSE, n, 0, "%s", fd_name(fd, name, sizeof(name)));
	return ss_io_posix.close(ss_io_posix.ctx, fd);
}

static int all_zero(const void *buf, size_t n)
{
	const unsigned char *p = buf;

	for (size_t i = 0; i < n; i++) {
		if (p[i])
			return 0;
	}
	return 1;
}

static ssize_t f_pwrite(void *ctx, int fd, const void *buf, size_t n, off_t off)
{
	struct fault *f = ctx;
	unsigned long seq, k;
	char name[PATH_MAX];
	int fire = count_call(f, OP_PWRITE, &seq, &k);
	int marked = f->kind != F_COUNT && memmem(buf, n, f->mark, strlen(f->mark)) != NULL;

	trace(f, seq, OP_PWRITE, k, fire, "%s off=%lld len=%zu%s", fd_name(fd, name, sizeof(name)),
	      (long long)off, n, all_zero(buf, n) ? " zeros" : "");
	if (fire && f->err == ERR_SHORT)
		return ss_io_posix.pwrite(ss_io_posix.ctx, fd, buf, n > 1 ? n / 2 : n, off);
	if (fire)
		return fail_with(f->err);
	if (f->write_gate && is_tmp_fd(fd) &&
	    !__atomic_exchange_n(&f->sh->snapshot_written, 1, __ATOMIC_SEQ_CST))
		wait_for_gate(f->write_gate);
	if (f->short_due) {
		f->short_due = 0;
		return fail_with(f->err);
	}
	if (marked && f->kind == F_PWRITE)
		return fail_with(f->err);
	if (marked && f->kind == F_SHORT && n > 1) {
		ssize_t w = ss_io_posix.pwrite(ss_io_posix.ctx, fd, buf, n / 2, off);
		if (w > 0)
			f->short_due = 1;
		return w;
	}
	if (marked && f->kind == F_FDATASYNC)
		f->armed = 1;
	return ss_io_posix.pwrite(ss_io_posix.ctx, fd, buf, n, off);
}

/* Counts and traces a call of op on fd (its name, then more); returns
 * whether it is to fail, as count_call. */
static int count_fd_call(struct fault *f, enum op op, int fd, const char *more)
{
	unsigned long seq, n;
	char name[PATH_MAX];
	int fire = count_call(f, op, &seq, &n);

	trace(f, seq, op, n, fire, "%s%s", fd_name(fd, name, sizeof(name)), more);
	return fire;
}

static int f_fdatasync(void *ctx, int fd)
{
	struct fault *f = ctx;

	if (count_fd_call(f, OP_FDATASYNC, fd, ""))
		return fail_with(f->err);
	if (f->armed) {
		f->armed = 0;
		return fail_with(f->err);
	}
	if (f->sync_delay_us > 0)
		sleep_us(f->sync_delay_us);
	if ((f->snapshot_delay_us > 0 || f->snapshot_gate) && is_tmp_fd(fd) &&
	    !__atomic_exchange_n(&f->sh->snapshot_synced, 1, __ATOMIC_SEQ_CST)) {
		if (f->snapshot_delay_us > 0)
			sleep_us(f->snapshot_delay_us);
		if (f->snapshot_gate)
			wait_for_gate(f->snapshot_gate);
	}
	return ss_io_posix.fdatasync(ss_io_posix.ctx, fd);
}

static int f_fsync(void *ctx, int fd)
{
	struct fault *f = ctx;

	if (count_fd_call(f, OP_FSYNC, fd, ""))
		return fail_with(f->err);
	return ss_io_posix.fsync(ss_io_posix.ctx, fd);
}

static int f_ftruncate(void *ctx, int fd, off_t len)
{
	struct fault *f = ctx;
	char more[32];

	snprintf(more, sizeof(more), " len=%lld", (long long)len);
	if (count_fd_call(f, OP_FTRUNCATE, fd, more))
		return fail_with(f->err);
	return ss_io_posix.ftruncate(ss_io_posix.ctx, fd, len);
}

static int f_rename(void *ctx, const char *from, const char *to)
{
	struct fault *f = ctx;
	unsigned long seq, n;
	int fire = count_call(f, OP_RENAME, &seq, &n);

	trace(f, seq, OP_RENAME, n, fire, "%s %s", from, to);
	if (fire)
		return fail_with(f->err);
	return ss_io_posix.rename(ss_io_posix.ctx, from, to);
}

static int f_unlink(void *ctx, const char *path)
{
	struct fault *f = ctx;
	unsigned long seq, n;
	int fire = count_call(f, OP_UNLINK, &seq, &n);

	trace(f, seq, OP_UNLINK, n, fire, "%s", path);
	if (fire)
		return fail_with(f->err);
	return ss_io_posix.unlink(ss_io_posix.ctx, path);
}

static int parse_err(const char *s, size_t len, int *err)
{
	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		if (strlen(errs[i].name) == len && !strncmp(s, errs[i].name, len)) {
			*err = errs[i].err;
			return 0;
		}
	}
	return -1;
}

/* One "<op>:<err>@<n>" in spec[0..len). */
static int parse_nth(const char *spec, size_t len, struct nth_fault *nf)
{
	const char *colon = memchr(spec, ':', len);
	const char *at = memchr(spec, '@', len);
	const char *end = spec + len;
	char *stop;
	size_t kl;
	int i;

	if (!colon || !at || at < colon || at + 1 == end || at[1] < '0' || at[1] > '9')
		return -1;
	kl = (size_t)(colon - spec);
	for (i = 0; i < OP_N; i++) {
		if (i != OP_CLOSE && strlen(op_names[i]) == kl && !strncmp(spec, op_names[i], kl))
			break;
	}
	if (i == OP_N || parse_err(colon + 1, (size_t)(at - colon - 1), &nf->err) < 0)
		return -1;
	if (nf->err == ERR_SHORT && i != OP_PWRITE)
		return -1;
	errno = 0;
	nf->nth = strtoul(at + 1, &stop, 10);
	if (errno || stop != end || nf->nth == 0)
		return -1;
	nf->op = (enum op)i;
	return 0;
}

/* "<op>:<err>@<n>[,...]". */
static int parse_counting(const char *spec, struct fault *f)
{
	while (*spec) {
		const char *comma = strchr(spec, ',');
		size_t len = comma ? (size_t)(comma - spec) : strlen(spec);

		if (f->nfaults == FAULTS_MAX || parse_nth(spec, len, &f->nf[f->nfaults]) < 0)
			return -1;
		f->nfaults++;
		spec += len + (comma ? 1 : 0);
		if (comma && !*spec)
			return -1;
	}
	f->kind = F_COUNT;
	return 0;
}

static int parse_fault(const char *spec, struct fault *f)
{
	const char *colon = strchr(spec, ':');

	if (!colon)
		return -1;
	if (strchr(spec, '@'))
		return parse_counting(spec, f);
	size_t kl = (size_t)(colon - spec);
	if (kl == 6 && !strncmp(spec, "pwrite", kl))
		f->kind = F_PWRITE;
	else if (kl == 5 && !strncmp(spec, "short", kl))
		f->kind = F_SHORT;
	else if (kl == 9 && !strncmp(spec, "fdatasync", kl))
		f->kind = F_FDATASYNC;
	else
		return -1;
	if (parse_err(colon + 1, strlen(colon + 1), &f->err) < 0 || f->err == ERR_SHORT)
		return -1;
	return 0;
}

/* SS_FAULT_REPLAY_DELAY_US: sleeps at each of replay's progress points. */
static void replay_sleep(void *arg)
{
	const long *us = arg;
	struct timespec ts = {.tv_sec = *us / 1000000, .tv_nsec = (*us % 1000000) * 1000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int main(int argc, char **argv)
{
	struct shared sh = {.mu = PTHREAD_MUTEX_INITIALIZER};
	struct fault f = {.kind = F_NONE, .mark = getenv("SS_FAULT_MARK"), .trace_fd = -1};
	const char *spec = getenv("SS_FAULT");
	const char *counts = getenv("SS_FAULT_COUNTS");
	const char *trace_path = getenv("SS_FAULT_TRACE");
	int code;

	if (!f.mark || !*f.mark)
		f.mark = "INJECT_FAULT";
	const char *delay = getenv("SS_FAULT_SYNC_DELAY_US");
	if (delay && *delay)
		f.sync_delay_us = strtol(delay, NULL, 10);
	delay = getenv("SS_FAULT_SNAPSHOT_DELAY_US");
	if (delay && *delay)
		f.snapshot_delay_us = strtol(delay, NULL, 10);
	f.snapshot_gate = getenv("SS_FAULT_SNAPSHOT_GATE");
	if (f.snapshot_gate && !*f.snapshot_gate)
		f.snapshot_gate = NULL;
	long replay_delay_us = 0;
	delay = getenv("SS_FAULT_REPLAY_DELAY_US");
	if (delay && *delay)
		replay_delay_us = strtol(delay, NULL, 10);
	f.write_gate = getenv("SS_FAULT_SNAPSHOT_WRITE_GATE");
	if (f.write_gate && !*f.write_gate)
		f.write_gate = NULL;
	if (spec && *spec && parse_fault(spec, &f) < 0) {
		fprintf(stderr, "statestored-faulty: bad SS_FAULT '%s'\n", spec);
		return 2;
	}
	f.sh = &sh;
	f.counts_path = counts && *counts ? counts : NULL;
	if (trace_path && *trace_path) {
		f.trace_fd = open(trace_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (f.trace_fd < 0) {
			fprintf(stderr, "statestored-faulty: cannot open %s: %s\n", trace_path,
				strerror(errno));
			return 1;
		}
	}
	write_counts(&f); /* all zero: the file exists even if nothing is called */
	struct ss_io io = {
		.ctx = &f,
		.open = f_open,
		.close = f_close,
		.pwrite = f_pwrite,
		.fdatasync = f_fdatasync,
		.fsync = f_fsync,
		.ftruncate = f_ftruncate,
		.rename = f_rename,
		.unlink = f_unlink,
	};
	struct ss_daemon_env env = {.io = &io};
	if (replay_delay_us > 0) {
		env.replay_hook = replay_sleep;
		env.replay_hook_arg = &replay_delay_us;
	}
	code = ss_daemon_main(argc, argv, &env);
	pthread_mutex_lock(&sh.mu);
	write_counts(&f);
	pthread_mutex_unlock(&sh.mu);
	if (f.trace_fd >= 0)
		close(f.trace_fd);
	pthread_mutex_destroy(&sh.mu);
	return code;
}
