/* retention.c — task timelines do not grow forever: the task_events of a
 * task that finished (COMPLETED or FAILED) more than
 * cfg.events_retention_days ago are deleted; the task's row stays.
 *
 * The follower prunes once a minute (the first time at start), in batches
 * of PRUNE_TASKS tasks, each its own short transaction, at most
 * PRUNE_BATCHES a round: the HTTP threads waiting for s->mu wait for one
 * batch at most, and a backlog (a retention just lowered) is worked off
 * over the next rounds.  A cursor (meta 'events_pruned': the `updated`
 * time and rowid of the last task pruned) keeps each batch from walking
 * again over the tasks already pruned; a task that changes again later
 * (a FAILED one the chain completes) gets a newer `updated`, so it comes
 * past the cursor again. */
#include "internal.h"

#include "store/db.h"
#include "util/err.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PRUNE_TASKS   200 /* tasks whose events one transaction deletes */
#define PRUNE_BATCHES 20  /* transactions a round, at most */
#define PRUNE_EVERY   60  /* seconds between rounds that prune */

/* One batch: the events of up to PRUNE_TASKS finished tasks past the
 * cursor and older than cutoff; *tasks, *events: how many. */
static int prune_batch(struct sched *s, long long cutoff, int *tasks, int *events)
{
	sqlite3_stmt *sel = NULL, *del = NULL;
	long long cu = 0, cr = 0;
	char cur[64] = "";
	int rc;

	*tasks = *events = 0;
	pthread_mutex_lock(&s->mu);
	rc = db_exec(s->db, "BEGIN IMMEDIATE");
	if (rc == 0)
		rc = db_prepare(s->db, "SELECT value FROM meta WHERE key = 'events_pruned'", &sel);
	if (rc == 0) {
		if (sqlite3_step(sel) == SQLITE_ROW &&
		    sscanf((const char *)sqlite3_column_text(sel, 0), "%lld %lld", &cu, &cr) != 2)
			cu = cr = 0;
		sqlite3_finalize(sel);
		sel = NULL;
		rc = db_prepare(s->db,
		                /* in index order from the cursor on: a backlog of
		                 * old tasks is never sorted as a whole */
		                "SELECT rowid, taskid, updated FROM tasks INDEXED BY tasks_updated"
		                " WHERE status IN ('COMPLETED', 'FAILED') AND updated < ?1"
		                " AND (updated, rowid) > (?2, ?3) ORDER BY updated, rowid LIMIT ?4",
		                &sel);
	}
	if (rc == 0)
		rc = db_prepare(s->db, "DELETE FROM task_events WHERE taskid = ?1", &del);
	if (rc == 0) {
		sqlite3_bind_int64(sel, 1, cutoff);
		sqlite3_bind_int64(sel, 2, cu);
		sqlite3_bind_int64(sel, 3, cr);
		sqlite3_bind_int(sel, 4, PRUNE_TASKS);
		while (rc == 0 && sqlite3_step(sel) == SQLITE_ROW) {
			cr = sqlite3_column_int64(sel, 0);
			cu = sqlite3_column_int64(sel, 2);
			sqlite3_reset(del);
			sqlite3_bind_text(del, 1, (const char *)sqlite3_column_text(sel, 1), -1,
			                  SQLITE_TRANSIENT);
			rc = sqlite3_step(del) == SQLITE_DONE
			         ? 0
			         : err_set(ERR_IO, "scheduler db: %s", sqlite3_errmsg(s->db));
			*events += sqlite3_changes(s->db);
			++*tasks;
		}
	}
	sqlite3_finalize(sel);
	sqlite3_finalize(del);
	if (rc == 0 && *tasks) {
		snprintf(cur, sizeof(cur), "%lld %lld", cu, cr);
		const char *a[] = {cur};
		rc =
		    sched_exec(s, "INSERT OR REPLACE INTO meta VALUES ('events_pruned', ?1)", a, 1);
	}
	if (rc == 0)
		rc = db_exec(s->db, "COMMIT");
	if (rc < 0)
		db_rollback(s->db);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int sched_prune_events(struct sched *s)
{
	long long now = sched_now(), cutoff;
	int tasks = 0, events = 0, nb = 0, b, t, e, rc = 0;
	struct timespec t0, t1;

	if (s->cfg.events_retention_days <= 0 || now < s->prune_next)
		return 0;
	cutoff = now - (long long)s->cfg.events_retention_days * 86400;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (b = 0; b < PRUNE_BATCHES; b++) {
		rc = prune_batch(s, cutoff, &t, &e);
		if (rc < 0)
			break;
		nb++;
		tasks += t;
		events += e;
		if (t < PRUNE_TASKS)
			break;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* a full round leaves more: the next round goes on */
	s->prune_next = rc == 0 && b == PRUNE_BATCHES ? now : now + PRUNE_EVERY;
	if (tasks)
		log_info("sched.retention",
		         "days=%d tasks=%d events_deleted=%d batches=%d ms=%.1f more=%d",
		         s->cfg.events_retention_days, tasks, events, nb,
		         (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
		             (double)(t1.tv_nsec - t0.tv_nsec) / 1e6,
		         b == PRUNE_BATCHES);
	return rc;
}
