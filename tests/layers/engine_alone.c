/*
 * engine_alone.c - the engine as a program that links nothing but the
 * engine library: no libev, no socket code, no thread library. If the
 * engine came to need any of them, this would not link. It also runs: it
 * opens a store, commits, compacts, reopens and checks, so the engine
 * works alone too, not only links.
 *
 * Usage: engine_alone DIR (an empty or missing directory).
 */
#include <stdio.h>
#include <string.h>

#include "statestored/batch.h"
#include "statestored/store.h"
#include "statestored/table.h"

#define NOW 1700000000000LL

static int fail(const char *what, const struct ss_error *err)
{
	fprintf(stderr, "engine_alone: %s: %s\n", what, err ? err->msg : "");
	return 1;
}

static int commit(struct ss_store *s, const char *name, const char *value)
{
	struct ss_batch b;
	struct ss_error err;
	struct ss_record r = {.type = SS_REC_SET, .name = name, .nlen = strlen(name),
			      .value = value, .vlen = strlen(value),
			      .rev = ss_table_revision(ss_store_table(s)) + 1, .commit_ms = NOW};
	int rc = -1;

	ss_batch_init(&b);
	if (ss_batch_add(&b, &r, NULL) == 0 && ss_store_write(s, &b, &err) == 0 &&
	    ss_store_sync(s, &err) == 0 && ss_store_apply(s, &b, NOW) == 0)
		rc = 0;
	ss_batch_free(&b);
	return rc;
}

int main(int argc, char **argv)
{
	struct ss_store_options opt = {.dir = argc > 1 ? argv[1] : "engine-alone.d", .history = 2};
	struct ss_version v[3];
	struct ss_store *s;
	struct ss_error err;
	struct ss_entry e;

	if (ss_store_open(&s, &opt, NOW, NULL, &err) < 0)
		return fail("open", &err);
	if (commit(s, "a", "1") < 0 || commit(s, "a", "2") < 0 || commit(s, "b", "3") < 0)
		return fail("commit", NULL);
	if (ss_store_compact(s, NOW, &err) < 0)
		return fail("compact", &err);
	ss_store_close(s);
	if (ss_store_open(&s, &opt, NOW, NULL, &err) < 0)
		return fail("reopen", &err);
	int ok = ss_table_get(ss_store_table(s), "a", 1, NOW, &e) && e.vlen == 1 &&
		 e.value[0] == '2' && e.rev == 2 && ss_table_count(ss_store_table(s)) == 2 &&
		 ss_table_revision(ss_store_table(s)) == 3 &&
		 ss_table_history(ss_store_table(s), "a", 1, NOW, v, 3) == 2 && v[1].rev == 1;
	ss_store_close(s);
	if (!ok)
		return fail("the reopened store does not hold what was committed", NULL);
	printf("engine_alone: the engine links and runs alone\n");
	return 0;
}
