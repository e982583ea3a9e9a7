/* proc.h — running the few programs tdexec drives (runc, tar, zip, unzip). */
#ifndef TDEXEC_UTIL_PROC_H
#define TDEXEC_UTIL_PROC_H

#include <sys/types.h>

/* Start argv (looked up in PATH) in `cwd` (NULL = here), stdin from
 * /dev/null, stdout and stderr appended to `log` (NULL = inherited).
 * *pid gets the child.  ERR_IO when it cannot start. */
int proc_spawn(char *const argv[], const char *cwd, const char *log, pid_t *pid);
/* The same, waited for: the exit status (128 + signal when killed). */
int proc_run(char *const argv[], const char *cwd, const char *log);
/* proc_run that must exit 0: ERR_IO "ARGV0 failed (status N)" otherwise. */
int proc_check(char *const argv[], const char *cwd);

#endif
