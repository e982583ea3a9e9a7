/* measure.h — the RTMR events of a TD's boot, as OVMF (TDVF) logs them, and
 * the registers they give.
 *
 * An event list is built from inputs (a direct kernel boot: the kernel, its
 * command line and initrd; the configuration firmware volume) or read from
 * a CCEL, whose events are checked where their data says what was measured.
 * Replaying it gives RTMR0..3 (RTMR = SHA-384(RTMR || digest), from zero).
 *
 * Direct kernel boot (QEMU -kernel with OVMF), per OVMF's measurements and
 * the TCG PC client mapping to TDX (PCR 1,7 -> RTMR0; 2-6 -> RTMR1; 8-15 ->
 * RTMR2):
 *   RTMR1: the kernel's Authenticode SHA-384 (EV_EFI_BOOT_SERVICES_
 *          APPLICATION: OVMF loads the image before the boot option runs),
 *          EV_EFI_ACTION "Calling EFI Application from Boot Option",
 *          EV_SEPARATOR (00000000), EV_EFI_ACTION "Exit Boot Services
 *          Invocation", EV_EFI_ACTION "Exit Boot Services Returned with
 *          Success";
 *   RTMR2: the command line as the kernel's EFI stub measures its load
 *          options (UTF-16LE with the terminating NUL; OVMF appends
 *          " initrd=initrd" when there is an initrd, and gives no options
 *          for an empty command line without initrd), then the initrd.
 */
#ifndef TDEXEC_TDX_MEASURE_H
#define TDEXEC_TDX_MEASURE_H

#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

#define TDX_MEASURE_MAX_EVENTS 1024u

/* TCG event types used here. */
#define EV_SEPARATOR                     0x00000004u
#define EV_EFI_VARIABLE_DRIVER_CONFIG    0x80000001u
#define EV_EFI_VARIABLE_BOOT             0x80000002u
#define EV_EFI_BOOT_SERVICES_APPLICATION 0x80000003u
#define EV_EFI_GPT_EVENT                 0x80000006u
#define EV_EFI_ACTION                    0x80000007u
#define EV_EFI_PLATFORM_FIRMWARE_BLOB2   0x8000000au
#define EV_EFI_HANDOFF_TABLES2           0x8000000bu
#define EV_EFI_VARIABLE_BOOT2            0x8000000cu
#define EV_EFI_VARIABLE_AUTHORITY        0x800000e0u
#define EV_EVENT_TAG                     0x00000006u

/* How an event's digest is known. */
enum tdx_mevent_src {
	TDX_MEV_COMPUTED,    /* computed here from the inputs given */
	TDX_MEV_LOG_CHECKED, /* from a log, and recomputed from the event's data */
	TDX_MEV_LOG,         /* from a log: a digest of memory the log does not hold */
};

struct tdx_mevent {
	int rtmr; /* 0..3 */
	uint32_t type;
	uint8_t digest[48];
	enum tdx_mevent_src src;
	char what[160]; /* printable description */
};

struct tdx_mlog {
	size_t n;
	struct tdx_mevent *ev; /* n events, owned */
};

void tdx_mlog_init(struct tdx_mlog *l);
void tdx_mlog_free(struct tdx_mlog *l);
MUST_CHECK int tdx_mlog_add(struct tdx_mlog *l, int rtmr, uint32_t type, const uint8_t digest[48],
                            enum tdx_mevent_src src, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* RTMR1's events for a direct boot of `kernel` (a PE/COFF image: a Linux
 * bzImage with its EFI stub). */
MUST_CHECK int tdx_mlog_direct_rtmr1(struct tdx_mlog *l, const uint8_t *kernel, size_t klen);
/* RTMR2's events: the command line (NULL: none given, so no event) and the
 * initrd (NULL: none). */
MUST_CHECK int tdx_mlog_direct_rtmr2(struct tdx_mlog *l, const char *cmdline, const uint8_t *initrd,
                                     size_t ilen);

/* Read a CCEL (TCG2 crypto-agile log): every measured event with its
 * SHA-384 digest.  Events whose data holds what was measured (EV_EFI_ACTION
 * strings, separators, UEFI variables, the GPT) are recomputed and must
 * match (ERR_VERIFY naming the event otherwise); the others are taken as
 * logged.  `cfv` (may be NULL) is the configuration firmware volume from
 * the firmware image: a CFV event (EV_EFI_PLATFORM_FIRMWARE_BLOB2 at
 * cfv_gpa) must then carry its digest. */
MUST_CHECK int tdx_mlog_from_ccel(struct tdx_mlog *l, const uint8_t *buf, size_t len,
                                  const uint8_t *cfv, size_t cfv_len, uint64_t cfv_gpa);

/* Replay: out[i] for RTMR i; *touched bit i when an event extended it. */
MUST_CHECK int tdx_mlog_replay(const struct tdx_mlog *l, uint8_t out[4][48], unsigned *touched);

/* "EV_EFI_ACTION", ... or NULL for a type without a name here. */
const char *tdx_event_type_name(uint32_t type);

#endif
