/* benchutil.h — timing shared by the benchmarks. */
#ifndef TDEXEC_BENCHUTIL_H
#define TDEXEC_BENCHUTIL_H

/* Call fn(arg) repeatedly for about `secs` seconds after a short warm-up
 * and return calls per second; exits with the error if a call fails. */
double bench_rate(double secs, int (*fn)(void *), void *arg);

#endif
