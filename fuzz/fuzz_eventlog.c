/* libFuzzer: RTMR replay from CCEL (TCG2) and JSON-lines event logs, and the
 * SMS's check of a runtime log that came with a quote. */
#include "tdx/eventlog.h"
#include "tdx/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tdx_quote q; /* RTMRs at zero */
	struct tdx_rtmr_replay r;
	tdx_replay_init(&r);
	(void)tdx_replay_ccel(&r, data, size);
	tdx_replay_init(&r);
	(void)tdx_replay_jsonl(&r, (const char *)data, size);
	(void)tdx_policy_check_runtime_log(NULL, &q, (const char *)data, size);
	return 0;
}
