/* proc.c — see proc.h. */
#include "util/proc.h"

#include "util/err.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>

extern char **environ;

int proc_spawn(char *const argv[], const char *cwd, const char *log, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	int rc;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (log) {
		posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		posix_spawn_file_actions_adddup2(&fa, 1, 2);
	}
	if (cwd)
		posix_spawn_file_actions_addchdir_np(&fa, cwd);
	rc = posix_spawnp(pid, argv[0], &fa, NULL, argv, environ);
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
