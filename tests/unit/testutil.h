/* testutil.h — helpers shared by the unit tests. */
#ifndef TDEXEC_TESTUTIL_H
#define TDEXEC_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the above first */
#include <cmocka.h>

/* Read TEST_DATA/rel; fails the test if absent. */
uint8_t *td_read(const char *rel, size_t *len);
/* A fresh temporary directory (removed by td_rmtree). */
char *td_tmpdir(void);
void td_rmtree(const char *dir);

#endif
