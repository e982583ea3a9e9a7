/* libFuzzer: RTMR replay from CCEL (TCG2) and JSON-lines event logs. */
#include "tdx/eventlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tdx_rtmr_replay r;
	tdx_replay_init(&r);
	(void)tdx_replay_ccel(&r, data, size);
	tdx_replay_init(&r);
	(void)tdx_replay_jsonl(&r, (const char *)data, size);
	return 0;
}
