/*
 * unit.h - the unit tests' tiny assertion helper.
 *
 * Checks are grouped: group("name") starts a group (and ends the one
 * before), check*() record one assertion each.  When a group ends it prints
 * exactly one line on stdout: "ok name" or "FAIL name: first failure (N
 * failed)"; further failures of the group are listed on stderr as they
 * happen.  A group in which no check ran fails too, so that a test that
 * silently skips its assertions cannot pass.  unit_done() ends the last
 * group, prints a summary and returns the exit status (0 only if every
 * group passed).
 *
 * check() and friends may be called from several threads; the group itself
 * is set by the main thread.
 */
#ifndef PERFUSE_UNIT_H
#define PERFUSE_UNIT_H

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static struct {
	pthread_mutex_t lock;
	const char *group;    /* current group, NULL before the first */
	int group_checks;
	int group_fails;
	char first[400];      /* the group's first failure */
	int groups, failed_groups;
	long checks, fails;
} unit_st = { PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0, "", 0, 0, 0, 0 };

/* End the current group: its one line. */
static inline void
unit_end_group(void)
{
	pthread_mutex_lock(&unit_st.lock);
	if (unit_st.group != NULL) {
		unit_st.groups++;
		if (unit_st.group_checks == 0) {
			unit_st.failed_groups++;
			printf("FAIL %s: no check ran\n", unit_st.group);
		} else if (unit_st.group_fails != 0) {
			unit_st.failed_groups++;
			printf("FAIL %s: %s (%d of %d checks failed)\n", unit_st.group,
			    unit_st.first, unit_st.group_fails, unit_st.group_checks);
		} else {
			printf("ok %s\n", unit_st.group);
		}
		fflush(stdout);
	}
	unit_st.group = NULL;
	pthread_mutex_unlock(&unit_st.lock);
}

/* Start a group named name (a string that outlives the group). */
static inline void
group(const char *name)
{
	unit_end_group();
	pthread_mutex_lock(&unit_st.lock);
	unit_st.group = name;
	unit_st.group_checks = 0;
	unit_st.group_fails = 0;
	unit_st.first[0] = '\0';
	pthread_mutex_unlock(&unit_st.lock);
}

/* The name of the current group, for messages of the test itself. */
static inline const char *
unit_group_name(void)
{
	return unit_st.group != NULL ? unit_st.group : "(none)";
}

/* Record one assertion; detail says what failed.  Returns ok. */
static inline int
unit_record(int ok, const char *detail, int line)
{
	pthread_mutex_lock(&unit_st.lock);
	unit_st.checks++;
	unit_st.group_checks++;
	if (!ok) {
		unit_st.fails++;
		if (unit_st.group_fails++ == 0)
			snprintf(unit_st.first, sizeof(unit_st.first),
			    "line %d: %.380s", line, detail);
		else
			fprintf(stderr, "  [%s] also failed, line %d: %s\n",
			    unit_group_name(), line, detail);
	}
	pthread_mutex_unlock(&unit_st.lock);
	return ok;
}

/* check(cond, "what should hold", __LINE__) */
static inline int
check(int ok, const char *what, int line)
{
	return unit_record(ok != 0, what, line);
}

/* Like check(), with a printf-style explanation. */
static inline int
checkf(int ok, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline int
checkf(int ok, int line, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	if (ok)
		return unit_record(1, "", line);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return unit_record(0, msg, line);
}

/* An integer equality: "what: got X, want Y" on failure. */
static inline int
check_eq(long long got, long long want, const char *what, int line)
{
	if (got == want)
		return unit_record(1, "", line);
	return checkf(0, line, "%s: got %lld, want %lld", what, got, want);
}

/* An unsigned 64-bit equality, printed in hex. */
static inline int
check_eqx(unsigned long long got, unsigned long long want, const char *what,
    int line)
{
	if (got == want)
		return unit_record(1, "", line);
	return checkf(0, line, "%s: got 0x%llx, want 0x%llx", what, got, want);
}

/* A string equality. */
static inline int
check_str(const char *got, const char *want, const char *what, int line)
{
	if (got != NULL && want != NULL && strcmp(got, want) == 0)
		return unit_record(1, "", line);
	return checkf(0, line, "%s: got \"%s\", want \"%s\"", what,
	    got != NULL ? got : "(null)", want != NULL ? want : "(null)");
}

/* End of the program: the summary; returns the exit status. */
static inline int
unit_done(const char *prog)
{
	unit_end_group();
	printf("%s: %d groups, %d failed; %ld checks, %ld failed\n", prog,
	    unit_st.groups, unit_st.failed_groups, unit_st.checks, unit_st.fails);
	fflush(stdout);
	return unit_st.failed_groups == 0 && unit_st.groups > 0 ? 0 : 1;
}

#endif
