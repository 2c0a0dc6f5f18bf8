/*
 * fuzz_log.c - libFuzzer target for the log loader: the input is written as
 * statestored.log into this process's scratch directory and opened with
 * ss_store_open, as the daemon does at startup.
 *
 * Oracle:
 *   - open fails only with SS_ERR_CORRUPT or SS_ERR_VERSION, a message that
 *     names the file, and the file left exactly as it was (a human decides);
 *   - if it opens, the file is the input, or the input cut back at a torn
 *     tail (the bytes cut are torn_bytes), or a fresh header after a torn
 *     header, or (a version-1 log) a version-2 rewrite; anything past the
 *     logical end is zeros (preallocation);
 *   - reopening gives the same table and report, with nothing torn;
 *   - the log takes an append, which replays; a compaction of the result
 *     replays to the same table; revisions and commit times included, and
 *     the store's revision never goes down; the epoch history (EPOCH
 *     records) is the same after every reopen, the append and compaction;
 *   - a cut (truncate, for one input in four) back to half the revision
 *     either is refused as past the log's snapshot (SS_ERR_TRUNCATE) or
 *     leaves no entry, revision or epoch past the cut, keeps every epoch
 *     up to it, and is durable: a plain reopen finds the same table;
 *   - the codec: every line the decoder accepts (format 2, or 1 under a
 *     version-1 header) re-encodes to exactly its bytes in format 2 (one
 *     encoding per record: escapes, numbers, CRC), and a version-1 record
 *     re-encoded as version 2 decodes back to the same fields.
 *
 * A custom mutator recomputes the CRC of mutated lines now and then, so that
 * the fuzzer also explores records that are valid but unusual (group counts,
 * long names, odd expiries) instead of only lines with a bad checksum.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzsupport.h"
#include "statestored/batch.h"
#include "engine/crc32c.h"
#include "statestored/record.h"
#include "statestored/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

#define NOW FZ_LOG_NOW_MS
#define PROBE "fuzz-probe"

/* The history depth the stores open with: chosen per input. */
static unsigned history;

static struct fz_io fio;

/* Each line of data[0..size) that ss_record_decode_version accepts, checked
 * against ss_record_encode (see the oracles above). */
static void check_codec(const uint8_t *data, size_t size)
{
	static char name[SS_NAME_MAX], value[SS_VALUE_MAX], enc[SS_RECORD_MAX];
	const char *buf = (const char *)data;
	long version;
	long h = ss_record_header_check(buf, size, &version);
	size_t off, used;

	if (h <= 0)
		return;
	for (off = (size_t)h; off < size; off += used) {
		struct ss_record r, raw, back;
		enum ss_dec d = ss_record_decode_version(version, buf + off, size - off, &r, &used);
		if (d == SS_DEC_PARTIAL || (d == SS_DEC_BAD && used == 0))
			break;
		if (d == SS_DEC_BAD)
			continue;
		fz_check(used > 0 && buf[off + used - 1] == '\n', "a decoded record of %zu bytes "
			 "does not end in a newline", used);
		raw = r;
		raw.esc = 0;
		if (r.type == SS_REC_SET || r.type == SS_REC_DEL) {
			fz_check(r.nraw <= SS_NAME_MAX, "a decoded name of %zu bytes", r.nraw);
			raw.name = name;
			raw.nlen = r.esc & SS_REC_NAME_ESC ? ss_record_unescape(r.name, r.nlen, name)
							   : (memcpy(name, r.name, r.nlen), r.nlen);
			fz_check(raw.nlen == r.nraw, "name unescaped to %zu bytes, decode said %zu",
				 raw.nlen, r.nraw);
		}
		if (r.type == SS_REC_SET) {
			fz_check(r.vraw <= SS_VALUE_MAX, "a decoded value of %zu bytes", r.vraw);
			raw.value = value;
			raw.vlen = r.esc & SS_REC_VALUE_ESC
					   ? ss_record_unescape(r.value, r.vlen, value)
					   : (memcpy(value, r.value, r.vlen), r.vlen);
			fz_check(raw.vlen == r.vraw, "value unescaped to %zu bytes, decode said %zu",
				 raw.vlen, r.vraw);
		}
		if (version == 1) {
			if (r.type == SS_REC_GROUP)
				continue;
			/* Replay gives v1 records revisions; the writer needs one. */
			raw.rev = 1;
			raw.commit_ms = 0;
		}
		const char *why = ss_record_check(&raw);
		fz_check(!why, "a decoded record fails ss_record_check: %s", why);
		size_t n = ss_record_encode(&raw, enc);
		fz_check(n == ss_record_size(&raw), "encode wrote %zu bytes, size said %zu", n,
			 ss_record_size(&raw));
		if (version == SS_LOG_VERSION) {
			fz_check(n == used && memcmp(enc, buf + off, n) == 0,
				 "the record at offset %zu re-encodes differently: '%.*s' -> '%.*s'",
				 off, (int)(used < 200 ? used : 200), buf + off,
				 (int)(n < 200 ? n : 200), enc);
			continue;
		}
		size_t used2;
		fz_check(ss_record_decode(enc, n, &back, &used2) == SS_DEC_OK && used2 == n,
			 "a version-1 record re-encoded as version 2 does not decode");
		fz_check(back.type == r.type && back.nraw == raw.nlen &&
				 (r.type != SS_REC_SET ||
				  (back.vraw == raw.vlen && back.expire_ms == r.expire_ms)),
			 "a version-1 record changed on its way to version 2");
	}
}

static int open_store(struct ss_store **s, size_t prealloc, struct ss_open_report *rep,
		      struct ss_error *err)
{
	struct ss_store_options opt = {.dir = fz_scratch_dir(), .io = &fio.io,
				       .prealloc_bytes = prealloc, .history = history};

	memset(err, 0, sizeof(*err));
	return ss_store_open(s, &opt, NOW, rep, err);
}

/* Opens a log that must open, with nothing torn, and returns its table. */
static struct ss_store *reopen(const char *when, size_t prealloc, struct ss_open_report *rep,
			       struct fz_map *m)
{
	struct ss_store *s;
	struct ss_error err;

	if (open_store(&s, prealloc, rep, &err) < 0)
		fz_fail("reopening the log %s failed: %s", when, err.msg);
	fz_check(rep->torn_bytes == 0, "reopening the log %s cut %llu torn bytes", when,
		 (unsigned long long)rep->torn_bytes);
	fz_map_from_table(m, ss_store_table(s), NOW);
	return s;
}

static void expect_same(const struct fz_map *a, const struct fz_map *b, const char *when)
{
	const char *why = fz_map_diff(a, b);
	if (why)
		fz_fail("the table differs %s: %s", when, why);
}

/* The epoch history as the first open found it. */
static struct ss_epoch epochs1[64];
static size_t nepochs1;

static void note_epochs(const struct ss_store *s)
{
	const struct ss_epoch *ep;
	size_t n = ss_table_epochs(ss_store_table((struct ss_store *)s), &ep);

	nepochs1 = n < 64 ? n : 64;
	if (nepochs1 > 0)
		memcpy(epochs1, ep, nepochs1 * sizeof(*ep));
}

static void expect_epochs(struct ss_store *s, const char *when)
{
	const struct ss_epoch *ep;
	size_t n = ss_table_epochs(ss_store_table(s), &ep);

	if (n > 64)
		return; /* more than the copy holds: the count alone is checked */
	fz_check(n == nepochs1, "%zu epochs %s, %zu at the first open", n, when, nepochs1);
	for (size_t i = 0; i < n; i++)
		fz_check(ep[i].epoch == epochs1[i].epoch && ep[i].rev == epochs1[i].rev,
			 "epoch %zu is %llu after %llu %s, %llu after %llu at the first open", i,
			 (unsigned long long)ep[i].epoch, (unsigned long long)ep[i].rev, when,
			 (unsigned long long)epochs1[i].epoch, (unsigned long long)epochs1[i].rev);
}

/* Opens the log with a cut at cut_rev (store.h: truncate) and checks what
 * it left; then a plain reopen must find the same. */
static void check_cut(uint64_t cut_rev)
{
	struct ss_store_options opt = {.dir = fz_scratch_dir(), .io = &fio.io,
				       .history = history, .truncate = 1,
				       .truncate_rev = cut_rev};
	struct ss_open_report rep;
	struct fz_map m = {0}, m2 = {0};
	struct ss_error err = {0};
	const struct ss_epoch *ep;
	struct ss_store *s;
	size_t n;

	if (ss_store_open(&s, &opt, NOW, &rep, &err) < 0) {
		fz_check(err.kind == SS_ERR_TRUNCATE, "a cut at %llu failed with kind %d: %s",
			 (unsigned long long)cut_rev, (int)err.kind, err.msg);
		return;
	}
	fz_check(ss_table_revision(ss_store_table(s)) <= cut_rev,
		 "cut at %llu, the store's revision is %llu", (unsigned long long)cut_rev,
		 (unsigned long long)ss_table_revision(ss_store_table(s)));
	fz_map_from_table(&m, ss_store_table(s), NOW);
	for (size_t i = 0; i < m.n; i++)
		fz_check(m.kv[i].rev <= cut_rev, "cut at %llu, an entry holds revision %llu",
			 (unsigned long long)cut_rev, (unsigned long long)m.kv[i].rev);
	n = ss_table_epochs(ss_store_table(s), &ep);
	for (size_t i = 0; i < n; i++)
		fz_check(ep[i].rev <= cut_rev, "cut at %llu, epoch %llu began after %llu",
			 (unsigned long long)cut_rev, (unsigned long long)ep[i].epoch,
			 (unsigned long long)ep[i].rev);
	/* Every epoch that began up to the cut is kept. (Not "only those": a
	 * hand-made log may repeat an epoch with an earlier rev, which the
	 * cut then keeps where the full replay kept the first.) */
	for (size_t i = 0; i < nepochs1 && nepochs1 < 64; i++) {
		size_t j = 0;

		if (epochs1[i].rev > cut_rev)
			continue;
		while (j < n && (ep[j].epoch != epochs1[i].epoch || ep[j].rev != epochs1[i].rev))
			j++;
		fz_check(j < n, "cut at %llu lost epoch %llu, which began after %llu",
			 (unsigned long long)cut_rev, (unsigned long long)epochs1[i].epoch,
			 (unsigned long long)epochs1[i].rev);
	}
	ss_store_close(s);
	s = reopen("after a cut", 0, &rep, &m2);
	fz_check(rep.discarded == 0, "the reopen after a cut discarded %llu more",
		 (unsigned long long)rep.discarded);
	expect_same(&m, &m2, "between the cut and a reopen");
	ss_store_close(s);
	fz_map_free(&m);
	fz_map_free(&m2);
}

/* Checks the file after a successful first open. */
static void check_file(const uint8_t *data, size_t size, const struct ss_open_report *rep)
{
	const size_t hlen = sizeof(SS_LOG_HEADER) - 1;
	size_t flen;
	char *file = fz_read_file(fz_path(0, SS_LOG_FILE), &flen);

	fz_check(file, "the log is gone after opening it");
	fz_check(rep->log_bytes <= flen, "log_bytes %llu > file size %zu",
		 (unsigned long long)rep->log_bytes, flen);
	for (size_t i = rep->log_bytes; i < flen; i++)
		fz_check(file[i] == '\0', "byte %zu past the logical end %llu is 0x%02x, not zero", i,
			 (unsigned long long)rep->log_bytes, (unsigned char)file[i]);
	long version = 0;
	if (ss_record_header_check((const char *)data, size, &version) > 0 && version == 1) {
		/* A version-1 log is rewritten as version 2 when it opens
		 * (what it holds is checked by the reopens that follow). */
		fz_check(flen >= hlen && memcmp(file, SS_LOG_HEADER, hlen) == 0,
			 "a version-1 log was not rewritten in version %d", SS_LOG_VERSION);
	} else if (size == 0 || (rep->torn_bytes == size && rep->log_bytes == hlen)) {
		/* New log, or a torn header replaced by a fresh one. */
		fz_check(flen == hlen && memcmp(file, SS_LOG_HEADER, hlen) == 0,
			 "a new or torn-header log is not just the header");
		fz_check(rep->records == 0, "%llu records in a header-only log",
			 (unsigned long long)rep->records);
	} else {
		/* The file is a prefix of the input. What was cut is torn_bytes
		 * of torn data - ending in a non-zero byte - and then only the
		 * zeros of preallocated space, which the report does not count. */
		size_t keep = flen;
		fz_check(keep <= size, "the file grew from %zu to %zu bytes", size, keep);
		fz_check(memcmp(file, data, keep) == 0, "the kept part of the log was changed");
		fz_check(rep->torn_bytes <= size - keep, "torn_bytes %llu > the %zu bytes cut",
			 (unsigned long long)rep->torn_bytes, size - keep);
		size_t data_end = keep + (size_t)rep->torn_bytes;
		for (size_t i = data_end; i < size; i++)
			fz_check(data[i] == 0, "byte %zu was cut but not counted as torn, and is 0x%02x",
				 i, data[i]);
		if (rep->torn_bytes > 0) {
			fz_check(data[data_end - 1] != 0, "the torn data counted ends in a zero byte");
			fz_check(rep->log_bytes == keep, "cut to %zu but log_bytes is %llu", keep,
				 (unsigned long long)rep->log_bytes);
		} else {
			fz_check(keep == size, "%zu bytes cut but none counted as torn", size - keep);
		}
	}
	free(file);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fz_path(0, SS_LOG_FILE);
	struct ss_open_report rep1, rep;
	struct fz_map m1 = {0}, m = {0}, want = {0};
	struct ss_store *s;
	struct ss_error err;
	struct ss_batch b;

	if (!fio.io.open)
		fz_io_init(&fio);
	check_codec(data, size);
	history = (unsigned[]){0, 1, 4}[size % 3];
	fz_write_file(path, data, size);
	int rc = open_store(&s, 0, &rep1, &err);
	if (getenv("FZ_VERBOSE") && rc == 0) /* what the open made of a reproducer */
		fprintf(stderr, "opened: %llu records, %llu expired, %llu torn bytes\n",
			(unsigned long long)rep1.records, (unsigned long long)rep1.expired,
			(unsigned long long)rep1.torn_bytes);
	else if (getenv("FZ_VERBOSE"))
		fprintf(stderr, "refused: %s\n", err.msg);
	if (rc < 0) {
		size_t flen;
		char *file = fz_read_file(path, &flen);

		fz_check(s == NULL, "failed open returned a store");
		fz_check(err.kind == SS_ERR_CORRUPT || err.kind == SS_ERR_VERSION,
			 "open failed with error kind %d (%s): a log's content should give only "
			 "CORRUPT or VERSION",
			 (int)err.kind, err.msg);
		fz_check(err.msg[0] && strstr(err.msg, path), "unclear error message: '%s'", err.msg);
		fz_check(file && flen == size && memcmp(file, data, size) == 0,
			 "a log refused as %s was modified (%zu -> %zu bytes)",
			 err.kind == SS_ERR_CORRUPT ? "corrupt" : "another version", size, flen);
		free(file);
		return 0;
	}
	fz_map_from_table(&m1, ss_store_table(s), NOW);
	uint64_t rev1 = ss_table_revision(ss_store_table(s));
	note_epochs(s);
	ss_store_close(s);
	check_file(data, size, &rep1);

	/* Reopen: same table, same report, nothing torn. */
	s = reopen("a second time", 4096, &rep, &m);
	expect_same(&m1, &m, "between the first and the second open");
	/* A version-1 log was rewritten by the first open: the second
	 * replays the rewrite, which holds only what was live. */
	long version = 0;
	int v1 = ss_record_header_check((const char *)data, size, &version) > 0 && version == 1;
	fz_check(v1 || (rep.records == rep1.records && rep.expired == rep1.expired &&
			rep.log_bytes == rep1.log_bytes),
		 "second open: %llu records, %llu expired, %llu bytes; first: %llu, %llu, %llu",
		 (unsigned long long)rep.records, (unsigned long long)rep.expired,
		 (unsigned long long)rep.log_bytes, (unsigned long long)rep1.records,
		 (unsigned long long)rep1.expired, (unsigned long long)rep1.log_bytes);
	fz_map_free(&m);
	expect_epochs(s, "on reopening");
	fz_check(ss_table_revision(ss_store_table(s)) == rev1,
		 "the store's revision went from %llu to %llu on reopening",
		 (unsigned long long)rev1,
		 (unsigned long long)ss_table_revision(ss_store_table(s)));
	if (rev1 > UINT64_MAX - 4) {
		/* No room for the revisions of an append. */
		ss_store_close(s);
		fz_map_free(&m1);
		return 0;
	}

	/* The log takes an append (a SET, and a DEL of a replayed name),
	 * with the next revisions. */
	uint64_t rev = rev1;
	struct ss_record set = {.type = SS_REC_SET, .name = PROBE, .nlen = strlen(PROBE),
				.value = "v", .vlen = 1, .rev = ++rev, .commit_ms = NOW};
	ss_batch_init(&b);
	fz_check(ss_batch_add(&b, &set, NULL) == 0, "ss_batch_add");
	fz_map_live(&want, &m1, NOW);
	fz_map_set_rev(&want, PROBE, strlen(PROBE), "v", 1, 0, set.rev, NOW);
	if (m1.n > 0) {
		/* Applied after the SET, in batch order: when the replayed log
		 * holds PROBE and it sorts first, the DEL removes the SET's. */
		struct ss_record del = {.type = SS_REC_DEL, .name = m1.kv[0].name,
					.nlen = m1.kv[0].nlen, .rev = ++rev, .commit_ms = NOW};
		fz_check(ss_batch_add(&b, &del, NULL) == 0, "ss_batch_add");
		(void)fz_map_del(&want, del.name, del.nlen, NOW);
	}
	if (fz_commit(s, &b, NOW, &err) < 0)
		fz_fail("appending to the replayed log failed: %s", err.msg);
	ss_batch_free(&b);
	fz_map_from_table(&m, ss_store_table(s), NOW);
	expect_same(&want, &m, "in memory after the append");
	fz_map_free(&m);
	ss_store_close(s);

	s = reopen("after the append", 0, &rep, &m);
	expect_same(&want, &m, "after appending and reopening");
	expect_epochs(s, "after the append");
	fz_map_free(&m);
	fz_check(ss_table_revision(ss_store_table(s)) == rev,
		 "after the append the store's revision is %llu, want %llu",
		 (unsigned long long)ss_table_revision(ss_store_table(s)), (unsigned long long)rev);
	/* Compaction (a 1 MiB buffer, a rename, one more open) is the slow
	 * part: do it for one input in four, chosen by the input. */
	if (size % 4 == 1) {
		if (ss_store_compact(s, NOW, &err) < 0)
			fz_fail("compacting the replayed log failed: %s", err.msg);
		ss_store_close(s);
		s = reopen("after compaction", 0, &rep, &m);
		expect_same(&want, &m, "after compacting and reopening");
		expect_epochs(s, "after compaction");
		fz_check(ss_table_revision(ss_store_table(s)) == rev,
			 "after compaction the store's revision is %llu, want %llu",
			 (unsigned long long)ss_table_revision(ss_store_table(s)),
			 (unsigned long long)rev);
	}
	ss_store_close(s);
	if (size % 4 == 2)
		check_cut(rev / 2);

	fz_map_free(&m);
	fz_map_free(&m1);
	fz_map_free(&want);
	return 0;
}

/* Recomputes the CRC field of every line that has one ("<body> xxxxxxxx"). */
static void fix_crcs(uint8_t *data, size_t size)
{
	size_t start = 0;

	while (start < size) {
		uint8_t *nl = memchr(data + start, '\n', size - start);
		if (!nl)
			break;
		size_t n = (size_t)(nl - data) - start;
		uint8_t *line = data + start;
		if (n >= 10 && line[n - 9] == ' ') {
			uint32_t crc = ss_crc32c(0, line, n - 9);
			for (int i = 7; i >= 0; i--) {
				line[n - 8 + i] = (uint8_t)"0123456789abcdef"[crc & 0xf];
				crc >>= 4;
			}
		}
		start += n + 1;
	}
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
	size = LLVMFuzzerMutate(data, size, max_size);
	if (seed % 4 != 0)
		fix_crcs(data, size);
	return size;
}
