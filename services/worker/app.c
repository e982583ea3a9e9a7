/* app.c — the app: the deal's arguments, the category's wall time, the
 * image run by the OCI runtime (oci.h). */
#include "wk.h"

#include "oci.h"
#include "poco/market.h"
#include "util/err.h"
#include "util/file.h"
#include "util/log.h"

/* Split iexec_args like a shell would for words: quotes and backslashes. */
static int split_args(const char *s, json_t *out)
{
	struct wbuf word;
	int in_word = 0, rc = 0;
	char q = 0;

	wbuf_init(&word);
	for (; *s; s++) {
		char c = *s;
		if (q) {
			if (c == q)
				q = 0;
			else if (c == '\\' && q == '"' && (s[1] == '"' || s[1] == '\\'))
				GUARD_GOTO(wbuf_u8(&word, (uint8_t) * ++s));
			else
				GUARD_GOTO(wbuf_u8(&word, (uint8_t)c));
		} else if (c == '\'' || c == '"') {
			q = c;
			in_word = 1;
		} else if (c == '\\' && s[1]) {
			GUARD_GOTO(wbuf_u8(&word, (uint8_t) * ++s));
			in_word = 1;
		} else if (c == ' ' || c == '\t' || c == '\n') {
			if (in_word) {
				json_array_append_new(out,
				                      json_stringn((char *)word.buf, word.len));
				word.len = 0;
				in_word = 0;
			}
		} else {
			GUARD_GOTO(wbuf_u8(&word, (uint8_t)c));
			in_word = 1;
		}
	}
	if (in_word)
		json_array_append_new(out,
		                      json_stringn(word.buf ? (char *)word.buf : "", word.len));
	ENSURE_GOTO(!q, ERR_INVAL, "iexec_args: unbalanced quote");
out:
	wbuf_free(&word);
	return rc;
}

/* The last DEV_LOG_MAX bytes of the app's stderr, as JSON can carry them:
 * newlines and tabs kept, other control bytes as '?', and bytes past ASCII
 * too when the tail is not UTF-8 (it may start mid-character).  NULL when
 * there is nothing. */
static char *stderr_tail(const char *path)
{
	char *buf = NULL;
	long n = 0;
	FILE *f = fopen(path, "re");
	json_t *probe;

	if (!f)
		return NULL;
	if (fseek(f, -(long)DEV_LOG_MAX, SEEK_END) != 0)
		rewind(f);
	if ((buf = malloc(DEV_LOG_MAX + 1)))
		n = (long)fread(buf, 1, DEV_LOG_MAX, f);
	fclose(f);
	if (!buf || n <= 0) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	for (long i = 0; i < n; i++) {
		unsigned char c = (unsigned char)buf[i];
		if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
			buf[i] = '?';
	}
	if (!(probe = json_stringn(buf, (size_t)n))) {
		for (long i = 0; i < n; i++)
			if ((unsigned char)buf[i] >= 0x80)
				buf[i] = '?';
	}
	json_decref(probe);
	return buf;
}

int wk_app_run(struct worker *w, struct task *t, json_t *params, int *exit_code, char *why,
               size_t why_cap)
{
	json_t *args = json_array(), *e, *cat = NULL;
	char bundle[PATH_MAX + 16], root[PATH_MAX + 16], log[PATH_MAX + 16], elog[PATH_MAX + 16],
	    id[40];
	uint8_t catid[32] = {0};
	long long c = json_integer_value(json_object_get(t->a, "category"));
	long timeout = w->cfg->max_time_s;
	int timed_out, oom, rc = 0;
	size_t i;

	/* Entrypoint, then the deal's args in place of the image's Cmd. */
	json_array_foreach (json_object_get(t->image_cfg, "Entrypoint"), i, e)
		json_array_append(args, e);
	if (jstr(params, "iexec_args") && *jstr(params, "iexec_args"))
		rc = split_args(jstr(params, "iexec_args"), args);
	else
		json_array_foreach (json_object_get(t->image_cfg, "Cmd"), i, e)
			json_array_append(args, e);
	if (rc == 0 && json_array_size(args) == 0)
		rc = err_set(ERR_INVAL, "the image has no Entrypoint or Cmd and the deal no args");
	json_array_foreach (json_object_get(t->image_cfg, "Env"), i, e)
		json_array_append(t->app_env, e);
	/* Wall time: the category's reference (iExec's maxExecutionTime). */
	for (int b = 0; b < 8; b++)
		catid[31 - b] = (uint8_t)((unsigned long long)c >> (8 * b));
	if (poco_view(w->chain, "viewCategory", catid, &cat) == 0) {
		const char *ref = jstr(cat, "workClockTimeRef");
		/* the worker's own cap wins when it is smaller */
		if (ref && atol(ref) > 0 && atol(ref) < timeout)
			timeout = atol(ref);
		json_decref(cat);
	}
	snprintf(bundle, sizeof(bundle), "%s/bundle", t->dir);
	snprintf(root, sizeof(root), "%s/runc", w->work);
	snprintf(log, sizeof(log), "%s/app.log", t->dir);
	snprintf(elog, sizeof(elog), "%s/app.err", t->dir);
	/* the worker in the name: replicates of one task on one host get
	 * containers (and cgroups) of their own */
	snprintf(id, sizeof(id), "tdexec-%.8s-%.16s", w->address + 2, t->taskid + 2);
	if (rc == 0)
		rc = dir_create(bundle, 0700);
	if (rc == 0) {
		char rootfs[PATH_MAX + 16];
		snprintf(rootfs, sizeof(rootfs), "%s/rootfs", t->image);
		const struct worker_config *wc = w->cfg;
		uint64_t out_cap = wc->max_output ? wc->max_output : 1ull << 30;
		struct oci_run r = {
		    .runtime = wc->runtime,
		    .root = root,
		    .id = id,
		    .bundle = bundle,
		    .rootfs = rootfs,
		    .in_dir = t->in,
		    .out_dir = t->out,
		    .log_path = log,
		    .err_path = elog,
		    .args = args,
		    .env = t->app_env,
		    .cwd = jstr(t->image_cfg, "WorkingDir"),
		    .memory = wc->memory ? wc->memory : 8ull << 30,
		    .timeout_s = timeout,
		    .network = wc->allow_network,
		    .uid_base = w->uid_base,
		    .max_pids = wc->max_pids ? wc->max_pids : 512,
		    .cpus_milli =
		        wc->cpus_milli ? wc->cpus_milli : 1000 * sysconf(_SC_NPROCESSORS_ONLN),
		    .max_tmp = wc->max_tmp ? wc->max_tmp : 1ull << 30,
		    .max_file = out_cap,
		};
		log_info("worker.app", "task=%s image=sha256:%.12s... timeout=%lds", t->taskid,
		         t->image + strlen(t->image) - 64, timeout);
		struct timespec a0, a1;
		clock_gettime(CLOCK_MONOTONIC, &a0);
		rc = oci_run(&r, exit_code, &timed_out, &oom);
		clock_gettime(CLOCK_MONOTONIC, &a1);
		log_info("worker.app", "task=%s exit=%d app_seconds=%.3f", t->taskid, *exit_code,
		         (double)(a1.tv_sec - a0.tv_sec) + (double)(a1.tv_nsec - a0.tv_nsec) / 1e9);
		/* the runtime's failure first: a runc that died is no app killed */
		if (rc == 0 && oci_runtime_failure(bundle, *exit_code, why, why_cap))
			log_warn("worker.app", "task=%s runtime=\"%s\"", t->taskid, why);
		else if (rc == 0 && timed_out)
			snprintf(why, why_cap, "killed by the time limit (%lds of wall time)",
			         timeout);
		else if (rc == 0 && oom)
			snprintf(why, why_cap, "killed by the memory limit (%llu MiB)",
			         (unsigned long long)(r.memory >> 20));
		else if (rc == 0 && *exit_code != 0)
			snprintf(why, why_cap, "app exited with status %d", *exit_code);
		/* the app's words reach the requester only when asked: logs can
		 * hold what the app should have kept secret */
		if (rc == 0 && json_is_true(json_object_get(params, "iexec_developer_logger")))
			t->dev_log = stderr_tail(elog);
	}
	json_decref(args);
	return rc;
}
