/*
 * init.h - FUSE_INIT negotiation, both ways: libperfuse as the client of a
 * server, and perfused answering a client's INIT on the server's behalf.
 */
#ifndef PERFUSE_INIT_H
#define PERFUSE_INIT_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/* Bits of the 64-bit INIT flags (flags | flags2 << 32) newer than our header. */
#define PF_FUSE_PASSTHROUGH    (1ULL << 37)
#define PF_FUSE_OVER_IO_URING  (1ULL << 41)

/*
 * What we never offer over a socket: splice needs a pipe to the device,
 * passthrough and io_uring need the kernel's own device, DAX needs a
 * shared memory window, writeback caching needs a page cache we do not
 * have, submounts need the kernel's automount.
 */
#define PF_INIT_NEVER (FUSE_SPLICE_WRITE | FUSE_SPLICE_MOVE | FUSE_SPLICE_READ | \
	FUSE_MAP_ALIGNMENT | FUSE_HAS_INODE_DAX | FUSE_WRITEBACK_CACHE | \
	FUSE_SUBMOUNTS | PF_FUSE_PASSTHROUGH | PF_FUSE_OVER_IO_URING)

/* What we offer a server: the capabilities a relay can carry. */
#define PF_INIT_OFFER (FUSE_ASYNC_READ | FUSE_POSIX_LOCKS | FUSE_ATOMIC_O_TRUNC | \
	FUSE_EXPORT_SUPPORT | FUSE_BIG_WRITES | FUSE_FLOCK_LOCKS | \
	FUSE_AUTO_INVAL_DATA | FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO | \
	FUSE_ASYNC_DIO | FUSE_NO_OPEN_SUPPORT | FUSE_PARALLEL_DIROPS | \
	FUSE_HANDLE_KILLPRIV | FUSE_ABORT_ERROR | FUSE_MAX_PAGES | \
	FUSE_CACHE_SYMLINKS | FUSE_NO_OPENDIR_SUPPORT | \
	FUSE_EXPLICIT_INVAL_DATA | FUSE_INIT_EXT)

/* Pages of a request when the server did not negotiate MAX_PAGES. */
#define PF_DEFAULT_MAX_PAGES 32
#define PF_MAX_MAX_PAGES 256

/* The outcome of an INIT. */
struct pf_init_params {
	unsigned major;          /* 7 */
	unsigned minor;          /* agreed minor: the lower one wins */
	unsigned peer_minor;     /* the minor the other side announced */
	uint64_t flags;          /* flags both sides accepted */
	uint32_t max_readahead;
	uint32_t max_write;      /* largest WRITE payload, from the server */
	uint32_t max_pages;      /* pages per READ/WRITE */
	uint32_t time_gran;      /* ns; 1 if the server gave none */
	uint16_t max_background;
	uint16_t congestion_threshold;
};

/*
 * Build an INIT request body offering minor with flags (masked by
 * PF_INIT_OFFER).  buf must hold sizeof(struct fuse_init_in).  Returns
 * its length for that minor.
 */
size_t pf_init_request(void *buf, unsigned minor, uint64_t flags,
    uint32_t max_readahead);

/*
 * Decode a server's INIT reply to a request built by pf_init_request().
 * error is the out header's error, body/len the payload.  Returns 0 and
 * fills *p, or -EPROTO / -EIO / the server's error with *why set.
 */
int pf_init_reply(const void *body, size_t len, int32_t error,
    unsigned our_minor, uint64_t offered, uint32_t our_readahead,
    struct pf_init_params *p, const char **why);

/*
 * Limit max_write and the READ size to what one datagram of msgmax bytes
 * carries, and to the pages the server accepts; apply the BIG_WRITES rule
 * (without it a WRITE carries one page).  Sets *max_read.
 */
void pf_init_limits(struct pf_init_params *p, size_t msgmax, uint32_t *max_read);

/*
 * Answer a client's INIT for a server already initialised with *srv.
 * out must hold sizeof(struct fuse_init_out); *outlen gets the reply
 * length.  *cp receives what the client was granted.  supported limits
 * the flags to those the relay handles.  Returns 0, or 1 when the reply
 * only announces our major and the client must send INIT again, or
 * -EPROTO with *why set.
 */
int pf_init_answer(const void *req, size_t reqlen, const struct pf_init_params *srv,
    uint64_t supported, void *out, size_t *outlen, struct pf_init_params *cp,
    const char **why);

#endif
