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
#include "util/bytes.h"
#include "util/err.h"

#define TDX_EVENTLOG_MAX  (16u * 1024u * 1024u)
#define TDX_CCEL_MAX_ALGS 8u
#define EV_NO_ACTION      0x00000003u

struct tdx_rtmr_replay {
	uint8_t rtmr[4][48];
	unsigned touched; /* bit i: RTMR i was extended */
	size_t events;    /* events extended */
};

void tdx_replay_init(struct tdx_rtmr_replay *r);
MUST_CHECK int tdx_replay_extend(struct tdx_rtmr_replay *r, int idx, const uint8_t digest[48]);
/* The first RTMR i >= from that the replay touched and that differs from
 * quoted[i], with both values as hex, or -1 when every one from `from` on
 * matches. */
int tdx_replay_mismatch(const struct tdx_rtmr_replay *r, const uint8_t quoted[4][48], int from,
                        char replayed_hex[97], char quoted_hex[97]);
/* Reading a CCEL / TCG2 crypto-agile log, the one parser of that format:
 * tdx_ccel_init reads the header (the Spec ID Event03 and its digest
 * algorithms), then each tdx_ccel_next gives the next measured event.
 * EV_NO_ACTION events are checked and skipped: nothing extends them.  A
 * measured event has an MR index 1..4 (RTMR0..3; 0 is MRTD, which no event
 * extends) and a SHA-384 digest.  The log ends at the end of the buffer or
 * where every remaining byte is 0xFF or every one 0x00.  `what` ("CCEL",
 * "event log") starts every error message; the iterator and the events are
 * views into `buf`, which must outlive them. */
struct tdx_ccel_iter {
	struct rd rd;
	const char *what;
	struct {
		uint16_t id, size;
	} algs[TDX_CCEL_MAX_ALGS];
	uint32_t nalgs;
};

struct tdx_ccel_event {
	uint32_t mr_index;     /* 1..4: RTMR0..3 */
	uint32_t type;         /* TCG event type */
	const uint8_t *sha384; /* 48 bytes */
	const uint8_t *data;   /* the event data, data_len bytes */
	size_t data_len;
	size_t offset; /* of the event in the log */
};

MUST_CHECK int tdx_ccel_init(struct tdx_ccel_iter *it, const uint8_t *buf, size_t len,
                             const char *what);
/* 1: the next measured event is in *ev; 0: the log has ended; < 0: error. */
MUST_CHECK int tdx_ccel_next(struct tdx_ccel_iter *it, struct tdx_ccel_event *ev);
/* Replay a CCEL / TCG2 log. */
MUST_CHECK int tdx_replay_ccel(struct tdx_rtmr_replay *r, const uint8_t *buf, size_t len);
/* Replay tdexec's JSON-lines runtime log. */
MUST_CHECK int tdx_replay_jsonl(struct tdx_rtmr_replay *r, const char *text, size_t len);
/* Replay a file of either format (detected from its first bytes). */
MUST_CHECK int tdx_replay_file(struct tdx_rtmr_replay *r, const char *path);

#endif
