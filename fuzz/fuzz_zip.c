/* libFuzzer: a zip archive's central directory, and entry names. */
#include "util/zip.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zip_entry *e = NULL;
	size_t n = 0;
	if (zip_list(data, size, 1000, &e, &n) == 0)
		for (size_t i = 0; i < n; i++)
			(void)zip_name_safe(e[i].name);
	free(e);
	return 0;
}
