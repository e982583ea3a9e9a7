/* probe.c — run inside the app sandbox by the pool test: asks the kernel for
 * what the seccomp profile refuses and prints one line per call, "NAME
 * allowed" or "NAME refused (ERRNO)".  Built static by the test (gcc). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void say(const char *name, long rc)
{
	if (rc >= 0)
		printf("%s allowed\n", name);
	else
		printf("%s refused (%s)\n", name, strerror(errno));
}

int main(void)
{
	long ret;

	say("vsock", socket(40 /* AF_VSOCK */, SOCK_STREAM, 0));
	say("unshare-user", syscall(SYS_unshare, 0x10000000 /* CLONE_NEWUSER */));
	say("keyctl", syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -1, 0));
	say("bpf", syscall(SYS_bpf, 0, NULL, 0));
	say("inet", socket(AF_INET, SOCK_STREAM, 0));
	fflush(stdout);
	/* a 32-bit call (getpid is 20 on i386) through the legacy gate, in a
	 * child: a filter that knows only x86-64 kills the caller */
	pid_t pid = fork();
	if (pid == 0) {
		__asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory");
		_exit(ret < 0 ? 1 : 0);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	printf("int80 %s\n", WIFSIGNALED(st)        ? "killed"
	                     : WEXITSTATUS(st) == 0 ? "allowed"
	                                            : "refused");
	return 0;
}
