/*
 * crash_explore: runs the crash-state workloads (tests/support/crashwl.c)
 * with a larger state budget than CI and prints one table row per workload,
 * preallocation setting and chunk size. scripts/crash_explore.sh runs it.
 *
 *   crash_explore [--max-states N] [--seed S] [--chunk 512|4096|both]
 *                 [--prealloc BYTES]... [--workload NAME]... [--non-atomic]
 *                 [--reports N] [--trace]
 *
 * --max-states  states per crash point: enumerated when they are at most
 *               N, else N sampled (default 2000)
 * --prealloc    a prealloc_bytes to run with; repeatable (default 0 and
 *               16384)
 * --workload    run only this one; repeatable (default: all)
 * --non-atomic  accept a batch applied in part, if in order (the log format
 *               before every write became one group); by default a batch
 *               must apply all or nothing
 * --reports     violations described in full per row (default 3)
 * --trace       print each run's recorded calls (on stderr), numbered as
 *               the crash points in violation reports count them
 *
 * Exit status: 0 if no violation was found, 1 if any was, 2 on bad usage.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crashx.h"

#define MAX_LIST 16

static void usage(void)
{
	fprintf(stderr, "usage: crash_explore [--max-states N] [--seed S] [--chunk 512|4096|both] "
			"[--prealloc BYTES]... [--workload NAME]... [--non-atomic] [--reports N] [--trace]\n");
	exit(2);
}

static unsigned long long number(const char *s)
{
	char *end;
	unsigned long long v;

	if (!s)
		usage();
	v = strtoull(s, &end, 10);
	if (*s == '\0' || *end != '\0')
		usage();
	return v;
}

static double seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void print_classes(const struct crashx_result *res)
{
	const char *sep = "";

	for (int c = 0; c < CRASHX_NCLASSES; c++) {
		if (res->by_class[c]) {
			printf("%s%s %zu", sep, crashx_class_names[c], res->by_class[c]);
			sep = ", ";
		}
	}
}

int main(int argc, char **argv)
{
	struct crashx_opts o = {
		.max_states = 2000, .seed = 1, .atomic_batches = 1, .out = stderr, .max_reports = 3};
	size_t prealloc[MAX_LIST], nprealloc = 0, chunks[2] = {512, 0}, nchunks = 1;
	const char *only[MAX_LIST];
	size_t nonly = 0, total_states = 0, total_viol = 0, total_points = 0;
	double t0 = seconds();

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--max-states") == 0) {
			o.max_states = (size_t)number(v), i++;
		} else if (strcmp(a, "--seed") == 0) {
			o.seed = number(v), i++;
		} else if (strcmp(a, "--reports") == 0) {
			o.max_reports = (size_t)number(v), i++;
		} else if (strcmp(a, "--non-atomic") == 0) {
			o.atomic_batches = 0;
		} else if (strcmp(a, "--trace") == 0) {
			o.trace = 1;
		} else if (strcmp(a, "--chunk") == 0) {
			if (v && strcmp(v, "both") == 0) {
				chunks[0] = 512, chunks[1] = 4096, nchunks = 2;
			} else {
				chunks[0] = (size_t)number(v), nchunks = 1;
				if (chunks[0] == 0)
					usage();
			}
			i++;
		} else if (strcmp(a, "--prealloc") == 0 && nprealloc < MAX_LIST) {
			prealloc[nprealloc++] = (size_t)number(v), i++;
		} else if (strcmp(a, "--workload") == 0 && v && nonly < MAX_LIST) {
			only[nonly++] = v, i++;
		} else {
			usage();
		}
	}
	if (nprealloc == 0) {
		prealloc[0] = 0, prealloc[1] = 16384;
		nprealloc = 2;
	}
	for (size_t j = 0; j < nonly; j++) {
		size_t w = 0;

		while (w < crashx_nworkloads && strcmp(crashx_workloads[w].name, only[j]) != 0)
			w++;
		if (w == crashx_nworkloads) {
			fprintf(stderr, "crash_explore: no workload %s\n", only[j]);
			return 2;
		}
	}

	printf("%-15s %8s %6s %7s %7s %9s %9s %10s  %s\n", "workload", "prealloc", "chunk",
	       "points", "exhaust", "generated", "states", "violations", "kinds");
	for (size_t w = 0; w < crashx_nworkloads; w++) {
		const struct crashx_workload *wl = &crashx_workloads[w];
		int wanted = nonly == 0;

		for (size_t j = 0; j < nonly; j++)
			wanted |= strcmp(only[j], wl->name) == 0;
		if (!wanted)
			continue;
		for (size_t p = 0; p < nprealloc; p++) {
			for (size_t c = 0; c < nchunks; c++) {
				struct crashx_result res = {0};

				o.chunk = chunks[c];
				crashx_run_workload(wl, prealloc[p], &o, &res);
				printf("%-15s %8zu %6zu %7zu %7zu %9zu %9zu %10zu  ", wl->name,
				       prealloc[p], o.chunk, res.points, res.exhaustive_points,
				       res.generated, res.states, res.violations);
				print_classes(&res);
				printf("\n");
				fflush(stdout);
				total_points += res.points;
				total_states += res.states;
				total_viol += res.violations;
				crashx_result_free(&res);
			}
		}
	}
	printf("total: %zu crash points, %zu distinct states checked, %zu violations "
	       "(max-states %zu, seed %llu%s) in %.1f s\n",
	       total_points, total_states, total_viol, o.max_states, (unsigned long long)o.seed,
	       o.atomic_batches ? "" : ", batches may apply in part", seconds() - t0);
	return total_viol ? 1 : 0;
}
