/*
 * log.c - the logging hook of libperfuse.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"

static struct {
	pthread_mutex_t lock;
	perfuse_log_fn fn;
	void *arg;
} hook = { PTHREAD_MUTEX_INITIALIZER, NULL, NULL };

static void
default_log(enum perfuse_log_level level, const char *msg, void *arg)
{
	(void)arg;
	if (level <= PERFUSE_LOG_WARN || getenv("PERFUSE_DEBUG") != NULL)
		fprintf(stderr, "perfuse: %s\n", msg);
}

void
perfuse_set_log(perfuse_log_fn fn, void *arg)
{
	pthread_mutex_lock(&hook.lock);
	hook.fn = fn;
	hook.arg = arg;
	pthread_mutex_unlock(&hook.lock);
}

void
pf_vlog(enum perfuse_log_level level, const char *fmt, va_list ap)
{
	char msg[1024];
	perfuse_log_fn fn;
	void *arg;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	pthread_mutex_lock(&hook.lock);
	fn = hook.fn != NULL ? hook.fn : default_log;
	arg = hook.arg;
	pthread_mutex_unlock(&hook.lock);
	fn(level, msg, arg);
}

void
pf_log(enum perfuse_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pf_vlog(level, fmt, ap);
	va_end(ap);
}

int
pf_warn_ratelimit(long *last, int interval, const char *fmt, ...)
{
	struct timespec now;
	va_list ap;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (*last != 0 && now.tv_sec - *last < interval)
		return 0;
	*last = now.tv_sec == 0 ? 1 : now.tv_sec;
	va_start(ap, fmt);
	pf_vlog(PERFUSE_LOG_WARN, fmt, ap);
	va_end(ap);
	return 1;
}
