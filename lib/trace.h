/*
 * trace.h - perfused's trace records: what "perfuse trace" shows live and
 * what "perfuse trace -o FILE" records for "perfuse replay".
 *
 * A subscriber gets one record per datagram.  A trace file is the 8 bytes
 * PF_TRACE_MAGIC followed by records back to back.  All fields are
 * little-endian, as on the wire.  A record is this header followed by
 * msglen bytes of the FUSE message it describes: the request as the client
 * sent it (with the client's unique), or the reply as the client got it.
 */
#ifndef PERFUSE_TRACE_H
#define PERFUSE_TRACE_H

#include <stddef.h>
#include <stdint.h>

#define PF_TRACE_MAGIC "PFTRACE1"

enum pf_trace_kind {
	PF_TR_REQUEST = 1,   /* a client's request, forwarded to the server */
	PF_TR_REPLY = 2,     /* the server's reply, as the client got it */
	PF_TR_NOTIFY = 3,    /* a notification from the server */
	PF_TR_LOST = 4,      /* records dropped because the subscriber was slow */
	PF_TR_END = 5,       /* the mount ended */
};

#define PF_TRF_KERNEL 0x1u   /* the client is the kernel */
#define PF_TRF_TRUNC  0x2u   /* msglen < origlen: the message was cut */

struct pf_trace_rec {
	uint32_t len;         /* this header plus msglen */
	uint16_t kind;        /* enum pf_trace_kind */
	uint16_t flags;       /* PF_TRF_* */
	uint64_t time_ns;     /* CLOCK_REALTIME, nanoseconds */
	uint64_t unique;      /* the client's unique */
	uint64_t nodeid;      /* the request's nodeid */
	uint32_t opcode;      /* the request's opcode, on replies too */
	int32_t error;        /* replies: the error; NOTIFY: the code; LOST: count */
	uint32_t pid;         /* the client's pid (the caller's, for the kernel) */
	uint32_t latency_us;  /* replies: time since the request */
	uint32_t msglen;      /* message bytes that follow */
	uint32_t origlen;     /* the message's real length */
};

/* How much of a message a live trace carries (names, offsets, sizes). */
#define PF_TRACE_SUMMARY 512

/*
 * Describe the arguments that matter of a request body (after the in
 * header): names, offsets, sizes, flags.  Writes a NUL-terminated string.
 */
void pf_trace_describe(uint32_t opcode, const void *body, size_t len, char *out,
    size_t size);

/* Check a record read from a file or a socket: 0 or -EINVAL. */
int pf_trace_check(const void *buf, size_t len);

#endif
