/* worker.h — the TDX worker (iExec's worker and its TEE pre/post-compute),
 * running inside the TD: registers with the scheduler by a quote bound to
 * its address, takes tasks, gets each task's session from the SMS by
 * attestation, runs the unmodified app image with runc, and completes the
 * task on chain with one pushResultBoost. */
#ifndef TDEXEC_WORKER_H
#define TDEXEC_WORKER_H

#include "tdx/provider.h"

#include <signal.h>
#include <stdint.h>

struct worker_config {
	const char *scheduler_url;
	const char *chain_path;
	const char *chain_network, *chain_rpc; /* instead of chain_path (poco/network.h) */
	uint8_t key[32];                       /* the worker's wallet */
	struct tdx_provider provider;          /* where quotes come from */
	const char *work_dir;                  /* tasks, unpacked images, runtime state */
	const char *images;                    /* an OCI image layout holding app images */
	const char *runtime;                   /* "runc" by default */
	uint64_t memory;                       /* app memory limit, bytes (0 = 8 GiB) */
	long max_time_s;                       /* app wall time when the category gives none */
	int allow_network;                     /* apps get the host's network (default: none) */
	/* input files and datasets may come from loopback, private, link-local
	 * (cloud metadata) and other non-public addresses (default: public only) */
	int allow_private_inputs;
	long max_tasks; /* stop after this many tasks (0 = never) */
	/* completion transactions awaiting their receipt while the worker
	 * takes more tasks (0 = 16; 1 = none: each task waits for its own) */
	long max_inflight;
	uint64_t max_fee; /* maxFeePerGas cap, wei (0 = 100 gwei) */
	int pull;         /* fetch missing images from their registry */
	/* --pull's registry client (lib/oci/registry.h; 0/NULL = its default) */
	const char *registry_auth;          /* docker config.json */
	const char *registry_ca;            /* extra CA certificates (PEM) */
	const char *registry_plain_http[8]; /* HOST:PORT reached over plain HTTP */
	unsigned nregistry_plain_http;
	unsigned pull_jobs;    /* concurrent layer downloads */
	uint64_t max_image;    /* compressed bytes of an image's layers */
	unsigned pull_timeout; /* seconds for a whole pull (0: OCI_TIMEOUT_DEFAULT) */
	/* bytes of unpacked images, and of pulled blobs with --pull, kept
	 * past a task (0 = no limit; imgstore.c) */
	uint64_t max_store;
	/* The sandbox (0 = the default in parentheses) */
	uint64_t max_output; /* bytes of /iexec_out, a tmpfs (1 GiB) */
	uint64_t max_tmp;    /* bytes of the app's /tmp, a tmpfs (1 GiB) */
	long max_pids;       /* processes and threads of the app (512) */
	long cpus_milli;     /* CPU quota in thousandths of a CPU (all online CPUs) */
	uint32_t uid_base;   /* container ids 0..65535 are host ids from here (100000) */
	/* The operator says the work directory's disk is private to the TD
	 * (encrypted): without it, a work directory not on tmpfs is refused */
	int work_dir_encrypted;
	/* RA-TLS: reach the SMS over https only, admitting it by its own TD
	 * quote against this policy (NULL = the usual CA verification) */
	const char *sms_policy;
	const char *collateral;     /* DCAP collateral for that quote */
	const char *trust_sim_root; /* a simulated root instead of Intel's (tests) */
	/* the SMS's configuration pinned: SHA-256 of its document (32 bytes),
	 * or NULL for any configuration its root and policy pass */
	const uint8_t *sms_config_hash;
	/* serve /metrics and /healthz on ADDR:PORT (NULL: no listener) */
	const char *metrics_listen;
};

/* Serve until *stop is set (a signal handler's flag) or max_tasks are done. */
int worker_run(const struct worker_config *cfg, volatile sig_atomic_t *stop);

/* iExec's result digest of an output path: the file's SHA-256, or for a
 * directory keccak256 over the SHA-256 of each file in name order. */
int worker_result_digest(const char *path, uint8_t out[32]);

#endif
