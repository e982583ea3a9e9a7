/* zip.c — see zip.h.  Every offset is checked against the buffer before it
 * is read; the cursor never moves past what was checked. */
#include "zip.h"

#include "err.h"

#include <stdlib.h>
#include <string.h>

#define EOCD_SIG    0x06054b50u
#define CDIR_SIG    0x02014b50u
#define EOCD_LEN    22
#define CDIR_LEN    46
#define COMMENT_MAX 0xffffu

struct cursor {
	const uint8_t *p;
	size_t left;
};

static int take(struct cursor *c, size_t n, const uint8_t **out)
{
	ENSURE(c->left >= n, ERR_INVAL, "zip: record truncated");
	*out = c->p;
	c->p += n;
	c->left -= n;
	return 0;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The end of central directory record: the last one whose comment ends the
 * archive exactly. */
static int find_eocd(const uint8_t *buf, size_t len, size_t *at)
{
	ENSURE(len >= EOCD_LEN, ERR_INVAL, "zip: %zu bytes, too short for an archive", len);
	size_t lowest = len - EOCD_LEN > COMMENT_MAX ? len - EOCD_LEN - COMMENT_MAX : 0;
	for (size_t i = len - EOCD_LEN + 1; i-- > lowest;)
		if (le32(buf + i) == EOCD_SIG && i + EOCD_LEN + le16(buf + i + 20) == len) {
			*at = i;
			return 0;
		}
	return err_set(ERR_INVAL, "zip: no end of central directory record");
}

int zip_list(const uint8_t *buf, size_t len, size_t max_entries, struct zip_entry **out, size_t *n)
{
	struct zip_entry *e = NULL;
	struct cursor c;
	const uint8_t *r;
	size_t eocd = 0, count, cd_off, cd_size;
	int rc = 0;

	*out = NULL;
	*n = 0;
	GUARD(find_eocd(buf, len, &eocd));
	r = buf + eocd;
	ENSURE(le16(r + 4) == 0 && le16(r + 6) == 0 && le16(r + 8) == le16(r + 10), ERR_UNSUPPORTED,
	       "zip: multi-disk archives are not supported");
	count = le16(r + 10);
	cd_size = le32(r + 12);
	cd_off = le32(r + 16);
	ENSURE(count != 0xffff && cd_size != 0xffffffffu && cd_off != 0xffffffffu, ERR_UNSUPPORTED,
	       "zip: ZIP64 archives are not supported");
	ENSURE(cd_off <= eocd && cd_size <= eocd - cd_off, ERR_INVAL,
	       "zip: central directory (offset %zu, %zu bytes) outside the archive", cd_off,
	       cd_size);
	ENSURE(count <= max_entries, ERR_TOOBIG, "zip: %zu entries, at most %zu", count,
	       max_entries);
	if (count) {
		e = calloc(count, sizeof(*e));
		ENSURE(e, ERR_NOMEM, "out of memory");
	}
	c.p = buf + cd_off;
	c.left = cd_size;
	for (size_t i = 0; i < count; i++) {
		const uint8_t *h = NULL, *name = NULL, *skip = NULL;
		size_t name_len, extra_len, comment_len;
		GUARD_GOTO(take(&c, CDIR_LEN, &h));
		ENSURE_GOTO(le32(h) == CDIR_SIG, ERR_INVAL, "zip: entry %zu: bad signature", i);
		name_len = le16(h + 28);
		extra_len = le16(h + 30);
		comment_len = le16(h + 32);
		ENSURE_GOTO(name_len > 0 && name_len <= ZIP_NAME_MAX, ERR_INVAL,
		            "zip: entry %zu: name of %zu bytes", i, name_len);
		GUARD_GOTO(take(&c, name_len, &name));
		GUARD_GOTO(take(&c, extra_len, &skip));
		GUARD_GOTO(take(&c, comment_len, &skip));
		ENSURE_GOTO(!memchr(name, 0, name_len), ERR_INVAL,
		            "zip: entry %zu: NUL in its name", i);
		ENSURE_GOTO(le32(h + 20) != 0xffffffffu && le32(h + 24) != 0xffffffffu &&
		                le32(h + 42) != 0xffffffffu,
		            ERR_UNSUPPORTED, "zip: ZIP64 entries are not supported");
		memcpy(e[i].name, name, name_len);
		e[i].name[name_len] = '\0';
		e[i].size = le32(h + 24);
		/* made on Unix (3): the high half of the external attributes */
		e[i].mode = h[5] == 3 ? le32(h + 38) >> 16 : 0;
	}
	*out = e;
	*n = count;
	e = NULL;
out:
	free(e);
	return rc;
}

int zip_name_safe(const char *name)
{
	const char *p = name;
	if (!*name || *name == '/' || strchr(name, '\\'))
		return 0;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
		if (!slash)
			break;
		p = slash + 1; /* a trailing slash ends here: a directory */
	}
	return 1;
}
