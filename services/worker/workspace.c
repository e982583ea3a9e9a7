/* workspace.c — a task's workspace in TD memory.
 *
 * Everything a task holds in clear (its runtime config with the secrets in
 * the app's environment, input files, the decrypted dataset, the output
 * and the result archive) lives on a tmpfs mounted for that task alone at
 * WORK/tasks/<task id> (mode 0700), with /iexec_out on a tmpfs of its own
 * whose size is the output cap.  TD memory is private to the TD; when the
 * task ends both are unmounted, which frees their pages, so nothing of a
 * task survives it on any disk. */
#include "wk.h"

#include "util/err.h"
#include "util/file.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

/* inputs (256 MiB each), the dataset (1 GiB) and the result archive */
#define WORKSPACE_SIZE "4g"

int wk_sandbox_dir(struct worker *w, const char *dir)
{
	ENSURE(chown(dir, 0, w->uid_base) == 0 && chmod(dir, 0710) == 0, ERR_IO, "worker: %s: %s",
	       dir, strerror(errno));
	return 0;
}

static int mount_tmpfs(const char *dir, const char *opts)
{
	ENSURE(mount("tdexec-task", dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts) == 0,
	       ERR_IO, "workspace: cannot mount a tmpfs at %s: %s", dir, strerror(errno));
	return 0;
}

/* 0, or -1 when `dir` is still mounted (its pages, a task's clear data,
 * are not handed back) */
static int unmount(const char *dir)
{
	if (umount2(dir, 0) == 0 || errno == EINVAL || errno == ENOENT ||
	    umount2(dir, MNT_DETACH) == 0)
		return 0;
	log_error("worker.workspace", "dir=\"%s\" umount=\"%s\"", dir, strerror(errno));
	return -1;
}

int wk_workspace_open(struct worker *w, struct task *t)
{
	char opts[160], tmp[PATH_MAX];
	unsigned long long out_cap = w->cfg->max_output ? w->cfg->max_output : 1ull << 30;

	GUARD(path_fmt(t->dir, sizeof(t->dir), "%s/tasks/%.66s", w->work, t->taskid));
	GUARD(path_fmt(t->in, sizeof(t->in), "%s/iexec_in", t->dir));
	GUARD(path_fmt(t->out, sizeof(t->out), "%s/iexec_out", t->dir));
	/* an earlier attempt at the same task left nothing mounted: the sweep
	 * at start and the close below see to it */
	GUARD(file_remove_tree(t->dir));
	GUARD(dir_create(t->dir, 0700));
	/* root's, and searchable by the sandbox's root alone: runc sets up the
	 * container's mounts from inside its user namespace */
	snprintf(opts, sizeof(opts), "mode=0710,gid=%u,size=%s", w->uid_base, WORKSPACE_SIZE);
	GUARD(mount_tmpfs(t->dir, opts));
	t->mounted = 1;
	/* the app reads its inputs as any user of its image (whatever the umask) */
	GUARD(dir_create(t->in, 0755));
	ENSURE(chmod(t->in, 0755) == 0, ERR_IO, "workspace: %s: %s", t->in, strerror(errno));
	GUARD(dir_create(t->out, 0700));
	/* the app's root is host uid uid_base; it may run as any user of its
	 * image, and nobody else can reach this directory (its parent is 0700) */
	snprintf(opts, sizeof(opts), "mode=0777,uid=%u,gid=%u,size=%llu", w->uid_base, w->uid_base,
	         out_cap);
	GUARD(mount_tmpfs(t->out, opts));
	GUARD(path_fmt(tmp, sizeof(tmp), "%s/bundle", t->dir));
	return dir_create(tmp, 0700);
}

int wk_workspace_output_grow(struct worker *w, struct task *t)
{
	char opts[160];
	unsigned long long cap = w->cfg->max_output ? w->cfg->max_output : 1ull << 30;

	/* an app that filled its output leaves the worker room for its own
	 * computed.json: the app is gone and cannot take it */
	snprintf(opts, sizeof(opts), "mode=0777,uid=%u,gid=%u,size=%llu", w->uid_base, w->uid_base,
	         cap + (1u << 20));
	ENSURE(mount(NULL, t->out, NULL, MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_NOEXEC, opts) == 0,
	       ERR_IO, "workspace: %s: %s", t->out, strerror(errno));
	return 0;
}

void wk_workspace_close(struct worker *w, struct task *t)
{
	if (!t->mounted)
		return;
	if (unmount(t->out) < 0 || unmount(t->dir) < 0) {
		/* a task's data would stay: this worker takes no other task */
		w->broken = 1;
		return;
	}
	if (rmdir(t->dir) != 0)
		log_warn("worker.workspace", "dir=\"%s\" rmdir=\"%s\"", t->dir, strerror(errno));
	t->mounted = 0;
}

/* mountinfo escapes spaces, tabs, newlines and backslashes as \ooo */
static void unescape(char *s)
{
	char *d = s;
	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*d++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*d++ = *s;
		}
	}
	*d = 0;
}

int wk_workspace_sweep(struct worker *w)
{
	char prefix[PATH_MAX], line[4 * PATH_MAX], *mp[256];
	size_t n = 0, pl;
	FILE *f;

	GUARD(path_fmt(prefix, sizeof(prefix), "%s/tasks/", w->work));
	pl = strlen(prefix);
	/* mounts left by a worker that died mid-task, deepest first */
	if ((f = fopen("/proc/self/mountinfo", "re"))) {
		while (n < 256 && fgets(line, sizeof(line), f)) {
			char *save = NULL, *tok = strtok_r(line, " ", &save);
			for (int i = 0; tok && i < 4; i++)
				tok = strtok_r(NULL, " ", &save);
			if (!tok)
				continue;
			unescape(tok);
			if (strncmp(tok, prefix, pl) == 0 && (mp[n] = strdup(tok)))
				n++;
		}
		fclose(f);
	}
	for (size_t i = n; i-- > 0;) {
		log_warn("worker.workspace", "dir=\"%s\" leftover=unmounted", mp[i]);
		(void)unmount(mp[i]);
		free(mp[i]);
	}
	/* and whatever an older worker left on disk */
	prefix[pl - 1] = 0;
	if (file_remove_tree(prefix) < 0)
		log_warn("worker.workspace", "dir=\"%s\" error=\"%s\"", prefix, err_msg());
	GUARD(dir_create(prefix, 0700));
	return wk_sandbox_dir(w, prefix);
}

int wk_workspace_isolate(void)
{
	/* the task mounts live in a mount namespace of the worker's own: no
	 * other process of the TD sees them, and they go with the worker
	 * when it dies, however it dies; the host's mounts still reach us */
	ENSURE(unshare(CLONE_NEWNS) == 0, ERR_IO,
	       "worker: cannot make a mount namespace (the worker runs as root): %s",
	       strerror(errno));
	ENSURE(mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) == 0, ERR_IO,
	       "worker: cannot make the mounts private: %s", strerror(errno));
	return 0;
}

int wk_workdir_check(struct worker *w)
{
	struct statfs sf;
	char up[PATH_MAX], *slash;

	/* runc prepares the container from inside its user namespace: the
	 * sandbox's root must be able to reach the work directory */
	snprintf(up, sizeof(up), "%s", w->work);
	while ((slash = strrchr(up, '/'))) {
		struct stat st;
		slash[slash == up] = 0;
		ENSURE(stat(up, &st) == 0, ERR_IO, "worker: %s: %s", up, strerror(errno));
		ENSURE((st.st_mode & S_IXOTH) ||
		           (st.st_gid == w->uid_base && (st.st_mode & S_IXGRP)),
		       ERR_INVAL,
		       "worker: the app sandbox (host uid %u) cannot reach the work directory "
		       "through %s (mode %03o): give it search permission (chmod o+x)",
		       w->uid_base, up, (unsigned)(st.st_mode & 0777));
		if (slash == up)
			break;
	}
	GUARD(wk_sandbox_dir(w, w->work));

	ENSURE(statfs(w->work, &sf) == 0, ERR_IO, "worker: %s: %s", w->work, strerror(errno));
	if (sf.f_type == TMPFS_MAGIC || sf.f_type == RAMFS_MAGIC)
		return 0;
	ENSURE(w->cfg->work_dir_encrypted, ERR_INVAL,
	       "worker: --work-dir %s is on a disk, which the host can read unless it is "
	       "encrypted; put it on a tmpfs, or, when the operator made that disk private to "
	       "the TD (encrypted with a key only the TD holds), say so with "
	       "--work-dir-encrypted",
	       w->work);
	log_info("worker.workspace", "work_dir=\"%s\" on_disk=1 encrypted=\"operator's word\"",
	         w->work);
	return 0;
}
