/* tcbinfo.h — Intel's TDX TCB info (v3) and TD_QE identity (v2), parsed
 * only after their signatures have been verified over the exact text. */
#ifndef TDEXEC_TDX_TCBINFO_H
#define TDEXEC_TDX_TCBINFO_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "util/err.h"

/* Ordered from best to worst where Intel's rules merge them. */
enum tdx_tcb_status {
	TDX_TCB_UP_TO_DATE = 0,
	TDX_TCB_SW_HARDENING_NEEDED,
	TDX_TCB_CONFIGURATION_NEEDED,
	TDX_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED,
	TDX_TCB_OUT_OF_DATE,
	TDX_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED,
	TDX_TCB_REVOKED,
	TDX_TCB_NOT_SUPPORTED, /* no TCB level matches */
	TDX_TCB_STATUS_COUNT
};

/* Intel's spelling: "UpToDate", ..., "Revoked"; "TCBLevelNotSupported". */
const char *tdx_tcb_status_name(enum tdx_tcb_status s);
MUST_CHECK int tdx_tcb_status_parse(const char *s, enum tdx_tcb_status *out);

#define TDX_ADVISORY_MAX 64
#define TDX_ADVISORY_LEN 32

struct tdx_advisories {
	size_t n;
	char id[TDX_ADVISORY_MAX][TDX_ADVISORY_LEN];
};
/* Add the ids of `from` not yet in `to` (order kept). */
void tdx_advisories_merge(struct tdx_advisories *to, const struct tdx_advisories *from);

struct tdx_tcb_level {
	uint8_t sgx[16];
	uint16_t pcesvn;
	uint8_t tdx[16];
	enum tdx_tcb_status status;
	time_t date;
	struct tdx_advisories adv;
};

struct tdx_isv_level {
	uint16_t isvsvn;
	enum tdx_tcb_status status;
	time_t date;
	struct tdx_advisories adv;
};

struct tdx_module_identity {
	char id[16]; /* "TDX_01" */
	uint8_t mrsigner[48];
	uint8_t attributes[8];
	uint8_t attributes_mask[8];
	struct tdx_isv_level *levels;
	size_t n_levels;
};

struct tdx_tcb_info {
	int version;
	time_t issue_date, next_update;
	uint8_t fmspc[6];
	uint8_t pceid[2];
	int tcb_type;
	int eval_number;
	int has_module;
	uint8_t module_mrsigner[48];
	uint8_t module_attributes[8];
	uint8_t module_attributes_mask[8];
	struct tdx_module_identity *ids;
	size_t n_ids;
	struct tdx_tcb_level *levels;
	size_t n_levels;
};

struct tdx_qe_identity {
	int version;
	time_t issue_date, next_update;
	int eval_number;
	uint8_t miscselect[4], miscselect_mask[4];
	uint8_t attributes[16], attributes_mask[16];
	uint8_t mrsigner[32];
	uint16_t isvprodid;
	struct tdx_isv_level *levels;
	size_t n_levels;
};

/* Parse the "tcbInfo" object text: id "TDX", version 3. */
MUST_CHECK int tdx_tcb_info_parse(const char *text, size_t len, struct tdx_tcb_info **out);
void tdx_tcb_info_free(struct tdx_tcb_info *t);
/* Parse the "enclaveIdentity" object text: id "TD_QE", version 2. */
MUST_CHECK int tdx_qe_identity_parse(const char *text, size_t len, struct tdx_qe_identity **out);
void tdx_qe_identity_free(struct tdx_qe_identity *q);

#endif
