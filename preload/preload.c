/*
 * preload.c - libperfuse_preload.so: run an unmodified libfuse2 or libfuse3
 * filesystem against perfused, with no /dev/fuse and no privileges.
 *
 *   LD_PRELOAD=libperfuse_preload.so [PERFUSE_SOCKET=...] bindfs SRC MNT
 *
 * What libfuse does on its way to a mount (fuse_mount_sys() in lib/mount.c,
 * libfuse 2.9.9 and 3.14 alike), and what this library does about it:
 *
 *  1. stat(mountpoint): untouched.  The mountpoint must exist as a local
 *     directory (libfuse's fuse_parse_cmdline() realpath()s it too), even
 *     though nothing is mounted on it.  libfuse2 also insists that it is
 *     empty unless "-o nonempty" is given (fuse_mnt_check_empty()).
 *  2. open("/dev/fuse", O_RDWR [| O_CLOEXEC]) through open64: here it
 *     becomes perfuse_open(), a SOCK_SEQPACKET socket to perfused
 *     ($PERFUSE_SOCKET or the default; a private "perfused -i" when none
 *     runs).  The socket is remembered (fd, st_dev, st_ino) as ours.
 *     Every other path goes to the real function untouched.
 *  3. mount(source, mnt, "fuse[blk][.subtype]", flags,
 *     "...,fd=N,rootmode=...,user_id=...,group_id=..."): when N is one of
 *     our sockets it becomes perfuse_mount(), which sends perfused the
 *     mount frame on that socket and waits for its answer; the target is
 *     remembered as ours.  EPERM from perfused is reported as EACCES: on
 *     EPERM libfuse would fall back to the setuid fusermount, which would
 *     mount on the kernel behind perfused's back (or fail confusingly).
 *  4. As root only: fuse_mnt_add_mount() records the mount in /etc/mtab,
 *     but only when /etc/mtab is a regular writable file; on Debian it is
 *     a symlink to /proc/self/mounts, so nothing happens.  Where it is a
 *     real file, libfuse would run "/bin/mount -i -f" and a failure there
 *     makes it lazily umount2() the mountpoint, which comes here (5).
 *  5. Unmounting (fuse_kern_unmount()): poll() and close() the fd (fine
 *     on a socket: the POLLERR check simply does not fire), then
 *     umount2(mnt, MNT_DETACH) (as root through fuse_mnt_umount(), the
 *     same call when /etc/mtab is a symlink).  For one of our mounts that
 *     becomes perfuse_unmount(); EINVAL from it means the mount already
 *     ended (the filesystem closed its socket first, or perfused ended the
 *     mount), which is success here.  Were umount2() to fail, libfuse
 *     would exec "fusermount -u -q -z", which knows nothing of perfuse.
 *  6. The kernel ends a mount by failing the server's read() of /dev/fuse
 *     with ENODEV, which libfuse takes as a clean end of the session; a
 *     socket whose peer has gone reads 0 instead, which libfuse reports as
 *     "short read on fuse device" and an error exit.  So read() is
 *     interposed too: end of file on one of our sockets becomes ENODEV.
 *     Other reads pay one indirect call; reads returning 0 elsewhere a
 *     table look-up.
 *  7. libfuse3's multi-threaded loop with clone_fd opens "/dev/fuse" once
 *     more per worker and ioctl(FUSE_DEV_IOC_CLONE, &masterfd) on it.  On
 *     a socket that fails with ENOTTY ("fuse: failed to clone device fd",
 *     then it goes on without clone_fd).  Here the ioctl, on one of our
 *     sockets naming another of ours, dup3()s the master onto the clone's
 *     fd: every worker then reads the one socket, each read one whole
 *     request, which is what a clone amounts to over a socket.  (The
 *     clone's own fresh connection to perfused is closed by the dup3.)
 *
 * Not handled, because libfuse 2.9.9 / 3.14 do not need it here:
 *  - the new mount API (fsopen/fsconfig/fsmount/move_mount): neither
 *    library imports it (3.14 has no such code; later ones use it only
 *    from fusermount3 --sync-init);
 *  - fuse_mnt_check_fuseblk() reads /proc/filesystems only to explain a
 *    failed "fuseblk" mount with ENODEV, which perfused does not return;
 *  - access()/stat() of /dev/fuse: libfuse does not look before opening;
 *  - close() of our socket: fine as is (the table entry goes stale and is
 *    recognised as such by its st_dev/st_ino);
 *  - "-o auto_unmount": libfuse then skips open/mount and runs fusermount
 *    (libfuse2) or fusermount3 with _FUSE_COMMFD.  LD_PRELOAD reaches it
 *    only when it runs without its setuid privilege (under no_new_privs,
 *    as in tests/nsrun.sh): its own open/mount then come here and it hands
 *    our socket over by SCM_RIGHTS, which works (its mount table, not the
 *    filesystem's, then knows the mount).  Run setuid, it ignores
 *    LD_PRELOAD and mounts on the kernel; perfused's fusermount stand-ins
 *    are the answer there;
 *  - splice: libfuse splices only when INIT granted FUSE_SPLICE_*, which
 *    perfused does not;
 *  - SIGPIPE from writing replies to a socket whose peer has gone: libfuse's
 *    fuse_set_signal_handlers() (fuse_main() and most filesystems) ignores
 *    SIGPIPE, and the write then fails with EPIPE.
 *
 * Only the interposed functions are exported (preload.map); libperfuse is
 * linked in statically and hidden, so it cannot clash with anything the
 * filesystem carries.  Nothing is printed on success; errors go through
 * libperfuse's log (stderr, "perfuse: ...").
 */

/*
 * We define open() and open64() ourselves: no redirection of open to
 * open64 (meson's -D_FILE_OFFSET_BITS=64) and no fortify wrappers.
 */
#undef _FILE_OFFSET_BITS
#undef _FORTIFY_SOURCE

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "frame.h"
#include "log.h"
#include "perfuse.h"

#define FUSE_DEVICE "/dev/fuse"
#define MAX_SOCKS 256
/* <linux/fuse.h>'s FUSE_DEV_IOC_CLONE, without the rest of that header. */
#define PF_FUSE_DEV_IOC_CLONE _IOR(229, 0, uint32_t)

/* glibc's fortified entry points; <fcntl.h> declares them only under
 * _FORTIFY_SOURCE. */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);

/* Does open(2) read a mode argument for these flags? */
#ifdef O_TMPFILE
#define NEEDS_MODE(f) (((f) & O_CREAT) != 0 || ((f) & O_TMPFILE) == O_TMPFILE)
#else
#define NEEDS_MODE(f) (((f) & O_CREAT) != 0)
#endif

/* ------------------------------------------------------------------ */
/* The real functions                                                   */

static void *
real_sym(void **slot, const char *name)
{
	void *p = __atomic_load_n(slot, __ATOMIC_ACQUIRE);

	if (p == NULL) {
		p = dlsym(RTLD_NEXT, name);
		if (p == NULL)
			pf_err("preload: no %s after us: %s", name, dlerror());
		else
			__atomic_store_n(slot, p, __ATOMIC_RELEASE);
	}
	return p;
}

#define REAL_DECL(name) static void *real_##name
#define REAL(name) ((__typeof__(&name))real_sym(&real_##name, #name))

REAL_DECL(open);
REAL_DECL(open64);
REAL_DECL(openat);
REAL_DECL(openat64);
REAL_DECL(__open_2);
REAL_DECL(__open64_2);
REAL_DECL(__openat_2);
REAL_DECL(__openat64_2);
REAL_DECL(mount);
REAL_DECL(umount);
REAL_DECL(umount2);
REAL_DECL(read);
REAL_DECL(ioctl);
REAL_DECL(execv);
REAL_DECL(execvp);

/* A missing real function (cannot happen with glibc): fail like a stub. */
#define CALL_REAL(ret, name, ...) do {                                  \
	__typeof__(&name) fn_ = REAL(name);                             \
	if (fn_ == NULL) {                                              \
		errno = ENOSYS;                                         \
		return (ret);                                           \
	}                                                               \
	return fn_(__VA_ARGS__);                                        \
} while (0)

/* ------------------------------------------------------------------ */
/* Our sockets and our mounts                                           */

struct sock_ent {
	int fd;          /* -1: free */
	dev_t dev;       /* identity of the socket, so that a closed and */
	ino_t ino;       /* reused fd number is not taken for ours */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct sock_ent socks[MAX_SOCKS];
static int nsocks;           /* slots in use (stale ones included) */
static char **mounts;        /* absolute targets, textually normalized */
static size_t nmounts, mountcap;

static void
lock_prepare(void)
{
	pthread_mutex_lock(&lock);
}

static void
lock_release(void)
{
	pthread_mutex_unlock(&lock);
}

/* A fork() in another thread must not leave the child with the lock held. */
__attribute__((constructor)) static void
preload_init(void)
{
	pthread_atfork(lock_prepare, lock_release, lock_release);
}

/* Is this slot still the socket it was when we recorded it?  Locked. */
static int
sock_live(const struct sock_ent *e)
{
	struct stat st;
	int saved = errno, live;

	live = e->fd >= 0 && fstat(e->fd, &st) == 0 && S_ISSOCK(st.st_mode) &&
	    st.st_dev == e->dev && st.st_ino == e->ino;
	errno = saved;
	return live;
}

static int
sock_add(int fd)
{
	struct stat st;
	int i, slot = -1;

	if (fstat(fd, &st) < 0)
		return -1;
	pthread_mutex_lock(&lock);
	for (i = 0; i < nsocks; i++)
		if (socks[i].fd == fd || (slot < 0 && socks[i].fd < 0))
			slot = i;
	/* Full: reuse a slot whose socket has been closed since. */
	for (i = 0; slot < 0 && i < nsocks; i++)
		if (!sock_live(&socks[i]))
			slot = i;
	if (slot < 0 && nsocks < MAX_SOCKS)
		slot = nsocks++;
	if (slot >= 0) {
		socks[slot].fd = fd;
		socks[slot].dev = st.st_dev;
		socks[slot].ino = st.st_ino;
	}
	pthread_mutex_unlock(&lock);
	if (slot < 0) {
		errno = EMFILE;
		return -1;
	}
	return 0;
}

static int
sock_is_ours(int fd)
{
	int i, ours = 0;

	if (fd < 0)
		return 0;
	pthread_mutex_lock(&lock);
	for (i = 0; i < nsocks; i++)
		if (socks[i].fd == fd) {
			ours = sock_live(&socks[i]);
			if (!ours)
				socks[i].fd = -1;
			break;
		}
	pthread_mutex_unlock(&lock);
	return ours;
}

/*
 * The absolute, textually normalized form of path (cwd + path, "." and
 * ".." and repeated or trailing slashes resolved), as perfused and the
 * perfuse command name mounts.  malloc'ed; NULL on failure (errno set).
 */
static char *
abs_path(const char *path)
{
	char cwd[PATH_MAX], *out, *o;
	const char *p;
	size_t len, n;

	cwd[0] = '\0';
	if (path[0] != '/' && getcwd(cwd, sizeof(cwd)) == NULL)
		return NULL;
	len = strlen(cwd) + strlen(path) + 3;
	out = malloc(len);
	if (out == NULL)
		return NULL;
	o = out;
	for (int pass = 0; pass < 2; pass++) {
		p = pass == 0 ? cwd : path;
		while (*p != '\0') {
			while (*p == '/')
				p++;
			n = strcspn(p, "/");
			if (n == 0 || (n == 1 && p[0] == '.')) {
				/* nothing */
			} else if (n == 2 && p[0] == '.' && p[1] == '.') {
				while (o > out && o[-1] != '/')
					o--;
				if (o > out)
					o--;
			} else {
				*o++ = '/';
				memcpy(o, p, n);
				o += n;
			}
			p += n;
		}
	}
	if (o == out)
		*o++ = '/';
	*o = '\0';
	return out;
}

static int
mount_add(char *target)
{
	char **m;
	size_t cap;

	pthread_mutex_lock(&lock);
	if (nmounts == mountcap) {
		cap = mountcap ? mountcap * 2 : 8;
		m = realloc(mounts, cap * sizeof(*m));
		if (m == NULL) {
			pthread_mutex_unlock(&lock);
			return -1;
		}
		mounts = m;
		mountcap = cap;
	}
	mounts[nmounts++] = target;
	pthread_mutex_unlock(&lock);
	return 0;
}

/* Forget target; 1 if it was ours. */
static int
mount_take(const char *target)
{
	size_t i;
	int found = 0;

	pthread_mutex_lock(&lock);
	for (i = 0; i < nmounts; i++)
		if (strcmp(mounts[i], target) == 0) {
			free(mounts[i]);
			mounts[i] = mounts[--nmounts];
			found = 1;
			break;
		}
	pthread_mutex_unlock(&lock);
	return found;
}

/* ------------------------------------------------------------------ */
/* open and friends                                                     */

static int
is_fuse_device(const char *path)
{
	return path != NULL && strcmp(path, FUSE_DEVICE) == 0;
}

/*
 * PERFUSE_ATTACH=fusermount (perfuse mount --attach=fusermount): take
 * libfuse down the road every unprivileged user's libfuse takes: the
 * device opens (here: /dev/null, never used), mount(2) fails with EPERM,
 * and libfuse runs fusermount3 with _FUSE_COMMFD, which perfused's
 * stand-in answers with a perfused socket.
 */
static int
fusermount_mode(void)
{
	const char *a = getenv("PERFUSE_ATTACH");

	return a != NULL && strcmp(a, "fusermount") == 0;
}

static int
fuse_open(const char *path, int flags, mode_t mode)
{
	int fd, err, fl;

	if (fusermount_mode()) {
		__typeof__(&open) open_fn = REAL(open);

		if (open_fn == NULL) {
			errno = ENOSYS;
			return -1;
		}
		return open_fn("/dev/null", flags & (O_RDWR | O_CLOEXEC | O_NONBLOCK));
	}

	fd = perfuse_open(path, flags, mode);
	if (fd < 0) {
		err = errno;
		pf_err("%s: cannot reach perfused: %s", path, strerror(err));
		errno = err;
		return -1;
	}
	if ((flags & O_NONBLOCK) != 0 && (fl = fcntl(fd, F_GETFL)) >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	if (sock_add(fd) < 0) {
		err = errno;
		pf_err("%s: too many perfuse sockets: %s", path, strerror(err));
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

static mode_t
va_mode(int flags, va_list ap)
{
	return NEEDS_MODE(flags) ? (mode_t)va_arg(ap, int) : 0;
}

int
open(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = va_mode(flags, ap);
	va_end(ap);
	if (is_fuse_device(path))
		return fuse_open(path, flags, mode);
	CALL_REAL(-1, open, path, flags, mode);
}

int
open64(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = va_mode(flags, ap);
	va_end(ap);
	if (is_fuse_device(path))
		return fuse_open(path, flags, mode);
	CALL_REAL(-1, open64, path, flags, mode);
}

/* An absolute path ignores dirfd, so "/dev/fuse" is the device whatever it is. */
int
openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = va_mode(flags, ap);
	va_end(ap);
	if (is_fuse_device(path))
		return fuse_open(path, flags, mode);
	CALL_REAL(-1, openat, dirfd, path, flags, mode);
}

int
openat64(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = va_mode(flags, ap);
	va_end(ap);
	if (is_fuse_device(path))
		return fuse_open(path, flags, mode);
	CALL_REAL(-1, openat64, dirfd, path, flags, mode);
}

int
__open_2(const char *path, int flags)
{
	if (is_fuse_device(path))
		return fuse_open(path, flags, 0);
	CALL_REAL(-1, __open_2, path, flags);
}

int
__open64_2(const char *path, int flags)
{
	if (is_fuse_device(path))
		return fuse_open(path, flags, 0);
	CALL_REAL(-1, __open64_2, path, flags);
}

int
__openat_2(int dirfd, const char *path, int flags)
{
	if (is_fuse_device(path))
		return fuse_open(path, flags, 0);
	CALL_REAL(-1, __openat_2, dirfd, path, flags);
}

int
__openat64_2(int dirfd, const char *path, int flags)
{
	if (is_fuse_device(path))
		return fuse_open(path, flags, 0);
	CALL_REAL(-1, __openat64_2, dirfd, path, flags);
}

/* ------------------------------------------------------------------ */
/* read: the end of a perfuse socket is the end of the mount            */

ssize_t
read(int fd, void *buf, size_t size)
{
	__typeof__(&read) fn = REAL(read);
	ssize_t n;

	if (fn == NULL) {
		errno = ENOSYS;
		return -1;
	}
	n = fn(fd, buf, size);
	if (n == 0 && size > 0 && __atomic_load_n(&nsocks, __ATOMIC_RELAXED) > 0 &&
	    sock_is_ours(fd)) {
		errno = ENODEV;  /* what the kernel says once unmounted */
		return -1;
	}
	return n;
}

/* ------------------------------------------------------------------ */
/* ioctl: FUSE_DEV_IOC_CLONE                                            */

/*
 * A master we did not open: an AF_UNIX socket that came another way (from
 * fusermount3 by SCM_RIGHTS with "-o auto_unmount", or as /dev/fd/N).
 * libfuse names only its session fd here, so it is a FUSE socket: take it
 * as ours, which also gives it the read() rule above.
 */
static int
adopt_socket(int fd)
{
	int domain = 0;
	socklen_t len = sizeof(domain);

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0 ||
	    domain != AF_UNIX)
		return 0;
	return sock_add(fd) == 0;
}

/* The request is unsigned long in glibc's prototype; one optional argument. */
int
ioctl(int fd, unsigned long request, ...)
{
	__typeof__(&ioctl) fn;
	va_list ap;
	void *arg;
	uint32_t master;
	int fl, cloexec;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (request == PF_FUSE_DEV_IOC_CLONE && arg != NULL &&
	    __atomic_load_n(&nsocks, __ATOMIC_RELAXED) > 0 && sock_is_ours(fd)) {
		memcpy(&master, arg, sizeof(master));
		if (master > INT_MAX || (int)master == fd ||
		    (!sock_is_ours((int)master) && !adopt_socket((int)master))) {
			errno = EINVAL;  /* as the kernel: not a FUSE device */
			return -1;
		}
		fl = fcntl(fd, F_GETFD);
		cloexec = fl >= 0 && (fl & FD_CLOEXEC) != 0;
		if (dup3((int)master, fd, cloexec ? O_CLOEXEC : 0) < 0)
			return -1;
		if (sock_add(fd) < 0)
			return -1;
		return 0;
	}
	fn = REAL(ioctl);
	if (fn == NULL) {
		errno = ENOSYS;
		return -1;
	}
	return fn(fd, request, arg);
}

/* ------------------------------------------------------------------ */
/* mount and umount                                                     */

/* The fd= of a FUSE mount's options, if it names one of our sockets. */
static int
our_mount_fd(const char *type, const void *data)
{
	char buf[16], *end;
	long fd;

	/* Only "fuse", "fuseblk", "fuse.sub", "fuseblk.sub": other types
	 * may carry binary data. */
	if (type == NULL || data == NULL || strncmp(type, "fuse", 4) != 0 ||
	    (type[4] != '\0' && type[4] != '.' && strncmp(type + 4, "blk", 3) != 0))
		return -1;
	if (pf_opt_value(data, "fd", buf, sizeof(buf)) == NULL)
		return -1;
	errno = 0;
	fd = strtol(buf, &end, 10);
	if (errno != 0 || *end != '\0' || end == buf || fd < 0 || fd > INT_MAX ||
	    !sock_is_ours((int)fd))
		return -1;
	return (int)fd;
}

int
mount(const char *source, const char *target, const char *type,
    unsigned long flags, const void *data)
{
	char *abs;
	int err;

	if (fusermount_mode() && type != NULL && strncmp(type, "fuse", 4) == 0 &&
	    data != NULL && strstr(data, "fd=") != NULL) {
		errno = EPERM;  /* as for any user: libfuse now runs fusermount */
		return -1;
	}
	if (target == NULL || our_mount_fd(type, data) < 0)
		CALL_REAL(-1, mount, source, target, type, flags, data);
	abs = abs_path(target);
	if (abs == NULL) {
		err = errno;
		pf_err("mount %s: %s", target, strerror(err));
		errno = err;
		return -1;
	}
	/* perfuse_mount() logs its own failures. */
	if (perfuse_mount(source, abs, type, flags, data) < 0) {
		err = errno == EPERM ? EACCES : errno;
		free(abs);
		errno = err;
		return -1;
	}
	if (mount_add(abs) < 0) {
		/* Cannot track it: undo rather than leave it unreachable. */
		pf_err("mount %s: out of memory", abs);
		perfuse_unmount(abs, 0);
		free(abs);
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

static int
our_umount(const char *abs, int flags)
{
	char *again;

	if (perfuse_unmount(abs, flags) == 0 || errno == EINVAL)
		return 0;  /* EINVAL: the mount had already ended */
	/* Still mounted: keep it ours, so that a retry comes back here. */
	again = strdup(abs);
	if (again != NULL) {
		int err = errno;

		if (mount_add(again) < 0)
			free(again);
		errno = err;
	}
	pf_err("umount %s: %s", abs, strerror(errno));
	return -1;
}

int
umount2(const char *target, int flags)
{
	char *abs = target != NULL ? abs_path(target) : NULL;
	int r, err;

	if (abs == NULL || !mount_take(abs)) {
		free(abs);
		CALL_REAL(-1, umount2, target, flags);
	}
	r = our_umount(abs, flags);
	err = errno;
	free(abs);
	errno = err;
	return r;
}

int
umount(const char *target)
{
	char *abs = target != NULL ? abs_path(target) : NULL;
	int r, err;

	if (abs == NULL || !mount_take(abs)) {
		free(abs);
		CALL_REAL(-1, umount, target);
	}
	r = our_umount(abs, 0);
	err = errno;
	free(abs);
	errno = err;
	return r;
}

/* ------------------------------------------------------------------ */
/* exec of fusermount                                                   */

/*
 * libfuse runs FUSERMOUNT_DIR/fusermount3 (/usr/bin) first and only then
 * looks on PATH, so perfused's stand-ins first on PATH are not enough: an
 * exec of anything called fusermount or fusermount3 goes to the stand-in
 * of that name in $PERFUSE_FUSERMOUNT_DIR when that is set.
 */
static const char *
fusermount_redirect(const char *path, char *buf, size_t size)
{
	const char *dir = getenv("PERFUSE_FUSERMOUNT_DIR");
	const char *base = path ? strrchr(path, '/') : NULL;

	base = base ? base + 1 : path;
	if (dir == NULL || *dir == '\0' || base == NULL ||
	    (strcmp(base, "fusermount") != 0 && strcmp(base, "fusermount3") != 0))
		return path;
	if ((size_t)snprintf(buf, size, "%s/%s", dir, base) >= size)
		return path;
	return buf;
}

int
execv(const char *path, char *const argv[])
{
	char buf[PATH_MAX];

	CALL_REAL(-1, execv, fusermount_redirect(path, buf, sizeof(buf)), argv);
}

int
execvp(const char *file, char *const argv[])
{
	char buf[PATH_MAX];

	CALL_REAL(-1, execvp, fusermount_redirect(file, buf, sizeof(buf)), argv);
}
