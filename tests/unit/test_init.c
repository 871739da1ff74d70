/*
 * test_init.c - INIT negotiation of lib/init.c, both ways, against recorded
 * byte sequences of real servers' replies and against replies built from
 * the struct layout for every minor that matters.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "init.h"
#include "unit.h"

#define OUR_MINOR 38
#define OUR_RA (128 * 1024)

/*
 * Recorded replies, little-endian, as the servers send them (payload after
 * the 16-byte out header).
 *
 * A 7.8 server (24 bytes, the FUSE 2.7 era): major 7, minor 8,
 * max_readahead 128 KiB, flags ASYNC_READ|POSIX_LOCKS, then the 7.5..7.22
 * fields max_background 0, congestion_threshold 0, max_write 128 KiB.
 */
static const uint8_t rec_7_8[24] = {
	0x07, 0x00, 0x00, 0x00,  /* major 7 */
	0x08, 0x00, 0x00, 0x00,  /* minor 8 */
	0x00, 0x00, 0x02, 0x00,  /* max_readahead 131072 */
	0x03, 0x00, 0x00, 0x00,  /* flags ASYNC_READ | POSIX_LOCKS */
	0x00, 0x00,              /* max_background 0 */
	0x00, 0x00,              /* congestion_threshold 0 */
	0x00, 0x00, 0x02, 0x00,  /* max_write 131072 */
};

/*
 * libfuse 2.9 (7.19, 24 bytes): flags ASYNC_READ|POSIX_LOCKS|ATOMIC_O_TRUNC|
 * BIG_WRITES|DONT_MASK|AUTO_INVAL_DATA = 0x106b (DONT_MASK was not offered),
 * max_background 12, congestion_threshold 9, max_write 128 KiB.
 */
static const uint8_t rec_7_19[24] = {
	0x07, 0x00, 0x00, 0x00,  /* major 7 */
	0x13, 0x00, 0x00, 0x00,  /* minor 19 */
	0x00, 0x00, 0x02, 0x00,  /* max_readahead 131072 */
	0x6b, 0x10, 0x00, 0x00,  /* flags 0x106b */
	0x0c, 0x00,              /* max_background 12 */
	0x09, 0x00,              /* congestion_threshold 9 */
	0x00, 0x00, 0x02, 0x00,  /* max_write 131072 */
};

/*
 * libfuse 3 (7.31, 64 bytes): flags 0xc5f63b = ASYNC_READ|POSIX_LOCKS|
 * ATOMIC_O_TRUNC|EXPORT_SUPPORT|BIG_WRITES|SPLICE_READ|FLOCK_LOCKS|
 * AUTO_INVAL_DATA|DO_READDIRPLUS|READDIRPLUS_AUTO|ASYNC_DIO|WRITEBACK_CACHE|
 * PARALLEL_DIROPS|MAX_PAGES|CACHE_SYMLINKS (SPLICE_READ and WRITEBACK_CACHE
 * were not offered), max_background 12, congestion 9, max_write 1 MiB,
 * time_gran 1, max_pages 256, map_alignment 0, flags2 0, unused.
 */
static const uint8_t rec_7_31[64] = {
	0x07, 0x00, 0x00, 0x00,  /* major 7 */
	0x1f, 0x00, 0x00, 0x00,  /* minor 31 */
	0x00, 0x00, 0x02, 0x00,  /* max_readahead 131072 */
	0x3b, 0xf6, 0xc5, 0x00,  /* flags 0xc5f63b */
	0x0c, 0x00,              /* max_background 12 */
	0x09, 0x00,              /* congestion_threshold 9 */
	0x00, 0x00, 0x10, 0x00,  /* max_write 1048576 */
	0x01, 0x00, 0x00, 0x00,  /* time_gran 1 */
	0x00, 0x01,              /* max_pages 256 */
	0x00, 0x00,              /* map_alignment 0 */
	0x00, 0x00, 0x00, 0x00,  /* flags2 0 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  /* unused[7] */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,
};

/*
 * What we offer at 7.38 with PF_INIT_OFFER and 128 KiB of readahead: the
 * 64-byte fuse_init_in.  flags 0x43eef43b = ASYNC_READ|POSIX_LOCKS|
 * ATOMIC_O_TRUNC|EXPORT_SUPPORT|BIG_WRITES|FLOCK_LOCKS|AUTO_INVAL_DATA|
 * DO_READDIRPLUS|READDIRPLUS_AUTO|ASYNC_DIO|NO_OPEN_SUPPORT|PARALLEL_DIROPS|
 * HANDLE_KILLPRIV|ABORT_ERROR|MAX_PAGES|CACHE_SYMLINKS|NO_OPENDIR_SUPPORT|
 * EXPLICIT_INVAL_DATA|INIT_EXT, flags2 0.
 */
static const uint8_t rec_req_7_38[64] = {
	0x07, 0x00, 0x00, 0x00,  /* major 7 */
	0x26, 0x00, 0x00, 0x00,  /* minor 38 */
	0x00, 0x00, 0x02, 0x00,  /* max_readahead 131072 */
	0x3b, 0xf4, 0xee, 0x43,  /* flags */
	0x00, 0x00, 0x00, 0x00,  /* flags2 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  /* unused[11] */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,
};

static unsigned
umin(unsigned a, unsigned b)
{
	return a < b ? a : b;
}

/* The reply size a server sends at an agreed minor, by the kernel's rule. */
static size_t
reply_size(unsigned agreed)
{
	return agreed < 5 ? 8 : agreed < 23 ? 24 : 64;
}

static void
test_recorded(void)
{
	struct pf_init_params p;
	const char *why;
	int r;

	group("pf_init_reply: recorded 7.8 reply (24 bytes)");
	memset(&p, 0xa5, sizeof(p));
	why = NULL;
	r = pf_init_reply(rec_7_8, sizeof(rec_7_8), 0, OUR_MINOR, PF_INIT_OFFER, OUR_RA,
	    &p, &why);
	checkf(r == 0, __LINE__, "accepted: %d (%s)", r, why ? why : "");
	check_eq(p.major, 7, "major", __LINE__);
	check_eq(p.minor, 8, "agreed minor", __LINE__);
	check_eq(p.peer_minor, 8, "server minor", __LINE__);
	check_eqx(p.flags, FUSE_ASYNC_READ | FUSE_POSIX_LOCKS, "flags", __LINE__);
	check_eq(p.max_write, 131072, "max_write", __LINE__);
	check_eq(p.max_readahead, 131072, "max_readahead", __LINE__);
	check_eq(p.time_gran, 1, "time_gran without the field", __LINE__);
	check_eq(p.max_pages, PF_DEFAULT_MAX_PAGES, "max_pages without MAX_PAGES", __LINE__);
	check_eq(p.max_background, 0, "max_background below 7.13", __LINE__);
	/* The same bytes padded to 64 are the wrong size at 7.8. */
	{
		uint8_t big[64];

		memset(big, 0, sizeof(big));
		memcpy(big, rec_7_8, sizeof(rec_7_8));
		r = pf_init_reply(big, 64, 0, OUR_MINOR, PF_INIT_OFFER, OUR_RA, &p, &why);
		check_eq(r, -EIO, "64 bytes at 7.8", __LINE__);
		r = pf_init_reply(big, 8, 0, OUR_MINOR, PF_INIT_OFFER, OUR_RA, &p, &why);
		check_eq(r, -EIO, "8 bytes at 7.8", __LINE__);
	}

	group("pf_init_reply: recorded libfuse 2.9 reply (7.19, 24 bytes)");
	memset(&p, 0xa5, sizeof(p));
	why = NULL;
	r = pf_init_reply(rec_7_19, sizeof(rec_7_19), 0, OUR_MINOR, PF_INIT_OFFER, OUR_RA,
	    &p, &why);
	checkf(r == 0, __LINE__, "accepted: %d (%s)", r, why ? why : "");
	check_eq(p.minor, 19, "agreed minor", __LINE__);
	check_eq(p.peer_minor, 19, "server minor", __LINE__);
	check_eqx(p.flags, 0x102b, "flags masked by the offer (DONT_MASK dropped)",
	    __LINE__);
	check(!(p.flags & FUSE_DONT_MASK), "DONT_MASK not accepted", __LINE__);
	check_eq(p.max_write, 131072, "max_write", __LINE__);
	check_eq(p.time_gran, 1, "time_gran", __LINE__);
	check_eq(p.max_pages, PF_DEFAULT_MAX_PAGES, "max_pages", __LINE__);
	check_eq(p.max_background, 12, "max_background", __LINE__);
	check_eq(p.congestion_threshold, 9, "congestion_threshold", __LINE__);
	r = pf_init_reply(rec_7_19, 23, 0, OUR_MINOR, PF_INIT_OFFER, OUR_RA, &p, &why);
	check_eq(r, -EIO, "one byte short", __LINE__);

	group("pf_init_reply: recorded libfuse 3 reply (7.31, 64 bytes)");
	memset(&p, 0xa5, sizeof(p));
	why = NULL;
	r = pf_init_reply(rec_7_31, sizeof(rec_7_31), 0, OUR_MINOR, PF_INIT_OFFER, OUR_RA,
	    &p, &why);
	checkf(r == 0, __LINE__, "accepted: %d (%s)", r, why ? why : "");
	check_eq(p.minor, 31, "agreed minor", __LINE__);
	check_eq(p.peer_minor, 31, "server minor", __LINE__);
	check_eqx(p.flags, 0xc4f43b, "flags masked by the offer", __LINE__);
	check(!(p.flags & (FUSE_SPLICE_READ | FUSE_WRITEBACK_CACHE)),
	    "SPLICE_READ and WRITEBACK_CACHE not accepted", __LINE__);
	check_eq(p.max_write, 1048576, "max_write", __LINE__);
	check_eq(p.time_gran, 1, "time_gran", __LINE__);
	check_eq(p.max_pages, 256, "max_pages with MAX_PAGES", __LINE__);
	check_eq(p.max_background, 12, "max_background", __LINE__);
	check_eq(p.congestion_threshold, 9, "congestion_threshold", __LINE__);
	r = pf_init_reply(rec_7_31, 24, 0, OUR_MINOR, PF_INIT_OFFER, OUR_RA, &p, &why);
	check_eq(r, -EIO, "the first 24 bytes only", __LINE__);
	r = pf_init_reply(rec_7_31, 63, 0, OUR_MINOR, PF_INIT_OFFER, OUR_RA, &p, &why);
	check_eq(r, -EIO, "one byte short", __LINE__);

	/* The fixtures agree with the struct layout they were written from. */
	group("recorded bytes match the struct layout");
	{
		struct fuse_init_out o;

		memcpy(&o, rec_7_31, sizeof(o));
		check_eq(o.minor, 31, "minor field", __LINE__);
		check_eq(o.max_write, 1 << 20, "max_write field", __LINE__);
		check_eq(o.max_pages, 256, "max_pages field", __LINE__);
		check_eq(o.time_gran, 1, "time_gran field", __LINE__);
		check_eqx(o.flags, FUSE_ASYNC_READ | FUSE_POSIX_LOCKS | FUSE_ATOMIC_O_TRUNC |
		    FUSE_EXPORT_SUPPORT | FUSE_BIG_WRITES | FUSE_SPLICE_READ |
		    FUSE_FLOCK_LOCKS | FUSE_AUTO_INVAL_DATA | FUSE_DO_READDIRPLUS |
		    FUSE_READDIRPLUS_AUTO | FUSE_ASYNC_DIO | FUSE_WRITEBACK_CACHE |
		    FUSE_PARALLEL_DIROPS | FUSE_MAX_PAGES | FUSE_CACHE_SYMLINKS,
		    "flags field", __LINE__);
		memcpy(&o, rec_7_19, 24);
		check_eqx(o.flags, FUSE_ASYNC_READ | FUSE_POSIX_LOCKS | FUSE_ATOMIC_O_TRUNC |
		    FUSE_BIG_WRITES | FUSE_DONT_MASK | FUSE_AUTO_INVAL_DATA, "2.9 flags",
		    __LINE__);
		check_eq(o.max_background, 12, "2.9 max_background", __LINE__);
	}
}

/* A server's reply built from the struct layout. */
static size_t
build_reply(uint8_t *buf, unsigned major, unsigned minor, uint64_t flags,
    uint32_t max_write, uint32_t time_gran, uint16_t max_pages, size_t len)
{
	struct fuse_init_out o;

	memset(&o, 0, sizeof(o));
	o.major = major;
	o.minor = minor;
	o.max_readahead = 1 << 20;
	o.flags = (uint32_t)flags;
	o.flags2 = (uint32_t)(flags >> 32);
	o.max_background = 20;
	o.congestion_threshold = 15;
	o.max_write = max_write;
	o.time_gran = time_gran;
	o.max_pages = max_pages;
	memset(buf, 0, 64);
	memcpy(buf, &o, len < sizeof(o) ? len : sizeof(o));
	return len;
}

static void
test_minors(void)
{
	static const unsigned minors[] = { 8, 9, 12, 16, 19, 22, 23, 28, 31, 36, 38, 45, 99 };
	/* Everything, the never-offered bits and 64-bit flags included. */
	const uint64_t all = 0xffffffffULL | FUSE_SECURITY_CTX | FUSE_HAS_INODE_DAX |
	    PF_FUSE_PASSTHROUGH | PF_FUSE_OVER_IO_URING;
	const uint64_t offer64 = PF_INIT_OFFER | FUSE_SECURITY_CTX;
	struct pf_init_params p;
	uint8_t buf[64];
	const char *why;
	size_t i, len;
	int r;

	group("pf_init_reply: every minor, flags, max_write, time_gran, max_pages");
	for (i = 0; i < sizeof(minors) / sizeof(minors[0]); i++) {
		unsigned m = minors[i], ag = umin(OUR_MINOR, m);
		uint64_t want;

		len = build_reply(buf, 7, m, all, 65536, 1000, 64, reply_size(ag));
		memset(&p, 0xa5, sizeof(p));
		why = NULL;
		r = pf_init_reply(buf, len, 0, OUR_MINOR, offer64, OUR_RA, &p, &why);
		if (!checkf(r == 0, __LINE__, "7.%u, %zu bytes: %d (%s)", m, len, r,
		    why ? why : ""))
			continue;
		checkf(p.minor == ag, __LINE__, "7.%u: agreed 7.%u, want 7.%u", m,
		    p.minor, ag);
		checkf(p.peer_minor == m, __LINE__, "7.%u: peer_minor %u", m, p.peer_minor);
		checkf(p.major == 7, __LINE__, "7.%u: major %u", m, p.major);
		/* flags2 only counts from 7.36 (and with INIT_EXT, set here). */
		want = ag >= 36 ? offer64 : (offer64 & 0xffffffffULL);
		checkf(p.flags == want, __LINE__, "7.%u: flags 0x%llx, want 0x%llx", m,
		    (unsigned long long)p.flags, (unsigned long long)want);
		checkf(!(p.flags & PF_INIT_NEVER), __LINE__,
		    "7.%u: a never-offered flag accepted", m);
		checkf(p.max_write == 65536, __LINE__, "7.%u: max_write %u", m, p.max_write);
		checkf(p.max_readahead == OUR_RA, __LINE__, "7.%u: max_readahead %u", m,
		    p.max_readahead);
		checkf(p.time_gran == (ag >= 23 ? 1000u : 1u), __LINE__,
		    "7.%u: time_gran %u", m, p.time_gran);
		/*
		 * MAX_PAGES is granted (offered, and the server set it); its
		 * field exists only in the 64-byte reply.
		 */
		checkf(p.max_pages == (ag >= 23 ? 64u : PF_DEFAULT_MAX_PAGES), __LINE__,
		    "7.%u: max_pages %u", m, p.max_pages);
		checkf(p.max_background == (ag >= 13 ? 20 : 0), __LINE__,
		    "7.%u: max_background %u", m, p.max_background);

		/* The other sizes are refused. */
		{
			static const size_t other[] = { 8, 23, 24, 25, 63, 64, 65 };
			size_t k;

			for (k = 0; k < sizeof(other) / sizeof(other[0]); k++) {
				uint8_t big[80];

				if (other[k] == reply_size(ag))
					continue;
				memset(big, 0, sizeof(big));
				memcpy(big, buf, 64);
				r = pf_init_reply(big, other[k], 0, OUR_MINOR, offer64, OUR_RA,
				    &p, &why);
				checkf(r == -EIO, __LINE__, "7.%u with %zu bytes: %d, want -EIO",
				    m, other[k], r);
			}
		}
	}

	group("pf_init_reply: flags2 needs INIT_EXT");
	len = build_reply(buf, 7, 38, (PF_INIT_OFFER & ~(uint64_t)FUSE_INIT_EXT) |
	    FUSE_SECURITY_CTX, 65536, 1, 0, 64);
	r = pf_init_reply(buf, len, 0, OUR_MINOR, offer64, OUR_RA, &p, &why);
	check_eq(r, 0, "accepted", __LINE__);
	check(!(p.flags & FUSE_SECURITY_CTX), "flags2 ignored without INIT_EXT", __LINE__);
	len = build_reply(buf, 7, 38, FUSE_INIT_EXT | FUSE_SECURITY_CTX |
	    PF_FUSE_PASSTHROUGH, 65536, 1, 0, 64);
	r = pf_init_reply(buf, len, 0, OUR_MINOR, offer64, OUR_RA, &p, &why);
	check_eq(r, 0, "accepted", __LINE__);
	check_eqx(p.flags, FUSE_INIT_EXT | FUSE_SECURITY_CTX,
	    "flags2 counted with INIT_EXT, masked by the offer", __LINE__);

	group("pf_init_reply: max_write at least one page");
	len = build_reply(buf, 7, 31, PF_INIT_OFFER, 0, 1, 0, 64);
	r = pf_init_reply(buf, len, 0, OUR_MINOR, PF_INIT_OFFER, OUR_RA, &p, &why);
	check_eq(r, 0, "accepted", __LINE__);
	check_eq(p.max_write, 4096, "max_write 0 -> 4096", __LINE__);
	len = build_reply(buf, 7, 31, PF_INIT_OFFER, 1000, 1, 0, 64);
	r = pf_init_reply(buf, len, 0, OUR_MINOR, PF_INIT_OFFER, OUR_RA, &p, &why);
	check_eq(p.max_write, 4096, "max_write 1000 -> 4096", __LINE__);
	len = build_reply(buf, 7, 19, PF_INIT_OFFER, 4097, 1, 0, 24);
	r = pf_init_reply(buf, len, 0, OUR_MINOR, PF_INIT_OFFER, OUR_RA, &p, &why);
	check_eq(p.max_write, 4097, "max_write 4097 kept", __LINE__);

	group("pf_init_reply: time_gran rule");
	{
		static const struct { uint32_t tg; unsigned minor; uint32_t want; } tg[] = {
			{ 0, 31, 1 }, { 1, 31, 1 }, { 1000, 31, 1000 },
			{ 1000000000, 31, 1000000000 }, { 1000000001, 31, 1 },
			{ 0xffffffffu, 31, 1 }, { 1000, 22, 1 }, { 1000, 23, 1000 },
		};

		for (i = 0; i < sizeof(tg) / sizeof(tg[0]); i++) {
			len = build_reply(buf, 7, tg[i].minor, PF_INIT_OFFER, 65536, tg[i].tg, 0,
			    reply_size(tg[i].minor));
			r = pf_init_reply(buf, len, 0, OUR_MINOR, PF_INIT_OFFER, OUR_RA, &p,
			    &why);
			checkf(r == 0 && p.time_gran == tg[i].want, __LINE__,
			    "time_gran %u at 7.%u: r %d, got %u, want %u", tg[i].tg,
			    tg[i].minor, r, p.time_gran, tg[i].want);
		}
	}

	group("pf_init_reply: max_pages rule");
	{
		static const struct { int flag; uint16_t mp; uint32_t want; } mp[] = {
			{ 1, 64, 64 }, { 1, 1, 1 }, { 1, 256, 256 }, { 1, 257, 256 },
			{ 1, 65535, 256 }, { 0, 64, PF_DEFAULT_MAX_PAGES },
			{ 0, 1000, PF_DEFAULT_MAX_PAGES },
		};

		for (i = 0; i < sizeof(mp) / sizeof(mp[0]); i++) {
			uint64_t f = PF_INIT_OFFER & ~(uint64_t)FUSE_MAX_PAGES;

			len = build_reply(buf, 7, 31, f | (mp[i].flag ? FUSE_MAX_PAGES : 0),
			    65536, 1, mp[i].mp, 64);
			r = pf_init_reply(buf, len, 0, OUR_MINOR, PF_INIT_OFFER, OUR_RA, &p,
			    &why);
			checkf(r == 0 && p.max_pages == mp[i].want, __LINE__,
			    "max_pages %u %s MAX_PAGES: r %d, got %u, want %u", mp[i].mp,
			    mp[i].flag ? "with" : "without", r, p.max_pages, mp[i].want);
		}
		/* The flag counts only if we offered it. */
		len = build_reply(buf, 7, 31, PF_INIT_OFFER, 65536, 1, 128, 64);
		r = pf_init_reply(buf, len, 0, OUR_MINOR,
		    PF_INIT_OFFER & ~(uint64_t)FUSE_MAX_PAGES, OUR_RA, &p, &why);
		check_eq(p.max_pages, PF_DEFAULT_MAX_PAGES, "MAX_PAGES not offered", __LINE__);
	}

	group("pf_init_reply: max_readahead is the smaller one");
	len = build_reply(buf, 7, 31, PF_INIT_OFFER, 65536, 1, 0, 64);
	r = pf_init_reply(buf, len, 0, OUR_MINOR, PF_INIT_OFFER, 4096, &p, &why);
	check_eq(p.max_readahead, 4096, "ours smaller", __LINE__);
	r = pf_init_reply(buf, len, 0, OUR_MINOR, PF_INIT_OFFER, 1 << 24, &p, &why);
	check_eq(p.max_readahead, 1 << 20, "the server's smaller", __LINE__);

	group("pf_init_reply: versions and errors");
	len = build_reply(buf, 8, 0, 0, 0, 0, 0, 8);
	why = NULL;
	r = pf_init_reply(buf, len, 0, OUR_MINOR, PF_INIT_OFFER, OUR_RA, &p, &why);
	check_eq(r, -EPROTO, "major 8 (8 bytes)", __LINE__);
	check(why != NULL, "major 8 has a reason", __LINE__);
	len = build_reply(buf, 8, 38, PF_INIT_OFFER, 65536, 1, 0, 64);
	r = pf_init_reply(buf, len, 0, OUR_MINOR, PF_INIT_OFFER, OUR_RA, &p, &why);
	check_eq(r, -EPROTO, "major 8 (64 bytes)", __LINE__);
	len = build_reply(buf, 6, 38, PF_INIT_OFFER, 65536, 1, 0, 64);
	r = pf_init_reply(buf, len, 0, OUR_MINOR, PF_INIT_OFFER, OUR_RA, &p, &why);
	check_eq(r, -EPROTO, "major 6", __LINE__);
	len = build_reply(buf, 6, 8, PF_INIT_OFFER, 65536, 1, 0, 24);
	r = pf_init_reply(buf, len, 0, OUR_MINOR, PF_INIT_OFFER, OUR_RA, &p, &why);
	check_eq(r, -EPROTO, "major 6, 24 bytes", __LINE__);
	len = build_reply(buf, 7, 7, PF_INIT_OFFER, 65536, 1, 0, 24);
	why = NULL;
	r = pf_init_reply(buf, len, 0, OUR_MINOR, PF_INIT_OFFER, OUR_RA, &p, &why);
	check_eq(r, -EPROTO, "minor 7", __LINE__);
	check(why != NULL, "minor 7 has a reason", __LINE__);
	len = build_reply(buf, 7, 0, 0, 0, 0, 0, 8);
	r = pf_init_reply(buf, len, 0, OUR_MINOR, PF_INIT_OFFER, OUR_RA, &p, &why);
	check_eq(r, -EPROTO, "minor 0", __LINE__);
	why = NULL;
	r = pf_init_reply(NULL, 0, -ENOSYS, OUR_MINOR, PF_INIT_OFFER, OUR_RA, &p, &why);
	check_eq(r, -ENOSYS, "server error -ENOSYS", __LINE__);
	check(why != NULL, "server error has a reason", __LINE__);
	r = pf_init_reply(NULL, 0, -EPROTO, OUR_MINOR, PF_INIT_OFFER, OUR_RA, &p, &why);
	check_eq(r, -EPROTO, "server error -EPROTO", __LINE__);
	r = pf_init_reply(NULL, 0, 5, OUR_MINOR, PF_INIT_OFFER, OUR_RA, &p, &why);
	check_eq(r, -EIO, "positive error", __LINE__);
	r = pf_init_reply(NULL, 0, -5000, OUR_MINOR, PF_INIT_OFFER, OUR_RA, &p, &why);
	check_eq(r, -EIO, "error below -4095", __LINE__);
	r = pf_init_reply(buf, 4, 0, OUR_MINOR, PF_INIT_OFFER, OUR_RA, &p, &why);
	check_eq(r, -EIO, "4-byte reply", __LINE__);
	r = pf_init_reply(buf, 0, 0, OUR_MINOR, PF_INIT_OFFER, OUR_RA, &p, &why);
	check_eq(r, -EIO, "empty reply", __LINE__);
	/* An older client minor than ours decides the size too. */
	len = build_reply(buf, 7, 38, PF_INIT_OFFER, 65536, 1, 0, 24);
	r = pf_init_reply(buf, len, 0, 20, PF_INIT_OFFER, OUR_RA, &p, &why);
	check(r == 0 && p.minor == 20, "our minor 20 vs server 38: 7.20, 24 bytes",
	    __LINE__);
}

static void
test_request(void)
{
	struct fuse_init_in in;
	uint8_t buf[sizeof(struct fuse_init_in) + 16];
	uint64_t offered;
	size_t len;

	group("pf_init_request: exact bytes at 7.38");
	memset(buf, 0xee, sizeof(buf));
	len = pf_init_request(buf, 38, PF_INIT_OFFER, 131072);
	check_eq((long long)len, 64, "length at 7.38", __LINE__);
	{
		size_t i, bad = 64;

		for (i = 0; i < 64; i++)
			if (buf[i] != rec_req_7_38[i] && bad == 64)
				bad = i;
		checkf(bad == 64, __LINE__, "request byte %zu is 0x%02x, want 0x%02x", bad,
		    bad < 64 ? buf[bad] : 0, bad < 64 ? rec_req_7_38[bad] : 0);
	}
	check(buf[64] == 0xee, "nothing written past fuse_init_in", __LINE__);

	group("pf_init_request: never offered");
	memset(buf, 0, sizeof(buf));
	len = pf_init_request(buf, 38, ~0ULL, 131072);
	memcpy(&in, buf, sizeof(in));
	offered = in.flags | ((uint64_t)in.flags2 << 32);
	check_eq((long long)len, 64, "length", __LINE__);
	check_eq(in.major, 7, "major", __LINE__);
	check_eq(in.minor, 38, "minor", __LINE__);
	check(!(offered & (FUSE_SPLICE_READ | FUSE_SPLICE_WRITE | FUSE_SPLICE_MOVE)),
	    "no splice", __LINE__);
	check(!(offered & FUSE_MAP_ALIGNMENT), "no MAP_ALIGNMENT", __LINE__);
	check(!(offered & (1ULL << 37)), "no passthrough (bit 37)", __LINE__);
	check(!(offered & (1ULL << 41)), "no io_uring (bit 41)", __LINE__);
	check(!(offered & FUSE_WRITEBACK_CACHE), "no WRITEBACK_CACHE", __LINE__);
	check(!(offered & FUSE_HAS_INODE_DAX), "no DAX", __LINE__);
	check(!(offered & PF_INIT_NEVER), "nothing of PF_INIT_NEVER", __LINE__);
	check_eqx(offered, PF_INIT_OFFER, "all of ~0 masked to the offer", __LINE__);
	check((offered & FUSE_BIG_WRITES) && (offered & FUSE_ASYNC_READ),
	    "BIG_WRITES and ASYNC_READ offered", __LINE__);
	/* Explicit never-bits alone give nothing. */
	memset(buf, 0, sizeof(buf));
	pf_init_request(buf, 38, FUSE_SPLICE_READ | FUSE_SPLICE_WRITE | FUSE_SPLICE_MOVE |
	    FUSE_MAP_ALIGNMENT | FUSE_WRITEBACK_CACHE | (1ULL << 37) | (1ULL << 41) |
	    FUSE_INIT_EXT, 0);
	memcpy(&in, buf, sizeof(in));
	check_eq(in.flags, FUSE_INIT_EXT, "only INIT_EXT left", __LINE__);
	check_eq(in.flags2, 0, "no flags2", __LINE__);

	group("pf_init_request: length by minor");
	memset(buf, 0, sizeof(buf));
	len = pf_init_request(buf, 20, PF_INIT_OFFER | FUSE_SECURITY_CTX, 65536);
	memcpy(&in, buf, sizeof(in));
	check_eq((long long)len, 16, "length at 7.20", __LINE__);
	check_eq(in.minor, 20, "minor 20", __LINE__);
	check_eq(in.max_readahead, 65536, "max_readahead", __LINE__);
	check_eq(in.flags2, 0, "no flags2 before 7.36", __LINE__);
	len = pf_init_request(buf, 8, PF_INIT_OFFER, 65536);
	check_eq((long long)len, 16, "length at 7.8", __LINE__);
	len = pf_init_request(buf, 36, PF_INIT_OFFER, 65536);
	check_eq((long long)len, 64, "length at 7.36", __LINE__);
}

static void
test_limits(void)
{
	struct pf_init_params p;
	uint32_t max_read;

	group("pf_init_limits: BIG_WRITES rule");
	memset(&p, 0, sizeof(p));
	p.minor = 31;
	p.flags = PF_INIT_OFFER & ~(uint64_t)FUSE_BIG_WRITES;
	p.max_write = 1 << 20;
	p.max_pages = 256;
	max_read = 0;
	pf_init_limits(&p, 2 << 20, &max_read);
	check_eq(p.max_write, 4096, "no BIG_WRITES: one page", __LINE__);
	check(max_read >= 4096, "max_read at least a page", __LINE__);
	p.flags = PF_INIT_OFFER;
	p.max_write = 1 << 20;
	p.max_pages = 256;
	pf_init_limits(&p, 2 << 20, &max_read);
	check_eq(p.max_write, 1 << 20, "BIG_WRITES: the server's max_write", __LINE__);
	check_eq(max_read, 1 << 20, "max_read = max_pages pages", __LINE__);
	/* The pages limit. */
	p.max_write = 1 << 20;
	p.max_pages = 32;
	pf_init_limits(&p, 2 << 20, &max_read);
	check_eq(p.max_write, 32 * 4096, "max_write <= max_pages pages", __LINE__);
	check_eq(max_read, 32 * 4096, "max_read = 32 pages", __LINE__);
	p.max_write = 8192;
	p.max_pages = 32;
	pf_init_limits(&p, 2 << 20, &max_read);
	check_eq(p.max_write, 8192, "a small max_write is kept", __LINE__);

	group("pf_init_limits: message size clamp");
	p.flags = PF_INIT_OFFER;
	p.max_write = 1 << 20;
	p.max_pages = 256;
	max_read = 0;
	pf_init_limits(&p, 64 * 1024, &max_read);
	checkf(p.max_write <= 64 * 1024 - 40 - 40, __LINE__,
	    "64 KiB messages: max_write %u fits with in header and write_in", p.max_write);
	check(p.max_write >= 4096, "max_write still at least a page", __LINE__);
	checkf(max_read <= 64 * 1024 - 16, __LINE__,
	    "64 KiB messages: max_read %u fits with the out header", max_read);
	check(max_read >= 4096, "max_read at least a page", __LINE__);
	check(max_read % 4096 == 0, "max_read whole pages", __LINE__);
	/* Without BIG_WRITES the page rule and the clamp together. */
	p.flags = 0;
	p.max_write = 1 << 20;
	pf_init_limits(&p, 64 * 1024, &max_read);
	check_eq(p.max_write, 4096, "no BIG_WRITES under a clamp", __LINE__);
	/* A message just big enough for 16 pages. */
	p.flags = PF_INIT_OFFER;
	p.max_write = 1 << 20;
	p.max_pages = 256;
	pf_init_limits(&p, 16 * 4096 + 80, &max_read);
	check_eq(p.max_write, 16 * 4096, "16 pages exactly fit", __LINE__);
}

static void
test_answer(void)
{
	struct pf_init_params srv, cp;
	struct fuse_init_in in;
	struct fuse_init_out out;
	uint8_t req[64], obuf[sizeof(struct fuse_init_out) + 8];
	const char *why;
	size_t olen, rlen;
	int r;

	memset(&srv, 0, sizeof(srv));
	srv.major = 7;
	srv.minor = 31;
	srv.peer_minor = 31;
	srv.flags = FUSE_ASYNC_READ | FUSE_BIG_WRITES | FUSE_MAX_PAGES |
	    FUSE_DO_READDIRPLUS | FUSE_PARALLEL_DIROPS;
	srv.max_readahead = 131072;
	srv.max_write = 131072;
	srv.max_pages = 32;
	srv.time_gran = 1;
	srv.max_background = 12;
	srv.congestion_threshold = 9;

	group("pf_init_answer: client 7.38, server 7.31");
	rlen = pf_init_request(req, 38, PF_INIT_OFFER, 65536);
	memset(obuf, 0xee, sizeof(obuf));
	olen = 0;
	why = NULL;
	r = pf_init_answer(req, rlen, &srv, ~0ULL, obuf, &olen, &cp, &why);
	checkf(r == 0, __LINE__, "answered: %d (%s)", r, why ? why : "");
	check_eq((long long)olen, 64, "a 64-byte reply", __LINE__);
	check(obuf[64] == 0xee, "nothing written past 64 bytes", __LINE__);
	memcpy(&out, obuf, sizeof(out));
	check_eq(out.major, 7, "major", __LINE__);
	check_eq(out.minor, 31, "answered at the server's minor", __LINE__);
	check_eqx(out.flags, srv.flags & PF_INIT_OFFER, "flags: client and server", __LINE__);
	check_eq(out.max_write, 131072, "max_write", __LINE__);
	check_eq(out.max_readahead, 65536, "max_readahead: the client's smaller", __LINE__);
	check_eq(out.max_pages, 32, "max_pages", __LINE__);
	check_eq(out.time_gran, 1, "time_gran", __LINE__);
	check_eq(out.max_background, 12, "max_background", __LINE__);
	check_eq(out.congestion_threshold, 9, "congestion_threshold", __LINE__);
	check_eq(cp.minor, 31, "client's agreed minor", __LINE__);
	check_eq(cp.peer_minor, 38, "client's announced minor", __LINE__);
	check_eqx(cp.flags, srv.flags & PF_INIT_OFFER, "client's flags", __LINE__);

	group("pf_init_answer: flags = client & server & supported");
	memset(&in, 0, sizeof(in));
	in.major = 7;
	in.minor = 38;
	in.max_readahead = 1 << 20;
	in.flags = FUSE_ASYNC_READ | FUSE_BIG_WRITES | FUSE_POSIX_LOCKS | FUSE_INIT_EXT;
	in.flags2 = (uint32_t)(FUSE_SECURITY_CTX >> 32);
	memcpy(req, &in, sizeof(in));
	srv.minor = 38;
	srv.flags = FUSE_BIG_WRITES | FUSE_POSIX_LOCKS | FUSE_DO_READDIRPLUS |
	    FUSE_INIT_EXT | FUSE_SECURITY_CTX;
	r = pf_init_answer(req, 64, &srv, FUSE_POSIX_LOCKS | FUSE_DO_READDIRPLUS |
	    FUSE_ASYNC_READ | FUSE_INIT_EXT | FUSE_SECURITY_CTX, obuf, &olen, &cp, &why);
	check_eq(r, 0, "answered", __LINE__);
	memcpy(&out, obuf, sizeof(out));
	check_eqx(out.flags, FUSE_POSIX_LOCKS | FUSE_INIT_EXT, "low flags", __LINE__);
	check_eqx(out.flags2, FUSE_SECURITY_CTX >> 32, "flags2", __LINE__);
	check_eqx(cp.flags, FUSE_POSIX_LOCKS | FUSE_INIT_EXT | FUSE_SECURITY_CTX,
	    "granted flags", __LINE__);
	check_eq(out.max_readahead, 131072, "max_readahead: the server's smaller", __LINE__);
	/* flags2 of a client without INIT_EXT means nothing. */
	in.flags &= ~(uint32_t)FUSE_INIT_EXT;
	memcpy(req, &in, sizeof(in));
	r = pf_init_answer(req, 64, &srv, ~0ULL, obuf, &olen, &cp, &why);
	check_eq(r, 0, "answered", __LINE__);
	check(!(cp.flags & FUSE_SECURITY_CTX), "flags2 ignored without INIT_EXT", __LINE__);

	group("pf_init_answer: sizes by the server's minor");
	srv.minor = 19;
	srv.flags = FUSE_ASYNC_READ | FUSE_BIG_WRITES;
	rlen = pf_init_request(req, 38, PF_INIT_OFFER, 65536);
	r = pf_init_answer(req, rlen, &srv, ~0ULL, obuf, &olen, &cp, &why);
	check_eq(r, 0, "7.19 server", __LINE__);
	check_eq((long long)olen, 24, "24 bytes at 7.19", __LINE__);
	srv.minor = 8;
	srv.flags = FUSE_ASYNC_READ;
	r = pf_init_answer(req, rlen, &srv, ~0ULL, obuf, &olen, &cp, &why);
	check_eq(r, 0, "7.8 server", __LINE__);
	check_eq((long long)olen, 24, "24 bytes at 7.8", __LINE__);
	srv.minor = 38;
	r = pf_init_answer(req, rlen, &srv, ~0ULL, obuf, &olen, &cp, &why);
	check_eq(r, 0, "7.38 server", __LINE__);
	check_eq((long long)olen, 64, "64 bytes at 7.38", __LINE__);
	/* A 16-byte request of an old client at the server's minor. */
	srv.minor = 19;
	rlen = pf_init_request(req, 20, PF_INIT_OFFER, 65536);
	check_eq((long long)rlen, 16, "a 16-byte request", __LINE__);
	r = pf_init_answer(req, rlen, &srv, ~0ULL, obuf, &olen, &cp, &why);
	check_eq(r, 0, "16-byte request answered", __LINE__);
	check_eq((long long)olen, 24, "24 bytes", __LINE__);
	r = pf_init_answer(req, 15, &srv, ~0ULL, obuf, &olen, &cp, &why);
	check(r < 0, "a 15-byte request refused", __LINE__);

	group("pf_init_answer: versions");
	srv.minor = 31;
	memset(&in, 0, sizeof(in));
	in.major = 8;
	in.minor = 0;
	memcpy(req, &in, sizeof(in));
	memset(obuf, 0xee, sizeof(obuf));
	r = pf_init_answer(req, 64, &srv, ~0ULL, obuf, &olen, &cp, &why);
	check_eq(r, 1, "client major 8: tell it ours", __LINE__);
	check_eq((long long)olen, 8, "an 8-byte reply", __LINE__);
	memcpy(&out, obuf, 8);
	check_eq(out.major, 7, "announced major", __LINE__);
	check(obuf[8] == 0xee, "nothing past 8 bytes", __LINE__);
	in.major = 6;
	in.minor = 38;
	memcpy(req, &in, sizeof(in));
	why = NULL;
	r = pf_init_answer(req, 64, &srv, ~0ULL, obuf, &olen, &cp, &why);
	check_eq(r, -EPROTO, "client major 6", __LINE__);
	check(why != NULL, "with a reason", __LINE__);
	in.major = 7;
	in.minor = 11;
	memcpy(req, &in, sizeof(in));
	why = NULL;
	r = pf_init_answer(req, 64, &srv, ~0ULL, obuf, &olen, &cp, &why);
	check_eq(r, -EPROTO, "client 7.11 older than server 7.31 (MKNOD and CREATE "
	    "without umask)", __LINE__);
	check(why != NULL, "with a reason", __LINE__);
	in.minor = 31;
	memcpy(req, &in, sizeof(in));
	r = pf_init_answer(req, 64, &srv, ~0ULL, obuf, &olen, &cp, &why);
	check_eq(r, 0, "client 7.31 = server 7.31", __LINE__);
	srv.minor = 8;
	in.minor = 7;
	memcpy(req, &in, sizeof(in));
	r = pf_init_answer(req, 16, &srv, ~0ULL, obuf, &olen, &cp, &why);
	check_eq(r, -EPROTO, "client 7.7", __LINE__);

	group("pf_init_answer: a client older than the server, answered at its minor");
	{
		/* client, server, accepted, reply size */
		static const unsigned cases[][4] = {
			{ 12, 31, 1, 24 }, { 19, 31, 1, 24 }, { 23, 31, 1, 64 },
			{ 30, 38, 1, 64 }, { 22, 23, 1, 24 }, { 9, 11, 1, 24 },
			{ 8, 9, 0, 0 }, { 11, 12, 0, 0 }, { 8, 31, 0, 0 }, { 10, 38, 0, 0 },
		};
		unsigned i;

		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			srv.minor = cases[i][1];
			srv.flags = FUSE_ASYNC_READ | FUSE_BIG_WRITES;
			rlen = pf_init_request(req, cases[i][0], PF_INIT_OFFER, 65536);
			memset(obuf, 0xee, sizeof(obuf));
			olen = 0;
			why = NULL;
			r = pf_init_answer(req, rlen, &srv, ~0ULL, obuf, &olen, &cp, &why);
			if (!cases[i][2]) {
				checkf(r == -EPROTO && why != NULL, __LINE__, "client 7.%u, "
				    "server 7.%u: refused (%d)", cases[i][0], cases[i][1], r);
				continue;
			}
			memcpy(&out, obuf, sizeof(out));
			checkf(r == 0 && out.minor == cases[i][0] && olen == cases[i][3] &&
			    obuf[olen] == 0xee && cp.peer_minor == cases[i][0] &&
			    cp.minor == cases[i][0], __LINE__, "client 7.%u, server 7.%u: "
			    "r %d (%s), minor %u, %zu bytes, peer %u, agreed %u", cases[i][0],
			    cases[i][1], r, why ? why : "", out.minor, olen, cp.peer_minor,
			    cp.minor);
		}
	}

	group("pf_notify_since: the minor of each notification");
	check_eq(pf_notify_since(FUSE_NOTIFY_POLL), 11, "POLL", __LINE__);
	check_eq(pf_notify_since(FUSE_NOTIFY_INVAL_INODE), 12, "INVAL_INODE", __LINE__);
	check_eq(pf_notify_since(FUSE_NOTIFY_INVAL_ENTRY), 12, "INVAL_ENTRY", __LINE__);
	check_eq(pf_notify_since(FUSE_NOTIFY_STORE), 15, "STORE", __LINE__);
	check_eq(pf_notify_since(FUSE_NOTIFY_RETRIEVE), 15, "RETRIEVE", __LINE__);
	check_eq(pf_notify_since(FUSE_NOTIFY_DELETE), 18, "DELETE", __LINE__);
	check(pf_notify_since(0) == UINT_MAX && pf_notify_since(1000) == UINT_MAX,
	    "unknown codes: no minor", __LINE__);
}

int
main(void)
{
	test_recorded();
	test_minors();
	test_request();
	test_limits();
	test_answer();
	return unit_done("test_init");
}
