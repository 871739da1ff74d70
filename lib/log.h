/*
 * log.h - libperfuse's one logging hook.  Library code never prints
 * except through these.
 */
#ifndef PERFUSE_LOG_H
#define PERFUSE_LOG_H

#include <stdarg.h>
#include "perfuse.h"

void pf_log(enum perfuse_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void pf_vlog(enum perfuse_log_level level, const char *fmt, va_list ap);

#define pf_err(...)   pf_log(PERFUSE_LOG_ERR, __VA_ARGS__)
#define pf_warn(...)  pf_log(PERFUSE_LOG_WARN, __VA_ARGS__)
#define pf_info(...)  pf_log(PERFUSE_LOG_INFO, __VA_ARGS__)
#define pf_debug(...) pf_log(PERFUSE_LOG_DEBUG, __VA_ARGS__)

/*
 * A warning limited to one per *last + interval seconds, so that a
 * misbehaving peer cannot flood the log.  *last is the caller's state.
 * Returns 1 if the message was printed.
 */
int pf_warn_ratelimit(long *last, int interval, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
