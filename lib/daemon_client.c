/*
 * daemon_client.c - talking to perfused: finding or starting it, mounts,
 * the mount list, and attaching a session to a mount.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "daemon.h"
#include "log.h"
#include "session.h"

int
perfuse_default_socket(char *buf, size_t size)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	int n;

	if (geteuid() == 0)
		n = snprintf(buf, size, "/run/perfuse/perfused.sock");
	else if (xdg != NULL && xdg[0] == '/')
		n = snprintf(buf, size, "%s/perfuse/perfused.sock", xdg);
	else
		n = snprintf(buf, size, "/tmp/perfuse-%u/perfused.sock",
		    (unsigned)geteuid());
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int
pf_socket_path(const char *sockpath, char *buf, size_t size)
{
	if (sockpath == NULL)
		sockpath = getenv("PERFUSE_SOCKET");
	if (sockpath == NULL || *sockpath == '\0')
		return perfuse_default_socket(buf, size);
	if (strlen(sockpath) >= size)
		return -ENAMETOOLONG;
	strcpy(buf, sockpath);
	return 0;
}

/* Connect to perfused; -ECONNREFUSED when none answers. */
int
pf_ctl_connect(const char *sockpath)
{
	struct sockaddr_un sa;
	char path[sizeof(sa.sun_path)];
	int fd, err = pf_socket_path(sockpath, path, sizeof(path));

	if (err != 0)
		return err;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	strcpy(sa.sun_path, path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = errno;
		close(fd);
		return err == ENOENT || err == ECONNREFUSED ? -ECONNREFUSED : -err;
	}
	return fd;
}

/*
 * One request, one REPLY.  The reply's first string goes to first when it
 * has two or more, its last to msg; with three, msg gets the middle one
 * (a filesystem's stderr) followed by the last (the reason).
 */
static int
ctl_exchange(int fd, uint32_t type, const char *const *strs, uint32_t n,
    char *first, size_t firstsize, char *msg, size_t msgsize)
{
	const char *rs[4];
	struct pf_ctl_hdr h;
	char *buf = malloc(PF_CTL_MAX);
	int err, nr;

	if (buf == NULL)
		return -ENOMEM;
	err = pf_ctl_send(fd, type, 0, strs, n);
	if (err == 0) {
		nr = pf_ctl_recv(fd, buf, &h, rs, 4);
		if (nr < 0)
			err = nr == -ECONNRESET ? -ECONNABORTED : nr;
		else if (h.type != PF_CTL_REPLY)
			err = -EPROTO;
		else
			err = h.error;
		if (nr >= 2 && first != NULL && firstsize > 0)
			snprintf(first, firstsize, "%s", rs[0]);
		if (nr == 3 && msg != NULL && msgsize > 0 && rs[1][0] != '\0')
			snprintf(msg, msgsize, "%s%s%s", rs[1],
			    rs[1][strlen(rs[1]) - 1] == '\n' ? "" : "\n", rs[2]);
		else if (nr >= 1 && msg != NULL && msgsize > 0)
			snprintf(msg, msgsize, "%s", rs[nr - 1]);
	}
	free(buf);
	return err;
}

/*
 * The perfused to start: $PERFUSED, else beside this program (a build
 * tree) or in ../sbin (an installed bin/), else where make install put
 * it, else "perfused" on PATH.
 */
void
pf_perfused_program(char *buf, size_t size)
{
	static const char *const beside[] = { "/perfused", "/../sbin/perfused" };
	const char *env = getenv("PERFUSED");
	char self[PATH_MAX];
	ssize_t n;
	size_t i;

	if (env != NULL && *env != '\0') {
		snprintf(buf, size, "%s", env);
		return;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		char *slash;

		self[n] = '\0';
		slash = strrchr(self, '/');
		for (i = 0; slash != NULL && i < 2; i++) {
			size_t dl = (size_t)(slash - self), sl = strlen(beside[i]);

			if (dl + sl >= size)
				continue;
			memcpy(buf, self, dl);
			memcpy(buf + dl, beside[i], sl + 1);
			if (access(buf, X_OK) == 0)
				return;
		}
	}
	snprintf(buf, size, "%s", access(PERFUSED_PATH, X_OK) == 0 ? PERFUSED_PATH :
	    "perfused");
}

/* Start a perfused in the background; it daemonizes once it listens. */
static int
start_perfused(const char *path)
{
	char prog[PATH_MAX];
	pid_t pid;
	int status;

	pf_perfused_program(prog, sizeof(prog));
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int nul = open("/dev/null", O_RDWR);

		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
			if (nul > 2)
				close(nul);
		}
		execlp(prog, "perfused", "-s", path, (char *)NULL);
		fprintf(stderr, "perfuse: %s: %s\n", prog, strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -ECONNREFUSED;
	return 0;
}

int
perfuse_daemon_ensure(const char *sockpath)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int fd, err, tries;

	fd = pf_ctl_connect(sockpath);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (fd != -ECONNREFUSED)
		return fd;
	err = pf_socket_path(sockpath, path, sizeof(path));
	if (err == 0)
		err = start_perfused(path);
	if (err != 0)
		return err;
	/* It daemonized after listening; another racing start may still be on. */
	for (tries = 0; tries < 100; tries++) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };

		fd = pf_ctl_connect(sockpath);
		if (fd >= 0) {
			close(fd);
			return 0;
		}
		nanosleep(&ts, NULL);
	}
	return -ECONNREFUSED;
}

int
perfuse_daemon_mount(const char *sockpath, char *const argv[], const char *opts,
    const char *cwd, char *const envp[], char *target, size_t targetsize,
    char *errbuf, size_t errsize)
{
	const char **strs;
	char argcbuf[24];
	size_t argc = 0, envc = 0, i, n = 0;
	int fd, err;

	if (errbuf && errsize)
		errbuf[0] = '\0';
	if (argv == NULL || argv[0] == NULL)
		return -EINVAL;
	while (argv[argc] != NULL)
		argc++;
	while (envp != NULL && envp[envc] != NULL)
		envc++;
	if (argc + envc + 3 > PF_CTL_MAXSTR)
		return -E2BIG;
	err = perfuse_daemon_ensure(sockpath);
	if (err != 0)
		return err;
	fd = pf_ctl_connect(sockpath);
	if (fd < 0)
		return fd;
	strs = calloc(argc + envc + 3, sizeof(*strs));
	if (strs == NULL) {
		close(fd);
		return -ENOMEM;
	}
	snprintf(argcbuf, sizeof(argcbuf), "%zu", argc);
	strs[n++] = opts ? opts : "";
	strs[n++] = cwd ? cwd : "/";
	strs[n++] = argcbuf;
	for (i = 0; i < argc; i++)
		strs[n++] = argv[i];
	for (i = 0; i < envc; i++)
		strs[n++] = envp[i];
	err = ctl_exchange(fd, PF_CTL_MOUNT, strs, (uint32_t)n, target, targetsize,
	    errbuf, errsize);
	if (err == -EMSGSIZE)
		err = -E2BIG;
	free(strs);
	close(fd);
	return err;
}

int
perfuse_daemon_umount(const char *sockpath, const char *target)
{
	const char *strs[1] = { target };
	int fd = pf_ctl_connect(sockpath), err;

	if (fd == -ECONNREFUSED)
		return -EINVAL; /* no perfused: nothing is mounted */
	if (fd < 0)
		return fd;
	err = ctl_exchange(fd, PF_CTL_UMOUNT, strs, 1, NULL, 0, NULL, 0);
	close(fd);
	return err;
}

static void
fill_info(struct perfuse_mount_info *m, const char **rs)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->target, sizeof(m->target), "%s", rs[0]);
	snprintf(m->command, sizeof(m->command), "%s", rs[1]);
	m->pid = strtol(rs[2], NULL, 10);
	m->minor = (unsigned)strtoul(rs[3], NULL, 10);
	m->uid = (unsigned)strtoul(rs[4], NULL, 10);
	m->clients = (unsigned)strtoul(rs[5], NULL, 10);
}

int
perfuse_daemon_list(const char *sockpath, struct perfuse_mount_info **out, size_t *np)
{
	struct perfuse_mount_info *v = NULL;
	struct pf_ctl_hdr h;
	const char *rs[8];
	size_t n = 0;
	char *buf;
	int fd, err, nr;

	*out = NULL;
	*np = 0;
	fd = pf_ctl_connect(sockpath);
	if (fd == -ECONNREFUSED)
		return 0;
	if (fd < 0)
		return fd;
	buf = malloc(PF_CTL_MAX);
	err = buf ? pf_ctl_send(fd, PF_CTL_LIST, 0, NULL, 0) : -ENOMEM;
	while (err == 0) {
		nr = pf_ctl_recv(fd, buf, &h, rs, 8);
		if (nr < 0) {
			err = nr;
			break;
		}
		if (h.type == PF_CTL_END) {
			err = h.error;
			break;
		}
		if (h.type != PF_CTL_ENTRY || nr != 6) {
			err = -EPROTO;
			break;
		}
		struct perfuse_mount_info *nv = realloc(v, (n + 1) * sizeof(*v));
		if (nv == NULL) {
			err = -ENOMEM;
			break;
		}
		v = nv;
		fill_info(&v[n++], rs);
	}
	free(buf);
	close(fd);
	if (err != 0) {
		free(v);
		return err;
	}
	*out = v;
	*np = n;
	return 0;
}

int
perfuse_connect(const char *sockpath, const char *target, perfuse_conn **out)
{
	const char *strs[1] = { target };
	int fd, err;

	*out = NULL;
	fd = pf_ctl_connect(sockpath);
	if (fd < 0)
		return fd;
	err = ctl_exchange(fd, PF_CTL_ATTACH, strs, 1, NULL, 0, NULL, 0);
	if (err != 0) {
		close(fd);
		return err;
	}
	return perfuse_conn_fd(fd, target, 0, out);
}
