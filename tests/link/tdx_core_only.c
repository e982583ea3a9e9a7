/*
 * Linked with the whole of tdexec_tdx_core and only what that library
 * declares it needs: tdx_core_deps.sh looks in this binary for the HTTP stack
 * and the simulator, which a verifier must be buildable without.
 */
#include "tdx/quote.h"

#include <stdio.h>

int main(void)
{
	printf("%zu\n", sizeof(struct tdx_quote));
	return 0;
}
