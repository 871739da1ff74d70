/*
 * sock.h - socket buffer sizing shared by libperfuse and perfused.
 */
#ifndef PERFUSE_SOCK_H
#define PERFUSE_SOCK_H

#include <stddef.h>

/*
 * Size SO_SNDBUF and SO_RCVBUF of fd by the seed's rule: room for 16
 * messages of payload bytes plus headers, or PERFUSE_BUFSIZE bytes when
 * that is set.  The kernel caps the value (net.core.wmem_max); returns
 * the largest datagram the buffers then carry, which bounds max_write.
 */
size_t pf_sock_setbuf(int fd, size_t payload);

/* The PERFUSE_BUFSIZE rule alone: bytes to ask for. */
size_t pf_sock_bufsize(size_t payload);

#endif
