/* quote_show.h — a parsed quote as JSON (Intel's field names) and text. */
#ifndef TDEXEC_TDX_QUOTE_SHOW_H
#define TDEXEC_TDX_QUOTE_SHOW_H

#include "tdx/quote.h"

#include <jansson.h>
#include <stdio.h>

/* Every field of the quote, plus what the PCK certificate's SGX extension
 * says (FMSPC, PCE-ID, TCB components, PCESVN, CA).  Returns a new object,
 * or NULL with the error set.  When the PCK chain cannot be decoded, the
 * object still describes the rest and "pck" holds {"error": "..."}; the
 * return status in *pck_rc is then negative. */
json_t *tdx_quote_to_json(const struct tdx_quote *q, int *pck_rc);

/* Print a JSON object as indented "name: value" lines. */
void tdx_json_print_text(FILE *f, const json_t *j);

#endif
