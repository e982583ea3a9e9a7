/* proc.c — see proc.h. */
#include "util/proc.h"

#include "util/err.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>

extern char **environ;

/* Passed through when set: where the child keeps its files (HOME, TMPDIR;
 * runc's state under XDG_RUNTIME_DIR when rootless), skopeo's registry
 * credentials and CA files, and the proxies a registry is reached through.
 * Everything else the parent has (a wallet password, tokens, whatever its
 * own caller exported) stays out. */
static const char *const passed[] = {
    "HOME",
    "TMPDIR",
    "XDG_RUNTIME_DIR",
    "REGISTRY_AUTH_FILE",
    "DOCKER_CONFIG",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    NULL,
};

#define PROC_ENV_MAX (sizeof(passed) / sizeof(passed[0]) + 2)

/* env[] points into environ: valid until the environment changes. */
static void child_env(char *env[PROC_ENV_MAX])
{
	size_t n = 0;

	env[n++] = (char *)PROC_PATH;
	env[n++] = (char *)"LANG=C";
	for (size_t i = 0; passed[i]; i++) {
		size_t len = strlen(passed[i]);
		for (char **e = environ; e && *e; e++)
			if (strncmp(*e, passed[i], len) == 0 && (*e)[len] == '=') {
				env[n++] = *e;
				break;
			}
	}
	env[n] = NULL;
}

int proc_spawn(char *const argv[], const char *cwd, const char *log, pid_t *pid)
{
	return proc_spawn_split(argv, cwd, log, NULL, pid);
}

int proc_spawn_split(char *const argv[], const char *cwd, const char *log, const char *err_log,
                     pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	char *env[PROC_ENV_MAX];
	int rc;

	child_env(env);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (log) {
		posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (err_log)
			posix_spawn_file_actions_addopen(&fa, 2, err_log,
			                                 O_WRONLY | O_CREAT | O_APPEND, 0600);
		else
			posix_spawn_file_actions_adddup2(&fa, 1, 2);
	}
	if (cwd)
		posix_spawn_file_actions_addchdir_np(&fa, cwd);
	/* nothing past stdio: a descriptor some library opened without
	 * close-on-exec (libcurl's wake-up socket pair of a kept handle)
	 * is not the child's */
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	/* argv[0] is looked up in this process's PATH; the child gets env. */
	rc = posix_spawnp(pid, argv[0], &fa, NULL, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	ENSURE(rc == 0, ERR_IO, "%s: cannot start: %s", argv[0], strerror(rc));
	return 0;
}

int proc_run(char *const argv[], const char *cwd, const char *log)
{
	pid_t pid;
	int st;

	GUARD(proc_spawn(argv, cwd, log, &pid));
	while (waitpid(pid, &st, 0) < 0)
		ENSURE(errno == EINTR, ERR_IO, "%s: wait: %s", argv[0], strerror(errno));
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int proc_check(char *const argv[], const char *cwd)
{
	int st = proc_run(argv, cwd, NULL);
	GUARD(st);
	ENSURE(st == 0, ERR_IO, "%s failed (status %d)", argv[0], st);
	return 0;
}
