#include "eventlog.h"

#include "crypto/p256.h"
#include "util/bytes.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "util/json.h"

#include <stdlib.h>
#include <string.h>

#define TPM_ALG_SHA384 0x000c
#define EV_NO_ACTION   0x00000003
#define MAX_ALGS       8

void tdx_replay_init(struct tdx_rtmr_replay *r)
{
	memset(r, 0, sizeof(*r));
}

int tdx_replay_extend(struct tdx_rtmr_replay *r, int idx, const uint8_t digest[48])
{
	uint8_t cat[96];
	ENSURE(idx >= 0 && idx < 4, ERR_INVAL, "event log: RTMR index %d out of range", idx);
	memcpy(cat, r->rtmr[idx], 48);
	memcpy(cat + 48, digest, 48);
	GUARD(sha384(cat, sizeof(cat), r->rtmr[idx]));
	r->touched |= 1u << idx;
	r->events++;
	return 0;
}

struct alg {
	uint16_t id, size;
};

/* The first event (TCG_PCR_EVENT, SHA-1 format) carries the Spec ID Event
 * that lists the digest algorithms and their sizes. */
static int parse_header(struct rd *r, struct alg *algs, uint32_t *nalgs)
{
	uint32_t idx, type, size;
	const uint8_t *sig;
	struct rd ev;

	GUARD(rd_u32le(r, &idx, "header.mr_index"));
	GUARD(rd_u32le(r, &type, "header.event_type"));
	ENSURE(type == EV_NO_ACTION, ERR_INVAL, "event log: first event is not EV_NO_ACTION");
	GUARD(rd_view(r, &sig, 20, "header.digest"));
	GUARD(rd_u32le(r, &size, "header.event_size"));
	GUARD(rd_sub(r, &ev, size, "header.event"));
	GUARD(rd_view(&ev, &sig, 16, "spec_id.signature"));
	ENSURE(memcmp(sig, "Spec ID Event03", 16) == 0, ERR_INVAL,
	       "event log: not a crypto-agile log (no \"Spec ID Event03\")");
	ev.off += 8; /* platform class, version, errata, uintn size */
	ENSURE(ev.off <= ev.len, ERR_INVAL, "event log: truncated Spec ID event");
	GUARD(rd_u32le(&ev, nalgs, "spec_id.number_of_algorithms"));
	ENSURE(*nalgs >= 1 && *nalgs <= MAX_ALGS, ERR_INVAL,
	       "event log: %u digest algorithms (1..%d)", *nalgs, MAX_ALGS);
	for (uint32_t i = 0; i < *nalgs; i++) {
		GUARD(rd_u16le(&ev, &algs[i].id, "spec_id.algorithm_id"));
		GUARD(rd_u16le(&ev, &algs[i].size, "spec_id.digest_size"));
		ENSURE(algs[i].size > 0 && algs[i].size <= 64, ERR_INVAL,
		       "event log: digest size %u", algs[i].size);
	}
	return 0;
}

/* Whether the n bytes at p are all `b`. */
static int all_bytes(const uint8_t *p, size_t n, uint8_t b)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != b)
			return 0;
	return 1;
}

/* The CCEL ACPI table gives the whole log area (LAML bytes); after the last
 * event the firmware leaves it as it was initialised: 0xFF (TDVF), or zeros.
 * So the log ends at the end of the buffer or where every remaining byte is
 * 0xFF, or every remaining byte is 0x00; anything else is refused.
 *
 * MR indices (UEFI 2.10, EFI_CC_MEASUREMENT_PROTOCOL, TDX): 0 is MRTD, 1..4
 * are RTMR0..3.  MRTD is measured by the TDX module when the TD is built and
 * is never extended by an event, so a measured event with index 0 is
 * refused; EV_NO_ACTION events are not extended and may carry 0..4. */
int tdx_replay_ccel(struct tdx_rtmr_replay *r, const uint8_t *buf, size_t len)
{
	struct alg algs[MAX_ALGS];
	uint32_t nalgs;
	struct rd rd;

	ENSURE(len <= TDX_EVENTLOG_MAX, ERR_TOOBIG, "event log over %u bytes", TDX_EVENTLOG_MAX);
	rd_init(&rd, buf, len, "event log");
	GUARD(parse_header(&rd, algs, &nalgs));
	while (rd_left(&rd)) {
		uint32_t idx, type, count, size;
		const uint8_t *sha384 = NULL, *d, *tail;
		size_t start = rd.off;

		{
			struct rd t = rd;
			GUARD(rd_view(&t, &tail, rd_left(&t), "event log padding"));
			if (all_bytes(tail, rd_left(&rd), 0xff) ||
			    all_bytes(tail, rd_left(&rd), 0x00))
				break;
		}
		GUARD(rd_u32le(&rd, &idx, "event.mr_index"));
		ENSURE(idx != 0xffffffffu, ERR_INVAL,
		       "event log: bytes after the end of the log at offset %zu are not padding",
		       start);
		ENSURE(idx <= 4, ERR_INVAL,
		       "event log: MR index %u at offset %zu (0 is MRTD, 1..4 are RTMR0..3)", idx,
		       start);
		GUARD(rd_u32le(&rd, &type, "event.event_type"));
		GUARD(rd_u32le(&rd, &count, "event.digest_count"));
		ENSURE(count >= 1 && count <= nalgs, ERR_INVAL,
		       "event log: event at offset %zu has %u digests", start, count);
		for (uint32_t i = 0; i < count; i++) {
			uint16_t id;
			uint32_t k;
			GUARD(rd_u16le(&rd, &id, "event.algorithm_id"));
			for (k = 0; k < nalgs && algs[k].id != id; k++)
				;
			ENSURE(k < nalgs, ERR_INVAL,
			       "event log: digest algorithm 0x%04x not in the header (offset %zu)",
			       id, rd.off - 2);
			GUARD(rd_view(&rd, &d, algs[k].size, "event.digest"));
			if (id == TPM_ALG_SHA384 && algs[k].size == 48)
				sha384 = d;
		}
		GUARD(rd_u32le(&rd, &size, "event.event_size"));
		GUARD(rd_view(&rd, &d, size, "event.event"));
		if (type == EV_NO_ACTION)
			continue;
		ENSURE(idx != 0, ERR_INVAL,
		       "event log: measured event at offset %zu has MR index 0 (MRTD), which no "
		       "event extends",
		       start);
		ENSURE(sha384, ERR_INVAL, "event log: event without a SHA-384 digest");
		GUARD(tdx_replay_extend(r, (int)idx - 1, sha384));
	}
	return 0;
}

int tdx_replay_jsonl(struct tdx_rtmr_replay *r, const char *text, size_t len)
{
	size_t line = 0, i = 0;

	while (i < len) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - text) : len;
		json_t *j = NULL;
		uint8_t digest[48];
		int rc;

		line++;
		if (end > i) {
			long long idx = 0;
			rc = json_parse(text + i, end - i, "event log", &j);
			if (rc == 0)
				rc = json_get_int_range(j, "rtmr", 0, 3, &idx);
			if (rc == ERR_NOTFOUND)
				rc = ERR_INVAL;
			if (rc == 0)
				rc = json_get_hex(j, "digest", digest, 48, 0);
			if (rc == 0)
				rc = tdx_replay_extend(r, (int)idx, digest);
			json_decref(j);
			if (rc < 0)
				return err_wrap(rc, "event log line %zu", line);
		}
		i = end + 1;
	}
	return 0;
}

int tdx_replay_file(struct tdx_rtmr_replay *r, const char *path)
{
	uint8_t *buf;
	size_t len;
	int rc;

	GUARD(file_read(path, TDX_EVENTLOG_MAX, &buf, &len));
	if (len == 0 || buf[0] == '{' || buf[0] == '\n')
		rc = tdx_replay_jsonl(r, (const char *)buf, len);
	else
		rc = tdx_replay_ccel(r, buf, len);
	free(buf);
	if (rc < 0)
		err_wrap(rc, "%s", path);
	return rc;
}
