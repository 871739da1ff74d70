/*
 * ioloop - I/O that carries on across a crash of the filesystem, for
 * tests/kernel/restart.sh.
 *
 *	ioloop write PATH SECONDS             append records, fsync each
 *	ioloop read PATH SECONDS              read a file again and again
 *	ioloop api-write SOCK TARGET REL SECONDS   the same through libperfuse
 *	ioloop api-read SOCK TARGET REL SECONDS
 *	ioloop api-stat SOCK TARGET REL       for each line read, stat REL on one
 *	                                      session and print its size (or -errno)
 *	ioloop api-open SOCK TARGET REL       for each line read, open REL for
 *	                                      reading on one session (and close
 *	                                      it): print 0 or -errno
 *
 * The kernel modes use one open file descriptor all along, the API modes
 * one perfuse session and one open file: they are what must survive the
 * restart.  A writer prints the number of every record whose fsync
 * succeeded on stdout ("rec %08d"); the test checks each is in the file.
 * Errors go to stderr as "ioloop: OP: ERRNO-NAME".  Exit status: 0 when
 * every call succeeded or failed with EIO only (a write in flight when the
 * server died fails so, as -o restart documents); 2 when another error
 * came (ENOTCONN above all: what -o restart must spare its clients); 1 on
 * bad usage or a failed start.  A reader also fails on a read that
 * differs from the first.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "perfuse.h"

#define RECLEN 13  /* "rec 00000000\n" */

static int eio, other;

static void
failed(const char *op, int err)
{
	fprintf(stderr, "ioloop: %s: %s\n", op, strerrorname_np(err) ?
	    strerrorname_np(err) : strerror(err));
	if (err == EIO)
		eio++;
	else
		other++;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
pause_a_little(void)
{
	struct timespec ts = { 0, 5 * 1000 * 1000 };

	nanosleep(&ts, NULL);
}

/* Kernel path: one descriptor, O_APPEND, fsync after each record. */
static int
kwrite(const char *path, double secs)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
	double end = now() + secs;
	char rec[RECLEN + 1];
	unsigned i;

	if (fd < 0) {
		perror(path);
		return 1;
	}
	for (i = 0; now() < end; i++) {
		snprintf(rec, sizeof(rec), "rec %08u\n", i);
		if (write(fd, rec, RECLEN) != RECLEN)
			failed("write", errno);
		else if (fsync(fd) < 0)
			failed("fsync", errno);
		else
			printf("rec %08u\n", i);
		pause_a_little();
	}
	fflush(stdout);
	if (close(fd) < 0)
		failed("close", errno);
	fprintf(stderr, "ioloop: %u records, %d EIO, %d other errors\n", i, eio, other);
	return other ? 2 : 0;
}

static int
kread(const char *path, double secs)
{
	static char first[1 << 16], buf[1 << 16];
	int fd = open(path, O_RDONLY);
	double end = now() + secs;
	ssize_t n0, n;
	unsigned i;

	if (fd < 0 || (n0 = pread(fd, first, sizeof(first), 0)) < 0) {
		perror(path);
		return 1;
	}
	for (i = 0; now() < end; i++) {
		n = pread(fd, buf, sizeof(buf), 0);
		if (n < 0)
			failed("read", errno);
		else if (n != n0 || memcmp(buf, first, (size_t)n) != 0) {
			fprintf(stderr, "ioloop: read %zd bytes that differ from the first "
			    "%zd\n", n, n0);
			other++;
		}
		pause_a_little();
	}
	close(fd);
	fprintf(stderr, "ioloop: %u reads, %d EIO, %d other errors\n", i, eio, other);
	return other || eio ? 2 : 0;  /* reads are retried: no EIO either */
}

static int
awrite(perfuse_conn *c, const char *rel, double secs)
{
	double end = now() + secs;
	perfuse_file *f;
	char rec[RECLEN + 1];
	unsigned i;
	int err;

	if ((err = perfuse_file_open(c, rel, O_WRONLY | O_CREAT | O_TRUNC, 0644, &f)) < 0) {
		fprintf(stderr, "ioloop: open %s: %s\n", rel, strerror(-err));
		return 1;
	}
	for (i = 0; now() < end; i++) {
		ssize_t n;

		snprintf(rec, sizeof(rec), "rec %08u\n", i);
		n = perfuse_pwrite(f, rec, RECLEN, (off_t)i * RECLEN);
		if (n != RECLEN)
			failed("pwrite", n < 0 ? (int)-n : EIO);
		else if ((err = perfuse_fsync(f, 0)) < 0)
			failed("fsync", -err);
		else
			printf("rec %08u\n", i);
		pause_a_little();
	}
	fflush(stdout);
	if ((err = perfuse_file_close(f)) < 0)
		failed("close", -err);
	fprintf(stderr, "ioloop: %u records, %d EIO, %d other errors\n", i, eio, other);
	return other ? 2 : 0;
}

static int
aread(perfuse_conn *c, const char *rel, double secs)
{
	static char first[1 << 16], buf[1 << 16];
	double end = now() + secs;
	perfuse_file *f;
	ssize_t n0, n;
	unsigned i;
	int err;

	if ((err = perfuse_file_open(c, rel, O_RDONLY, 0, &f)) < 0 ||
	    (n0 = perfuse_pread(f, first, sizeof(first), 0)) < 0) {
		fprintf(stderr, "ioloop: %s: cannot open and read it\n", rel);
		return 1;
	}
	for (i = 0; now() < end; i++) {
		struct stat st;

		n = perfuse_pread(f, buf, sizeof(buf), 0);
		if (n < 0)
			failed("pread", (int)-n);
		else if (n != n0 || memcmp(buf, first, (size_t)n) != 0) {
			fprintf(stderr, "ioloop: read %zd bytes that differ from the first "
			    "%zd\n", n, n0);
			other++;
		}
		if ((err = perfuse_stat(c, rel, &st)) < 0)
			failed("stat", -err);
		pause_a_little();
	}
	perfuse_file_close(f);
	fprintf(stderr, "ioloop: %u reads, %d EIO, %d other errors\n", i, eio, other);
	return other || eio ? 2 : 0;
}

/* One session, whose cache must hear of changes made elsewhere. */
static int
astat(perfuse_conn *c, const char *rel)
{
	char line[64];

	while (fgets(line, sizeof(line), stdin) != NULL) {
		struct stat st;
		int err = perfuse_stat(c, rel, &st);

		if (err < 0)
			printf("%d\n", err);
		else
			printf("%lld\n", (long long)st.st_size);
	}
	return 0;
}

/* One session, whose permission checks must follow changes made elsewhere. */
static int
aopen(perfuse_conn *c, const char *rel)
{
	char line[64];

	while (fgets(line, sizeof(line), stdin) != NULL) {
		perfuse_file *f;
		int err = perfuse_file_open(c, rel, O_RDONLY, 0, &f);

		if (err == 0)
			perfuse_file_close(f);
		printf("%d\n", err < 0 ? err : 0);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	perfuse_conn *c;
	int err, rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 4 && strcmp(argv[1], "write") == 0)
		return kwrite(argv[2], atof(argv[3]));
	if (argc == 4 && strcmp(argv[1], "read") == 0)
		return kread(argv[2], atof(argv[3]));
	if (argc == 5 && (strcmp(argv[1], "api-stat") == 0 ||
	    strcmp(argv[1], "api-open") == 0)) {
		if ((err = perfuse_connect(argv[2], argv[3], &c)) < 0) {
			fprintf(stderr, "ioloop: connect to %s: %s\n", argv[3], strerror(-err));
			return 1;
		}
		rc = argv[1][4] == 's' ? astat(c, argv[4]) : aopen(c, argv[4]);
		perfuse_disconnect(c);
		return rc;
	}
	if (argc != 6 || (strcmp(argv[1], "api-write") != 0 &&
	    strcmp(argv[1], "api-read") != 0)) {
		fprintf(stderr, "usage: ioloop write|read PATH SECONDS\n"
		    "       ioloop api-write|api-read SOCKET TARGET RELPATH SECONDS\n"
		    "       ioloop api-stat|api-open SOCKET TARGET RELPATH\n");
		return 1;
	}
	if ((err = perfuse_connect(argv[2], argv[3], &c)) < 0) {
		fprintf(stderr, "ioloop: connect to %s: %s\n", argv[3], strerror(-err));
		return 1;
	}
	rc = argv[1][4] == 'w' ? awrite(c, argv[4], atof(argv[5])) :
	    aread(c, argv[4], atof(argv[5]));
	perfuse_disconnect(c);
	return rc;
}
