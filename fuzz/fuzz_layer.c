/* libFuzzer: the input is an image layer (tar, gzip or zstd), applied to a
 * fresh rootfs under a temporary directory, next to a sentinel directory
 * that must stay as it was.  Odd-sized inputs resolve with the O_NOFOLLOW
 * walk, even-sized ones with openat2. */
#include "../services/worker/layer.h"
#include "util/err.h"
#include "util/file.h"
#include "util/log.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char base[64];
static int basefd = -1;

static void cleanup(void)
{
	if (basefd >= 0) {
		/* at exit: what cannot be removed stays in /dev/shm or /tmp */
		IGNORE_STATUS(file_remove_at(basefd, "root"));
		IGNORE_STATUS(file_remove_at(basefd, "outside"));
		close(basefd);
		rmdir(base);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(base, sizeof(base), "%s", "/dev/shm/tdexec-fuzz-layer-XXXXXX");
	if (!mkdtemp(base)) {
		snprintf(base, sizeof(base), "%s", "/tmp/tdexec-fuzz-layer-XXXXXX");
		if (!mkdtemp(base))
			abort();
	}
	basefd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (basefd < 0 || mkdirat(basefd, "outside", 0755) != 0)
		abort();
	atexit(cleanup);
	log_set_level(LOG_OFF);
	return 0;
}

/* The base holds "root" and "outside"; "outside" stays empty. */
static void check_outside(void)
{
	DIR *d;
	struct dirent *e;
	int n = 0, fd = openat(basefd, "outside", O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
	if (fd < 0 || !(d = fdopendir(fd)))
		abort();
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			abort(); /* something was written outside the rootfs */
	closedir(d);
	fd = openat(basefd, ".", O_RDONLY | O_DIRECTORY);
	if (fd < 0 || !(d = fdopendir(fd)))
		abort();
	while ((e = readdir(d)))
		n++;
	closedir(d);
	if (n > 4) /* ".", "..", "root", "outside" */
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct layer_opts o = {
	    .label = "layer 1", .id_count = 65536, .keep_owner = 1, .force_walk = (int)(size & 1)};
	struct layer_usage u = {0};
	struct layer_src src = {.fd = -1, .mem = data, .len = size};
	int rootfd;

	layer_limits_default(&o.lim);
	o.lim.max_total = 64u << 20;
	o.lim.max_entries = 20000;
	if (mkdirat(basefd, "root", 0755) != 0)
		abort();
	rootfd = openat(basefd, "root", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (rootfd < 0)
		abort();
	(void)layer_apply(rootfd, &src, NULL, &o, &u);
	close(rootfd);
	check_outside();
	if (file_remove_at(basefd, "root") != 0) {
		fprintf(stderr, "cleanup: %s\n", err_msg());
		abort();
	}
	return 0;
}
