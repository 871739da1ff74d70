/*
 * trace.c - describing traced FUSE messages.  See trace.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "proto.h"
#include "trace.h"

/* A name from a request, made printable. */
static void
name_at(const char *p, size_t len, char *out, size_t size)
{
	size_t i, o = 0;

	for (i = 0; i < len && p[i] != '\0' && o + 5 < size; i++) {
		unsigned char ch = (unsigned char)p[i];

		if (ch < 32 || ch >= 127 || ch == '"' || ch == '\\')
			o += (size_t)snprintf(out + o, size - o, "\\x%02x", ch);
		else
			out[o++] = (char)ch;
	}
	out[o] = '\0';
}

static void
names(const char *p, size_t len, int two, char *out, size_t size)
{
	char a[300], b[300];
	size_t al = strnlen(p, len);

	name_at(p, len, a, sizeof(a));
	if (!two || al + 1 >= len) {
		snprintf(out, size, "\"%s\"", a);
		return;
	}
	name_at(p + al + 1, len - al - 1, b, sizeof(b));
	snprintf(out, size, "\"%s\" \"%s\"", a, b);
}

void
pf_trace_describe(uint32_t opcode, const void *body, size_t len, char *out, size_t size)
{
	const char *p = body;
	size_t fixed = pf_req_fixed(opcode, PF_MINOR_MAX);

	out[0] = '\0';
	switch (opcode) {
	case FUSE_LOOKUP: case FUSE_UNLINK: case FUSE_RMDIR: case FUSE_REMOVEXATTR:
		names(p, len, 0, out, size);
		return;
	case FUSE_SYMLINK:
		names(p, len, 1, out, size);
		return;
	case FUSE_MKDIR: case FUSE_MKNOD: case FUSE_CREATE: case FUSE_LINK:
	case FUSE_GETXATTR: case FUSE_TMPFILE:
		if (len > fixed) {
			char n[300];
			uint32_t mode = 0;

			memcpy(&mode, p, len >= 4 ? 4 : len);
			name_at(p + fixed, len - fixed, n, sizeof(n));
			if (opcode == FUSE_LINK || opcode == FUSE_GETXATTR)
				snprintf(out, size, "\"%s\"", n);
			else
				snprintf(out, size, "\"%s\" mode 0%o", n, mode);
		}
		return;
	case FUSE_RENAME: case FUSE_RENAME2:
		if (len > fixed) {
			uint64_t newdir;
			char n[620];

			memcpy(&newdir, p, sizeof(newdir));
			names(p + fixed, len - fixed, 1, n, sizeof(n));
			snprintf(out, size, "%s to dir %llu", n, (unsigned long long)newdir);
		}
		return;
	case FUSE_READ: case FUSE_WRITE: case FUSE_READDIR: case FUSE_READDIRPLUS:
		if (len >= 24) {
			struct fuse_read_in in;

			memset(&in, 0, sizeof(in));
			memcpy(&in, p, len < sizeof(in) ? len : sizeof(in));
			snprintf(out, size, "fh %llu offset %llu size %u",
			    (unsigned long long)in.fh, (unsigned long long)in.offset, in.size);
		}
		return;
	case FUSE_OPEN: case FUSE_OPENDIR:
		if (len >= 4) {
			uint32_t flags;

			memcpy(&flags, p, 4);
			snprintf(out, size, "flags 0%o", flags);
		}
		return;
	case FUSE_SETATTR:
		if (len >= sizeof(struct fuse_setattr_in)) {
			struct fuse_setattr_in in;

			memcpy(&in, p, sizeof(in));
			snprintf(out, size, "valid 0x%x size %llu mode 0%o", in.valid,
			    (unsigned long long)in.size, in.mode);
		}
		return;
	case FUSE_FORGET:
		if (len >= 8) {
			uint64_t n;

			memcpy(&n, p, 8);
			snprintf(out, size, "nlookup %llu", (unsigned long long)n);
		}
		return;
	case FUSE_BATCH_FORGET:
		if (len >= 4) {
			uint32_t n;

			memcpy(&n, p, 4);
			snprintf(out, size, "%u nodes", n);
		}
		return;
	case FUSE_INIT:
		if (len >= 8) {
			uint32_t v[2];

			memcpy(v, p, 8);
			snprintf(out, size, "%u.%u", v[0], v[1]);
		}
		return;
	default:
		return;
	}
}

int
pf_trace_check(const void *buf, size_t len)
{
	struct pf_trace_rec r;

	if (len < sizeof(r))
		return -EINVAL;
	memcpy(&r, buf, sizeof(r));
	if (r.len != len || (size_t)r.msglen + sizeof(r) != len || r.msglen > r.origlen ||
	    r.kind < PF_TR_REQUEST || r.kind > PF_TR_END)
		return -EINVAL;
	return 0;
}
