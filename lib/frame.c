/*
 * frame.c - the mount frame codec.  See frame.h.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "frame.h"

_Static_assert(sizeof(struct pf_frame_hdr) == 56, "the seed's frame header is 56 bytes");

static size_t
slen(const char *s)
{
	return s != NULL ? strlen(s) + 1 : 0;
}

long
pf_frame_encode(void *buf, size_t cap, const struct pf_frame *f)
{
	const char *strs[5] = { f->source, f->target, f->fstype, f->data, f->sock };
	struct pf_frame_hdr h;
	size_t len = sizeof(h), i;
	char *p = buf;

	for (i = 0; i < 5; i++)
		len += slen(strs[i]);
	if (len > cap || len > PF_FRAME_MAX)
		return -EMSGSIZE;
	memset(&h, 0, sizeof(h));
	h.len = (uint32_t)len;
	h.unique = (uint64_t)-1;
	memcpy(h.magic, PF_FRAME_MAGIC, sizeof(PF_FRAME_MAGIC));
	h.source_len = (uint32_t)slen(f->source);
	h.target_len = (uint32_t)slen(f->target);
	h.fstype_len = (uint32_t)slen(f->fstype);
	h.mountflags = f->mountflags;
	h.data_len = (uint32_t)slen(f->data);
	h.sock_len = (uint32_t)slen(f->sock);
	memcpy(p, &h, sizeof(h));
	p += sizeof(h);
	for (i = 0; i < 5; i++) {
		if (strs[i] != NULL) {
			memcpy(p, strs[i], slen(strs[i]));
			p += slen(strs[i]);
		}
	}
	return (long)len;
}

int
pf_frame_is_frame(const void *buf, size_t len)
{
	return len >= 16 + sizeof(PF_FRAME_MAGIC) &&
	    memcmp((const char *)buf + 16, PF_FRAME_MAGIC, sizeof(PF_FRAME_MAGIC)) == 0;
}

/* One string of n bytes at *p: NUL-terminated, no NUL inside. */
static int
take(const char **p, const char *end, uint32_t n, const char **out)
{
	if (n == 0) {
		*out = NULL;
		return 0;
	}
	if ((size_t)(end - *p) < n || (*p)[n - 1] != '\0' || strlen(*p) != n - 1)
		return -EINVAL;
	*out = *p;
	*p += n;
	return 0;
}

int
pf_frame_decode(const void *buf, size_t len, struct pf_frame *f, const char **why)
{
	const char *p = (const char *)buf + sizeof(struct pf_frame_hdr);
	const char *end = (const char *)buf + len;
	struct pf_frame_hdr h;
	uint64_t sum;

	*why = NULL;
	if (len < sizeof(h)) {
		*why = "mount frame shorter than its header";
		return -EINVAL;
	}
	if (len > PF_FRAME_MAX) {
		*why = "mount frame too large";
		return -EINVAL;
	}
	memcpy(&h, buf, sizeof(h));
	if (memcmp(h.magic, PF_FRAME_MAGIC, sizeof(PF_FRAME_MAGIC)) != 0) {
		*why = "not a mount frame (bad magic)";
		return -EINVAL;
	}
	/* The padding after the magic and after the last length is zero. */
	if (memcmp(h.magic + sizeof(PF_FRAME_MAGIC), "\0\0\0",
	    sizeof(h.magic) - sizeof(PF_FRAME_MAGIC)) != 0 ||
	    memcmp((const char *)buf + offsetof(struct pf_frame_hdr, sock_len) + 4,
	    "\0\0\0\0", sizeof(h) - offsetof(struct pf_frame_hdr, sock_len) - 4) != 0) {
		*why = "mount frame with garbage in its padding";
		return -EINVAL;
	}
	if (h.error != 0 || h.unique != (uint64_t)-1) {
		*why = "mount frame with an error or a unique";
		return -EINVAL;
	}
	sum = (uint64_t)sizeof(h) + h.source_len + h.target_len + h.fstype_len +
	    h.data_len + h.sock_len;
	if (h.len != len || sum != len) {
		*why = "mount frame lengths do not add up";
		return -EINVAL;
	}
	if (take(&p, end, h.source_len, &f->source) < 0 ||
	    take(&p, end, h.target_len, &f->target) < 0 ||
	    take(&p, end, h.fstype_len, &f->fstype) < 0 ||
	    take(&p, end, h.data_len, &f->data) < 0 ||
	    take(&p, end, h.sock_len, &f->sock) < 0) {
		*why = "mount frame string without its NUL or with one inside";
		return -EINVAL;
	}
	f->mountflags = h.mountflags;
	return 0;
}

const char *
pf_opt_value(const char *opts, const char *key, char *buf, size_t size)
{
	size_t klen = strlen(key);
	const char *p = opts;

	while (p != NULL && *p != '\0') {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);

		if (n > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
			n -= klen + 1;
			if (n >= size)
				return NULL;
			memcpy(buf, p + klen + 1, n);
			buf[n] = '\0';
			return buf;
		}
		p = comma ? comma + 1 : NULL;
	}
	return NULL;
}
