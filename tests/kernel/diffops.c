/*
 * diffops.c - a fixed sequence of file-system operations whose results are
 * printed canonically, for the differential test of the kernel front-end
 * (tests/kernel/differential.sh).
 *
 *	diffops DIR
 *	diffops --read-on-cue FILE
 *
 * Works in a fresh subdirectory DIR/diffops.w and prints one line per step:
 *
 *	STEP: RESULT
 *
 * RESULT is a return value, "ERR ENAME" for a failure, or a canonical
 * description (file type, permission bits, link count, size, whether
 * owner and group are the caller's, relations between times such as
 * "mtime changed").  Nothing that changes from one run to the next is
 * printed: no inode or device numbers, no clock times (only times that the
 * program set itself), no readdir order.  The same filesystem mounted
 * directly on kernel FUSE and through perfused must print the same lines.
 *
 * Exit status 0 when the sequence ran to its end (whatever the results),
 * 2 on usage errors, 1 when DIR cannot be used at all.
 *
 * --read-on-cue FILE opens FILE, prints "open: 0" (or its error), waits
 * for a line on stdin, then reads FILE to its end and prints "read: BYTES"
 * or "read: ERR ENAME": the reader that the test blocks on a filesystem
 * that stopped answering, then kills.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif
#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 0x01
#endif
#ifndef FALLOC_FL_PUNCH_HOLE
#define FALLOC_FL_PUNCH_HOLE 0x02
#endif
#ifndef FALLOC_FL_ZERO_RANGE
#define FALLOC_FL_ZERO_RANGE 0x10
#endif

#define NDIRENT 10000
#define WORKDIR "diffops.w"

static int steps;

/* ------------------------------------------------------------------ */
/* Printing                                                             */

static const char *
ename(int e)
{
	const char *n = strerrorname_np(e);
	static char buf[32];

	if (n != NULL)
		return n;
	snprintf(buf, sizeof(buf), "E#%d", e);
	return buf;
}

static void
out(const char *step, const char *fmt, ...)
{
	va_list ap;

	printf("%s: ", step);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	steps++;
}

/* A system call's result: its value, or ERR and the errno name. */
static long
res(const char *step, long r)
{
	int e = errno;

	if (r < 0)
		out(step, "ERR %s", ename(e));
	else
		out(step, "%ld", r);
	errno = e;
	return r;
}

static const char *
ftype(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG: return "reg";
	case S_IFDIR: return "dir";
	case S_IFLNK: return "lnk";
	case S_IFIFO: return "fifo";
	case S_IFSOCK: return "sock";
	case S_IFCHR: return "chr";
	case S_IFBLK: return "blk";
	default: return "?";
	}
}

static const char *
who(uid_t id, uid_t self)
{
	static char buf[2][24];
	static int i;

	if (id == self)
		return "self";
	i ^= 1;
	snprintf(buf[i], sizeof(buf[i]), "%u", (unsigned)id);
	return buf[i];
}

static void
describe(const char *step, const struct stat *st)
{
	char gid[24];

	snprintf(gid, sizeof(gid), "%s", who(st->st_gid, getgid()));
	out(step, "%s mode=%04o nlink=%lu size=%lld uid=%s gid=%s", ftype(st->st_mode),
	    (unsigned)(st->st_mode & 07777), (unsigned long)st->st_nlink,
	    (long long)(S_ISDIR(st->st_mode) ? -1 : st->st_size),
	    who(st->st_uid, getuid()), gid);
}

/* stat or lstat a path and print it; directories' sizes are left out. */
static int
show_stat(const char *step, const char *path, int follow, struct stat *stp)
{
	struct stat st;
	int r = follow ? stat(path, &st) : lstat(path, &st);

	if (r < 0) {
		out(step, "ERR %s", ename(errno));
		return -1;
	}
	describe(step, &st);
	if (stp != NULL)
		*stp = st;
	return 0;
}

static int
show_fstat(const char *step, int fd, struct stat *stp)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		out(step, "ERR %s", ename(errno));
		return -1;
	}
	describe(step, &st);
	if (stp != NULL)
		*stp = st;
	return 0;
}

/* The size of a path, or -errno. */
static long long
size_of(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -errno;
	return (long long)st.st_size;
}

static void
show_size(const char *step, const char *path)
{
	long long s = size_of(path);

	if (s < 0)
		out(step, "ERR %s", ename((int)-s));
	else
		out(step, "%lld", s);
}

/* Byte i of the test pattern. */
static unsigned char
pat(uint64_t i, unsigned seed)
{
	uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ULL + seed * 0xBF58476D1CE4E5B9ULL;

	x ^= x >> 29;
	return (unsigned char)(x ^ (x >> 17));
}

static void
fill(unsigned char *b, size_t n, uint64_t off, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		b[i] = pat(off + i, seed);
}

/* Does b[0..n) hold the pattern from off?  1 yes, 0 no. */
static int
is_pat(const unsigned char *b, size_t n, uint64_t off, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i] != pat(off + i, seed))
			return 0;
	return 1;
}

static int
is_zero(const unsigned char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i] != 0)
			return 0;
	return 1;
}

/* Write all of b at off; returns bytes written or -errno. */
static long
pwrite_all(int fd, const void *b, size_t n, off_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t w = pwrite(fd, (const char *)b + done, n - done, off + (off_t)done);

		if (w < 0)
			return -errno;
		if (w == 0)
			break;
		done += (size_t)w;
	}
	return (long)done;
}

static long
pread_all(int fd, void *b, size_t n, off_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = pread(fd, (char *)b + done, n - done, off + (off_t)done);

		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		done += (size_t)r;
	}
	return (long)done;
}

/* Open path with flags, read (write 0) or write (write 1) one byte. */
static long
io_on(const char *path, int flags, int write1)
{
	char b[8] = "x";
	long r;
	int fd = open(path, flags), e;

	if (fd < 0)
		return -1;
	r = write1 ? write(fd, b, 1) : read(fd, b, sizeof(b));
	e = errno;
	close(fd);
	errno = e;
	return r;
}

static long
open_close(const char *path, int flags)
{
	int fd = open(path, flags);

	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static long
stat_rc(const char *path)
{
	struct stat st;

	return stat(path, &st);
}

/* An OFD lock request for a write lock; GETLK returns the type found. */
static long
ofd_lk(int fd, int cmd, off_t start, off_t len)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = start;
	fl.l_len = len;
	if (fcntl(fd, cmd, &fl) < 0)
		return -1;
	return cmd == F_OFD_GETLK ? fl.l_type : 0;
}

static long
posix_falloc(const char *path, off_t off, off_t len)
{
	int fd = open(path, O_RDWR), e;

	if (fd < 0)
		return -1;
	e = posix_fallocate(fd, off, len);
	close(fd);
	errno = e;
	return e ? -1 : 0;
}

/* Clear O_APPEND with F_SETFL, then write "Y" at offset 0. */
static long
clear_append(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND), e;
	long r;

	if (fd < 0)
		return -1;
	r = fcntl(fd, F_SETFL, 0);
	if (r == 0 && (lseek(fd, 0, SEEK_SET) < 0 || write(fd, "Y", 1) != 1))
		r = -1;
	e = errno;
	close(fd);
	errno = e;
	return r;
}

static void
res_neg(const char *step, long r)
{
	if (r < 0)
		out(step, "ERR %s", ename((int)-r));
	else
		out(step, "%ld", r);
}

/* Print the content of a small file (up to 64 bytes), or its error. */
static void
show_content(const char *step, const char *path)
{
	char buf[65];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0) {
		out(step, "ERR %s", ename(errno));
		return;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0) {
		out(step, "read ERR %s", ename(errno));
	} else {
		char esc[4 * sizeof(buf)], *q = esc;
		ssize_t i;

		for (i = 0; i < n; i++) {
			unsigned char c = (unsigned char)buf[i];

			if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"')
				*q++ = (char)c;
			else
				q += sprintf(q, "\\x%02x", c);
		}
		*q = '\0';
		out(step, "%zd \"%s\"", n, esc);
	}
	close(fd);
}

static int
put_file(const char *path, const char *content)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0666);
	size_t n = strlen(content);
	int ok;

	if (fd < 0)
		return -1;
	ok = write(fd, content, n) == (ssize_t)n;
	return close(fd) == 0 && ok ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* The steps                                                            */

static void
t_create(void)
{
	int fd;

	fd = open("f1", O_CREAT | O_EXCL | O_RDWR, 0666);
	res("create f1 O_EXCL", fd < 0 ? -1 : 0);
	show_stat("create stat f1", "f1", 1, NULL);
	if (fd >= 0)
		show_fstat("create fstat f1", fd, NULL);
	else
		out("create fstat f1", "skipped");
	res("create f1 O_EXCL again", open("f1", O_CREAT | O_EXCL | O_RDWR, 0666));
	{
		int fd2 = open("f1", O_CREAT | O_RDWR, 0600);

		res("create f1 without O_EXCL", fd2 < 0 ? -1 : 0);
		if (fd2 >= 0)
			close(fd2);
	}
	res("close f1", fd >= 0 ? close(fd) : -1);
	res("mknod reg f2", mknod("f2", S_IFREG | 0640, 0));
	show_stat("mknod stat f2", "f2", 1, NULL);
	res("mkfifo p1", mkfifo("p1", 0600));
	show_stat("mkfifo stat p1", "p1", 0, NULL);
	res("mkdir d0", mkdir("d0", 0777));
	show_stat("mkdir stat d0", "d0", 1, NULL);
	fd = open("d0/creat", O_WRONLY | O_CREAT | O_TRUNC, 0777);
	res("creat d0/creat 0777", fd < 0 ? -1 : 0);
	if (fd >= 0)
		close(fd);
	show_stat("creat stat d0/creat", "d0/creat", 1, NULL);
	fd = open(".", O_TMPFILE | O_RDWR, 0600);
	res("O_TMPFILE", fd < 0 ? -1 : 0);
	if (fd >= 0)
		close(fd);
}

static void
t_write_read(void)
{
	static unsigned char buf[3 << 20], back[3 << 20];
	struct stat st0, st1;
	struct timespec old[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
	ssize_t n;
	int fd = open("f1", O_RDWR);

	if (fd < 0) {
		out("write open f1", "ERR %s", ename(errno));
		return;
	}
	res("write 12 bytes", write(fd, "hello world\n", 12));
	show_fstat("write fstat", fd, NULL);
	fill(buf, sizeof(buf), 12, 1);
	/* 3 MiB in one call: more than any max_write. */
	res_neg("write 3 MiB", pwrite_all(fd, buf, sizeof(buf), 12));
	show_fstat("write fstat 3 MiB", fd, NULL);
	res("lseek 0", lseek(fd, 0, SEEK_SET));
	n = read(fd, back, 12);
	out("read 12", "%zd \"%.*s\"", n, n > 0 ? (int)n - 1 : 0, (char *)back);
	n = (ssize_t)pread_all(fd, back, sizeof(back), 12);
	out("read 3 MiB", "%zd match=%d", n, n == (ssize_t)sizeof(back) &&
	    is_pat(back, sizeof(back), 12, 1));
	n = pread(fd, back, 4096, 12 + (3 << 20) - 100);
	out("read across EOF", "%zd", n);
	n = pread(fd, back, 4096, 12 + (3 << 20));
	out("read at EOF", "%zd", n);
	n = pread(fd, back, 4096, 100 << 20);
	out("read past EOF", "%zd", n);
	/* A second descriptor sees what the first wrote. */
	{
		int fd2 = open("f1", O_RDONLY);

		n = fd2 >= 0 ? pread(fd2, back, 12, 0) : -1;
		out("read through second fd", "%zd \"%.*s\"", n, n > 0 ? (int)n - 1 : 0,
		    (char *)back);
		if (fd2 >= 0)
			close(fd2);
	}
	res("write to O_RDONLY fd", io_on("f1", O_RDONLY, 1));
	/* mtime and ctime move with a write; the size with extension. */
	res("utimens to 2001", futimens(fd, old));
	fstat(fd, &st0);
	n = pwrite(fd, "Z", 1, 5);
	out("pwrite 1 byte", "%zd", n);
	fstat(fd, &st1);
	out("write changes mtime", "%d", st1.st_mtim.tv_sec != st0.st_mtim.tv_sec ||
	    st1.st_mtim.tv_nsec != st0.st_mtim.tv_nsec);
	out("write keeps atime", "%d", st1.st_atim.tv_sec == st0.st_atim.tv_sec &&
	    st1.st_atim.tv_nsec == st0.st_atim.tv_nsec);
	res("fsync", fsync(fd));
	res("fdatasync", fdatasync(fd));
	close(fd);
	show_content("content after pwrite", "f1");
}

static void
t_hole(void)
{
	unsigned char b[8192];
	int fd = open("hole", O_RDWR | O_CREAT | O_TRUNC, 0644);
	long n;

	if (fd < 0) {
		out("hole open", "ERR %s", ename(errno));
		return;
	}
	fill(b, 1000, 0, 2);
	res_neg("hole write 1000", pwrite_all(fd, b, 1000, 0));
	fill(b, 5, 200000, 2);
	res("hole pwrite past EOF", pwrite(fd, b, 5, 200000));
	show_fstat("hole fstat", fd, NULL);
	n = pread_all(fd, b, sizeof(b), 150000);
	out("hole read in the hole", "%ld zero=%d", n, n > 0 && is_zero(b, (size_t)n));
	n = pread_all(fd, b, 3000, 998);
	out("hole read data-hole boundary", "%ld data=%d zero=%d", n,
	    n >= 2 && is_pat(b, 2, 998, 2), n == 3000 && is_zero(b + 2, 2998));
	n = pread_all(fd, b, 100, 199990);
	out("hole read hole-data boundary", "%ld zero=%d data=%d", n,
	    n >= 10 && is_zero(b, 10), n == 15 && is_pat(b + 10, 5, 200000, 2));
	close(fd);
}

static void
t_truncate(void)
{
	unsigned char b[8192];
	int fd = open("trunc", O_RDWR | O_CREAT | O_TRUNC, 0644);
	long n;

	if (fd < 0) {
		out("truncate open", "ERR %s", ename(errno));
		return;
	}
	fill(b, sizeof(b), 0, 3);
	res_neg("truncate write 8192", pwrite_all(fd, b, sizeof(b), 0));
	res("ftruncate shrink 1000", ftruncate(fd, 1000));
	show_fstat("truncate fstat 1000", fd, NULL);
	n = pread(fd, b, sizeof(b), 990);
	out("truncate read tail", "%ld data=%d", n, n == 10 && is_pat(b, 10, 990, 3));
	res("ftruncate grow 5000", ftruncate(fd, 5000));
	show_fstat("truncate fstat 5000", fd, NULL);
	n = pread_all(fd, b, sizeof(b), 0);
	out("truncate read grown", "%ld data=%d zero=%d", n, n >= 1000 &&
	    is_pat(b, 1000, 0, 3), n == 5000 && is_zero(b + 1000, 4000));
	res("truncate path 100", truncate("trunc", 100));
	show_size("truncate size path", "trunc");
	res("truncate path 0", truncate("trunc", 0));
	show_fstat("truncate fstat 0", fd, NULL);
	n = read(fd, b, 10);
	out("truncate read empty", "%ld", n);
	res("ftruncate negative", ftruncate(fd, -1));
	close(fd);
	fd = open("trunc", O_RDONLY);
	res("ftruncate O_RDONLY fd", fd < 0 ? -1 : ftruncate(fd, 10));
	if (fd >= 0)
		close(fd);
	res("truncate directory", truncate("d0", 0));
	res("truncate missing", truncate("missing", 0));
	/* O_TRUNC on open. */
	put_file("otrunc", "0123456789");
	fd = open("otrunc", O_WRONLY | O_TRUNC);
	res("open O_TRUNC", fd < 0 ? -1 : 0);
	if (fd >= 0)
		close(fd);
	show_size("O_TRUNC size", "otrunc");
}

static void
t_rename(void)
{
	struct stat st;

	put_file("ra", "content A");
	put_file("rb", "content B");
	res("rename file over file", rename("ra", "rb"));
	show_stat("rename stat old", "ra", 0, NULL);
	show_stat("rename stat new", "rb", 0, NULL);
	show_content("rename content", "rb");
	res("rename to same name", rename("rb", "rb"));
	res("rename into subdir", rename("rb", "d0/rb"));
	show_content("rename into subdir content", "d0/rb");
	res("rename back", rename("d0/rb", "rb"));
	res("rename missing", rename("nothere", "x"));
	/* A directory over an empty directory, then over a non-empty one. */
	mkdir("rd1", 0755);
	put_file("rd1/x", "x in rd1");
	mkdir("rd2", 0755);
	res("rename dir over empty dir", rename("rd1", "rd2"));
	show_stat("rename dir stat old", "rd1", 0, NULL);
	show_content("rename dir moved file", "rd2/x");
	mkdir("rd3", 0755);
	put_file("rd3/y", "y");
	mkdir("rd4", 0755);
	put_file("rd4/z", "z");
	res("rename dir over non-empty dir", rename("rd3", "rd4"));
	show_content("rename dir non-empty kept", "rd4/z");
	show_content("rename dir non-empty source kept", "rd3/y");
	res("rename dir over file", rename("rd3", "rb"));
	res("rename file over dir", rename("rb", "rd3"));
	res("rename dir into itself", rename("rd3", "rd3/sub"));
	res("rename dot", rename("rd3/.", "rd5"));
	res("rename dir to new name", rename("rd3", "rd5"));
	show_content("rename dir new name content", "rd5/y");
	if (stat(".", &st) == 0)
		out("rename workdir nlink", "%lu", (unsigned long)st.st_nlink);
	else
		out("rename workdir nlink", "ERR %s", ename(errno));
	/* rename(2) of one hard link onto another: nothing happens. */
	put_file("hl1", "hl");
	link("hl1", "hl2");
	res("rename link onto its other link", rename("hl1", "hl2"));
	show_stat("rename link stat hl1", "hl1", 0, NULL);
	show_stat("rename link stat hl2", "hl2", 0, NULL);
	unlink("hl1");
	unlink("hl2");
}

static void
t_rename2(void)
{
	put_file("xa", "A");
	put_file("xb", "B");
	res("renameat2 NOREPLACE existing", renameat2(AT_FDCWD, "xa", AT_FDCWD, "xb",
	    RENAME_NOREPLACE));
	show_content("renameat2 NOREPLACE kept src", "xa");
	show_content("renameat2 NOREPLACE kept dst", "xb");
	res("renameat2 NOREPLACE new", renameat2(AT_FDCWD, "xa", AT_FDCWD, "xc",
	    RENAME_NOREPLACE));
	show_content("renameat2 NOREPLACE moved", "xc");
	show_stat("renameat2 NOREPLACE old gone", "xa", 0, NULL);
	res("renameat2 EXCHANGE", renameat2(AT_FDCWD, "xb", AT_FDCWD, "xc",
	    RENAME_EXCHANGE));
	show_content("renameat2 EXCHANGE xb", "xb");
	show_content("renameat2 EXCHANGE xc", "xc");
	res("renameat2 EXCHANGE missing", renameat2(AT_FDCWD, "xb", AT_FDCWD, "xnone",
	    RENAME_EXCHANGE));
	mkdir("xd", 0755);
	res("renameat2 EXCHANGE file and dir", renameat2(AT_FDCWD, "xb", AT_FDCWD, "xd",
	    RENAME_EXCHANGE));
	show_stat("renameat2 EXCHANGE xb now", "xb", 0, NULL);
	show_stat("renameat2 EXCHANGE xd now", "xd", 0, NULL);
	res("renameat2 both flags", renameat2(AT_FDCWD, "xb", AT_FDCWD, "xc",
	    RENAME_EXCHANGE | RENAME_NOREPLACE));
}

static void
t_links(void)
{
	struct stat st;
	int fd;

	put_file("lk", "linked");
	res("link", link("lk", "lk2"));
	show_stat("link stat lk", "lk", 0, NULL);
	show_stat("link stat lk2", "lk2", 0, NULL);
	res("link onto existing", link("lk", "lk2"));
	res("link missing", link("nothere", "lk3"));
	res("link directory", link("d0", "d0link"));
	res("link into subdir", link("lk", "d0/lk3"));
	show_stat("link nlink 3", "lk", 0, NULL);
	show_content("link content via new name", "d0/lk3");
	res("unlink lk2", unlink("lk2"));
	show_stat("unlink nlink", "lk", 0, NULL);
	res("unlink d0/lk3", unlink("d0/lk3"));
	show_stat("unlink nlink 1", "lk", 0, NULL);
	/* An open file that loses its last name stays readable. */
	fd = open("lk", O_RDONLY);
	res("unlink open file", unlink("lk"));
	if (fd >= 0 && fstat(fd, &st) == 0) {
		char b[16];
		ssize_t n = pread(fd, b, sizeof(b), 0);

		out("unlinked open file", "size=%lld read=%zd", (long long)st.st_size, n);
	} else {
		out("unlinked open file", "ERR %s", ename(errno));
	}
	if (fd >= 0)
		close(fd);
	show_stat("unlinked stat", "lk", 0, NULL);
}

static void
t_symlinks(void)
{
	char buf[PATH_MAX + 1], longt[1001];
	ssize_t n;

	res("symlink dangling", symlink("target/x", "s1"));
	show_stat("symlink lstat", "s1", 0, NULL);
	show_stat("symlink stat dangling", "s1", 1, NULL);
	n = readlink("s1", buf, sizeof(buf) - 1);
	if (n < 0) {
		out("readlink", "ERR %s", ename(errno));
	} else {
		buf[n] = '\0';
		out("readlink", "%zd \"%s\"", n, buf);
	}
	res("symlink to file", symlink("f1", "s2"));
	show_stat("symlink stat follows", "s2", 1, NULL);
	show_content("symlink read through", "s2");
	res("symlink onto existing", symlink("f1", "s2"));
	res("symlink to dir", symlink("d0", "s3"));
	show_stat("symlink dir stat", "s3/creat", 1, NULL);
	memset(longt, 'L', 1000);
	longt[1000] = '\0';
	res("symlink 1000 bytes", symlink(longt, "s4"));
	n = readlink("s4", buf, sizeof(buf) - 1);
	out("readlink 1000 bytes", "%zd same=%d", n, n == 1000 && memcmp(buf, longt, 1000) == 0);
	n = readlink("s1", buf, 3);
	out("readlink short buffer", "%zd", n);
	res("readlink regular file", readlink("f1", buf, sizeof(buf)));
	res("readlink missing", readlink("nothere", buf, sizeof(buf)));
	res("symlink loop a", symlink("loopb", "loopa"));
	res("symlink loop b", symlink("loopa", "loopb"));
	res("open symlink loop", open("loopa", O_RDONLY));
	res("open O_NOFOLLOW symlink", open("s2", O_RDONLY | O_NOFOLLOW));
	res("unlink symlink", unlink("s2"));
	show_stat("unlink symlink target kept", "f1", 0, NULL);
}

/* Sleep into the next second (and 20 ms more): a change made then has a
 * different time even on a filesystem that keeps whole seconds. */
static void
next_second(void)
{
	struct timespec now, d;

	clock_gettime(CLOCK_REALTIME, &now);
	d.tv_sec = 0;
	d.tv_nsec = 1000000000L - now.tv_nsec + 20000000L;
	if (d.tv_nsec >= 1000000000L) {
		d.tv_sec = 1;
		d.tv_nsec -= 1000000000L;
	}
	while (nanosleep(&d, &d) < 0 && errno == EINTR)
		;
}

static void
t_attrs(void)
{
	struct timespec ts[2];
	struct stat st0, st1;
	struct timespec now;
	int fd;

	put_file("at", "attrs");
	res("chmod 0600", chmod("at", 0600));
	show_stat("chmod stat 0600", "at", 0, NULL);
	res("chmod 0755", chmod("at", 0755));
	show_stat("chmod stat 0755", "at", 0, NULL);
	res("chmod 04755", chmod("at", 04755));
	show_stat("chmod stat 04755", "at", 0, NULL);
	res("chmod 01777 dir", chmod("d0", 01777));
	show_stat("chmod stat dir", "d0", 0, NULL);
	chmod("d0", 0755);
	fd = open("at", O_RDWR);
	res("fchmod 0640", fd < 0 ? -1 : fchmod(fd, 0640));
	show_stat("fchmod stat", "at", 0, NULL);
	/* A write by the owner clears set-uid only for non-root; record it. */
	chmod("at", 06755);
	if (fd >= 0)
		pwrite(fd, "x", 1, 0);
	show_stat("write after chmod 06755", "at", 0, NULL);
	chmod("at", 0640);
	res("chmod missing", chmod("nothere", 0600));
	res("chown own ids", chown("at", getuid(), getgid()));
	show_stat("chown stat", "at", 0, NULL);
	res("chown -1 -1", chown("at", (uid_t)-1, (gid_t)-1));
	res("fchown own ids", fd < 0 ? -1 : fchown(fd, getuid(), getgid()));
	res("lchown symlink", lchown("s1", getuid(), getgid()));
	show_stat("lchown stat", "s1", 0, NULL);
	/* chmod moves ctime, not mtime. */
	ts[0].tv_sec = 1000000000;
	ts[0].tv_nsec = 123456789;
	ts[1].tv_sec = 1100000000;
	ts[1].tv_nsec = 987654321;
	res("utimensat set both", utimensat(AT_FDCWD, "at", ts, 0));
	stat("at", &st0);
	out("utimensat atime", "%lld.%09ld", (long long)st0.st_atim.tv_sec, st0.st_atim.tv_nsec);
	out("utimensat mtime", "%lld.%09ld", (long long)st0.st_mtim.tv_sec, st0.st_mtim.tv_nsec);
	next_second();
	chmod("at", 0644);
	stat("at", &st1);
	out("chmod keeps mtime", "%d", st1.st_mtim.tv_sec == st0.st_mtim.tv_sec &&
	    st1.st_mtim.tv_nsec == st0.st_mtim.tv_nsec);
	out("chmod changes ctime", "%d", st1.st_ctim.tv_sec != st0.st_ctim.tv_sec ||
	    st1.st_ctim.tv_nsec != st0.st_ctim.tv_nsec);
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_sec = 1200000000;
	ts[1].tv_nsec = 5;
	res("utimensat OMIT atime", utimensat(AT_FDCWD, "at", ts, 0));
	stat("at", &st1);
	out("OMIT atime kept", "%lld.%09ld", (long long)st1.st_atim.tv_sec, st1.st_atim.tv_nsec);
	out("OMIT mtime set", "%lld.%09ld", (long long)st1.st_mtim.tv_sec, st1.st_mtim.tv_nsec);
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_nsec = UTIME_NOW;
	clock_gettime(CLOCK_REALTIME, &now);
	res("utimensat NOW mtime", utimensat(AT_FDCWD, "at", ts, 0));
	stat("at", &st1);
	out("NOW mtime recent", "%d", st1.st_mtim.tv_sec >= now.tv_sec - 2 &&
	    st1.st_mtim.tv_sec <= now.tv_sec + 2);
	out("NOW atime kept", "%lld.%09ld", (long long)st1.st_atim.tv_sec, st1.st_atim.tv_nsec);
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_nsec = UTIME_OMIT;
	res("utimensat OMIT both", utimensat(AT_FDCWD, "at", ts, 0));
	st0 = st1;
	stat("at", &st1);
	out("OMIT both unchanged", "%d", st1.st_mtim.tv_sec == st0.st_mtim.tv_sec &&
	    st1.st_mtim.tv_nsec == st0.st_mtim.tv_nsec &&
	    st1.st_atim.tv_sec == st0.st_atim.tv_sec &&
	    st1.st_atim.tv_nsec == st0.st_atim.tv_nsec);
	res("utimensat NULL (now)", utimensat(AT_FDCWD, "at", NULL, 0));
	stat("at", &st1);
	out("NULL times recent", "%d", st1.st_mtim.tv_sec >= now.tv_sec - 2 &&
	    st1.st_atim.tv_sec >= now.tv_sec - 2);
	ts[0].tv_sec = 1000000000;
	ts[0].tv_nsec = 0;
	ts[1] = ts[0];
	res("futimens", fd < 0 ? -1 : futimens(fd, ts));
	res("utimensat NOFOLLOW symlink", utimensat(AT_FDCWD, "s1", ts, AT_SYMLINK_NOFOLLOW));
	if (lstat("s1", &st1) == 0)
		out("symlink mtime", "%lld", (long long)st1.st_mtim.tv_sec);
	else
		out("symlink mtime", "ERR %s", ename(errno));
	res("utimensat missing", utimensat(AT_FDCWD, "nothere", ts, 0));
	/* A file made in a directory moves the directory's mtime. */
	utimensat(AT_FDCWD, "d0", ts, 0);
	put_file("d0/newfile", "n");
	stat("d0", &st1);
	out("create changes dir mtime", "%d", st1.st_mtim.tv_sec != 1000000000);
	/* Reading: does atime move (relatime/noatime are the mount's)? */
	utimensat(AT_FDCWD, "at", ts, 0);
	{
		char b[8];
		int r = open("at", O_RDONLY);

		if (r >= 0) {
			(void)!read(r, b, sizeof(b));
			close(r);
		}
	}
	stat("at", &st1);
	out("read changes atime", "%d", st1.st_atim.tv_sec != 1000000000);
	if (fd >= 0)
		close(fd);
	/* Permission checks are the caller's; root passes them all but exec. */
	chmod("at", 0);
	res("access R_OK mode 0", access("at", R_OK));
	res("access X_OK mode 0", access("at", X_OK));
	res("open mode 0", open_close("at", O_RDWR));
	chmod("at", 0644);
	res("access F_OK missing", access("nothere", F_OK));
}

static void
show_xattr(const char *step, const char *path, const char *name)
{
	char buf[256];
	ssize_t n = getxattr(path, name, buf, sizeof(buf) - 1);

	if (n < 0) {
		out(step, "ERR %s", ename(errno));
		return;
	}
	buf[n] = '\0';
	out(step, "%zd \"%s\"", n, buf);
}

static void
t_xattr(void)
{
	char buf[256], list[4096];
	ssize_t n;

	put_file("xf", "x");
	res("setxattr user.a", setxattr("xf", "user.a", "v1", 2, 0));
	show_xattr("getxattr user.a", "xf", "user.a");
	res("getxattr size query", getxattr("xf", "user.a", NULL, 0));
	res("getxattr small buffer", getxattr("xf", "user.a", buf, 1));
	res("getxattr missing", getxattr("xf", "user.missing", buf, sizeof(buf)));
	res("setxattr CREATE existing", setxattr("xf", "user.a", "v2", 2, XATTR_CREATE));
	res("setxattr REPLACE missing", setxattr("xf", "user.b", "v2", 2, XATTR_REPLACE));
	res("setxattr REPLACE existing", setxattr("xf", "user.a", "value2", 6, XATTR_REPLACE));
	show_xattr("getxattr replaced", "xf", "user.a");
	res("setxattr CREATE new", setxattr("xf", "user.b", "", 0, XATTR_CREATE));
	res("getxattr empty value", getxattr("xf", "user.b", buf, sizeof(buf)));
	{
		char big[4000];

		memset(big, 'v', sizeof(big));
		res("setxattr 4000 bytes", setxattr("xf", "user.big", big, sizeof(big), 0));
		n = getxattr("xf", "user.big", list, sizeof(list));
		out("getxattr 4000 bytes", "%zd same=%d", n, n == (ssize_t)sizeof(big) &&
		    memcmp(list, big, sizeof(big)) == 0);
	}
	n = listxattr("xf", list, sizeof(list));
	if (n < 0) {
		out("listxattr", "ERR %s", ename(errno));
	} else {
		/* The names, sorted; only user.* (others belong to the fs). */
		char *names[64], line[1024] = "";
		int k = 0, i, j;
		char *p;

		for (p = list; p < list + n && k < 64; p += strlen(p) + 1)
			if (strncmp(p, "user.", 5) == 0)
				names[k++] = p;
		for (i = 1; i < k; i++)
			for (j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
				char *t = names[j];

				names[j] = names[j - 1];
				names[j - 1] = t;
			}
		for (i = 0; i < k; i++) {
			strncat(line, names[i], sizeof(line) - strlen(line) - 2);
			strcat(line, " ");
		}
		out("listxattr", "%s", line);
	}
	res("listxattr small buffer", listxattr("xf", list, 3));
	{
		ssize_t q = listxattr("xf", NULL, 0);

		out("listxattr size query >= 21", "%d", q >= 21);
	}
	res("removexattr user.a", removexattr("xf", "user.a"));
	res("removexattr again", removexattr("xf", "user.a"));
	res("getxattr removed", getxattr("xf", "user.a", buf, sizeof(buf)));
	res("setxattr on dir", setxattr("d0", "user.d", "dv", 2, 0));
	res("getxattr on dir", getxattr("d0", "user.d", buf, sizeof(buf)));
	res("lsetxattr user on symlink", lsetxattr("s1", "user.s", "sv", 2, 0));
	res("setxattr unknown namespace", setxattr("xf", "bogus.a", "v", 1, 0));
	res("getxattr missing file", getxattr("nothere", "user.a", buf, sizeof(buf)));
	{
		char name[300] = "user.";

		memset(name + 5, 'n', 256);
		name[261] = '\0';
		res("setxattr name too long", setxattr("xf", name, "v", 1, 0));
	}
	{
		int fd = open("xf", O_RDONLY);

		res("fsetxattr", fd < 0 ? -1 : fsetxattr(fd, "user.f", "fv", 2, 0));
		res("fgetxattr", fd < 0 ? -1 : fgetxattr(fd, "user.f", buf, sizeof(buf)));
		res("fremovexattr", fd < 0 ? -1 : fremovexattr(fd, "user.f"));
		if (fd >= 0)
			close(fd);
	}
}

/* Directory reading. */
static int
name_index(const char *name)
{
	char *end;
	long i;

	if (name[0] != 'e' || strlen(name) != 6)
		return -1;
	i = strtol(name + 1, &end, 10);
	if (*end != '\0' || i < 0 || i >= NDIRENT)
		return -1;
	return (int)i;
}

static void
t_readdir(void)
{
	static char seen[NDIRENT];
	static char names[NDIRENT + 64][16];
	static long pos[NDIRENT + 64];
	char path[64];
	struct dirent *e;
	DIR *d;
	int i, made = 0, cnt, dups, dots, strange, mism, k;
	static const int probes[] = { 0, 1, 2, 3, 100, 511, 512, 1000, 2047, 2048,
	    4096, 5000, 7777, 9999, 10000, 10001 };

	if (mkdir("big", 0755) < 0) {
		out("readdir mkdir", "ERR %s", ename(errno));
		return;
	}
	for (i = 0; i < NDIRENT; i++) {
		snprintf(path, sizeof(path), "big/e%05d", i);
		if (mknod(path, S_IFREG | 0644, 0) == 0)
			made++;
	}
	out("readdir created", "%d", made);
	d = opendir("big");
	if (d == NULL) {
		out("readdir opendir", "ERR %s", ename(errno));
		return;
	}
	memset(seen, 0, sizeof(seen));
	cnt = dups = dots = strange = 0;
	for (;;) {
		long p = telldir(d);

		errno = 0;
		e = readdir(d);
		if (e == NULL)
			break;
		if (cnt < NDIRENT + 64) {
			pos[cnt] = p;
			snprintf(names[cnt], sizeof(names[cnt]), "%.15s", e->d_name);
		}
		cnt++;
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
			dots++;
			continue;
		}
		i = name_index(e->d_name);
		if (i < 0)
			strange++;
		else if (seen[i]++)
			dups++;
	}
	out("readdir end errno", "%s", errno ? ename(errno) : "0");
	out("readdir count", "%d", cnt);
	out("readdir dots", "%d", dots);
	for (i = 0, k = 0; i < NDIRENT; i++)
		k += seen[i] == 1;
	out("readdir each once", "%d dups=%d other=%d", k, dups, strange);
	/* seekdir to a telldir position gives the same entry again. */
	mism = 0;
	for (i = 0; i < (int)(sizeof(probes) / sizeof(probes[0])); i++) {
		int at = probes[i];

		if (at >= cnt || at >= NDIRENT + 64)
			continue;
		seekdir(d, pos[at]);
		e = readdir(d);
		if (e == NULL || strcmp(e->d_name, names[at]) != 0)
			mism++;
	}
	out("seekdir probes mismatched", "%d", mism);
	/* Resume from the middle: exactly the rest, in the same order. */
	if (cnt > 5000) {
		seekdir(d, pos[5000]);
		k = 5000;
		mism = 0;
		while ((e = readdir(d)) != NULL) {
			if (k >= cnt || strcmp(e->d_name, names[k]) != 0)
				mism++;
			k++;
		}
		out("seekdir resume 5000", "read=%d mismatched=%d", k - 5000, mism);
	} else {
		out("seekdir resume 5000", "skipped");
	}
	/* After the end, readdir stays at the end. */
	out("readdir after end", "%s", readdir(d) == NULL ? "NULL" : "entry");
	rewinddir(d);
	for (k = 0; readdir(d) != NULL; k++)
		;
	out("rewinddir count", "%d", k);
	closedir(d);
	/* A new stream, seeking to an offset the old one gave (as NFS
	 * exporters and "ls" in pieces do). */
	d = opendir("big");
	if (d != NULL && cnt > 3000) {
		for (k = 0; k < 10 && readdir(d) != NULL; k++)
			;
		seekdir(d, pos[3000]);
		mism = 0;
		k = 3000;
		while ((e = readdir(d)) != NULL) {
			if (k >= cnt || strcmp(e->d_name, names[k]) != 0)
				mism++;
			k++;
		}
		out("new stream seek 3000", "read=%d mismatched=%d", k - 3000, mism);
	} else {
		out("new stream seek 3000", "skipped");
	}
	if (d != NULL)
		closedir(d);
	/* Removing entries while a stream is open: the rest are still seen once. */
	d = opendir("big");
	if (d != NULL) {
		int gone = 0, again = 0;

		memset(seen, 0, sizeof(seen));
		cnt = 0;
		while ((e = readdir(d)) != NULL) {
			i = name_index(e->d_name);
			if (i < 0)
				continue;
			if (seen[i]++)
				again++;
			cnt++;
			if (cnt == 100) {
				/* Every tenth name that was not seen yet goes. */
				for (k = 0; k < NDIRENT; k += 10) {
					if (seen[k])
						continue;
					snprintf(path, sizeof(path), "big/e%05d", k);
					if (unlink(path) == 0) {
						gone++;
						seen[k] = 2; /* must not show up */
					}
				}
			}
		}
		for (i = 0, k = 0; i < NDIRENT; i++)
			k += seen[i] == 1;
		out("readdir while unlinking", "removed=%d each-once=%d twice=%d", gone, k,
		    again);
		closedir(d);
	}
	/* d_type of what a directory holds. */
	{
		char line[256] = "";

		mkdir("types", 0755);
		put_file("types/r", "r");
		mkdir("types/d", 0755);
		symlink("r", "types/l");
		mkfifo("types/p", 0644);
		d = opendir("types");
		if (d != NULL) {
			char ent[4][16];
			int ne = 0, a, b2;

			while ((e = readdir(d)) != NULL && ne < 4) {
				if (e->d_name[0] == '.')
					continue;
				snprintf(ent[ne++], sizeof(ent[0]), "%.8s=%d", e->d_name, e->d_type);
			}
			for (a = 1; a < ne; a++)
				for (b2 = a; b2 > 0 && strcmp(ent[b2 - 1], ent[b2]) > 0; b2--) {
					char t[16];

					memcpy(t, ent[b2], 16);
					memcpy(ent[b2], ent[b2 - 1], 16);
					memcpy(ent[b2 - 1], t, 16);
				}
			for (a = 0; a < ne; a++) {
				strcat(line, ent[a]);
				strcat(line, " ");
			}
			closedir(d);
		}
		out("readdir d_type", "%s", line);
	}
	res("opendir on file", opendir("f1") == NULL ? -1 : 0);
	res("opendir missing", opendir("nothere") == NULL ? -1 : 0);
}

/* Run f in a child process; its lines go to stdout in order. */
static void
in_child(void (*f)(void *), void *arg)
{
	pid_t pid;
	int st;

	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		out("fork", "ERR %s", ename(errno));
		return;
	}
	if (pid == 0) {
		alarm(30);
		f(arg);
		fflush(stdout);
		_exit(0);
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		out("child", "died (status 0x%x)", st);
}

static pid_t parent_pid;

static void
show_getlk(const char *step, int fd, short type, off_t start, off_t len)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = start;
	fl.l_len = len;
	if (fcntl(fd, F_GETLK, &fl) < 0) {
		out(step, "ERR %s", ename(errno));
		return;
	}
	out(step, "type=%s start=%lld len=%lld pid=%s",
	    fl.l_type == F_UNLCK ? "UNLCK" : fl.l_type == F_RDLCK ? "RDLCK" :
	    fl.l_type == F_WRLCK ? "WRLCK" : "?", (long long)fl.l_start,
	    (long long)fl.l_len, fl.l_type == F_UNLCK ? "-" : fl.l_pid == parent_pid ?
	    "parent" : fl.l_pid == 0 ? "0" : fl.l_pid == getpid() ? "self" : "other");
}

static int
setlk(int fd, int cmd, short type, off_t start, off_t len)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = start;
	fl.l_len = len;
	return fcntl(fd, cmd, &fl);
}

static void
child_locks1(void *arg)
{
	int fd = open("lockf", O_RDWR);

	(void)arg;
	show_getlk("child GETLK WR over parent's WR", fd, F_WRLCK, 50, 10);
	show_getlk("child GETLK RD over parent's RD", fd, F_RDLCK, 200, 10);
	show_getlk("child GETLK WR over parent's RD", fd, F_WRLCK, 200, 10);
	show_getlk("child GETLK WR free range", fd, F_WRLCK, 1000, 10);
	res("child SETLK WR conflicting", setlk(fd, F_SETLK, F_WRLCK, 0, 10));
	res("child SETLK RD on parent's RD", setlk(fd, F_SETLK, F_RDLCK, 200, 10));
	res("child SETLK WR free range", setlk(fd, F_SETLK, F_WRLCK, 1000, 10));
	res("child OFD GETLK type", ofd_lk(fd, F_OFD_GETLK, 50, 1));
	res("child flock EX NB while parent holds EX", flock(fd, LOCK_EX | LOCK_NB));
	res("child flock SH NB while parent holds EX", flock(fd, LOCK_SH | LOCK_NB));
	close(fd);
}

static void
child_locks2(void *arg)
{
	int fd = open("lockf", O_RDWR);

	(void)arg;
	show_getlk("child GETLK after unlock", fd, F_WRLCK, 0, 0);
	res("child SETLK WR after unlock", setlk(fd, F_SETLK, F_WRLCK, 0, 10));
	res("child flock EX NB after LOCK_UN", flock(fd, LOCK_EX | LOCK_NB));
	close(fd);
}

static void
t_locks(void)
{
	int fd = open("lockf", O_RDWR | O_CREAT | O_TRUNC, 0644);

	if (fd < 0) {
		out("locks open", "ERR %s", ename(errno));
		return;
	}
	parent_pid = getpid();
	res("locks write", write(fd, "0123456789", 10));
	res("SETLK WR 0-100", setlk(fd, F_SETLK, F_WRLCK, 0, 100));
	res("SETLK RD 200-210", setlk(fd, F_SETLK, F_RDLCK, 200, 10));
	show_getlk("GETLK own lock", fd, F_WRLCK, 0, 100);
	res("flock EX", flock(fd, LOCK_EX));
	in_child(child_locks1, NULL);
	res("SETLK UNLCK all", setlk(fd, F_SETLK, F_UNLCK, 0, 0));
	res("flock UN", flock(fd, LOCK_UN));
	in_child(child_locks2, NULL);
	res("SETLKW WR after child", setlk(fd, F_SETLKW, F_WRLCK, 0, 10));
	res("SETLK bad type", setlk(fd, F_SETLK, 99, 0, 10));
	res("SETLK negative start", setlk(fd, F_SETLK, F_WRLCK, -5, 10));
	res("flock SH", flock(fd, LOCK_SH));
	res("flock SH to EX", flock(fd, LOCK_EX | LOCK_NB));
	res("flock UN again", flock(fd, LOCK_UN));
	res("OFD SETLK", ofd_lk(fd, F_OFD_SETLK, 0, 5));
	close(fd);
	{
		int r = open("lockf", O_RDONLY);

		res("SETLK WR on O_RDONLY fd", r < 0 ? -1 : setlk(r, F_SETLK, F_WRLCK, 0, 1));
		if (r >= 0)
			close(r);
	}
}

static void
t_fallocate(void)
{
	unsigned char b[65536];
	struct stat st;
	long n;
	int fd = open("falloc", O_RDWR | O_CREAT | O_TRUNC, 0644);

	if (fd < 0) {
		out("fallocate open", "ERR %s", ename(errno));
		return;
	}
	res("fallocate 0 64k", fallocate(fd, 0, 0, 65536));
	show_fstat("fallocate fstat", fd, NULL);
	n = pread_all(fd, b, sizeof(b), 0);
	out("fallocate reads zeros", "%ld zero=%d", n, n > 0 && is_zero(b, (size_t)n));
	res("fallocate KEEP_SIZE beyond", fallocate(fd, FALLOC_FL_KEEP_SIZE, 65536, 65536));
	show_fstat("fallocate KEEP_SIZE fstat", fd, NULL);
	res("fallocate extend 100k", fallocate(fd, 0, 65536, 100000 - 65536));
	show_fstat("fallocate extend fstat", fd, NULL);
	fill(b, sizeof(b), 0, 4);
	pwrite_all(fd, b, sizeof(b), 0);
	res("fallocate PUNCH_HOLE", fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
	    4096, 8192));
	n = pread_all(fd, b, sizeof(b), 0);
	out("fallocate after punch", "%ld head=%d hole=%d tail=%d", n, n >= 4096 &&
	    is_pat(b, 4096, 0, 4), n >= 12288 && is_zero(b + 4096, 8192), n == 65536 &&
	    is_pat(b + 12288, 65536 - 12288, 12288, 4));
	fill(b, sizeof(b), 0, 4);
	pwrite_all(fd, b, sizeof(b), 0);
	res("fallocate PUNCH_HOLE without KEEP_SIZE", fallocate(fd, FALLOC_FL_PUNCH_HOLE,
	    0, 4096));
	res("fallocate ZERO_RANGE", fallocate(fd, FALLOC_FL_ZERO_RANGE, 0, 4096));
	res("fallocate zero length", fallocate(fd, 0, 0, 0));
	res("fallocate negative", fallocate(fd, 0, -1, 10));
	if (fstat(fd, &st) == 0)
		out("fallocate final size", "%lld", (long long)st.st_size);
	else
		out("fallocate final size", "ERR %s", ename(errno));
	close(fd);
	fd = open("falloc", O_RDONLY);
	res("fallocate O_RDONLY fd", fd < 0 ? -1 : fallocate(fd, 0, 0, 10));
	if (fd >= 0)
		close(fd);
	res("posix_fallocate", posix_falloc("falloc", 200000, 4096));
	show_size("posix_fallocate size", "falloc");
}

static void
t_copy_file_range(void)
{
	static unsigned char b[200000];
	loff_t in_off, out_off;
	ssize_t n;
	long r;
	int src = open("cfr_src", O_RDWR | O_CREAT | O_TRUNC, 0644);
	int dst = open("cfr_dst", O_RDWR | O_CREAT | O_TRUNC, 0644);

	if (src < 0 || dst < 0) {
		out("copy_file_range open", "ERR %s", ename(errno));
		return;
	}
	fill(b, 100000, 0, 5);
	pwrite_all(src, b, 100000, 0);
	in_off = 1000;
	out_off = 0;
	n = copy_file_range(src, &in_off, dst, &out_off, 50000, 0);
	res("copy_file_range 50000", n);
	out("copy_file_range offsets", "in=%lld out=%lld", (long long)in_off,
	    (long long)out_off);
	r = pread_all(dst, b, sizeof(b), 0);
	out("copy_file_range content", "%ld match=%d", r, r == n && n > 0 &&
	    is_pat(b, (size_t)n, 1000, 5));
	/* With the file offsets, past EOF of the source, into a hole. */
	lseek(src, 99000, SEEK_SET);
	lseek(dst, 200000, SEEK_SET);
	n = copy_file_range(src, NULL, dst, NULL, 5000, 0);
	res("copy_file_range from file offset", n);
	out("copy_file_range file offsets", "in=%lld out=%lld",
	    (long long)lseek(src, 0, SEEK_CUR), (long long)lseek(dst, 0, SEEK_CUR));
	show_fstat("copy_file_range dst fstat", dst, NULL);
	in_off = 200000;
	out_off = 0;
	res("copy_file_range at src EOF", copy_file_range(src, &in_off, dst, &out_off, 10, 0));
	in_off = 0;
	out_off = 10;
	res("copy_file_range same file overlap", copy_file_range(src, &in_off, src, &out_off,
	    100, 0));
	in_off = 0;
	out_off = 50000;
	res("copy_file_range same file", copy_file_range(src, &in_off, src, &out_off, 100, 0));
	r = pread_all(src, b, 100, 50000);
	out("copy_file_range same file content", "%ld match=%d", r, r == 100 &&
	    is_pat(b, 100, 0, 5));
	res("copy_file_range bad flags", copy_file_range(src, NULL, dst, NULL, 10, 1));
	close(dst);
	dst = open("cfr_dst", O_RDONLY);
	res("copy_file_range to O_RDONLY", copy_file_range(src, NULL, dst, NULL, 10, 0));
	close(dst);
	close(src);
}

static void
t_seek(void)
{
	unsigned char b[4096];
	int fd = open("sparse", O_RDWR | O_CREAT | O_TRUNC, 0644);

	if (fd < 0) {
		out("lseek open", "ERR %s", ename(errno));
		return;
	}
	fill(b, sizeof(b), 0, 6);
	pwrite_all(fd, b, sizeof(b), 0);
	pwrite_all(fd, b, sizeof(b), 1 << 20);
	fsync(fd);
	res("SEEK_DATA 0", lseek(fd, 0, SEEK_DATA));
	res("SEEK_HOLE 0", lseek(fd, 0, SEEK_HOLE));
	res("SEEK_DATA 8192", lseek(fd, 8192, SEEK_DATA));
	res("SEEK_HOLE 8192", lseek(fd, 8192, SEEK_HOLE));
	res("SEEK_HOLE in last block", lseek(fd, (1 << 20) + 100, SEEK_HOLE));
	res("SEEK_DATA at EOF", lseek(fd, (1 << 20) + 4096, SEEK_DATA));
	res("SEEK_HOLE at EOF", lseek(fd, (1 << 20) + 4096, SEEK_HOLE));
	res("SEEK_DATA past EOF", lseek(fd, 10 << 20, SEEK_DATA));
	res("SEEK_HOLE past EOF", lseek(fd, 10 << 20, SEEK_HOLE));
	res("SEEK_DATA negative", lseek(fd, -1, SEEK_DATA));
	res("SEEK_END", lseek(fd, 0, SEEK_END));
	res("SEEK_END -10", lseek(fd, -10, SEEK_END));
	res("SEEK_CUR +5", lseek(fd, 5, SEEK_CUR));
	res("SEEK_SET negative", lseek(fd, -1, SEEK_SET));
	res("SEEK bad whence", lseek(fd, 0, 42));
	close(fd);
}

static void
t_mmap(void)
{
	unsigned char b[16384];
	unsigned char *p;
	long n;
	int fd = open("mm", O_RDWR | O_CREAT | O_TRUNC, 0644);

	if (fd < 0) {
		out("mmap open", "ERR %s", ename(errno));
		return;
	}
	fill(b, sizeof(b), 0, 7);
	pwrite_all(fd, b, 10000, 0);
	p = mmap(NULL, 16384, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		out("mmap shared", "ERR %s", ename(errno));
		close(fd);
		return;
	}
	out("mmap shared", "0");
	/* The rest of the last page reads as zeros; beyond it, SIGBUS. */
	out("mmap read", "match=%d tail-zero=%d", is_pat(p, 10000, 0, 7),
	    is_zero(p + 10000, 12288 - 10000));
	memcpy(p + 100, "MMAPWRITE", 9);
	memcpy(p + 9000, "TAIL", 4);
	res("msync MS_SYNC", msync(p, 16384 - 4096, MS_SYNC));
	n = pread(fd, b, 9, 100);
	out("read after msync", "%ld \"%.*s\"", n, n > 0 ? (int)n : 0, (char *)b);
	n = pread(fd, b, 4, 9000);
	out("read tail after msync", "%ld \"%.*s\"", n, n > 0 ? (int)n : 0, (char *)b);
	/* A write(2) shows in the mapping. */
	pwrite(fd, "VIAWRITE", 8, 200);
	out("mapping sees write", "\"%.8s\"", (char *)p + 200);
	/* Through another descriptor, after munmap and close. */
	memcpy(p + 300, "LASTONE", 7);
	res("munmap", munmap(p, 16384));
	close(fd);
	fd = open("mm", O_RDONLY);
	n = fd >= 0 ? pread(fd, b, 7, 300) : -1;
	out("read after munmap", "%ld \"%.*s\"", n, n > 0 ? (int)n : 0, (char *)b);
	show_size("mmap size unchanged", "mm");
	/* Read-only shared and private mappings. */
	p = fd >= 0 ? mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
	out("mmap read-only shared", p == MAP_FAILED ? "ERR %s" : "0 \"%.9s\"",
	    p == MAP_FAILED ? ename(errno) : (char *)p + 100);
	if (p != MAP_FAILED)
		munmap(p, 4096);
	p = fd >= 0 ? mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
	out("mmap shared writable on O_RDONLY", p == MAP_FAILED ? "ERR %s" : "0",
	    p == MAP_FAILED ? ename(errno) : "");
	if (p != MAP_FAILED)
		munmap(p, 4096);
	p = fd >= 0 ? mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0) : MAP_FAILED;
	if (p != MAP_FAILED) {
		memcpy(p, "PRIVATE", 7);
		n = pread(fd, b, 7, 0);
		out("mmap private stays private", "%d", n == 7 && memcmp(b, "PRIVATE", 7) != 0);
		munmap(p, 4096);
	} else {
		out("mmap private stays private", "ERR %s", ename(errno));
	}
	if (fd >= 0)
		close(fd);
	/* Growing a file through ftruncate then writing by the mapping. */
	fd = open("mm2", O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0 && ftruncate(fd, 8192) == 0) {
		p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p != MAP_FAILED) {
			memset(p, 'm', 8192);
			msync(p, 8192, MS_SYNC);
			munmap(p, 8192);
			n = pread_all(fd, b, 8192, 0);
			out("mmap fill truncated file", "%ld all-m=%d", n,
			    n == 8192 && memchr(b, 0, 8192) == NULL && b[0] == 'm' &&
			    b[8191] == 'm');
		} else {
			out("mmap fill truncated file", "ERR %s", ename(errno));
		}
	} else {
		out("mmap fill truncated file", "ERR %s", ename(errno));
	}
	if (fd >= 0)
		close(fd);
}

static void
t_append(void)
{
	char b[64];
	long n;
	int fd = open("app", O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);

	if (fd < 0) {
		out("append open", "ERR %s", ename(errno));
		return;
	}
	res("append write 1", write(fd, "one,", 4));
	lseek(fd, 0, SEEK_SET);
	res("append write 2 after lseek 0", write(fd, "two,", 4));
	res("append offset", lseek(fd, 0, SEEK_CUR));
	res("append pwrite at 0", pwrite(fd, "three", 5, 0));
	close(fd);
	show_content("append content", "app");
	/* Two appenders interleave without overwriting. */
	{
		int a = open("app", O_WRONLY | O_APPEND);
		int c = open("app", O_WRONLY | O_APPEND);

		n = (a >= 0 && c >= 0) ? write(a, "A", 1) + write(c, "C", 1) +
		    write(a, "A", 1) : -1;
		out("append two fds", "%ld", n);
		if (a >= 0)
			close(a);
		if (c >= 0)
			close(c);
	}
	show_content("append two fds content", "app");
	fd = open("app", O_RDWR | O_APPEND);
	n = fd >= 0 ? pread(fd, b, 3, 0) : -1;
	out("append read", "%ld \"%.*s\"", n, n > 0 ? (int)n : 0, b);
	res("append ftruncate", fd < 0 ? -1 : ftruncate(fd, 3));
	res("append write after truncate", fd < 0 ? -1 : write(fd, "X", 1));
	if (fd >= 0)
		close(fd);
	show_content("append truncated content", "app");
	res("fcntl clear O_APPEND", clear_append("app"));
	show_content("after clearing O_APPEND", "app");
}

static void
t_direct(void)
{
	void *buf;
	long n;
	int fd;

	if (posix_memalign(&buf, 4096, 16384) != 0) {
		out("O_DIRECT memalign", "failed");
		return;
	}
	fd = open("dio", O_RDWR | O_CREAT | O_TRUNC | O_DIRECT, 0644);
	if (fd < 0) {
		out("O_DIRECT open", "ERR %s", ename(errno));
		free(buf);
		return;
	}
	out("O_DIRECT open", "0");
	fill(buf, 16384, 0, 8);
	res("O_DIRECT aligned write 8192", pwrite(fd, buf, 8192, 0));
	memset(buf, 0, 16384);
	n = pread(fd, buf, 8192, 0);
	out("O_DIRECT aligned read 8192", "%ld match=%d", n, n == 8192 && is_pat(buf, 8192, 0, 8));
	fill(buf, 16384, 0, 8);
	res("O_DIRECT unaligned buffer write", pwrite(fd, (char *)buf + 1, 100, 0));
	res("O_DIRECT unaligned offset write", pwrite(fd, buf, 4096, 100));
	n = pread(fd, buf, 16384, 0);
	out("O_DIRECT read past EOF", "%ld", n);
	n = pread(fd, (char *)buf + 3, 50, 7);
	out("O_DIRECT unaligned read", "%ld", n);
	show_fstat("O_DIRECT fstat", fd, NULL);
	close(fd);
	/* A buffered reader sees what O_DIRECT wrote, and the other way. */
	fd = open("dio", O_RDWR);
	if (fd >= 0) {
		char b[16];

		n = pread(fd, b, 4, 4096);
		/* The unaligned write put the pattern from 0 at offset 100. */
		out("buffered read of direct write", "%ld match=%d", n, n == 4 &&
		    is_pat((unsigned char *)b, 4, 4096 - 100, 8));
		pwrite(fd, "BUFW", 4, 0);
		close(fd);
	}
	fd = open("dio", O_RDONLY | O_DIRECT);
	n = fd >= 0 ? pread(fd, buf, 4096, 0) : -1;
	out("direct read of buffered write", "%ld \"%.4s\"", n, n > 0 ? (char *)buf : "");
	res("fcntl set O_DIRECT", fd < 0 ? -1 : fcntl(fd, F_SETFL, O_DIRECT));
	if (fd >= 0)
		close(fd);
	free(buf);
}

static void
t_errors(void)
{
	char name[300];
	int fd;

	res("open missing", open("nothere", O_RDONLY));
	res("open file as dir", open("f1/x", O_RDONLY));
	res("open O_DIRECTORY on file", open("f1", O_RDONLY | O_DIRECTORY));
	res("open dir O_WRONLY", open("d0", O_WRONLY));
	res("open dir O_RDWR", open("d0", O_RDWR));
	res("create in missing dir", open("nodir/x", O_CREAT | O_WRONLY, 0644));
	res("rmdir non-empty", rmdir("d0"));
	res("rmdir file", rmdir("f1"));
	res("rmdir missing", rmdir("nothere"));
	res("rmdir dot", rmdir("d0/."));
	res("mkdir existing", mkdir("d0", 0755));
	res("mkdir over file", mkdir("f1", 0755));
	res("mkdir in missing dir", mkdir("nodir/x", 0755));
	res("unlink dir", unlink("d0"));
	res("unlink missing", unlink("nothere"));
	res("stat file with slash", stat_rc("f1/"));
	res("mknod existing", mknod("f1", S_IFREG | 0644, 0));
	res("symlink in missing dir", symlink("x", "nodir/s"));
	memset(name, 'n', 255);
	name[255] = '\0';
	fd = open(name, O_CREAT | O_WRONLY, 0644);
	res("create 255-byte name", fd < 0 ? -1 : 0);
	if (fd >= 0)
		close(fd);
	res("stat 255-byte name", stat_rc(name));
	res("unlink 255-byte name", unlink(name));
	memset(name, 'n', 256);
	name[256] = '\0';
	res("create 256-byte name", open(name, O_CREAT | O_WRONLY, 0644));
	res("stat 256-byte name", stat_rc(name));
	res("mkdir 256-byte name", mkdir(name, 0755));
	res("symlink 256-byte name", symlink("x", name));
	res("rename to 256-byte name", rename("f2", name));
	res("link to 256-byte name", link("f2", name));
	res("mknod 256-byte name", mknod(name, S_IFREG | 0644, 0));
	res("unlink 256-byte name", unlink(name));
	res("read on directory fd", io_on("d0", O_RDONLY, 0));
	res("write to closed fd", write(999, "x", 1));
}

/* The work directory as it is at the end: how many entries a full
 * listing gives, and how the listing ends. */
static void
t_listing(void)
{
	DIR *d = opendir(".");
	int n = 0, e;

	if (d == NULL) {
		out("final listing", "ERR %s", ename(errno));
		return;
	}
	for (;;) {
		errno = 0;
		if (readdir(d) == NULL)
			break;
		n++;
	}
	e = errno;
	out("final listing", "%d entries, end %s", n, e ? ename(e) : "0");
	closedir(d);
}

static void
t_statfs(void)
{
	struct statvfs sv;

	if (statvfs(".", &sv) < 0) {
		out("statvfs", "ERR %s", ename(errno));
		return;
	}
	out("statvfs", "namemax=%lu bsize=%lu", (unsigned long)sv.f_namemax,
	    (unsigned long)sv.f_bsize);
	{
		struct stat st;

		if (stat("f1", &st) == 0)
			out("st_blksize", "%ld", (long)st.st_blksize);
		else
			out("st_blksize", "ERR %s", ename(errno));
	}
}

/* Remove what the sequence made, so that the filesystem ends empty. */
static int
rm_tree(const char *path)
{
	struct dirent *e;
	struct stat st;
	DIR *d;
	int bad = 0;

	if (lstat(path, &st) < 0)
		return -1;
	if (!S_ISDIR(st.st_mode))
		return unlink(path);
	d = opendir(path);
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		char sub[PATH_MAX];

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		if (rm_tree(sub) < 0)
			bad = 1;
	}
	closedir(d);
	if (rmdir(path) < 0)
		bad = 1;
	return bad ? -1 : 0;
}

static int
read_on_cue(const char *path)
{
	static char buf[65536];
	char line[64];
	long total = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY);

	res("open", fd < 0 ? -1 : 0);
	if (fd < 0)
		return 1;
	if (fgets(line, sizeof(line), stdin) == NULL)
		return 1;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		total += n;
	if (n < 0)
		out("read", "ERR %s", ename(errno));
	else
		out("read", "%ld", total);
	res("close", close(fd));
	return 0;
}

int
main(int argc, char **argv)
{
	struct stat st;

	if (argc == 3 && strcmp(argv[1], "--read-on-cue") == 0) {
		setvbuf(stdout, NULL, _IOLBF, 0);
		return read_on_cue(argv[2]);
	}
	if (argc != 2) {
		fprintf(stderr, "usage: diffops DIR | diffops --read-on-cue FILE\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	umask(022);
	signal(SIGPIPE, SIG_IGN);
	if (chdir(argv[1]) < 0) {
		fprintf(stderr, "diffops: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	if (lstat(WORKDIR, &st) == 0)
		rm_tree(WORKDIR);
	if (mkdir(WORKDIR, 0755) < 0 || chdir(WORKDIR) < 0) {
		fprintf(stderr, "diffops: %s/%s: %s\n", argv[1], WORKDIR, strerror(errno));
		return 1;
	}
	t_create();
	t_write_read();
	t_hole();
	t_truncate();
	t_rename();
	t_rename2();
	t_links();
	t_symlinks();
	t_attrs();
	t_xattr();
	t_readdir();
	t_locks();
	t_fallocate();
	t_copy_file_range();
	t_seek();
	t_mmap();
	t_append();
	t_direct();
	t_errors();
	t_listing();
	t_statfs();
	if (chdir("..") < 0) {
		out("cleanup", "ERR %s", ename(errno));
	} else {
		res("cleanup", rm_tree(WORKDIR));
		show_stat("cleanup gone", WORKDIR, 0, NULL);
	}
	return 0;
}
