/*
 * logfile.c - one log file: replay at open, appends, syncs, replacement.
 *
 * The log is the store's only durable state. The table in memory is a cache
 * of it: at startup we rebuild the table by replaying the log from the first
 * record to the last, and every commit appends the commit's records to the
 * log (one pwrite) and makes them durable (one fdatasync) before any of them
 * is applied to the table or acknowledged. The format is text, one record
 * per line, each line with its own CRC-32C, and records framed in groups: a
 * GROUP <count> line and then <count> records (record.h). Every write to
 * the log is exactly one group.
 *
 * On-disk invariants, kept by this file:
 *
 *   1. The file starts with the header "statestored-log 2\n", written and
 *      fdatasync'd (and the directory fsync'd) before any record is. An
 *      existing log's directory is fsync'd at every open too, in case the
 *      start that created the file did not get that far.
 *   2. Bytes [0, end) are the header followed by whole, valid groups. end
 *      (the logical end) is where the next append goes.
 *   3. Bytes [end, size) are zeros: the preallocated region. A failed append
 *      is cut back - truncated away, or overwritten with zeros inside the
 *      preallocated region - so no partial group stays after end while we
 *      run. If even the cut-back fails we cannot vouch for the bytes past
 *      end, and the log is "broken": it takes no more appends.
 *   4. Groups are only ever appended. The file is replaced as a whole, by
 *      rename of a complete, synced temp file, when the store compacts.
 *   5. At most one write is ever unsynced: the server writes a batch only
 *      after the previous batch's fdatasync returned, and a compacted file
 *      is complete and synced before it is renamed into place.
 *
 * Preallocation. Appending past the end of a file changes its size, and then
 * every fdatasync must also flush the inode. With prealloc on, we write zeros
 * ahead of the end in large chunks, so most appends overwrite zeros inside
 * the file and their fdatasync writes data only. Replay reads a zero byte
 * where a GROUP line should start as the end of the log. If the disk is full
 * the zero-fill fails with ENOSPC and we append without it, so the log takes
 * writes until the disk is truly full.
 *
 * Crash behaviour. kill -9 loses nothing the kernel has accepted. Power loss
 * loses what was not yet fdatasync'd, and not necessarily as a clean prefix:
 * if power fails during the fdatasync of a write that overwrote zeros inside
 * the file, any subset of its pages may have reached the disk - a page of
 * zeros (or of old bytes) can sit between valid records of that same,
 * never-acknowledged write. A record-by-record reading would call that
 * "damage followed by a valid record", i.e. corruption, and refuse to start
 * over data nobody was promised. Groups fix this: replay applies a group
 * only once all of its records are read and valid, and classifies damage by
 * complete groups.
 *
 * At the first damage X - a line that is not what the format needs there
 * (garbage, zeros, a bad CRC, a record outside any group, a GROUP line
 * inside a group) or a group cut short by the end of the file - replay looks
 * for a complete valid group (a valid GROUP k line and k valid records)
 * that starts at or after X: at every line start, and after the last byte of
 * each line that no record can hold (a run of zeros, a damaged newline).
 * (The line at X counts when it is itself a valid GROUP line: the damage is
 * then the group before it, cut short.)
 *
 *   - If there is one, a later write happened. The server writes only after
 *     the previous fdatasync returned, so the damaged data had been
 *     acknowledged: this is corruption. Refuse to start, naming the file, the
 *     byte offset and the record number (lines after the header, GROUP lines
 *     included, from 1), and let a human decide.
 *   - If there is none, the damage lies within the last write, which was
 *     never acknowledged: a torn tail. Cut the file back to the end of the
 *     last complete group before X, sync, and report the bytes cut. A tail
 *     of only zeros right after a complete group is simply the preallocated
 *     end, not a tear.
 *
 * Known limit: bit rot inside the very last group looks exactly like a torn
 * write, so that group is cut - loudly, as the startup log reports every
 * torn byte - rather than refused. Damage anywhere earlier is caught.
 *
 * Failed syncs are final. After fdatasync fails the kernel may have dropped
 * the dirty pages and marked them clean; a later fdatasync would succeed
 * without the data being on disk. So the log is "poisoned": it refuses all
 * further appends and syncs, and the process must restart and replay.
 *
 * Replay maps the file read-only and hands the mapping to the scanner
 * (logscan.c), which decodes it in place: records point into the mapping,
 * and the table copies what it keeps. This file decides what the scan's
 * verdict means, as above.
 */
#include "engine/logfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/error.h"
#include "engine/logscan.h"

#define HEADER_LEN (sizeof(SS_LOG_HEADER) - 1)

/* Source of zeros for preallocation and cut-backs. */
static const char zeros[64 * 1024];

typedef unsigned long long ull;

void ss_logfile_init(struct ss_logfile *lf, const char *path, const char *dir,
		     const struct ss_io *io, size_t prealloc)
{
	memset(lf, 0, sizeof(*lf));
	lf->io = io;
	lf->path = path;
	lf->dir = dir;
	lf->prealloc = prealloc;
	lf->fd = -1;
	lf->retired_fd = -1;
}

void ss_logfile_close(struct ss_logfile *lf)
{
	if (lf->fd >= 0)
		lf->io->close(lf->io->ctx, lf->fd);
	if (lf->retired_fd >= 0)
		lf->io->close(lf->io->ctx, lf->retired_fd);
	lf->fd = lf->retired_fd = -1;
}

int ss_logfile_take_retired(struct ss_logfile *lf)
{
	int fd = lf->retired_fd;
	lf->retired_fd = -1;
	return fd;
}

/* Writes zeros over [off, off + n). Returns 0 or -1 with errno. */
static int write_zeros(const struct ss_logfile *lf, uint64_t off, uint64_t n)
{
	while (n > 0) {
		size_t k = n < sizeof(zeros) ? (size_t)n : sizeof(zeros);

		if (ss_io_pwrite_all(lf->io, lf->fd, zeros, k, (off_t)off) < 0)
			return -1;
		off += k;
		n -= k;
	}
	return 0;
}

/* Writes the header over whatever the file holds, syncs it and the
 * directory (the file may be new). */
static int write_header(struct ss_logfile *lf, struct ss_error *err)
{
	const struct ss_io *io = lf->io;

	if (ss_io_ftruncate(io, lf->fd, 0) < 0 ||
	    ss_io_pwrite_all(io, lf->fd, SS_LOG_HEADER, HEADER_LEN, 0) < 0 ||
	    ss_io_fdatasync(io, lf->fd) < 0 || ss_io_fsync_dir(io, lf->dir) < 0) {
		ss_error_set(err, SS_ERR_IO, errno, "cannot write the header of the log %s: %s",
			     lf->path, strerror(errno));
		return -1;
	}
	lf->end = lf->size = HEADER_LEN;
	lf->version = SS_LOG_VERSION;
	return 0;
}

static int all_zero(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i])
			return 0;
	}
	return 1;
}

/* A file no longer than the header that holds a prefix of it (maybe then
 * zeros) is a header whose write was torn: nothing was ever logged in it. */
static int torn_header(const char *buf, size_t len)
{
	size_t k = len;

	while (k > 0 && buf[k - 1] == '\0')
		k--;
	return len <= HEADER_LEN && ss_record_header_check(buf, k, NULL) == 0;
}

/* Replays the mapped file buf[0..size), whose header ends at start, and
 * decides where the log ends. Sets *cut to 1 if the file must be cut back
 * to lf->end. */
static int replay_file(struct ss_logfile *lf, const char *buf, size_t size, size_t start,
		       ss_logscan_apply_fn apply, ss_logscan_prefetch_fn prefetch, void *arg,
		       struct ss_logfile_report *rep, int *cut, struct ss_error *err)
{
	struct ss_logscan re;
	long long later;

	if (ss_logscan_replay(lf->version, buf, size, start, lf->replay_thread_min, apply, prefetch,
			      lf->replay_group, arg, &re) < 0) {
		ss_error_set(err, SS_ERR_NOMEM, errno,
			     "out of memory replaying the log %s at byte offset %llu (record %llu)",
			     lf->path, (ull)re.bad, (ull)re.nrec + 1);
		return -1;
	}
	rep->records = re.data;
	rep->groups = re.groups;
	lf->end = re.good_end;
	lf->size = size;
	*cut = 0;
	if (re.bad == size && re.good_end == size)
		return 0;
	later = ss_logscan_find_group(lf->version, buf, size, re.bad);
	if (later >= 0) {
		if (re.bad == re.group)
			ss_error_set(err, SS_ERR_CORRUPT, 0,
				     "the log %s is corrupt: the line at byte offset %llu (record %llu) "
				     "%s, but a complete group follows at byte offset %lld",
				     lf->path, (ull)re.bad, (ull)re.nrec + 1, re.why, later);
		else
			ss_error_set(err, SS_ERR_CORRUPT, 0,
				     "the log %s is corrupt: the line at byte offset %llu (record %llu) "
				     "%s that starts at byte offset %llu, but a complete group follows "
				     "at byte offset %lld",
				     lf->path, (ull)re.bad, (ull)re.nrec + 1, re.why, (ull)re.group,
				     later);
		return -1;
	}
	if (re.bad == re.good_end && all_zero(buf + re.bad, size - re.bad))
		return 0; /* the preallocated region: not torn */
	/* A torn tail: the last write, never acknowledged. Cut it. What the
	 * report counts is the torn data, not the preallocated zeros after it
	 * (they go too, but were never part of any write). */
	uint64_t data_end = size;
	while (data_end > re.good_end && buf[data_end - 1] == '\0')
		data_end--;
	rep->torn_bytes = data_end - re.good_end;
	lf->size = re.good_end;
	*cut = 1;
	return 0;
}

/* Reads the log open as lf->fd - maps it, checks its header, replays it -
 * and writes nothing: rep->fix says what the file needs before the next
 * append (lf->end is where a cut goes). The one reading of a log, for
 * ss_logfile_open and ss_logfile_inspect alike, so that a tool's verdict
 * is the daemon's. */
static int read_log(struct ss_logfile *lf, ss_logscan_apply_fn apply,
		    ss_logscan_prefetch_fn prefetch, void *arg, struct ss_logfile_report *rep,
		    struct ss_error *err)
{
	char *map = NULL;
	size_t len = 0;
	struct stat st;
	long version = 0, hc;
	int cut = 0, ret = -1;

	if (fstat(lf->fd, &st) < 0) {
		ss_error_set(err, SS_ERR_IO, errno, "cannot stat the log %s: %s", lf->path,
			     strerror(errno));
		goto out;
	}
	rep->file_bytes = (uint64_t)st.st_size;
	if (st.st_size == 0) {
		rep->fix = SS_LOGFILE_FIX_HEADER;
		ret = 0;
		goto out;
	}
	len = (size_t)st.st_size;
	map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, lf->fd, 0);
	if (map == MAP_FAILED) {
		map = NULL;
		ss_error_set(err, SS_ERR_IO, errno, "cannot map the log %s (%llu bytes) to replay it: %s",
			     lf->path, (ull)len, strerror(errno));
		goto out;
	}
	(void)madvise(map, len, MADV_SEQUENTIAL);
	hc = ss_record_header_check(map, len, &version);
	if (hc == 0 || (hc == -1 && torn_header(map, len))) {
		rep->torn_bytes = len;
		rep->fix = SS_LOGFILE_FIX_HEADER;
		ret = 0;
		goto out;
	}
	if (hc == -1) {
		ss_error_set(err, SS_ERR_CORRUPT, 0,
			     "%s is not a statestored log: it does not start with \"%s %d\"",
			     lf->path, SS_LOG_MAGIC, SS_LOG_VERSION);
		goto out;
	}
	if (hc == -2) {
		lf->version = version;
		ss_error_set(err, SS_ERR_VERSION, 0,
			     "the log %s has format version %ld, but this build reads only versions 1 "
			     "to %d",
			     lf->path, version, SS_LOG_VERSION);
		goto out;
	}
	lf->version = version;
	lf->replay_map = map;
	lf->replay_len = len;
	int rc = replay_file(lf, map, len, (size_t)hc, apply, prefetch, arg, rep, &cut, err);
	lf->replay_map = NULL;
	lf->replay_len = 0;
	if (rc < 0)
		goto out;
	rep->fix = cut ? SS_LOGFILE_FIX_CUT : SS_LOGFILE_FIX_NONE;
	ret = 0;
out:
	if (map)
		munmap(map, len);
	return ret;
}

int ss_logfile_open(struct ss_logfile *lf, ss_logscan_apply_fn apply,
		    ss_logscan_prefetch_fn prefetch, void *arg, struct ss_logfile_report *rep,
		    struct ss_error *err)
{
	const struct ss_io *io = lf->io;
	int ret = -1;

	memset(rep, 0, sizeof(*rep));
	lf->fd = ss_io_open(io, lf->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (lf->fd < 0) {
		ss_error_set(err, SS_ERR_IO, errno, "cannot open the log %s: %s", lf->path,
			     strerror(errno));
		goto out;
	}
	if (read_log(lf, apply, prefetch, arg, rep, err) < 0)
		goto out;
	if (rep->fix == SS_LOGFILE_FIX_HEADER) {
		ret = write_header(lf, err);
		goto out;
	}
	if (rep->fix == SS_LOGFILE_FIX_CUT && (ss_io_ftruncate(io, lf->fd, (off_t)lf->end) < 0 ||
					      ss_io_fdatasync(io, lf->fd) < 0)) {
		ss_error_set(err, SS_ERR_IO, errno,
			     "cannot cut the torn tail of the log %s back to byte offset %llu: %s",
			     lf->path, (ull)lf->end, strerror(errno));
		goto out;
	}
	/* The log's directory entry may never have been made durable: the
	 * start that created it may have failed that fsync, or died first. */
	if (ss_io_fsync_dir(io, lf->dir) < 0) {
		ss_error_set(err, SS_ERR_IO, errno, "cannot fsync the directory %s of the log %s: %s",
			     lf->dir, lf->path, strerror(errno));
		goto out;
	}
	ret = 0;
out:
	lf->synced = lf->end;
	if (ret < 0)
		ss_logfile_close(lf);
	return ret;
}

int ss_logfile_inspect(struct ss_logfile *lf, ss_logscan_apply_fn apply,
		       ss_logscan_prefetch_fn prefetch, void *arg, struct ss_logfile_report *rep,
		       struct ss_error *err)
{
	int ret;

	memset(rep, 0, sizeof(*rep));
	lf->fd = ss_io_open(lf->io, lf->path, O_RDONLY | O_CLOEXEC, 0);
	if (lf->fd < 0) {
		ss_error_set(err, SS_ERR_IO, errno, "cannot open the log %s: %s", lf->path,
			     strerror(errno));
		return -1;
	}
	ret = read_log(lf, apply, prefetch, arg, rep, err);
	ss_logfile_close(lf);
	return ret;
}

int ss_logfile_writable(const struct ss_logfile *lf, struct ss_error *err)
{
	if (lf->poisoned || lf->broken) {
		ss_error_set(err, SS_ERR_IO, EIO,
			     "the log %s refuses writes since %s failed; restart to replay it",
			     lf->path, lf->poisoned ? "a sync" : "cutting back a failed append");
		return -1;
	}
	return 0;
}

/* Zero-fills ahead so that [end, end + n) lies inside the file. On ENOSPC
 * leaves the file as it was and returns 0: the caller appends without it. */
static int prealloc_for(struct ss_logfile *lf, size_t n, struct ss_error *err)
{
	uint64_t need = lf->end + n;
	uint64_t chunks = (need - lf->size + lf->prealloc - 1) / lf->prealloc;
	uint64_t target = lf->size + chunks * lf->prealloc;
	int e;

	if (write_zeros(lf, lf->size, target - lf->size) == 0) {
		lf->size = target;
		return 0;
	}
	e = errno;
	/* Whatever part of the zeros got written is harmless (zeros past the
	 * end read as the end), but give the space back if we can. */
	(void)ss_io_ftruncate(lf->io, lf->fd, (off_t)lf->size);
	if (e == ENOSPC)
		return 0;
	ss_error_set(err, SS_ERR_IO, e,
		     "cannot preallocate the log %s from byte offset %llu to %llu: %s", lf->path,
		     (ull)lf->size, (ull)target, strerror(e));
	return -1;
}

int ss_logfile_append(struct ss_logfile *lf, const void *buf, size_t n, struct ss_error *err)
{
	const struct ss_io *io = lf->io;
	int e, cut;

	if (ss_logfile_writable(lf, err) < 0)
		return -1;
	if (n == 0)
		return 0;
	if (lf->prealloc > 0 && lf->end + n > lf->size && prealloc_for(lf, n, err) < 0)
		return -1;
	if (ss_io_pwrite_all(io, lf->fd, buf, n, (off_t)lf->end) == 0) {
		lf->end += n;
		if (lf->end > lf->size)
			lf->size = lf->end;
		return 0;
	}
	e = errno;
	/* Cut back: no partial record may stay past end, or the next append
	 * would land after it, and replay would call that corruption. */
	if (lf->end + n <= lf->size) {
		cut = write_zeros(lf, lf->end, n);
	} else {
		cut = ss_io_ftruncate(io, lf->fd, (off_t)lf->end);
		if (cut == 0)
			lf->size = lf->end;
	}
	if (cut < 0) {
		lf->broken = 1;
		ss_error_set(err, SS_ERR_IO, e,
			     "cannot append %zu bytes to the log %s at byte offset %llu (%s), nor cut "
			     "it back (%s), so the log refuses further writes",
			     n, lf->path, (ull)lf->end, strerror(e), strerror(errno));
		return -1;
	}
	ss_error_set(err, SS_ERR_IO, e, "cannot append %zu bytes to the log %s at byte offset %llu: %s",
		     n, lf->path, (ull)lf->end, strerror(e));
	return -1;
}

int ss_logfile_sync_begin(struct ss_logfile *lf, struct ss_error *err)
{
	if (ss_logfile_writable(lf, err) < 0)
		return -1;
	return lf->fd;
}

int ss_logfile_sync_end(struct ss_logfile *lf, int rc, int errnum, struct ss_error *err)
{
	if (rc < 0) {
		lf->poisoned = 1;
		/* What this sync covered is unacknowledged and in doubt. Cutting it
		 * keeps a restart from replaying it, unless power fails first. */
		if (lf->end > lf->synced &&
		    ss_io_ftruncate(lf->io, lf->fd, (off_t)lf->synced) == 0)
			lf->end = lf->size = lf->synced;
		ss_error_set(err, SS_ERR_IO, errnum,
			     "cannot fdatasync the log %s (%s), so it refuses further writes; restart "
			     "to replay it",
			     lf->path, strerror(errnum));
		return -1;
	}
	lf->synced = lf->end;
	return 0;
}

int ss_logfile_sync(struct ss_logfile *lf, struct ss_error *err)
{
	int fd = ss_logfile_sync_begin(lf, err);

	if (fd < 0)
		return -1;
	int rc = ss_io_fdatasync(lf->io, fd);
	return ss_logfile_sync_end(lf, rc, rc < 0 ? errno : 0, err);
}

int ss_logfile_copy(const struct ss_io *io, int src, uint64_t from, uint64_t to, int dst,
		    uint64_t dst_off)
{
	char buf[64 * 1024];

	while (from < to) {
		size_t want = to - from < sizeof(buf) ? (size_t)(to - from) : sizeof(buf);
		ssize_t n = pread(src, buf, want, (off_t)from);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO; /* the log is shorter than it was written */
			return -1;
		}
		if (ss_io_pwrite_all(io, dst, buf, (size_t)n, (off_t)dst_off) < 0)
			return -1;
		from += (uint64_t)n;
		dst_off += (uint64_t)n;
	}
	return 0;
}

int ss_logfile_replace(struct ss_logfile *lf, const char *tmp, int tmp_fd, uint64_t len,
		       int unsynced, struct ss_error *err)
{
	const struct ss_io *io = lf->io;
	int ret = -1;

	/* The last bytes copied are whole groups, already durable in the old
	 * log; they must be durable in the new one before the rename makes it
	 * the log. */
	if (unsynced && ss_io_fdatasync(io, tmp_fd) < 0) {
		ss_error_set(err, SS_ERR_IO, errno, "cannot fdatasync the compacted log %s: %s", tmp,
			     strerror(errno));
		goto out;
	}
	if (ss_io_rename(io, tmp, lf->path) < 0) {
		ss_error_set(err, SS_ERR_IO, errno, "cannot rename %s to %s: %s", tmp, lf->path,
			     strerror(errno));
		goto out;
	}
	/* The new file is the log now, whatever happens next. The old one is
	 * kept open for the caller to close (ss_logfile_take_retired). */
	if (lf->retired_fd >= 0)
		io->close(io->ctx, lf->retired_fd);
	lf->retired_fd = lf->fd;
	lf->fd = tmp_fd;
	lf->version = SS_LOG_VERSION; /* a snapshot is always written in the current format */
	tmp_fd = -1;
	lf->end = lf->size = lf->synced = len;
	if (ss_io_fsync_dir(io, lf->dir) < 0) {
		lf->poisoned = 1;
		ss_error_set(err, SS_ERR_IO, errno,
			     "cannot fsync the directory %s after renaming the compacted log over %s "
			     "(%s), so the log refuses further writes; restart to replay it",
			     lf->dir, lf->path, strerror(errno));
		ret = -2;
		goto out;
	}
	ret = 0;
out:
	if (tmp_fd >= 0)
		io->close(io->ctx, tmp_fd);
	if (ret == -1)
		(void)ss_io_unlink(io, tmp);
	return ret;
}
