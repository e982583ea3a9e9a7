/* benchutil.h — timing shared by the benchmarks. */
#ifndef TDEXEC_BENCHUTIL_H
#define TDEXEC_BENCHUTIL_H

/* Call fn(arg) repeatedly for about `secs` seconds after a short warm-up
 * and return calls per second; exits with the error if a call fails. */
double bench_rate(double secs, int (*fn)(void *), void *arg);

/* Monotonic seconds. */
double bench_now(void);
/* Sort n latencies (seconds) and return the q-quantile (0..1). */
double bench_quantile(double *lat, int n, double q);

/* A setup step that must succeed: exits with the error if rc < 0. */
void bench_must(int rc);

/* Remove a benchmark's scratch directory and the files in it (flat). */
int bench_rmdir(const char *dir);

#endif
