#include "eventlog.h"

#include "crypto/p256.h"
#include "util/bytes.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "util/json.h"

#include <stdlib.h>
#include <string.h>

#define TPM_ALG_SHA384 0x000cu

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

int tdx_replay_mismatch(const struct tdx_rtmr_replay *r, const uint8_t quoted[4][48], int from,
                        char replayed_hex[97], char quoted_hex[97])
{
	for (int i = from < 0 ? 0 : from; i < 4; i++) {
		if (!(r->touched & (1u << i)) || memcmp(r->rtmr[i], quoted[i], 48) == 0)
			continue;
		hex_encode(replayed_hex, r->rtmr[i], 48);
		hex_encode(quoted_hex, quoted[i], 48);
		return i;
	}
	return -1;
}

/* The first event (TCG_PCR_EVENT, SHA-1 format) carries the Spec ID Event
 * that lists the digest algorithms and their sizes. */
int tdx_ccel_init(struct tdx_ccel_iter *it, const uint8_t *buf, size_t len, const char *what)
{
	struct rd *r = &it->rd, ev;
	uint32_t idx, type, size;
	const uint8_t *p;

	memset(it, 0, sizeof(*it));
	it->what = what;
	ENSURE(len <= TDX_EVENTLOG_MAX, ERR_TOOBIG, "%s over %u bytes", what, TDX_EVENTLOG_MAX);
	rd_init(r, buf, len, what);
	GUARD(rd_u32le(r, &idx, "header.mr_index"));
	GUARD(rd_u32le(r, &type, "header.event_type"));
	ENSURE(type == EV_NO_ACTION, ERR_INVAL, "%s: first event is not EV_NO_ACTION", what);
	GUARD(rd_view(r, &p, 20, "header.digest"));
	GUARD(rd_u32le(r, &size, "header.event_size"));
	GUARD(rd_sub(r, &ev, size, "header.event"));
	GUARD(rd_view(&ev, &p, 16, "spec_id.signature"));
	ENSURE(memcmp(p, "Spec ID Event03", 16) == 0, ERR_INVAL,
	       "%s: not a crypto-agile log (no \"Spec ID Event03\")", what);
	/* platform class, version, errata, uintn size */
	GUARD(rd_view(&ev, &p, 8, "spec_id.platform_class"));
	GUARD(rd_u32le(&ev, &it->nalgs, "spec_id.number_of_algorithms"));
	ENSURE(it->nalgs >= 1 && it->nalgs <= TDX_CCEL_MAX_ALGS, ERR_INVAL,
	       "%s: %u digest algorithms (1..%u)", what, it->nalgs, TDX_CCEL_MAX_ALGS);
	for (uint32_t i = 0; i < it->nalgs; i++) {
		GUARD(rd_u16le(&ev, &it->algs[i].id, "spec_id.algorithm_id"));
		GUARD(rd_u16le(&ev, &it->algs[i].size, "spec_id.digest_size"));
		ENSURE(it->algs[i].size > 0 && it->algs[i].size <= 64, ERR_INVAL,
		       "%s: digest size %u", what, it->algs[i].size);
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
int tdx_ccel_next(struct tdx_ccel_iter *it, struct tdx_ccel_event *ev)
{
	struct rd *rd = &it->rd;
	const char *what = it->what;

	while (rd_left(rd)) {
		uint32_t idx, type, count, size;
		const uint8_t *sha384 = NULL, *d, *tail;
		size_t start = rd->off;

		{
			struct rd t = *rd;
			GUARD(rd_view(&t, &tail, rd_left(&t), "event log padding"));
			if (all_bytes(tail, rd_left(rd), 0xff) ||
			    all_bytes(tail, rd_left(rd), 0x00))
				break;
		}
		GUARD(rd_u32le(rd, &idx, "event.mr_index"));
		ENSURE(idx != 0xffffffffu, ERR_INVAL,
		       "%s: bytes after the end of the log at offset %zu are not padding", what,
		       start);
		ENSURE(idx <= 4, ERR_INVAL,
		       "%s: MR index %u at offset %zu (0 is MRTD, 1..4 are RTMR0..3)", what, idx,
		       start);
		GUARD(rd_u32le(rd, &type, "event.event_type"));
		GUARD(rd_u32le(rd, &count, "event.digest_count"));
		ENSURE(count >= 1 && count <= it->nalgs, ERR_INVAL,
		       "%s: event at offset %zu has %u digests", what, start, count);
		for (uint32_t i = 0; i < count; i++) {
			uint16_t id;
			uint32_t k;
			GUARD(rd_u16le(rd, &id, "event.algorithm_id"));
			for (k = 0; k < it->nalgs && it->algs[k].id != id; k++)
				;
			ENSURE(k < it->nalgs, ERR_INVAL,
			       "%s: digest algorithm 0x%04x not in the header (offset %zu)", what,
			       id, rd->off - 2);
			GUARD(rd_view(rd, &d, it->algs[k].size, "event.digest"));
			if (id == TPM_ALG_SHA384 && it->algs[k].size == 48)
				sha384 = d;
		}
		GUARD(rd_u32le(rd, &size, "event.event_size"));
		GUARD(rd_view(rd, &d, size, "event.event"));
		if (type == EV_NO_ACTION)
			continue;
		ENSURE(idx != 0, ERR_INVAL,
		       "%s: measured event at offset %zu has MR index 0 (MRTD), which no event "
		       "extends",
		       what, start);
		ENSURE(sha384, ERR_INVAL, "%s: event at offset %zu has no SHA-384 digest", what,
		       start);
		ev->mr_index = idx;
		ev->type = type;
		ev->sha384 = sha384;
		ev->data = d;
		ev->data_len = size;
		ev->offset = start;
		return 1;
	}
	return 0;
}

int tdx_replay_ccel(struct tdx_rtmr_replay *r, const uint8_t *buf, size_t len)
{
	struct tdx_ccel_iter it;
	struct tdx_ccel_event ev;
	int rc;

	GUARD(tdx_ccel_init(&it, buf, len, "event log"));
	while ((rc = tdx_ccel_next(&it, &ev)) > 0)
		GUARD(tdx_replay_extend(r, (int)ev.mr_index - 1, ev.sha384));
	return rc;
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
