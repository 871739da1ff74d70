/*
 * ctl.c - perfused's control messages.  See ctl.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ctl.h"

long
pf_ctl_encode(void *buf, size_t cap, uint32_t type, int32_t error,
    const char *const *strs, uint32_t nstr)
{
	struct pf_ctl_hdr h;
	size_t len = sizeof(h), i;
	char *p = buf;

	for (i = 0; i < nstr; i++) {
		len += strlen(strs[i]) + 1;
		if (len > cap || len > PF_CTL_MAX)
			return -EMSGSIZE;
	}
	if (len > cap || nstr > PF_CTL_MAXSTR)
		return -EMSGSIZE;
	memset(&h, 0, sizeof(h));
	h.len = (uint32_t)len;
	h.type = type;
	h.magic = PF_CTL_MAGIC;
	h.error = error;
	h.nstr = nstr;
	memcpy(p, &h, sizeof(h));
	p += sizeof(h);
	for (i = 0; i < nstr; i++) {
		size_t n = strlen(strs[i]) + 1;

		memcpy(p, strs[i], n);
		p += n;
	}
	return (long)len;
}

int
pf_ctl_is_ctl(const void *buf, size_t len)
{
	uint64_t magic;

	if (len < sizeof(struct pf_ctl_hdr))
		return 0;
	memcpy(&magic, (const char *)buf + 8, sizeof(magic));
	return magic == PF_CTL_MAGIC;
}

int
pf_ctl_decode(const void *buf, size_t len, struct pf_ctl_hdr *hdr,
    const char **strs, size_t maxstr, const char **why)
{
	const char *p = (const char *)buf + sizeof(*hdr), *end = (const char *)buf + len;
	uint32_t i;

	*why = NULL;
	if (len < sizeof(*hdr)) {
		*why = "control message shorter than its header";
		return -EINVAL;
	}
	memcpy(hdr, buf, sizeof(*hdr));
	if (hdr->magic != PF_CTL_MAGIC) {
		*why = "not a control message (bad magic)";
		return -EPROTO;
	}
	if (hdr->len != len) {
		*why = "control message length field does not match";
		return -EINVAL;
	}
	if (len > PF_CTL_MAX) {
		*why = "control message too large";
		return -EINVAL;
	}
	if (hdr->nstr > maxstr || hdr->nstr > PF_CTL_MAXSTR) {
		*why = "too many strings in a control message";
		return -EINVAL;
	}
	for (i = 0; i < hdr->nstr; i++) {
		const char *nul = memchr(p, '\0', (size_t)(end - p));

		if (nul == NULL) {
			*why = "control message string runs past the message";
			return -EINVAL;
		}
		strs[i] = p;
		p = nul + 1;
	}
	if (p != end) {
		*why = "bytes after the last string of a control message";
		return -EINVAL;
	}
	return (int)hdr->nstr;
}

int
pf_ctl_send(int fd, uint32_t type, int32_t error, const char *const *strs,
    uint32_t nstr)
{
	char *buf = malloc(PF_CTL_MAX);
	long len;
	ssize_t n;

	if (buf == NULL)
		return -ENOMEM;
	len = pf_ctl_encode(buf, PF_CTL_MAX, type, error, strs, nstr);
	if (len < 0) {
		free(buf);
		return (int)len;
	}
	do
		n = send(fd, buf, (size_t)len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	free(buf);
	if (n < 0)
		return -errno;
	return n == len ? 0 : -EIO;
}

int
pf_ctl_recv(int fd, void *buf, struct pf_ctl_hdr *hdr, const char **strs,
    size_t maxstr)
{
	const char *why;
	ssize_t n;

	do
		n = recv(fd, buf, PF_CTL_MAX, MSG_TRUNC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -ECONNRESET;
	if (n > PF_CTL_MAX)
		return -EMSGSIZE;
	return pf_ctl_decode(buf, (size_t)n, hdr, strs, maxstr, &why);
}
