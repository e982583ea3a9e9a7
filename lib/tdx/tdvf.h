/* tdvf.h — a TDVF (TDX OVMF) image's TDX metadata and the MRTD it gives.
 *
 * The VMM builds a TD from the firmware's TDX metadata (Intel TDVF design
 * guide, "TDVF metadata"): the image's footer GUID table, read backwards
 * from 0x20 bytes before its end, holds an entry e47a6535-984a-4798-865e-
 * 4685a7bf8ec2 whose u32 is the metadata's offset from the end of the image;
 * there a descriptor "TDVF" {u32 length, u32 version 1, u32 count} is
 * followed by `count` 32-byte sections {u32 data offset, u32 raw size, u64
 * guest address, u64 memory size, u32 type, u32 attributes}.
 *
 * The TDX module's MRTD is one SHA-384 over, for every page the VMM adds
 * before TDH.MR.FINALIZE: TDH.MEM.PAGE.ADD's 128 bytes ("MEM.PAGE.ADD",
 * zero-padded to 16, the page's GPA as u64 LE, zeros) and, for sections
 * with MR.EXTEND, each of the page's 256-byte chunks as TDH.MR.EXTEND sees
 * it: 128 bytes ("MR.EXTEND", padded to 16, the chunk's GPA, zeros) then
 * the chunk's 256 bytes.  Sections with PAGE.AUG are accepted by the guest
 * later and added by nothing.
 */
#ifndef TDEXEC_TDX_TDVF_H
#define TDEXEC_TDX_TDVF_H

#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

#define TDVF_MAX_SIZE     (64u * 1024u * 1024u) /* OVMF images are 2-4 MiB */
#define TDVF_MAX_SECTIONS 64u
/* Pages of all sections, PAGE.AUG ones included (1 GiB): bounds the work a
 * crafted image can ask for. */
#define TDVF_MAX_PAGES (256u * 1024u)

enum tdvf_type {
	TDVF_BFV = 0, /* boot firmware volume: the code */
	TDVF_CFV = 1, /* configuration firmware volume: the variable store */
	TDVF_TD_HOB = 2,
	TDVF_TEMP_MEM = 3,
	TDVF_PERM_MEM = 4,
	TDVF_PAYLOAD = 5,
	TDVF_PAYLOAD_PARAM = 6,
};
#define TDVF_ATTR_MR_EXTEND 0x1u
#define TDVF_ATTR_PAGE_AUG  0x2u

struct tdvf_section {
	uint32_t data_offset, raw_size;
	uint64_t gpa, mem_size;
	uint32_t type, attributes;
};

struct tdvf {
	const uint8_t *img; /* borrowed: the image the sections point into */
	size_t len;
	size_t meta_offset; /* of the descriptor, from the start of the image */
	uint32_t version;
	size_t n;
	struct tdvf_section sec[TDVF_MAX_SECTIONS];
};

/* The order in which a VMM issues the two operations.  Per page: ADD then
 * the page's 16 EXTENDs, page after page (KVM's KVM_TDX_INIT_MEM_REGION as
 * merged in Linux 6.16, with QEMU 10.1+).  Two-pass: every page of a
 * section ADDed, then every page EXTENDed (QEMU on the earlier out-of-tree
 * TDX KVM).  Both hash the same buffers; only the order differs. */
enum tdvf_order { TDVF_ORDER_PER_PAGE, TDVF_ORDER_TWO_PASS };

/* Parse and check the metadata of the image (borrowed by *out).  Every
 * offset and size is checked against the image: ERR_INVAL naming the field
 * ("TDVF section 2: raw data 0x...+0x... past the end of the 2097152-byte
 * image"); ERR_NOTFOUND when the image carries no TDX metadata. */
MUST_CHECK int tdvf_parse(const uint8_t *img, size_t len, struct tdvf *out);
/* MRTD of a TD built from the parsed image.  A section to be extended
 * whose contents the VMM writes (no raw data in the image, e.g. a TD HOB)
 * cannot be computed from the image: ERR_UNSUPPORTED. */
MUST_CHECK int tdvf_mrtd(const struct tdvf *t, enum tdvf_order order, uint8_t mrtd[48]);
/* "BFV", "CFV", "TD_HOB", ... or "unknown". */
const char *tdvf_type_name(uint32_t type);
/* The CFV's bytes in the image (the first CFV section's raw data), which
 * OVMF measures into RTMR0 as it finds them; NULL when there is none. */
const uint8_t *tdvf_cfv(const struct tdvf *t, size_t *len, uint64_t *gpa);

#endif
