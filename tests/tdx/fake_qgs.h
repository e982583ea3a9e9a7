/* fake_qgs.h — a Quote Generation Service for the test suite and the bench.
 *
 * It listens on a unix socket, parses each request with Intel's framing
 * and answers with a quote of the simulated TD over the TDREPORT it
 * received (tdx_sim_quote_report: the report's MAC and hashes checked, its
 * TD body and REPORTDATA quoted).  A mode makes it misbehave as a broken
 * or hostile QGS would.  Connections are served one after the other. */
#ifndef TDEXEC_TESTS_FAKE_QGS_H
#define TDEXEC_TESTS_FAKE_QGS_H

#include <stdint.h>
#include "tdx/sim.h"

enum fake_qgs_mode {
	FQ_OK = 0,
	FQ_ERROR,        /* an error response with error_code */
	FQ_TRUNCATE,     /* half the response, then close */
	FQ_OVERSIZE,     /* a length prefix of 2 GiB */
	FQ_BAD_SIZES,    /* quote_size larger than the bytes that follow */
	FQ_SILENT,       /* read the request, never answer */
	FQ_WRONG_TYPE,   /* a GET_QUOTE_REQ type in the response */
	FQ_WRONG_VERSION /* major version 2 */
};

struct fake_qgs {
	int fd; /* the listening socket */
	struct tdx_sim *sim;
	enum fake_qgs_mode mode;
	uint32_t error_code; /* FQ_ERROR */
	int log;             /* 1: one line per request on stderr */
	int stop;            /* set to end fake_qgs_run() */
	unsigned served;     /* answers made (read it atomically) */
};

/* Parse a mode name ("ok", "error", "truncate", ...); -1 if unknown. */
int fake_qgs_mode_parse(const char *name);
/* Bind and listen on a unix socket at path (replacing a stale one). */
int fake_qgs_listen(struct fake_qgs *f, const char *path);
/* Serve connections until f->stop (checked every 100 ms). */
void fake_qgs_run(struct fake_qgs *f);

#endif
