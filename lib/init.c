/*
 * init.c - FUSE_INIT, as a list of small rules.  See init.h.
 */
#include <errno.h>
#include <string.h>

#include "init.h"

_Static_assert((PF_INIT_OFFER & PF_INIT_NEVER) == 0,
    "we must never offer splice, passthrough, io_uring or DAX over a socket");

static unsigned
min_u(unsigned a, unsigned b)
{
	return a < b ? a : b;
}

size_t
pf_init_request(void *buf, unsigned minor, uint64_t flags, uint32_t max_readahead)
{
	struct fuse_init_in in;

	memset(&in, 0, sizeof(in));
	in.major = FUSE_KERNEL_VERSION;
	in.minor = minor;
	in.max_readahead = max_readahead;
	flags &= PF_INIT_OFFER;
	in.flags = (uint32_t)flags;
	/* flags2 exists from 7.36 and only means something with INIT_EXT. */
	if (minor >= 36 && (flags & FUSE_INIT_EXT))
		in.flags2 = (uint32_t)(flags >> 32);
	memcpy(buf, &in, sizeof(in));
	return pf_init_in_size(minor);
}

/* Rule: a server may only accept what was offered. */
static uint64_t
accepted_flags(const struct fuse_init_out *out, unsigned minor, uint64_t offered)
{
	uint64_t f = out->flags;

	if (minor >= 36 && (f & FUSE_INIT_EXT))
		f |= (uint64_t)out->flags2 << 32;
	return f & offered;
}

/* Rule: time granularity is 1..1e9 ns, 1 when the server gives none. */
static uint32_t
time_gran(const struct fuse_init_out *out, unsigned minor)
{
	if (minor < 23 || out->time_gran == 0 || out->time_gran > 1000000000)
		return 1;
	return out->time_gran;
}

/* Rule: max_pages only counts with MAX_PAGES, and is at most 256. */
static uint32_t
max_pages(const struct fuse_init_out *out, uint64_t flags)
{
	if (!(flags & FUSE_MAX_PAGES) || out->max_pages == 0)
		return PF_DEFAULT_MAX_PAGES;
	return min_u(out->max_pages, PF_MAX_MAX_PAGES);
}

int
pf_init_reply(const void *body, size_t len, int32_t error, unsigned our_minor,
    uint64_t offered, uint32_t our_readahead, struct pf_init_params *p,
    const char **why)
{
	struct fuse_init_out out;

	*why = NULL;
	if (error != 0) {
		*why = "the server refused INIT";
		return error < 0 && error >= -4095 ? error : -EIO;
	}
	if (len < 8) {
		*why = "INIT reply shorter than a version";
		return -EIO;
	}
	memset(&out, 0, sizeof(out));
	memcpy(&out, body, len < sizeof(out) ? len : sizeof(out));
	if (out.major != FUSE_KERNEL_VERSION) {
		*why = "the server speaks another major version of FUSE";
		return -EPROTO;
	}
	/* Rule: the lower minor wins. */
	memset(p, 0, sizeof(*p));
	p->major = out.major;
	p->peer_minor = out.minor;
	p->minor = min_u(our_minor, out.minor);
	if (p->minor < PF_MINOR_MIN) {
		*why = "the server's FUSE protocol is older than 7.8";
		return -EPROTO;
	}
	/* Rule: struct sizes follow the agreed minor. */
	if (len != pf_init_out_size(p->minor)) {
		*why = "INIT reply size does not match the agreed minor";
		return -EIO;
	}
	/* Rule: never splice, passthrough, io_uring or DAX, whatever was asked. */
	p->flags = accepted_flags(&out, p->minor, offered) & ~(uint64_t)PF_INIT_NEVER;
	p->max_readahead = min_u(out.max_readahead, our_readahead);
	/* Rule: max_write is at least one page, as the kernel has it. */
	p->max_write = out.max_write < 4096 ? 4096 : out.max_write;
	p->max_pages = max_pages(&out, p->flags);
	p->time_gran = time_gran(&out, p->minor);
	if (p->minor >= 13) {
		p->max_background = out.max_background;
		p->congestion_threshold = out.congestion_threshold;
	}
	return 0;
}

void
pf_init_limits(struct pf_init_params *p, size_t msgmax, uint32_t *max_read)
{
	size_t room = msgmax - PF_IN_HDR - sizeof(struct fuse_write_in);
	uint32_t pages = p->max_pages * 4096u;

	/* Rule: without BIG_WRITES a WRITE carries one page. */
	if (!(p->flags & FUSE_BIG_WRITES))
		p->max_write = 4096;
	if (p->max_write > pages)
		p->max_write = pages;
	if (p->max_write > room)
		p->max_write = room < 4096 ? 4096 : (uint32_t)(room & ~(size_t)4095);
	*max_read = pages;
	if (*max_read > msgmax - PF_OUT_HDR)
		*max_read = (uint32_t)((msgmax - PF_OUT_HDR) & ~(size_t)4095);
	if (*max_read < 4096)
		*max_read = 4096;
}

/*
 * Minors between which no request or reply struct changes size: before
 * 7.9 (fuse_attr without blksize: entry_out 120, attr_out 96 bytes;
 * write_in and read_in 24; GETATTR without a body), 7.9 to 7.11 (MKNOD and
 * CREATE without umask), and from 7.12 (the sizes since; what later minors
 * add comes in new opcodes, in padding or behind INIT flags, which are
 * agreed per client).
 */
static int
size_class(unsigned minor)
{
	return minor < 9 ? 0 : minor < 12 ? 1 : 2;
}

int
pf_init_answer(const void *req, size_t reqlen, const struct pf_init_params *srv,
    uint64_t supported, void *outbuf, size_t *outlen, struct pf_init_params *cp,
    const char **why)
{
	struct fuse_init_in in;
	struct fuse_init_out out;
	uint64_t flags;

	*why = NULL;
	if (reqlen < 16) {
		*why = "INIT request too short";
		return -EINVAL;
	}
	memset(&in, 0, sizeof(in));
	memcpy(&in, req, reqlen < sizeof(in) ? reqlen : sizeof(in));
	memset(&out, 0, sizeof(out));
	out.major = FUSE_KERNEL_VERSION;
	out.minor = srv->minor;
	/* Rule: an older major is refused, a newer one is told ours. */
	if (in.major < FUSE_KERNEL_VERSION) {
		*why = "the client speaks a FUSE major older than 7";
		return -EPROTO;
	}
	if (in.major > FUSE_KERNEL_VERSION) {
		memcpy(outbuf, &out, 8);
		*outlen = 8;
		return 1;
	}
	/*
	 * Rule: a client older than the server is answered at its own
	 * minor, as a server answers an older kernel, when every struct the
	 * two exchange has the same size at both minors (size_class()); the
	 * relay translates none.  Older ones are refused.
	 */
	if (in.minor < PF_MINOR_MIN ||
	    (in.minor < srv->minor && size_class(in.minor) != size_class(srv->minor))) {
		*why = in.minor < 12 ? "the client's FUSE minor is older than 7.12 and the "
		    "server's; its structs would need translating" :
		    "the client's FUSE minor is older than the server's";
		return -EPROTO;
	}
	if (in.minor < srv->minor)
		out.minor = in.minor;
	flags = in.flags;
	if (in.minor >= 36 && (in.flags & FUSE_INIT_EXT))
		flags |= (uint64_t)in.flags2 << 32;
	flags &= srv->flags & supported & ~(uint64_t)PF_INIT_NEVER;
	*cp = *srv;
	cp->minor = out.minor;      /* the client's structs: its own minor */
	cp->peer_minor = in.minor;
	if (cp->minor < 23)
		cp->time_gran = 1;  /* what the client then assumes */
	cp->flags = flags;
	cp->max_readahead = min_u(in.max_readahead, srv->max_readahead);
	out.max_readahead = cp->max_readahead;
	out.flags = (uint32_t)flags;
	out.flags2 = (uint32_t)(flags >> 32);
	out.max_background = srv->max_background;
	out.congestion_threshold = srv->congestion_threshold;
	out.max_write = srv->max_write;
	out.time_gran = srv->time_gran;
	out.max_pages = (uint16_t)srv->max_pages;
	*outlen = pf_init_out_size(out.minor);
	memcpy(outbuf, &out, *outlen);
	return 0;
}
