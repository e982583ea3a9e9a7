#include "benchutil.h"

#include "util/err.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double bench_now(void)
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
	t0 = bench_now();
	for (;;) {
		for (long i = 0; i < batch; i++)
			if (fn(arg) < 0)
				goto fail;
		n += batch;
		t = bench_now() - t0;
		if (t >= secs)
			return (double)n / t;
		if (t < secs / 20)
			batch *= 2;
	}
fail:
	fprintf(stderr, "bench: %s\n", err_msg());
	exit(1);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

double bench_quantile(double *lat, int n, double q)
{
	int i = (int)(q * n);
	if (n <= 0)
		return 0;
	qsort(lat, (size_t)n, sizeof(double), cmp_double);
	return lat[i < n ? i : n - 1];
}

void bench_must(int rc)
{
	if (rc < 0) {
		fprintf(stderr, "bench: %s\n", err_msg());
		exit(1);
	}
}

int bench_rmdir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[512];

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
			snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
			unlink(p);
		}
	closedir(d);
	return rmdir(dir);
}
