/* statestore-bench: see src/tools/bench/bench.h. */
#include "tools/bench/bench.h"

int main(int argc, char **argv)
{
	return ss_bench_main(argc, argv);
}
