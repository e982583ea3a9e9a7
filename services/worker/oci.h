/* oci.h — run an unmodified OCI image with an OCI runtime (runc).
 *
 * The image is unpacked by image.h's store; this runs its rootfs. */
#ifndef TDEXEC_WORKER_OCI_H
#define TDEXEC_WORKER_OCI_H

#include <jansson.h>
#include <stdint.h>

/* container ids 0..OCI_ID_COUNT-1 are mapped to host ids */
#define OCI_ID_COUNT 65536

struct oci_run {
	const char *runtime;  /* "runc" (PATH) or a path */
	const char *root;     /* runtime state directory (--root) */
	const char *id;       /* container id */
	const char *bundle;   /* a directory for config.json */
	const char *rootfs;   /* read-only root file system */
	const char *in_dir;   /* bound read-only at /iexec_in */
	const char *out_dir;  /* bound read-write at /iexec_out */
	const char *log_path; /* the app's stdout (and stderr when err_path is NULL) */
	const char *err_path; /* the app's stderr, NULL: in log_path */
	json_t *args;         /* array of strings */
	json_t *env;          /* array of "K=V" strings */
	const char *cwd;
	uint64_t memory; /* bytes; 0 = no limit */
	long timeout_s;  /* wall time; the app is killed past it */
	int network;     /* 0: a network namespace with only loopback */
	/* the hardened sandbox: a user namespace mapping the container's ids
	 * 0..65535 to host ids uid_base.. (the rootfs is owned accordingly),
	 * the seccomp profile of seccomp.json, and these limits */
	uint32_t uid_base;
	long max_pids;     /* processes and threads */
	long cpus_milli;   /* CPU quota, thousandths of a CPU; 0 = none */
	uint64_t max_tmp;  /* bytes of /tmp (a tmpfs) */
	uint64_t max_file; /* RLIMIT_FSIZE: the largest file the app writes */
};

/* The runtime's config.json for `r` (json_decref()); NULL when out of
 * memory or when the embedded seccomp profile does not parse. */
json_t *oci_runtime_config(const struct oci_run *r);

/* Delete every container left in the runtime's state directory `root`
 * (a worker killed while its app ran leaves one). */
void oci_cleanup(const char *runtime, const char *root);

/* Run to completion.  *exit_code is the app's status (128 + signal when
 * killed); *timed_out is set when the wall-time limit killed it and
 * *oom when the memory limit did. */
int oci_run(const struct oci_run *r, int *exit_code, int *timed_out, int *oom);
/* After oci_run in `bundle` with exit status `exit_code`: 1 and the reason
 * in `why` when the runtime itself failed, 0 when the status is the app's.
 * The runtime failed when its own JSON log (BUNDLE/runc.log, written by
 * runc alone, apart from the app's output) holds an error: "the container
 * did not start: runc: …" when it never wrote the container's pid file
 * (BUNDLE/runc.pid, written once the app's process was started), "the
 * runtime failed: runc: …" otherwise; a runtime that exited non-zero
 * without a pid file or a word is "the container did not start: runc exited
 * with status N".  runc's words are escaped and bounded. */
int oci_runtime_failure(const char *bundle, int exit_code, char *why, size_t cap);
/* The same with the runtime config `cfg` (taken over; NULL: out of memory). */
int oci_run_config(const struct oci_run *r, json_t *cfg, int *exit_code, int *timed_out, int *oom);

#endif
