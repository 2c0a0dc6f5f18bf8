/*
 * test_upgrade.c - a data directory written by format version 1 opens:
 * its records replay with revisions 1, 2, ... in log order and commit time
 * 0, the log is rewritten in the current format at that open, and the
 * state - values, expiries, revisions, histories - is what the v1 log said,
 * then and at every later open. A torn v1 tail is cut first, and an
 * upgrade that fails leaves the v1 log as it was.
 *
 * The fixture, tests/fixtures/v1/statestored.log, was written by the
 * previous build (version 1). Its records, in log order, with the revisions
 * their replay gives them:
 *
 *   GROUP 3    1 SET orders/p0 1500       (a compaction's snapshot)
 *              2 SET orders/p1 2000
 *              3 SET gone 1
 *   GROUP 1    4 DEL gone
 *   GROUP 1    5 SET ttl-far 7, expiring at 2111972933333
 *   GROUP 1    6 SET orders/p1 2500
 *   GROUP 1    7 SET users offset=42,part=3
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/crc32c.h"
#include "sstest.h"

#define NOW 1700000000000LL
#define TTL_FAR 2111972933333LL
#define FIXTURE SS_SOURCE_DIR "/tests/fixtures/v1/statestored.log"

/* The state the whole fixture replays to (sstest_dump_full), with no
 * history kept and with a history of 4. */
static const char fixture_state[] = "revision 7\n"
				    "orders/p0 expire 0: 1@0=1500\n"
				    "orders/p1 expire 0: 6@0=2500\n"
				    "ttl-far expire 2111972933333: 5@0=7\n"
				    "users expire 0: 7@0=offset=42,part=3\n";
static const char fixture_state_history[] = "revision 7\n"
					    "orders/p0 expire 0: 1@0=1500\n"
					    "orders/p1 expire 0: 6@0=2500 2@0=2000\n"
					    "ttl-far expire 2111972933333: 5@0=7\n"
					    "users expire 0: 7@0=offset=42,part=3\n";

/* The fixture's bytes, malloc'd, and *len. */
static char *fixture(size_t *len)
{
	char *buf = sstest_read_file(FIXTURE, len);

	if (!buf)
		fail_msg("cannot read the fixture %s", FIXTURE);
	assert_memory_equal(buf, SS_LOG_HEADER_V1, strlen(SS_LOG_HEADER_V1));
	return buf;
}

static void assert_full_state(struct ss_store *s, int64_t now_ms, const char *want)
{
	char *got = sstest_dump_full(ss_store_table(s), now_ms);

	if (strcmp(got, want) != 0)
		fprintf(stderr, "state:\n%swant:\n%s", got, want);
	assert_string_equal(got, want);
	free(got);
}

/* Asserts the log at path is a current-format log holding exactly the
 * records of a snapshot: the revision first, then SETs; returns how many
 * SETs. */
static size_t assert_current_log(const char *path)
{
	size_t len, pos = strlen(SS_LOG_HEADER), used, sets = 0, recs = 0;
	char *buf = sstest_read_file(path, &len);
	struct ss_record r;

	assert_non_null(buf);
	assert_true(len >= pos);
	assert_memory_equal(buf, "statestored-log 2\n", pos);
	while (pos < len) {
		assert_int_equal(ss_record_decode(buf + pos, len - pos, &r, &used), SS_DEC_OK);
		pos += used;
		if (r.type == SS_REC_GROUP)
			continue;
		if (recs++ == 0) {
			assert_int_equal(r.type, SS_REC_REV);
		} else {
			assert_int_equal(r.type, SS_REC_SET);
			assert_int_equal(r.commit_ms, 0);
			sets++;
		}
	}
	free(buf);
	return sets;
}

static void test_a_v1_log_is_upgraded_at_open(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_open_report rep;
	struct ss_store *s;
	size_t len;
	char *v1 = fixture(&len);

	sstest_write_file(fx->log, v1, len);
	s = sstest_open(fx->dir, NULL, 0, NOW, &rep);
	assert_int_equal(rep.upgraded_from, 1);
	assert_int_equal(rep.records, 7);
	assert_int_equal(rep.groups, 5);
	assert_int_equal(rep.torn_bytes, 0);
	assert_int_equal(rep.expired, 0);
	/* Every live entry, with its value and TTL; revisions in log order. */
	sstest_assert_state(s,
			    "orders/p0 1500 0\norders/p1 2500 0\nttl-far 7 2111972933333\n"
			    "users offset=42,part=3 0\n",
			    NOW);
	assert_full_state(s, NOW, fixture_state);
	/* The file is the current format now, and nothing else is left. */
	assert_int_equal(assert_current_log(fx->log), 4);
	assert_int_equal(rep.log_bytes, (uint64_t)sstest_file_size(fx->log));
	assert_int_equal(ss_store_log_bytes(s), rep.log_bytes);
	assert_int_equal(ss_store_log_bytes_compacted(s), rep.log_bytes);
	assert_int_equal(sstest_file_size(fx->tmp), -1);
	ss_store_close(s);

	/* Opened again: nothing to upgrade, the same state. */
	s = sstest_open(fx->dir, NULL, 0, NOW, &rep);
	assert_int_equal(rep.upgraded_from, 0);
	assert_int_equal(rep.records, 5); /* the revision and the four entries */
	assert_full_state(s, NOW, fixture_state);
	/* The next commit takes the revision after the v1 log's last. */
	assert_int_equal(sstest_set(s, "orders/p0", "1600", 0, NOW, NULL), 0);
	ss_store_close(s);
	s = sstest_open(fx->dir, NULL, 0, NOW, &rep);
	assert_int_equal(rep.upgraded_from, 0);
	assert_int_equal(rep.torn_bytes, 0);
	sstest_assert_value(s, "orders/p0", "1600", NOW);
	assert_int_equal(ss_table_revision(ss_store_table(s)), 8);
	ss_store_close(s);
	free(v1);
}

/* The versions a v1 log held are a history: replayed with a depth, the
 * overwritten orders/p1 is kept, and the upgrade writes it out. */
static void test_an_upgrade_keeps_the_v1_history(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_open_report rep;
	struct ss_store *s;
	size_t len;
	char *v1 = fixture(&len);

	sstest_write_file(fx->log, v1, len);
	s = sstest_open_history(fx->dir, NULL, 0, 4, NOW, &rep);
	assert_int_equal(rep.upgraded_from, 1);
	assert_full_state(s, NOW, fixture_state_history);
	ss_store_close(s);
	assert_int_equal(assert_current_log(fx->log), 5);
	s = sstest_open_history(fx->dir, NULL, 0, 4, NOW, &rep);
	assert_int_equal(rep.upgraded_from, 0);
	assert_full_state(s, NOW, fixture_state_history);
	ss_store_close(s);
	free(v1);
}

/* Opened past ttl-far's expiry, the upgrade drops it, and an earlier
 * clock at a later open does not bring it back. */
static void test_an_upgrade_past_an_expiry_drops_the_entry(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_open_report rep;
	struct ss_store *s;
	size_t len;
	char *v1 = fixture(&len);

	sstest_write_file(fx->log, v1, len);
	s = sstest_open(fx->dir, NULL, 0, TTL_FAR, &rep);
	assert_int_equal(rep.upgraded_from, 1);
	assert_int_equal(rep.expired, 1);
	assert_full_state(s, TTL_FAR,
			  "revision 7\n"
			  "orders/p0 expire 0: 1@0=1500\n"
			  "orders/p1 expire 0: 6@0=2500\n"
			  "users expire 0: 7@0=offset=42,part=3\n");
	ss_store_close(s);
	s = sstest_open(fx->dir, NULL, 0, NOW, &rep);
	sstest_assert_value(s, "ttl-far", NULL, NOW);
	assert_int_equal(ss_table_revision(ss_store_table(s)), 7);
	ss_store_close(s);
	free(v1);
}

/* The state after the first k groups of the fixture, k = 0..5. */
static const char *const prefix_state[] = {
	"revision 0\n",
	"revision 3\n"
	"gone expire 0: 3@0=1\n"
	"orders/p0 expire 0: 1@0=1500\n"
	"orders/p1 expire 0: 2@0=2000\n",
	"revision 4\n"
	"orders/p0 expire 0: 1@0=1500\n"
	"orders/p1 expire 0: 2@0=2000\n",
	"revision 5\n"
	"orders/p0 expire 0: 1@0=1500\n"
	"orders/p1 expire 0: 2@0=2000\n"
	"ttl-far expire 2111972933333: 5@0=7\n",
	"revision 6\n"
	"orders/p0 expire 0: 1@0=1500\n"
	"orders/p1 expire 0: 6@0=2500\n"
	"ttl-far expire 2111972933333: 5@0=7\n",
	fixture_state,
};

/* Where each group of the fixture ends (the header's end first). */
static size_t group_ends(const char *buf, size_t len, size_t *ends)
{
	size_t pos = strlen(SS_LOG_HEADER_V1), n = 0, used;
	struct ss_record r;

	ends[n++] = pos;
	while (pos < len) {
		assert_int_equal(ss_record_decode_version(1, buf + pos, len - pos, &r, &used),
				 SS_DEC_OK);
		assert_int_equal(r.type, SS_REC_GROUP);
		pos += used;
		for (uint32_t k = 0; k < r.count; k++) {
			struct ss_record x;

			assert_int_equal(ss_record_decode_version(1, buf + pos, len - pos, &x, &used),
					 SS_DEC_OK);
			pos += used;
		}
		ends[n++] = pos;
	}
	return n;
}

/* A v1 log cut at any byte after its header - a crash of the previous
 * build in mid-write - opens: the torn tail is cut, the complete groups
 * replay (a group torn anywhere applies none of it) and are upgraded. */
static void test_a_torn_v1_log_is_cut_and_upgraded(void **state)
{
	struct sstest_fixture *fx = *state;
	size_t len, ends[8], n, k = 0;
	char *v1 = fixture(&len);

	n = group_ends(v1, len, ends);
	assert_int_equal(n, 6);
	assert_int_equal(ends[5], len);
	for (size_t cut = ends[0]; cut <= len; cut++) {
		struct ss_open_report rep;
		struct ss_store *s;

		while (k + 1 < n && ends[k + 1] <= cut)
			k++;
		sstest_rmdir(fx->dir);
		assert_int_equal(mkdir(fx->dir, 0700), 0);
		sstest_write_file(fx->log, v1, cut);
		s = sstest_open(fx->dir, NULL, 0, NOW, &rep);
		assert_int_equal(rep.upgraded_from, 1);
		assert_int_equal(rep.torn_bytes, cut - ends[k]);
		assert_full_state(s, NOW, prefix_state[k]);
		ss_store_close(s);
		assert_current_log(fx->log);
		s = sstest_open(fx->dir, NULL, 0, NOW, &rep);
		assert_int_equal(rep.upgraded_from, 0);
		assert_int_equal(rep.torn_bytes, 0);
		assert_full_state(s, NOW, prefix_state[k]);
		ss_store_close(s);
	}
	free(v1);
}

/* The upgrade is a compaction: if any step of it fails, the open fails
 * and the v1 log is still the log, byte for byte, and the next open
 * upgrades it. A temp file a crash left mid-upgrade is removed. */
static void test_a_failed_upgrade_leaves_the_v1_log(void **state)
{
	struct sstest_fixture *fx = *state;
	/* The calls of the upgrade (the first pwrite is LOCK's pid). */
	static const struct {
		enum sstest_op op;
		unsigned long nth;
		int err;
	} faults[] = {
		{SSTEST_OP_OPEN, 5, EACCES}, /* creating the temp file */
		{SSTEST_OP_PWRITE, 2, ENOSPC}, /* its bytes: header, revision, group */
		{SSTEST_OP_PWRITE, 2, EIO},
		{SSTEST_OP_FDATASYNC, 1, EIO},
		{SSTEST_OP_RENAME, 1, EIO},
	};
	struct ss_store_options opt = {.dir = fx->dir, .io = &fx->f.io};
	struct ss_open_report rep;
	struct ss_store *s;
	size_t len;
	char *v1 = fixture(&len);

	for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
		struct ss_error err = {0};

		sstest_write_file(fx->log, v1, len);
		sstest_fault_io_init(&fx->f);
		sstest_fault_io_arm(&fx->f, faults[i].op, faults[i].nth, faults[i].err, 0);
		s = (struct ss_store *)&err;
		assert_int_equal(ss_store_open(&s, &opt, NOW, &rep, &err), -1);
		assert_null(s);
		assert_int_equal(fx->f.injected, 1);
		if (err.kind != SS_ERR_IO || err.sys_errno != faults[i].err ||
		    !strstr(err.msg, fx->tmp))
			fail_msg("fault %zu: error %d, errno %d: %s", i, err.kind, err.sys_errno,
				 err.msg);
		sstest_assert_file_equals(fx->log, v1, len);
		assert_int_equal(sstest_file_size(fx->tmp), -1);
	}
	/* A crash mid-upgrade: the temp file is there, the log still v1. */
	sstest_write_file(fx->tmp, "statestored-log 2\nGROUP 1", 25);
	s = sstest_open(fx->dir, NULL, 0, NOW, &rep);
	assert_int_equal(rep.removed_tmp, 1);
	assert_int_equal(rep.upgraded_from, 1);
	assert_full_state(s, NOW, fixture_state);
	ss_store_close(s);
	assert_current_log(fx->log);
	free(v1);
}

/* Appends a v1 record line, body + " <crc>\n", to l. */
static void v1_line(struct sstest_log *l, const char *body)
{
	char crc[16];

	sstest_log_raw(l, body, strlen(body));
	snprintf(crc, sizeof(crc), " %08x\n", ss_crc32c(0, body, strlen(body)));
	sstest_log_raw(l, crc, 10);
}

/* In v1 a backslash was an ordinary byte of a name or value: it stays one
 * through the upgrade, escaped in the new log as "\\". */
static void test_v1_backslashes_stay_bytes_through_the_upgrade(void **state)
{
	struct sstest_fixture *fx = *state;
	struct sstest_log l = {0};
	struct ss_open_report rep;
	struct ss_store *s;
	struct ss_entry e;
	size_t len;
	char *log;

	sstest_log_raw(&l, SS_LOG_HEADER_V1, strlen(SS_LOG_HEADER_V1));
	v1_line(&l, "GROUP 2");
	v1_line(&l, "SET_CHECKPOINT a\\x41\\b v\\ 0");
	v1_line(&l, "SET_CHECKPOINT plain x\\x00 0");
	sstest_log_write(&l, fx->log, l.len);
	s = sstest_open(fx->dir, NULL, 0, NOW, &rep);
	assert_int_equal(rep.upgraded_from, 1);
	assert_int_equal(ss_table_get(ss_store_table(s), "a\\x41\\b", 7, NOW, &e), 1);
	assert_int_equal(e.vlen, 2);
	assert_memory_equal(e.value, "v\\", 2);
	assert_int_equal(e.rev, 1);
	assert_int_equal(ss_table_get(ss_store_table(s), "plain", 5, NOW, &e), 1);
	assert_int_equal(e.vlen, 5);
	assert_memory_equal(e.value, "x\\x00", 5);
	assert_int_equal(e.rev, 2);
	ss_store_close(s);
	log = sstest_read_file(fx->log, &len);
	assert_non_null(strstr(log, "SET_CHECKPOINT a\\\\x41\\\\b v\\\\ 0 1 0 "));
	assert_non_null(strstr(log, "SET_CHECKPOINT plain x\\\\x00 0 2 0 "));
	free(log);
	s = sstest_open(fx->dir, NULL, 0, NOW, &rep);
	assert_int_equal(rep.upgraded_from, 0);
	assert_full_state(s, NOW,
			  "revision 2\n"
			  "a\\x5cx41\\x5cb expire 0: 1@0=v\\x5c\n"
			  "plain expire 0: 2@0=x\\x5cx00\n");
	ss_store_close(s);
	sstest_log_free(&l);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, sstest_setup, sstest_teardown)
	const struct CMUnitTest tests[] = {
		T(test_a_v1_log_is_upgraded_at_open),
		T(test_an_upgrade_keeps_the_v1_history),
		T(test_an_upgrade_past_an_expiry_drops_the_entry),
		T(test_a_torn_v1_log_is_cut_and_upgraded),
		T(test_a_failed_upgrade_leaves_the_v1_log),
		T(test_v1_backslashes_stay_bytes_through_the_upgrade),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
