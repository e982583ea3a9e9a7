#include "measure.h"

#include "authenticode.h"
#include "crypto/p256.h"
#include "eventlog.h"
#include "util/bytes.h"
#include "util/codec.h"
#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* OVMF's EV_EFI_ACTION strings (MdePkg's TCG definitions), hashed without
 * a NUL. */
static const char calling_efi_app[] = "Calling EFI Application from Boot Option";
static const char exit_bs_invocation[] = "Exit Boot Services Invocation";
static const char exit_bs_success[] = "Exit Boot Services Returned with Success";

const char *tdx_event_type_name(uint32_t type)
{
	static const struct {
		uint32_t type;
		const char *name;
	} names[] = {
	    {0x00000001u, "EV_POST_CODE"},
	    {EV_NO_ACTION, "EV_NO_ACTION"},
	    {EV_SEPARATOR, "EV_SEPARATOR"},
	    {0x00000005u, "EV_ACTION"},
	    {EV_EVENT_TAG, "EV_EVENT_TAG"},
	    {0x00000008u, "EV_S_CRTM_VERSION"},
	    {0x0000000au, "EV_PLATFORM_CONFIG_FLAGS"},
	    {0x0000000du, "EV_IPL"},
	    {EV_EFI_VARIABLE_DRIVER_CONFIG, "EV_EFI_VARIABLE_DRIVER_CONFIG"},
	    {EV_EFI_VARIABLE_BOOT, "EV_EFI_VARIABLE_BOOT"},
	    {EV_EFI_BOOT_SERVICES_APPLICATION, "EV_EFI_BOOT_SERVICES_APPLICATION"},
	    {0x80000004u, "EV_EFI_BOOT_SERVICES_DRIVER"},
	    {0x80000005u, "EV_EFI_RUNTIME_SERVICES_DRIVER"},
	    {EV_EFI_GPT_EVENT, "EV_EFI_GPT_EVENT"},
	    {EV_EFI_ACTION, "EV_EFI_ACTION"},
	    {0x80000008u, "EV_EFI_PLATFORM_FIRMWARE_BLOB"},
	    {0x80000009u, "EV_EFI_HANDOFF_TABLES"},
	    {EV_EFI_PLATFORM_FIRMWARE_BLOB2, "EV_EFI_PLATFORM_FIRMWARE_BLOB2"},
	    {EV_EFI_HANDOFF_TABLES2, "EV_EFI_HANDOFF_TABLES2"},
	    {EV_EFI_VARIABLE_BOOT2, "EV_EFI_VARIABLE_BOOT2"},
	    {EV_EFI_VARIABLE_AUTHORITY, "EV_EFI_VARIABLE_AUTHORITY"},
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].type == type)
			return names[i].name;
	return NULL;
}

void tdx_mlog_init(struct tdx_mlog *l)
{
	memset(l, 0, sizeof(*l));
}

void tdx_mlog_free(struct tdx_mlog *l)
{
	if (!l)
		return;
	free(l->ev);
	tdx_mlog_init(l);
}

int tdx_mlog_add(struct tdx_mlog *l, int rtmr, uint32_t type, const uint8_t digest[48],
                 enum tdx_mevent_src src, const char *fmt, ...)
{
	struct tdx_mevent *e;
	va_list ap;

	ENSURE(rtmr >= 0 && rtmr < 4, ERR_INVAL, "measure: RTMR index %d out of range", rtmr);
	ENSURE(l->n < TDX_MEASURE_MAX_EVENTS, ERR_TOOBIG, "measure: over %u events",
	       TDX_MEASURE_MAX_EVENTS);
	if (l->n % 16 == 0) {
		struct tdx_mevent *nv = realloc(l->ev, (l->n + 16) * sizeof(*nv));
		ENSURE(nv, ERR_NOMEM, "out of memory");
		l->ev = nv;
	}
	e = &l->ev[l->n++];
	memset(e, 0, sizeof(*e));
	e->rtmr = rtmr;
	e->type = type;
	e->src = src;
	memcpy(e->digest, digest, 48);
	va_start(ap, fmt);
	vsnprintf(e->what, sizeof(e->what), fmt, ap);
	va_end(ap);
	return 0;
}

static int add_action(struct tdx_mlog *l, int rtmr, const char *s)
{
	uint8_t d[48];
	GUARD(sha384(s, strlen(s), d));
	return tdx_mlog_add(l, rtmr, EV_EFI_ACTION, d, TDX_MEV_COMPUTED, "\"%s\"", s);
}

static int add_separator(struct tdx_mlog *l, int rtmr)
{
	static const uint8_t zero[4] = {0};
	uint8_t d[48];
	GUARD(sha384(zero, sizeof(zero), d));
	return tdx_mlog_add(l, rtmr, EV_SEPARATOR, d, TDX_MEV_COMPUTED, "separator 00000000");
}

int tdx_mlog_direct_rtmr1(struct tdx_mlog *l, const uint8_t *kernel, size_t klen)
{
	uint8_t d[48];

	GUARD(pe_authenticode_sha384(kernel, klen, d));
	GUARD(tdx_mlog_add(l, 1, EV_EFI_BOOT_SERVICES_APPLICATION, d, TDX_MEV_COMPUTED,
	                   "kernel: PE Authenticode SHA-384 of %zu bytes", klen));
	GUARD(add_action(l, 1, calling_efi_app));
	GUARD(add_separator(l, 1));
	GUARD(add_action(l, 1, exit_bs_invocation));
	return add_action(l, 1, exit_bs_success);
}

int tdx_mlog_direct_rtmr2(struct tdx_mlog *l, const char *cmdline, const uint8_t *initrd,
                          size_t ilen)
{
	static const char initrd_arg[] = " initrd=initrd";
	uint8_t d[48];

	/* No command line and no initrd: OVMF gives the kernel no load options
	 * at all, so nothing is measured for them. */
	if (cmdline && (*cmdline || initrd)) {
		size_t n = strlen(cmdline), m = n + (initrd ? strlen(initrd_arg) : 0), k = 0;
		uint8_t *u16;
		int rc;
		ENSURE(n <= 65536, ERR_TOOBIG, "measure: command line over 65536 bytes");
		u16 = calloc(m + 1, 2);
		ENSURE(u16, ERR_NOMEM, "out of memory");
		/* OVMF widens the ASCII command line byte by byte (the fw_cfg
		 * blob is ASCII); a byte past 0x7f would be mis-measured, so it
		 * is refused rather than guessed at. */
		for (size_t i = 0; i < n; i++) {
			if ((unsigned char)cmdline[i] > 0x7f || cmdline[i] < 0x20) {
				free(u16);
				return err_set(
				    ERR_INVAL,
				    "measure: the command line has a byte 0x%02x at %zu: "
				    "printable ASCII only",
				    (unsigned char)cmdline[i], i);
			}
			u16[2 * k++] = (uint8_t)cmdline[i];
		}
		for (size_t i = 0; initrd && initrd_arg[i]; i++)
			u16[2 * k++] = (uint8_t)initrd_arg[i];
		rc = sha384(u16, 2 * (m + 1), d);
		free(u16);
		GUARD(rc);
		GUARD(tdx_mlog_add(l, 2, EV_EVENT_TAG, d, TDX_MEV_COMPUTED,
		                   "kernel command line: UTF-16LE with NUL, %zu characters%s", m,
		                   initrd ? " (\" initrd=initrd\" appended by OVMF)" : ""));
	}
	if (initrd) {
		GUARD(sha384(initrd, ilen, d));
		GUARD(tdx_mlog_add(l, 2, EV_EVENT_TAG, d, TDX_MEV_COMPUTED,
		                   "initrd: SHA-384 of %zu bytes", ilen));
	}
	return 0;
}

int tdx_mlog_replay(const struct tdx_mlog *l, uint8_t out[4][48], unsigned *touched)
{
	struct tdx_rtmr_replay r;

	tdx_replay_init(&r);
	for (size_t i = 0; i < l->n; i++)
		GUARD(tdx_replay_extend(&r, l->ev[i].rtmr, l->ev[i].digest));
	memcpy(out, r.rtmr, sizeof(r.rtmr));
	*touched = r.touched;
	return 0;
}

/* --- CCEL */

/* UEFI_VARIABLE_DATA: {GUID, u64 name length (chars), u64 data length,
 * UTF-16 name, data}.  The name as ASCII into `name`; *data the value. */
static int uefi_variable(const uint8_t *p, size_t n, char *name, size_t cap, const uint8_t **data,
                         size_t *dlen)
{
	struct rd r;
	uint64_t nl, dl;
	const uint8_t *guid, *u16;
	size_t k = 0;

	rd_init(&r, p, n, "CCEL variable event");
	GUARD(rd_view(&r, &guid, 16, "VariableName"));
	GUARD(rd_u64le(&r, &nl, "UnicodeNameLength"));
	GUARD(rd_u64le(&r, &dl, "VariableDataLength"));
	ENSURE(nl <= 256 && dl <= n, ERR_INVAL, "CCEL: variable event lengths %llu/%llu",
	       (unsigned long long)nl, (unsigned long long)dl);
	GUARD(rd_view(&r, &u16, (size_t)nl * 2, "UnicodeName"));
	GUARD(rd_view(&r, data, (size_t)dl, "VariableData"));
	ENSURE(rd_left(&r) == 0, ERR_INVAL, "CCEL: %zu bytes after a variable's data", rd_left(&r));
	for (uint64_t i = 0; i < nl && k + 5 < cap; i++) {
		uint16_t c = le16(u16 + 2 * i);
		if (c >= 0x20 && c < 0x7f)
			name[k++] = (char)c;
		else
			k += (size_t)snprintf(name + k, cap - k, "\\u%04x", c);
	}
	name[k < cap ? k : cap - 1] = 0;
	*dlen = (size_t)dl;
	return 0;
}

/* Describe and, where the data says what was measured, check one event.
 * Returns 1 when checked, 0 when taken as logged. */
static int check_event(uint32_t type, const uint8_t *data, size_t n, const uint8_t digest[48],
                       const uint8_t *cfv, size_t cfv_len, uint64_t cfv_gpa, char *what, size_t cap)
{
	const uint8_t *hashed = NULL, *vdata = NULL;
	size_t hlen = 0, vlen = 0;
	char name[80], text[100];
	uint8_t d[48];

	switch (type) {
	case EV_SEPARATOR:
	case EV_EFI_ACTION:
	case EV_EFI_GPT_EVENT:
		hashed = data;
		hlen = n;
		if (type == EV_EFI_GPT_EVENT)
			snprintf(what, cap, "GPT (%zu bytes)", n);
		else
			snprintf(what, cap, "%s\"%s\"", type == EV_SEPARATOR ? "separator " : "",
			         str_printable(text, sizeof(text), (const char *)data, n));
		if (type == EV_SEPARATOR && n == 4)
			snprintf(what, cap, "separator %02x%02x%02x%02x", data[0], data[1], data[2],
			         data[3]);
		break;
	case EV_EFI_VARIABLE_DRIVER_CONFIG:
	case EV_EFI_VARIABLE_AUTHORITY:
	case EV_EFI_VARIABLE_BOOT:
	case EV_EFI_VARIABLE_BOOT2:
		GUARD(uefi_variable(data, n, name, sizeof(name), &vdata, &vlen));
		snprintf(what, cap, "variable %s (%zu bytes)", name, vlen);
		/* EV_EFI_VARIABLE_BOOT alone hashes the value, not the event
		 * (TCG PC Client PFP, 10.4.4). */
		hashed = type == EV_EFI_VARIABLE_BOOT ? vdata : data;
		hlen = type == EV_EFI_VARIABLE_BOOT ? vlen : n;
		break;
	case EV_EFI_PLATFORM_FIRMWARE_BLOB2: {
		struct rd r;
		uint8_t dl;
		const uint8_t *desc;
		uint64_t base = 0, blen = 0;
		rd_init(&r, data, n, "CCEL firmware blob event");
		if (rd_u8(&r, &dl, "BlobDescriptionSize") == 0 &&
		    rd_view(&r, &desc, dl, "BlobDescription") == 0 &&
		    rd_u64le(&r, &base, "BlobBase") == 0 &&
		    rd_u64le(&r, &blen, "BlobLength") == 0) {
			snprintf(what, cap, "firmware blob %s at 0x%llx, 0x%llx bytes",
			         str_printable(text, sizeof(text), (const char *)desc, dl),
			         (unsigned long long)base, (unsigned long long)blen);
			if (cfv && base == cfv_gpa) {
				ENSURE(blen == cfv_len, ERR_VERIFY,
				       "CCEL: the CFV event at 0x%llx has length 0x%llx, the "
				       "firmware's CFV 0x%zx",
				       (unsigned long long)base, (unsigned long long)blen, cfv_len);
				hashed = cfv;
				hlen = cfv_len;
			}
		} else {
			snprintf(what, cap, "firmware blob (%zu bytes of event data)", n);
		}
		break;
	}
	default: {
		const char *tn = tdx_event_type_name(type);
		size_t k = 0;
		while (k < n && data[k] >= 0x20 && data[k] < 0x7f)
			k++;
		if (k >= 4)
			snprintf(what, cap, "\"%s\"%s",
			         str_printable(text, sizeof(text), (const char *)data, k),
			         k < n ? "..." : "");
		else
			snprintf(what, cap, "%s event, %zu bytes", tn ? tn : "unnamed", n);
	}
	}
	if (!hashed)
		return 0;
	GUARD(sha384(hashed, hlen, d));
	if (memcmp(d, digest, 48) != 0) {
		char got[97], want[97];
		hex_encode(got, digest, 48);
		hex_encode(want, d, 48);
		return err_set(ERR_VERIFY,
		               "CCEL: event %s: logged digest %s, but its data hashes to %s", what,
		               got, want);
	}
	return 1;
}

int tdx_mlog_from_ccel(struct tdx_mlog *l, const uint8_t *buf, size_t len, const uint8_t *cfv,
                       size_t cfv_len, uint64_t cfv_gpa)
{
	struct tdx_ccel_iter it;
	struct tdx_ccel_event ev;
	int rc;

	GUARD(tdx_ccel_init(&it, buf, len, "CCEL"));
	while ((rc = tdx_ccel_next(&it, &ev)) > 0) {
		char what[160];
		int checked = check_event(ev.type, ev.data, ev.data_len, ev.sha384, cfv, cfv_len,
		                          cfv_gpa, what, sizeof(what));
		if (checked < 0)
			return err_wrap(checked, "offset %zu", ev.offset);
		GUARD(tdx_mlog_add(l, (int)ev.mr_index - 1, ev.type, ev.sha384,
		                   checked ? TDX_MEV_LOG_CHECKED : TDX_MEV_LOG, "%s", what));
	}
	return rc;
}
