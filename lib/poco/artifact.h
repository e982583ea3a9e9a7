/* artifact.h — compiled contracts from the @iexec/poco package:
 * hardhat artifacts (bytecode with library placeholders + linkReferences)
 * and hardhat-deploy deployment files (linked creation bytecode). */
#ifndef TDEXEC_POCO_ARTIFACT_H
#define TDEXEC_POCO_ARTIFACT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

struct poco_artifact {
	char *name;
	json_t *abi;   /* may be NULL for deployment files without one */
	char *code;    /* creation bytecode as hex text (no 0x), placeholders unlinked */
	json_t *links; /* linkReferences, or NULL */
};

MUST_CHECK int poco_artifact_load(const char *path, struct poco_artifact *a);
void poco_artifact_free(struct poco_artifact *a);
/* Put `addr` at every placeholder of library `lib` (its name, e.g.
 * "IexecLibOrders_v5"). */
MUST_CHECK int poco_artifact_link(struct poco_artifact *a, const char *lib, const uint8_t addr[20]);
/* The creation bytecode; ERR_INVAL if a library is still unlinked. */
MUST_CHECK int poco_artifact_code(const struct poco_artifact *a, uint8_t **code, size_t *len);

/* Canonical signature "name(type,...)" of an ABI function/error/event entry
 * (tuples expanded); free(). */
char *poco_abi_signature(const json_t *entry);
/* Selectors of every function, plus 0x00000000 for receive and 0xffffffff
 * for fallback; *out is an array of n 4-byte selectors (free()). */
MUST_CHECK int poco_abi_selectors(const json_t *abi, uint8_t (**out)[4], size_t *n);

#endif
