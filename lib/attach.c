/*
 * attach.c - the seed's API: how an unmodified filesystem's open of
 * /dev/fuse and its mount(2) reach perfused.
 *
 * perfuse_open("/dev/fuse") returns a SOCK_SEQPACKET socket connected to
 * perfused (a running one, or one started with -i on a socketpair).
 * perfuse_mount() then sends the mount frame on that socket and waits for
 * perfused's answer; after it, the socket carries FUSE like /dev/fuse.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl.h"
#include "daemon.h"
#include "frame.h"
#include "init.h"
#include "log.h"
#include "perfuse.h"
#include "sock.h"

#define FUSE_DEVICE "/dev/fuse"
#define ACK_TIMEOUT_MS (60 * 1000)

/*
 * Start "perfused -i FD" on our socketpair, detached from the caller.  A
 * close-on-exec pipe tells us whether the exec worked: it closes empty
 * when it did, and carries errno when it did not.
 */
static int
start_private_perfused(int fd)
{
	char prog[PATH_MAX], arg[16];
	int p[2], status, err = 0;
	pid_t pid;

	pf_perfused_program(prog, sizeof(prog));
	snprintf(arg, sizeof(arg), "%d", fd);
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		err = -errno;
		close(p[0]);
		close(p[1]);
		return err;
	}
	if (pid == 0) {
		/* Twice, so that perfused is nobody's child but init's. */
		if (fork() != 0)
			_exit(0);
		close(p[0]);
		setsid();
		fcntl(fd, F_SETFD, 0);
		execlp(prog, "perfused", "-i", arg, (char *)NULL);
		err = errno;
		(void)!write(p[1], &err, sizeof(err));
		_exit(127);
	}
	close(p[1]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (read(p[0], &err, sizeof(err)) == sizeof(err)) {
		pf_warn("cannot start %s: %s", prog, strerror(err));
		err = -err;
	} else {
		err = 0;
	}
	close(p[0]);
	return err;
}

static int
new_socket(int type, int cloexec)
{
	int s = socket(AF_UNIX, type | (cloexec ? SOCK_CLOEXEC : 0), 0);

	if (s >= 0)
		pf_sock_setbuf(s, PF_MAX_MAX_PAGES * 4096);
	return s;
}

static int
connect_perfused(int s)
{
	struct sockaddr_un sa;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (pf_socket_path(NULL, sa.sun_path, sizeof(sa.sun_path)) < 0)
		return -1;
	return connect(s, (struct sockaddr *)&sa, sizeof(sa));
}

int
perfuse_open(const char *path, int flags, mode_t mode)
{
	int type = SOCK_SEQPACKET, cloexec = (flags & O_CLOEXEC) != 0;
	int s, sv[2], err;

	if (strcmp(path, FUSE_DEVICE) != 0)
		return open(path, flags, mode);
	s = new_socket(type, cloexec);
	if (s < 0) {
		pf_warn("SEQPACKET local sockets unavailable, using less reliable "
		    "DGRAM sockets");
		type = SOCK_DGRAM;
	} else if (connect_perfused(s) == 0) {
		return s;
	} else {
		close(s);
	}
	if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	pf_sock_setbuf(sv[0], PF_MAX_MAX_PAGES * 4096);
	pf_sock_setbuf(sv[1], PF_MAX_MAX_PAGES * 4096);
	err = start_private_perfused(sv[1]);
	close(sv[1]);
	if (err < 0) {
		close(sv[0]);
		errno = -err;
		return -1;
	}
	if (!cloexec)
		fcntl(sv[0], F_SETFD, 0);
	return sv[0];
}

/* Wait for perfused's answer to the frame: one fuse_out_header. */
static int
wait_ack(int fd)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	struct fuse_ack { uint32_t len; int32_t error; uint64_t unique; } ack;
	ssize_t n;
	int r;

	do
		r = poll(&pfd, 1, ACK_TIMEOUT_MS);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return -ETIMEDOUT;
	do
		n = recv(fd, &ack, sizeof(ack), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n != sizeof(ack) || ack.len != sizeof(ack) || ack.unique != (uint64_t)-1)
		return -EPROTO;
	return ack.error > 0 || ack.error < -4095 ? -EPROTO : ack.error;
}

int
perfuse_mount(const char *source, const char *target, const char *filesystemtype,
    unsigned long mountflags, const void *data)
{
	const char *opts = data, *token = getenv("PERFUSE_MOUNT_TOKEN");
	char fdbuf[16], *fulldata = NULL, *frame = NULL, *end;
	struct pf_frame f;
	struct stat st;
	long fd, len;
	int err;

	if (opts == NULL || pf_opt_value(opts, "fd", fdbuf, sizeof(fdbuf)) == NULL) {
		pf_warn("perfuse_mount: %s: no fd= in the mount options", target);
		errno = EINVAL;
		return -1;
	}
	fd = strtol(fdbuf, &end, 10);
	if (*end != '\0' || fd < 0 || fd > INT_MAX || fstat((int)fd, &st) < 0 ||
	    !S_ISSOCK(st.st_mode)) {
		pf_warn("perfuse_mount: %s: fd=%s is not a perfuse socket", target, fdbuf);
		errno = EINVAL;
		return -1;
	}
	/*
	 * Tell perfused which socket is ours, so that it can find the process
	 * serving the mount after it daemonizes, and carry back the token of
	 * a filesystem that perfused started.
	 */
	if (asprintf(&fulldata, "%s,perfuse_ino=%lu%s%s", opts, (unsigned long)st.st_ino,
	    token ? ",perfuse_token=" : "", token ? token : "") < 0)
		fulldata = NULL;
	memset(&f, 0, sizeof(f));
	f.source = source;
	f.target = target;
	f.fstype = filesystemtype;
	f.data = fulldata ? fulldata : opts;
	f.mountflags = (uint32_t)mountflags;
	frame = malloc(PF_FRAME_MAX);
	len = frame ? pf_frame_encode(frame, PF_FRAME_MAX, &f) : -ENOMEM;
	err = len < 0 ? (int)len : 0;
	if (err == 0 && send((int)fd, frame, (size_t)len, MSG_NOSIGNAL) != len)
		err = -errno;
	if (err == 0)
		err = wait_ack((int)fd);
	free(frame);
	free(fulldata);
	if (err != 0) {
		pf_warn("perfuse_mount: %s: %s", target, strerror(-err));
		errno = -err;
		return -1;
	}
	return 0;
}

int
perfuse_unmount(const char *target, int flags)
{
	char buf[PF_CTL_MAX];
	const char *strs[1] = { target }, *rs[2];
	struct pf_ctl_hdr h;
	int fd, err, n;

	(void)flags;
	fd = pf_ctl_connect(NULL);
	if (fd < 0) {
		errno = EINVAL;  /* no perfused: nothing of ours is mounted there */
		return -1;
	}
	err = pf_ctl_send(fd, PF_CTL_DETACH, 0, strs, 1);
	if (err == 0) {
		n = pf_ctl_recv(fd, buf, &h, rs, 2);
		err = n < 0 ? n : h.error;
	}
	close(fd);
	if (err != 0) {
		errno = err == -ENOENT ? EINVAL : -err;
		return -1;
	}
	return 0;
}
