/* tdexec measure — a TD's reference values (MRTD, RTMR0-2) recomputed from
 * its firmware, kernel, initrd and command line, or read from its CCEL. */
#include "cli.h"

#include "tdx/eventlog.h"
#include "tdx/measure.h"
#include "tdx/policy.h"
#include "tdx/tdvf.h"
#include "tdx/tcbinfo.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "util/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char measure_usage[] =
    "Usage: tdexec measure [--firmware FILE] [--page-order per-page|two-pass]\n"
    "                      [--kernel FILE] [--cmdline TEXT] [--initrd FILE]\n"
    "                      [--ccel FILE] [-o POLICY] [--tcb-status LIST] [--json]\n"
    "\n"
    "Recompute a TD's measurements from what it boots, and list each event:\n"
    "  MRTD        from a TDVF/OVMF image's TDX metadata (--firmware): the pages\n"
    "              the VMM adds and extends, as the TDX module hashes them\n"
    "  RTMR1       a direct kernel boot (--kernel): the kernel's PE Authenticode\n"
    "              SHA-384 and OVMF's fixed events\n"
    "  RTMR2       the command line (--cmdline, OVMF's UTF-16 form) and --initrd\n"
    "  RTMR0       depends on the VM's configuration (TD HOB, ACPI tables, boot\n"
    "              variables): taken from a known-good TD's --ccel, whose events\n"
    "              are checked where their data allows (docs/measure.md)\n"
    "With --ccel alone: list and replay the log.  Values computed from inputs\n"
    "must equal the log's replay, or nothing is written.\n"
    "\n"
    "  --firmware FILE     a TDVF image (OVMF.fd) with TDX metadata\n"
    "  --page-order ORDER  per-page (default: ADD then EXTEND page by page, KVM as\n"
    "                      merged in Linux 6.16, QEMU 10.1+) or two-pass (all pages\n"
    "                      of a section ADDed, then EXTENDed: QEMU on the earlier\n"
    "                      out-of-tree TDX KVM)\n"
    "  --kernel FILE       the kernel given to the VMM (-kernel), an EFI PE image\n"
    "  --cmdline TEXT      its command line (-append; '' for none: with no initrd\n"
    "                      either, OVMF measures nothing and RTMR2 stays zero)\n"
    "  --initrd FILE       its initrd (-initrd)\n"
    "  --ccel FILE         a CCEL event log (/sys/firmware/acpi/tables/data/CCEL)\n"
    "  -o, --output FILE   write a policy pinning what is known (MRTD, RTMR0-2)\n"
    "  --tcb-status LIST   the policy's accepted TCB statuses (default UpToDate)\n"
    "  --json              print the measurements and events as JSON\n";

const struct option cli_measure_opts[] = {
    {"firmware", required_argument, NULL, 'f'},
    {"page-order", required_argument, NULL, 'p'},
    {"kernel", required_argument, NULL, 'k'},
    {"cmdline", required_argument, NULL, 'c'},
    {"initrd", required_argument, NULL, 'i'},
    {"ccel", required_argument, NULL, 'e'},
    {"output", required_argument, NULL, 'o'},
    {"tcb-status", required_argument, NULL, 't'},
    {"json", no_argument, NULL, 'j'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

#define FILE_CAP (512u * 1024u * 1024u)

struct measure {
	const char *firmware, *kernel, *cmdline, *initrd, *ccel, *out, *tcb;
	enum tdvf_order order;
	uint8_t *fw, *kern, *ird, *log;
	size_t fw_len, kern_len, ird_len, log_len;
	struct tdvf tdvf;
	int have_mrtd;
	uint8_t mrtd[48];
	struct tdx_mlog computed, logged;
	uint8_t rtmr[4][48];
	unsigned known; /* bit i: RTMR i known */
	const char *rtmr_src[4];
};

static const char *const src_name[] = {"computed", "log, checked", "log"};

static int load(const char *path, uint8_t **buf, size_t *len)
{
	int rc = file_read(path, FILE_CAP, buf, len);
	return rc < 0 ? err_wrap(rc, "%s", path) : 0;
}

/* Replay both lists: computed RTMRs take precedence, and where the log
 * touches the same RTMR its replay must agree. */
static int settle(struct measure *m)
{
	uint8_t c[4][48], g[4][48];
	unsigned ct = 0, gt = 0;

	GUARD(tdx_mlog_replay(&m->computed, c, &ct));
	/* An empty command line without initrd extends nothing: RTMR2 stays
	 * zero, which is then what is known. */
	if (m->cmdline)
		ct |= 4u;
	GUARD(tdx_mlog_replay(&m->logged, g, &gt));
	for (int i = 0; i < 3; i++) { /* RTMR3 is the runtime's, never pinned here */
		if (ct & (1u << i)) {
			if ((gt & (1u << i)) && memcmp(c[i], g[i], 48) != 0) {
				char a[97], b[97];
				hex_encode(a, c[i], 48);
				hex_encode(b, g[i], 48);
				return err_set(
				    ERR_VERIFY,
				    "RTMR%d computed from the inputs is %s, the CCEL replays "
				    "to %s: the TD did not boot what was given",
				    i, a, b);
			}
			memcpy(m->rtmr[i], c[i], 48);
			m->known |= 1u << i;
			m->rtmr_src[i] =
			    (gt & (1u << i)) ? "computed, equal to the CCEL" : "computed";
		} else if (gt & (1u << i)) {
			memcpy(m->rtmr[i], g[i], 48);
			m->known |= 1u << i;
			m->rtmr_src[i] = "CCEL replay";
		}
	}
	if (gt & 8u) {
		memcpy(m->rtmr[3], g[3], 48);
		m->rtmr_src[3] = "CCEL replay (runtime: not pinned)";
	}
	return 0;
}

static int run(struct measure *m)
{
	const uint8_t *cfv = NULL;
	size_t cfv_len = 0;
	uint64_t cfv_gpa = 0;

	if (m->firmware) {
		GUARD(load(m->firmware, &m->fw, &m->fw_len));
		{
			int rc = tdvf_parse(m->fw, m->fw_len, &m->tdvf);
			if (rc == 0)
				rc = tdvf_mrtd(&m->tdvf, m->order, m->mrtd);
			if (rc < 0)
				return err_wrap(rc, "%s", m->firmware);
		}
		m->have_mrtd = 1;
		cfv = tdvf_cfv(&m->tdvf, &cfv_len, &cfv_gpa);
	}
	if (m->kernel) {
		GUARD(load(m->kernel, &m->kern, &m->kern_len));
		{
			int rc = tdx_mlog_direct_rtmr1(&m->computed, m->kern, m->kern_len);
			if (rc < 0)
				return err_wrap(rc, "%s", m->kernel);
		}
	}
	if (m->initrd)
		GUARD(load(m->initrd, &m->ird, &m->ird_len));
	if (m->cmdline || m->initrd)
		GUARD(tdx_mlog_direct_rtmr2(&m->computed, m->cmdline, m->ird, m->ird_len));
	if (m->ccel) {
		int rc;
		GUARD(load(m->ccel, &m->log, &m->log_len));
		rc = tdx_mlog_from_ccel(&m->logged, m->log, m->log_len, cfv, cfv_len, cfv_gpa);
		if (rc < 0)
			return err_wrap(rc, "%s", m->ccel);
	}
	return settle(m);
}

/* What cannot be known from the inputs given, one line each. */
static json_t *missing(const struct measure *m)
{
	json_t *a = json_array();
	if (!a)
		return NULL;
	if (!m->have_mrtd)
		json_array_append_new(a, json_string("MRTD: give --firmware (the TDVF image)"));
	if (!(m->known & 1u))
		json_array_append_new(
		    a,
		    json_string("RTMR0: the TD HOB, ACPI tables and boot variables come from the "
		                "VM's configuration: give a known-good TD's --ccel"));
	if (!(m->known & 2u))
		json_array_append_new(a,
		                      json_string("RTMR1: give --kernel (direct boot) or --ccel"));
	if (!(m->known & 4u))
		json_array_append_new(a, json_string("RTMR2: give --cmdline and --initrd (direct "
		                                     "boot) or --ccel"));
	return a;
}

static json_t *events_json(const struct tdx_mlog *l)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < l->n; i++) {
		const struct tdx_mevent *e = &l->ev[i];
		const char *tn = tdx_event_type_name(e->type);
		char d[97], t[11];
		hex_encode(d, e->digest, 48);
		snprintf(t, sizeof(t), "0x%08x", e->type);
		json_array_append_new(a, json_pack("{s:i,s:s,s:s,s:s,s:s}", "rtmr", e->rtmr, "type",
		                                   tn ? tn : t, "digest", d, "source",
		                                   src_name[e->src], "event", e->what));
	}
	return a;
}

static json_t *result_json(const struct measure *m)
{
	json_t *j = json_object(), *regs = json_object(), *ev = json_array(), *secs = NULL;
	char hex[97];

	if (!j || !regs || !ev) {
		json_decref(j);
		json_decref(regs);
		json_decref(ev);
		return NULL;
	}
	if (m->have_mrtd) {
		hex_encode(hex, m->mrtd, 48);
		json_object_set_new(j, "MRTD", json_string(hex));
		json_object_set_new(
		    j, "page_order",
		    json_string(m->order == TDVF_ORDER_TWO_PASS ? "two-pass" : "per-page"));
		secs = json_array();
		for (size_t i = 0; secs && i < m->tdvf.n; i++) {
			const struct tdvf_section *s = &m->tdvf.sec[i];
			json_array_append_new(
			    secs, json_pack("{s:s,s:I,s:I,s:I,s:I,s:b,s:b}", "type",
			                    tdvf_type_name(s->type), "gpa", (json_int_t)s->gpa,
			                    "memory_size", (json_int_t)s->mem_size, "data_offset",
			                    (json_int_t)s->data_offset, "raw_size",
			                    (json_int_t)s->raw_size, "mr_extend",
			                    (s->attributes & TDVF_ATTR_MR_EXTEND) != 0, "page_aug",
			                    (s->attributes & TDVF_ATTR_PAGE_AUG) != 0));
		}
		json_object_set_new(j, "tdvf_sections", secs ? secs : json_null());
	}
	for (int i = 0; i < 4; i++) {
		char name[8];
		snprintf(name, sizeof(name), "RTMR%d", i);
		if (!m->rtmr_src[i])
			continue;
		hex_encode(hex, m->rtmr[i], 48);
		json_object_set_new(regs, name,
		                    json_pack("{s:s,s:s}", "value", hex, "source", m->rtmr_src[i]));
	}
	json_object_set_new(j, "rtmr", regs);
	for (int k = 0; k < 2; k++) {
		json_t *part = events_json(k ? &m->logged : &m->computed);
		json_array_extend(ev, part); /* copies the references: part is ours to drop */
		json_decref(part);
	}
	json_object_set_new(j, "events", ev);
	json_object_set_new(j, "not_computed", missing(m));
	return j;
}

static void print_events(const struct tdx_mlog *l, const char *title)
{
	if (!l->n)
		return;
	printf("\n%s:\n", title);
	for (size_t i = 0; i < l->n; i++) {
		const struct tdx_mevent *e = &l->ev[i];
		const char *tn = tdx_event_type_name(e->type);
		char d[97];
		hex_encode(d, e->digest, 48);
		if (tn)
			printf("  RTMR%d %-32s %s\n", e->rtmr, tn, e->what);
		else
			printf("  RTMR%d type 0x%08x%-16s %s\n", e->rtmr, e->type, "", e->what);
		printf("        %s  (%s)\n", d, src_name[e->src]);
	}
}

static void print_text(const struct measure *m)
{
	json_t *miss = missing(m);
	char hex[97];

	if (m->have_mrtd) {
		printf("Firmware %s: TDX metadata at 0x%zx, %zu sections\n", m->firmware,
		       m->tdvf.meta_offset, m->tdvf.n);
		for (size_t i = 0; i < m->tdvf.n; i++) {
			const struct tdvf_section *s = &m->tdvf.sec[i];
			printf("  %-8s GPA 0x%08llx  0x%08llx bytes  image 0x%08x+0x%08x%s%s\n",
			       tdvf_type_name(s->type), (unsigned long long)s->gpa,
			       (unsigned long long)s->mem_size, s->data_offset, s->raw_size,
			       s->attributes & TDVF_ATTR_MR_EXTEND ? "  MR.EXTEND" : "",
			       s->attributes & TDVF_ATTR_PAGE_AUG ? "  PAGE.AUG" : "");
		}
	}
	print_events(&m->computed, "Events computed from the inputs");
	print_events(&m->logged, "Events of the CCEL");
	printf("\nMeasurements:\n");
	if (m->have_mrtd) {
		hex_encode(hex, m->mrtd, 48);
		printf("  MRTD   %s  (%s page order)\n", hex,
		       m->order == TDVF_ORDER_TWO_PASS ? "two-pass" : "per-page");
	}
	for (int i = 0; i < 4; i++) {
		if (!m->rtmr_src[i])
			continue;
		hex_encode(hex, m->rtmr[i], 48);
		printf("  RTMR%d  %s  (%s)\n", i, hex, m->rtmr_src[i]);
	}
	if (miss && json_array_size(miss)) {
		size_t i;
		json_t *v;
		printf("\nNot computed:\n");
		json_array_foreach (miss, i, v)
			printf("  %s\n", json_string_value(v));
	}
	json_decref(miss);
}

static int write_policy(const struct measure *m, const char *tcb)
{
	json_t *pol = NULL, *meas = json_object(), *st = json_array();
	char *copy = strdup(tcb), *save = NULL, *text = NULL, hex[97];
	int rc = 0;

	ENSURE_GOTO(meas && st && copy, ERR_NOMEM, "out of memory");
	for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
		enum tdx_tcb_status s;
		GUARD_GOTO(tdx_tcb_status_parse(t, &s));
		json_array_append_new(st, json_string(tdx_tcb_status_name(s)));
	}
	ENSURE_GOTO(json_array_size(st), ERR_INVAL, "--tcb-status: no status given");
	if (m->have_mrtd) {
		hex_encode(hex, m->mrtd, 48);
		json_object_set_new(meas, "MRTD", json_string(hex));
	}
	for (int i = 0; i < 3; i++) {
		char name[8];
		if (!(m->known & (1u << i)))
			continue;
		snprintf(name, sizeof(name), "RTMR%d", i);
		hex_encode(hex, m->rtmr[i], 48);
		json_object_set_new(meas, name, json_string(hex));
	}
	ENSURE_GOTO(json_object_size(meas), ERR_INVAL,
	            "no measurement known to write a policy with (give --firmware, --kernel, "
	            "--ccel ...)");
	pol = json_pack("{s:O,s:b,s:b,s:O}", "tcb_status", st, "allow_debug", 0,
	                "require_sept_ve_disable", 1, "measurements", meas);
	ENSURE_GOTO(pol, ERR_NOMEM, "out of memory");
	GUARD_GOTO(tdx_policy_text(pol, &text));
	GUARD_GOTO(file_write(m->out, text, strlen(text), 0644));
	/* What the policy lets through is as important as what it pins. */
	if (!m->have_mrtd || (m->known & 7u) != 7u)
		fprintf(stderr,
		        "tdexec: warning: the policy does not pin%s%s%s%s: any value passes\n",
		        m->have_mrtd ? "" : " MRTD", m->known & 1u ? "" : " RTMR0",
		        m->known & 2u ? "" : " RTMR1", m->known & 4u ? "" : " RTMR2");
out:
	free(text);
	free(copy);
	json_decref(pol);
	json_decref(meas);
	json_decref(st);
	return rc;
}

int cmd_measure(int argc, char **argv)
{
	struct measure m;
	int c, rc = 0;

	memset(&m, 0, sizeof(m));
	m.tcb = "UpToDate";
	tdx_mlog_init(&m.computed);
	tdx_mlog_init(&m.logged);
	while ((c = cli_getopt(argc, argv, "measure", "ho:", cli_measure_opts)) != -1) {
		switch (c) {
		case 'f': m.firmware = optarg; break;
		case 'p':
			if (strcmp(optarg, "per-page") == 0)
				m.order = TDVF_ORDER_PER_PAGE;
			else if (strcmp(optarg, "two-pass") == 0)
				m.order = TDVF_ORDER_TWO_PASS;
			else
				return cli_usage("measure",
				                 "--page-order: per-page or two-pass, not '%s'",
				                 optarg);
			break;
		case 'k': m.kernel = optarg; break;
		case 'c': m.cmdline = optarg; break;
		case 'i': m.initrd = optarg; break;
		case 'e': m.ccel = optarg; break;
		case 'o': m.out = optarg; break;
		case 't': m.tcb = optarg; break;
		case 'j': break;
		case 'h': fputs(measure_usage, stdout); return 0;
		default: return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return cli_usage("measure", "unexpected argument '%s'", argv[optind]);
	if (!m.firmware && !m.kernel && !m.cmdline && !m.initrd && !m.ccel)
		return cli_usage("measure", "nothing to measure: give --firmware, --kernel, "
		                            "--cmdline, --initrd or --ccel");
	if (m.out && strcmp(m.out, "-") == 0 && cli_json)
		return cli_usage("measure", "-o - and --json would both print on stdout");
	if (m.initrd && !m.cmdline)
		return cli_usage("measure", "--initrd without --cmdline: OVMF measures both into "
		                            "RTMR2 (give --cmdline '' for an empty one)");
	GUARD_GOTO(run(&m));
	if (m.out)
		GUARD_GOTO(write_policy(&m, m.tcb));
	if (cli_json) {
		json_t *j = result_json(&m);
		ENSURE_GOTO(j, ERR_NOMEM, "out of memory");
		if (m.out)
			json_object_set_new(j, "policy", json_string(m.out));
		rc = json_print(j, 1);
		json_decref(j);
		ENSURE_GOTO(rc == 0, ERR_IO, "measure: cannot write to stdout");
	} else if (!m.out || strcmp(m.out, "-") != 0) {
		print_text(&m);
		if (m.out)
			printf("\nPolicy written to %s\n", m.out);
	}
out:
	free(m.fw);
	free(m.kern);
	free(m.ird);
	free(m.log);
	tdx_mlog_free(&m.computed);
	tdx_mlog_free(&m.logged);
	return rc < 0 ? cli_fail() : 0;
}
