/* worker.c — the TDX worker, see worker.h.
 *
 * One task at a time, in the steps of DESIGN.md §4:
 *   session   POST /tee/sessions (the pool's WorkerpoolAuthorization), RTMR3
 *             extended with the app digest and task id, a fresh quote whose
 *             REPORTDATA binds the SMS nonce, the task, the app digest and
 *             an ephemeral X25519 key; the session comes back sealed to it.
 *   pre       input files (named by the SHA-256 of their URL), the dataset
 *             (checksum, then iExec's AES-256-CBC format with its key).
 *   app       the image whose manifest or index digest is the app's checksum
 *             (pulled from its registry with --pull), in runc.
 *   post      computed.json, iExec's result digest, a zip of /iexec_out, the
 *             upload signed by the enclave challenge key, pushResultBoost.
 * Secrets live in memory only and are wiped after the task. */
#include "wk.h"

#include "crypto/k1.h"
#include "eth/addr.h"
#include "image.h"
#include "net/http.h"
#include "oci/registry.h"
#include "oci.h"
#include "poco/market.h"
#include "poco/network.h"
#include "proto/proto.h"
#include "tdx/ratls.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "util/json.h"
#include "util/log.h"
#include "util/metrics.h"

#include <ctype.h>
#include <errno.h>
#include <sys/stat.h>

/* With --pull: NAME@sha256:DIGEST (the app's multiaddr, pinned to the
 * on-chain digest) from its registry into the worker's layout.  The
 * registry, its token realm and every redirect must be at public
 * addresses, as input files must: the reference is the app owner's to
 * choose. */
static int pull_image(struct worker *w, const char *ref, const char *digest_hex)
{
	char src[400], shown[300], got[72];
	const char *at = strchr(ref, '@');
	size_t name_len = at ? (size_t)(at - ref) : strlen(ref);
	const struct worker_config *cfg = w->cfg;
	struct oci_opts o;
	int rc;

	ENSURE(name_len > 0 && name_len < 256, ERR_INVAL, "app image '%s': no name to pull", ref);
	for (size_t i = 0; i < name_len; i++)
		ENSURE(isalnum((unsigned char)ref[i]) || strchr("./:_-", ref[i]), ERR_INVAL,
		       "app image '%.*s': not a registry reference", (int)name_len, ref);
	snprintf(src, sizeof(src), "%.*s@sha256:%s", (int)name_len, ref, digest_hex);
	/* the digest shortened in messages: they reach the requester through
	 * a task's failure reason, which is short */
	snprintf(shown, sizeof(shown), "%.*s@sha256:%.12s", (int)name_len, ref, digest_hex);
	oci_opts_default(&o);
	o.auth_file = cfg->registry_auth;
	o.ca_file = cfg->registry_ca;
	for (unsigned i = 0; i < cfg->nregistry_plain_http; i++)
		GUARD(oci_opts_plain_http(&o, cfg->registry_plain_http[i]));
	if (cfg->pull_jobs)
		o.jobs = cfg->pull_jobs;
	if (cfg->max_image)
		o.max_image = cfg->max_image;
	if (cfg->pull_timeout)
		o.timeout_s = cfg->pull_timeout;
	if (!cfg->allow_private_inputs)
		o.dest = &http_dest_public;
	char blobs[PATH_MAX];
	GUARD(path_fmt(blobs, sizeof(blobs), "%s/blobs/sha256", w->layout));
	uint64_t before = wk_dir_bytes(blobs), after;
	log_info("worker.pull", "image=\"%s\"", src);
	rc = oci_pull(&o, src, w->layout, got);
	if (rc == 0) {
		after = wk_dir_bytes(blobs);
		metric_inc(w->m_pulls, 0, 0);
		metric_add(w->m_pull_bytes, 0, 0, after > before ? after - before : 0);
	}
	if (rc < 0 && !cfg->allow_private_inputs && strstr(err_msg(), " is not public ("))
		return err_set(
		    rc,
		    "cannot pull %s: %s; the worker needs --allow-private-inputs to pull "
		    "from it",
		    shown, err_msg());
	if (rc < 0)
		return err_wrap(rc, "cannot pull %s", shown);
	return 0;
}

static int prepare(struct worker *w, struct task *t)
{
	uint8_t a[20];
	json_t *app = NULL;
	char hex[65], dst[PATH_MAX];
	int rc;

	t->taskid = jstr(t->a, "taskId");
	t->dealid = jstr(t->a, "dealId");
	ENSURE(t->taskid && t->dealid && strlen(t->taskid) == 66 && strlen(t->dealid) == 66 &&
	           jstr(t->a, "workerpoolAuthorization") &&
	           strlen(jstr(t->a, "workerpoolAuthorization")) == 132 &&
	           jstr(t->a, "resultsUrl") && jstr(t->a, "smsUrl"),
	       ERR_INVAL, "assignment: fields missing");
	GUARD(hex_decode_exact(t->tid, 32, t->taskid + 2, "taskId"));
	GUARD(hex_decode_exact(t->did, 32, t->dealid + 2, "dealId"));
	/* The image is the app's checksum, and nothing else. */
	GUARD(eth_addr_parse(jstr(t->a, "app") ? jstr(t->a, "app") : "", a));
	/* an app's registry entry is immutable: asked once per app in a row */
	if (!w->last_app_json || memcmp(a, w->last_app, 20) != 0) {
		json_decref(w->last_app_json);
		w->last_app_json = NULL;
		GUARD(poco_asset_show(w->chain, POCO_APP, a, &w->last_app_json));
		memcpy(w->last_app, a, 20);
	}
	app = json_incref(w->last_app_json);
	const char *cs = jstr(app, "checksum");
	char ref[256];
	snprintf(ref, sizeof(ref), "%s", jstr(app, "multiaddr") ? jstr(app, "multiaddr") : "");
	rc = cs && strlen(cs) == 66 ? hex_decode_exact(t->digest, 32, cs + 2, "checksum")
	                            : err_set(ERR_INVAL, "app without a checksum");
	json_decref(app);
	GUARD(rc);
	hex_encode(hex, t->digest, 32);
	GUARD(path_fmt(dst, sizeof(dst), "%s/images/%s", w->work, hex));
	GUARD(path_fmt(t->image, sizeof(t->image), "%s", dst));
	struct image_opts io;
	image_opts_default(&io);
	/* owned as the sandbox's user namespace maps the image's ids */
	io.uid_base = io.gid_base = w->uid_base;
	io.id_count = OCI_ID_COUNT;
	rc = image_unpack(w->layout, t->digest, dst, &io, &t->image_cfg);
	if (rc == ERR_NOTFOUND && w->cfg->pull) {
		/* fetched by the digest the chain names; image_unpack checks it again */
		GUARD(pull_image(w, ref, hex));
		rc = image_unpack(w->layout, t->digest, dst, &io, &t->image_cfg);
	}
	GUARD(rc);
	wk_store_used(w, dst);
	GUARD(wk_sandbox_dir(w, dst));
	return wk_workspace_open(w, t);
}

static void task_free(struct worker *w, struct task *t)
{
	wk_workspace_close(w, t);
	OPENSSL_cleanse(t->enclave_key, sizeof(t->enclave_key));
	json_decref(t->session_env);
	json_decref(t->app_secrets);
	free(t->callback);
	free(t->dev_log);
	json_decref(t->image_cfg);
	json_decref(t->app_env);
}

/* The push, once the task is done: a chain endpoint that does not answer
 * (ERR_IO) is waited for, up to a minute, rather than failing a computed
 * task. */
static int push(struct worker *w, struct task *t, const uint8_t digest[32], const char *dg,
                char tx[67])
{
	int rc;
	for (int i = 0; i < 60; i++) {
		rc = wk_push_result(w, t, digest, dg, tx);
		if (rc != ERR_IO)
			break;
		if (i == 0)
			log_warn("worker.push", "task=%s wait=1 error=\"%s\"", t->taskid,
			         err_msg());
		sleep(1);
	}
	return rc;
}

static void run_task(struct worker *w, json_t *a)
{
	struct task t;
	json_t *params = NULL;
	char why[256] = "", zip[PATH_MAX], tx[67] = "", dg[67];
	uint8_t digest[32];
	int exit_code = -1, rc, pushed = 0;
	struct timespec t0, t1;

	memset(&t, 0, sizeof(t));
	t.a = a;
	t.app_ms = -1;
	t.app_env = json_array();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	metric_inc(w->m_run, 0, 0);
	if (jstr(a, "taskId"))
		wk_journal(w, jstr(a, "taskId"), jstr(a, "dealId"), "RUNNING", "taken", NULL);
	rc = prepare(w, &t);
	if (rc == 0) {
		const char *ps = jstr(a, "params");
		if (ps && *ps)
			rc = json_parse(ps, strlen(ps), "deal params", &params);
		else
			params = json_object();
	}
	t.tee = !json_is_false(json_object_get(a, "tee"));
	if (rc == 0 && t.tee)
		rc = wk_session_get(w, &t);
	else if (rc == 0)
		t.session_env = json_object(); /* a standard task: no secrets */
	if (rc == 0) {
		json_t *e;
		const char *k;
		char v[24];
		wk_env_add(t.app_env, "IEXEC_TASK_ID", t.taskid);
		wk_env_add(t.app_env, "IEXEC_IN", "/iexec_in");
		wk_env_add(t.app_env, "IEXEC_OUT", "/iexec_out");
		snprintf(v, sizeof(v), "%lld",
		         (long long)json_integer_value(json_object_get(a, "taskIndex")));
		wk_env_add(t.app_env, "IEXEC_BOT_TASK_INDEX", v);
		/* The app sees its own service's secrets, never the dataset
		 * key (pre-compute's) or the enclave and result keys
		 * (post-compute's); a name of the worker's own is not overridden. */
		json_object_foreach (t.app_secrets, k, e)
			if ((strncmp(k, "IEXEC_REQUESTER_SECRET_", 23) == 0 ||
			     strcmp(k, "IEXEC_APP_DEVELOPER_SECRET") == 0) &&
			    json_is_string(e))
				wk_env_add(t.app_env, k, json_string_value(e));
		wk_report(w, t.taskid, "RUNNING", "pre-compute", NULL);
		rc = wk_pre_compute(w, &t, params);
	}
	if (rc == 0) {
		struct timespec a0, a1;
		wk_report(w, t.taskid, "RUNNING", "app", NULL);
		clock_gettime(CLOCK_MONOTONIC, &a0);
		rc = wk_app_run(w, &t, params, &exit_code, why, sizeof(why));
		clock_gettime(CLOCK_MONOTONIC, &a1);
		metric_observe(w->m_app_seconds, 0, 0, metrics_since(&a0));
		t.app_ms = (long long)(a1.tv_sec - a0.tv_sec) * 1000 +
		           (long long)(a1.tv_nsec - a0.tv_nsec) / 1000000;
	}
	if (rc == 0 && !why[0]) {
		wk_report_task(w, &t, "COMPUTED", "post-compute");
		rc = wk_post_compute(w, &t, digest, zip);
		if (rc == 0 && json_is_true(json_object_get(params, "iexec_result_encryption")))
			rc = wk_encrypt_result(&t, zip);
		if (rc == 0)
			rc = wk_upload(w, &t, zip);
		if (rc == 0 && !t.tee) {
			rc = wk_contribute_reveal(w, &t, digest, tx);
		} else if (rc == 0) {
			wk_report(w, t.taskid, "CONTRIBUTING",
			          json_is_true(json_object_get(t.a, "boost"))
			              ? "pushResultBoost"
			              : "contributeAndFinalize",
			          NULL);
			hex_encode_0x(dg, digest, 32);
			rc = push(w, &t, digest, dg, tx);
			pushed = rc == 0;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (rc < 0)
		str_printable(why, sizeof(why), err_msg(), SIZE_MAX);
	if (pushed) {
		/* its receipt ends it (post.c); the next task need not wait */
		log_info("worker.task", "task=%s status=PUSHED tx=%s seconds=%.2f", t.taskid, tx,
		         (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	} else if (why[0]) {
		metric_inc(w->m_failed, 0, 0);
		log_warn("worker.task", "task=%s status=FAILED reason=\"%s\"",
		         t.taskid ? t.taskid : "?", why);
		if (t.taskid) {
			wk_report_task(w, &t, "FAILED", why);
			wk_journal(w, t.taskid, t.dealid, "FAILED", why, NULL);
		}
	} else {
		metric_inc(w->m_completed, 0, 0);
		hex_encode_0x(dg, digest, 32);
		log_info("worker.task", "task=%s status=COMPLETED digest=%s tx=%s seconds=%.2f",
		         t.taskid, dg, tx,
		         (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
		wk_report_cb(w, t.taskid, "COMPLETED", dg, tx, t.tee ? NULL : &t);
		wk_journal(w, t.taskid, t.dealid, "COMPLETED", dg, tx);
		if (!t.tee)
			wk_journal_callback(w, t.taskid, t.callback, t.callback_len);
	}
	json_decref(params);
	task_free(w, &t);
	if (wk_store_prune(w, t.digest) < 0)
		log_warn("worker.store", "prune=failed error=\"%s\"", err_msg());
}

/* --images is an OCI image layout, or an OCI archive (a tar of one, as
 * `skopeo copy ... oci-archive:F` writes), unpacked once into the work dir. */
static int images_layout(struct worker *w)
{
	struct stat sb;
	ENSURE(stat(w->cfg->images, &sb) == 0, ERR_NOTFOUND, "%s: %s", w->cfg->images,
	       strerror(errno));
	/* absolute, as the work dir: a relative one is the caller's cwd's */
	if (S_ISDIR(sb.st_mode)) {
		ENSURE(realpath(w->cfg->images, w->layout), ERR_IO, "%s: %s", w->cfg->images,
		       strerror(errno));
		return 0;
	}
	GUARD(path_fmt(w->layout, sizeof(w->layout), "%s/layout", w->work));
	if (image_archive_unpack(w->cfg->images, w->layout) < 0)
		return err_wrap(ERR_INVAL, "%s: not an OCI archive (tar of an image layout)",
		                w->cfg->images);
	log_info("worker.images", "archive=\"%s\" layout=\"%s\"", w->cfg->images, w->layout);
	return 0;
}

int worker_run(const struct worker_config *cfg, volatile sig_atomic_t *stop)
{
	struct worker w;
	char url[512], auth[80], dir[PATH_MAX + 16];
	long done = 0, st, chain_down = 0;
	char replayed[67] = "";
	unsigned replay_wait = 1;
	size_t inflight = cfg->max_inflight ? (size_t)cfg->max_inflight : 16;
	int rc;

	memset(&w, 0, sizeof(w));
	w.cfg = cfg;
	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, NULL);
	ENSURE(cfg->scheduler_url && (cfg->chain_path || cfg->chain_network) && cfg->work_dir &&
	           cfg->images,
	       ERR_INVAL, "worker: scheduler, chain, work dir and images are required");
	GUARD(http_base_url(w.sched, sizeof(w.sched), cfg->scheduler_url));
	GUARD(wk_workspace_isolate());
	GUARD(k1_address(cfg->key, w.addr));
	eth_addr_str(w.addr, w.address);
	GUARD(dir_create(cfg->work_dir, 0700));
	/* absolute: runc and the mount table speak of absolute paths */
	ENSURE(realpath(cfg->work_dir, w.work), ERR_IO, "worker: %s: %s", cfg->work_dir,
	       strerror(errno));
	w.uid_base = cfg->uid_base ? cfg->uid_base : 100000;
	GUARD(wk_workdir_check(&w));
	snprintf(dir, sizeof(dir), "%s/images", w.work);
	GUARD(dir_create(dir, 0700));
	GUARD(wk_sandbox_dir(&w, dir));
	GUARD(images_layout(&w));
	if (cfg->sms_policy) {
		ENSURE(cfg->collateral, ERR_INVAL, "worker: --sms-policy needs --collateral");
		GUARD(tdx_gate_open(&w.sms_gate, cfg->collateral, cfg->trust_sim_root,
		                    cfg->sms_policy, "worker.sms"));
		w.sms_expect.gate = &w.sms_gate;
		w.sms_expect.config_hash = cfg->sms_config_hash;
		w.sms_expect.format = PROTO_SMS_CONFIG_FORMAT;
		/* one peer for the worker's life: its SMS connections are kept,
		 * and checked again once the gate's collateral changed */
		tdx_ratls_peer_init(&w.sms_peer, &w.sms_expect);
	}
	GUARD(poco_chain_open(cfg->chain_path, cfg->chain_network, cfg->chain_rpc, &w.chain));
	{
		struct eth_txm_config tc = {.max_fee = cfg->max_fee};
		GUARD(eth_txm_new(json_string_value(json_object_get(w.chain->file, "rpc")),
		                  cfg->key, &tc, &w.txm));
	}
	/* a listener that cannot start (a bad address, a port in use) stops
	 * the worker before it takes anything, with what it opened closed */
	if ((rc = wk_metrics_start(&w)) < 0)
		goto out;
	snprintf(dir, sizeof(dir), "%s/runc", w.work);
	oci_cleanup(cfg->runtime, dir);
	GUARD(wk_workspace_sweep(&w));
	GUARD(path_fmt(dir, sizeof(dir), "%s/worker.db", w.work));
	GUARD(wk_journal_open(&w, dir));
	rc = wk_register(&w);
	if (rc == 0)
		wk_journal_recover(&w);
	/* a store left past a (new) limit by an earlier run */
	if (rc == 0 && wk_store_prune(&w, (const uint8_t[32]){0}) < 0)
		log_warn("worker.store", "prune=failed error=\"%s\"", err_msg());
	while (rc == 0 && !*stop && (!cfg->max_tasks || done < cfg->max_tasks)) {
		if (w.broken) {
			rc = err_set(ERR_IO, "worker: a task's workspace could not be unmounted; "
			                     "stopping rather than taking another task");
			break;
		}
		/* pushes in flight: at most max_inflight (1: each task waits
		 * for its receipt before the next is taken) */
		if (eth_txm_wait_below(w.txm, inflight, 1000) < 0)
			continue;
		/* a task taken now could not be run: its app, deal and push
		 * are read from the chain */
		if (!eth_txm_reachable(w.txm)) {
			if (!chain_down++)
				log_warn("worker.chain", "reachable=0 reason=\"taking no task\"");
			sleep(1);
			continue;
		}
		if (chain_down)
			log_info("worker.chain", "reachable=1 after_s=%ld", chain_down);
		chain_down = 0;
		json_t *a = NULL;
		snprintf(url, sizeof(url), "%s/workers/next?wait=5", w.sched);
		wk_bearer(&w, auth);
		if (wk_call(url, auth, NULL, 30, &st, &a) < 0) {
			log_warn("worker.next", "error=\"%s\"", err_msg());
			/* A scheduler that forgot us (a new database): register again. */
			if (strstr(err_msg(), "HTTP 403"))
				rc = wk_register(&w);
			sleep(1);
			continue;
		}
		const char *taken = a ? jstr(a, "taskId") : NULL;
		if (taken && wk_journal_replay(&w, taken)) {
			/* handed the same task again right after answering it
			 * from the journal: the reports do not get through (the
			 * scheduler refuses or cannot store them); poll again
			 * after 1, 2, 4 ... 30 s, not at once */
			if (strcmp(replayed, taken) == 0) {
				sleep(replay_wait);
				replay_wait = replay_wait >= 16 ? 30 : replay_wait * 2;
			} else {
				snprintf(replayed, sizeof(replayed), "%s", taken);
				replay_wait = 1;
			}
			json_decref(a);
			continue;
		}
		if (a) {
			int ping = pthread_create(&w.pinger, NULL, wk_pinger_main, &w) == 0;
			run_task(&w, a);
			if (ping) {
				pthread_mutex_lock(&w.mu);
				w.pinger_stop = 1;
				pthread_cond_signal(&w.cv);
				pthread_mutex_unlock(&w.mu);
				pthread_join(w.pinger, NULL);
				w.pinger_stop = 0;
			}
			json_decref(a);
			done++;
		}
	}
out:
	/* pushes still in flight: a while to see them mined, then the
	 * journal keeps them for the next start */
	if (w.txm && eth_txm_pending(w.txm)) {
		log_info("worker.stop", "pushes_pending=%zu", eth_txm_pending(w.txm));
		eth_txm_wait_below(w.txm, 1, *stop ? 10000 : 120000);
	}
	wk_metrics_stop(&w); /* its scrapes read the manager */
	eth_txm_free(w.txm); /* joins the poller, whose push callbacks count */
	wk_metrics_free(&w);
	json_decref(w.last_app_json);
	poco_chain_free(w.chain);
	tdx_gate_close(&w.sms_gate);
	db_close(w.db);
	OPENSSL_cleanse(w.token, sizeof(w.token));
	pthread_cond_destroy(&w.cv);
	pthread_mutex_destroy(&w.mu);
	return rc;
}
