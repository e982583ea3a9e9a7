/* bench_sandbox — what the hardened sandbox costs a task, against the
 * sandbox tdexec had before it, measured in the same run on the same image
 * and app, tasks interleaved:
 *   before    the image reused on sight (a stat), the task's directories on
 *             the work disk, runc without user namespace, seccomp, pids,
 *             CPU or file-size limits, `zip -r` of /iexec_out, `rm -rf`;
 *   hardened  the cached image's tree digest verified, a tmpfs workspace
 *             with /iexec_out on its own tmpfs, runc in a user namespace
 *             with the seccomp profile and limits, the output collected
 *             without following links (digest and zip in one pass), the
 *             workspace unmounted.
 * The app writes a small file; app time is included in both.  Needs root
 * and runc.  Usage: bench_sandbox LAYOUT DIGEST_HEX WORK_DIR [N] */
#include "../services/worker/image.h"
#include "../services/worker/oci.h"
#include "../services/worker/result.h"
#include "../services/worker/wk.h"
#include "benchutil.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "util/proc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct bench {
	struct worker w;
	struct worker_config cfg;
	uint8_t digest[32];
	char image[PATH_MAX], rootfs[PATH_MAX + 16], runc_root[PATH_MAX + 16];
	json_t *args, *env;
};

static int fail(const char *what)
{
	fprintf(stderr, "bench_sandbox: %s: %s\n", what, err_msg());
	exit(1);
}

static void base_run(struct bench *b, const char *id, const char *dir, const char *in,
                     const char *out, struct oci_run *r)
{
	memset(r, 0, sizeof(*r));
	r->root = b->runc_root;
	r->id = id;
	r->rootfs = b->rootfs;
	r->in_dir = in;
	r->out_dir = out;
	r->args = b->args;
	r->env = b->env;
	r->memory = 1ull << 30;
	r->timeout_s = 60;
	r->uid_base = b->w.uid_base;
	r->max_pids = 512;
	r->cpus_milli = 1000 * sysconf(_SC_NPROCESSORS_ONLN);
	r->max_tmp = 1ull << 30;
	r->max_file = 1ull << 30;
	(void)dir;
}

/* The runtime config as it was: no user namespace, no seccomp, no pids,
 * CPU or file-size limits, an unbounded /tmp. */
static json_t *config_before(const struct oci_run *r)
{
	json_t *c = oci_runtime_config(r), *lx = json_object_get(c, "linux"), *ns, *m, *v;
	size_t i;
	json_object_del(lx, "uidMappings");
	json_object_del(lx, "gidMappings");
	json_object_del(lx, "seccomp");
	json_object_del(json_object_get(lx, "resources"), "pids");
	json_object_del(json_object_get(lx, "resources"), "cpu");
	ns = json_object_get(lx, "namespaces");
	json_array_foreach (ns, i, v)
		if (strcmp(json_string_value(json_object_get(v, "type")), "user") == 0) {
			json_array_remove(ns, i);
			break;
		}
	json_object_set_new(
	    json_object_get(c, "process"), "rlimits",
	    json_pack("[{s:s,s:i,s:i}]", "type", "RLIMIT_NOFILE", "hard", 1024, "soft", 1024));
	json_array_foreach (json_object_get(c, "mounts"), i, m)
		if (strcmp(json_string_value(json_object_get(m, "destination")), "/tmp") == 0)
			json_object_set_new(m, "options",
			                    json_pack("[s,s,s]", "nosuid", "nodev", "mode=1777"));
	return c;
}

static double task_before(struct bench *b, int i)
{
	char dir[PATH_MAX], in[PATH_MAX + 16], out[PATH_MAX + 16], bundle[PATH_MAX + 16],
	    log[PATH_MAX + 16], zip[PATH_MAX + 16], id[64], cfgpath[PATH_MAX + 16];
	struct oci_run r;
	struct stat st;
	int code, to, oom;
	double t0 = bench_now();

	snprintf(cfgpath, sizeof(cfgpath), "%s/image.json", b->image);
	if (stat(cfgpath, &st) != 0)
		fail("image");
	if (path_fmt(dir, sizeof(dir), "%s/before-%d", b->w.work, i) < 0)
		fail("path");
	snprintf(in, sizeof(in), "%s/iexec_in", dir);
	snprintf(out, sizeof(out), "%s/iexec_out", dir);
	snprintf(bundle, sizeof(bundle), "%s/bundle", dir);
	snprintf(log, sizeof(log), "%s/app.log", dir);
	snprintf(zip, sizeof(zip), "%s/iexec_out.zip", dir);
	snprintf(id, sizeof(id), "bench-before-%d", i);
	char *rm[] = {"rm", "-rf", dir, NULL};
	bench_must(proc_check(rm, NULL));
	if (dir_create(in, 0755) < 0 || dir_create(out, 0777) < 0 || dir_create(bundle, 0700) < 0)
		fail("dirs");
	chmod(out, 0777);
	base_run(b, id, dir, in, out, &r);
	r.bundle = bundle;
	r.log_path = log;
	if (oci_run_config(&r, config_before(&r), &code, &to, &oom) < 0 || code != 0)
		fail("runc (before)");
	char *z[] = {"zip", "-q", "-r", "-X", zip, ".", NULL};
	if (proc_check(z, out) < 0)
		fail("zip");
	bench_must(proc_check(rm, NULL));
	return bench_now() - t0;
}

static double task_hardened(struct bench *b, int i)
{
	struct task t;
	struct image_opts io;
	struct oci_run r;
	struct result_limits lim = RESULT_DEFAULT_LIMITS;
	char bundle[PATH_MAX + 16], log[PATH_MAX + 16], zip[PATH_MAX + 16], id[64], tid[67];
	uint8_t digest[32];
	json_t *cfg = NULL;
	int code, to, oom;
	double t0 = bench_now();

	image_opts_default(&io);
	io.uid_base = io.gid_base = b->w.uid_base;
	if (image_unpack(b->w.layout, b->digest, b->image, &io, &cfg) < 0)
		fail("image");
	json_decref(cfg);
	memset(&t, 0, sizeof(t));
	snprintf(tid, sizeof(tid), "0x%064d", i);
	t.taskid = tid;
	if (wk_workspace_open(&b->w, &t) < 0)
		fail("workspace");
	snprintf(bundle, sizeof(bundle), "%s/bundle", t.dir);
	snprintf(log, sizeof(log), "%s/app.log", t.dir);
	snprintf(zip, sizeof(zip), "%s/iexec_out.zip", t.dir);
	snprintf(id, sizeof(id), "bench-hardened-%d", i);
	base_run(b, id, t.dir, t.in, t.out, &r);
	r.bundle = bundle;
	r.log_path = log;
	if (oci_run(&r, &code, &to, &oom) < 0 || code != 0)
		fail("runc (hardened)");
	if (result_collect(t.out, "", &lim, zip, digest) < 0)
		fail("result");
	wk_workspace_close(&b->w, &t);
	return bench_now() - t0;
}

int main(int argc, char **argv)
{
	struct bench b;
	struct image_opts io;
	json_t *cfg = NULL;
	int n = argc > 4 ? atoi(argv[4]) : 20;
	double *before, *hard;

	if (argc < 4 || n < 1) {
		fprintf(stderr, "usage: bench_sandbox LAYOUT DIGEST_HEX WORK_DIR [N]\n");
		return 2;
	}
	if (geteuid() != 0) {
		printf("bench_sandbox: skipped (needs root for runc and mounts)\n");
		return 0;
	}
	memset(&b, 0, sizeof(b));
	b.w.cfg = &b.cfg;
	b.cfg.work_dir = argv[3];
	b.cfg.work_dir_encrypted = 1; /* a scratch directory of the benchmark */
	b.w.uid_base = 100000;
	if (hex_decode_exact(b.digest, 32, argv[2], "digest") < 0)
		fail("digest");
	if (wk_workspace_isolate() < 0 || dir_create(argv[3], 0700) < 0 ||
	    !realpath(argv[3], b.w.work) || wk_workdir_check(&b.w) < 0)
		fail("work dir");
	snprintf(b.w.layout, sizeof(b.w.layout), "%s", argv[1]);
	if (path_fmt(b.image, sizeof(b.image), "%s/image", b.w.work) < 0)
		fail("path");
	snprintf(b.rootfs, sizeof(b.rootfs), "%s/rootfs", b.image);
	snprintf(b.runc_root, sizeof(b.runc_root), "%s/runc", b.w.work);
	if (wk_workspace_sweep(&b.w) < 0)
		fail("sweep");
	image_opts_default(&io);
	io.uid_base = io.gid_base = b.w.uid_base;
	if (image_unpack(b.w.layout, b.digest, b.image, &io, &cfg) < 0 ||
	    wk_sandbox_dir(&b.w, b.image) < 0)
		fail("unpack");
	json_decref(cfg);
	b.args = json_pack("[s,s,s]", "/bin/sh", "-c", "echo hello > /iexec_out/r.txt");
	b.env = json_pack("[s]", "PATH=/usr/bin:/bin");
	before = calloc((size_t)n, sizeof(double));
	hard = calloc((size_t)n, sizeof(double));
	task_before(&b, -1); /* warm-up: caches, cgroups */
	task_hardened(&b, 999999);
	for (int i = 0; i < n; i++) {
		before[i] = task_before(&b, i);
		hard[i] = task_hardened(&b, i);
	}
	double b50 = bench_quantile(before, n, 0.5), h50 = bench_quantile(hard, n, 0.5);
	double b90 = bench_quantile(before, n, 0.9), h90 = bench_quantile(hard, n, 0.9);
	printf("sandbox: one trivial task from image to result archive (%d tasks each, "
	       "interleaved)\n",
	       n);
	printf(
	    "  before (no userns/seccomp/limits, disk dirs, zip -r)  p50 %6.1f ms   p90 %6.1f ms\n",
	    b50 * 1e3, b90 * 1e3);
	printf(
	    "  hardened (verified image, tmpfs workspace, userns,     p50 %6.1f ms   p90 %6.1f ms\n"
	    "            seccomp, limits, link-free collection)\n",
	    h50 * 1e3, h90 * 1e3);
	printf("  overhead p50 %+.1f ms per task (goal <= +50 ms); hardened / before = %.2f\n",
	       (h50 - b50) * 1e3, h50 / b50);
	bench_must(file_remove_tree(b.w.work));
	json_decref(b.args);
	json_decref(b.env);
	free(before);
	free(hard);
	return 0;
}
