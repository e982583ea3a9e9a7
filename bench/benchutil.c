#include "benchutil.h"

#include "util/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

double bench_rate(double secs, int (*fn)(void *), void *arg)
{
	double t0, t;
	long n = 0, batch = 1;

	for (int i = 0; i < 3; i++)
		if (fn(arg) < 0)
			goto fail;
	t0 = now_s();
	for (;;) {
		for (long i = 0; i < batch; i++)
			if (fn(arg) < 0)
				goto fail;
		n += batch;
		t = now_s() - t0;
		if (t >= secs)
			return (double)n / t;
		if (t < secs / 20)
			batch *= 2;
	}
fail:
	fprintf(stderr, "bench: %s\n", err_msg());
	exit(1);
}
