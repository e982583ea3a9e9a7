/* oci.c — running an unpacked image with runc, see oci.h. */
#include "oci.h"

#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "util/json.h"
#include "util/log.h"
#include "util/proc.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static json_t *mount(const char *dst, const char *type, const char *src, const char *opts)
{
	json_t *o = json_array();
	for (const char *p = opts; p && *p;) {
		const char *c = strchr(p, ',');
		size_t n = c ? (size_t)(c - p) : strlen(p);
		json_array_append_new(o, json_stringn(p, n));
		p = c ? c + 1 : NULL;
	}
	return json_pack("{s:s,s:s,s:s,s:o}", "destination", dst, "type", type, "source", src,
	                 "options", o);
}

extern const char oci_seccomp_json[]; /* generated from seccomp.json */

static json_t *seccomp_profile(void)
{
	json_error_t e;
	json_t *p = json_loads(oci_seccomp_json, 0, &e);
	if (!p)
		log_error("worker.seccomp", "profile=invalid line=%d error=\"%s\"", e.line, e.text);
	else
		json_object_del(p, "_comment");
	return p;
}

static json_t *rlimit(const char *type, uint64_t v)
{
	return json_pack("{s:s,s:I,s:I}", "type", type, "hard", (json_int_t)v, "soft",
	                 (json_int_t)v);
}

/* The runtime's config.json: a user namespace, a read-only root, no
 * capabilities, the seccomp profile, new namespaces (network too unless
 * allowed), /iexec_in read-only, /iexec_out and /tmp bounded tmpfs, limits
 * on memory, processes, CPU and file sizes. */
json_t *oci_runtime_config(const struct oci_run *r)
{
	json_t *mounts = json_array(), *ns = json_array(), *res = json_object(), *rl = json_array(),
	       *seccomp = seccomp_profile(), *idmap;
	static const char *const nss[] = {"pid", "ipc", "uts", "mount", "user", "network"};
	char tmpopts[96];

	if (!seccomp || !mounts || !ns || !res || !rl) {
		json_decref(mounts);
		json_decref(ns);
		json_decref(res);
		json_decref(rl);
		json_decref(seccomp);
		return NULL;
	}
	/* tmpcopyup (runc): the private /tmp starts with what the image keeps
	 * there, as under Docker, where an image's /tmp is visible */
	snprintf(tmpopts, sizeof(tmpopts), "nosuid,nodev,mode=1777,size=%llu,tmpcopyup",
	         (unsigned long long)(r->max_tmp ? r->max_tmp : 1ull << 30));
	json_array_append_new(mounts, mount("/proc", "proc", "proc", "nosuid,noexec,nodev"));
	json_array_append_new(
	    mounts, mount("/dev", "tmpfs", "tmpfs", "nosuid,strictatime,mode=755,size=65536k"));
	json_array_append_new(mounts, mount("/dev/pts", "devpts", "devpts",
	                                    "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620"));
	json_array_append_new(
	    mounts, mount("/dev/shm", "tmpfs", "shm", "nosuid,noexec,nodev,mode=1777,size=65536k"));
	json_array_append_new(mounts,
	                      mount("/dev/mqueue", "mqueue", "mqueue", "nosuid,noexec,nodev"));
	/* a user namespace may mount sysfs only for a network namespace it owns */
	json_array_append_new(
	    mounts, r->network ? mount("/sys", "bind", "/sys", "rbind,nosuid,noexec,nodev,ro")
	                       : mount("/sys", "sysfs", "sysfs", "nosuid,noexec,nodev,ro"));
	json_array_append_new(mounts, mount("/tmp", "tmpfs", "tmpfs", tmpopts));
	json_array_append_new(
	    mounts, mount("/iexec_in", "bind", r->in_dir, "rbind,ro,nosuid,nodev,noexec"));
	json_array_append_new(
	    mounts, mount("/iexec_out", "bind", r->out_dir, "rbind,rw,nosuid,nodev,noexec"));
	for (size_t i = 0; i < sizeof(nss) / sizeof(*nss); i++)
		if (i < 5 || !r->network)
			json_array_append_new(ns, json_pack("{s:s}", "type", nss[i]));
	if (r->memory)
		json_object_set_new(res, "memory",
		                    json_pack("{s:I,s:I}", "limit", (json_int_t)r->memory, "swap",
		                              (json_int_t)r->memory));
	json_object_set_new(
	    res, "pids",
	    json_pack("{s:I}", "limit", (json_int_t)(r->max_pids ? r->max_pids : 512)));
	if (r->cpus_milli > 0)
		json_object_set_new(res, "cpu",
		                    json_pack("{s:I,s:I}", "quota", (json_int_t)r->cpus_milli * 100,
		                              "period", (json_int_t)100000));
	json_object_set_new(res, "devices", json_pack("[{s:b,s:s}]", "allow", 0, "access", "rwm"));
	json_array_append_new(rl, rlimit("RLIMIT_NOFILE", 1024));
	json_array_append_new(rl, rlimit("RLIMIT_CORE", 0));
	if (r->max_file)
		json_array_append_new(rl, rlimit("RLIMIT_FSIZE", r->max_file));
	idmap = json_pack("[{s:i,s:I,s:i}]", "containerID", 0, "hostID", (json_int_t)r->uid_base,
	                  "size", OCI_ID_COUNT);
	return json_pack(
	    "{s:s,s:{s:b,s:{s:i,s:i},s:O,s:O,s:s,s:b,s:{s:[],s:[],s:[],s:[],s:[]},"
	    "s:o},s:{s:s,s:b},s:s,s:o,s:{s:o,s:o,s:o,s:o,s:o,s:s,s:[s,s,s,s,s,s],"
	    "s:[s,s]}}",
	    "ociVersion", "1.0.2", "process", "terminal", 0, "user", "uid", 0, "gid", 0, "args",
	    r->args, "env", r->env, "cwd", r->cwd && *r->cwd ? r->cwd : "/", "noNewPrivileges", 1,
	    "capabilities", "bounding", "effective", "inheritable", "permitted", "ambient",
	    "rlimits", rl, "root", "path", r->rootfs, "readonly", 1, "hostname", "tdexec-app",
	    "mounts", mounts, "linux", "namespaces", ns, "uidMappings", idmap, "gidMappings",
	    json_deep_copy(idmap), "resources", res, "seccomp", seccomp, "cgroupsPath", "",
	    "maskedPaths", "/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug",
	    "/sys/firmware", "/proc/scsi", "readonlyPaths", "/proc/sys", "/proc/sysrq-trigger");
}

/* Did the memory cgroup of the container kill something? (cgroup v1 and v2) */
static int oom_killed(const char *cgroup)
{
	static const char *const files[] = {"/sys/fs/cgroup/memory%s/memory.oom_control",
	                                    "/sys/fs/cgroup%s/memory.events"};
	char path[PATH_MAX], line[128];
	for (size_t i = 0; i < 2; i++) {
		FILE *f;
		snprintf(path, sizeof(path), files[i], cgroup);
		if (!(f = fopen(path, "r")))
			continue;
		while (fgets(line, sizeof(line), f))
			if (strncmp(line, "oom_kill ", 9) == 0 && atol(line + 9) > 0) {
				fclose(f);
				return 1;
			}
		fclose(f);
	}
	return 0;
}

int oci_run(const struct oci_run *r, int *exit_code, int *timed_out, int *oom)
{
	return oci_run_config(r, oci_runtime_config(r), exit_code, timed_out, oom);
}

int oci_run_config(const struct oci_run *r, json_t *cfg, int *exit_code, int *timed_out, int *oom)
{
	char path[PATH_MAX], cgroup[256];
	struct timespec t0, t;
	pid_t pid;
	int rc, st = 0, done = 0;
	useconds_t nap = 500;
	const char *rt = r->runtime ? r->runtime : "runc";

	*exit_code = -1;
	*timed_out = *oom = 0;
	ENSURE(cfg, ERR_NOMEM, "oci: cannot build the runtime config");
	snprintf(cgroup, sizeof(cgroup), "/tdexec/%s", r->id);
	json_object_set_new(json_object_get(cfg, "linux"), "cgroupsPath", json_string(cgroup));
	snprintf(path, sizeof(path), "%s/config.json", r->bundle);
	rc = json_write_path(path, cfg, 0600);
	json_decref(cfg);
	GUARD(rc);
	{
		char *argv[] = {(char *)rt,    "--root", (char *)r->root, "delete", "-f",
		                (char *)r->id, NULL};
		/* a leftover of a crashed run, if any: runc fails when there is none */
		IGNORE_STATUS(proc_run(argv, NULL, r->log_path));
	}
	/* runc's own messages go to a file of their own, apart from the app's
	 * output: the worker must never take the app's words for runc's; its
	 * pid file says whether the app's process was ever started */
	char rlog[PATH_MAX], rpid[PATH_MAX];
	GUARD(path_fmt(rlog, sizeof(rlog), "%s/runc.log", r->bundle));
	GUARD(path_fmt(rpid, sizeof(rpid), "%s/runc.pid", r->bundle));
	unlink(rlog);
	unlink(rpid);
	char *argv[] = {
	    (char *)rt,    "--root", (char *)r->root, "--log", rlog,       "--log-format",
	    "json",        "run",    "--pid-file",    rpid,    "--bundle", (char *)r->bundle,
	    (char *)r->id, NULL};
	GUARD(proc_spawn_split(argv, NULL, r->log_path, r->err_path, &pid));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!done) {
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid) {
			done = 1;
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (!*timed_out && r->timeout_s > 0 && t.tv_sec - t0.tv_sec >= r->timeout_s) {
			char *k[] = {(char *)rt, "--root", (char *)r->root, "kill", (char *)r->id,
			             "KILL",     NULL};
			*timed_out = 1;
			if (proc_run(k, NULL, r->log_path) != 0)
				log_warn("worker.app", "id=%s kill=failed", r->id);
			log_warn("worker.app", "id=%s killed=\"wall time over %lds\"", r->id,
			         r->timeout_s);
		}
		/* short apps are seen ending at once, long ones polled every 20 ms */
		usleep(nap);
		if (nap < 20000)
			nap *= 2;
	}
	*exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	/* runc removes the cgroup when the app exits: an app killed by SIGKILL
	 * under a memory limit, not by us, was killed by the OOM killer. */
	*oom = !*timed_out && *exit_code != 0 &&
	       (oom_killed(cgroup) || (r->memory && *exit_code == 128 + SIGKILL));
	{
		char *d[] = {(char *)rt,    "--root", (char *)r->root, "delete", "-f",
		             (char *)r->id, NULL};
		/* a container left behind is deleted at the next start (oci_cleanup) */
		if (proc_run(d, NULL, r->log_path) != 0)
			log_warn("worker.app", "id=%s delete=failed", r->id);
	}
	return 0;
}

/* Why runc is trusted this far (runc 1.1, checked by tests/pool): `runc
 * run` logs at level "error" only when it fails itself (a bad rootfs or
 * config, a missing entrypoint, a cgroup it cannot make), and writes
 * --pid-file only once the container's process runs and was told to exec
 * the app; an app that exits non-zero makes runc exit with its status and
 * log nothing.  The one failure runc reports on the app's own stderr, an
 * exec that fails after that point (a file that is not a program), is
 * indistinguishable from the app's words and stays the app's exit status. */
int oci_runtime_failure(const char *bundle, int exit_code, char *why, size_t cap)
{
	char path[PATH_MAX], line[4096], found[1024] = "", msg[320];
	int started;
	FILE *f;

	if (exit_code == 0)
		return 0;
	if (path_fmt(path, sizeof(path), "%s/runc.pid", bundle) < 0)
		return 0;
	started = access(path, F_OK) == 0;
	if (path_fmt(path, sizeof(path), "%s/runc.log", bundle) == 0 && (f = fopen(path, "re"))) {
		if (fseek(f, -65536, SEEK_END) != 0)
			rewind(f);
		while (fgets(line, sizeof(line), f)) {
			json_t *j = json_loads(line, 0, NULL);
			const char *lv = json_string_value(json_object_get(j, "level")),
			           *m = json_string_value(json_object_get(j, "msg"));
			if (lv && m && (!strcmp(lv, "error") || !strcmp(lv, "fatal")))
				snprintf(found, sizeof(found), "%s", m);
			json_decref(j);
		}
		fclose(f);
	}
	if (found[0]) {
		/* "runc run failed: unable to start container process: …" */
		const char *m = found;
		if (strncmp(m, "runc run failed: ", 17) == 0)
			m += 17;
		str_printable(msg, sizeof(msg), m, strlen(m));
		snprintf(why, cap, "%s: runc: %s",
		         started ? "the runtime failed" : "the container did not start", msg);
		return 1;
	}
	if (!started) {
		snprintf(why, cap, "the container did not start: runc exited with status %d",
		         exit_code);
		return 1;
	}
	return 0;
}

void oci_cleanup(const char *runtime, const char *root)
{
	DIR *d = opendir(root);
	struct dirent *e;
	const char *rt = runtime ? runtime : "runc";

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || e->d_type != DT_DIR)
			continue;
		char *argv[] = {(char *)rt, "--root",  (char *)root, "delete",
		                "-f",       e->d_name, NULL};
		log_warn("worker.cleanup", "container=%s (left by an earlier run)", e->d_name);
		if (proc_run(argv, NULL, NULL) != 0)
			log_warn("worker.cleanup", "container=%s delete=failed", e->d_name);
	}
	closedir(d);
}
