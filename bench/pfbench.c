/*
 * pfbench.c - perfuse's benchmark harness (make bench, bench/run.sh).
 *
 * Runs, in one process and one run, each workload on the same filesystem
 * (memfs, and bindfs over a tmpfs directory) attached four ways:
 *
 *   (a) kernel       the filesystem mounted on kernel FUSE, plain syscalls;
 *   (b) front-end    perfused's kernel front-end: "perfuse mount" also makes
 *                    a kernel mount at the target (probed in mountinfo; the
 *                    rows say n/a until it exists);
 *   (c) API path     "perfuse mount" under a private perfused, the workload
 *                    through perfuse_connect() and the perfuse.h calls;
 *   (d) embedded     the filesystem started here on a SOCK_SEQPACKET
 *                    socketpair (mountpoint /dev/fd/N), driven through
 *                    perfuse_conn_fd(): no perfused in between.
 *
 * Every figure is the median of --runs runs (default 3) with min and max;
 * modes are interleaved within a run (in a rotating order) so that load
 * changes on a shared machine hit them alike.  Prints a table of absolute
 * figures with ratios against (a), and writes it as JSON.  See
 * bench/README.md.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "perfuse.h"

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif

#define MIB (1024.0 * 1024.0)
#define MAXRUNS 15
#define MAXCLIENTS 256
#define SEQ_REQ (1024 * 1024)
#define RAND_REQ 4096

/* ------------------------------------------------------------------ */
/* Configuration                                                        */

static struct cfg {
	const char *preset;      /* full, quick, smoke */
	int runs;
	size_t seq_bytes;
	double rand_secs;        /* per configuration, over all runs */
	int nfiles;              /* create/stat/unlink/readdir */
	int nodes;               /* live nodes for perfused's RSS */
	double nodes_max_secs;   /* time allowed to make them */
	int nclients;
	int client_stats;        /* stats per client */
	int lat_samples;
	double lat_max_secs;
	char modes[8];           /* which of "abcd" to run */
	int do_memfs, do_bindfs;
	char build[PATH_MAX];    /* memfs, perfused, perfuse */
	char outdir[PATH_MAX];
	char workdir[PATH_MAX];
	int keep;
	int no_write;            /* do not write JSON */
	char phases[64];         /* io,meta,latency,perfused */
} cfg;

static char bindfs_path[PATH_MAX];
static double t_start;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double load_max;

static void
msg(const char *fmt, ...)
{
	va_list ap;
	FILE *f = fopen("/proc/loadavg", "r");
	double l;

	if (f != NULL) {
		if (fscanf(f, "%lf", &l) == 1 && l > load_max)
			load_max = l;
		fclose(f);
	}

	fprintf(stderr, "[%6.1fs] ", now() - t_start);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void __attribute__((noreturn)) die(const char *fmt, ...);

/* ------------------------------------------------------------------ */
/* Results                                                              */

enum { M_A, M_B, M_C, M_D, NMODES };
static const char mode_letter[NMODES] = { 'a', 'b', 'c', 'd' };
static const char *mode_label[NMODES] = {
	"(a) kernel", "(b) kernel front-end", "(c) API path", "(d) embedded",
};
static const char *mode_desc[NMODES] = {
	"the filesystem mounted directly on kernel FUSE, plain syscalls",
	"perfuse mount under perfused, plain syscalls on its kernel mount at the target",
	"perfuse mount under a private perfused, the workload through perfuse_connect()",
	"libperfuse embedded: the filesystem on a socketpair, perfuse_conn_fd(), no perfused",
};

enum { FS_MEMFS, FS_BINDFS, NFS };
static const char *fs_name[NFS] = { "memfs", "bindfs" };

enum {
	X_SEQW, X_SEQR, X_RAND,
	X_CREATE, X_STAT, X_READDIR, X_UNLINK,
	X_L1P50, X_L1P99, X_L2P50, X_L2P99,
	X_CLTIME, X_CLRSS, X_BASERSS, X_NODERSS, X_NODEB,
	NMETRICS
};

struct metric_def {
	const char *id, *label, *unit;
	int higher_better;
	int ratio;       /* compare with (a) */
	int memfs_only;
};

static const struct metric_def mdef[NMETRICS] = {
	[X_SEQW] = { "seq_write", "seq write", "MiB/s", 1, 1, 0 },
	[X_SEQR] = { "seq_read", "seq read", "MiB/s", 1, 1, 0 },
	[X_RAND] = { "rand_read_4k", "4K rand read", "IOPS", 1, 1, 0 },
	[X_CREATE] = { "create", "create", "ops/s", 1, 1, 0 },
	[X_STAT] = { "stat", "stat", "ops/s", 1, 1, 0 },
	[X_READDIR] = { "readdir", "readdir", "entries/s", 1, 1, 0 },
	[X_UNLINK] = { "unlink", "unlink", "ops/s", 1, 1, 0 },
	[X_L1P50] = { "getattr_1cpu_p50", "1 CPU p50", "us", 0, 1, 0 },
	[X_L1P99] = { "getattr_1cpu_p99", "1 CPU p99", "us", 0, 1, 0 },
	[X_L2P50] = { "getattr_2cpu_p50", "2 CPUs p50", "us", 0, 1, 0 },
	[X_L2P99] = { "getattr_2cpu_p99", "2 CPUs p99", "us", 0, 1, 0 },
	[X_CLTIME] = { "clients64_time", "64 clients", "s", 0, 1, 1 },
	[X_CLRSS] = { "clients64_perfused_rss", "RSS 64 clients", "MiB", 0, 0, 1 },
	[X_BASERSS] = { "perfused_base_rss", "RSS idle", "MiB", 0, 0, 1 },
	[X_NODERSS] = { "nodes_perfused_rss", "RSS live nodes", "MiB", 0, 0, 1 },
	[X_NODEB] = { "nodes_bytes_per_node", "per node", "B", 0, 0, 1 },
};

struct cell {
	int n;
	double v[MAXRUNS];
	char na[200];    /* why there is no figure */
};

static struct cell res[NFS][NMETRICS][NMODES];
/* What INIT agreed on, for the modes that speak through libperfuse. */
static struct perfuse_conn_info conn_info[NFS][NMODES];
static int have_info[NFS][NMODES];
static char mode_na[NFS][NMODES][200];   /* a whole mode unavailable */
static char notes[32][512];
static int nnotes;

static void
note(const char *fmt, ...)
{
	va_list ap;
	int i;
	char buf[512];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	for (i = 0; i < nnotes; i++)
		if (strcmp(notes[i], buf) == 0)
			return;
	if (nnotes < 32)
		strcpy(notes[nnotes++], buf);
}

static void
add_value(int fs, int x, int m, double v)
{
	struct cell *c = &res[fs][x][m];

	if (c->n < MAXRUNS)
		c->v[c->n++] = v;
}

static void
set_na(int fs, int x, int m, const char *fmt, ...)
{
	va_list ap;
	struct cell *c = &res[fs][x][m];

	if (c->na[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(c->na, sizeof(c->na), fmt, ap);
	va_end(ap);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median, min, max of a cell; 0 when it has no value. */
static int
cell_stats(const struct cell *c, double *med, double *mn, double *mx)
{
	double s[MAXRUNS];

	if (c->n == 0)
		return 0;
	memcpy(s, c->v, c->n * sizeof(double));
	qsort(s, c->n, sizeof(double), cmp_double);
	*mn = s[0];
	*mx = s[c->n - 1];
	*med = c->n % 2 ? s[c->n / 2] : (s[c->n / 2 - 1] + s[c->n / 2]) / 2;
	return 1;
}

/* The figure of mode m relative to (a): > 1 is better than the kernel. */
static int
cell_ratio(int fs, int x, int m, double *ratio)
{
	double a, am, ax, v, vm, vx;

	if (m == M_A || !mdef[x].ratio ||
	    !cell_stats(&res[fs][x][M_A], &a, &am, &ax) ||
	    !cell_stats(&res[fs][x][m], &v, &vm, &vx) || a <= 0 || v <= 0)
		return 0;
	*ratio = mdef[x].higher_better ? v / a : a / v;
	return 1;
}

/* ------------------------------------------------------------------ */
/* Processes and cleanup                                                */

#define MAXKIDS 64
static pid_t kids[MAXKIDS];
static char kmounts[16][PATH_MAX];
static int nkmounts;
static char rmdirs[8][PATH_MAX];
static int nrmdirs;

static void
kid_add(pid_t pid)
{
	int i;

	for (i = 0; i < MAXKIDS; i++)
		if (kids[i] == 0) {
			kids[i] = pid;
			return;
		}
}

static void
kid_del(pid_t pid)
{
	int i;

	for (i = 0; i < MAXKIDS; i++)
		if (kids[i] == pid)
			kids[i] = 0;
}

static void
kmount_add(const char *p)
{
	if (nkmounts < 16)
		snprintf(kmounts[nkmounts++], PATH_MAX, "%s", p);
}

static void
kmount_del(const char *p)
{
	int i;

	for (i = 0; i < nkmounts; i++)
		if (strcmp(kmounts[i], p) == 0)
			kmounts[i][0] = '\0';
}

static void
rm_rf(const char *path)
{
	pid_t pid;

	if (path[0] == '\0' || strcmp(path, "/") == 0)
		return;
	pid = fork();
	if (pid == 0) {
		execlp("rm", "rm", "-rf", "--", path, (char *)NULL);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

/* Everything we started or mounted goes away, whatever happened. */
static void
cleanup(void)
{
	int i;

	for (i = 0; i < nkmounts; i++)
		if (kmounts[i][0] != '\0')
			umount2(kmounts[i], MNT_DETACH);
	for (i = 0; i < MAXKIDS; i++)
		if (kids[i] > 0)
			kill(kids[i], SIGTERM);
	usleep(200000);
	for (i = 0; i < MAXKIDS; i++)
		if (kids[i] > 0) {
			if (waitpid(kids[i], NULL, WNOHANG) == 0)
				kill(kids[i], SIGKILL);
			waitpid(kids[i], NULL, 0);
			kids[i] = 0;
		}
	if (!cfg.keep)
		for (i = 0; i < nrmdirs; i++)
			rm_rf(rmdirs[i]);
	nrmdirs = 0;
}

static void
on_signal(int sig)
{
	static volatile sig_atomic_t busy;

	if (!busy) {
		busy = 1;
		cleanup();
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static void
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "pfbench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	cleanup();
	exit(1);
}

/*
 * Start argv[0] (a path) with stdout and stderr appended to logpath.
 * extra_fd >= 0 stays open in the child (its close-on-exec cleared).
 */
static pid_t
spawn(char *const argv[], const char *logpath, int extra_fd)
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
		int nul = open("/dev/null", O_RDONLY);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		if (nul >= 0)
			dup2(nul, 0);
		if (extra_fd >= 0)
			fcntl(extra_fd, F_SETFD, 0);
		setpgid(0, 0);
		execv(argv[0], argv);
		fprintf(stderr, "pfbench: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	kid_add(pid);
	return pid;
}

/* Wait up to secs for pid; returns its wait status, or -1 on timeout. */
static int
wait_pid(pid_t pid, double secs)
{
	double end = now() + secs;
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid) {
			kid_del(pid);
			return st;
		}
		if (r < 0) {
			kid_del(pid);
			return 0;
		}
		if (now() > end)
			return -1;
		usleep(10000);
	}
}

static void
stop_pid(pid_t pid, double grace)
{
	if (pid <= 0)
		return;
	if (wait_pid(pid, 0) != -1)
		return;
	kill(pid, SIGTERM);
	if (wait_pid(pid, grace) == -1) {
		kill(pid, SIGKILL);
		wait_pid(pid, 5);
	}
}

/* A process that is not our child (perfused started it): wait, then kill. */
static void
stop_foreign(pid_t pid, double secs)
{
	double end = now() + secs;
	char path[64], buf[512];

	if (pid <= 0)
		return;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	for (;;) {
		FILE *f = fopen(path, "r");
		char *p;
		int gone = 1;

		if (f != NULL) {
			if (fgets(buf, sizeof(buf), f) != NULL &&
			    (p = strrchr(buf, ')')) != NULL && p[1] == ' ' && p[2] != 'Z')
				gone = 0;
			fclose(f);
		}
		if (gone)
			return;
		if (now() > end) {
			kill(pid, SIGKILL);
			return;
		}
		usleep(10000);
	}
}

/* Run argv to completion; its output goes to logpath.  Exit status. */
static int
run_cmd(char *const argv[], const char *logpath, double timeout)
{
	pid_t pid = spawn(argv, logpath, -1);
	int st = wait_pid(pid, timeout);

	if (st == -1) {
		stop_pid(pid, 2);
		return -1;
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void
show_log(const char *path)
{
	char line[512];
	FILE *f = fopen(path, "r");
	int n = 0;

	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL && n++ < 30)
		fprintf(stderr, "    | %s", line);
	fclose(f);
}

/* VmRSS of a process in KiB, -1 if unknown. */
static double
rss_kib(pid_t pid)
{
	char path[64], line[256];
	FILE *f;
	double v = -1;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0) {
			v = strtod(line + 6, NULL);
			break;
		}
	fclose(f);
	return v;
}

/* Pin every thread of pid to cpu (-1: every CPU). */
static void
pin_pid(pid_t pid, int cpu)
{
	char path[64];
	DIR *d;
	struct dirent *e;
	cpu_set_t set;
	int i, n = (int)sysconf(_SC_NPROCESSORS_ONLN);

	if (pid <= 0)
		return;
	CPU_ZERO(&set);
	for (i = 0; i < n && i < CPU_SETSIZE; i++)
		if (cpu < 0 || cpu == i)
			CPU_SET(i, &set);
	if (pid == getpid()) {
		sched_setaffinity(0, sizeof(set), &set);
		return;
	}
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if ((d = opendir(path)) == NULL)
		return;
	while ((e = readdir(d)) != NULL)
		if (isdigit((unsigned char)e->d_name[0]))
			sched_setaffinity(atoi(e->d_name), sizeof(set), &set);
	closedir(d);
}

/* Whether path is a mount point of a fuse filesystem (mountinfo). */
static int
is_fuse_mount(const char *path)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[8192];
	int found = 0;

	if (f == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		char mp[PATH_MAX], *sep, fstype[64];
		const char *s;
		char *o;
		int field = 0;

		/* id parent maj:min root mountpoint opts ... - fstype ... */
		s = line;
		while (field < 4 && (s = strchr(s, ' ')) != NULL) {
			s++;
			field++;
		}
		if (s == NULL)
			continue;
		for (o = mp; *s && *s != ' ' && o < mp + sizeof(mp) - 1; ) {
			if (s[0] == '\\' && isdigit((unsigned char)s[1]) &&
			    isdigit((unsigned char)s[2]) && isdigit((unsigned char)s[3])) {
				*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
				s += 4;
			} else {
				*o++ = *s++;
			}
		}
		*o = '\0';
		if (strcmp(mp, path) != 0 || (sep = strstr(line, " - ")) == NULL)
			continue;
		if (sscanf(sep + 3, "%63s", fstype) == 1 &&
		    strncmp(fstype, "fuse", 4) == 0)
			found = 1;
	}
	fclose(f);
	return found;
}

static int
wait_fuse_mount(const char *path, pid_t pid, double secs)
{
	double end = now() + secs;

	while (now() < end) {
		if (is_fuse_mount(path))
			return 0;
		if (pid > 0 && waitpid(pid, NULL, WNOHANG) == pid) {
			kid_del(pid);
			return -1;
		}
		usleep(10000);
	}
	return -1;
}

static int
drop_caches(void)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
	int ok;

	if (fd < 0)
		return -1;
	ok = write(fd, "3\n", 2) == 2;
	close(fd);
	return ok ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* Targets: where a workload runs                                       */

struct target {
	int mode;
	int fs;
	int avail;
	int kernel;              /* syscalls on dir; else the API on conn */
	char dir[PATH_MAX];      /* kernel mount point */
	perfuse_conn *conn;
	pid_t fs_pid;            /* pinned for the latency runs */
	pid_t perfused_pid;
	int odirect;             /* random reads with O_DIRECT worked */
};

struct fh {
	int fd;
	perfuse_file *pf;
};

static void
kpath(const struct target *t, const char *rel, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s", t->dir, rel);
}

static int
t_open(struct target *t, const char *rel, int flags, mode_t mode, struct fh *h)
{
	h->fd = -1;
	h->pf = NULL;
	if (t->kernel) {
		char p[PATH_MAX];

		kpath(t, rel, p, sizeof(p));
		h->fd = open(p, flags | O_CLOEXEC, mode);
		return h->fd < 0 ? -errno : 0;
	}
	return perfuse_file_open(t->conn, rel, flags & ~O_DIRECT, mode, &h->pf);
}

static int
t_close(struct target *t, struct fh *h)
{
	if (t->kernel)
		return close(h->fd) < 0 ? -errno : 0;
	return perfuse_file_close(h->pf);
}

static ssize_t
t_pread(struct target *t, struct fh *h, void *buf, size_t n, off_t off)
{
	ssize_t r;

	if (!t->kernel)
		return perfuse_pread(h->pf, buf, n, off);
	r = pread(h->fd, buf, n, off);
	return r < 0 ? -errno : r;
}

static ssize_t
t_pwrite(struct target *t, struct fh *h, const void *buf, size_t n, off_t off)
{
	ssize_t r;

	if (!t->kernel)
		return perfuse_pwrite(h->pf, buf, n, off);
	r = pwrite(h->fd, buf, n, off);
	return r < 0 ? -errno : r;
}

/* One GETATTR round trip: the kernel's attribute cache is bypassed. */
static int
t_getattr(struct target *t, struct fh *h)
{
	if (t->kernel) {
		struct statx stx;

		return statx(h->fd, "", AT_EMPTY_PATH | AT_STATX_FORCE_SYNC,
		    STATX_BASIC_STATS, &stx) < 0 ? -errno : 0;
	} else {
		struct stat st;

		return perfuse_fstat(h->pf, &st);
	}
}

static int
t_stat(struct target *t, const char *rel)
{
	struct stat st;

	if (t->kernel) {
		char p[PATH_MAX];

		kpath(t, rel, p, sizeof(p));
		return lstat(p, &st) < 0 ? -errno : 0;
	}
	return perfuse_stat(t->conn, rel, &st);
}

static int
t_mkdir(struct target *t, const char *rel)
{
	if (t->kernel) {
		char p[PATH_MAX];

		kpath(t, rel, p, sizeof(p));
		return mkdir(p, 0755) < 0 && errno != EEXIST ? -errno : 0;
	}
	int e = perfuse_mkdir(t->conn, rel, 0755);
	return e == -EEXIST ? 0 : e;
}

static int
t_rmdir(struct target *t, const char *rel)
{
	if (t->kernel) {
		char p[PATH_MAX];

		kpath(t, rel, p, sizeof(p));
		return rmdir(p) < 0 ? -errno : 0;
	}
	return perfuse_rmdir(t->conn, rel);
}

static int
t_unlink(struct target *t, const char *rel)
{
	if (t->kernel) {
		char p[PATH_MAX];

		kpath(t, rel, p, sizeof(p));
		return unlink(p) < 0 ? -errno : 0;
	}
	return perfuse_unlink(t->conn, rel);
}

/* Create an empty file: open(O_CREAT | O_EXCL) and close. */
static int
t_create(struct target *t, const char *rel)
{
	struct fh h;
	int e = t_open(t, rel, O_WRONLY | O_CREAT | O_EXCL, 0644, &h);

	return e != 0 ? e : t_close(t, &h);
}

/* Entries of a directory, "." and ".." not counted; or -errno. */
static long
t_readdir_count(struct target *t, const char *rel)
{
	long n = 0;

	if (t->kernel) {
		char p[PATH_MAX];
		DIR *d;
		struct dirent *e;

		kpath(t, rel, p, sizeof(p));
		if ((d = opendir(p)) == NULL)
			return -errno;
		errno = 0;
		while ((e = readdir(d)) != NULL)
			if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
				n++;
		closedir(d);
		return n;
	} else {
		perfuse_dir *d;
		struct perfuse_dirent ent;
		int e = perfuse_opendir(t->conn, rel, &d);

		if (e != 0)
			return e;
		while ((e = perfuse_readdir(d, &ent)) == 1)
			if (strcmp(ent.name, ".") != 0 && strcmp(ent.name, "..") != 0)
				n++;
		perfuse_closedir(d);
		return e < 0 ? e : n;
	}
}

/* ------------------------------------------------------------------ */
/* Setting targets up                                                   */

static void
bufsize_socket(int fd)
{
	/* What perfused gives a filesystem's end: 16 messages of 1 MiB. */
	int v = 16 * (1024 * 1024 + 4096);

	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
}

/* The command line of a filesystem for mountpoint mnt; argv static. */
static void
fs_argv(int fs, const char *src, const char *mnt, char **argv)
{
	static char memfs[PATH_MAX];

	if (fs == FS_MEMFS) {
		snprintf(memfs, sizeof(memfs), "%s/memfs", cfg.build);
		argv[0] = memfs;
		argv[1] = "-f";
		argv[2] = (char *)mnt;
		argv[3] = NULL;
	} else {
		/*
		 * big_writes: without it libfuse2 leaves the kernel to 4 KiB
		 * WRITE requests; the same command for every mode.
		 */
		argv[0] = bindfs_path;
		argv[1] = "-f";
		argv[2] = "-o";
		argv[3] = "big_writes";
		argv[4] = (char *)src;
		argv[5] = (char *)mnt;
		argv[6] = NULL;
	}
}

static int
kernel_fuse_usable(char *why, size_t size)
{
	int fd;

	if (geteuid() != 0) {
		snprintf(why, size, "needs root to mount on kernel FUSE");
		return 0;
	}
	fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, size, "no usable /dev/fuse (%s)", strerror(errno));
		return 0;
	}
	close(fd);
	return 1;
}

/* (a): the filesystem mounted on kernel FUSE at mnt. */
static int
setup_kernel(struct target *t, int fs, const char *src, const char *mnt,
    char *why, size_t size)
{
	char *argv[8], log[PATH_MAX];

	if (!kernel_fuse_usable(why, size))
		return -1;
	mkdir(mnt, 0755);
	snprintf(log, sizeof(log), "%s/%s-a.log", cfg.workdir, fs_name[fs]);
	fs_argv(fs, src, mnt, argv);
	t->fs_pid = spawn(argv, log, -1);
	kmount_add(mnt);
	if (wait_fuse_mount(mnt, t->fs_pid, 15) != 0) {
		show_log(log);
		snprintf(why, size, "%s did not mount on kernel FUSE", fs_name[fs]);
		stop_pid(t->fs_pid, 2);
		t->fs_pid = 0;
		return -1;
	}
	t->kernel = 1;
	snprintf(t->dir, sizeof(t->dir), "%s", mnt);
	return 0;
}

static void
teardown_kernel(struct target *t)
{
	if (umount2(t->dir, 0) < 0)
		umount2(t->dir, MNT_DETACH);
	kmount_del(t->dir);
	stop_pid(t->fs_pid, 5);
	t->fs_pid = 0;
}

/* A private perfused with one "perfuse mount" of a filesystem. */
struct pfinst {
	pid_t perfused;
	pid_t fs;
	char sock[PATH_MAX];
	char target[PATH_MAX];
	char log[PATH_MAX];
	int kmounted;            /* the kernel front-end mounted the target */
};

static int pfinst_seq;

static int
pfinst_start(struct pfinst *p, int fs, const char *src, char *why, size_t size)
{
	char perfused[PATH_MAX], perfuse[PATH_MAX], mlog[PATH_MAX];
	char *argv[16], *fsargv[8];
	struct perfuse_mount_info *mi = NULL;
	size_t n = 0, i;
	double end;
	int st, k = 0, seq = ++pfinst_seq;

	memset(p, 0, sizeof(*p));
	snprintf(perfused, sizeof(perfused), "%s/perfused", cfg.build);
	snprintf(perfuse, sizeof(perfuse), "%s/perfuse", cfg.build);
	snprintf(p->sock, sizeof(p->sock), "%s/pf%d.sock", cfg.workdir, seq);
	snprintf(p->log, sizeof(p->log), "%s/perfused%d.log", cfg.workdir, seq);
	snprintf(p->target, sizeof(p->target), "%s/%s-pf%d", cfg.workdir,
	    fs_name[fs], seq);
	mkdir(p->target, 0755);
	argv[0] = perfused;
	argv[1] = "-f";
	argv[2] = "-s";
	argv[3] = p->sock;
	argv[4] = NULL;
	p->perfused = spawn(argv, p->log, -1);
	end = now() + 15;
	while (perfuse_daemon_list(p->sock, &mi, &n) != 0) {
		if (now() > end || waitpid(p->perfused, NULL, WNOHANG) == p->perfused) {
			show_log(p->log);
			snprintf(why, size, "perfused did not start");
			return -1;
		}
		usleep(10000);
	}
	free(mi);
	mi = NULL;

	snprintf(mlog, sizeof(mlog), "%s/mount%d.log", cfg.workdir, seq);
	argv[k++] = perfuse;
	argv[k++] = "-S";
	argv[k++] = p->sock;
	argv[k++] = "mount";
	argv[k++] = "--";
	fs_argv(fs, src, p->target, fsargv);
	for (i = 0; fsargv[i] != NULL; i++)
		argv[k++] = fsargv[i];
	argv[k] = NULL;
	st = run_cmd(argv, mlog, 60);
	if (st != 0) {
		show_log(mlog);
		snprintf(why, size, "perfuse mount -- %s failed (status %d)",
		    fs_name[fs], st);
		return -1;
	}
	if (perfuse_daemon_list(p->sock, &mi, &n) == 0) {
		for (i = 0; i < n; i++)
			if (strcmp(mi[i].target, p->target) == 0)
				p->fs = (pid_t)mi[i].pid;
		free(mi);
	}
	/* (b): perfused's kernel front-end mounts the target as well. */
	end = now() + 0.5;
	while (!(p->kmounted = is_fuse_mount(p->target)) && now() < end)
		usleep(20000);
	if (p->kmounted)
		kmount_add(p->target);
	return 0;
}

static void
pfinst_stop(struct pfinst *p)
{
	char perfuse[PATH_MAX], mlog[PATH_MAX];
	char *argv[] = { perfuse, "-S", p->sock, "umount", p->target, NULL };

	if (p->perfused <= 0)
		return;
	snprintf(perfuse, sizeof(perfuse), "%s/perfuse", cfg.build);
	snprintf(mlog, sizeof(mlog), "%s/umount.log", cfg.workdir);
	if (run_cmd(argv, mlog, 30) != 0)
		msg("perfuse umount %s failed", p->target);
	if (p->kmounted && is_fuse_mount(p->target))
		umount2(p->target, MNT_DETACH);
	kmount_del(p->target);
	stop_pid(p->perfused, 10);
	stop_foreign(p->fs, 5);
	p->perfused = 0;
}

/* (d): the filesystem on a socketpair, driven by libperfuse in-process. */
static int
setup_embedded(struct target *t, int fs, char *why, size_t size)
{
	int sv[2], e;
	char mnt[64], log[PATH_MAX], *argv[8];

	if (fs != FS_MEMFS) {
		snprintf(why, size, "bindfs is libfuse2: no /dev/fd/N mountpoint, "
		    "it needs perfused (its preload shim)");
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		snprintf(why, size, "socketpair: %s", strerror(errno));
		return -1;
	}
	bufsize_socket(sv[1]);
	snprintf(mnt, sizeof(mnt), "/dev/fd/%d", sv[1]);
	snprintf(log, sizeof(log), "%s/%s-d.log", cfg.workdir, fs_name[fs]);
	fs_argv(fs, NULL, mnt, argv);
	t->fs_pid = spawn(argv, log, sv[1]);
	close(sv[1]);
	e = perfuse_conn_fd(sv[0], fs_name[fs], PERFUSE_CONN_DESTROY, &t->conn);
	if (e != 0) {
		show_log(log);
		snprintf(why, size, "perfuse_conn_fd: %s", strerror(-e));
		stop_pid(t->fs_pid, 2);
		return -1;
	}
	return 0;
}

static void
teardown_embedded(struct target *t)
{
	int e = perfuse_disconnect(t->conn);

	if (e != 0)
		msg("perfuse_disconnect (embedded): %s", strerror(-e));
	t->conn = NULL;
	stop_pid(t->fs_pid, 10);
}

/* ------------------------------------------------------------------ */
/* Workloads                                                            */

static char *iobuf;

static void
fname(char *buf, size_t size, const struct target *t, const char *what)
{
	snprintf(buf, size, "%c-%s", mode_letter[t->mode], what);
}

/*
 * Sequential write of cfg.seq_bytes in 1 MiB requests; MiB/s.  The file
 * is written once untimed (prepare), then overwritten: what is timed is
 * the path to the filesystem, not its allocation of fresh memory (memfs
 * grows its buffers by realloc and zero-fills, tmpfs allocates pages),
 * which would be the same constant in every mode.
 */
static int
w_seq_write(struct target *t, int prepare, double *out)
{
	char name[64];
	struct fh h;
	size_t done = 0;
	double t0;
	int e;

	fname(name, sizeof(name), t, "seq.dat");
	t0 = now();
	e = t_open(t, name, prepare ? O_WRONLY | O_CREAT | O_TRUNC : O_WRONLY,
	    0644, &h);
	if (e != 0)
		return e;
	while (done < cfg.seq_bytes) {
		size_t n = cfg.seq_bytes - done < SEQ_REQ ? cfg.seq_bytes - done : SEQ_REQ;
		ssize_t r = t_pwrite(t, &h, iobuf, n, (off_t)done);

		if (r <= 0) {
			t_close(t, &h);
			return r < 0 ? (int)r : -EIO;
		}
		done += (size_t)r;
	}
	e = t_close(t, &h);
	if (e != 0)
		return e;
	*out = cfg.seq_bytes / MIB / (now() - t0);
	return 0;
}

static int
w_seq_read(struct target *t, double *out)
{
	char name[64];
	struct fh h;
	size_t done = 0;
	double t0;
	int e;

	if (t->kernel && drop_caches() != 0)
		note("could not drop the page cache before kernel reads (not root?)");
	fname(name, sizeof(name), t, "seq.dat");
	t0 = now();
	e = t_open(t, name, O_RDONLY, 0, &h);
	if (e != 0)
		return e;
	for (;;) {
		ssize_t r = t_pread(t, &h, iobuf, SEQ_REQ, (off_t)done);

		if (r < 0) {
			t_close(t, &h);
			return (int)r;
		}
		if (r == 0)
			break;
		done += (size_t)r;
	}
	e = t_close(t, &h);
	if (e != 0)
		return e;
	if (done != cfg.seq_bytes)
		return -EIO;
	*out = done / MIB / (now() - t0);
	return 0;
}

/* 4 KiB reads at random aligned offsets of the sequential file; IOPS. */
static int
w_rand_read(struct target *t, double *out)
{
	char name[64];
	struct fh h;
	uint64_t x = 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
	uint64_t blocks = cfg.seq_bytes / RAND_REQ, ops = 0;
	double t0, t1, end;
	int e;

	fname(name, sizeof(name), t, "seq.dat");
	if (t->kernel) {
		/*
		 * O_DIRECT: every read is a FUSE READ, as through libperfuse
		 * (which has no page cache); buffered, the page cache filled
		 * by the sequential read would answer instead.
		 */
		drop_caches();
		e = t_open(t, name, O_RDONLY | O_DIRECT, 0, &h);
		t->odirect = e == 0;
		if (e != 0) {
			note("O_DIRECT open failed on a kernel mount (%s): its random "
			    "reads went through the page cache", strerror(-e));
			e = t_open(t, name, O_RDONLY, 0, &h);
		}
	} else {
		e = t_open(t, name, O_RDONLY, 0, &h);
	}
	if (e != 0)
		return e;
	t0 = now();
	end = t0 + cfg.rand_secs / cfg.runs;
	do {
		int i;

		for (i = 0; i < 32; i++) {
			ssize_t r;

			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			r = t_pread(t, &h, iobuf, RAND_REQ, (off_t)((x % blocks) * RAND_REQ));
			if (r != RAND_REQ) {
				t_close(t, &h);
				return r < 0 ? (int)r : -EIO;
			}
			ops++;
		}
		t1 = now();
	} while (t1 < end);
	t_close(t, &h);
	*out = ops / (t1 - t0);
	return 0;
}

/* create, stat, readdir, unlink of cfg.nfiles files in a new directory. */
static int
w_meta(struct target *t, int rep, double out[4])
{
	char dir[64], rel[128];
	double t0;
	long n;
	int i, e;

	snprintf(dir, sizeof(dir), "%c-meta%d", mode_letter[t->mode], rep);
	if ((e = t_mkdir(t, dir)) != 0)
		return e;
	t0 = now();
	for (i = 0; i < cfg.nfiles; i++) {
		snprintf(rel, sizeof(rel), "%s/f%06d", dir, i);
		if ((e = t_create(t, rel)) != 0)
			return e;
	}
	out[0] = cfg.nfiles / (now() - t0);
	t0 = now();
	for (i = 0; i < cfg.nfiles; i++) {
		snprintf(rel, sizeof(rel), "%s/f%06d", dir, i);
		if ((e = t_stat(t, rel)) != 0)
			return e;
	}
	out[1] = cfg.nfiles / (now() - t0);
	t0 = now();
	n = t_readdir_count(t, dir);
	if (n < 0)
		return (int)n;
	if (n != cfg.nfiles)
		return -EIO;
	out[2] = n / (now() - t0);
	t0 = now();
	for (i = 0; i < cfg.nfiles; i++) {
		snprintf(rel, sizeof(rel), "%s/f%06d", dir, i);
		if ((e = t_unlink(t, rel)) != 0)
			return e;
	}
	out[3] = cfg.nfiles / (now() - t0);
	return t_rmdir(t, dir);
}

static void
pin_target(struct target *t, int cpu)
{
	pin_pid(t->fs_pid, cpu);
	pin_pid(t->perfused_pid, cpu);
}

/*
 * GETATTR round trips on an open file; p50 and p99 in microseconds.
 * client_cpu < 0: nothing pinned.
 */
static int
w_getattr(struct target *t, int server_cpu, int client_cpu, double *p50,
    double *p99)
{
	char name[64];
	struct fh h;
	double *lat, end;
	int i, n = 0, e;

	fname(name, sizeof(name), t, "lat");
	e = t_open(t, name, O_RDWR | O_CREAT, 0644, &h);
	if (e != 0)
		return e;
	lat = malloc(cfg.lat_samples * sizeof(double));
	if (lat == NULL)
		die("out of memory");
	if (client_cpu >= 0) {
		pin_target(t, server_cpu);
		pin_pid(getpid(), client_cpu);
	}
	for (i = 0; i < 200 && e == 0; i++)
		e = t_getattr(t, &h);
	end = now() + cfg.lat_max_secs;
	while (e == 0 && n < cfg.lat_samples) {
		struct timespec a, b;

		clock_gettime(CLOCK_MONOTONIC, &a);
		e = t_getattr(t, &h);
		clock_gettime(CLOCK_MONOTONIC, &b);
		lat[n++] = (b.tv_sec - a.tv_sec) * 1e6 + (b.tv_nsec - a.tv_nsec) / 1e3;
		if ((n & 63) == 0 && now() > end)
			break;
	}
	if (client_cpu >= 0) {
		pin_target(t, -1);
		pin_pid(getpid(), -1);
	}
	t_close(t, &h);
	if (e == 0) {
		qsort(lat, n, sizeof(double), cmp_double);
		*p50 = lat[n / 2];
		*p99 = lat[(int)(n * 0.99) < n ? (int)(n * 0.99) : n - 1];
	}
	free(lat);
	return e;
}

/*
 * cfg.nclients processes, each doing cfg.client_stats stats of its own
 * file under "cl/" (through its own perfuse_connect() for the API path).
 * *secs: from "go" to the last client done; *rss: perfused's VmRSS (KiB)
 * with every client connected and done.
 */
static int
w_clients(struct target *t, const char *sock, const char *target,
    pid_t perfused, double *secs, double *rss)
{
	int ready[2], go[2], done[2], quit[2];
	pid_t pids[MAXCLIENTS];
	int i, nc = cfg.nclients, bad = 0, e;
	double t0;
	char rel[64];

	if ((e = t_mkdir(t, "cl")) != 0)
		return e;
	for (i = 0; i < nc; i++) {
		struct stat st;

		snprintf(rel, sizeof(rel), "cl/f%03d", i);
		if (t_stat(t, rel) != 0 && (e = t_create(t, rel)) != 0)
			return e;
		(void)st;
	}
	if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(go, O_CLOEXEC) < 0 ||
	    pipe2(done, O_CLOEXEC) < 0 || pipe2(quit, O_CLOEXEC) < 0)
		die("pipe: %s", strerror(errno));
	fflush(NULL);
	for (i = 0; i < nc; i++) {
		pid_t pid = fork();

		if (pid < 0)
			die("fork: %s", strerror(errno));
		if (pid == 0) {
			perfuse_conn *c = NULL;
			char b, r = 'R';
			int k, err = 0;

			close(go[1]);
			close(quit[1]);
			close(ready[0]);
			close(done[0]);
			snprintf(rel, sizeof(rel), "cl/f%03d", i);
			if (!t->kernel && perfuse_connect(sock, target, &c) != 0)
				r = 'E';
			if (write(ready[1], &r, 1) != 1 || r == 'E')
				_exit(1);
			if (read(go[0], &b, 1) < 0)
				_exit(1);
			for (k = 0; k < cfg.client_stats && err == 0; k++) {
				struct stat st;

				if (t->kernel) {
					char p[PATH_MAX];

					kpath(t, rel, p, sizeof(p));
					err = lstat(p, &st);
				} else {
					err = perfuse_stat(c, rel, &st);
				}
			}
			r = err == 0 ? 'D' : 'E';
			if (write(done[1], &r, 1) != 1)
				_exit(1);
			if (read(quit[0], &b, 1) < 0)
				_exit(1);
			if (c != NULL)
				perfuse_disconnect(c);
			_exit(err == 0 ? 0 : 1);
		}
		pids[i] = pid;
	}
	close(ready[1]);
	close(done[1]);
	close(go[0]);
	close(quit[0]);
	for (i = 0; i < nc; i++) {
		char b;
		struct pollfd pfd = { ready[0], POLLIN, 0 };

		if (poll(&pfd, 1, 60000) != 1 || read(ready[0], &b, 1) != 1 || b != 'R') {
			bad = 1;
			break;
		}
	}
	t0 = now();
	close(go[1]);
	for (i = 0; !bad && i < nc; i++) {
		char b;
		struct pollfd pfd = { done[0], POLLIN, 0 };

		if (poll(&pfd, 1, 120000) != 1 || read(done[0], &b, 1) != 1 || b != 'D')
			bad = 1;
	}
	*secs = now() - t0;
	*rss = perfused > 0 ? rss_kib(perfused) : -1;
	close(quit[1]);
	for (i = 0; i < nc; i++) {
		int st;

		if (waitpid(pids[i], &st, 0) == pids[i] &&
		    !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
			bad = 1;
	}
	close(ready[0]);
	close(done[0]);
	return bad ? -EIO : 0;
}

/*
 * Set-up work spread over threads, so that it does not wait for one
 * round trip at a time: make files n%07d and keep them open (the API), or
 * mknod(2) them (a kernel mount).
 */
enum { P_CREATE_OPEN, P_KMKNOD };
#define PAR_THREADS 8

struct par {
	int op, from, to, err, done, idx;
	double deadline;
	perfuse_conn *c;
	struct target *t;
	perfuse_file **files;
};

static void *
par_main(void *arg)
{
	struct par *p = arg;
	int i;

	for (i = p->from; i < p->to && p->err == 0; i++) {
		char rel[32];

		if (((i - p->from) & 255) == 255 && now() > p->deadline)
			break;
		/*
		 * A directory per thread on a kernel mount, where creations
		 * in one directory are serialised.
		 */
		if (p->op == P_KMKNOD)
			snprintf(rel, sizeof(rel), "d%d/n%07d", p->idx, i);
		else
			snprintf(rel, sizeof(rel), "n%07d", i);
		if (p->op == P_CREATE_OPEN) {
			p->err = perfuse_file_open(p->c, rel, O_RDWR | O_CREAT | O_EXCL,
			    0644, &p->files[i]);
		} else {
			char path[PATH_MAX];

			kpath(p->t, rel, path, sizeof(path));
			p->err = mknod(path, S_IFREG | 0644, 0) < 0 ? -errno : 0;
		}
		if (p->err == 0)
			p->done++;
	}
	return NULL;
}

/* Returns how many were made (stopped at secs), or -errno. */
static int
par_run(int op, perfuse_conn *c, struct target *t, int n, perfuse_file **files,
    double secs)
{
	struct par p[PAR_THREADS];
	pthread_t th[PAR_THREADS];
	int i, err = 0, done = 0;

	for (i = 0; i < PAR_THREADS; i++) {
		char d[16];

		if (op == P_KMKNOD) {
			snprintf(d, sizeof(d), "d%d", i);
			if ((err = t_mkdir(t, d)) != 0)
				return err;
		}
		p[i].idx = i;
		p[i].done = 0;
		p[i].deadline = now() + secs;
		p[i].op = op;
		p[i].from = (int)((long)n * i / PAR_THREADS);
		p[i].to = (int)((long)n * (i + 1) / PAR_THREADS);
		p[i].err = 0;
		p[i].c = c;
		p[i].t = t;
		p[i].files = files;
		if (pthread_create(&th[i], NULL, par_main, &p[i]) != 0)
			die("pthread_create failed");
	}
	for (i = 0; i < PAR_THREADS; i++) {
		pthread_join(th[i], NULL);
		if (err == 0)
			err = p[i].err;
		done += p[i].done;
	}
	return err != 0 ? err : done;
}

/* ------------------------------------------------------------------ */
/* Phases                                                               */

static const char *
errstr(int e)
{
	return strerror(e < 0 ? -e : e);
}

static int
mode_on(int m)
{
	return strchr(cfg.modes, mode_letter[m]) != NULL;
}

static int
phase_on(const char *name)
{
	return strstr(cfg.phases, name) != NULL;
}

/* Modes in the order of run rep: rotated so that none always goes first. */
static void
mode_order(int rep, int order[NMODES])
{
	int i;

	for (i = 0; i < NMODES; i++)
		order[i] = (i + rep) % NMODES;
}

static void
record(int fs, int x, struct target *t, int e, double v)
{
	if (e != 0) {
		set_na(fs, x, t->mode, "error: %s", errstr(e));
		msg("%s %s %s: error: %s", fs_name[fs], mode_label[t->mode],
		    mdef[x].label, errstr(e));
	} else {
		add_value(fs, x, t->mode, v);
	}
}

static void
make_src(int fs, int m, char *src, size_t size)
{
	struct statfs sf;
	char base[PATH_MAX];

	snprintf(src, size, "/dev/shm/pfbench-%d-%s-%c", (int)getpid(),
	    fs_name[fs], mode_letter[m]);
	if (statfs("/dev/shm", &sf) != 0 || sf.f_type != TMPFS_MAGIC ||
	    mkdir(src, 0755) != 0) {
		snprintf(base, sizeof(base), "%s/%s-src-%c", cfg.workdir,
		    fs_name[fs], mode_letter[m]);
		snprintf(src, size, "%s", base);
		mkdir(src, 0755);
		note("bindfs's source directory is not on tmpfs (/dev/shm unusable)");
	} else if (nrmdirs < 8) {
		snprintf(rmdirs[nrmdirs++], PATH_MAX, "%s", src);
	}
}

static void
phase_fs(int fs)
{
	struct target tg[NMODES];
	struct pfinst pf;
	char why[256], mnt[PATH_MAX], src[NMODES][PATH_MAX];
	int m, rep, order[NMODES], i, have_pf = 0;

	memset(tg, 0, sizeof(tg));
	memset(&pf, 0, sizeof(pf));
	for (m = 0; m < NMODES; m++) {
		tg[m].mode = m;
		tg[m].fs = fs;
		src[m][0] = '\0';
	}
	msg("%s: setting up", fs_name[fs]);

	/* (a) */
	if (mode_on(M_A)) {
		if (fs == FS_BINDFS)
			make_src(fs, M_A, src[M_A], PATH_MAX);
		snprintf(mnt, sizeof(mnt), "%s/%s-a", cfg.workdir, fs_name[fs]);
		if (setup_kernel(&tg[M_A], fs, src[M_A], mnt, why, sizeof(why)) == 0)
			tg[M_A].avail = 1;
		else
			snprintf(mode_na[fs][M_A], 200, "%s", why);
	} else {
		snprintf(mode_na[fs][M_A], 200, "not selected");
	}

	/* (b) and (c): one perfuse mount */
	if (mode_on(M_B) || mode_on(M_C)) {
		if (fs == FS_BINDFS)
			make_src(fs, M_C, src[M_C], PATH_MAX);
		if (pfinst_start(&pf, fs, src[M_C], why, sizeof(why)) == 0) {
			have_pf = 1;
			if (mode_on(M_C)) {
				int e = perfuse_connect(pf.sock, pf.target, &tg[M_C].conn);

				if (e == 0) {
					perfuse_conn_get_info(tg[M_C].conn, &conn_info[fs][M_C]);
					have_info[fs][M_C] = 1;
					tg[M_C].avail = 1;
					tg[M_C].fs_pid = pf.fs;
					tg[M_C].perfused_pid = pf.perfused;
				} else {
					snprintf(mode_na[fs][M_C], 200,
					    "perfuse_connect: %s", errstr(e));
				}
			}
			if (mode_on(M_B) && pf.kmounted) {
				tg[M_B].avail = 1;
				tg[M_B].kernel = 1;
				snprintf(tg[M_B].dir, PATH_MAX, "%s", pf.target);
				tg[M_B].fs_pid = pf.fs;
				tg[M_B].perfused_pid = pf.perfused;
			} else if (mode_on(M_B)) {
				snprintf(mode_na[fs][M_B], 200,
				    "kernel front-end not available");
			}
		} else {
			snprintf(mode_na[fs][M_B], 200, "%s", why);
			snprintf(mode_na[fs][M_C], 200, "%s", why);
		}
	}
	if (!mode_on(M_B))
		snprintf(mode_na[fs][M_B], 200, "not selected");
	if (!mode_on(M_C))
		snprintf(mode_na[fs][M_C], 200, "not selected");

	/* (d) */
	if (mode_on(M_D)) {
		if (setup_embedded(&tg[M_D], fs, why, sizeof(why)) == 0) {
			tg[M_D].avail = 1;
			perfuse_conn_get_info(tg[M_D].conn, &conn_info[fs][M_D]);
			have_info[fs][M_D] = 1;
		}
		else
			snprintf(mode_na[fs][M_D], 200, "%s", why);
	} else {
		snprintf(mode_na[fs][M_D], 200, "not selected");
	}
	for (m = 0; m < NMODES; m++)
		msg("%s %-22s %s", fs_name[fs], mode_label[m],
		    tg[m].avail ? "ready" : mode_na[fs][m]);

	/* Sequential and random I/O */
	for (rep = 0; phase_on("io") && rep < cfg.runs; rep++) {
		mode_order(rep, order);
		for (i = 0; i < NMODES; i++) {
			struct target *t = &tg[order[i]];
			double w = 0, r = 0, q = 0;
			int e;

			if (!t->avail)
				continue;
			e = rep == 0 ? w_seq_write(t, 1, &w) : 0;
			if (e == 0)
				e = w_seq_write(t, 0, &w);
			record(fs, X_SEQW, t, e, w);
			if (e == 0) {
				e = w_seq_read(t, &r);
				record(fs, X_SEQR, t, e, r);
			}
			if (e == 0) {
				e = w_rand_read(t, &q);
				record(fs, X_RAND, t, e, q);
			}
			msg("%s %s run %d: seq write %.0f MiB/s, seq read %.0f MiB/s, "
			    "rand read %.0f IOPS", fs_name[fs], mode_label[t->mode],
			    rep + 1, w, r, q);
		}
	}
	/* Remove the big files. */
	for (m = 0; phase_on("io") && m < NMODES; m++) {
		char name[64];

		if (!tg[m].avail)
			continue;
		fname(name, sizeof(name), &tg[m], "seq.dat");
		t_unlink(&tg[m], name);
	}

	/* Metadata */
	for (rep = 0; phase_on("meta") && rep < cfg.runs; rep++) {
		mode_order(rep, order);
		for (i = 0; i < NMODES; i++) {
			struct target *t = &tg[order[i]];
			double v[4] = { 0, 0, 0, 0 };
			int e;

			if (!t->avail)
				continue;
			e = w_meta(t, rep, v);
			record(fs, X_CREATE, t, e, v[0]);
			record(fs, X_STAT, t, e, v[1]);
			record(fs, X_READDIR, t, e, v[2]);
			record(fs, X_UNLINK, t, e, v[3]);
			msg("%s %s run %d: create %.0f/s, stat %.0f/s, readdir %.0f/s, "
			    "unlink %.0f/s", fs_name[fs], mode_label[t->mode], rep + 1,
			    v[0], v[1], v[2], v[3]);
		}
	}

	/* GETATTR latency, one CPU and across CPUs */
	for (rep = 0; phase_on("latency") && rep < cfg.runs; rep++) {
		mode_order(rep, order);
		for (i = 0; i < NMODES; i++) {
			struct target *t = &tg[order[i]];
			double p50 = 0, p99 = 0, q50 = 0, q99 = 0;
			int e;

			if (!t->avail)
				continue;
			e = w_getattr(t, 0, 0, &p50, &p99);
			record(fs, X_L1P50, t, e, p50);
			record(fs, X_L1P99, t, e, p99);
			if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
				set_na(fs, X_L2P50, t->mode, "one CPU only");
				set_na(fs, X_L2P99, t->mode, "one CPU only");
			} else {
				e = w_getattr(t, 0, 1, &q50, &q99);
				record(fs, X_L2P50, t, e, q50);
				record(fs, X_L2P99, t, e, q99);
			}
			msg("%s %s run %d: GETATTR 1 CPU p50 %.1f p99 %.1f us, "
			    "2 CPUs p50 %.1f p99 %.1f us", fs_name[fs],
			    mode_label[t->mode], rep + 1, p50, p99, q50, q99);
		}
	}

	/* 64 clients on the kernel mount; the perfused rows in phase_perfused. */
	if (fs == FS_MEMFS && tg[M_A].avail && phase_on("perfused")) {
		for (rep = 0; rep < cfg.runs; rep++) {
			double secs = 0, rss;
			int e = w_clients(&tg[M_A], NULL, NULL, 0, &secs, &rss);

			record(fs, X_CLTIME, &tg[M_A], e, secs);
			msg("%s %s run %d: %d clients x %d stats: %.3f s", fs_name[fs],
			    mode_label[M_A], rep + 1, cfg.nclients, cfg.client_stats, secs);
		}
	}

	msg("%s: tearing down", fs_name[fs]);
	if (tg[M_A].avail)
		teardown_kernel(&tg[M_A]);
	if (tg[M_C].conn != NULL) {
		int e = perfuse_disconnect(tg[M_C].conn);

		if (e != 0)
			msg("perfuse_disconnect: %s", errstr(e));
	}
	if (have_pf)
		pfinst_stop(&pf);
	if (tg[M_D].avail)
		teardown_embedded(&tg[M_D]);
	for (m = 0; m < NMODES; m++)
		if (src[m][0] != '\0')
			rm_rf(src[m]);
}

/*
 * perfused's own costs, each run on a fresh perfused serving memfs, for
 * mode m: (c) through the API, (b) through perfused's kernel mount.  Its
 * RSS with an idle mount, the time and its RSS for cfg.nclients
 * concurrent clients, its RSS with cfg.nodes live nodes.
 */
static void
perfused_run(int m, int rep)
{
	const int fs = FS_MEMFS;
	struct pfinst pf;
	struct target t;
	char why[256];
	double secs, rss, base, t0;
	perfuse_file **files = NULL;
	int e, x, n = cfg.nodes, i, made;

	if (pfinst_start(&pf, fs, NULL, why, sizeof(why)) != 0) {
		for (x = X_CLTIME; x <= X_NODEB; x++)
			set_na(fs, x, m, "%s", why);
		pfinst_stop(&pf);
		return;
	}
	memset(&t, 0, sizeof(t));
	t.mode = m;
	t.fs = fs;
	if (m == M_B) {
		if (!pf.kmounted) {
			for (x = X_CLTIME; x <= X_NODEB; x++)
				set_na(fs, x, m, "kernel front-end not available");
			pfinst_stop(&pf);
			return;
		}
		t.kernel = 1;
		snprintf(t.dir, sizeof(t.dir), "%s", pf.target);
	} else if ((e = perfuse_connect(pf.sock, pf.target, &t.conn)) != 0) {
		for (x = X_CLTIME; x <= X_NODEB; x++)
			set_na(fs, x, m, "perfuse_connect: %s", errstr(e));
		pfinst_stop(&pf);
		return;
	}
	usleep(100000);
	base = rss_kib(pf.perfused);
	add_value(fs, X_BASERSS, m, base / 1024);

	e = w_clients(&t, pf.sock, pf.target, pf.perfused, &secs, &rss);
	record(fs, X_CLTIME, &t, e, secs);
	record(fs, X_CLRSS, &t, e, rss / 1024);
	msg("memfs %s run %d: %d clients x %d stats: %.3f s, perfused RSS %.1f MiB "
	    "(idle %.1f)", mode_label[m], rep + 1, cfg.nclients, cfg.client_stats,
	    secs, rss / 1024, base / 1024);

	/*
	 * Live nodes.  Through the API a node stays referenced only while
	 * something holds it open: files made with O_CREAT and kept open
	 * (perfused then also tracks one handle each).  Through the kernel
	 * mount, mknod(2): the kernel keeps the new dentries and holds
	 * their nodes.
	 */
	base = rss_kib(pf.perfused);
	t0 = now();
	if (m == M_C) {
		files = calloc(n, sizeof(*files));
		if (files == NULL)
			die("out of memory");
		made = par_run(P_CREATE_OPEN, t.conn, NULL, n, files, cfg.nodes_max_secs);
	} else {
		made = par_run(P_KMKNOD, NULL, &t, n, NULL, cfg.nodes_max_secs);
	}
	rss = rss_kib(pf.perfused);
	if (made > 0) {
		double per = (rss - base) * 1024 / made;

		/*
		 * Made too slowly to reach n within the time allowed: the
		 * RSS at n is extrapolated from what was made.
		 */
		if (made < n) {
			note("%s: perfused's RSS with %d live nodes is extrapolated "
			    "from %d (made at %.0f/s, stopped after %.0f s)",
			    mode_label[m], n, made, made / (now() - t0),
			    cfg.nodes_max_secs);
			rss = base + per * n / 1024;
		}
		add_value(fs, X_NODERSS, m, rss / 1024);
		add_value(fs, X_NODEB, m, per);
		msg("memfs %s run %d: %d live nodes (%.1f s to make): perfused RSS "
		    "%.1f MiB (%.1f before), %.0f B/node", mode_label[m], rep + 1,
		    made, now() - t0, rss / 1024, base / 1024, per);
	} else {
		record(fs, X_NODERSS, &t, made, 0);
		record(fs, X_NODEB, &t, made, 0);
	}

	/*
	 * perfused goes first (SIGTERM: DESTROY and exit), so that the
	 * handles need not be released one request at a time.
	 */
	t0 = now();
	stop_pid(pf.perfused, 10);
	pf.perfused = 0;
	if (is_fuse_mount(pf.target))
		umount2(pf.target, MNT_DETACH);
	kmount_del(pf.target);
	if (files != NULL) {
		for (i = 0; i < n; i++)
			if (files[i] != NULL)
				perfuse_file_close(files[i]);
		free(files);
	}
	if (t.conn != NULL)
		perfuse_disconnect(t.conn);
	stop_foreign(pf.fs, 5);
	msg("memfs %s run %d: torn down in %.1f s", mode_label[m], rep + 1,
	    now() - t0);
}

static void
phase_perfused(void)
{
	int rep, fs = FS_MEMFS, x, i, order[NMODES];

	set_na(fs, X_CLTIME, M_D, "one process owns an embedded server");
	for (x = X_CLTIME; x <= X_NODEB; x++) {
		set_na(fs, x, M_D, "no perfused in the embedded mode");
		if (x != X_CLTIME)
			set_na(fs, x, M_A, "no perfused on a kernel mount");
	}
	for (rep = 0; rep < cfg.runs; rep++) {
		mode_order(rep, order);
		for (i = 0; i < NMODES; i++)
			if ((order[i] == M_B || order[i] == M_C) && mode_on(order[i]))
				perfused_run(order[i], rep);
	}
}

/* ------------------------------------------------------------------ */
/* Output                                                               */

static char machine_model[256], machine_kernel[256], date_iso[64], date_file[64];
static double load_start[3], load_end[3];
static long mem_total_kib;
static int ncpu;

static void
read_machine(void)
{
	FILE *f;
	char line[512];
	struct utsname u;

	ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	snprintf(machine_model, sizeof(machine_model), "unknown");
	if ((f = fopen("/proc/cpuinfo", "r")) != NULL) {
		while (fgets(line, sizeof(line), f) != NULL)
			if (strncmp(line, "model name", 10) == 0) {
				char *p = strchr(line, ':');

				if (p != NULL) {
					p++;
					while (*p == ' ' || *p == '\t')
						p++;
					p[strcspn(p, "\n")] = '\0';
					snprintf(machine_model, sizeof(machine_model), "%s", p);
				}
				break;
			}
		fclose(f);
	}
	if ((f = fopen("/proc/meminfo", "r")) != NULL) {
		while (fgets(line, sizeof(line), f) != NULL)
			if (sscanf(line, "MemTotal: %ld", &mem_total_kib) == 1)
				break;
		fclose(f);
	}
	if (uname(&u) == 0)
		snprintf(machine_kernel, sizeof(machine_kernel), "%s %s %s",
		    u.sysname, u.release, u.machine);
}

static void
read_load(double l[3])
{
	FILE *f = fopen("/proc/loadavg", "r");

	l[0] = l[1] = l[2] = -1;
	if (f != NULL) {
		if (fscanf(f, "%lf %lf %lf", &l[0], &l[1], &l[2]) != 3)
			l[0] = l[1] = l[2] = -1;
		fclose(f);
	}
}

static void
fmt_num(char *buf, size_t size, double v)
{
	double a = v < 0 ? -v : v;

	if (a >= 1e6)
		snprintf(buf, size, "%.2fM", v / 1e6);
	else if (a >= 1e4)
		snprintf(buf, size, "%.1fk", v / 1e3);
	else if (a >= 100)
		snprintf(buf, size, "%.0f", v);
	else if (a >= 10)
		snprintf(buf, size, "%.1f", v);
	else
		snprintf(buf, size, "%.2f", v);
}

/* "median [min-max] ratio" of one cell. */
static void
fmt_cell(char *buf, size_t size, int fs, int x, int m)
{
	double med, mn, mx, r;
	char a[32], b[32], c[32];

	if (!cell_stats(&res[fs][x][m], &med, &mn, &mx)) {
		snprintf(buf, size, "n/a");
		return;
	}
	fmt_num(a, sizeof(a), med);
	fmt_num(b, sizeof(b), mn);
	fmt_num(c, sizeof(c), mx);
	if (cell_ratio(fs, x, m, &r))
		snprintf(buf, size, "%s [%s-%s] %.2fx", a, b, c, r);
	else
		snprintf(buf, size, "%s [%s-%s]", a, b, c);
}

static const struct group {
	const char *title;
	int x[5];
} groups[] = {
	{ "I/O", { X_SEQW, X_SEQR, X_RAND, -1 } },
	{ "metadata", { X_CREATE, X_STAT, X_READDIR, X_UNLINK, -1 } },
	{ "GETATTR round trip, attribute cache off", { X_L1P50, X_L1P99, X_L2P50, X_L2P99, -1 } },
	{ "perfused", { X_CLTIME, X_CLRSS, X_BASERSS, X_NODERSS, X_NODEB } },
};

static void
print_table(FILE *o, int fs)
{
	size_t g;
	int m, k;
	const int w = 26;

	fprintf(o, "\n== %s\n", fs_name[fs]);
	for (g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
		char h[64];
		int any = 0;

		for (k = 0; k < 5 && groups[g].x[k] >= 0; k++)
			if (!mdef[groups[g].x[k]].memfs_only || fs == FS_MEMFS)
				any = 1;
		if (!any)
			continue;
		fprintf(o, "\n%-22s", groups[g].title[0] == 'G' ? "GETATTR, no attr cache" :
		    groups[g].title);
		for (k = 0; k < 5 && groups[g].x[k] >= 0; k++) {
			const struct metric_def *d = &mdef[groups[g].x[k]];

			snprintf(h, sizeof(h), "%s %s", d->label, d->unit);
			fprintf(o, "  %-*s", w, h);
		}
		fputc('\n', o);
		for (m = 0; m < NMODES; m++) {
			fprintf(o, "%-22s", mode_label[m]);
			if (mode_na[fs][m][0] != '\0') {
				fprintf(o, "  n/a (%s)\n", mode_na[fs][m]);
				continue;
			}
			for (k = 0; k < 5 && groups[g].x[k] >= 0; k++) {
				char cell[96];

				fmt_cell(cell, sizeof(cell), fs, groups[g].x[k], m);
				fprintf(o, "  %-*s", w, cell);
			}
			fputc('\n', o);
		}
	}
	for (m = 0; m < NMODES; m++)
		if (have_info[fs][m])
			fprintf(o, "  %s: protocol 7.%u (server 7.%u), max_write %u, "
			    "max_read %u\n", mode_label[m], conn_info[fs][m].minor,
			    conn_info[fs][m].server_minor, conn_info[fs][m].max_write,
			    conn_info[fs][m].max_read);
	/* Why single cells have no figure: one line per mode and reason. */
	for (m = 0; m < NMODES; m++) {
		int x, y, done[NMETRICS] = { 0 };

		if (mode_na[fs][m][0] != '\0')
			continue;
		for (x = 0; x < NMETRICS; x++) {
			const char *why = res[fs][x][m].na;

			if (done[x] || res[fs][x][m].n != 0 || why[0] == '\0' ||
			    (mdef[x].memfs_only && fs != FS_MEMFS))
				continue;
			fprintf(o, "  %s, n/a: %s (%s", mode_label[m], why, mdef[x].label);
			for (y = x + 1; y < NMETRICS; y++)
				if (!done[y] && res[fs][y][m].n == 0 &&
				    strcmp(res[fs][y][m].na, why) == 0) {
					fprintf(o, ", %s", mdef[y].label);
					done[y] = 1;
				}
			fprintf(o, ")\n");
		}
	}
}

/* perfused's added latency per request: (c) minus (d), one CPU. */
static int
perfused_added(int x, double *v)
{
	double c, d, mn, mx;

	if (!cell_stats(&res[FS_MEMFS][x][M_C], &c, &mn, &mx) ||
	    !cell_stats(&res[FS_MEMFS][x][M_D], &d, &mn, &mx))
		return 0;
	*v = c - d;
	return 1;
}

static void
print_report(FILE *o, double elapsed)
{
	int fs;
	double v;

	fprintf(o, "perfuse benchmark (pfbench, %s preset), %s\n", cfg.preset, date_iso);
	fprintf(o, "machine: %d CPUs, %s, %s, %.1f GiB RAM\n", ncpu, machine_model,
	    machine_kernel, mem_total_kib / MIB);
	fprintf(o, "load average: %.2f %.2f %.2f at start, %.2f %.2f %.2f at end, "
	    "1-minute load up to %.2f during the run\n", load_start[0],
	    load_start[1], load_start[2], load_end[0], load_end[1], load_end[2],
	    load_max);
	fprintf(o, "sizes: seq %.0f MiB in 1 MiB requests, 4K rand reads %.1f s (%.2f s a run), "
	    "%d files, %d live nodes, %d clients x %d stats; %d runs, %.0f s in all\n",
	    cfg.seq_bytes / MIB, cfg.rand_secs, cfg.rand_secs / cfg.runs, cfg.nfiles, cfg.nodes,
	    cfg.nclients, cfg.client_stats, cfg.runs, elapsed);
	fprintf(o, "cells: median [min-max] of the runs, then the ratio against (a):"
	    " >1.00x is better than the kernel mount (for times a/x)\n");
	for (fs = 0; fs < NFS; fs++)
		if (fs == FS_MEMFS ? cfg.do_memfs : cfg.do_bindfs)
			print_table(o, fs);
	fputc('\n', o);
	if (perfused_added(X_L1P50, &v))
		fprintf(o, "perfused adds %.1f us per GETATTR on one CPU (memfs, p50 of (c) "
		    "minus (d))\n", v);
	if (perfused_added(X_L2P50, &v))
		fprintf(o, "perfused adds %.1f us per GETATTR across CPUs (memfs, p50 of "
		    "(c) minus (d))\n", v);
	for (fs = 0; fs < nnotes; fs++)
		fprintf(o, "note: %s\n", notes[fs]);
}

static void
json_str(FILE *o, const char *s)
{
	fputc('"', o);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(o, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(o, "\\u%04x", ch);
		else
			fputc(ch, o);
	}
	fputc('"', o);
}

static void
json_num(FILE *o, double v)
{
	if (v != v || v > 1e300 || v < -1e300)
		fprintf(o, "null");
	else
		fprintf(o, "%.6g", v);
}

static void
write_json(FILE *o, double elapsed)
{
	int fs, x, m, i, first_fs = 1;
	double v;

	fprintf(o, "{\n  \"tool\": \"pfbench\",\n  \"perfuse_version\": ");
	json_str(o, PERFUSE_VERSION);
	fprintf(o, ",\n  \"date\": ");
	json_str(o, date_iso);
	fprintf(o, ",\n  \"preset\": ");
	json_str(o, cfg.preset);
	fprintf(o, ",\n  \"elapsed_s\": ");
	json_num(o, elapsed);
	fprintf(o, ",\n  \"machine\": {\"nproc\": %d, \"model_name\": ", ncpu);
	json_str(o, machine_model);
	fprintf(o, ", \"kernel\": ");
	json_str(o, machine_kernel);
	fprintf(o, ", \"mem_total_kib\": %ld},\n", mem_total_kib);
	fprintf(o, "  \"load\": {\"start\": [%.2f, %.2f, %.2f], \"end\": [%.2f, %.2f, %.2f], "
	    "\"max_1min\": %.2f},\n",
	    load_start[0], load_start[1], load_start[2],
	    load_end[0], load_end[1], load_end[2], load_max);
	fprintf(o, "  \"config\": {\"runs\": %d, \"seq_bytes\": %zu, \"seq_request\": %d, "
	    "\"rand_read_secs_total\": %g, \"rand_request\": %d, \"files\": %d, "
	    "\"nodes\": %d, \"clients\": %d, \"client_stats\": %d, "
	    "\"latency_samples\": %d},\n", cfg.runs, cfg.seq_bytes, SEQ_REQ,
	    cfg.rand_secs, RAND_REQ, cfg.nfiles, cfg.nodes, cfg.nclients,
	    cfg.client_stats, cfg.lat_samples);
	fprintf(o, "  \"ratio\": ");
	json_str(o, "figure relative to (a); >1 is better than the kernel mount "
	    "(higher-is-better figures: x/a, times and latencies: a/x)");
	fprintf(o, ",\n  \"modes\": {");
	for (m = 0; m < NMODES; m++) {
		fprintf(o, "%s\n    \"%c\": {\"label\": ", m ? "," : "", mode_letter[m]);
		json_str(o, mode_label[m]);
		fprintf(o, ", \"what\": ");
		json_str(o, mode_desc[m]);
		fputc('}', o);
	}
	fprintf(o, "\n  },\n  \"filesystems\": {");
	for (fs = 0; fs < NFS; fs++) {
		int first_x = 1;

		if (!(fs == FS_MEMFS ? cfg.do_memfs : cfg.do_bindfs))
			continue;
		fprintf(o, "%s\n    \"%s\": {\n      \"available\": {", first_fs ? "" : ",",
		    fs_name[fs]);
		first_fs = 0;
		for (m = 0; m < NMODES; m++) {
			fprintf(o, "%s\"%c\": ", m ? ", " : "", mode_letter[m]);
			if (mode_na[fs][m][0] == '\0')
				fprintf(o, "true");
			else
				json_str(o, mode_na[fs][m]);
		}
		fprintf(o, "},\n      \"init\": {");
		for (m = 0, i = 0; m < NMODES; m++) {
			const struct perfuse_conn_info *ci = &conn_info[fs][m];

			if (!have_info[fs][m])
				continue;
			fprintf(o, "%s\"%c\": {\"minor\": %u, \"server_minor\": %u, "
			    "\"max_write\": %u, \"max_read\": %u}", i++ ? ", " : "",
			    mode_letter[m], ci->minor, ci->server_minor, ci->max_write,
			    ci->max_read);
		}
		fprintf(o, "},\n      \"metrics\": {");
		for (x = 0; x < NMETRICS; x++) {
			if (mdef[x].memfs_only && fs != FS_MEMFS)
				continue;
			fprintf(o, "%s\n        \"%s\": {\"label\": ", first_x ? "" : ",",
			    mdef[x].id);
			first_x = 0;
			json_str(o, mdef[x].label);
			fprintf(o, ", \"unit\": ");
			json_str(o, mdef[x].unit);
			fprintf(o, ", \"better\": \"%s\"", mdef[x].higher_better ?
			    "higher" : "lower");
			for (m = 0; m < NMODES; m++) {
				double med, mn, mx, r;
				const struct cell *c = &res[fs][x][m];

				fprintf(o, ",\n          \"%c\": ", mode_letter[m]);
				if (!cell_stats(c, &med, &mn, &mx)) {
					fprintf(o, "{\"na\": ");
					json_str(o, mode_na[fs][m][0] ? mode_na[fs][m] :
					    c->na[0] ? c->na : "not measured");
					fputc('}', o);
					continue;
				}
				fprintf(o, "{\"median\": ");
				json_num(o, med);
				fprintf(o, ", \"min\": ");
				json_num(o, mn);
				fprintf(o, ", \"max\": ");
				json_num(o, mx);
				fprintf(o, ", \"runs\": [");
				for (i = 0; i < c->n; i++) {
					if (i)
						fprintf(o, ", ");
					json_num(o, c->v[i]);
				}
				fputc(']', o);
				if (cell_ratio(fs, x, m, &r)) {
					fprintf(o, ", \"ratio_vs_a\": ");
					json_num(o, r);
				}
				fputc('}', o);
			}
			fputc('}', o);
		}
		fprintf(o, "\n      }\n    }");
	}
	fprintf(o, "\n  },\n  \"derived\": {");
	if (perfused_added(X_L1P50, &v)) {
		fprintf(o, "\"perfused_added_us_1cpu_p50\": ");
		json_num(o, v);
		if (perfused_added(X_L2P50, &v)) {
			fprintf(o, ", \"perfused_added_us_2cpu_p50\": ");
			json_num(o, v);
		}
	}
	fprintf(o, "},\n  \"notes\": [");
	for (i = 0; i < nnotes; i++) {
		fprintf(o, "%s\n    ", i ? "," : "");
		json_str(o, notes[i]);
	}
	fprintf(o, "\n  ]\n}\n");
}

static void
write_outputs(double elapsed)
{
	char path[PATH_MAX], latest[PATH_MAX], tmp[PATH_MAX];
	FILE *o;

	print_report(stdout, elapsed);
	fflush(stdout);
	if (cfg.no_write)
		return;
	snprintf(path, sizeof(path), "%s/results-%s.json", cfg.outdir, date_file);
	snprintf(latest, sizeof(latest), "%s/results-latest.json", cfg.outdir);
	snprintf(tmp, sizeof(tmp), "%s/.results.json.tmp", cfg.outdir);
	if (mkdir(cfg.outdir, 0755) != 0 && errno != EEXIST)
		die("%s: %s", cfg.outdir, strerror(errno));
	if ((o = fopen(tmp, "w")) == NULL)
		die("%s: %s", tmp, strerror(errno));
	write_json(o, elapsed);
	if (fclose(o) != 0)
		die("%s: %s", tmp, strerror(errno));
	if ((o = fopen(latest, "w")) == NULL)
		die("%s: %s", latest, strerror(errno));
	write_json(o, elapsed);
	if (fclose(o) != 0)
		die("%s: %s", latest, strerror(errno));
	if (rename(tmp, path) != 0)
		die("rename %s: %s", path, strerror(errno));
	printf("results: %s (and %s)\n", path, latest);
}

/* ------------------------------------------------------------------ */
/* main                                                                 */

static void
usage(FILE *o)
{
	fprintf(o,
	    "usage: pfbench [--quick | --smoke] [options]\n"
	    "Benchmark memfs and bindfs attached (a) on kernel FUSE, (b) through\n"
	    "perfused's kernel front-end, (c) through perfused and the API, (d) with\n"
	    "libperfuse embedded.  Prints a table, writes OUTDIR/results-DATE.json\n"
	    "and OUTDIR/results-latest.json.\n"
	    "  --quick           shorter: 256 MiB, 3 s random reads, 2000 files\n"
	    "  --smoke           tiny sizes, modes c and d only (for the tests)\n"
	    "  --runs=N          runs per figure (default 3; the median is shown)\n"
	    "  --modes=LETTERS   which of abcd to run (default abcd)\n"
	    "  --fs=LIST         memfs,bindfs (default both)\n"
	    "  --phases=LIST     io,meta,latency,perfused (default all)\n"
	    "  --size-mib=N      sequential file size\n"
	    "  --rand-secs=S     random reads per configuration, over all runs\n"
	    "                    (default 10: 3.3 s in each of 3 runs)\n"
	    "  --files=N  --nodes=N  --clients=N  --client-stats=N\n"
	    "  --build=DIR       where memfs, perfused and perfuse are\n"
	    "                    (default: beside this program)\n"
	    "  --out-dir=DIR     where the JSON goes (default: the current directory)\n"
	    "  --no-json         print the table only\n"
	    "  --workdir=DIR     scratch directory (default: a new one in $TMPDIR)\n"
	    "  --keep            keep the scratch directory\n");
}

static void
preset(const char *name)
{
	cfg.preset = name;
	if (strcmp(name, "full") == 0) {
		cfg.seq_bytes = (size_t)1 << 30;
		cfg.rand_secs = 10;
		cfg.nfiles = 10000;
		cfg.nodes = 100000;
		cfg.nodes_max_secs = 30;
		cfg.nclients = 64;
		cfg.client_stats = 500;
		cfg.lat_samples = 10000;
		cfg.lat_max_secs = 1;
	} else if (strcmp(name, "quick") == 0) {
		cfg.seq_bytes = (size_t)256 << 20;
		cfg.rand_secs = 3;
		cfg.nfiles = 2000;
		cfg.nodes = 20000;
		cfg.nodes_max_secs = 10;
		cfg.nclients = 64;
		cfg.client_stats = 200;
		cfg.lat_samples = 5000;
		cfg.lat_max_secs = 1;
	} else {
		cfg.seq_bytes = (size_t)4 << 20;
		cfg.rand_secs = 0.6;
		cfg.nfiles = 100;
		cfg.nodes = 1000;
		cfg.nodes_max_secs = 10;
		cfg.nclients = 64;
		cfg.client_stats = 5;
		cfg.lat_samples = 200;
		cfg.lat_max_secs = 0.5;
		snprintf(cfg.modes, sizeof(cfg.modes), "cd");
	}
}

static const char *
optval(const char *arg, const char *name)
{
	size_t n = strlen(name);

	if (strncmp(arg, name, n) == 0 && arg[n] == '=')
		return arg + n + 1;
	return NULL;
}

static long
num_arg(const char *v, const char *what, long lo, long hi)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || *end || n < lo || n > hi) {
		fprintf(stderr, "pfbench: %s: expected a number in %ld..%ld\n", what, lo, hi);
		exit(2);
	}
	return n;
}

static int
find_in_path(const char *prog, char *out, size_t size)
{
	const char *p = getenv("PATH");
	char dir[PATH_MAX];

	if (p == NULL)
		p = "/usr/local/bin:/usr/bin:/bin";
	while (*p) {
		size_t n = strcspn(p, ":");

		snprintf(dir, sizeof(dir), "%.*s/%s", (int)n, p, prog);
		if (n > 0 && access(dir, X_OK) == 0) {
			snprintf(out, size, "%s", dir);
			return 0;
		}
		p += n;
		if (*p == ':')
			p++;
	}
	return -1;
}

static void
default_build(void)
{
	char exe[PATH_MAX], *slash;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char probe[PATH_MAX + 16];

	if (n <= 0)
		return;
	exe[n] = '\0';
	if ((slash = strrchr(exe, '/')) != NULL)
		*slash = '\0';
	snprintf(probe, sizeof(probe), "%s/perfused", exe);
	if (access(probe, X_OK) != 0 && (slash = strrchr(exe, '/')) != NULL)
		*slash = '\0';  /* build/bench/pfbench: build/ */
	snprintf(cfg.build, sizeof(cfg.build), "%s", exe);
}

int
main(int argc, char *argv[])
{
	int i, made_workdir = 0;
	const char *v;
	double elapsed;
	time_t tnow;
	struct tm tm;
	char fslist[64] = "memfs,bindfs";

	t_start = now();
	snprintf(cfg.modes, sizeof(cfg.modes), "abcd");
	snprintf(cfg.phases, sizeof(cfg.phases), "io,meta,latency,perfused");
	preset("full");
	cfg.runs = 3;
	snprintf(cfg.outdir, sizeof(cfg.outdir), ".");
	default_build();
	/* Presets first, so that explicit options override them. */
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0)
			preset("quick");
		else if (strcmp(argv[i], "--smoke") == 0)
			preset("smoke");
	}
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--quick") == 0 || strcmp(a, "--smoke") == 0)
			continue;
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		} else if ((v = optval(a, "--runs")) != NULL) {
			cfg.runs = (int)num_arg(v, a, 1, MAXRUNS);
		} else if ((v = optval(a, "--modes")) != NULL) {
			if (strspn(v, "abcd") != strlen(v) || strlen(v) == 0 || strlen(v) > 4) {
				fprintf(stderr, "pfbench: --modes takes letters of abcd\n");
				return 2;
			}
			snprintf(cfg.modes, sizeof(cfg.modes), "%s", v);
		} else if ((v = optval(a, "--phases")) != NULL) {
			snprintf(cfg.phases, sizeof(cfg.phases), "%s", v);
		} else if ((v = optval(a, "--fs")) != NULL) {
			snprintf(fslist, sizeof(fslist), "%s", v);
		} else if ((v = optval(a, "--size-mib")) != NULL) {
			cfg.seq_bytes = (size_t)num_arg(v, a, 1, 1 << 20) << 20;
		} else if ((v = optval(a, "--rand-secs")) != NULL) {
			cfg.rand_secs = atof(v);
			if (cfg.rand_secs <= 0) {
				fprintf(stderr, "pfbench: %s: expected a positive number\n", a);
				return 2;
			}
		} else if ((v = optval(a, "--files")) != NULL) {
			cfg.nfiles = (int)num_arg(v, a, 1, 10000000);
		} else if ((v = optval(a, "--nodes")) != NULL) {
			cfg.nodes = (int)num_arg(v, a, 1, 10000000);
		} else if ((v = optval(a, "--clients")) != NULL) {
			cfg.nclients = (int)num_arg(v, a, 1, MAXCLIENTS);
		} else if ((v = optval(a, "--client-stats")) != NULL) {
			cfg.client_stats = (int)num_arg(v, a, 1, 100000000);
		} else if ((v = optval(a, "--build")) != NULL) {
			snprintf(cfg.build, sizeof(cfg.build), "%s", v);
		} else if ((v = optval(a, "--out-dir")) != NULL) {
			snprintf(cfg.outdir, sizeof(cfg.outdir), "%s", v);
		} else if ((v = optval(a, "--workdir")) != NULL) {
			snprintf(cfg.workdir, sizeof(cfg.workdir), "%s", v);
		} else if (strcmp(a, "--keep") == 0) {
			cfg.keep = 1;
		} else if (strcmp(a, "--no-json") == 0) {
			cfg.no_write = 1;
		} else {
			fprintf(stderr, "pfbench: unknown argument %s\n", a);
			usage(stderr);
			return 2;
		}
	}
	cfg.do_memfs = strstr(fslist, "memfs") != NULL;
	cfg.do_bindfs = strstr(fslist, "bindfs") != NULL;
	if (cfg.seq_bytes < RAND_REQ) {
		fprintf(stderr, "pfbench: the sequential file must be at least 4 KiB\n");
		return 2;
	}

	{
		char p[PATH_MAX + 16];

		snprintf(p, sizeof(p), "%s/perfused", cfg.build);
		if (access(p, X_OK) != 0) {
			fprintf(stderr, "pfbench: %s is missing (--build=DIR; run make)\n", p);
			return 1;
		}
		snprintf(p, sizeof(p), "%s/memfs", cfg.build);
		if (cfg.do_memfs && access(p, X_OK) != 0) {
			fprintf(stderr, "pfbench: %s is missing (libfuse3-dev at build time)\n", p);
			return 1;
		}
	}
	if (cfg.do_bindfs && find_in_path("bindfs", bindfs_path, sizeof(bindfs_path)) != 0) {
		note("bindfs is not installed: its rows were skipped");
		cfg.do_bindfs = 0;
	}

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (cfg.workdir[0] == '\0') {
		const char *tmp = getenv("TMPDIR");

		snprintf(cfg.workdir, sizeof(cfg.workdir), "%s/pfbench.XXXXXX",
		    tmp && *tmp ? tmp : "/tmp");
		if (mkdtemp(cfg.workdir) == NULL)
			die("mkdtemp %s: %s", cfg.workdir, strerror(errno));
		made_workdir = 1;
	} else if (mkdir(cfg.workdir, 0755) != 0 && errno != EEXIST) {
		die("%s: %s", cfg.workdir, strerror(errno));
	}
	if (made_workdir)
		snprintf(rmdirs[nrmdirs++], PATH_MAX, "%s", cfg.workdir);

	if (posix_memalign((void **)&iobuf, 4096, SEQ_REQ) != 0)
		die("out of memory");
	for (i = 0; i < SEQ_REQ; i++)
		iobuf[i] = (char)(i * 131 + (i >> 12));

	read_machine();
	read_load(load_start);
	tnow = time(NULL);
	gmtime_r(&tnow, &tm);
	strftime(date_iso, sizeof(date_iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
	strftime(date_file, sizeof(date_file), "%Y-%m-%d-%H%M%S", &tm);
	msg("pfbench %s: %d CPUs, %s, %s; load %.2f %.2f %.2f; build %s; work %s",
	    cfg.preset, ncpu, machine_model, machine_kernel, load_start[0],
	    load_start[1], load_start[2], cfg.build, cfg.workdir);

	if (cfg.do_memfs) {
		phase_fs(FS_MEMFS);
		msg("memfs done");
		if (phase_on("perfused")) {
			phase_perfused();
			msg("perfused phase done");
		}
	}
	if (cfg.do_bindfs) {
		phase_fs(FS_BINDFS);
		msg("bindfs done");
	}

	read_load(load_end);
	elapsed = now() - t_start;
	cleanup();
	write_outputs(elapsed);
	return 0;
}
