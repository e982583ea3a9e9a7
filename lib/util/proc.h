/* proc.h — running the few programs tdexec drives (runc, tar, zip, unzip,
 * skopeo). */
#ifndef TDEXEC_UTIL_PROC_H
#define TDEXEC_UTIL_PROC_H

#include <sys/types.h>
#include "util/err.h"

/* The PATH a child gets. */
#define PROC_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Start argv (looked up in this process's PATH) in `cwd` (NULL = here),
 * stdin from /dev/null, stdout and stderr appended to `log` (NULL =
 * inherited; created 0600).  The child does not inherit the environment: it
 * gets PROC_PATH, LANG=C and, when set here, HOME, TMPDIR, XDG_RUNTIME_DIR,
 * REGISTRY_AUTH_FILE, DOCKER_CONFIG, SSL_CERT_FILE, SSL_CERT_DIR and the
 * HTTP(S)_PROXY/NO_PROXY variables (either case).  *pid gets the child.
 * ERR_IO when it cannot start. */
MUST_CHECK int proc_spawn(char *const argv[], const char *cwd, const char *log, pid_t *pid);
/* The same with stderr appended to a file of its own, `err_log` (NULL: with
 * stdout in `log`; unused when `log` is NULL). */
MUST_CHECK int proc_spawn_split(char *const argv[], const char *cwd, const char *log,
                                const char *err_log, pid_t *pid);
/* The same, waited for: the exit status (128 + signal when killed). */
MUST_CHECK int proc_run(char *const argv[], const char *cwd, const char *log);
/* proc_run that must exit 0: ERR_IO "ARGV0 failed (status N)" otherwise. */
MUST_CHECK int proc_check(char *const argv[], const char *cwd);

#endif
