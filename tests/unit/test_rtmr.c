/* RTMR extends on a real TD, against a fake tree: the measurement files are
 * real files in a temporary directory whose writes extend as the kernel
 * does (SHA-384(old || 48 bytes), anything but 48 bytes refused with
 * EINVAL); /dev/tdx_guest answers the extend and GET_REPORT0 ioctls from
 * registers held by the test.  The runtime log written beside the extends
 * replays to the registers, a crash between the two is repaired, and a
 * CCEL (Google's COS 113 TD) replays with a runtime log against a quote. */
#include "testutil.h"

#include "tdx/eventlog.h"
#include "tdx/policy.h"
#include "tdx/provider.h"
#include "tdx/quote.h"
#include "tdx/rtmr.h"
#include "tdx/sim.h"
#include "util/err.h"
#include "util/file.h"

#include <errno.h>
#include <limits.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

/* include/uapi/linux/tdx-guest.h, as the kernel defines it */
struct extend_req {
	uint8_t data[48];
	uint8_t index;
};
struct report_req {
	uint8_t reportdata[64];
	uint8_t tdreport[1024];
};

struct fake {
	int writes;       /* extends that reached the register */
	int corrupt;      /* a write stores SHA-384(digest) only: a broken interface */
	int old_ioctl;    /* the _IOW encoding is unknown (ENOTTY), _IOR works */
	int no_ioctl;     /* neither encoding is known */
	uint8_t r[4][48]; /* ioctl registers */
};

static int f_write(void *ctx, const char *path, const uint8_t *buf, size_t len)
{
	struct fake *f = ctx;
	uint8_t cat[96], *old;
	size_t n;
	if (len != 48)
		return -EINVAL;
	if (file_read(path, 64, &old, &n) < 0 || n != 48)
		return -EIO;
	memcpy(cat, old, 48);
	memcpy(cat + 48, buf, 48);
	free(old);
	if (f->corrupt)
		SHA384(buf, 48, cat);
	else
		SHA384(cat, 96, cat);
	f->writes++;
	return file_write(path, cat, 48, 0644) < 0 ? -EIO : 0;
}

static int f_ioctl(void *ctx, const char *dev, unsigned long req, void *arg)
{
	struct fake *f = ctx;
	(void)dev;
	if (req == _IOWR('T', 1, struct report_req)) {
		struct report_req *r = arg;
		memset(r->tdreport, 0, sizeof(r->tdreport));
		memcpy(r->tdreport + 720, f->r, sizeof(f->r)); /* TDINFO.RTMR[4] */
		return 0;
	}
	if ((req == _IOW('T', 3, struct extend_req) && !f->old_ioctl && !f->no_ioctl) ||
	    (req == _IOR('T', 3, struct extend_req) && f->old_ioctl)) {
		struct extend_req *e = arg;
		uint8_t cat[96];
		if (e->index > 3)
			return -EINVAL;
		memcpy(cat, f->r[e->index], 48);
		memcpy(cat + 48, e->data, 48);
		SHA384(cat, 96, f->r[e->index]);
		f->writes++;
		return 0;
	}
	return -ENOTTY;
}

static struct tdx_rtmr_ops ops_for(struct fake *f)
{
	struct tdx_rtmr_ops o = tdx_rtmr_sys_ops;
	o.write = f_write;
	o.ioctl = f_ioctl;
	o.ctx = f;
	return o;
}

/* A fake TD root: ROOT/sys/class/misc/tdx_guest/measurements/rtmrN:sha384
 * (all zero) when sysfs, ROOT/dev/tdx_guest when dev. */
static char *fake_root(int sysfs, int dev)
{
	char *root = td_tmpdir(), path[PATH_MAX];
	static const uint8_t zero[48];
	if (sysfs) {
		snprintf(path, sizeof(path), "%s%s", root, TDX_RTMR_SYSFS_DIR);
		assert_int_equal(dir_create(path, 0755), 0);
		for (int i = 0; i < 4; i++) {
			snprintf(path, sizeof(path), "%s%s/rtmr%d:sha384", root, TDX_RTMR_SYSFS_DIR,
			         i);
			assert_int_equal(file_write(path, zero, 48, 0644), 0);
		}
	}
	if (dev) {
		snprintf(path, sizeof(path), "%s/dev", root);
		assert_int_equal(dir_create(path, 0755), 0);
		snprintf(path, sizeof(path), "%s%s", root, TDX_RTMR_DEVICE);
		assert_int_equal(file_write(path, "", 0, 0600), 0);
	}
	return root;
}

static void extend_of(uint8_t reg[48], const uint8_t d[48])
{
	uint8_t cat[96];
	memcpy(cat, reg, 48);
	memcpy(cat + 48, d, 48);
	SHA384(cat, 96, reg);
}

static void sysfs_extend_is_sha384_of_old_and_digest_and_read_back(void **state)
{
	struct fake f = {0};
	struct tdx_rtmr_ops o = ops_for(&f);
	char *root = fake_root(1, 1);
	struct tdx_rtmr t = {root, &o};
	enum tdx_rtmr_iface kind;
	uint8_t d1[48], d2[48], want[48] = {0}, got[48], now[48];
	(void)state;

	memset(d1, 0x11, 48);
	memset(d2, 0x22, 48);
	assert_int_equal(tdx_rtmr_probe(&t, 3, &kind), 0);
	assert_int_equal(kind, TDX_RTMR_SYSFS); /* the files win over the ioctl */
	assert_int_equal(tdx_rtmr_extend(&t, 3, d1, 48, got), 0);
	extend_of(want, d1);
	assert_memory_equal(got, want, 48);
	assert_int_equal(tdx_rtmr_extend(&t, 3, d2, 48, got), 0);
	extend_of(want, d2);
	assert_memory_equal(got, want, 48);
	assert_int_equal(tdx_rtmr_read(&t, 3, now), 0);
	assert_memory_equal(now, want, 48);
	assert_int_equal(tdx_rtmr_extend(&t, 2, d1, 48, NULL), 0);
	assert_int_equal(f.writes, 3);
	td_rmtree(root);
	free(root);
}

static void a_read_back_that_is_not_the_extend_is_refused(void **state)
{
	struct fake f = {.corrupt = 1};
	struct tdx_rtmr_ops o = ops_for(&f);
	char *root = fake_root(1, 0);
	struct tdx_rtmr t = {root, &o};
	uint8_t d[48];
	(void)state;

	memset(d, 0x33, 48);
	assert_int_equal(tdx_rtmr_extend(&t, 3, d, 48, NULL), ERR_VERIFY);
	assert_non_null(strstr(err_msg(), "after the extend"));
	td_rmtree(root);
	free(root);
}

static void a_missing_interface_is_named(void **state)
{
	struct fake f = {0};
	struct tdx_rtmr_ops o = ops_for(&f);
	char *root = fake_root(0, 0);
	struct tdx_rtmr t = {root, &o};
	uint8_t d[48] = {0};
	char log[PATH_MAX];
	struct stat st;
	(void)state;

	assert_int_equal(tdx_rtmr_extend(&t, 3, d, 48, NULL), ERR_NOTFOUND);
	assert_non_null(strstr(err_msg(), "rtmr3:sha384"));
	assert_non_null(strstr(err_msg(), "/dev/tdx_guest"));
	/* nor is a log line written for an extend that can not be made */
	snprintf(log, sizeof(log), "%s/runtime.jsonl", root);
	assert_int_equal(tdx_rtmr_log_extend(&t, log, 3, d, "x"), ERR_NOTFOUND);
	assert_int_equal(stat(log, &st), 0);
	assert_int_equal(st.st_size, 0);
	/* the provider's extend on this machine, which is no TD */
	struct tdx_provider p = {.kind = TDX_PROVIDER_TSM, .runtime_log = log};
	if (stat(TDX_RTMR_SYSFS_DIR, &st) != 0 && stat(TDX_RTMR_DEVICE, &st) != 0) {
		assert_int_equal(tdx_provider_extend(&p, 3, d, "x"), ERR_NOTFOUND);
		assert_non_null(strstr(err_msg(), "no RTMR interface"));
	}
	td_rmtree(root);
	free(root);
}

static void wrong_digest_length_and_firmware_registers_are_refused(void **state)
{
	struct fake f = {0};
	struct tdx_rtmr_ops o = ops_for(&f);
	char *root = fake_root(1, 0);
	struct tdx_rtmr t = {root, &o};
	uint8_t d[64] = {0};
	(void)state;

	assert_int_equal(tdx_rtmr_extend(&t, 3, d, 32, NULL), ERR_INVAL);
	assert_non_null(strstr(err_msg(), "48 bytes, not 32"));
	assert_int_equal(tdx_rtmr_extend(&t, 3, d, 64, NULL), ERR_INVAL);
	assert_int_equal(tdx_rtmr_extend(&t, 3, NULL, 48, NULL), ERR_INVAL);
	assert_int_equal(tdx_rtmr_extend(&t, 0, d, 48, NULL), ERR_INVAL);
	assert_int_equal(tdx_rtmr_extend(&t, 1, d, 48, NULL), ERR_INVAL);
	assert_int_equal(tdx_rtmr_extend(&t, 4, d, 48, NULL), ERR_INVAL);
	assert_int_equal(f.writes, 0);
	td_rmtree(root);
	free(root);
}

static void ioctl_interface_extends_and_reads_the_tdreport(void **state)
{
	struct fake f = {.old_ioctl = 1};
	struct tdx_rtmr_ops o = ops_for(&f);
	char *root = fake_root(0, 1);
	struct tdx_rtmr t = {root, &o};
	enum tdx_rtmr_iface kind;
	uint8_t d[48], want[48] = {0}, got[48];
	(void)state;

	memset(d, 0x44, 48);
	memset(f.r[0], 0xaa, 48); /* RTMR0, as the firmware left it */
	assert_int_equal(tdx_rtmr_probe(&t, 3, &kind), 0);
	assert_int_equal(kind, TDX_RTMR_IOCTL);
	assert_int_equal(tdx_rtmr_extend(&t, 3, d, 48, got), 0); /* via _IOR */
	extend_of(want, d);
	assert_memory_equal(got, want, 48);
	assert_memory_equal(f.r[3], want, 48);
	assert_int_equal(tdx_rtmr_read(&t, 0, got), 0);
	assert_memory_equal(got, f.r[0], 48);
	f.old_ioctl = 0; /* _IOW: later kernels */
	assert_int_equal(tdx_rtmr_extend(&t, 3, d, 48, got), 0);
	assert_int_equal(f.writes, 2);
	f.no_ioctl = 1;
	assert_int_equal(tdx_rtmr_extend(&t, 3, d, 48, got), ERR_UNSUPPORTED);
	assert_non_null(strstr(err_msg(), "TDX_CMD_EXTEND_RTMR"));
	td_rmtree(root);
	free(root);
}

/* The log replays to the register file's value. */
static void assert_log_replays(const char *log, const char *root, int idx)
{
	struct tdx_rtmr_replay r;
	char path[PATH_MAX];
	uint8_t *reg;
	size_t n;
	tdx_replay_init(&r);
	assert_int_equal(tdx_replay_file(&r, log), 0);
	snprintf(path, sizeof(path), "%s%s/rtmr%d:sha384", root, TDX_RTMR_SYSFS_DIR, idx);
	assert_int_equal(file_read(path, 64, &reg, &n), 0);
	assert_true(r.touched & (1u << idx));
	assert_memory_equal(r.rtmr[idx], reg, 48);
	free(reg);
}

static void append(const char *path, const char *text)
{
	FILE *fp = fopen(path, "a");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void runtime_log_replays_and_a_crash_between_line_and_extend_is_repaired(void **state)
{
	struct fake f = {0};
	struct tdx_rtmr_ops o = ops_for(&f);
	char *root = fake_root(1, 0), log[PATH_MAX], line[300];
	struct tdx_rtmr t = {root, &o};
	uint8_t d[48];
	char *text;
	size_t n;
	(void)state;

	snprintf(log, sizeof(log), "%s/runtime.jsonl", root);
	for (int i = 0; i < 3; i++) {
		memset(d, 0x50 + i, 48);
		assert_int_equal(tdx_rtmr_log_extend(&t, log, 3, d, "tdexec app"), 0);
	}
	assert_log_replays(log, root, 3);
	assert_int_equal(f.writes, 3);

	/* the line written and fsync'd, then a crash before the extend */
	snprintf(line, sizeof(line), "{\"rtmr\":3,\"digest\":\"%096d\",\"event\":\"lost\"}\n", 7);
	append(log, line);
	memset(d, 0x60, 48);
	assert_int_equal(tdx_rtmr_log_extend(&t, log, 3, d, "after the crash"), 0);
	assert_log_replays(log, root, 3);
	assert_int_equal(file_read(log, 1 << 20, (uint8_t **)&text, &n), 0);
	assert_null(strstr(text, "lost"));
	free(text);

	/* a crash in the middle of writing the line */
	append(log, "{\"rtmr\":3,\"dig");
	assert_int_equal(tdx_rtmr_log_extend(&t, log, 3, d, "after a torn line"), 0);
	assert_log_replays(log, root, 3);
	assert_int_equal(f.writes, 5);
	td_rmtree(root);
	free(root);
}

static void an_extend_the_log_does_not_record_is_refused(void **state)
{
	struct fake f = {0};
	struct tdx_rtmr_ops o = ops_for(&f);
	char *root = fake_root(1, 0), log[PATH_MAX];
	struct tdx_rtmr t = {root, &o};
	uint8_t d[48];
	(void)state;

	snprintf(log, sizeof(log), "%s/runtime.jsonl", root);
	memset(d, 0x70, 48);
	assert_int_equal(tdx_rtmr_log_extend(&t, log, 3, d, "logged"), 0);
	assert_int_equal(tdx_rtmr_extend(&t, 3, d, 48, NULL), 0); /* behind the log's back */
	assert_int_equal(tdx_rtmr_log_extend(&t, log, 3, d, "refused"), ERR_VERIFY);
	assert_non_null(strstr(err_msg(), "does not record"));
	assert_int_equal(f.writes, 2);
	td_rmtree(root);
	free(root);
}

static void a_log_from_an_earlier_boot_moves_aside(void **state)
{
	struct fake f = {0};
	struct tdx_rtmr_ops o = ops_for(&f);
	char *root = fake_root(1, 0), log[PATH_MAX], prev[PATH_MAX + 8], path[PATH_MAX];
	struct tdx_rtmr t = {root, &o};
	static const uint8_t zero[48];
	uint8_t d[48];
	struct stat st;
	(void)state;

	snprintf(log, sizeof(log), "%s/runtime.jsonl", root);
	memset(d, 0x71, 48);
	assert_int_equal(tdx_rtmr_log_extend(&t, log, 3, d, "first boot"), 0);
	assert_int_equal(tdx_rtmr_log_extend(&t, log, 3, d, "first boot, again"), 0);
	/* (one line alone and a zero register would read as a line never
	 * extended, and be cut: as consistent an outcome) */
	/* the TD reboots: its registers start at zero, the log file stayed */
	snprintf(path, sizeof(path), "%s%s/rtmr3:sha384", root, TDX_RTMR_SYSFS_DIR);
	assert_int_equal(file_write(path, zero, 48, 0644), 0);
	assert_int_equal(tdx_rtmr_log_extend(&t, log, 3, d, "second boot"), 0);
	assert_log_replays(log, root, 3);
	snprintf(prev, sizeof(prev), "%s.prev", log);
	assert_int_equal(stat(prev, &st), 0);
	assert_true(st.st_size > 0);
	td_rmtree(root);
	free(root);
}

/* The CCEL of a real TD (RTMR0-2) with a runtime log (RTMR3) against a
 * quote of a simulated TD given that TD's RTMR0-2: the policy replays both
 * and checks every RTMR; a runtime log that lies is caught; a policy that
 * requires RTMR3's log refuses a quote without one. */
static void ccel_and_runtime_log_replay_together_under_a_policy(void **state)
{
	char *dir = td_tmpdir(), td[PATH_MAX], ccel[PATH_MAX], rt[PATH_MAX], *rtext;
	struct tdx_sim_opts so = {0};
	struct tdx_td_body b;
	struct tdx_quote *cos, *q;
	struct tdx_sim *s;
	struct tdx_policy *p;
	struct tdx_verdict v;
	uint8_t rd[64] = {0}, d[48], *raw, *qb;
	size_t qlen, rlen, clen;
	json_t *m;
	(void)state;

	raw = td_read("tdx/google-go-tdx-guest/ccel/cos-113-tdx-quote.dat", &qlen);
	assert_int_equal(tdx_quote_parse(raw, qlen, &cos), 0);
	free(raw);
	snprintf(ccel, sizeof(ccel), "%s/tdx/google-go-tdx-guest/ccel/ccel_data.dat", TEST_DATA);
	assert_int_equal(tdx_sim_init(dir, &so), 0);
	snprintf(td, sizeof(td), "%s/td.json", dir);
	assert_int_equal(tdx_sim_measurements_load(td, &b), 0);
	memcpy(b.rtmr, cos->body.rtmr, 3 * 48); /* what the CCEL's firmware measured */
	memset(b.rtmr[3], 0, 48);
	assert_int_equal(tdx_sim_measurements_save(td, &b), 0);
	for (int i = 0; i < 2; i++) {
		memset(d, 0x80 + i, 48);
		assert_int_equal(tdx_sim_extend(dir, 3, d, "tdexec app"), 0);
	}
	assert_int_equal(tdx_sim_load(dir, NULL, &s), 0);
	assert_int_equal(tdx_sim_quote(s, rd, &qb, &qlen), 0);
	tdx_sim_free(s);
	assert_int_equal(tdx_quote_parse(qb, qlen, &q), 0);
	snprintf(rt, sizeof(rt), "%s/event_log.jsonl", dir);
	assert_int_equal(file_read(rt, 1 << 20, (uint8_t **)&rtext, &rlen), 0);

	memset(&v, 0, sizeof(v));
	v.status = TDX_TCB_UP_TO_DATE;
	const char *pol = "{\"require_sept_ve_disable\":false,\"require_rtmr3_log\":true}";
	assert_int_equal(tdx_policy_from_json(pol, strlen(pol), NULL, &p), 0);
	const char *files[] = {ccel};
	/* both logs: RTMR0-2 from the CCEL, RTMR3 from the runtime log */
	m = json_array();
	assert_int_equal(tdx_policy_check_logs(p, q, &v, files, 1, rtext, rlen, m), 0);
	assert_int_equal(json_array_size(m), 0);
	json_decref(m);
	const char *files2[] = {ccel, rt};
	m = json_array();
	assert_int_equal(tdx_policy_check_logs(p, q, &v, files2, 2, NULL, 0, m), 0);
	json_decref(m);
	assert_int_equal(tdx_policy_check_runtime_log(p, q, rtext, rlen), 0);
	/* no RTMR3 log: refused under require_rtmr3_log */
	m = json_array();
	assert_int_equal(tdx_policy_check_logs(p, q, &v, files, 1, NULL, 0, m), ERR_VERIFY);
	assert_non_null(strstr(json_string_value(json_array_get(m, 0)), "require_rtmr3_log"));
	json_decref(m);
	assert_int_equal(tdx_policy_check_runtime_log(p, q, NULL, 0), ERR_VERIFY);
	/* without the requirement, the quote alone passes; the gate's check
	 * (tdx_policy_check) never asks for it */
	m = json_array();
	assert_int_equal(tdx_policy_check(p, q, &v, m), 0);
	json_decref(m);
	/* a runtime log with one more line than was extended */
	char *lie = malloc(rlen + 200);
	clen = (size_t)snprintf(lie, rlen + 200, "%s{\"rtmr\":3,\"digest\":\"%096d\"}\n", rtext, 1);
	m = json_array();
	assert_int_equal(tdx_policy_check_logs(p, q, &v, files, 1, lie, clen, m), ERR_VERIFY);
	assert_non_null(strstr(json_string_value(json_array_get(m, 0)), "RTMR3"));
	json_decref(m);
	assert_int_equal(tdx_policy_check_runtime_log(p, q, lie, clen), ERR_VERIFY);
	/* a runtime log that touches RTMR2 too: RTMR2 is checked, not only 3 */
	clen = (size_t)snprintf(lie, rlen + 200, "%s{\"rtmr\":2,\"digest\":\"%096d\"}\n", rtext, 2);
	assert_int_equal(tdx_policy_check_runtime_log(p, q, lie, clen), ERR_VERIFY);
	assert_non_null(strstr(err_msg(), "RTMR2"));
	free(lie);
	tdx_policy_free(p);

	free(rtext);
	free(qb);
	tdx_quote_free(q);
	tdx_quote_free(cos);
	td_rmtree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(sysfs_extend_is_sha384_of_old_and_digest_and_read_back),
	    cmocka_unit_test(a_read_back_that_is_not_the_extend_is_refused),
	    cmocka_unit_test(a_missing_interface_is_named),
	    cmocka_unit_test(wrong_digest_length_and_firmware_registers_are_refused),
	    cmocka_unit_test(ioctl_interface_extends_and_reads_the_tdreport),
	    cmocka_unit_test(runtime_log_replays_and_a_crash_between_line_and_extend_is_repaired),
	    cmocka_unit_test(an_extend_the_log_does_not_record_is_refused),
	    cmocka_unit_test(a_log_from_an_earlier_boot_moves_aside),
	    cmocka_unit_test(ccel_and_runtime_log_replay_together_under_a_policy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
