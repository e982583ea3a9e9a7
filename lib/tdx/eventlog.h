/* eventlog.h — RTMR replay from event logs.
 *
 * Two formats:
 *  - the CCEL (ACPI Confidential Computing Event Log) firmware writes: a TCG2
 *    crypto-agile log whose MR index 1..4 means RTMR0..3 (0 is MRTD);
 *  - tdexec's runtime log (JSON lines, as `tdexec sim extend` and the worker
 *    write): {"rtmr":N,"digest":"<96 hex>","event":"..."}.
 * Replay starts every RTMR at zero and extends RTMR = SHA-384(RTMR || digest).
 * Only RTMRs that a log touched are meaningful; `touched` says which.
 */
#ifndef TDEXEC_TDX_EVENTLOG_H
#define TDEXEC_TDX_EVENTLOG_H

#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

#define TDX_EVENTLOG_MAX (16u * 1024u * 1024u)

struct tdx_rtmr_replay {
	uint8_t rtmr[4][48];
	unsigned touched; /* bit i: RTMR i was extended */
	size_t events;    /* events extended */
};

void tdx_replay_init(struct tdx_rtmr_replay *r);
MUST_CHECK int tdx_replay_extend(struct tdx_rtmr_replay *r, int idx, const uint8_t digest[48]);
/* Replay a CCEL / TCG2 log. */
MUST_CHECK int tdx_replay_ccel(struct tdx_rtmr_replay *r, const uint8_t *buf, size_t len);
/* Replay tdexec's JSON-lines runtime log. */
MUST_CHECK int tdx_replay_jsonl(struct tdx_rtmr_replay *r, const char *text, size_t len);
/* Replay a file of either format (detected from its first bytes). */
MUST_CHECK int tdx_replay_file(struct tdx_rtmr_replay *r, const char *path);

#endif
