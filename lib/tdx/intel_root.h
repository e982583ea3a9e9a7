/* intel_root.h — the embedded Intel SGX Root CA. */
#ifndef TDEXEC_TDX_INTEL_ROOT_H
#define TDEXEC_TDX_INTEL_ROOT_H

#include <stddef.h>
#include <stdint.h>

extern const uint8_t tdx_intel_root_ca_der[];
extern const size_t tdx_intel_root_ca_der_len;

#endif
