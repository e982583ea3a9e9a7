/* tdexec pool up --sim — a whole local pool in one command: a chain with
 * PoCo, a simulated TD and the policy read from its quote, an SMS, a
 * scheduler and N workers, all children of this process (the same binary,
 * /proc/self/exe, with subcommands), stopped together on Ctrl-C. */
#include "cli.h"

#include "util/err.h"
#include "util/file.h"
#include "util/json.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static const char up_usage[] =
    "Usage: tdexec pool up --sim [--workers N] [--dir DIR] [--chain-port P] [--fresh]\n"
    "                      [--json]\n"
    "\n"
    "Bring up a whole pool on this machine and keep it up until Ctrl-C or SIGTERM:\n"
    "a local chain with iExec PoCo ('tdexec chain up'), funded keys for the pool\n"
    "owner, its workers, an app developer and a requester (with a deposit), the\n"
    "workerpool, a SIMULATED TD and the pool's policy written from its quote\n"
    "('tdexec policy from-quote'), an SMS serving RA-TLS, the scheduler and N\n"
    "workers, all on 127.0.0.1.  The simulated TDs are trusted only through\n"
    "DIR/td/root_ca.pem, named explicitly (--trust-sim-root): never in production.\n"
    "Prints the URLs, the key files and the next commands, then a line 'ready'.\n"
    "State stays in DIR: 'pool up' again restores the same chain, workerpool and\n"
    "keys.  Each service logs to DIR/logs/.\n"
    "\n"
    "  --sim             simulated TDs (required: a pool on TDX hardware is brought\n"
    "                    up service by service, see docs/pool.md)\n"
    "  --workers N       workers to start, 1..5 (default 2)\n"
    "  --dir DIR         state directory (default ~/.local/state/tdexec/pool, or\n"
    "                    /var/tmp/tdexec-pool when the home is private); its parents\n"
    "                    must let others pass (o+x): the apps run as another uid\n"
    "  --chain-port P    the chain's RPC port (default: the last one, else any free)\n"
    "  --fresh           remove DIR's state first (a new chain, keys and TD)\n"
    "  --json            print the pool (URLs, pids, keys, commands) as one JSON\n"
    "                    object instead of text, then the line 'ready'\n";

#define MAX_WORKERS 5
#define MAX_SVC     (3 + MAX_WORKERS)

/* Local chain accounts (tdexec chain up): 0 deploys PoCo. */
#define ACC_DEVELOPER 1
#define ACC_OWNER     3
#define ACC_REQUESTER 4
#define ACC_WORKER0   5

struct svc {
	char name[24];
	pid_t pid;
	char log[PATH_MAX];
	off_t log_start; /* where this run's lines begin */
	char url[64];
};

struct pool {
	char dir[PATH_MAX], self[PATH_MAX], chain[PATH_MAX], td[PATH_MAX];
	char rpc[64], workerpool[64], sched_url[64];
	char keys[MAX_WORKERS + 3][PATH_MAX];
	char addrs[MAX_WORKERS + 3][64];
	struct svc svc[MAX_SVC];
	int n_svc, workers, as_json;
	long ports[3]; /* chain, sms, scheduler: this run's, kept for the next */
	pid_t anvil;
	sigset_t sigs; /* taken by sigtimedwait: no handler runs */
	int stopping;
};

/* Paths in DIR, checked for length (PATH_OUT: in a function with `out:`). */
#define PATH_IN(buf, ...)  GUARD(path_fmt(buf, sizeof(buf), __VA_ARGS__))
#define PATH_OUT(buf, ...) GUARD_GOTO(path_fmt(buf, sizeof(buf), __VA_ARGS__))

static int port_free(long port)
{
	struct sockaddr_in a;
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok, one = 1;

	if (s < 0)
		return 0;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	ok = bind(s, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(s);
	return ok;
}

/* A program in $PATH. */
static int in_path(const char *prog)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	for (const char *p = path ? path : "/usr/sbin:/usr/bin:/sbin:/bin"; *p;) {
		size_t n = strcspn(p, ":");
		if (n &&
		    (size_t)snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, p, prog) < sizeof(buf) &&
		    access(buf, X_OK) == 0)
			return 1;
		p += n;
		if (*p == ':')
			p++;
	}
	return 0;
}

/* The workers' apps run as another uid and pass through DIR's parents to
 * their work directories (the worker refuses to start otherwise): every
 * existing ancestor of `dir` must let others search it.  0, or ERR_INVAL
 * naming the first that does not. */
static int reachable(const char *dir)
{
	char path[PATH_MAX];
	size_t n = strlen(dir);

	ENSURE(dir[0] == '/' && n < sizeof(path), ERR_INVAL, "%s: an absolute path is needed", dir);
	memcpy(path, dir, n + 1);
	for (char *slash = strchr(path + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
		struct stat st;
		*slash = '\0';
		if (stat(path, &st) == 0 && !(st.st_mode & S_IXOTH))
			return err_set(ERR_INVAL,
			               "%s (mode %o) keeps the workers' app sandbox (another uid) "
			               "from reaching %s: chmod o+x %s, or choose --dir elsewhere "
			               "(e.g. /var/tmp/tdexec-pool)",
			               path, (unsigned)(st.st_mode & 07777), dir, path);
		*slash = '/';
	}
	return 0;
}

/* Start SELF argv in its own process group, stdout to `out` (NULL: the log),
 * stderr to `log`, the signals this process blocks unblocked. */
static int spawn(struct pool *p, char *const argv[], const char *log, const char *out, pid_t *pid)
{
	int lfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600), ofd = -1;

	ENSURE(lfd >= 0, ERR_IO, "%s: %s", log, strerror(errno));
	if (out) {
		ofd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (ofd < 0) {
			close(lfd);
			return err_set(ERR_IO, "%s: %s", out, strerror(errno));
		}
	}
	*pid = fork();
	if (*pid == 0) {
		sigset_t none;
		int nul = open("/dev/null", O_RDONLY);
		/* Ctrl-C reaches this process only: it stops the services in
		 * order, workers first, the chain last. */
		setpgid(0, 0);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		dup2(nul, 0);
		dup2(ofd >= 0 ? ofd : lfd, 1);
		dup2(lfd, 2);
		execve(p->self, argv, environ);
		_exit(127);
	}
	close(lfd);
	if (ofd >= 0)
		close(ofd);
	ENSURE(*pid > 0, ERR_IO, "fork: %s", strerror(errno));
	setpgid(*pid, *pid);
	return 0;
}

/* Wait up to ms for a signal this process blocks; SIGINT, SIGTERM and
 * SIGHUP set p->stopping. */
static void wait_signal(struct pool *p, long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	int sig = sigtimedwait(&p->sigs, NULL, &ts);
	if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP)
		p->stopping = 1;
}

/* The last line of a log, for an error message. */
static void last_line(const char *path, char *out, size_t cap)
{
	uint8_t *buf;
	size_t len;
	out[0] = '\0';
	if (file_read(path, 16u << 20, &buf, &len) < 0)
		return;
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	buf[len] = '\0';
	{
		char *nl = strrchr((char *)buf, '\n');
		snprintf(out, cap, "%s", nl ? nl + 1 : (char *)buf);
	}
	free(buf);
}

/* Run one setup step (SELF argv) to its end; its stderr goes to
 * DIR/logs/setup.log, its stdout to `out` when given.  Ctrl-C stops it. */
static int step(struct pool *p, const char *what, char *const argv[], const char *out)
{
	char log[PATH_MAX], tail[512];
	pid_t pid;
	int status;

	PATH_IN(log, "%s/logs/setup.log", p->dir);
	fprintf(stderr, "pool: %s\n", what);
	GUARD(spawn(p, argv, log, out, &pid));
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		if (p->stopping) {
			kill(-pid, SIGTERM);
			waitpid(pid, &status, 0);
			return err_set(ERR_IO, "interrupted while %s", what);
		}
		wait_signal(p, 200);
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	last_line(log, tail, sizeof(tail));
	return err_set(ERR_IO, "%s failed (tdexec %s: %s; see %s)", what, argv[1], tail, log);
}

/* A service: SELF argv in the background, logging to DIR/logs/NAME.log. */
static int service(struct pool *p, const char *name, char *const argv[])
{
	struct svc *s = &p->svc[p->n_svc];
	struct stat st;

	snprintf(s->name, sizeof(s->name), "%s", name);
	PATH_IN(s->log, "%s/logs/%s.log", p->dir, name);
	s->log_start = stat(s->log, &st) == 0 ? st.st_size : 0;
	GUARD(spawn(p, argv, s->log, NULL, &s->pid));
	p->n_svc++;
	return 0;
}

/* A service that ended: its name and how, for the message. */
static int svc_died(struct svc *s, int status)
{
	char tail[512];
	last_line(s->log, tail, sizeof(tail));
	s->pid = 0;
	return err_set(ERR_IO, "%s exited (%s %d): %s (see %s)", s->name,
	               WIFSIGNALED(status) ? "signal" : "status",
	               WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), tail, s->log);
}

/* Reap whatever ended; an error when one of the services did.  Processes
 * orphaned below the services come here too (this process is their
 * subreaper) and are only reaped. */
static int reap(struct pool *p)
{
	pid_t r;
	int status;
	while ((r = waitpid(-1, &status, WNOHANG)) > 0) {
		if (r == p->anvil) {
			p->anvil = 0;
			return err_set(ERR_IO, "the chain (anvil) exited; see %s/chain/anvil.log",
			               p->dir);
		}
		for (int i = 0; i < p->n_svc; i++)
			if (p->svc[i].pid == r)
				return svc_died(&p->svc[i], status);
	}
	return 0;
}

/* Wait for a service's port file, or its end. */
static int wait_port(struct pool *p, struct svc *s, const char *file, const char *scheme,
                     long *port)
{
	for (int i = 0; i < 300 && !p->stopping; i++) {
		uint8_t *buf;
		size_t len;
		GUARD(reap(p));
		if (file_read(file, 64, &buf, &len) == 0) {
			*port = strtol((char *)buf, NULL, 10);
			free(buf);
			if (*port > 0) {
				snprintf(s->url, sizeof(s->url), "%s://127.0.0.1:%ld", scheme,
				         *port);
				return 0;
			}
		}
		wait_signal(p, 100);
	}
	ENSURE(!p->stopping, ERR_IO, "interrupted while starting %s", s->name);
	return err_set(ERR_IO, "%s did not listen within 30 s (see %s)", s->name, s->log);
}

/* Wait for "worker.register" in this run's part of each worker's log. */
static int wait_registered(struct pool *p, int first)
{
	for (int i = 0; i < 1200 && !p->stopping; i++) {
		int done = 0;
		GUARD(reap(p));
		for (int k = first; k < p->n_svc; k++) {
			uint8_t *buf;
			size_t len;
			if (file_read(p->svc[k].log, 16u << 20, &buf, &len) < 0)
				continue;
			if ((size_t)p->svc[k].log_start <= len &&
			    strstr((char *)buf + p->svc[k].log_start, "worker.register"))
				done++;
			free(buf);
		}
		if (done == p->n_svc - first)
			return 0;
		wait_signal(p, 100);
	}
	ENSURE(!p->stopping, ERR_IO, "interrupted while the workers registered");
	return err_set(ERR_IO, "the workers did not register within 120 s (see %s/logs)", p->dir);
}

/* The Anvil of DIR/chain/anvil.pid when it is alive and is Anvil (a
 * 'chain up' interrupted after starting it), else 0. */
static pid_t anvil_pid(const struct pool *p)
{
	char path[PATH_MAX], cmd[256];
	uint8_t *buf;
	size_t len;
	long pid;
	FILE *f;

	if (path_fmt(path, sizeof(path), "%s/chain/anvil.pid", p->dir) < 0 ||
	    file_read(path, 64, &buf, &len) < 0)
		return 0;
	pid = strtol((char *)buf, NULL, 10);
	free(buf);
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
	if (pid <= 0 || !(f = fopen(path, "r")))
		return 0;
	len = fread(cmd, 1, sizeof(cmd) - 1, f);
	fclose(f);
	cmd[len] = '\0';
	return strstr(cmd, "anvil") ? (pid_t)pid : 0;
}

/* Stop every service, workers first, then the chain (Anvil saves its state
 * on SIGTERM); each is waited for and reaped. */
static void stop_all(struct pool *p)
{
	time_t t0 = time(NULL);
	if (!p->anvil)
		p->anvil = anvil_pid(p);
	for (int i = p->n_svc - 1; i >= 0; i--)
		if (p->svc[i].pid > 0)
			kill(-p->svc[i].pid, SIGTERM);
	for (int i = p->n_svc - 1; i >= 0; i--) {
		int status;
		if (p->svc[i].pid <= 0)
			continue;
		while (waitpid(p->svc[i].pid, &status, WNOHANG) == 0) {
			if (time(NULL) - t0 > 15) {
				kill(-p->svc[i].pid, SIGKILL);
				waitpid(p->svc[i].pid, &status, 0);
				break;
			}
			usleep(50000);
		}
		/* what the service left in its group */
		kill(-p->svc[i].pid, SIGKILL);
		p->svc[i].pid = 0;
	}
	if (p->anvil > 0) {
		int status, mine;
		kill(p->anvil, SIGTERM);
		t0 = time(NULL);
		/* Anvil is this process's child once 'chain up' exits (subreaper);
		 * one left by an earlier run is not, and is watched until gone. */
		for (;;) {
			pid_t r = waitpid(p->anvil, &status, WNOHANG);
			mine = r != -1;
			if (r == p->anvil || (!mine && kill(p->anvil, 0) != 0))
				break;
			if (time(NULL) - t0 > 15)
				kill(p->anvil, SIGKILL);
			usleep(50000);
		}
		p->anvil = 0;
	}
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

static int read_json(const char *path, json_t **out)
{
	return json_load_path(path, 1 << 20, out);
}

/* DIR/keys/NAME.key from local account n of the chain file (0600). */
static int write_key(struct pool *p, json_t *chain, int slot, int account, const char *name)
{
	json_t *a = json_array_get(json_object_get(chain, "accounts"), (size_t)account);
	const char *k = json_string_value(json_object_get(a, "private_key"));
	const char *addr = json_string_value(json_object_get(a, "address"));
	char line[80];

	ENSURE(k && addr, ERR_INVAL, "%s: no local account %d", p->chain, account);
	PATH_IN(p->keys[slot], "%s/keys/%s.key", p->dir, name);
	snprintf(p->addrs[slot], sizeof(p->addrs[slot]), "%s", addr);
	snprintf(line, sizeof(line), "%s\n", k);
	return file_write(p->keys[slot], line, strlen(line), 0600);
}

/* cp -r of the simulated TD (a few small files, one level of directories). */
static int copy_tree(const char *from, const char *to)
{
	DIR *d = opendir(from);
	struct dirent *e;
	int rc = 0;

	ENSURE(d, ERR_IO, "%s: %s", from, strerror(errno));
	GUARD_GOTO(dir_create(to, 0700));
	while ((e = readdir(d))) {
		char a[PATH_MAX], b[PATH_MAX];
		struct stat st;
		uint8_t *buf;
		size_t len;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		GUARD_GOTO(path_fmt(a, sizeof(a), "%s/%s", from, e->d_name));
		GUARD_GOTO(path_fmt(b, sizeof(b), "%s/%s", to, e->d_name));
		ENSURE_GOTO(lstat(a, &st) == 0, ERR_IO, "%s: %s", a, strerror(errno));
		if (S_ISDIR(st.st_mode)) {
			GUARD_GOTO(copy_tree(a, b));
		} else if (S_ISREG(st.st_mode)) {
			GUARD_GOTO(file_read(a, 16u << 20, &buf, &len));
			rc = file_write(b, buf, len, st.st_mode & 0777);
			free(buf);
			GUARD_GOTO(rc);
		}
	}
out:
	closedir(d);
	return rc;
}

/* The address in `tdexec ... --json` output saved in `file`. */
static int json_address(const char *file, char *out, size_t cap)
{
	json_t *j;
	const char *a;
	GUARD(read_json(file, &j));
	a = json_string_value(json_object_get(j, "address"));
	if (a)
		snprintf(out, cap, "%s", a);
	json_decref(j);
	ENSURE(a, ERR_INVAL, "%s: no address", file);
	return 0;
}

/* mkimage beside the binary (BIN/../scripts), as the next commands name it. */
static void mkimage_path(const struct pool *p, char *out, size_t cap)
{
	char b[PATH_MAX], *slash;
	snprintf(b, sizeof(b), "%s", p->self);
	slash = strrchr(b, '/');
	if (slash)
		*slash = '\0';
	if (snprintf(out, cap, "%s/../scripts/mkimage", b) < (int)cap && access(out, X_OK) == 0) {
		char *r = realpath(out, NULL);
		if (r) {
			snprintf(out, cap, "%s", r);
			free(r);
		}
		return;
	}
	snprintf(out, cap, "scripts/mkimage");
}

/* The commands a requester runs next, as printed (and tested). */
static json_t *next_commands(const struct pool *p)
{
	char mk[PATH_MAX];
	json_t *a = json_array();
	const char *t = p->self; /* works as printed wherever PATH points */

	mkimage_path(p, mk, sizeof(mk));
#define ADD(...) json_array_append_new(a, json_sprintf(__VA_ARGS__))
	ADD("digest=$(%s %s/images shell '[\"/bin/sh\",\"-c\"]' /bin/sh)", mk, p->dir);
	ADD("app=$(%s app deploy --chain %s --plain-key %s --name shell --image shell@$digest "
	    "--layout %s/images --tdx-policy %s/policy.json --json | sed -n 's/.*\"address\": \"\\(.*\\)\".*/\\1/p')",
	    t, p->chain, p->keys[0], p->dir, p->dir);
	ADD("%s order init app --set app=$app --set tag=tdx --set volume=100 -o %s/app-order.json",
	    t, p->dir);
	ADD("%s order sign app %s/app-order.json --chain %s --plain-key %s -o %s/app-order.json", t,
	    p->dir, p->chain, p->keys[0], p->dir);
	ADD("%s market publish app %s/app-order.json --market %s", t, p->dir, p->sched_url);
	/* iExec's args are split as a shell would: the quotes make one */
	ADD("%s run $app --market %s --chain %s --plain-key %s --args \"'echo hello from a TD > "
	    "/iexec_out/hello.txt'\" -o result",
	    t, p->sched_url, p->chain, p->keys[2]);
	ADD("cat result/hello.txt");
#undef ADD
	return a;
}

static int write_state(const struct pool *p, const char *hub)
{
	char path[PATH_MAX];
	json_t *j = json_pack("{s:s,s:s,s:I,s:I,s:I}", "workerpool", p->workerpool, "hub", hub,
	                      "chain_port", (json_int_t)p->ports[0], "sms_port",
	                      (json_int_t)p->ports[1], "scheduler_port", (json_int_t)p->ports[2]);
	int rc;
	ENSURE(j, ERR_NOMEM, "out of memory");
	PATH_IN(path, "%s/pool.json", p->dir);
	rc = json_write_path(path, j, 0600);
	json_decref(j);
	return rc;
}

static json_t *describe(const struct pool *p)
{
	json_t *w = json_array(), *keys = json_object();
	json_t *j;
	for (int i = 0; i < p->workers; i++) {
		const struct svc *s = &p->svc[2 + i];
		json_array_append_new(w,
		                      json_pack("{s:s,s:s,s:I,s:s,s:b}", "address", p->addrs[3 + i],
		                                "key", p->keys[3 + i], "pid", (json_int_t)s->pid,
		                                "log", s->log, "simulated", 1));
	}
	json_object_set_new(keys, "developer", json_string(p->keys[0]));
	json_object_set_new(keys, "pool_owner", json_string(p->keys[1]));
	json_object_set_new(keys, "requester", json_string(p->keys[2]));
	j = json_pack("{s:b,s:s,s:{s:s,s:s,s:I},s:{s:s,s:I,s:s},s:{s:s,s:I,s:s},s:s,s:s,s:o,s:o,"
	              "s:s,s:s,s:o}",
	              "simulated", 1, "dir", p->dir, "chain", "rpc", p->rpc, "file", p->chain,
	              "pid", (json_int_t)p->anvil, "sms", "url", p->svc[0].url, "pid",
	              (json_int_t)p->svc[0].pid, "log", p->svc[0].log, "scheduler", "url",
	              p->svc[1].url, "pid", (json_int_t)p->svc[1].pid, "log", p->svc[1].log,
	              "workerpool", p->workerpool, "policy", "", "workers", w, "keys", keys,
	              "trust_sim_root", "", "logs", "", "next", next_commands(p));
	if (j) {
		json_object_set_new(j, "trust_sim_root", json_sprintf("%s/td/root_ca.pem", p->dir));
		json_object_set_new(j, "logs", json_sprintf("%s/logs", p->dir));
		json_object_set_new(j, "policy", json_sprintf("%s/policy.json", p->dir));
	}
	return j;
}

static void print_text(const struct pool *p)
{
	json_t *next = next_commands(p), *e;
	size_t i;

	printf("\npool up in %s — SIMULATED TDs: trusted only through %s/td/root_ca.pem, "
	       "never in production\n\n",
	       p->dir, p->dir);
	printf("  chain       %s  (pid %ld, chain file %s)\n", p->rpc, (long)p->anvil, p->chain);
	printf("  sms         %s  (RA-TLS from a SIMULATED TD, pid %ld)\n", p->svc[0].url,
	       (long)p->svc[0].pid);
	printf("  scheduler   %s  (pid %ld; market, results)\n", p->svc[1].url,
	       (long)p->svc[1].pid);
	printf("  workerpool  %s\n", p->workerpool);
	for (int k = 0; k < p->workers; k++)
		printf("  worker %d    %s  (SIMULATED TD, pid %ld)\n", k + 1, p->addrs[3 + k],
		       (long)p->svc[2 + k].pid);
	printf("  policy      %s/policy.json  (from the simulated TD's quote)\n", p->dir);
	printf("\n  keys (plain hex, local test accounts):\n");
	printf("    developer   %s  %s\n", p->addrs[0], p->keys[0]);
	printf("    pool owner  %s  %s\n", p->addrs[1], p->keys[1]);
	printf("    requester   %s  %s  (10 RLC deposited)\n", p->addrs[2], p->keys[2]);
	printf("  logs: %s/logs/\n\nNext: deploy an app and run a task (another shell):\n\n",
	       p->dir);
	json_array_foreach (next, i, e)
		printf("  %s\n", json_string_value(e));
	printf("\nCtrl-C stops the pool (state kept in %s).\n", p->dir);
	json_decref(next);
}

/* --fresh: a pool directory's state, and the chain it may have left up. */
static int remove_state(struct pool *p)
{
	static const char *const names[] = {
	    "chain",  "td",      "sms.td",    "workers",     "keys",
	    "images", "results", "pool.json", "policy.json", "sms-policy.json",
	    "sms.db", "sms.key", "sched.db",  "run",         "td-quote.dat",
	    "out"};
	char path[PATH_MAX], *down[] = {p->self, "chain", "down", "--dir", path, NULL};

	PATH_IN(path, "%s/chain", p->dir);
	if (access(path, F_OK) == 0)
		GUARD(step(p, "stopping the chain left up", down, NULL));
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		PATH_IN(path, "%s/%s", p->dir, names[i]);
		GUARD(file_remove_tree(path));
	}
	/* SQLite's companions */
	for (size_t i = 0; i < 2; i++) {
		static const char *const wal[] = {"sched.db-wal", "sched.db-shm"};
		PATH_IN(path, "%s/%s", p->dir, wal[i]);
		unlink(path);
	}
	return 0;
}

static int bring_up(struct pool *p, int fresh, long chain_port)
{
	char a[PATH_MAX], b[PATH_MAX], c[PATH_MAX], d[PATH_MAX], out[PATH_MAX], num[16][24];
	char sms_policy[PATH_MAX], root[PATH_MAX], coll[PATH_MAX], policy[PATH_MAX];
	json_t *chain = NULL, *state = NULL;
	const char *hub;
	int rc = 0, reuse, first;
	uint8_t *buf = NULL;
	size_t len;

	PATH_OUT(a, "%s/logs", p->dir);
	GUARD(dir_create(a, 0700));
	if (fresh)
		GUARD(remove_state(p));
	PATH_OUT(a, "%s/out", p->dir);
	GUARD(dir_create(a, 0700));
	PATH_OUT(a, "%s/pool.json", p->dir);
	if (access(a, F_OK) == 0 && read_json(a, &state) < 0)
		state = NULL;
	/* The ports of the last run when they are free, so what was printed
	 * then still holds; else any free port. */
	for (int i = 0; i < 3; i++) {
		static const char *const k[] = {"chain_port", "sms_port", "scheduler_port"};
		long v = (long)json_integer_value(json_object_get(state, k[i]));
		p->ports[i] = v > 0 && v < 65536 && port_free(v) ? v : 0;
	}
	if (chain_port) {
		ENSURE_GOTO(port_free(chain_port), ERR_IO,
		            "--chain-port %ld: the port is in use on 127.0.0.1", chain_port);
		p->ports[0] = chain_port;
	}

	/* 1. the chain (restored from DIR/chain when it was there) */
	PATH_OUT(a, "%s/chain", p->dir);
	PATH_OUT(out, "%s/out/chain-up.txt", p->dir);
	snprintf(num[0], sizeof(num[0]), "%ld", p->ports[0]);
	{
		char *argv[] = {p->self, "chain", "up", "--dir", a, "--port", num[0], NULL};
		GUARD_GOTO(step(p, "starting the chain (Anvil + PoCo)", argv, out));
	}
	GUARD_GOTO(file_read(out, 1 << 16, &buf, &len));
	/* a new deployment: everything on chain is to do again */
	reuse = strstr((char *)buf, "chain up:") == NULL;
	free(buf);
	buf = NULL;
	PATH_OUT(p->chain, "%s/chain/chain.json", p->dir);
	GUARD_GOTO(read_json(p->chain, &chain));
	p->anvil = anvil_pid(p);
	ENSURE_GOTO(p->anvil, ERR_IO, "the chain is not running after 'chain up' (see %s/chain)",
	            p->dir);
	snprintf(p->rpc, sizeof(p->rpc), "%s", json_string_value(json_object_get(chain, "rpc")));
	p->ports[0] = strtol(strrchr(p->rpc, ':') ? strrchr(p->rpc, ':') + 1 : "0", NULL, 10);
	hub = json_string_value(json_object_get(chain, "hub"));
	ENSURE_GOTO(hub, ERR_INVAL, "%s: no hub", p->chain);
	reuse = reuse && state && json_string_value(json_object_get(state, "hub")) &&
	        strcmp(json_string_value(json_object_get(state, "hub")), hub) == 0 &&
	        json_string_value(json_object_get(state, "workerpool"));

	/* 2. keys: local accounts funded by 'chain up' */
	PATH_OUT(a, "%s/keys", p->dir);
	GUARD_GOTO(dir_create(a, 0700));
	GUARD_GOTO(write_key(p, chain, 0, ACC_DEVELOPER, "developer"));
	GUARD_GOTO(write_key(p, chain, 1, ACC_OWNER, "pool-owner"));
	GUARD_GOTO(write_key(p, chain, 2, ACC_REQUESTER, "requester"));
	for (int i = 0; i < p->workers; i++) {
		char name[24];
		snprintf(name, sizeof(name), "worker%d", i + 1);
		GUARD_GOTO(write_key(p, chain, 3 + i, ACC_WORKER0 + i, name));
	}

	/* 3. the workerpool and the deposits */
	if (reuse) {
		snprintf(p->workerpool, sizeof(p->workerpool), "%s",
		         json_string_value(json_object_get(state, "workerpool")));
	} else {
		char *dep[] = {p->self,
		               "workerpool",
		               "deploy",
		               "--chain",
		               p->chain,
		               "--plain-key",
		               p->keys[1],
		               "--description",
		               "tdexec local pool (SIMULATED TDs)",
		               "--json",
		               NULL};
		char *own[] = {p->self,       "account",  "deposit",      "--chain", p->chain,
		               "--plain-key", p->keys[1], "100000000000", NULL};
		char *req[] = {p->self,       "account",  "deposit",     "--chain", p->chain,
		               "--plain-key", p->keys[2], "10000000000", NULL};
		PATH_OUT(out, "%s/out/workerpool.json", p->dir);
		GUARD_GOTO(step(p, "deploying the workerpool", dep, out));
		GUARD_GOTO(json_address(out, p->workerpool, sizeof(p->workerpool)));
		GUARD_GOTO(step(p, "the pool owner's deposit (stakes)", own, NULL));
		GUARD_GOTO(step(p, "the requester's deposit (10 RLC)", req, NULL));
		/* the workerpool cannot be created twice (CREATE2 on its owner
		 * and description): kept from now on */
		GUARD_GOTO(write_state(p, hub));
	}

	/* 4. the simulated TD and the pool's policy, from its quote */
	PATH_OUT(p->td, "%s/td", p->dir);
	PATH_OUT(a, "%s/td/td.json", p->dir);
	if (access(a, F_OK) != 0) {
		char *argv[] = {p->self, "sim", "init", "--force", p->td, NULL};
		GUARD_GOTO(step(p, "creating the SIMULATED TD", argv, NULL));
	}
	PATH_OUT(a, "%s/td-quote.dat", p->dir);
	PATH_OUT(policy, "%s/policy.json", p->dir);
	{
		char *get[] = {p->self, "quote",         "get", "--provider", "sim", "--sim-dir",
		               p->td,   "--report-data", "00",  "-o",         a,     NULL};
		char *pol[] = {p->self, "policy", "from-quote", a, "-o", policy, NULL};
		GUARD_GOTO(step(p, "a quote of the simulated TD", get, NULL));
		GUARD_GOTO(step(p, "the pool policy from that quote", pol, NULL));
	}
	/* The SMS runs in a TD of its own; in simulation the same build, so
	 * the same measurements (as scripts/pool.sh does). */
	PATH_OUT(sms_policy, "%s/sms-policy.json", p->dir);
	GUARD_GOTO(file_read(policy, 1 << 20, &buf, &len));
	rc = file_write(sms_policy, buf, len, 0644);
	free(buf);
	buf = NULL;
	GUARD_GOTO(rc);
	PATH_OUT(a, "%s/sms.td", p->dir);
	GUARD_GOTO(file_remove_tree(a));
	GUARD_GOTO(copy_tree(p->td, a));
	PATH_OUT(root, "%s/td/root_ca.pem", p->dir);
	PATH_OUT(coll, "%s/td/collateral/collateral.json", p->dir);
	PATH_OUT(b, "%s/run", p->dir);
	GUARD_GOTO(dir_create(b, 0700));

	/* 5. the SMS, serving RA-TLS from its simulated TD */
	PATH_OUT(b, "%s/run/sms.port", p->dir);
	unlink(b);
	PATH_OUT(c, "%s/sms.db", p->dir);
	PATH_OUT(d, "%s/sms.key", p->dir);
	snprintf(num[1], sizeof(num[1]), "%ld", p->ports[1]);
	{
		char *argv[] = {p->self,
		                "sms",
		                "--port",
		                num[1],
		                "--port-file",
		                b,
		                "--db",
		                c,
		                "--master-key",
		                d,
		                "--chain",
		                p->chain,
		                "--collateral",
		                coll,
		                "--policy",
		                policy,
		                "--trust-sim-root",
		                root,
		                "--ra-tls",
		                "--provider",
		                "sim",
		                "--sim-dir",
		                a,
		                NULL};
		fprintf(stderr, "pool: starting the SMS\n");
		GUARD_GOTO(service(p, "sms", argv));
		GUARD_GOTO(wait_port(p, &p->svc[0], b, "https", &p->ports[1]));
	}

	/* 6. the scheduler */
	PATH_OUT(b, "%s/run/sched.port", p->dir);
	unlink(b);
	PATH_OUT(c, "%s/sched.db", p->dir);
	PATH_OUT(d, "%s/results", p->dir);
	snprintf(num[2], sizeof(num[2]), "%ld", p->ports[2]);
	{
		char *argv[] = {p->self,
		                "scheduler",
		                "--chain",
		                p->chain,
		                "--workerpool",
		                p->workerpool,
		                "--plain-key",
		                p->keys[1],
		                "--sms",
		                p->svc[0].url,
		                "--db",
		                c,
		                "--results",
		                d,
		                "--port",
		                num[2],
		                "--port-file",
		                b,
		                "--poll-ms",
		                "300",
		                "--collateral",
		                coll,
		                "--trust-sim-root",
		                root,
		                "--policy",
		                policy,
		                "--sms-policy",
		                sms_policy,
		                "--order-volume",
		                "100",
		                "--order-price",
		                "100000000",
		                NULL};
		fprintf(stderr, "pool: starting the scheduler\n");
		GUARD_GOTO(service(p, "scheduler", argv));
		GUARD_GOTO(wait_port(p, &p->svc[1], b, "http", &p->ports[2]));
		snprintf(p->sched_url, sizeof(p->sched_url), "%s", p->svc[1].url);
	}

	/* 7. the workers, each in its own copy of the simulated TD (same
	 * platform and measurements, its own RTMR3 and event log) */
	PATH_OUT(c, "%s/images", p->dir);
	GUARD_GOTO(dir_create(c, 0755));
	first = p->n_svc;
	for (int i = 0; i < p->workers; i++) {
		char name[24], td[PATH_MAX], work[PATH_MAX];
		snprintf(name, sizeof(name), "worker%d", i + 1);
		PATH_OUT(work, "%s/workers/%s/work", p->dir, name);
		PATH_OUT(td, "%s/workers/%s/td", p->dir, name);
		GUARD_GOTO(dir_create(work, 0700));
		/* the apps' sandbox (another uid) passes through to the work
		 * directory: search permission, no listing */
		PATH_OUT(a, "%s/workers/%s", p->dir, name);
		ENSURE_GOTO(chmod(a, 0711) == 0, ERR_IO, "%s: %s", a, strerror(errno));
		PATH_OUT(a, "%s/workers", p->dir);
		ENSURE_GOTO(chmod(a, 0711) == 0, ERR_IO, "%s: %s", a, strerror(errno));
		GUARD_GOTO(file_remove_tree(td));
		GUARD_GOTO(copy_tree(p->td, td));
		{
			/* --work-dir-encrypted: this machine's disk stands in
			 * for a TD's encrypted one */
			char *argv[] = {p->self,
			                "worker",
			                "--scheduler",
			                p->sched_url,
			                "--chain",
			                p->chain,
			                "--plain-key",
			                p->keys[3 + i],
			                "--images",
			                c,
			                "--work-dir",
			                work,
			                "--work-dir-encrypted",
			                "--provider",
			                "sim",
			                "--sim-dir",
			                td,
			                "--sms-policy",
			                sms_policy,
			                "--collateral",
			                coll,
			                "--trust-sim-root",
			                root,
			                NULL};
			fprintf(stderr, "pool: starting %s (SIMULATED TD)\n", name);
			GUARD_GOTO(service(p, name, argv));
		}
	}
	GUARD_GOTO(wait_registered(p, first));
	GUARD_GOTO(write_state(p, hub));
out:
	free(buf);
	json_decref(chain);
	json_decref(state);
	return rc;
}

const struct option cli_pool_up_opts[] = {
    {"sim", no_argument, NULL, 's'},       {"workers", required_argument, NULL, 'w'},
    {"dir", required_argument, NULL, 'd'}, {"chain-port", required_argument, NULL, 'p'},
    {"fresh", no_argument, NULL, 'f'},     {"json", no_argument, NULL, 'j'},
    {"help", no_argument, NULL, 'h'},      {NULL, 0, NULL, 0},
};

int cmd_pool_up(int argc, char **argv)
{
	static struct pool pool; /* large: paths */
	struct pool *p = &pool;
	long workers = 2, chain_port = 0;
	int c, sim = 0, fresh = 0, lock, rc;
	ssize_t n;
	char lockp[PATH_MAX];

	while ((c = cli_getopt(argc, argv, "pool up", "h", cli_pool_up_opts)) != -1) {
		switch (c) {
		case 's': sim = 1; break;
		case 'w':
			if (cli_int("pool up", "--workers", optarg, 1, MAX_WORKERS, &workers))
				return EXIT_USAGE;
			break;
		case 'd': snprintf(p->dir, sizeof(p->dir), "%s", optarg); break;
		case 'p':
			if (cli_int("pool up", "--chain-port", optarg, 1, 65535, &chain_port))
				return EXIT_USAGE;
			break;
		case 'f': fresh = 1; break;
		case 'j': p->as_json = 1; break;
		case 'h': fputs(up_usage, stdout); return 0;
		default: return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return cli_usage("pool up", "unexpected argument '%s'", argv[optind]);
	if (!sim)
		return cli_usage("pool up", "only --sim is supported: a pool on TDX hardware is "
		                            "brought up service by service (docs/pool.md)");
	p->workers = (int)workers;
	if (!in_path("runc")) {
		(void)err_set(ERR_NOTFOUND, "runc is not installed: the workers run apps with it "
		                            "(apt-get install runc, or scripts/install-deps)");
		return cli_fail();
	}
	n = readlink("/proc/self/exe", p->self, sizeof(p->self) - 1);
	if (n <= 0) {
		(void)err_set(ERR_IO, "/proc/self/exe: %s", strerror(errno));
		return cli_fail();
	}
	p->self[n] = '\0';
	if (!p->dir[0]) {
		const char *x = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
		if (x && *x)
			snprintf(p->dir, sizeof(p->dir), "%s/tdexec/pool", x);
		else
			snprintf(p->dir, sizeof(p->dir), "%s/.local/state/tdexec/pool",
			         home ? home : ".");
		/* A private home (root's is 0700): a directory others can pass
		 * through, said so. */
		if (p->dir[0] != '/' || reachable(p->dir) < 0) {
			fprintf(stderr,
			        "pool: %s is not reachable by the apps' sandbox; using "
			        "/var/tmp/tdexec-pool\n",
			        p->dir);
			snprintf(p->dir, sizeof(p->dir), "/var/tmp/tdexec-pool");
		}
	}
	if (p->dir[0] == '/' && reachable(p->dir) < 0)
		return cli_fail();
	/* 0711: the workers' app sandboxes pass through it to their work
	 * directories; what is secret below is 0600 or in 0700 directories */
	if (dir_create(p->dir, 0711) < 0 || chmod(p->dir, 0711) != 0)
		return cli_fail();
	{
		char *r = realpath(p->dir, NULL);
		if (!r) {
			(void)err_set(ERR_IO, "%s: %s", p->dir, strerror(errno));
			return cli_fail();
		}
		snprintf(p->dir, sizeof(p->dir), "%s", r);
		free(r);
	}
	if (reachable(p->dir) < 0)
		return cli_fail();
	/* One pool per directory. */
	if (path_fmt(lockp, sizeof(lockp), "%s/lock", p->dir) < 0)
		return cli_fail();
	lock = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock < 0 || flock(lock, LOCK_EX | LOCK_NB) != 0) {
		(void)err_set(ERR_BUSY, "a pool is already up in %s", p->dir);
		return cli_fail();
	}
	/* Anvil, started detached by 'chain up', comes back to this process
	 * when 'chain up' exits: it is stopped and reaped here like the rest. */
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	sigemptyset(&p->sigs);
	sigaddset(&p->sigs, SIGINT);
	sigaddset(&p->sigs, SIGTERM);
	sigaddset(&p->sigs, SIGHUP);
	sigaddset(&p->sigs, SIGCHLD);
	sigprocmask(SIG_BLOCK, &p->sigs, NULL);

	rc = bring_up(p, fresh, chain_port);
	if (rc == 0) {
		if (p->as_json) {
			json_t *j = describe(p);
			rc = j ? json_print(j, 0) : err_set(ERR_NOMEM, "out of memory");
			json_decref(j);
		} else {
			print_text(p);
		}
		printf("ready\n");
		fflush(stdout);
	}
	while (rc == 0 && !p->stopping) {
		rc = reap(p);
		if (rc == 0)
			wait_signal(p, 500);
	}
	if (rc < 0)
		fprintf(stderr, "tdexec: %s\n", err_msg());
	fprintf(stderr, "pool: stopping\n");
	stop_all(p);
	if (rc == 0)
		fprintf(stderr, "pool stopped (state kept in %s)\n", p->dir);
	close(lock);
	return rc < 0 ? 1 : 0;
}
