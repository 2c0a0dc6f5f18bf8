/*
 * dump.c - statestore-check dump: the records a start would replay, in log
 * order, one per line.
 *
 * The records come from the daemon's replay (ss_store_check's observer),
 * so what is printed is exactly what a start applies: the complete groups
 * up to the first damage, a version-1 log's records with the revisions
 * replay gives them. Read-only, like verify.
 *
 * text  each record as the current format writes it (record.h), CRC
 *       included: a name or value escaped there is escaped here.
 * jsonl one JSON object per record; a name or value is a JSON string of
 *       one code point per byte: printable ASCII as itself (with \" and
 *       \\), every other byte as \u00XX.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "statestored/record.h"
#include "tools/check/check.h"

struct dump {
	int jsonl;
	const char *prefix;
	size_t plen;
	char *name, *value, *line; /* raw fields, and a record's line */
};

static void json_string(const char *p, size_t n)
{
	putchar('"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c >= 0x20 && c < 0x7f)
			putchar(c);
		else
			printf("\\u%04x", c);
	}
	putchar('"');
}

/* A decoded field p[0..n) as raw bytes in out (escaped says how the log
 * holds it); returns their length. */
static size_t raw_field(const char *p, size_t n, int escaped, char *out)
{
	if (escaped)
		return ss_record_unescape(p, n, out);
	memcpy(out, p, n);
	return n;
}

static void print_record(void *arg, const struct ss_record *r)
{
	struct dump *d = arg;
	struct ss_record raw = *r;

	if (r->type == SS_REC_REV || r->type == SS_REC_EPOCH) {
		if (d->plen)
			return; /* the store's counter and epochs belong to no name */
	} else {
		/* Fields in raw bytes: what the prefix means, and what encode
		 * (which escapes) and JSON take. */
		raw.name = d->name;
		raw.nlen = raw_field(r->name, r->nlen, r->esc & SS_REC_NAME_ESC, d->name);
		if (raw.nlen < d->plen || (d->plen && memcmp(raw.name, d->prefix, d->plen) != 0))
			return;
		if (r->type == SS_REC_SET) {
			raw.value = d->value;
			raw.vlen = raw_field(r->value, r->vlen, r->esc & SS_REC_VALUE_ESC, d->value);
		}
		raw.esc = 0;
	}
	if (!d->jsonl) {
		fwrite(d->line, 1, ss_record_encode(&raw, d->line), stdout);
		return;
	}
	const char *type = r->type == SS_REC_SET   ? "set" :
			   r->type == SS_REC_DEL   ? "del" :
			   r->type == SS_REC_EPOCH ? "epoch" :
						     "revision";
	printf("{\"type\":\"%s\"", type);
	if (r->type == SS_REC_EPOCH)
		printf(",\"epoch\":%llu", (unsigned long long)r->epoch);
	if (r->type != SS_REC_REV && r->type != SS_REC_EPOCH) {
		printf(",\"name\":");
		json_string(raw.name, raw.nlen);
	}
	if (r->type == SS_REC_SET) {
		printf(",\"value\":");
		json_string(raw.value, raw.vlen);
		printf(",\"expire_ms\":%lld", (long long)r->expire_ms);
	}
	printf(",\"rev\":%llu", (unsigned long long)r->rev);
	if (r->type != SS_REC_REV && r->type != SS_REC_EPOCH)
		printf(",\"commit_ms\":%lld", (long long)r->commit_ms);
	printf("}\n");
}

int ss_check_dump(int argc, char **argv, int64_t now_ms)
{
	struct dump d = {0};
	struct ss_check_log l;
	int i, code = SS_CHECK_IOERR;

	for (i = 1; i + 1 < argc && argv[i][0] == '-'; i += 2) {
		if (!strcmp(argv[i], "--format") && !strcmp(argv[i + 1], "jsonl"))
			d.jsonl = 1;
		else if (!strcmp(argv[i], "--format") && !strcmp(argv[i + 1], "text"))
			d.jsonl = 0;
		else if (!strcmp(argv[i], "--prefix"))
			d.prefix = argv[i + 1];
		else
			break;
	}
	if (argc - i != 1 || argv[i][0] == '-') {
		fputs("statestore-check: dump takes [--format text|jsonl] [--prefix P] "
		      "DIR_OR_FILE\n(statestore-check --help for usage)\n",
		      stderr);
		return SS_CHECK_USAGE;
	}
	d.plen = d.prefix ? strlen(d.prefix) : 0;
	d.name = malloc(SS_NAME_MAX);
	d.value = malloc(SS_VALUE_MAX);
	d.line = malloc(SS_RECORD_MAX);
	if (!d.name || !d.value || !d.line) {
		fputs("statestore-check: out of memory\n", stderr);
		goto out;
	}
	code = ss_check_read_with(&l, argv[i], 0, now_ms, print_record, &d);
	if (code != SS_CHECK_CLEAN && code != SS_CHECK_IOERR) {
		fflush(stdout);
		ss_check_print_verdict(stderr, &l, code); /* stdout is the records */
	}
	ss_check_log_free(&l);
out:
	free(d.name);
	free(d.value);
	free(d.line);
	return code;
}
