/*
 * daemon.h - finding perfused: its socket and its program.  Internal.
 */
#ifndef PERFUSE_DAEMON_H
#define PERFUSE_DAEMON_H

#include <stddef.h>

/* sockpath, else $PERFUSE_SOCKET, else the default.  0 or -ENAMETOOLONG. */
int pf_socket_path(const char *sockpath, char *buf, size_t size);

/* Connect a control connection; -ECONNREFUSED when no perfused answers. */
int pf_ctl_connect(const char *sockpath);

/* The perfused program to start: $PERFUSED, beside us, or on PATH. */
void pf_perfused_program(char *buf, size_t size);

#endif
