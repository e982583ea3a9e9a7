/* qgs.h — TDX quotes from the host's Quote Generation Service (QGS).
 *
 * Why: on real TDX, configfs-tsm makes the kernel hand the TDREPORT to the
 * host through a shared page and poll it about once a second, so a quote
 * costs ~1 s.  The same QGS answers a guest that connects to it directly
 * over vsock in milliseconds.  The guest then does the kernel's part
 * itself: TDREPORT from /dev/tdx_guest (TDX_CMD_GET_REPORT0), quote from
 * the QGS.
 *
 * Framing (Intel's qgs_msg_lib, version 1.0; all integers little-endian
 * except the transport's length prefix):
 *
 *   transport   u32 big-endian: the length of the message that follows
 *   header      u16 major (1), u16 minor (0), u32 type, u32 size (the whole
 *               message, header included), u32 error_code
 *   request     header (type 0 GET_QUOTE_REQ, error 0), u32 report_size
 *               (1024), u32 id_list_size (0), TDREPORT
 *   response    header (type 1 GET_QUOTE_RESP), u32 selected_id_size,
 *               u32 quote_size, selected id, quote; on failure error_code
 *               is one of TDX_QGS_ERR_* and both sizes are 0
 *
 * One connection per quote, as the QGS expects.  Every size of a response
 * is checked against what was read and against caps before use.
 */
#ifndef TDEXEC_TDX_QGS_H
#define TDEXEC_TDX_QGS_H

#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

#define TDX_REPORT_SIZE      1024
#define TDX_QGS_HEADER_SIZE  16
#define TDX_QGS_REQ_SIZE     (TDX_QGS_HEADER_SIZE + 8 + TDX_REPORT_SIZE) /* 1048 */
#define TDX_QGS_RESP_MIN     (TDX_QGS_HEADER_SIZE + 8)                   /* 24 */
#define TDX_QGS_ID_MAX       1024 /* a selected attestation key id is a 16-byte UUID */
#define TDX_QGS_DEFAULT_CID  2    /* the host */
#define TDX_QGS_DEFAULT_PORT 4050
#define TDX_QGS_TIMEOUT_MS                                                                         \
	30000 /* a whole exchange; the first quote after boot may
                                       wait for the host's PCK certificate */
#define TDX_QGS_CONNECT_MS 3000
#define TDX_GUEST_DEV      "/dev/tdx_guest"

enum {
	TDX_QGS_GET_QUOTE_REQ = 0,
	TDX_QGS_GET_QUOTE_RESP = 1,
};

/* qgs_msg_error_t */
enum {
	TDX_QGS_SUCCESS = 0,
	TDX_QGS_ERR_UNEXPECTED = 0x12001,
	TDX_QGS_ERR_OUT_OF_MEMORY = 0x12002,
	TDX_QGS_ERR_INVALID_PARAMETER = 0x12003,
	TDX_QGS_ERR_INVALID_VERSION = 0x12004,
	TDX_QGS_ERR_INVALID_TYPE = 0x12005,
	TDX_QGS_ERR_INVALID_SIZE = 0x12006,
	TDX_QGS_ERR_INVALID_CODE = 0x12007,
};

/* What a QGS error code means, in words ("unknown error code" otherwise). */
const char *tdx_qgs_error_str(uint32_t code);

/* ---------- addresses ---------- */

struct tdx_qgs_addr {
	int vsock;      /* 1: AF_VSOCK cid:port; 0: unix socket path */
	unsigned cid;   /* vsock */
	unsigned port;  /* vsock */
	char path[108]; /* unix (sun_path) */
};

/* "vsock:CID:PORT", "vsock" (CID 2, port 4050) or "unix:PATH"; NULL means
 * the default vsock:2:4050.  ERR_INVAL with the reason otherwise. */
MUST_CHECK int tdx_qgs_addr_parse(const char *text, struct tdx_qgs_addr *out);
/* "vsock:2:4050" / "unix:/path", for logs and errors. */
void tdx_qgs_addr_str(const struct tdx_qgs_addr *a, char *buf, size_t cap);

/* ---------- messages ---------- */

/* The whole request as sent: length prefix, header, body, TDREPORT. */
void tdx_qgs_request_write(const uint8_t report[TDX_REPORT_SIZE],
                           uint8_t out[4 + TDX_QGS_REQ_SIZE]);

/* A request message (after the length prefix), strictly: version 1.x,
 * GET_QUOTE_REQ, sizes adding up to len, report of 1024 bytes, no id list.
 * On failure *qgs_error is the code a QGS answers with.  For the test QGS
 * and the fuzzer. */
MUST_CHECK int tdx_qgs_request_parse(const uint8_t *msg, size_t len, const uint8_t **report,
                                     uint32_t *qgs_error);

/* A response (after the length prefix) into *quote, a view into msg.
 * ERR_INVAL for malformed framing (sizes that do not add up to len or to
 * the header's size, a wrong type or version), ERR_TOOBIG over the caps,
 * ERR_IO with the QGS's error in words when error_code is not 0. */
MUST_CHECK int tdx_qgs_response_parse(const uint8_t *msg, size_t len, const uint8_t **quote,
                                      size_t *quote_len);

/* A response with its length prefix, as a new buffer (free()): a quote
 * when error_code is 0, an error response (both sizes 0) otherwise. */
MUST_CHECK int tdx_qgs_response_write(uint32_t error_code, const uint8_t *quote, size_t quote_len,
                                      uint8_t **out, size_t *len);

/* ---------- the exchange ---------- */

struct tdx_qgs_opts {
	struct tdx_qgs_addr addr;
	int timeout_ms; /* the whole exchange; 0 = TDX_QGS_TIMEOUT_MS */
	int connect_ms; /* the connection, within timeout_ms; 0 = TDX_QGS_CONNECT_MS */
};

/* A quote for `report` from the QGS: one connection, the request, the
 * response read in full within the deadline.  *quote is a new buffer
 * (free()).  ERR_NOTFOUND when nothing listens at the address, ERR_IO on
 * a QGS error, a timeout or a connection closed early, ERR_INVAL /
 * ERR_TOOBIG for a malformed response; each message names the address. */
MUST_CHECK int tdx_qgs_quote(const struct tdx_qgs_opts *o, const uint8_t report[TDX_REPORT_SIZE],
                             uint8_t **quote, size_t *len);

/* Does a QGS accept connections at the address, within connect_ms?
 * 0 or the error a quote would have met. */
MUST_CHECK int tdx_qgs_probe(const struct tdx_qgs_opts *o);

/* ---------- TDREPORT ---------- */

/* Where TDREPORTs come from: the kernel's /dev/tdx_guest, or a test's. */
struct tdx_report_ops {
	/* 0 or a negative ERR_* with err_set() done. */
	int (*get)(void *ctx, const uint8_t report_data[64], uint8_t report[TDX_REPORT_SIZE]);
	void *ctx;
};

/* ctx: the device path (char *), NULL = TDX_GUEST_DEV. */
extern const struct tdx_report_ops tdx_report_dev_ops;

/* TDREPORT for report_data through TDX_CMD_GET_REPORT0 on `dev` (NULL =
 * TDX_GUEST_DEV).  ERR_NOTFOUND "no TDX guest device" when absent,
 * ERR_UNSUPPORTED when the file is no TDX guest device. */
MUST_CHECK int tdx_report_get0(const char *dev, const uint8_t report_data[64],
                               uint8_t report[TDX_REPORT_SIZE]);

#endif
