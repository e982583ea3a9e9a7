/* fake_qgs — the test suite's Quote Generation Service on a unix socket.
 * Usage: fake_qgs --listen PATH --sim-dir DIR [--mode MODE] [--error-code N]
 * Quotes are signed by the simulated TD in DIR: a test QGS, never a real one. */
#include "fake_qgs.h"

#include "util/err.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"listen", required_argument, NULL, 'l'},
	    {"sim-dir", required_argument, NULL, 'd'},
	    {"mode", required_argument, NULL, 'm'},
	    {"error-code", required_argument, NULL, 'e'},
	    {NULL, 0, NULL, 0},
	};
	struct fake_qgs f = {-1, NULL, FQ_OK, 0, 1, 0, 0};
	const char *listen_path = NULL, *dir = NULL;
	int c, m;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'l': listen_path = optarg; break;
		case 'd': dir = optarg; break;
		case 'm':
			if ((m = fake_qgs_mode_parse(optarg)) < 0) {
				fprintf(stderr, "fake_qgs: unknown mode '%s'\n", optarg);
				return 1;
			}
			f.mode = (enum fake_qgs_mode)m;
			break;
		case 'e': f.error_code = (uint32_t)strtoul(optarg, NULL, 0); break;
		default: return 1;
		}
	}
	if (!listen_path || !dir) {
		fprintf(stderr, "usage: fake_qgs --listen PATH --sim-dir DIR [--mode MODE] "
		                "[--error-code N]\n");
		return 1;
	}
	if (tdx_sim_load(dir, NULL, &f.sim) < 0 || fake_qgs_listen(&f, listen_path) < 0) {
		fprintf(stderr, "fake_qgs: %s\n", err_msg());
		return 1;
	}
	fprintf(stderr, "fake-qgs: listening on unix:%s (simulated TD %s)\n", listen_path, dir);
	fake_qgs_run(&f);
	tdx_sim_free(f.sim);
	return 0;
}
