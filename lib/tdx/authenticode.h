/* authenticode.h — the Authenticode digest of a PE/COFF image, as UEFI
 * firmware measures an EFI application it loads (EV_EFI_BOOT_SERVICES_
 * APPLICATION: OVMF's RTMR1 entry for a kernel with an EFI stub).
 *
 * Microsoft's "Windows Authenticode Portable Executable Signature Format":
 * the headers up to SizeOfHeaders without the optional header's CheckSum
 * and without the certificate table's data directory entry; then each
 * section's raw data in the order of its file offset; then whatever
 * follows the last section, but for the certificate table (the signatures,
 * which sign this digest).
 */
#ifndef TDEXEC_TDX_AUTHENTICODE_H
#define TDEXEC_TDX_AUTHENTICODE_H

#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

#define PE_MAX_SIZE     (512u * 1024u * 1024u)
#define PE_MAX_SECTIONS 96u /* the PE format allows 96 */

/* SHA-384 Authenticode digest of the image.  ERR_INVAL with the reason for
 * anything malformed: truncated headers, a section or the certificate table
 * outside the file, sections whose raw data overlap each other or the
 * headers. */
MUST_CHECK int pe_authenticode_sha384(const uint8_t *img, size_t len, uint8_t out[48]);

#endif
