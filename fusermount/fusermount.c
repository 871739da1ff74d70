/*
 * fusermount.c - stand-ins for fusermount and fusermount3.
 *
 * FUSE libraries that cannot mount(2) themselves run the setuid helper
 * fusermount(3) with a socket in $_FUSE_COMMFD: the helper opens
 * /dev/fuse, mounts, and sends the descriptor back over that socket
 * (SCM_RIGHTS, with one data byte).  libfuse falls back to it when
 * mount(2) fails with EPERM; go-fuse and bazil.org/fuse always use it.
 *
 * This program speaks the same protocol, but its /dev/fuse is a socket to
 * perfused (perfuse_open) and its mount is perfuse_mount(): no device, no
 * privilege.  perfused puts the directory holding these stand-ins first
 * on the PATH of the filesystems it starts.
 *
 *   fusermount3 -o OPTS -- MNT             libfuse3
 *   fusermount [-o OPTS] [--] MNT          libfuse2, bazil
 *   fusermount3 MNT -o OPTS                go-fuse
 *   fusermount3 --auto-unmount -- MNT      libfuse3: only watch the comm
 *                                          socket, unmount when it closes
 *   fusermount3 --unmount --quiet --lazy -- MNT, fusermount -u MNT,
 *   fusermount -uqz -- MNT                 unmount
 *
 * A successful mount prints nothing: bazil takes any output for an error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "perfuse.h"

#define COMMFD_ENV "_FUSE_COMMFD"
#define FUSE_DEVICE "/dev/fuse"

static const char *progname = "fusermount3";

/* Errors always start "fusermount: ", whatever our name (bazil parses it). */
static void
fm_err(const char *fmt, ...)
{
	va_list ap;

	fputs("fusermount: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/*
 * The library's own messages: kept, and shown only when we fail, so that
 * a successful mount stays silent.
 */
static char liblog[2048];

static void
log_hook(enum perfuse_log_level level, const char *msg, void *arg)
{
	size_t used = strlen(liblog);

	(void)arg;
	if (level > PERFUSE_LOG_WARN)
		return;
	snprintf(liblog + used, sizeof(liblog) - used, "fusermount: perfuse: %s\n",
	    msg);
}

static void
flush_liblog(void)
{
	fputs(liblog, stderr);
	liblog[0] = '\0';
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "%s: [options] mountpoint\n"
	    "perfuse stand-in for fusermount: mounts through perfused, with no\n"
	    "/dev/fuse and no privilege.\n"
	    "Options:\n"
	    " -h, --help             print help\n"
	    " -V, --version          print version\n"
	    " -o opt[,opt...]        mount options\n"
	    " -u, --unmount          unmount\n"
	    " -q, --quiet            quiet\n"
	    " -z, --lazy             lazy unmount\n"
	    " --auto-unmount         unmount when the $_FUSE_COMMFD socket closes\n"
	    " --comm-fd N            use N instead of $_FUSE_COMMFD\n",
	    progname);
}

static void
version(void)
{
	if (strcmp(progname, "fusermount") == 0)
		printf("fusermount version: 2.9.9 (perfuse %s stand-in)\n",
		    PERFUSE_VERSION);
	else
		printf("fusermount3 version: 3.14.0 (perfuse %s stand-in)\n",
		    PERFUSE_VERSION);
}

/* ------------------------------------------------------------------ */
/* Environment                                                         */

/* Does the NAME=VALUE entry e name a variable we take from the parent? */
static int
wanted_var(const char *e)
{
	return strncmp(e, "PERFUSE", 7) == 0 || strncmp(e, "XDG_RUNTIME_DIR=", 16) == 0 ||
	    strncmp(e, "PATH=", 5) == 0;
}

/*
 * go-fuse runs us with nothing but _FUSE_COMMFD=3 in the environment, so
 * $PERFUSE_SOCKET, $PERFUSE_MOUNT_TOKEN (which ties the mount to the one
 * perfused started) and $XDG_RUNTIME_DIR (the default socket) are lost.
 * Take those we lack from our parent, the filesystem, as it was started.
 */
static void
import_parent_env(void)
{
	char path[64], *buf = NULL, *e, *eq;
	size_t size = 0, len = 0;
	pid_t ppid = getppid();
	ssize_t n;
	int fd;

	if (ppid <= 1)
		return;
	snprintf(path, sizeof(path), "/proc/%d/environ", (int)ppid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	for (;;) {
		if (len + 4096 + 1 > size) {
			char *nbuf = realloc(buf, size = len + 65536);

			if (nbuf == NULL)
				goto out;
			buf = nbuf;
		}
		n = read(fd, buf + len, size - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	if (buf == NULL)
		goto out;
	buf[len] = '\0';
	for (e = buf; e < buf + len; e += strlen(e) + 1) {
		if (!wanted_var(e) || (eq = strchr(e, '=')) == NULL)
			continue;
		*eq = '\0';
		if (getenv(e) == NULL)
			setenv(e, eq + 1, 0);
		*eq = '=';
	}
out:
	free(buf);
	close(fd);
}

/*
 * The perfused that perfuse_open() starts when none answers: $PERFUSED,
 * else the one of this build tree or installation, else perfused on PATH.
 */
static void
default_perfused(void)
{
	char self[PATH_MAX], cand[PATH_MAX + 32], *slash;
	ssize_t n;

	if (getenv("PERFUSED") != NULL)
		return;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash != NULL) {
			*slash = '\0';
			snprintf(cand, sizeof(cand), "%s/../perfused", self);
			if (access(cand, X_OK) == 0) {
				setenv("PERFUSED", cand, 1);
				return;
			}
		}
	}
#ifdef PERFUSED_INSTALLED
	if (access(PERFUSED_INSTALLED, X_OK) == 0)
		setenv("PERFUSED", PERFUSED_INSTALLED, 1);
#endif
}

/* ------------------------------------------------------------------ */
/* Mountpoints                                                         */

/*
 * The absolute path of mnt for unmounting, where mnt may be gone: the
 * real path when it resolves, else the parent's real path and the last
 * component, else mnt made absolute against the working directory.
 */
static char *
resolve_loose(const char *mnt)
{
	char *copy, *slash, *last, *parent, *res = NULL;
	size_t len;

	res = realpath(mnt, NULL);
	if (res != NULL)
		return res;
	copy = strdup(mnt);
	if (copy == NULL)
		return NULL;
	len = strlen(copy);
	while (len > 1 && copy[len - 1] == '/')
		copy[--len] = '\0';
	slash = strrchr(copy, '/');
	if (slash == NULL) {
		parent = realpath(".", NULL);
		last = copy;
	} else {
		*slash = '\0';
		parent = realpath(slash == copy ? "/" : copy, NULL);
		last = slash + 1;
	}
	if (parent != NULL && strcmp(last, ".") != 0 && strcmp(last, "..") != 0 &&
	    asprintf(&res, "%s%s%s", parent,
	    strcmp(parent, "/") == 0 ? "" : "/", last) < 0)
		res = NULL;
	free(parent);
	free(copy);
	if (res == NULL && mnt[0] == '/')
		res = strdup(mnt);
	return res;
}

/* ------------------------------------------------------------------ */
/* Mount options                                                       */

struct mount_flag {
	const char *name;
	int on;               /* set (1) or clear (0) flag */
	unsigned long flag;
	int safe;             /* may an unprivileged user ask for it? */
};

static const struct mount_flag mount_flags[] = {
	{ "rw",            0, MS_RDONLY,      1 },
	{ "ro",            1, MS_RDONLY,      1 },
	{ "suid",          0, MS_NOSUID,      0 },
	{ "nosuid",        1, MS_NOSUID,      1 },
	{ "dev",           0, MS_NODEV,       0 },
	{ "nodev",         1, MS_NODEV,       1 },
	{ "exec",          0, MS_NOEXEC,      1 },
	{ "noexec",        1, MS_NOEXEC,      1 },
	{ "async",         0, MS_SYNCHRONOUS, 1 },
	{ "sync",          1, MS_SYNCHRONOUS, 1 },
	{ "atime",         0, MS_NOATIME,     1 },
	{ "noatime",       1, MS_NOATIME,     1 },
	{ "diratime",      0, MS_NODIRATIME,  1 },
	{ "nodiratime",    1, MS_NODIRATIME,  1 },
	{ "lazytime",      1, MS_LAZYTIME,    1 },
	{ "nolazytime",    0, MS_LAZYTIME,    1 },
	{ "relatime",      1, MS_RELATIME,    1 },
	{ "norelatime",    0, MS_RELATIME,    1 },
	{ "strictatime",   1, MS_STRICTATIME, 1 },
	{ "nostrictatime", 0, MS_STRICTATIME, 1 },
	{ "dirsync",       1, MS_DIRSYNC,     1 },
	{ "symfollow",     0, MS_NOSYMFOLLOW, 1 },
	{ "nosymfollow",   1, MS_NOSYMFOLLOW, 1 },
	{ NULL, 0, 0, 0 },
};

struct mount_params {
	char *fsname;         /* from fsname=, unescaped */
	char *subtype;        /* from subtype=, unescaped */
	int blkdev;
	int auto_unmount;     /* -o auto_unmount */
	unsigned long flags;
	char *data;           /* what perfused gets, without fd= and the rest */
};

static int
opt_is(const char *s, size_t len, const char *name)
{
	return strlen(name) == len && strncmp(s, name, len) == 0;
}

static int
opt_begins(const char *s, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);

	return len >= n && strncmp(s, prefix, n) == 0;
}

/* The value of "key=value" (len bytes at s), backslash escapes undone. */
static char *
string_opt(const char *s, size_t len, const char *prefix)
{
	size_t n = strlen(prefix), i;
	char *v = malloc(len - n + 1), *d = v;

	if (v == NULL)
		return NULL;
	for (i = n; i < len; i++) {
		if (s[i] == '\\' && i + 1 < len)
			i++;
		*d++ = s[i];
	}
	*d = '\0';
	return v;
}

/*
 * Split opts as the real fusermount does: the generic mount options
 * become flags, fsname= and subtype= become the source and type, the
 * options fusermount itself sets (fd=, rootmode=, user_id=, group_id=)
 * and those meaning nothing to the filesystem (nonempty, auto_unmount,
 * blkdev) are dropped; everything else goes on to perfused.
 */
static int
parse_mount_opts(const char *opts, struct mount_params *mp)
{
	const char *s = opts;
	char *d;
	int escapes;
	size_t len;

	memset(mp, 0, sizeof(*mp));
	mp->flags = MS_NOSUID | MS_NODEV;
	mp->data = malloc(strlen(opts) + 1);
	if (mp->data == NULL) {
		fm_err("failed to allocate memory");
		return -1;
	}
	d = mp->data;
	while (*s != '\0') {
		const struct mount_flag *mf;

		escapes = strncmp(s, "fsname=", 7) == 0 ||
		    strncmp(s, "subtype=", 8) == 0;
		for (len = 0; s[len] != '\0' && s[len] != ','; len++)
			if (escapes && s[len] == '\\' && s[len + 1] != '\0')
				len++;
		for (mf = mount_flags; mf->name != NULL; mf++)
			if (opt_is(s, len, mf->name))
				break;
		if (len == 0) {
			/* ",," */
		} else if (mf->name != NULL) {
			if (!mf->safe && getuid() != 0)
				fm_err("unsafe option %s ignored", mf->name);
			else if (mf->on)
				mp->flags |= mf->flag;
			else
				mp->flags &= ~mf->flag;
		} else if (opt_begins(s, len, "fsname=")) {
			free(mp->fsname);
			if ((mp->fsname = string_opt(s, len, "fsname=")) == NULL)
				goto nomem;
		} else if (opt_begins(s, len, "subtype=")) {
			free(mp->subtype);
			if ((mp->subtype = string_opt(s, len, "subtype=")) == NULL)
				goto nomem;
		} else if (opt_is(s, len, "blkdev")) {
			if (getuid() != 0) {
				fm_err("option blkdev is privileged");
				return -1;
			}
			mp->blkdev = 1;
		} else if (opt_is(s, len, "auto_unmount")) {
			mp->auto_unmount = 1;
		} else if (!opt_is(s, len, "nonempty") &&
		    !opt_begins(s, len, "fd=") &&
		    !opt_begins(s, len, "rootmode=") &&
		    !opt_begins(s, len, "user_id=") &&
		    !opt_begins(s, len, "group_id=")) {
			if (d != mp->data)
				*d++ = ',';
			memcpy(d, s, len);
			d += len;
		}
		s += len;
		if (*s == ',')
			s++;
	}
	*d = '\0';
	return 0;
nomem:
	fm_err("failed to allocate memory");
	return -1;
}

static void
free_mount_params(struct mount_params *mp)
{
	free(mp->fsname);
	free(mp->subtype);
	free(mp->data);
}

/* ------------------------------------------------------------------ */
/* The comm socket                                                     */

static int
comm_fd(const char *arg)
{
	const char *s = arg != NULL ? arg : getenv(COMMFD_ENV);
	struct stat st;
	char *end;
	long fd;

	if (s == NULL) {
		fm_err("old style mounting not supported "
		    "(no $" COMMFD_ENV " socket: run by a FUSE library)");
		return -1;
	}
	errno = 0;
	fd = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || fd < 0 || fd > INT_MAX) {
		fm_err("invalid " COMMFD_ENV ": %s", s);
		return -1;
	}
	if (fstat((int)fd, &st) < 0) {
		fm_err("fstat of comm fd %ld failed: %s", fd, strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		fm_err("file descriptor %ld is not a socket, can't send fuse fd", fd);
		return -1;
	}
	return (int)fd;
}

/* One byte '\0' and fd in one SCM_RIGHTS message: what receive_fd() wants. */
static int
send_fd(int sock, int fd)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct msghdr msg;
	struct cmsghdr *cm;
	struct iovec iov;
	char byte = '\0';
	ssize_t n;

	memset(&u, 0, sizeof(u));
	memset(&msg, 0, sizeof(msg));
	iov.iov_base = &byte;
	iov.iov_len = 1;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = u.buf;
	msg.msg_controllen = sizeof(u.buf);
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n != 1) {
		fm_err("sending file descriptor: %s",
		    n < 0 ? strerror(errno) : "short write");
		return -1;
	}
	return 0;
}

/*
 * Open the device: perfuse_open() may start a private "perfused -i" that
 * outlives us.  It must not hold our stdout and stderr, which bazil reads
 * to their end, nor the comm socket, whose other end libfuse reads to its
 * end when we fail.
 */
static int
open_device(void)
{
	int saved_out, saved_err, nul, fd, err;

	close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
	fflush(stdout);
	fflush(stderr);
	saved_out = fcntl(1, F_DUPFD_CLOEXEC, 3);
	saved_err = fcntl(2, F_DUPFD_CLOEXEC, 3);
	nul = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (nul >= 0 && saved_out >= 0 && saved_err >= 0) {
		dup2(nul, 1);
		dup2(nul, 2);
	}
	fd = perfuse_open(FUSE_DEVICE, O_RDWR | O_CLOEXEC, 0);
	err = errno;
	if (nul >= 0 && saved_out >= 0 && saved_err >= 0) {
		dup2(saved_out, 1);
		dup2(saved_err, 2);
	}
	if (nul >= 0)
		close(nul);
	if (saved_out >= 0)
		close(saved_out);
	if (saved_err >= 0)
		close(saved_err);
	errno = err;
	return fd;
}

/* After a connection that went dead: say where we looked. */
static void
no_perfused_hint(void)
{
	const char *env = getenv("PERFUSE_SOCKET");
	char def[108];

	if (env != NULL && *env != '\0')
		fm_err("perfused at %s (from $PERFUSE_SOCKET) hung up", env);
	else if (perfuse_default_socket(def, sizeof(def)) == 0)
		fm_err("no perfused at %s, and the one started for us (%s) "
		    "hung up; set $PERFUSE_SOCKET or $PERFUSED", def,
		    getenv("PERFUSED") ? getenv("PERFUSED") : "perfused on PATH");
}

/* ------------------------------------------------------------------ */
/* go-fuse's poll hack                                                 */

/*
 * go-fuse's WaitMount() (which gocryptfs and every fs.Mount() user go
 * through) opens MNT/.go-fuse-epoll-hack, expecting the kernel to send
 * the LOOKUP to the new filesystem; with no kernel mount the open fails
 * with ENOENT and the filesystem gives up ("fs.Mount failed: no such file
 * or directory").  So for go-fuse (the only caller with a SOCK_SEQPACKET
 * comm socket) we put an empty file of that name in the mountpoint, and
 * leave behind a small process that removes it once go-fuse has opened
 * and closed it, or after POLLHACK_TIMEOUT_MS: an empty mountpoint stays
 * empty (gocryptfs refuses a non-empty one on the next mount).
 */
#define POLLHACK_NAME ".go-fuse-epoll-hack"
#define POLLHACK_TIMEOUT_MS (60 * 1000)

static char *pollhack_path;    /* the file we made, until handed on */

static int
comm_is_seqpacket(int cfd)
{
	socklen_t len = sizeof(int);
	int type;

	return getsockopt(cfd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
	    type == SOCK_SEQPACKET;
}

/* Remove path if it still is the empty file we made (dev, ino). */
static void
pollhack_unlink(const char *path, dev_t dev, ino_t ino)
{
	struct stat st;

	if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0 &&
	    (dev == 0 || (st.st_dev == dev && st.st_ino == ino)) &&
	    st.st_uid == getuid())
		unlink(path);
}

static void
pollhack_create(const char *mnt, int cfd)
{
	struct stat st;
	int fd;

	if (!comm_is_seqpacket(cfd) || stat(mnt, &st) < 0 || !S_ISDIR(st.st_mode))
		return;
	if (asprintf(&pollhack_path, "%s%s" POLLHACK_NAME, mnt,
	    strcmp(mnt, "/") == 0 ? "" : "/") < 0) {
		pollhack_path = NULL;
		return;
	}
	fd = open(pollhack_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0444);
	if (fd < 0) {
		/* There already, or a mountpoint we may not write: leave it be. */
		free(pollhack_path);
		pollhack_path = NULL;
		return;
	}
	close(fd);
}

/* The mount failed after all: take the file back now. */
static void
pollhack_abort(void)
{
	if (pollhack_path != NULL)
		pollhack_unlink(pollhack_path, 0, 0);
	free(pollhack_path);
	pollhack_path = NULL;
}

/* Leave a process behind that removes the file once go-fuse is done. */
static void
pollhack_handoff(void)
{
	struct pollfd pfd;
	struct stat st;
	pid_t pid;
	int in, nul;

	if (pollhack_path == NULL)
		return;
	in = inotify_init1(IN_CLOEXEC);
	if (in < 0 || lstat(pollhack_path, &st) < 0 ||
	    inotify_add_watch(in, pollhack_path, IN_CLOSE | IN_DELETE_SELF |
	    IN_MOVE_SELF) < 0) {
		/* No way to know when: go-fuse would fail without it, keep it. */
		if (in >= 0)
			close(in);
		return;
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0) {
		/* Twice, so that nobody has to reap it. */
		if (fork() != 0)
			_exit(0);
		setsid();
		if (chdir("/") < 0) {
			/* harmless */
		}
		if (in != 3) {
			dup2(in, 3);
			close(in);
			in = 3;
		}
		close_range(4, ~0U, 0);
		nul = open("/dev/null", O_RDWR);
		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
			dup2(nul, 2);
			if (nul > 3)
				close(nul);
		}
		pfd.fd = in;
		pfd.events = POLLIN;
		pfd.revents = 0;
		while (poll(&pfd, 1, POLLHACK_TIMEOUT_MS) < 0 && errno == EINTR)
			;
		pollhack_unlink(pollhack_path, st.st_dev, st.st_ino);
		_exit(0);
	}
	close(in);
	if (pid > 0)
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	else
		pollhack_abort();
	free(pollhack_path);
	pollhack_path = NULL;
}

/* Open, mount; returns the fd for the library or -1. */
static int
do_mount(const char *mnt, const char *opts, struct mount_params *mp)
{
	char *source = NULL, *type = NULL, *data = NULL;
	struct stat st;
	int fd, ret = -1;

	if (stat(mnt, &st) < 0) {
		fm_err("failed to access mountpoint %s: %s", mnt, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
		fm_err("mountpoint %s is not a directory or a regular file", mnt);
		return -1;
	}
	if (parse_mount_opts(opts, mp) < 0)
		return -1;
	fd = open_device();
	if (fd < 0) {
		flush_liblog();
		fm_err("failed to open %s: %s", FUSE_DEVICE, strerror(errno));
		return -1;
	}
	if (asprintf(&source, "%s", mp->fsname ? mp->fsname :
	    mp->subtype ? mp->subtype : FUSE_DEVICE) < 0)
		source = NULL;
	if (asprintf(&type, "%s%s%s", mp->blkdev ? "fuseblk" : "fuse",
	    mp->subtype ? "." : "", mp->subtype ? mp->subtype : "") < 0)
		type = NULL;
	if (asprintf(&data, "%s%sfd=%d,rootmode=%o,user_id=%u,group_id=%u",
	    mp->data, mp->data[0] ? "," : "", fd, st.st_mode & S_IFMT,
	    (unsigned)getuid(), (unsigned)getgid()) < 0)
		data = NULL;
	if (source == NULL || type == NULL || data == NULL) {
		fm_err("failed to allocate memory");
		close(fd);
	} else if (perfuse_mount(source, mnt, type, mp->flags, data) < 0) {
		int err = errno;

		flush_liblog();
		fm_err("mount failed: %s", strerror(err));
		if (err == ECONNRESET || err == EPIPE || err == ECONNREFUSED)
			no_perfused_hint();
		close(fd);
	} else {
		ret = fd;
	}
	free(source);
	free(type);
	free(data);
	return ret;
}

/*
 * --auto-unmount and -o auto_unmount: become a daemon of our own, wait
 * for the library to close its end of the comm socket (its exit, or
 * fuse_unmount()), then unmount.
 */
static void
wait_then_unmount(int cfd, const char *mnt)
{
	sigset_t all;
	char buf[16];
	ssize_t n;
	int nul;

	if (cfd > 3)
		close_range(3, cfd - 1, 0);
	close_range(cfd + 1, ~0U, 0);
	nul = open("/dev/null", O_RDWR);
	if (nul >= 0) {
		dup2(nul, 0);
		dup2(nul, 1);
		dup2(nul, 2);
		if (nul > 2 && nul != cfd)
			close(nul);
	}
	setsid();
	if (chdir("/") < 0) {
		/* nothing to report to: stderr is gone */
	}
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);
	for (;;) {
		n = recv(cfd, buf, sizeof(buf), 0);
		if (n == 0 || (n < 0 && errno != EINTR))
			break;
	}
	/* EINVAL: perfused ended the mount already, as the filesystem exited. */
	perfuse_unmount(mnt, MNT_DETACH);
}

/* ------------------------------------------------------------------ */

/* The -o options, joined; freed at exit whichever way main returns. */
static char *opts;

static void
free_opts(void)
{
	free(opts);
	opts = NULL;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "unmount",      no_argument,       NULL, 'u' },
		{ "lazy",         no_argument,       NULL, 'z' },
		{ "quiet",        no_argument,       NULL, 'q' },
		{ "help",         no_argument,       NULL, 'h' },
		{ "version",      no_argument,       NULL, 'V' },
		{ "options",      required_argument, NULL, 'o' },
		{ "auto-unmount", no_argument,       NULL, 'U' },
		{ "comm-fd",      required_argument, NULL, 'c' },
		{ "sync-init",    no_argument,       NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	int unmount = 0, lazy = 0, quiet = 0, watch_only = 0, sync_init = 0;
	const char *commarg = NULL, *origmnt = NULL, *slash;
	char *mnt;
	struct mount_params mp;
	int ch, cfd, fd, nargs = 0;

	memset(&mp, 0, sizeof(mp));
	if (argc > 0 && argv[0] != NULL) {
		slash = strrchr(argv[0], '/');
		progname = slash != NULL ? slash + 1 : argv[0];
	}
	atexit(free_opts);
	perfuse_set_log(log_hook, NULL);
	import_parent_env();
	default_perfused();
	/*
	 * "-" first: the mountpoint may come before the options (go-fuse's
	 * "fusermount3 MNT -o OPTS") even under POSIXLY_CORRECT.
	 */
	while ((ch = getopt_long(argc, argv, "-hVo:uzq", longopts, NULL)) != -1) {
		switch (ch) {
		case 1:
			if (nargs++ == 0)
				origmnt = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			version();
			return 0;
		case 'o':
			/* Repeated -o add up (the real tool keeps the last). */
			if (opts == NULL) {
				opts = strdup(optarg);
			} else {
				char *more;

				if (asprintf(&more, "%s,%s", opts, optarg) < 0)
					more = NULL;
				free(opts);
				opts = more;
			}
			if (opts == NULL) {
				fm_err("failed to allocate memory");
				return 1;
			}
			break;
		case 'u':
			unmount = 1;
			break;
		case 'U':
			unmount = 1;
			watch_only = 1;
			break;
		case 'c':
			commarg = optarg;
			break;
		case 'S':
			sync_init = 1;
			break;
		case 'z':
			lazy = 1;
			break;
		case 'q':
			quiet = 1;
			break;
		default:
			fprintf(stderr, "Try '%s --help' for more information.\n",
			    progname);
			return 1;
		}
	}
	for (; optind < argc; optind++)
		if (nargs++ == 0)
			origmnt = argv[optind];
	if (lazy && !unmount) {
		fm_err("-z can only be used with -u");
		return 1;
	}
	if (origmnt == NULL) {
		fm_err("missing mountpoint argument");
		return 1;
	}
	if (nargs > 1) {
		fm_err("extra arguments after the mountpoint");
		return 1;
	}
	if (sync_init && !unmount) {
		fm_err("--sync-init is not supported by the perfuse stand-in");
		return 1;
	}

	if (unmount && !watch_only) {
		mnt = resolve_loose(origmnt);
		if (mnt == NULL) {
			if (!quiet)
				fm_err("bad mount point %s: %s", origmnt, strerror(errno));
			return 1;
		}
		if (asprintf(&pollhack_path, "%s/" POLLHACK_NAME, mnt) >= 0) {
			/* A leftover of ours (see pollhack_create) must not stay. */
			pollhack_unlink(pollhack_path, 0, 0);
			free(pollhack_path);
			pollhack_path = NULL;
		}
		if (perfuse_unmount(mnt, lazy ? MNT_DETACH : 0) < 0) {
			if (!quiet) {
				if (errno == EINVAL)
					fm_err("entry for %s not found", mnt);
				else
					fm_err("failed to unmount %s: %s", mnt,
					    strerror(errno));
			}
			free(mnt);
			return 1;
		}
		free(mnt);
		return 0;
	}

	mnt = watch_only ? resolve_loose(origmnt) : realpath(origmnt, NULL);
	if (mnt == NULL) {
		fm_err("failed to access mountpoint %s: %s", origmnt,
		    strerror(errno));
		return 1;
	}
	cfd = comm_fd(commarg);
	if (cfd < 0) {
		free(mnt);
		return 1;
	}
	if (watch_only) {
		wait_then_unmount(cfd, mnt);
		free(mnt);
		return 0;
	}

	fd = do_mount(mnt, opts != NULL ? opts : "", &mp);
	if (fd < 0) {
		free_mount_params(&mp);
		free(mnt);
		return 1;
	}
	pollhack_create(mnt, cfd);
	if (send_fd(cfd, fd) < 0) {
		close(fd);
		pollhack_abort();
		perfuse_unmount(mnt, MNT_DETACH);
		free_mount_params(&mp);
		free(mnt);
		return 1;
	}
	/* Ours must not keep the connection alive once the library is done. */
	close(fd);
	pollhack_handoff();
	if (mp.auto_unmount)
		wait_then_unmount(cfd, mnt);
	free_mount_params(&mp);
	free(mnt);
	return 0;
}
