/* harden.h — keeping a process's secrets out of core dumps, /proc and the
 * environment.  Call these before any thread starts: they change
 * process-wide state (the environment, the umask). */
#ifndef TDEXEC_UTIL_HARDEN_H
#define TDEXEC_UTIL_HARDEN_H

#include "util/err.h"

/* No core dump, no ptrace: PR_SET_DUMPABLE 0 (no core file; another
 * process of the same uid can neither attach nor read /proc/PID/mem,
 * environ, maps..., which become root's) and RLIMIT_CORE 0, soft and hard.
 * Programs this process executes are dumpable again (execve resets it).
 * ERR_IO when the kernel refuses either. */
MUST_CHECK int harden_no_dump(void);

/* What every long-running service does first: harden_no_dump(), then
 * umask 077 so whatever it creates (SQLite files, keys, tokens, logs) is
 * its owner's only.  ERR_IO as harden_no_dump. */
MUST_CHECK int harden_service(void);

/* Take a secret from the environment: *out gets a copy of the value
 * (the caller wipes it with OPENSSL_cleanse and frees it), NULL when the
 * variable is unset.  The value's bytes are then overwritten in place —
 * /proc/PID/environ shows the block the process started with, which
 * unsetenv alone leaves intact — and the variable is removed.  ERR_NOMEM. */
MUST_CHECK int harden_env_take(const char *name, char **out);

/* harden_env_take for a secret the process does not need. */
void harden_env_drop(const char *name);

#endif
