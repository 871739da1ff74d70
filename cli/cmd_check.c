/*
 * cmd_check.c - perfuse check: a conformance battery run against a FUSE
 * server with libperfuse, one line per check (PASS, FAIL or SKIP and why);
 * and the starting of filesystems that perfuse replay shares (fsrun_*).
 *
 * Starting a filesystem (fsrun_start):
 *  - attach=fd: one end of a SOCK_SEQPACKET socketpair becomes the
 *    filesystem's fd 3 and its mountpoint argument (the last non-option
 *    argument) is replaced by "/dev/fd/3".  Only libfuse3 (>= 3.3)
 *    filesystems take that.  We are the kernel: INIT offers the minor the
 *    caller chose, every request goes straight to the server.
 *  - attach=preload: for libfuse2 filesystems (and any other).  A private
 *    perfused ("perfused -f -s SOCK" in a temporary directory) starts the
 *    filesystem with the preload shim, its mountpoint argument replaced by
 *    an empty private directory, and we reach it through perfuse_connect().
 *    INIT is then perfused's.
 *  - attach=auto (the default): fd when the program links libfuse3, else
 *    preload, as perfused's own rule.
 *
 * The battery talks to the server with raw requests (lib/raw.c): every
 * reply is waited for at most --timeout seconds and checked against the
 * protocol (pf_check_reply() and the entry and listing checks perfused
 * makes), so a server that hangs or answers badly is reported, not waited
 * for.  Everything written goes into a scratch directory
 * "perfuse-check.PID" under the root, removed at the end.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "fsprog.h"
#include "daemon.h"
#include "session.h"
#include "sock.h"

extern char **environ;

/* ------------------------------------------------------------------ */
/* Messages of the library: kept, shown only where they explain a FAIL. */

static char lib_msg[512];

static void
capture_log(enum perfuse_log_level level, const char *msg, void *arg)
{
	(void)arg;
	if (level <= PERFUSE_LOG_WARN)
		snprintf(lib_msg, sizeof(lib_msg), "%s", msg);
}

/* ------------------------------------------------------------------ */
/* Starting filesystems (shared with cmd_replay.c).                      */

#define FS_FD 3
#define INIT_TIMEOUT 30    /* seconds for the server's INIT reply */
#define EXIT_WAIT 10       /* seconds for it to exit after DESTROY */

struct fsrun {
	enum fsrun_attach attach;  /* FSRUN_FD or FSRUN_PRELOAD */
	pid_t pid;                 /* fd: the filesystem, leader of its group */
	int logfd;                 /* fd: memfd with its stdout and stderr */
	char *tmpdir;              /* preload: socket, log, mountpoint */
	char sock[PATH_MAX];
	char target[4096];
	pid_t perfused;            /* preload: our private perfused */
};

int
fsrun_attach_parse(const char *s)
{
	if (strcmp(s, "auto") == 0)
		return FSRUN_AUTO;
	if (strcmp(s, "fd") == 0)
		return FSRUN_FD;
	if (strcmp(s, "preload") == 0)
		return FSRUN_PRELOAD;
	return -1;
}

int
fsrun_via_daemon(const struct fsrun *r)
{
	return r->attach == FSRUN_PRELOAD;
}

/* The filesystem's mountpoint, as perfused finds it. */
int
fsrun_mountpoint(char *const argv[])
{
	return pf_fs_mountpoint(argv);
}

/* A copy of argv with argument i replaced by rep (strings shared). */
static char **
argv_with(char *const argv[], int i, char *rep)
{
	size_t n = 0, k;
	char **v;

	while (argv[n] != NULL)
		n++;
	v = calloc(n + 1, sizeof(*v));
	if (v == NULL)
		return NULL;
	for (k = 0; k < n; k++)
		v[k] = (int)k == i ? rep : argv[k];
	return v;
}

static long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait up to ms for pid to exit; its status in *st.  1: exited, 0: not. */
static int
wait_exit(pid_t pid, long ms, int *st)
{
	long end = mono_ms() + ms;

	for (;;) {
		pid_t r = waitpid(pid, st, WNOHANG);

		if (r == pid || (r < 0 && errno == ECHILD))
			return 1;
		if (mono_ms() >= end)
			return 0;
		usleep(20000);
	}
}

static void
describe_status(int st, char *buf, size_t size)
{
	if (WIFEXITED(st))
		snprintf(buf, size, "exited with status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, size, "killed by signal %d (%s)%s", WTERMSIG(st),
		    strsignal(WTERMSIG(st)), WCOREDUMP(st) ? ", core dumped" : "");
	else
		snprintf(buf, size, "ended (status 0x%x)", st);
}

/* The end of a file's text (the filesystem's stderr, perfused's log). */
static void
tail_of(int fd, char *buf, size_t size)
{
	struct stat st;
	off_t from = 0;
	ssize_t n;

	buf[0] = '\0';
	if (fd < 0 || size < 2 || fstat(fd, &st) < 0)
		return;
	if (st.st_size > (off_t)size - 1)
		from = st.st_size - (off_t)size + 1;
	n = pread(fd, buf, size - 1, from);
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
}

void
fsrun_stderr(struct fsrun *r, char *buf, size_t size)
{
	int fd = r->logfd;

	if (r->attach == FSRUN_PRELOAD) {
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/perfused.log", r->tmpdir);
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	tail_of(fd, buf, size);
	if (r->attach == FSRUN_PRELOAD && fd >= 0)
		close(fd);
}

/* "reason" and, when it wrote any, the filesystem's stderr after it. */
static void
why_with_stderr(struct fsrun *r, char *why, size_t whysize, const char *fmt, ...)
{
	char tail[1024];
	size_t l;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whysize, fmt, ap);
	va_end(ap);
	fsrun_stderr(r, tail, sizeof(tail));
	for (char *p = tail; *p; p++)
		if (*p == '\n')
			*p = '|';
	l = strlen(why);
	if (tail[0] != '\0' && l + 20 < whysize)
		snprintf(why + l, whysize - l, " [%s: %s]",
		    r->attach == FSRUN_PRELOAD ? "perfused's log" : "its stderr", tail);
}

static void
child_exec(char **argv, int logfd, int srv)
{
	sigset_t none;
	int nul = open("/dev/null", O_RDONLY);

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	setpgid(0, 0);
	if (nul < 0 || dup2(nul, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0)
		_exit(126);
	if (srv >= 0) {
		if (srv == FS_FD)
			fcntl(FS_FD, F_SETFD, 0);
		else if (dup2(srv, FS_FD) < 0)
			_exit(126);
	}
	execvp(argv[0], argv);
	fprintf(stderr, "%s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

static int
start_fd(struct fsrun *r, char *const argv[], int mp, unsigned minor,
    perfuse_conn **c, char *why, size_t whysize)
{
	static char fdarg[] = "/dev/fd/3";
	struct timeval tv = { INIT_TIMEOUT, 0 }, zero = { 0, 0 };
	char **v = argv_with(argv, mp, fdarg), name[64];
	const char *base = strrchr(argv[0], '/');
	int sv[2], err, st;

	if (v == NULL)
		return -ENOMEM;
	r->logfd = memfd_create("perfuse-check-stderr", MFD_CLOEXEC);
	if (r->logfd < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		err = -errno;
		free(v);
		snprintf(why, whysize, "%s", strerror(-err));
		return err;
	}
	pf_sock_setbuf(sv[1], PF_MAX_MAX_PAGES * 4096);
	r->pid = fork();
	if (r->pid < 0) {
		err = -errno;
		close(sv[0]);
		close(sv[1]);
		free(v);
		snprintf(why, whysize, "fork: %s", strerror(-err));
		return err;
	}
	if (r->pid == 0)
		child_exec(v, r->logfd, sv[1]);
	free(v);
	close(sv[1]);
	snprintf(name, sizeof(name), "%s", base ? base + 1 : argv[0]);
	/* A server that never answers INIT must not hang us. */
	setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	lib_msg[0] = '\0';
	err = pf_conn_open(sv[0], name, PERFUSE_CONN_DESTROY, minor, c);
	if (err != 0) {
		char how[128] = "";

		if (wait_exit(r->pid, 2000, &st)) {
			describe_status(st, how, sizeof(how));
			r->pid = 0;
		}
		why_with_stderr(r, why, whysize, "INIT 7.%u: %s%s%s%s", minor,
		    lib_msg[0] ? lib_msg : strerror(-err), how[0] ? " (the filesystem " : "",
		    how, how[0] ? ")" : "");
		return err;
	}
	setsockopt((*c)->fd, SOL_SOCKET, SO_RCVTIMEO, &zero, sizeof(zero));
	return 0;
}

static void
rm_tmpdir(struct fsrun *r)
{
	static const char *const names[] = { "perfused.sock", "perfused.sock.lock",
		"perfused.log", "perfused.sock.log" };
	char path[PATH_MAX];
	size_t i;

	if (r->tmpdir == NULL)
		return;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", r->tmpdir, names[i]);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/mnt", r->tmpdir);
	rmdir(path);
	rmdir(r->tmpdir);
}

static int
start_preload(struct fsrun *r, char *const argv[], int mp, perfuse_conn **c,
    char *why, size_t whysize)
{
	const char *tmp = getenv("TMPDIR");
	char prog[PATH_MAX], path[PATH_MAX], mnt[PATH_MAX], *errbuf, *cwd;
	char **v;
	int err, logfd, st, n;

	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	snprintf(path, sizeof(path), "%s/perfuse-check.XXXXXX", tmp);
	if (mkdtemp(path) == NULL || (r->tmpdir = strdup(path)) == NULL) {
		err = -errno;
		snprintf(why, whysize, "mkdtemp %s: %s", path, strerror(-err));
		return err ? err : -ENOMEM;
	}
	snprintf(r->sock, sizeof(r->sock), "%s/perfused.sock", r->tmpdir);
	snprintf(mnt, sizeof(mnt), "%s/mnt", r->tmpdir);
	snprintf(path, sizeof(path), "%s/perfused.log", r->tmpdir);
	if (mkdir(mnt, 0700) < 0 ||
	    (logfd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
		err = -errno;
		snprintf(why, whysize, "%s: %s", r->tmpdir, strerror(-err));
		return err;
	}
	pf_perfused_program(prog, sizeof(prog));
	r->perfused = fork();
	if (r->perfused == 0) {
		char *pv[] = { prog, "-f", "-s", r->sock, NULL };

		child_exec(pv, logfd, -1);
	}
	close(logfd);
	if (r->perfused < 0) {
		err = -errno;
		snprintf(why, whysize, "fork: %s", strerror(-err));
		return err;
	}
	for (n = 0; access(r->sock, F_OK) != 0; n++) {
		if (n >= 100 || wait_exit(r->perfused, 0, &st)) {
			if (n < 100)
				r->perfused = 0;
			why_with_stderr(r, why, whysize, "%s did not start", prog);
			return -ECONNREFUSED;
		}
		usleep(100000);
	}
	v = argv_with(argv, mp, mnt);
	errbuf = calloc(1, 8192);
	cwd = getcwd(NULL, 0);
	if (v == NULL || errbuf == NULL || cwd == NULL) {
		free(v);
		free(errbuf);
		free(cwd);
		return -ENOMEM;
	}
	err = perfuse_daemon_mount(r->sock, v, "attach=preload,nokernel", cwd, environ,
	    r->target, sizeof(r->target), errbuf, 8192);
	free(v);
	free(cwd);
	if (err != 0) {
		for (char *p = errbuf; *p; p++)
			if (*p == '\n')
				*p = '|';
		snprintf(why, whysize, "perfused could not start it: %s",
		    errbuf[0] ? errbuf : strerror(-err));
		free(errbuf);
		r->target[0] = '\0';
		return err;
	}
	free(errbuf);
	lib_msg[0] = '\0';
	err = perfuse_connect(r->sock, r->target, c);
	if (err != 0) {
		why_with_stderr(r, why, whysize, "connecting to perfused: %s",
		    lib_msg[0] ? lib_msg : strerror(-err));
		return err;
	}
	return 0;
}

int
fsrun_start(char *const argv[], enum fsrun_attach attach, unsigned minor,
    struct fsrun **out, perfuse_conn **c, char *why, size_t whysize)
{
	struct fsrun *r = calloc(1, sizeof(*r));
	int mp = fsrun_mountpoint(argv), err;

	*out = NULL;
	*c = NULL;
	why[0] = '\0';
	if (r == NULL)
		return -ENOMEM;
	if (mp < 0) {
		snprintf(why, whysize, "%s: no mountpoint argument", argv[0]);
		free(r);
		return -EINVAL;
	}
	perfuse_set_log(capture_log, NULL);
	r->logfd = -1;
	if (attach == FSRUN_AUTO)
		attach = pf_links_libfuse3(argv[0], getenv("PATH")) ? FSRUN_FD : FSRUN_PRELOAD;
	r->attach = attach;
	if (attach == FSRUN_FD)
		err = start_fd(r, argv, mp, minor, c, why, whysize);
	else
		err = start_preload(r, argv, mp, c, why, whysize);
	if (err != 0) {
		char ignored[64];

		*c = NULL;
		fsrun_stop(r, NULL, ignored, sizeof(ignored));
		return err;
	}
	*out = r;
	return 0;
}

/* Stop a process group we started: SIGTERM, then SIGKILL. */
static int
end_group(pid_t pid, int *st)
{
	if (wait_exit(pid, EXIT_WAIT * 1000, st))
		return 1;
	kill(-pid, SIGTERM);
	if (wait_exit(pid, 5000, st))
		return 0;
	kill(-pid, SIGKILL);
	wait_exit(pid, 5000, st);
	return 0;
}

int
fsrun_stop(struct fsrun *r, perfuse_conn *c, char *why, size_t whysize)
{
	int rc = 0, st = 0;

	why[0] = '\0';
	if (r == NULL)
		return 0;
	if (c != NULL) {
		/* DESTROY waits for its reply; not for ever. */
		struct timeval tv = { EXIT_WAIT, 0 };

		setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		perfuse_disconnect(c);
	}
	if (r->attach == FSRUN_FD && r->pid > 0) {
		char how[128];

		if (!end_group(r->pid, &st)) {
			why_with_stderr(r, why, whysize, "still running %d s after DESTROY; "
			    "killed", EXIT_WAIT);
			rc = -ETIMEDOUT;
		} else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			describe_status(st, how, sizeof(how));
			why_with_stderr(r, why, whysize, "the filesystem %s (a clean exit "
			    "after DESTROY was expected)", how);
			rc = -EIO;
		}
	}
	if (r->attach == FSRUN_PRELOAD) {
		if (r->target[0] != '\0') {
			int e = perfuse_daemon_umount(r->sock, r->target);

			if (e != 0) {
				snprintf(why, whysize, "umount through perfused: %s",
				    strerror(-e));
				rc = e;
			}
		}
		if (r->perfused > 0) {
			kill(r->perfused, SIGTERM);
			if (!wait_exit(r->perfused, EXIT_WAIT * 1000, &st)) {
				kill(r->perfused, SIGKILL);
				wait_exit(r->perfused, 5000, &st);
			}
		}
		rm_tmpdir(r);
	}
	if (r->logfd >= 0)
		close(r->logfd);
	free(r->tmpdir);
	free(r);
	return rc;
}

/* ------------------------------------------------------------------ */
/* The battery: state, reporting                                         */

enum { R_PASS, R_FAIL, R_SKIP };

#define OPBITS 128  /* opcodes tracked in the ENOSYS and success sets */
#define MAX_LIST 100000  /* entries of one listing before we call it a loop */
#define SMALL_BUF 320    /* READDIR size: one entry of a 255-byte name fits */
#define LIST_BUF 65536   /* READDIR size of listings that are not the test */

struct intr_reply {
	uint64_t unique;
	int32_t error;
	int bad;            /* malformed */
	const char *why;
};

struct ck {
	perfuse_conn *c;
	struct fsrun *run;
	unsigned minor;
	int timeout_ms;
	int json;
	int via_daemon;
	int npass, nfail, nskip;
	uint32_t max_read;

	char *rbuf;          /* receive buffer */
	size_t rcap;
	const char *rp;      /* payload of the last reply */
	size_t rlen;
	uint64_t req_off;    /* READDIR: the offset asked for */
	char why[256];       /* why the last call failed locally */

	char bad[2048];      /* replies that broke the protocol */
	int nbad;
	uint8_t enosys[OPBITS], okops[OPBITS];
	char enosys_late[256];  /* ENOSYS after a success */
	off_t log_seen;         /* preload: perfused's log read up to here */
	char daemon_why[200];   /* preload: the last reply perfused rejected */

	struct intr_reply intr[8];  /* replies with odd uniques (INTERRUPT) */
	int nintr;
	int strays;

	int no_open, no_opendir, no_create;

	int ro;                 /* write checks are skipped */
	char ro_why[200];
	uint64_t scratch;       /* nodeid of the scratch directory */
	char scratch_name[64];

	/* What a read-only filesystem offers (found by a scan). */
	uint64_t file;          /* a regular file with data */
	char file_name[256];
	uint64_t file_parent;
	uint64_t file_size;
	uint64_t bigdir;        /* the directory with the most entries */
	char bigdir_name[300];
	int bigdir_n;
};

static void
report(struct ck *k, int res, const char *name, const char *fmt, ...)
{
	static const char *const words[] = { "PASS", "FAIL", "SKIP" };
	char detail[1024] = "";
	va_list ap;

	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(detail, sizeof(detail), fmt, ap);
		va_end(ap);
	}
	if (res == R_PASS)
		k->npass++;
	else if (res == R_FAIL)
		k->nfail++;
	else
		k->nskip++;
	if (k->json) {
		int first = 1;

		fputc('{', stdout);
		json_key(stdout, &first, "check");
		json_string(stdout, name);
		json_key(stdout, &first, "result");
		json_string(stdout, words[res]);
		json_key(stdout, &first, "detail");
		json_string(stdout, detail);
		fputs("}\n", stdout);
	} else if (detail[0] != '\0') {
		printf("%s %s: %s\n", words[res], name, detail);
	} else {
		printf("%s %s\n", words[res], name);
	}
	fflush(stdout);
}

static const char *
ename(int err)
{
	static char buf[4][32];
	static int i;
	const char *n;

	if (err == 0)
		return "success";
	if (err < 0)
		err = -err;
	n = strerrorname_np(err);
	if (n != NULL)
		return n;
	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "error %d", err);
	return buf[i];
}

static void note_bad(struct ck *k, uint32_t op, const char *why);

/*
 * attach=preload: perfused checks replies and turns a bad one into EIO,
 * with a warning in its log ("bad reply to OP: why", at most one every
 * 10 s).  Collect the new ones into the list of bad replies; the last one
 * goes to k->daemon_why.  Returns how many were new.
 */
static int
daemon_scan(struct ck *k)
{
	static const char key[] = "bad reply to ";
	char path[PATH_MAX], *buf, *line, *save = NULL;
	struct stat st;
	ssize_t n;
	int fd, found = 0;

	k->daemon_why[0] = '\0';
	if (k->run == NULL || k->run->attach != FSRUN_PRELOAD)
		return 0;
	snprintf(path, sizeof(path), "%s/perfused.log", k->run->tmpdir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size <= k->log_seen ||
	    (buf = malloc((size_t)(st.st_size - k->log_seen) + 1)) == NULL) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	n = pread(fd, buf, (size_t)(st.st_size - k->log_seen), k->log_seen);
	close(fd);
	if (n <= 0) {
		free(buf);
		return 0;
	}
	buf[n] = '\0';
	k->log_seen += n;
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		char *p = strstr(line, key), *colon;
		uint32_t op;

		if (p == NULL)
			continue;
		p += sizeof(key) - 1;
		colon = strstr(p, ": ");
		if (colon == NULL)
			continue;
		*colon = '\0';
		for (op = 1; op <= PF_OP_MAX; op++)
			if (strcmp(pf_op_name(op), p) == 0)
				break;
		snprintf(k->daemon_why, sizeof(k->daemon_why), "perfused rejected the "
		    "reply to %s: %s", p, colon + 2);
		note_bad(k, op, colon + 2);
		found++;
	}
	free(buf);
	return found;
}

/* What a failed call says: the errno name, or the local reason. */
static const char *
what(struct ck *k, int err)
{
	static char buf[300];

	if (err == -EIO && k->why[0] == '\0' && daemon_scan(k) > 0)
		snprintf(k->why, sizeof(k->why), "%s", k->daemon_why);
	if (err == -EIO && k->why[0] != '\0') {
		snprintf(buf, sizeof(buf), "EIO (%s)", k->why);
		return buf;
	}
	if ((err == -ETIMEDOUT || err == -ENOTCONN) && k->why[0] != '\0')
		return k->why;
	return ename(err);
}

static void
note_bad(struct ck *k, uint32_t op, const char *why)
{
	size_t l = strlen(k->bad);
	char item[200];

	snprintf(k->why, sizeof(k->why), "bad reply to %s: %s", pf_op_name(op), why);
	snprintf(item, sizeof(item), "%s%s: %s", k->nbad ? "; " : "", pf_op_name(op), why);
	k->nbad++;
	if (strstr(k->bad, item + (k->nbad > 1 ? 2 : 0)) == NULL &&
	    l + strlen(item) + 1 < sizeof(k->bad))
		strcat(k->bad, item);
}

/* ------------------------------------------------------------------ */
/* Requests                                                              */

struct offset_check {
	uint64_t asked;
	int stuck;
};

static int
offset_cb(const struct pf_dirent_view *v, void *arg)
{
	struct offset_check *x = arg;

	if (v->off == x->asked)
		x->stuck = 1;
	return 0;
}

/* What the size table cannot see, as perfused checks it. */
static const char *
payload_problem(struct ck *k, uint32_t op, const char *pl, size_t len)
{
	const struct pf_opinfo *info = pf_op(op);
	struct fuse_entry_out e;
	struct fuse_attr_out a;
	const char *why = NULL;

	if (info->flags & PF_OPF_LOOKUP) {
		memset(&e, 0, sizeof(e));
		memcpy(&e, pl, len < sizeof(e) ? len : sizeof(e));
		if (e.nodeid == 0 && op != FUSE_LOOKUP)
			return "a new entry with nodeid 0";
		if (e.nodeid != 0 && !pf_mode_valid(e.attr.mode))
			return "an entry with an impossible file mode";
		if (e.nodeid == PF_ROOT_ID && e.generation != 0)
			return "the root's generation changed";
	}
	if (op == FUSE_GETATTR || op == FUSE_SETATTR) {
		memset(&a, 0, sizeof(a));
		memcpy(&a, pl, len < sizeof(a) ? len : sizeof(a));
		if (!pf_mode_valid(a.attr.mode))
			return "attributes with an impossible file mode";
	}
	if (op == FUSE_READDIR || op == FUSE_READDIRPLUS) {
		struct offset_check x = { k->req_off, 0 };

		if (pf_walk_dirents(pl, len, op == FUSE_READDIRPLUS, k->minor, offset_cb,
		    &x, &why) < 0)
			return why ? why : "malformed directory entries";
		if (x.stuck)
			return "a directory entry whose offset does not move on";
	}
	return NULL;
}

/* A reply with an odd unique: an answer to one of our INTERRUPTs. */
static void
keep_intr(struct ck *k, const struct fuse_out_header *oh, size_t len)
{
	struct intr_reply *ir;
	const char *why = NULL;

	if (k->nintr >= (int)(sizeof(k->intr) / sizeof(k->intr[0])))
		return;
	ir = &k->intr[k->nintr++];
	ir->unique = oh->unique;
	ir->error = oh->error;
	ir->bad = pf_check_reply(FUSE_INTERRUPT, k->minor, oh->error, len, 0, &why) != 0;
	ir->why = why;
}

/*
 * Wait for the reply to unique (a request of opcode op whose reply may
 * carry limit bytes of data) and check it.  Returns the server's error or
 * 0, or -ETIMEDOUT, -ENOTCONN, -EIO with k->why.
 */
static int
wait_reply(struct ck *k, uint32_t op, uint64_t unique, size_t limit, int timeout_ms)
{
	long end = mono_ms() + timeout_ms;
	struct fuse_out_header oh;
	const char *why;

	for (;;) {
		long left = end - mono_ms();
		ssize_t n = pf_raw_recv(k->c, k->rbuf, k->rcap, left > 0 ? (int)left : 0);
		size_t len;

		if (n == -ETIMEDOUT) {
			snprintf(k->why, sizeof(k->why), "no reply to %s within %d s",
			    pf_op_name(op), timeout_ms / 1000);
			return -ETIMEDOUT;
		}
		if (n < 0) {
			snprintf(k->why, sizeof(k->why), "%s: %s", pf_op_name(op),
			    n == -ENOTCONN ? "the filesystem closed its connection" :
			    strerror((int)-n));
			return n == -ENOTCONN ? -ENOTCONN : (int)n;
		}
		if ((size_t)n < sizeof(oh)) {
			note_bad(k, op, "a message shorter than a reply header");
			continue;
		}
		memcpy(&oh, k->rbuf, sizeof(oh));
		if (oh.unique == 0)
			continue;  /* a notification */
		len = (size_t)n - sizeof(oh);
		if (oh.unique != unique) {
			if (oh.unique & 1)
				keep_intr(k, &oh, len);
			else
				k->strays++;
			continue;
		}
		if ((size_t)n > k->rcap) {
			note_bad(k, op, "a reply larger than any request allows");
			return -EIO;
		}
		if (oh.len != (size_t)n) {
			note_bad(k, op, "reply length field does not match the message");
			return -EIO;
		}
		if (pf_check_reply(op, k->minor, oh.error, len, limit, &why) != 0) {
			note_bad(k, op, why);
			return -EIO;
		}
		if (oh.error == 0 && (why = payload_problem(k, op, k->rbuf + sizeof(oh),
		    len)) != NULL) {
			note_bad(k, op, why);
			return -EIO;
		}
		k->rp = k->rbuf + sizeof(oh);
		k->rlen = len;
		if (op < OPBITS) {
			if (oh.error == -ENOSYS) {
				if (k->okops[op] && !strstr(k->enosys_late, pf_op_name(op)) &&
				    strlen(k->enosys_late) + 20 < sizeof(k->enosys_late)) {
					strcat(k->enosys_late, " ");
					strcat(k->enosys_late, pf_op_name(op));
				}
				k->enosys[op] = 1;
			} else {
				k->okops[op] = 1;
			}
		}
		return oh.error;
	}
}

static void
fill_header(struct fuse_in_header *h, uint32_t op, uint64_t nodeid, uint64_t unique)
{
	memset(h, 0, sizeof(*h));
	h->opcode = op;
	h->nodeid = nodeid;
	h->unique = unique;
	h->uid = geteuid();
	h->gid = getegid();
	h->pid = (uint32_t)getpid();
}

/*
 * Send a request: the fixed struct fixed (cut to its size at the session's
 * minor), then up to two names or a data block.
 */
static int
xsend(struct ck *k, uint32_t op, uint64_t nodeid, const void *fixed,
    const void *t1, size_t l1, const void *t2, size_t l2, uint64_t *uniquep)
{
	struct fuse_in_header h;
	struct iovec iov[3];
	size_t flen = pf_req_fixed(op, k->minor);
	int n = 0, err;

	k->why[0] = '\0';
	fill_header(&h, op, nodeid, pf_raw_unique(k->c));
	iov[n].iov_base = (void *)(uintptr_t)fixed;
	iov[n++].iov_len = fixed ? flen : 0;
	if (t1 != NULL) {
		iov[n].iov_base = (void *)(uintptr_t)t1;
		iov[n++].iov_len = l1;
	}
	if (t2 != NULL) {
		iov[n].iov_base = (void *)(uintptr_t)t2;
		iov[n++].iov_len = l2;
	}
	err = pf_raw_send(k->c, &h, iov, n);
	if (err != 0) {
		snprintf(k->why, sizeof(k->why), "sending %s: %s", pf_op_name(op),
		    err == -ENOTCONN ? "the filesystem closed its connection" :
		    strerror(-err));
		return err;
	}
	*uniquep = h.unique;
	return 0;
}

static int
xcall(struct ck *k, uint32_t op, uint64_t nodeid, const void *fixed,
    const void *t1, size_t l1, const void *t2, size_t l2)
{
	size_t flen = pf_req_fixed(op, k->minor);
	size_t limit = pf_reply_limit(op, k->minor, fixed, fixed ? flen : 0);
	uint64_t u;
	int err = xsend(k, op, nodeid, fixed, t1, l1, t2, l2, &u);

	if (err != 0)
		return err;
	return wait_reply(k, op, u, limit, k->timeout_ms);
}

/* A name as a request tail: its bytes and the NUL. */
#define NAME(s) (s), strlen(s) + 1

static void
noreply(struct ck *k, uint32_t op, uint64_t nodeid, const void *body, size_t len)
{
	struct fuse_in_header h;
	struct iovec iov = { (void *)(uintptr_t)body, len };

	fill_header(&h, op, nodeid, pf_raw_unique(k->c));
	pf_raw_send(k->c, &h, &iov, 1);
}

static void
forget(struct ck *k, uint64_t nodeid, uint64_t n)
{
	struct fuse_forget_in f = { n };

	if (nodeid != PF_ROOT_ID && nodeid != 0 && n > 0)
		noreply(k, FUSE_FORGET, nodeid, &f, sizeof(f));
}

/* Keep a reference the server handed out: forgotten at the end. */
static void
keep(struct ck *k, const struct fuse_entry_out *e)
{
	if (e->nodeid != 0 && e->nodeid != PF_ROOT_ID)
		pf_node_got(k->c, e->nodeid, e->generation);
}

static void
copy_entry(struct ck *k, struct fuse_entry_out *e)
{
	memset(e, 0, sizeof(*e));
	memcpy(e, k->rp, k->rlen < sizeof(*e) ? k->rlen : sizeof(*e));
}

/* LOOKUP; a negative entry (nodeid 0) is -ENOENT.  ref: keep the reference. */
static int
do_lookup(struct ck *k, uint64_t parent, const char *name, struct fuse_entry_out *e,
    int ref)
{
	struct fuse_entry_out tmp;
	int err = xcall(k, FUSE_LOOKUP, parent, NULL, NAME(name), NULL, 0);

	if (e == NULL)
		e = &tmp;
	memset(e, 0, sizeof(*e));
	if (err != 0)
		return err;
	copy_entry(k, e);
	if (e->nodeid == 0)
		return -ENOENT;
	if (ref)
		keep(k, e);
	else if (e == &tmp)
		forget(k, e->nodeid, 1);
	return 0;
}

static int
do_getattr(struct ck *k, uint64_t node, struct fuse_attr *a)
{
	struct fuse_getattr_in in;
	struct fuse_attr_out out;
	int err;

	memset(&in, 0, sizeof(in));
	err = xcall(k, FUSE_GETATTR, node, k->minor >= 9 ? &in : NULL, NULL, 0, NULL, 0);
	if (err == 0 && a != NULL) {
		memset(&out, 0, sizeof(out));
		memcpy(&out, k->rp, k->rlen < sizeof(out) ? k->rlen : sizeof(out));
		*a = out.attr;
	}
	return err;
}

static int
do_mkdir(struct ck *k, uint64_t parent, const char *name, uint32_t mode,
    struct fuse_entry_out *e)
{
	struct fuse_mkdir_in in = { mode, 022 };
	struct fuse_entry_out tmp;
	int err = xcall(k, FUSE_MKDIR, parent, &in, NAME(name), NULL, 0);

	if (e == NULL)
		e = &tmp;
	memset(e, 0, sizeof(*e));
	if (err == 0) {
		copy_entry(k, e);
		keep(k, e);
	}
	return err;
}

static int
do_open(struct ck *k, uint64_t node, int flags, int dir, uint64_t *fh)
{
	struct fuse_open_in in;
	struct fuse_open_out out;
	int err;

	*fh = 0;
	if (dir ? k->no_opendir : k->no_open)
		return 0;
	memset(&in, 0, sizeof(in));
	in.flags = (uint32_t)flags;
	err = xcall(k, dir ? FUSE_OPENDIR : FUSE_OPEN, node, &in, NULL, 0, NULL, 0);
	if (err == -ENOSYS) {
		/* The kernel's rule: no OPEN means handle 0 and no RELEASE. */
		if (dir)
			k->no_opendir = 1;
		else
			k->no_open = 1;
		return 0;
	}
	if (err == 0) {
		memset(&out, 0, sizeof(out));
		memcpy(&out, k->rp, k->rlen < sizeof(out) ? k->rlen : sizeof(out));
		*fh = out.fh;
	}
	return err;
}

static int
do_release(struct ck *k, uint64_t node, uint64_t fh, int dir)
{
	struct fuse_release_in in;

	if (dir ? k->no_opendir : k->no_open)
		return 0;
	memset(&in, 0, sizeof(in));
	in.fh = fh;
	return xcall(k, dir ? FUSE_RELEASEDIR : FUSE_RELEASE, node, &in, NULL, 0, NULL, 0);
}

/* CREATE, or MKNOD then OPEN when the server has no CREATE. */
static int
do_create(struct ck *k, uint64_t parent, const char *name, int flags, uint32_t mode,
    struct fuse_entry_out *e, uint64_t *fh)
{
	struct fuse_entry_out tmp;
	int err;

	if (e == NULL)
		e = &tmp;
	memset(e, 0, sizeof(*e));
	*fh = 0;
	if (!k->no_create) {
		struct fuse_create_in in;
		struct fuse_open_out o;

		memset(&in, 0, sizeof(in));
		in.flags = (uint32_t)flags;
		in.mode = S_IFREG | mode;
		in.umask = 022;
		err = xcall(k, FUSE_CREATE, parent, &in, NAME(name), NULL, 0);
		if (err == 0) {
			copy_entry(k, e);
			keep(k, e);
			memset(&o, 0, sizeof(o));
			if (k->rlen >= pf_entry_out_size(k->minor) + sizeof(o))
				memcpy(&o, k->rp + pf_entry_out_size(k->minor), sizeof(o));
			*fh = o.fh;
			return 0;
		}
		if (err != -ENOSYS)
			return err;
		k->no_create = 1;
	}
	{
		struct fuse_mknod_in in;

		memset(&in, 0, sizeof(in));
		in.mode = S_IFREG | mode;
		in.umask = 022;
		err = xcall(k, FUSE_MKNOD, parent, &in, NAME(name), NULL, 0);
		if (err != 0)
			return err;
		copy_entry(k, e);
		keep(k, e);
	}
	return do_open(k, e->nodeid, flags & ~(O_CREAT | O_EXCL | O_TRUNC), 0, fh);
}

static int
do_write(struct ck *k, uint64_t node, uint64_t fh, uint64_t off, const void *data,
    uint32_t len)
{
	struct fuse_write_in in;
	struct fuse_write_out out;
	int err;

	memset(&in, 0, sizeof(in));
	in.fh = fh;
	in.offset = off;
	in.size = len;
	err = xcall(k, FUSE_WRITE, node, &in, data, len, NULL, 0);
	if (err != 0)
		return err;
	memset(&out, 0, sizeof(out));
	memcpy(&out, k->rp, k->rlen < sizeof(out) ? k->rlen : sizeof(out));
	if (out.size != len) {
		snprintf(k->why, sizeof(k->why), "WRITE of %u bytes wrote %u", len, out.size);
		return -EIO;
	}
	return 0;
}

/* READ; the data is at k->rp.  Returns the byte count or -errno. */
static ssize_t
do_read(struct ck *k, uint64_t node, uint64_t fh, uint64_t off, uint32_t size)
{
	struct fuse_read_in in;
	int err;

	memset(&in, 0, sizeof(in));
	in.fh = fh;
	in.offset = off;
	in.size = size;
	err = xcall(k, FUSE_READ, node, &in, NULL, 0, NULL, 0);
	return err != 0 ? err : (ssize_t)k->rlen;
}

static int
do_setsize(struct ck *k, uint64_t node, uint64_t size, struct fuse_attr *a)
{
	struct fuse_setattr_in in;
	struct fuse_attr_out out;
	int err;

	memset(&in, 0, sizeof(in));
	in.valid = FATTR_SIZE;
	in.size = size;
	err = xcall(k, FUSE_SETATTR, node, &in, NULL, 0, NULL, 0);
	if (err == 0 && a != NULL) {
		memset(&out, 0, sizeof(out));
		memcpy(&out, k->rp, k->rlen < sizeof(out) ? k->rlen : sizeof(out));
		*a = out.attr;
	}
	return err;
}

static int
do_unlink(struct ck *k, uint64_t parent, const char *name)
{
	return xcall(k, FUSE_UNLINK, parent, NULL, NAME(name), NULL, 0);
}

static int
do_rmdir(struct ck *k, uint64_t parent, const char *name)
{
	return xcall(k, FUSE_RMDIR, parent, NULL, NAME(name), NULL, 0);
}

static int
do_rename(struct ck *k, uint64_t olddir, const char *oldname, uint64_t newdir,
    const char *newname, uint32_t flags)
{
	if (flags == 0) {
		struct fuse_rename_in in = { newdir };

		return xcall(k, FUSE_RENAME, olddir, &in, NAME(oldname), NAME(newname));
	} else {
		struct fuse_rename2_in in = { newdir, flags, 0 };

		return xcall(k, FUSE_RENAME2, olddir, &in, NAME(oldname), NAME(newname));
	}
}

/* A file made with content: CREATE (or MKNOD, OPEN), WRITE, RELEASE. */
static int
make_file(struct ck *k, uint64_t parent, const char *name, const void *data,
    uint32_t len, uint64_t *nodeid)
{
	struct fuse_entry_out e;
	uint64_t fh;
	int err = do_create(k, parent, name, O_RDWR | O_CREAT | O_EXCL, 0644, &e, &fh);

	if (err != 0)
		return err;
	if (len > 0)
		err = do_write(k, e.nodeid, fh, 0, data, len);
	do_release(k, e.nodeid, fh, 0);
	if (nodeid != NULL)
		*nodeid = e.nodeid;
	return err;
}

/* A directory listing. */
struct dent {
	char *name;
	uint64_t off, ino;
	uint32_t type;
};

struct listing {
	struct dent *v;
	size_t n, cap;
	int plus;
	struct ck *k;
	int bad;
};

static void
listing_free(struct listing *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int
listing_cb(const struct pf_dirent_view *dv, void *arg)
{
	struct listing *l = arg;
	struct dent *d;

	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 64;
		struct dent *nv = realloc(l->v, ncap * sizeof(*nv));

		if (nv == NULL) {
			l->bad = 1;
			return 1;
		}
		l->v = nv;
		l->cap = ncap;
	}
	d = &l->v[l->n];
	d->name = strndup(dv->name, dv->namelen);
	if (d->name == NULL) {
		l->bad = 1;
		return 1;
	}
	d->off = dv->off;
	d->ino = dv->ino;
	d->type = dv->type;
	l->n++;
	if (l->plus && dv->entry != NULL && dv->entry->nodeid != 0 &&
	    strcmp(d->name, ".") != 0 && strcmp(d->name, "..") != 0)
		keep(l->k, dv->entry);
	return 0;
}

/*
 * List the open directory (node, fh) from offset off to its end with
 * READDIR (or READDIRPLUS) requests of bufsize bytes.  Returns 0 or -errno.
 */
static int
list_dir(struct ck *k, uint64_t node, uint64_t fh, uint64_t off, uint32_t bufsize,
    int plus, struct listing *l)
{
	uint32_t op = plus ? FUSE_READDIRPLUS : FUSE_READDIR;
	struct fuse_read_in in;
	const char *why;
	int err, rounds = 0;

	memset(l, 0, sizeof(*l));
	l->plus = plus;
	l->k = k;
	for (;;) {
		size_t before = l->n;

		memset(&in, 0, sizeof(in));
		in.fh = fh;
		in.offset = off;
		in.size = bufsize;
		k->req_off = off;
		err = xcall(k, op, node, &in, NULL, 0, NULL, 0);
		if (err != 0)
			return err;
		if (k->rlen == 0)
			return 0;
		pf_walk_dirents(k->rp, k->rlen, plus, k->minor, listing_cb, l, &why);
		if (l->bad)
			return -ENOMEM;
		if (l->n == before) {
			snprintf(k->why, sizeof(k->why), "%s reply of %zu bytes with no entry",
			    pf_op_name(op), k->rlen);
			return -EIO;
		}
		off = l->v[l->n - 1].off;
		if (l->n > MAX_LIST || ++rounds > MAX_LIST) {
			snprintf(k->why, sizeof(k->why), "%s never ends (%zu entries)",
			    pf_op_name(op), l->n);
			return -ELOOP;
		}
	}
}

/* List a directory by node: OPENDIR, READDIR..., RELEASEDIR. */
static int
list_node(struct ck *k, uint64_t node, uint32_t bufsize, struct listing *l)
{
	uint64_t fh;
	int err = do_open(k, node, O_RDONLY | O_DIRECTORY, 1, &fh);

	memset(l, 0, sizeof(*l));
	if (err != 0)
		return err;
	err = list_dir(k, node, fh, 0, bufsize, 0, l);
	do_release(k, node, fh, 1);
	return err;
}

static int
is_dot(const char *n)
{
	return strcmp(n, ".") == 0 || strcmp(n, "..") == 0;
}

/* Remove name in parent, and everything under it. */
static int
rm_rf(struct ck *k, uint64_t parent, const char *name, int depth)
{
	struct fuse_entry_out e;
	struct listing l;
	int err = do_lookup(k, parent, name, &e, 1);

	if (err != 0)
		return err == -ENOENT ? 0 : err;
	if (!S_ISDIR(e.attr.mode))
		return do_unlink(k, parent, name);
	if (depth > 16)
		return -ELOOP;
	err = list_node(k, e.nodeid, LIST_BUF, &l);
	for (size_t i = 0; err == 0 && i < l.n; i++)
		if (!is_dot(l.v[i].name))
			err = rm_rf(k, e.nodeid, l.v[i].name, depth + 1);
	listing_free(&l);
	return err != 0 ? err : do_rmdir(k, parent, name);
}

/* ------------------------------------------------------------------ */
/* The checks                                                            */

/* A FAIL for a call that went wrong; a SKIP when the server lacks it. */
static void
fail_call(struct ck *k, const char *name, const char *step, int err)
{
	if (err == -ENOSYS)
		report(k, R_SKIP, name, "%s: not implemented (ENOSYS)", step);
	else
		report(k, R_FAIL, name, "%s: %s", step, what(k, err));
}

/* Write checks skip on a read-only filesystem. */
static int
skip_ro(struct ck *k, const char *name)
{
	if (!k->ro)
		return 0;
	report(k, R_SKIP, name, "%s", k->ro_why);
	return 1;
}

/* A subdirectory of the scratch directory for one check. */
static int
scratch_dir(struct ck *k, const char *name, const char *sub, uint64_t *node)
{
	struct fuse_entry_out e;
	int err = do_mkdir(k, k->scratch, sub, 0755, &e);

	if (err != 0) {
		fail_call(k, name, "MKDIR", err);
		return err;
	}
	*node = e.nodeid;
	return 0;
}

/*
 * INIT at one minor, then requests whose replies must fit that minor.
 * Returns R_PASS or R_FAIL with the detail in out.
 */
static int
check_init_minor(struct ck *k, unsigned minor, char *out, size_t size)
{
	struct perfuse_conn_info info;
	struct fuse_attr a;
	struct listing l;
	unsigned want;
	int err, n = 0;

	memset(&l, 0, sizeof(l));
	perfuse_conn_get_info(k->c, &info);
	want = minor < info.server_minor ? minor : info.server_minor;
	if (info.major != 7 || info.minor != want) {
		snprintf(out, size, "agreed 7.%u, expected 7.%u (server announced %u.%u)",
		    info.minor, want, info.major, info.server_minor);
		return R_FAIL;
	}
	err = do_getattr(k, PF_ROOT_ID, &a);
	n++;
	if (err == 0 && !S_ISDIR(a.mode)) {
		snprintf(out, size, "the root is not a directory (mode 0%o)", a.mode);
		return R_FAIL;
	}
	if (err == 0) {
		err = list_node(k, PF_ROOT_ID, 4096, &l);
		n += 3;
	}
	for (size_t i = 0; err == 0 && i < l.n && i < 8; i++) {
		struct fuse_entry_out e;

		if (is_dot(l.v[i].name))
			continue;
		err = do_lookup(k, PF_ROOT_ID, l.v[i].name, &e, 1);
		n++;
		if (err == -ENOENT) {
			err = 0;
			continue;
		}
		if (err == 0) {
			err = do_getattr(k, e.nodeid, NULL);
			n++;
		}
		if (err == 0 && S_ISREG(e.attr.mode)) {
			uint64_t fh;

			err = do_open(k, e.nodeid, O_RDONLY, 0, &fh);
			if (err == 0) {
				ssize_t r = do_read(k, e.nodeid, fh, 0, 4096);

				err = r < 0 ? (int)r : 0;
				do_release(k, e.nodeid, fh, 0);
				n += 3;
			}
			if (err == -EACCES || err == -EPERM)
				err = 0;
		}
	}
	if (err == 0 || err == -ENOSYS) {
		int e2 = xcall(k, FUSE_STATFS, PF_ROOT_ID, NULL, NULL, 0, NULL, 0);

		n++;
		if (e2 != -ENOSYS && e2 != 0)
			err = e2;
	}
	listing_free(&l);
	if (k->nbad > 0) {
		snprintf(out, size, "agreed 7.%u (server 7.%u); replies broke the "
		    "protocol: %.1500s", info.minor, info.server_minor, k->bad);
		return R_FAIL;
	}
	if (err != 0 && err != -ENOSYS) {
		snprintf(out, size, "agreed 7.%u (server 7.%u), then %s", info.minor,
		    info.server_minor, what(k, err));
		return R_FAIL;
	}
	snprintf(out, size, "agreed 7.%u (server 7.%u); %d replies valid at 7.%u",
	    info.minor, info.server_minor, n, info.minor);
	return R_PASS;
}

static void
check_root(struct ck *k)
{
	struct fuse_attr a;
	int err = do_getattr(k, PF_ROOT_ID, &a);

	if (err != 0)
		report(k, R_FAIL, "root-getattr", "GETATTR of the root: %s", what(k, err));
	else if (!S_ISDIR(a.mode))
		report(k, R_FAIL, "root-getattr", "the root is not a directory (mode 0%o)",
		    a.mode);
	else
		report(k, R_PASS, "root-getattr", "directory, mode 0%o, nlink %u",
		    a.mode & 07777, a.nlink);
}

/*
 * What a read-only filesystem has to test with: a regular file with data
 * and the directory with the most entries, among the root and its
 * subdirectories.
 */
static void
scan_tree(struct ck *k)
{
	struct listing root, sub;
	size_t i, j, lookups = 0;

	if (list_node(k, PF_ROOT_ID, LIST_BUF, &root) != 0) {
		listing_free(&root);
		return;
	}
	k->bigdir = PF_ROOT_ID;
	k->bigdir_n = (int)root.n;
	snprintf(k->bigdir_name, sizeof(k->bigdir_name), "/");
	for (i = 0; i < root.n && lookups < 400; i++) {
		struct fuse_entry_out e;

		if (is_dot(root.v[i].name))
			continue;
		lookups++;
		if (do_lookup(k, PF_ROOT_ID, root.v[i].name, &e, 1) != 0)
			continue;
		if (S_ISREG(e.attr.mode) && e.attr.size > 0 && k->file == 0) {
			k->file = e.nodeid;
			k->file_parent = PF_ROOT_ID;
			k->file_size = e.attr.size;
			snprintf(k->file_name, sizeof(k->file_name), "%s", root.v[i].name);
		}
		if (!S_ISDIR(e.attr.mode))
			continue;
		if (list_node(k, e.nodeid, LIST_BUF, &sub) != 0) {
			listing_free(&sub);
			continue;
		}
		if ((int)sub.n > k->bigdir_n) {
			k->bigdir = e.nodeid;
			k->bigdir_n = (int)sub.n;
			snprintf(k->bigdir_name, sizeof(k->bigdir_name), "/%s", root.v[i].name);
		}
		for (j = 0; j < sub.n && k->file == 0 && lookups < 400; j++) {
			struct fuse_entry_out f;

			if (is_dot(sub.v[j].name))
				continue;
			lookups++;
			if (do_lookup(k, e.nodeid, sub.v[j].name, &f, 1) != 0)
				continue;
			if (S_ISREG(f.attr.mode) && f.attr.size > 0) {
				k->file = f.nodeid;
				k->file_parent = e.nodeid;
				k->file_size = f.attr.size;
				snprintf(k->file_name, sizeof(k->file_name), "%s",
				    sub.v[j].name);
			}
		}
		listing_free(&sub);
	}
	listing_free(&root);
}

/* The scratch directory, or the read-only verdict. */
static void
setup_scratch(struct ck *k)
{
	static const char body[] = "perfuse check: a file with some data in it\n";
	struct fuse_entry_out e;
	char name[300];
	int err, i;

	snprintf(k->scratch_name, sizeof(k->scratch_name), "perfuse-check.%ld",
	    (long)getpid());
	err = do_mkdir(k, PF_ROOT_ID, k->scratch_name, 0755, &e);
	if (err == -EEXIST) {
		rm_rf(k, PF_ROOT_ID, k->scratch_name, 0);
		err = do_mkdir(k, PF_ROOT_ID, k->scratch_name, 0755, &e);
	}
	if (err != 0) {
		k->ro = 1;
		if (err == -EROFS || err == -ENOSYS)
			snprintf(k->ro_why, sizeof(k->ro_why), "read-only: MKDIR answered %s",
			    ename(err));
		else
			snprintf(k->ro_why, sizeof(k->ro_why), "cannot write: MKDIR in the "
			    "root answered %s", what(k, err));
		report(k, err == -EROFS || err == -ENOSYS || err == -EACCES ||
		    err == -EPERM ? R_SKIP : R_FAIL, "scratch-dir", "%s; write checks "
		    "skipped", k->ro_why);
		scan_tree(k);
		return;
	}
	k->scratch = e.nodeid;
	/* A file with data and a directory of 60 entries of varied names. */
	err = make_file(k, k->scratch, "file", body, sizeof(body) - 1, &k->file);
	if (err == -EROFS) {
		k->ro = 1;
		snprintf(k->ro_why, sizeof(k->ro_why), "read-only: CREATE answered EROFS");
	}
	if (err != 0) {
		report(k, R_FAIL, "scratch-dir", "/%s/file: %s", k->scratch_name,
		    what(k, err));
		scan_tree(k);
		return;
	}
	k->file_parent = k->scratch;
	k->file_size = sizeof(body) - 1;
	snprintf(k->file_name, sizeof(k->file_name), "file");
	err = do_mkdir(k, k->scratch, "many", 0755, &e);
	for (i = 0; err == 0 && i < 60; i++) {
		snprintf(name, sizeof(name), "entry-%02d-%.*s", i, i * 3,
		    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopq"
		    "rstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefgh"
		    "ijklmnopqrstuvwxyz");
		err = make_file(k, e.nodeid, name, NULL, 0, NULL);
	}
	if (err != 0) {
		report(k, R_FAIL, "scratch-dir", "/%s/many: %s", k->scratch_name,
		    what(k, err));
		return;
	}
	k->bigdir = e.nodeid;
	k->bigdir_n = 60;
	snprintf(k->bigdir_name, sizeof(k->bigdir_name), "/%s/many", k->scratch_name);
	report(k, R_PASS, "scratch-dir", "/%s with a file and 60 entries in many/",
	    k->scratch_name);
}

/* Lookup counts and FORGET: the same name N times, forgotten in parts. */
static void
check_forget(struct ck *k)
{
	enum { N = 12 };
	struct fuse_entry_out e;
	uint64_t id = 0;
	int i, err;
	struct {
		struct fuse_batch_forget_in b;
		struct fuse_forget_one one[4];
	} batch;

	if (k->file == 0) {
		report(k, R_SKIP, "lookup-repeat", "no regular file found to look up");
		report(k, R_SKIP, "forget-batch", "no regular file found to look up");
		report(k, R_SKIP, "forget-single", "no regular file found to look up");
		report(k, R_SKIP, "forget-relookup", "no regular file found to look up");
		return;
	}
	for (i = 0; i < N; i++) {
		err = do_lookup(k, k->file_parent, k->file_name, &e, 0);
		if (err != 0) {
			report(k, R_FAIL, "lookup-repeat", "LOOKUP %d of '%s': %s", i + 1,
			    k->file_name, what(k, err));
			if (id != 0)
				forget(k, id, (uint64_t)i);
			return;
		}
		if (i > 0 && e.nodeid != id) {
			report(k, R_FAIL, "lookup-repeat", "LOOKUP %d of '%s' gave node %llu, "
			    "the first gave %llu while still referenced", i + 1, k->file_name,
			    (unsigned long long)e.nodeid, (unsigned long long)id);
			forget(k, id, (uint64_t)i);
			forget(k, e.nodeid, 1);
			return;
		}
		id = e.nodeid;
	}
	report(k, R_PASS, "lookup-repeat", "%d LOOKUPs of '%s' gave node %llu each time",
	    N, k->file_name, (unsigned long long)id);

	/* Four records for the same node in one BATCH_FORGET: 4 references. */
	if (k->minor >= 16) {
		memset(&batch, 0, sizeof(batch));
		batch.b.count = 4;
		for (i = 0; i < 4; i++) {
			batch.one[i].nodeid = id;
			batch.one[i].nlookup = 1;
		}
		noreply(k, FUSE_BATCH_FORGET, 0, &batch, sizeof(batch));
		err = do_getattr(k, id, NULL);
		if (err != 0)
			report(k, R_FAIL, "forget-batch", "GETATTR of node %llu after a "
			    "BATCH_FORGET of 4 of its %d references: %s",
			    (unsigned long long)id, N, what(k, err));
		else
			report(k, R_PASS, "forget-batch", "node still usable after a "
			    "BATCH_FORGET of 4 of its %d references", N);
	} else {
		forget(k, id, 4);
		report(k, R_SKIP, "forget-batch", "no BATCH_FORGET before 7.16");
	}
	/* Single FORGETs of one reference, then of three at once. */
	for (i = 0; i < 4; i++)
		forget(k, id, 1);
	forget(k, id, 3);
	err = do_getattr(k, id, NULL);
	if (err != 0) {
		report(k, R_FAIL, "forget-single", "GETATTR of node %llu with 1 reference "
		    "left, after 4 FORGETs of 1 and one of 3: %s",
		    (unsigned long long)id, what(k, err));
	} else {
		report(k, R_PASS, "forget-single", "node still usable with 1 reference "
		    "left after 4 FORGETs of 1 and one of 3");
	}
	/*
	 * The last of these, and the one the battery holds since it found the
	 * file: the server may drop the node now; a new lookup must work.
	 */
	forget(k, id, 1);
	pf_node_put(k->c, id, 1);
	pf_forget_flush(k->c);
	err = do_getattr(k, PF_ROOT_ID, NULL);
	if (err == 0)
		err = do_lookup(k, k->file_parent, k->file_name, &e, 1);
	if (err == 0)
		err = do_getattr(k, e.nodeid, NULL);
	if (err != 0) {
		report(k, R_FAIL, "forget-relookup", "after every reference was "
		    "forgotten: %s", what(k, err));
		k->file = 0;
		return;
	}
	k->file = e.nodeid;
	report(k, R_PASS, "forget-relookup", "after every reference was forgotten, "
		    "LOOKUP gave node %llu%s", (unsigned long long)e.nodeid,
		    e.nodeid == id ? " (the same)" : "");
}

/* Do two listings name the same entries in the same order from i on? */
static int
same_rest(const struct listing *full, size_t from, const struct listing *rest,
    char *why, size_t size)
{
	size_t i;

	for (i = 0; i < rest->n && from + i < full->n; i++) {
		if (strcmp(full->v[from + i].name, rest->v[i].name) != 0) {
			snprintf(why, size, "entry %zu after the offset is '%s', the first "
			    "listing had '%s'", i + 1, rest->v[i].name, full->v[from + i].name);
			return 0;
		}
	}
	if (rest->n != full->n - from) {
		snprintf(why, size, "%zu entries after the offset, the first listing had %zu",
		    rest->n, full->n - from);
		return 0;
	}
	return 1;
}

/* The INIT flags of the session. */
static uint64_t
ck_flags(struct ck *k)
{
	struct perfuse_conn_info info;

	perfuse_conn_get_info(k->c, &info);
	return info.flags;
}

static void
check_readdir(struct ck *k, int plus)
{
	const char *name = plus ? "readdirplus-resume" : "readdir-resume";
	struct listing full, rest;
	char why[600];
	uint64_t fh;
	size_t i, j;
	int err;

	if (k->bigdir == 0) {
		report(k, R_SKIP, name, "no directory to list");
		return;
	}
	if (plus && !(ck_flags(k) & FUSE_DO_READDIRPLUS)) {
		report(k, R_SKIP, name, "the server did not take READDIRPLUS at INIT");
		return;
	}
	err = do_open(k, k->bigdir, O_RDONLY | O_DIRECTORY, 1, &fh);
	if (err != 0) {
		fail_call(k, name, "OPENDIR", err);
		return;
	}
	err = list_dir(k, k->bigdir, fh, 0, SMALL_BUF, plus, &full);
	if (err != 0) {
		fail_call(k, name, plus ? "READDIRPLUS" : "READDIR", err);
		goto out;
	}
	if (full.n < 3) {
		report(k, R_SKIP, name, "%s, the largest directory found, has %zu entries",
		    k->bigdir_name, full.n);
		goto out;
	}
	for (i = 0; i < full.n; i++) {
		for (j = i + 1; j < full.n; j++) {
			if (strcmp(full.v[i].name, full.v[j].name) == 0) {
				report(k, R_FAIL, name, "%s: '%s' listed twice", k->bigdir_name,
				    full.v[i].name);
				goto out;
			}
		}
	}
	for (i = 0; i < full.n; i++) {
		err = list_dir(k, k->bigdir, fh, full.v[i].off, 4096, plus, &rest);
		if (err != 0) {
			report(k, R_FAIL, name, "%s: resuming at offset %llu (after '%s'): %s",
			    k->bigdir_name, (unsigned long long)full.v[i].off, full.v[i].name,
			    what(k, err));
			listing_free(&rest);
			goto out;
		}
		if (!same_rest(&full, i + 1, &rest, why, sizeof(why))) {
			report(k, R_FAIL, name, "%s: resuming at offset %llu (after '%s'): %s",
			    k->bigdir_name, (unsigned long long)full.v[i].off, full.v[i].name,
			    why);
			listing_free(&rest);
			goto out;
		}
		listing_free(&rest);
	}
	report(k, R_PASS, name, "%s: %zu entries in %d-byte reads; resuming from each "
	    "of their offsets gave the rest", k->bigdir_name, full.n, SMALL_BUF);
out:
	listing_free(&full);
	do_release(k, k->bigdir, fh, 1);
}

static void
check_dots(struct ck *k)
{
	struct listing l;
	char detail[600] = "";
	int fail = 0, err;
	uint64_t dirs[2] = { PF_ROOT_ID, k->bigdir };
	const char *names[2] = { "/", k->bigdir_name };

	for (int d = 0; d < 2; d++) {
		int dot = 0, dotdot = 0;
		size_t len = strlen(detail);

		if (d == 1 && (dirs[1] == 0 || dirs[1] == PF_ROOT_ID))
			break;
		err = list_node(k, dirs[d], LIST_BUF, &l);
		if (err != 0) {
			listing_free(&l);
			fail_call(k, "dot-dotdot", names[d], err);
			return;
		}
		for (size_t i = 0; i < l.n; i++) {
			dot += strcmp(l.v[i].name, ".") == 0;
			dotdot += strcmp(l.v[i].name, "..") == 0;
		}
		listing_free(&l);
		snprintf(detail + len, sizeof(detail) - len, "%s%s: %s", d ? "; " : "",
		    names[d], dot && dotdot ? "'.' and '..' listed" :
		    !dot && !dotdot ? "neither '.' nor '..' listed" :
		    dot ? "only '.' listed" : "only '..' listed");
		if (dot != dotdot || dot > 1 || dotdot > 1)
			fail = 1;
	}
	report(k, fail ? R_FAIL : R_PASS, "dot-dotdot", "%s", detail);
}

/*
 * EROFS from a filesystem that took writes until now: it turned read-only
 * after an earlier check (fuse2fs does on finding its image damaged).
 */
static int
turned_ro(struct ck *k, const char *name, int err)
{
	if (err != -EROFS || k->ro)
		return 0;
	report(k, R_SKIP, name, "the filesystem turned read-only (EROFS) after an "
	    "earlier check");
	return 1;
}

/* One errno check: PASS when err is want (or also2), else FAIL. */
static void
expect_err(struct ck *k, const char *name, const char *what_, int err, int want,
    int also)
{
	if (turned_ro(k, name, err))
		return;
	if (err == want)
		report(k, R_PASS, name, "%s: %s", what_, ename(want));
	else if (also != 0 && err == also)
		report(k, R_PASS, name, "%s: %s (allowed; Linux gives %s)", what_,
		    ename(also), ename(want));
	else if (err == -ENOSYS)
		report(k, R_SKIP, name, "%s: not implemented (ENOSYS)", what_);
	else
		report(k, R_FAIL, name, "%s: %s, expected %s", what_, what(k, err),
		    ename(want));
}

/*
 * An errno the kernel finds out itself before it would ask the server
 * (the VFS checks file types on its side): the right errno passes, another
 * error passes with a note, success fails (the server did what no one may).
 */
static void
expect_err_k(struct ck *k, const char *name, const char *what_, int err, int want)
{
	if (turned_ro(k, name, err))
		return;
	if (err == want)
		report(k, R_PASS, name, "%s: %s", what_, ename(want));
	else if (err == 0)
		report(k, R_FAIL, name, "%s: success, expected %s", what_, ename(want));
	else if (err == -EIO && k->why[0] != '\0')
		report(k, R_FAIL, name, "%s: %s", what_, what(k, err));
	else if (err == -ETIMEDOUT || err == -ENOTCONN)
		report(k, R_FAIL, name, "%s: %s", what_, what(k, err));
	else
		report(k, R_PASS, name, "%s: %s, not %s (the kernel checks this itself "
		    "before asking the server)", what_, ename(err), ename(want));
}

static void
check_errnos(struct ck *k)
{
	char missing[64], n255[256], n256[257];
	struct fuse_entry_out e, full;
	uint64_t d = 0;
	int err;

	snprintf(missing, sizeof(missing), "perfuse-check-missing.%ld", (long)getpid());
	err = do_lookup(k, PF_ROOT_ID, missing, &e, 1);
	expect_err(k, "errno-enoent", "LOOKUP of a missing name", err, -ENOENT, 0);

	if (k->file == 0) {
		report(k, R_SKIP, "errno-enotdir", "no regular file found");
	} else {
		err = do_lookup(k, k->file, "x", &e, 1);
		expect_err_k(k, "errno-enotdir", "LOOKUP under a regular file", err,
		    -ENOTDIR);
	}

	/* Names of 255 and 256 bytes. */
	memset(n255, 'n', 255);
	n255[255] = '\0';
	memset(n256, 'n', 256);
	n256[256] = '\0';
	err = do_lookup(k, PF_ROOT_ID, n255, &e, 1);
	if (err == -ENOENT || err == -ENAMETOOLONG) {
		char made[160] = "";

		if (!k->ro) {
			int e2 = make_file(k, k->scratch, n255, NULL, 0, NULL);

			if (e2 == 0)
				e2 = do_lookup(k, k->scratch, n255, &e, 1);
			if (e2 == 0)
				snprintf(made, sizeof(made), "; a file of that name was created "
				    "and looked up");
			else if (e2 == -ENAMETOOLONG)
				snprintf(made, sizeof(made), "; creating one: ENAMETOOLONG (the "
				    "filesystem's names are shorter)");
			else {
				report(k, R_FAIL, "name-255", "creating a 255-byte name: %s",
				    what(k, e2));
				goto n256;
			}
		}
		report(k, R_PASS, "name-255", "LOOKUP of a missing 255-byte name: %s%s",
		    ename(err), made);
	} else {
		report(k, R_FAIL, "name-255", "LOOKUP of a missing 255-byte name: %s, "
		    "expected ENOENT", what(k, err));
	}
n256:
	err = do_lookup(k, PF_ROOT_ID, n256, &e, 1);
	if (err == -ENAMETOOLONG || err == -ENOENT)
		report(k, R_PASS, "errno-enametoolong", "LOOKUP of a 256-byte name: %s%s",
		    ename(err), err == -ENOENT ? " (the filesystem does not check; the "
		    "kernel stops these before it)" : "");
	else
		report(k, R_FAIL, "errno-enametoolong", "LOOKUP of a 256-byte name: %s",
		    what(k, err));

	if (skip_ro(k, "errno-enotempty"))
		return;
	if (scratch_dir(k, "errno-enotempty", "errno", &d) != 0)
		return;
	err = do_mkdir(k, d, "d-full", 0755, &full);
	if (err == 0)
		err = make_file(k, full.nodeid, "inside", NULL, 0, NULL);
	if (err != 0) {
		fail_call(k, "errno-enotempty", "setting up", err);
		return;
	}
	err = do_rmdir(k, d, "d-full");
	expect_err(k, "errno-enotempty", "RMDIR of a non-empty directory", err,
	    -ENOTEMPTY, -EEXIST);
}

/*
 * What the kernel's VFS never lets reach a server: it checks file types
 * (EISDIR, ENOTDIR) and looks a name up before it creates it (EEXIST).
 * A server that trusts it to may do damage here (fuse2fs unlinks the
 * directory, or makes a second entry of a name), so these run last.
 */
static void
check_shielded(struct ck *k)
{
	struct fuse_entry_out e;
	uint64_t d = 0, fh;
	int err;

	if (skip_ro(k, "errno-eisdir-open") + skip_ro(k, "errno-eexist-create") +
	    skip_ro(k, "errno-eexist-mkdir") + skip_ro(k, "rename-type-mismatch") +
	    skip_ro(k, "errno-eisdir-unlink"))
		return;
	if (scratch_dir(k, "errno-eisdir-open", "shielded", &d) != 0)
		return;
	/* Names of their own for each, so that one failure does not lead to
	 * the next. */
	err = do_mkdir(k, d, "d-open", 0755, &e);
	if (err == 0)
		err = do_mkdir(k, d, "d-unlink", 0755, NULL);
	if (err == 0)
		err = do_mkdir(k, d, "d-exists", 0755, NULL);
	if (err == 0)
		err = make_file(k, d, "f-exists", "x", 1, NULL);
	if (err == 0)
		err = do_mkdir(k, d, "d-rename", 0755, NULL);
	if (err == 0)
		err = make_file(k, d, "f-rename", NULL, 0, NULL);
	if (err != 0) {
		fail_call(k, "errno-eisdir-open", "setting up", err);
		return;
	}
	err = do_open(k, e.nodeid, O_WRONLY, 0, &fh);
	if (err == 0 && !k->no_open)
		do_release(k, e.nodeid, fh, 0);
	if (k->no_open)
		report(k, R_SKIP, "errno-eisdir-open", "no OPEN (ENOSYS)");
	else
		expect_err_k(k, "errno-eisdir-open", "OPEN of a directory for writing",
		    err, -EISDIR);
	err = do_create(k, d, "f-exists", O_RDWR | O_CREAT | O_EXCL, 0644, &e, &fh);
	if (err == 0)
		do_release(k, e.nodeid, fh, 0);
	if (err == 0)
		report(k, R_FAIL, "errno-eexist-create", "%s of an existing name: success, "
		    "expected EEXIST (the kernel looks names up first; a server that "
		    "trusts it to makes a second entry of that name)",
		    k->no_create ? "MKNOD (no CREATE)" : "CREATE O_EXCL");
	else
		expect_err(k, "errno-eexist-create", k->no_create ?
		    "MKNOD of an existing name (no CREATE)" :
		    "CREATE O_EXCL of an existing name", err, -EEXIST, 0);
	err = do_mkdir(k, d, "d-exists", 0755, NULL);
	if (err == 0)
		report(k, R_FAIL, "errno-eexist-mkdir", "MKDIR of an existing name: "
		    "success, expected EEXIST (the kernel looks names up first; a "
		    "server that trusts it to makes a second entry of that name)");
	else
		expect_err(k, "errno-eexist-mkdir", "MKDIR of an existing name", err,
		    -EEXIST, 0);
	{
		int e1 = do_rename(k, d, "f-rename", d, "d-rename", 0);
		int e2 = do_rename(k, d, "d-rename", d, "f-rename", 0);

		if (turned_ro(k, "rename-type-mismatch", e1))
			;
		else if (e1 == -EISDIR && e2 == -ENOTDIR)
			report(k, R_PASS, "rename-type-mismatch", "file onto directory: EISDIR; "
			    "directory onto file: ENOTDIR");
		else if (e1 == 0 || e2 == 0 || (e1 == -EIO && k->why[0]) ||
		    e1 == -ETIMEDOUT || e2 == -ETIMEDOUT || e1 == -ENOTCONN ||
		    e2 == -ENOTCONN)
			report(k, R_FAIL, "rename-type-mismatch", "file onto directory: %s "
			    "(expected EISDIR); directory onto file: %s (expected ENOTDIR)",
			    e1 == 0 ? "success" : ename(e1), e2 == 0 ? "success" : what(k, e2));
		else
			report(k, R_PASS, "rename-type-mismatch", "file onto directory: %s; "
			    "directory onto file: %s (the kernel checks these itself: EISDIR, "
			    "ENOTDIR)", ename(e1), ename(e2));
	}
	/* Last: it may take the directory out of the tree. */
	err = do_unlink(k, d, "d-unlink");
	expect_err_k(k, "errno-eisdir-unlink", "UNLINK of a directory", err, -EISDIR);
}

/* Read a whole small file by name: its data into buf (NUL-terminated). */
static int
read_named(struct ck *k, uint64_t parent, const char *name, char *buf, size_t size)
{
	struct fuse_entry_out e;
	uint64_t fh;
	ssize_t n;
	int err = do_lookup(k, parent, name, &e, 1);

	if (err == 0)
		err = do_open(k, e.nodeid, O_RDONLY, 0, &fh);
	if (err != 0)
		return err;
	n = do_read(k, e.nodeid, fh, 0, (uint32_t)size - 1);
	do_release(k, e.nodeid, fh, 0);
	if (n < 0)
		return (int)n;
	memcpy(buf, k->rp, (size_t)n);
	buf[n] = '\0';
	return 0;
}

static void
check_rename(struct ck *k)
{
	struct fuse_entry_out e;
	char buf[64];
	uint64_t d;
	int err;

	if (skip_ro(k, "rename-over-file") + skip_ro(k, "rename-over-empty-dir") +
	    skip_ro(k, "rename-dir-over-nonempty") + skip_ro(k, "rename-noreplace"))
		return;
	if (scratch_dir(k, "rename-over-file", "rename", &d) != 0)
		return;

	err = make_file(k, d, "a", "A", 1, NULL);
	if (err == 0)
		err = make_file(k, d, "b", "B", 1, NULL);
	if (err == 0)
		err = do_rename(k, d, "a", d, "b", 0);
	if (err == 0) {
		int gone = do_lookup(k, d, "a", &e, 1);

		err = read_named(k, d, "b", buf, sizeof(buf));
		if (err != 0)
			report(k, R_FAIL, "rename-over-file", "reading the target: %s",
			    what(k, err));
		else if (gone != -ENOENT)
			report(k, R_FAIL, "rename-over-file", "the old name is still there "
			    "(LOOKUP: %s)", what(k, gone));
		else if (strcmp(buf, "A") != 0)
			report(k, R_FAIL, "rename-over-file", "the target holds '%s', "
			    "expected 'A'", buf);
		else
			report(k, R_PASS, "rename-over-file", "replaced; the old name is gone");
	} else {
		fail_call(k, "rename-over-file", "RENAME", err);
	}

	err = do_mkdir(k, d, "d1", 0755, NULL);
	if (err == 0)
		err = do_mkdir(k, d, "d2", 0755, NULL);
	if (err == 0) {
		err = do_rename(k, d, "d1", d, "d2", 0);
		if (err == 0 && do_lookup(k, d, "d1", &e, 1) != -ENOENT)
			report(k, R_FAIL, "rename-over-empty-dir", "the old name is still "
			    "there");
		else if (err == 0)
			report(k, R_PASS, "rename-over-empty-dir", "replaced");
		else
			fail_call(k, "rename-over-empty-dir", "RENAME onto an empty directory",
			    err);
	} else {
		fail_call(k, "rename-over-empty-dir", "MKDIR", err);
	}

	err = do_mkdir(k, d, "d3", 0755, NULL);
	if (err == 0)
		err = do_mkdir(k, d, "d4", 0755, &e);
	if (err == 0)
		err = make_file(k, e.nodeid, "f", NULL, 0, NULL);
	if (err == 0) {
		err = do_rename(k, d, "d3", d, "d4", 0);
		if (err == -ENOTEMPTY || err == -EEXIST)
			report(k, R_PASS, "rename-dir-over-nonempty", "%s", ename(err));
		else
			report(k, R_FAIL, "rename-dir-over-nonempty", "RENAME of a directory "
			    "onto a non-empty one: %s, expected ENOTEMPTY or EEXIST",
			    what(k, err));
	} else {
		fail_call(k, "rename-dir-over-nonempty", "setting up", err);
	}

	err = make_file(k, d, "n1", "1", 1, NULL);
	if (err == 0)
		err = make_file(k, d, "n2", "2", 1, NULL);
	if (err != 0) {
		fail_call(k, "rename-noreplace", "CREATE", err);
		return;
	}
	if (k->minor < 23) {
		report(k, R_SKIP, "rename-noreplace", "no RENAME2 before 7.23");
		return;
	}
	err = do_rename(k, d, "n1", d, "n2", RENAME_NOREPLACE);
	if (err == -ENOSYS || err == -EINVAL) {
		report(k, R_SKIP, "rename-noreplace", "RENAME2 with RENAME_NOREPLACE: %s "
		    "(not supported)", ename(err));
		return;
	}
	if (err != -EEXIST) {
		report(k, R_FAIL, "rename-noreplace", "onto an existing name: %s, expected "
		    "EEXIST", what(k, err));
		return;
	}
	err = read_named(k, d, "n2", buf, sizeof(buf));
	if (err != 0 || strcmp(buf, "2") != 0) {
		report(k, R_FAIL, "rename-noreplace", "the target changed after EEXIST "
		    "(%s)", err ? what(k, err) : buf);
		return;
	}
	err = do_rename(k, d, "n1", d, "n3", RENAME_NOREPLACE);
	if (err != 0)
		report(k, R_FAIL, "rename-noreplace", "onto a free name: %s", what(k, err));
	else
		report(k, R_PASS, "rename-noreplace", "EEXIST onto an existing name, "
		    "success onto a free one");
}

/* Are bytes [from, to) of the last READ all zero?  The first that is not. */
static ssize_t
nonzero_at(struct ck *k, size_t from, size_t to)
{
	for (size_t i = from; i < to && i < k->rlen; i++)
		if (k->rp[i] != 0)
			return (ssize_t)i;
	return -1;
}

static void
check_eof(struct ck *k)
{
	struct fuse_entry_out e;
	struct fuse_attr a;
	uint64_t d, fh, node;
	ssize_t n, nz;
	int err;

	if (skip_ro(k, "write-past-eof") + skip_ro(k, "truncate-extend") +
	    skip_ro(k, "truncate-shrink-grow"))
		return;
	if (scratch_dir(k, "write-past-eof", "eof", &d) != 0)
		return;
	err = do_create(k, d, "holes", O_RDWR | O_CREAT | O_EXCL, 0644, &e, &fh);
	if (err != 0) {
		fail_call(k, "write-past-eof", "CREATE", err);
		return;
	}
	node = e.nodeid;
	err = do_write(k, node, fh, 0, "abc", 3);
	if (err == 0)
		err = do_write(k, node, fh, 10000, "xyz", 3);
	if (err == 0)
		err = do_getattr(k, node, &a);
	n = err == 0 ? do_read(k, node, fh, 0, 16384) : err;
	if (n < 0) {
		report(k, R_FAIL, "write-past-eof", "%s", what(k, (int)n));
	} else if (a.size != 10003 || n != 10003) {
		report(k, R_FAIL, "write-past-eof", "after writing 3 bytes at 0 and 3 at "
		    "10000: size %llu, READ gave %zd bytes; expected 10003",
		    (unsigned long long)a.size, n);
	} else if (memcmp(k->rp, "abc", 3) != 0 || memcmp(k->rp + 10000, "xyz", 3) != 0) {
		report(k, R_FAIL, "write-past-eof", "the data written reads back different");
	} else if ((nz = nonzero_at(k, 3, 10000)) >= 0) {
		report(k, R_FAIL, "write-past-eof", "the hole is not zero at byte %zd", nz);
	} else {
		report(k, R_PASS, "write-past-eof", "size 10003, the hole reads as zeros");
	}

	err = do_setsize(k, node, 20000, &a);
	n = err == 0 ? do_read(k, node, fh, 10003, 16384) : err;
	if (n < 0)
		fail_call(k, "truncate-extend", "SETATTR size 20000", (int)n);
	else if (a.size != 20000 || n != 9997)
		report(k, R_FAIL, "truncate-extend", "after SETATTR size 20000: size %llu, "
		    "READ from 10003 gave %zd bytes (expected 9997)",
		    (unsigned long long)a.size, n);
	else if ((nz = nonzero_at(k, 0, 9997)) >= 0)
		report(k, R_FAIL, "truncate-extend", "the extension is not zero at byte %zd",
		    nz + 10003);
	else
		report(k, R_PASS, "truncate-extend", "size 20000, the new part reads as "
		    "zeros");

	err = do_write(k, node, fh, 0, "0123456789", 10);
	if (err == 0)
		err = do_setsize(k, node, 5, &a);
	if (err == 0)
		err = do_setsize(k, node, 10, &a);
	n = err == 0 ? do_read(k, node, fh, 0, 100) : err;
	if (n < 0)
		fail_call(k, "truncate-shrink-grow", "SETATTR", (int)n);
	else if (n != 10 || memcmp(k->rp, "01234\0\0\0\0\0", 10) != 0)
		report(k, R_FAIL, "truncate-shrink-grow", "after writing 0123456789, "
		    "shrinking to 5 and growing to 10: %zd bytes, %s", n,
		    n == 10 ? "old data came back past the shrink" : "wrong size");
	else
		report(k, R_PASS, "truncate-shrink-grow", "shrunk to 5, grown to 10: the "
		    "old bytes 5-9 read as zeros");
	do_release(k, node, fh, 0);
}

/* A READ and an INTERRUPT for it: how does the server take it? */
static void
check_interrupt(struct ck *k)
{
	struct fuse_read_in rin;
	struct fuse_interrupt_in iin;
	struct fuse_in_header h;
	struct iovec iov;
	uint64_t fh, u;
	char detail[400];
	int err, i, rerr;
	long end;

	if (k->file == 0) {
		report(k, R_SKIP, "interrupt", "no regular file found to read");
		return;
	}
	err = do_open(k, k->file, O_RDONLY, 0, &fh);
	if (err != 0) {
		fail_call(k, "interrupt", "OPEN", err);
		return;
	}
	memset(&rin, 0, sizeof(rin));
	rin.fh = fh;
	rin.size = 65536;
	err = xsend(k, FUSE_READ, k->file, &rin, NULL, 0, NULL, 0, &u);
	if (err == 0) {
		memset(&iin, 0, sizeof(iin));
		iin.unique = u;
		fill_header(&h, FUSE_INTERRUPT, 0, u | 1);
		iov.iov_base = &iin;
		iov.iov_len = sizeof(iin);
		k->nintr = 0;
		err = pf_raw_send(k->c, &h, &iov, 1);
	}
	if (err != 0) {
		report(k, R_FAIL, "interrupt", "sending READ and INTERRUPT: %s",
		    strerror(-err));
		return;
	}
	rerr = wait_reply(k, FUSE_READ, u, 65536, 5000);
	if (rerr == -ETIMEDOUT || rerr == -ENOTCONN || (rerr == -EIO && k->why[0])) {
		report(k, R_FAIL, "interrupt", "READ then INTERRUPT: %s", what(k, rerr));
		return;
	}
	/*
	 * libfuse queues an INTERRUPT for a request it finished and answers
	 * it EAGAIN when the next request comes: send one, and wait a moment.
	 */
	err = do_getattr(k, PF_ROOT_ID, NULL);
	end = mono_ms() + 300;
	while (k->nintr == 0 && mono_ms() < end) {
		ssize_t n = pf_raw_recv(k->c, k->rbuf, k->rcap, 50);

		if (n >= (ssize_t)sizeof(struct fuse_out_header)) {
			struct fuse_out_header oh;

			memcpy(&oh, k->rbuf, sizeof(oh));
			if (oh.unique & 1)
				keep_intr(k, &oh, (size_t)n - sizeof(oh));
		} else if (n != -ETIMEDOUT) {
			break;
		}
	}
	do_release(k, k->file, fh, 0);
	snprintf(detail, sizeof(detail), "READ %s",
	    rerr == 0 ? "answered with its data (the INTERRUPT ignored)" :
	    rerr == -EINTR ? "answered EINTR (interrupted)" :
	    rerr == -EAGAIN ? "answered EAGAIN" : ename(rerr));
	for (i = 0; i < k->nintr; i++) {
		size_t l = strlen(detail);

		if (k->intr[i].bad) {
			report(k, R_FAIL, "interrupt", "%s; bad reply to the INTERRUPT: %s",
			    detail, k->intr[i].why);
			return;
		}
		snprintf(detail + l, sizeof(detail) - l, "; the INTERRUPT answered %s%s",
		    ename(k->intr[i].error), k->intr[i].error == -EAGAIN ?
		    " (\"ask again\")" : k->intr[i].error == -ENOSYS ?
		    " (no interrupts)" : "");
	}
	if (k->nintr == 0) {
		size_t l = strlen(detail);

		snprintf(detail + l, sizeof(detail) - l, "; no reply to the INTERRUPT");
	}
	if (err != 0) {
		report(k, R_FAIL, "interrupt", "%s; then GETATTR of the root: %s", detail,
		    what(k, err));
		return;
	}
	if (rerr != 0 && rerr != -EINTR && rerr != -EAGAIN) {
		report(k, R_FAIL, "interrupt", "%s", detail);
		return;
	}
	report(k, R_PASS, "interrupt", "%s", detail);
}

/* Optional operations: which does the server answer ENOSYS? */
static void
check_enosys(struct ck *k)
{
	static const uint32_t vital[] = { FUSE_LOOKUP, FUSE_GETATTR, FUSE_READDIR };
	char list[600] = "", fatal[200] = "";
	uint64_t fh = 0, dfh = 0;
	int i, err;

	xcall(k, FUSE_STATFS, PF_ROOT_ID, NULL, NULL, 0, NULL, 0);
	{
		struct fuse_access_in in = { 0, 0 };

		xcall(k, FUSE_ACCESS, PF_ROOT_ID, &in, NULL, 0, NULL, 0);
	}
	{
		struct fuse_getxattr_in in = { 0, 0 };

		xcall(k, FUSE_GETXATTR, PF_ROOT_ID, &in, NAME("user.perfuse-check"), NULL, 0);
		xcall(k, FUSE_LISTXATTR, PF_ROOT_ID, &in, NULL, 0, NULL, 0);
	}
	if (do_open(k, PF_ROOT_ID, O_RDONLY | O_DIRECTORY, 1, &dfh) == 0) {
		struct fuse_fsync_in in = { dfh, 0, 0 };

		xcall(k, FUSE_FSYNCDIR, PF_ROOT_ID, &in, NULL, 0, NULL, 0);
		if (k->minor >= 21 && (ck_flags(k) & FUSE_DO_READDIRPLUS)) {
			struct listing l;

			list_dir(k, PF_ROOT_ID, dfh, 0, 4096, 1, &l);
			listing_free(&l);
		}
		do_release(k, PF_ROOT_ID, dfh, 1);
	}
	if (k->file != 0 && do_open(k, k->file, k->ro ? O_RDONLY : O_RDWR, 0, &fh) == 0) {
		uint64_t f = k->file;

		{
			struct fuse_flush_in in = { fh, 0, 0, 0 };

			xcall(k, FUSE_FLUSH, f, &in, NULL, 0, NULL, 0);
		}
		{
			struct fuse_fsync_in in = { fh, 0, 0 };

			xcall(k, FUSE_FSYNC, f, &in, NULL, 0, NULL, 0);
		}
		{
			struct fuse_lk_in in;

			memset(&in, 0, sizeof(in));
			in.fh = fh;
			in.owner = 0x1234;
			in.lk.start = 0;
			in.lk.end = UINT64_MAX;
			in.lk.type = F_RDLCK;
			in.lk.pid = (uint32_t)getpid();
			xcall(k, FUSE_GETLK, f, &in, NULL, 0, NULL, 0);
		}
		{
			struct fuse_bmap_in in = { 0, 4096, 0 };

			xcall(k, FUSE_BMAP, f, &in, NULL, 0, NULL, 0);
		}
		if (k->minor >= 24) {
			struct fuse_lseek_in in = { fh, 0, SEEK_DATA, 0 };

			xcall(k, FUSE_LSEEK, f, &in, NULL, 0, NULL, 0);
		}
		{
			struct fuse_poll_in in;

			memset(&in, 0, sizeof(in));
			in.fh = fh;
			in.events = POLLIN;
			xcall(k, FUSE_POLL, f, &in, NULL, 0, NULL, 0);
		}
		{
			struct fuse_ioctl_in in;

			memset(&in, 0, sizeof(in));
			in.fh = fh;
			in.cmd = (uint32_t)_IOR('f', 1, long);  /* FS_IOC_GETFLAGS */
			in.out_size = sizeof(long);
			xcall(k, FUSE_IOCTL, f, &in, NULL, 0, NULL, 0);
		}
		if (!k->ro) {
			struct fuse_setxattr_in sx;
			struct fuse_fallocate_in fa = { fh, 0, 4096, 0, 0 };
			static const char val[] = "1";

			memset(&sx, 0, sizeof(sx));
			sx.size = 1;
			err = xcall(k, FUSE_SETXATTR, f, &sx, NAME("user.perfuse-check"), val, 1);
			if (err == 0)
				xcall(k, FUSE_REMOVEXATTR, f, NULL, NAME("user.perfuse-check"),
				    NULL, 0);
			xcall(k, FUSE_FALLOCATE, f, &fa, NULL, 0, NULL, 0);
		}
		do_release(k, f, fh, 0);
	}
	if (!k->ro && k->scratch != 0) {
		struct fuse_entry_out e;
		struct fuse_mknod_in mn;
		struct fuse_link_in li = { k->file };

		if (xcall(k, FUSE_SYMLINK, k->scratch, NULL, NAME("symlink"),
		    NAME("file")) == 0) {
			copy_entry(k, &e);
			keep(k, &e);
			xcall(k, FUSE_READLINK, e.nodeid, NULL, NULL, 0, NULL, 0);
		}
		memset(&mn, 0, sizeof(mn));
		mn.mode = S_IFIFO | 0644;
		mn.umask = 022;
		if (xcall(k, FUSE_MKNOD, k->scratch, &mn, NAME("fifo"), NULL, 0) == 0) {
			copy_entry(k, &e);
			keep(k, &e);
		}
		if (k->file != 0 && xcall(k, FUSE_LINK, k->scratch, &li, NAME("hardlink"),
		    NULL, 0) == 0) {
			copy_entry(k, &e);
			keep(k, &e);
		}
		if (k->minor >= 28 && k->file != 0) {
			uint64_t a = 0, b = 0;
			struct fuse_entry_out e2;

			if (do_create(k, k->scratch, "copy-dst", O_RDWR | O_CREAT | O_EXCL, 0644,
			    &e2, &b) == 0) {
				if (do_open(k, k->file, O_RDONLY, 0, &a) == 0) {
					struct fuse_copy_file_range_in in;

					memset(&in, 0, sizeof(in));
					in.fh_in = a;
					in.nodeid_out = e2.nodeid;
					in.fh_out = b;
					in.len = 16;
					xcall(k, FUSE_COPY_FILE_RANGE, k->file, &in, NULL, 0, NULL, 0);
					do_release(k, k->file, a, 0);
				}
				do_release(k, e2.nodeid, b, 0);
			}
		}
	}
	for (i = 0; i < OPBITS; i++) {
		size_t l = strlen(list);

		if (k->enosys[i] && l + 24 < sizeof(list))
			snprintf(list + l, sizeof(list) - l, "%s%s", l ? " " : "", pf_op_name(i));
	}
	for (i = 0; i < (int)(sizeof(vital) / sizeof(vital[0])); i++) {
		size_t l = strlen(fatal);

		if (k->enosys[vital[i]])
			snprintf(fatal + l, sizeof(fatal) - l, " %s", pf_op_name(vital[i]));
	}
	if (fatal[0] != '\0')
		report(k, R_FAIL, "enosys", "ENOSYS for what no client can do without:%s "
		    "(ENOSYS set: %s)", fatal, list);
	else if (k->enosys_late[0] != '\0')
		report(k, R_FAIL, "enosys", "ENOSYS after a success for:%s (ENOSYS set: %s)",
		    k->enosys_late, list);
	else
		report(k, R_PASS, "enosys", "%s%s", list[0] ? "ENOSYS for: " :
		    "no ENOSYS for anything sent", list);
}

static void
check_cleanup(struct ck *k)
{
	int err;

	if (k->scratch == 0) {
		report(k, R_SKIP, "cleanup", "%s", k->ro ? k->ro_why : "nothing written");
		return;
	}
	err = rm_rf(k, PF_ROOT_ID, k->scratch_name, 0);
	if (err == 0)
		err = do_lookup(k, PF_ROOT_ID, k->scratch_name, NULL, 1) == -ENOENT ? 0 : -EEXIST;
	if (err == -EROFS)
		report(k, R_SKIP, "cleanup", "the filesystem turned read-only (EROFS); "
		    "/%s is left behind", k->scratch_name);
	else if (err != 0)
		report(k, R_FAIL, "cleanup", "removing /%s: %s", k->scratch_name,
		    err == -EEXIST ? "still there after its RMDIR" : what(k, err));
	else
		report(k, R_PASS, "cleanup", "/%s removed", k->scratch_name);
}

static void
check_replies(struct ck *k)
{
	daemon_scan(k);
	if (k->nbad == 0 && k->strays == 0)
		report(k, R_PASS, "reply-sizes", "every reply matched the protocol at 7.%u",
		    k->minor);
	else if (k->nbad == 0)
		report(k, R_FAIL, "reply-sizes", "%d replies with uniques nobody asked for",
		    k->strays);
	else
		report(k, R_FAIL, "reply-sizes", "%d %s broke the protocol: %s",
		    k->nbad, k->nbad == 1 ? "reply" : "replies", k->bad);
}

static void
check_destroy(struct ck *k, struct fsrun *r, const char *name)
{
	char why[1500];
	int via = fsrun_via_daemon(r);
	int err = fsrun_stop(r, k->c, why, sizeof(why));

	k->c = NULL;
	k->run = NULL;
	if (err != 0)
		report(k, R_FAIL, name, "%s", why);
	else
		report(k, R_PASS, name, "%s", via ? "unmounted through perfused, which "
		    "saw the filesystem exit" : "DESTROY answered, the filesystem exited");
}

static void
ck_begin(struct ck *k, perfuse_conn *c, int via_daemon)
{
	struct perfuse_conn_info info;

	perfuse_conn_get_info(c, &info);
	k->c = c;
	k->minor = info.minor;
	k->max_read = info.max_read;
	k->via_daemon = via_daemon;
	k->no_open = k->no_opendir = k->no_create = 0;
	k->nbad = 0;
	k->bad[0] = '\0';
	k->strays = 0;
	k->enosys_late[0] = '\0';
	memset(k->enosys, 0, sizeof(k->enosys));
	memset(k->okops, 0, sizeof(k->okops));
}

int
cmd_check(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "attach", required_argument, NULL, 'A' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	static const unsigned minors[] = { 8, 12, 19, 23, 31, 38 };
	struct ck k;
	struct fsrun *r;
	perfuse_conn *c;
	char why[2048], detail[2048];
	int ch, attach = FSRUN_AUTO, err, res;
	size_t i;
	char **fs;

	memset(&k, 0, sizeof(k));
	k.timeout_ms = 5000;
	while ((ch = cli_getopt(argc, argv, "+", lopts)) != -1) {
		if (ch == 'j') {
			k.json = 1;
		} else if (ch == 'A') {
			attach = fsrun_attach_parse(optarg);
			if (attach < 0)
				return cli_usage_error("--attach takes auto, fd or preload");
		} else if (ch == 't') {
			char *end;
			long t = strtol(optarg, &end, 10);

			if (*end != '\0' || t < 1 || t > 3600)
				return cli_usage_error("--timeout takes seconds, 1 to 3600");
			k.timeout_ms = (int)t * 1000;
		}
	}
	if (optind >= argc)
		return cli_usage_error("missing FS_COMMAND");
	fs = argv + optind;
	if (fsrun_mountpoint(fs) < 0)
		return cli_usage_error("%s has no mountpoint argument (its last "
		    "non-option argument)", fs[0]);
	if (attach == FSRUN_AUTO)
		attach = pf_links_libfuse3(fs[0], getenv("PATH")) ? FSRUN_FD : FSRUN_PRELOAD;
	k.rcap = 2 * 1024 * 1024;
	k.rbuf = malloc(k.rcap);
	if (k.rbuf == NULL) {
		cli_err("check", -ENOMEM);
		return 1;
	}

	/* INIT at each minor, a fresh server each time. */
	for (i = 0; i < sizeof(minors) / sizeof(minors[0]); i++) {
		char name[32];

		snprintf(name, sizeof(name), "init-7.%u", minors[i]);
		if (attach == FSRUN_PRELOAD) {
			report(&k, R_SKIP, name, "INIT is perfused's (--attach=preload)");
			continue;
		}
		err = fsrun_start(fs, FSRUN_FD, minors[i], &r, &c, why, sizeof(why));
		if (err != 0) {
			report(&k, R_FAIL, name, "%s", why);
			continue;
		}
		ck_begin(&k, c, 0);
		res = check_init_minor(&k, minors[i], detail, sizeof(detail));
		err = fsrun_stop(r, k.c, why, sizeof(why));
		k.c = NULL;
		if (err != 0 && res == R_PASS)
			report(&k, R_FAIL, name, "%s; then the filesystem %s", detail, why);
		else
			report(&k, res, name, "%s", detail);
	}

	/* The battery, at the newest minor. */
	err = fsrun_start(fs, attach, PF_MINOR_MAX, &r, &c, why, sizeof(why));
	if (err != 0) {
		report(&k, R_FAIL, "start", "%s", why);
		free(k.rbuf);
		return 1;
	}
	ck_begin(&k, c, attach == FSRUN_PRELOAD);
	k.run = r;
	check_root(&k);
	setup_scratch(&k);
	check_forget(&k);
	check_readdir(&k, 0);
	check_readdir(&k, 1);
	check_dots(&k);
	check_errnos(&k);
	check_rename(&k);
	check_eof(&k);
	check_interrupt(&k);
	check_enosys(&k);
	check_shielded(&k);
	check_cleanup(&k);
	check_replies(&k);
	check_destroy(&k, r, "destroy");
	free(k.rbuf);
	if (!k.json)
		printf("%d passed, %d failed, %d skipped\n", k.npass, k.nfail, k.nskip);
	return k.nfail > 0 ? 1 : 0;
}
