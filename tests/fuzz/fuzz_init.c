/*
 * fuzz_init.c - libFuzzer target for FUSE_INIT negotiation (lib/init.c):
 * pf_init_request, pf_init_reply, pf_init_limits and pf_init_answer.
 *
 * Input (little-endian; fields past the end of the input read as 0):
 *
 *   0  u8   our_minor: the minor we offered the server
 *   1  u8   bit 0: offered = the offered field below, as is; otherwise
 *                  the flags of the request pf_init_request() built from it
 *           bit 1: supported (pf_init_answer) = the field below; otherwise
 *                  PF_INIT_OFFER, as perfused passes
 *           bits 2-3: which valid server parameter set pf_init_answer
 *                  answers for (a 7.8, 7.19, 7.31 or 7.38 server)
 *   2  u8   length of the server's INIT reply that follows
 *   3  u8   unused
 *   4  i32  the reply's out header error
 *   8  u64  offered flags
 *  16  u32  our max_readahead
 *  20  u32  msgmax for pf_init_limits (the socket's largest datagram)
 *  24  u64  supported flags
 *  32       the server's INIT reply (byte 2 bytes), then a client's INIT
 *           request to pf_init_answer (the rest)
 *
 * Invariants (FZ_CHECK traps when one is broken): the agreed minor is at
 * most both sides' minors and at least 7.8; the agreed flags are a subset
 * of what was offered and never hold a PF_INIT_NEVER bit; max_write is at
 * least 4096 (and within max_pages and the datagram after pf_init_limits);
 * the reply pf_init_answer builds has the size of the lower minor and,
 * read back by pf_init_reply as the client would, gives the client what
 * pf_init_answer says it was granted.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "init.h"

static volatile uint64_t sink;

/* Valid server parameter sets, as perfused holds them after INIT. */
static struct pf_init_params servers[4];
static int servers_ready;

static void
make_server(struct pf_init_params *p, unsigned minor, uint64_t flags,
    uint32_t max_write, uint16_t max_pages, uint32_t time_gran)
{
	struct fuse_init_out out;
	const char *why;
	uint32_t max_read;

	memset(&out, 0, sizeof(out));
	out.major = FUSE_KERNEL_VERSION;
	out.minor = minor;
	out.max_readahead = 128 * 1024;
	out.flags = (uint32_t)flags;
	out.flags2 = (uint32_t)(flags >> 32);
	out.max_background = 12;
	out.congestion_threshold = 9;
	out.max_write = max_write;
	out.time_gran = time_gran;
	out.max_pages = max_pages;
	FZ_CHECK(pf_init_reply(&out, pf_init_out_size(minor), 0, PF_MINOR_MAX,
	    PF_INIT_OFFER, 128 * 1024, p, &why) == 0);
	pf_init_limits(p, 1 << 20, &max_read);
}

static void
init_servers(void)
{
	if (servers_ready)
		return;
	/* An old libfuse 2.7-like server. */
	make_server(&servers[0], 8, FUSE_ASYNC_READ | FUSE_POSIX_LOCKS |
	    FUSE_BIG_WRITES, 4096, 0, 0);
	/* libfuse 2.9. */
	make_server(&servers[1], 19, FUSE_ASYNC_READ | FUSE_POSIX_LOCKS |
	    FUSE_ATOMIC_O_TRUNC | FUSE_EXPORT_SUPPORT | FUSE_BIG_WRITES |
	    FUSE_FLOCK_LOCKS | FUSE_AUTO_INVAL_DATA, 131072, 0, 0);
	/* libfuse 3.10. */
	make_server(&servers[2], 31, FUSE_ASYNC_READ | FUSE_POSIX_LOCKS |
	    FUSE_ATOMIC_O_TRUNC | FUSE_EXPORT_SUPPORT | FUSE_BIG_WRITES |
	    FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO | FUSE_ASYNC_DIO |
	    FUSE_PARALLEL_DIROPS | FUSE_MAX_PAGES | FUSE_CACHE_SYMLINKS,
	    1 << 20, 256, 1);
	/* A 7.38 server with INIT_EXT and little else. */
	make_server(&servers[3], 38, FUSE_INIT_EXT | FUSE_BIG_WRITES |
	    FUSE_MAX_PAGES | FUSE_NO_OPEN_SUPPORT, 65536, 16, 1000);
	servers_ready = 1;
}

/* The flags of an INIT request body, as a server reads them. */
static uint64_t
request_flags(const struct fuse_init_in *in)
{
	uint64_t f = in->flags;

	if (in->minor >= 36 && (in->flags & FUSE_INIT_EXT))
		f |= (uint64_t)in->flags2 << 32;
	return f;
}

static void
check_params(const struct pf_init_params *p, unsigned a_minor,
    unsigned b_minor, uint64_t offered)
{
	FZ_CHECK(p->major == FUSE_KERNEL_VERSION);
	FZ_CHECK(p->minor <= a_minor && p->minor <= b_minor);
	FZ_CHECK(p->minor >= PF_MINOR_MIN);
	FZ_CHECK((p->flags & ~offered) == 0);
	FZ_CHECK((p->flags & PF_INIT_NEVER) == 0);
	FZ_CHECK(p->max_write >= 4096);
	FZ_CHECK(p->max_pages >= 1 && p->max_pages <= PF_MAX_MAX_PAGES);
	FZ_CHECK(p->time_gran >= 1 && p->time_gran <= 1000000000);
}

/* pf_init_limits on a negotiated set: the rules of init.h. */
static void
check_limits(struct pf_init_params p, size_t msgmax)
{
	uint32_t max_read = 0;
	size_t pages = (size_t)p.max_pages * 4096;

	pf_init_limits(&p, msgmax, &max_read);
	FZ_CHECK(p.max_write >= 4096);
	FZ_CHECK(p.max_write <= pages);
	if (!(p.flags & FUSE_BIG_WRITES))
		FZ_CHECK(p.max_write == 4096);
	/* A WRITE of max_write bytes fits one datagram, if one page does. */
	if (msgmax >= PF_IN_HDR + sizeof(struct fuse_write_in) + 4096)
		FZ_CHECK(PF_IN_HDR + sizeof(struct fuse_write_in) + p.max_write <=
		    msgmax);
	FZ_CHECK(max_read >= 4096 && max_read <= pages);
	if (msgmax >= PF_OUT_HDR + 4096)
		FZ_CHECK(PF_OUT_HDR + (size_t)max_read <= msgmax);
}

static void
check_answer(const uint8_t *data, size_t len, const struct pf_init_params *srv,
    uint64_t supported)
{
	char *req = fz_dup(data, len);
	struct fuse_init_in in;
	struct fuse_init_out out;
	struct pf_init_params cp, back;
	unsigned char obuf[sizeof(struct fuse_init_out)];
	size_t outlen = 0;
	const char *why = "unset";
	uint64_t cflags;
	int r;

	memset(obuf, 0xa5, sizeof(obuf));
	memset(&cp, 0x5a, sizeof(cp));
	r = pf_init_answer(req, len, srv, supported, obuf, &outlen, &cp, &why);
	FZ_CHECK(r == 0 || r == 1 || r == -EPROTO || r == -EINVAL);
	FZ_CHECK(r >= 0 || why != NULL);
	if (r < 0)
		goto out;
	memset(&in, 0, sizeof(in));
	memcpy(&in, req, len < sizeof(in) ? len : sizeof(in));
	memset(&out, 0, sizeof(out));
	FZ_CHECK(outlen >= 8 && outlen <= sizeof(out));
	memcpy(&out, obuf, outlen);
	FZ_CHECK(out.major == FUSE_KERNEL_VERSION);
	FZ_CHECK(out.minor == (r == 1 || in.minor >= srv->minor ? srv->minor : in.minor));
	if (r == 1) {
		/* A newer major: we only announce ours. */
		FZ_CHECK(in.major > FUSE_KERNEL_VERSION && outlen == 8);
		goto out;
	}
	FZ_CHECK(in.major == FUSE_KERNEL_VERSION);
	cflags = request_flags(&in);
	check_params(&cp, in.minor, srv->minor, cflags);
	FZ_CHECK(cp.minor == out.minor && cp.peer_minor == in.minor);
	/* An older client only where no struct differs in size (7.12 on). */
	FZ_CHECK(in.minor >= srv->minor || in.minor >= 12 ||
	    ((in.minor >= 9) == (srv->minor >= 9) && srv->minor < 12));
	FZ_CHECK((cp.flags & ~(srv->flags & supported)) == 0);
	FZ_CHECK(outlen == pf_init_out_size(cp.minor));
	FZ_CHECK(out.flags == (uint32_t)cp.flags);
	FZ_CHECK(cp.max_readahead <= in.max_readahead &&
	    cp.max_readahead <= srv->max_readahead);

	/* The client reads the answer back and gets what cp says. */
	r = pf_init_reply(obuf, outlen, 0, in.minor, cflags, in.max_readahead,
	    &back, &why);
	FZ_CHECK(r == 0);
	FZ_CHECK(back.minor == cp.minor);
	FZ_CHECK(back.flags == cp.flags);
	FZ_CHECK(back.max_write == cp.max_write);
	FZ_CHECK(back.max_readahead == cp.max_readahead);
	FZ_CHECK(back.time_gran == cp.time_gran);
out:
	free(req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz z = { data, size };
	unsigned our_minor = fz_u8(&z);
	uint8_t flags = fz_u8(&z);
	uint8_t replylen = fz_u8(&z);
	int32_t error;
	uint64_t offered, supported;
	uint32_t our_ra, msgmax;
	struct fuse_init_in reqin;
	struct pf_init_params p;
	const uint8_t *reply, *creq;
	size_t rlen, clen, qlen;
	const char *why = "unset";
	char *body;
	int r;

	init_servers();
	(void)fz_u8(&z);
	error = (int32_t)fz_u32(&z);
	offered = fz_u64(&z);
	our_ra = fz_u32(&z);
	msgmax = fz_u32(&z);
	supported = fz_u64(&z);
	reply = fz_take(&z, replylen, &rlen);
	creq = fz_take(&z, z.n, &clen);

	/* The request we would send: only what we may offer, at its size. */
	memset(&reqin, 0xa5, sizeof(reqin));
	qlen = pf_init_request(&reqin, our_minor, offered, our_ra);
	FZ_CHECK(qlen == pf_init_in_size(our_minor));
	FZ_CHECK(reqin.major == FUSE_KERNEL_VERSION && reqin.minor == our_minor);
	FZ_CHECK((request_flags(&reqin) & ~PF_INIT_OFFER) == 0);
	if (!(flags & 1))
		offered = request_flags(&reqin);

	/* The server's reply to it. */
	body = fz_dup(reply, rlen);
	r = pf_init_reply(body, rlen, error, our_minor, offered, our_ra, &p, &why);
	FZ_CHECK(r <= 0 && (r == 0 || why != NULL));
	if (error != 0)
		FZ_CHECK(r != 0);
	if (r == 0) {
		check_params(&p, our_minor, p.peer_minor, offered);
		FZ_CHECK(p.max_readahead <= our_ra);
		FZ_CHECK(rlen == pf_init_out_size(p.minor));
		check_limits(p, msgmax);
		sink += p.max_background + p.congestion_threshold;
	}
	free(body);

	/* A client's INIT, answered on behalf of a valid server. */
	check_answer(creq, clen, &servers[(flags >> 2) & 3],
	    (flags & 2) ? supported : PF_INIT_OFFER);
	return 0;
}
