/*
 * spawn.c - starting a filesystem with a socket as its /dev/fuse.
 *
 * libfuse3 (3.3 and later) accepts a mountpoint of the form /dev/fd/N:
 * N is then an already open FUSE device and no mount(2) is attempted.  We
 * give it one end of a SOCK_SEQPACKET socketpair as fd 3 and replace the
 * filesystem's mountpoint argument with "/dev/fd/3".
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsprog.h"
#include "perfused.h"
#include "sock.h"

#define FS_FD 3

extern char **environ;

int
spawn_find_mountpoint(char **argv)
{
	return pf_fs_mountpoint(argv);
}

char *
spawn_join(char **argv)
{
	size_t len = 1, i;
	char *s;

	for (i = 0; argv[i] != NULL; i++)
		len += strlen(argv[i]) + 1;
	s = calloc(1, len);
	if (s == NULL)
		return NULL;
	for (i = 0; argv[i] != NULL; i++) {
		if (i > 0)
			strcat(s, " ");
		strcat(s, argv[i]);
	}
	return s;
}

/* Make path absolute against cwd and resolve ".", ".." and "//" textually. */
char *
spawn_abspath(const char *cwd, const char *path)
{
	size_t len = strlen(cwd) + strlen(path) + 3;
	char *joined = malloc(len), *out = malloc(len), *tok, *save = NULL;
	size_t o = 0;

	if (joined == NULL || out == NULL) {
		free(joined);
		free(out);
		return NULL;
	}
	if (path[0] == '/')
		snprintf(joined, len, "%s", path);
	else
		snprintf(joined, len, "%s/%s", cwd, path);
	for (tok = strtok_r(joined, "/", &save); tok != NULL;
	    tok = strtok_r(NULL, "/", &save)) {
		if (strcmp(tok, ".") == 0)
			continue;
		if (strcmp(tok, "..") == 0) {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
			continue;
		}
		out[o++] = '/';
		memcpy(out + o, tok, strlen(tok));
		o += strlen(tok);
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
	free(joined);
	return out;
}

/* In the child: become the mount's owner when perfused runs as root. */
static int
drop_privileges(const struct spawn *s)
{
	if (geteuid() != 0 || s->uid == 0)
		return 0;
	if (setgroups(0, NULL) < 0 || setgid(s->gid) < 0 || setuid(s->uid) < 0)
		return -1;
	return 0;
}

/* The descriptor limit perfused was started with (spawn_raise_nofile). */
static struct rlimit nofile_at_start;
static int nofile_raised;

/*
 * perfused holds a descriptor per client: take the whole hard limit of
 * descriptors, not the soft one (often 1024).  Its children get the
 * limit back as it was (spawn_reset_child): a program built with
 * select(2) may not cope with descriptors past 1023.
 */
void
spawn_raise_nofile(void)
{
	struct rlimit r;

	if (getrlimit(RLIMIT_NOFILE, &r) < 0 || r.rlim_cur >= r.rlim_max)
		return;
	nofile_at_start = r;
	r.rlim_cur = r.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &r) == 0)
		nofile_raised = 1;
}

/*
 * In a child before exec: perfused blocks the signals it reads from a
 * signalfd, ignores SIGPIPE and raised its descriptor limit; none of it
 * is for the program it runs.
 */
void
spawn_reset_child(void)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	if (nofile_raised)
		setrlimit(RLIMIT_NOFILE, &nofile_at_start);
}

static void
child(const struct spawn *s, int srv, int errw)
{
	char fdarg[32];
	int nul = open("/dev/null", O_RDONLY);

	spawn_reset_child();
	setsid();
	if (nul < 0 || dup2(nul, 0) < 0 || dup2(errw, 1) < 0 || dup2(errw, 2) < 0 ||
	    (srv >= 0 && dup2(srv, FS_FD) < 0))
		_exit(126);
	if (drop_privileges(s) < 0) {
		fprintf(stderr, "perfused: cannot switch to uid %u: %s\n",
		    (unsigned)s->uid, strerror(errno));
		_exit(126);
	}
	if (chdir(s->cwd) < 0) {
		fprintf(stderr, "perfused: %s: %s\n", s->cwd, strerror(errno));
		_exit(126);
	}
	if (srv >= 0) {
		snprintf(fdarg, sizeof(fdarg), "/dev/fd/%d", FS_FD);
		s->argv[s->mp_index] = fdarg;
	}
	environ = s->envp;
	execvp(s->argv[0], s->argv);
	fprintf(stderr, "%s: %s\n", s->argv[0], strerror(errno));
	_exit(127);
}

/* Start a filesystem that will find perfused by itself (preload, fusermount). */
static int
spawn_plain(const struct spawn *s, int *err_fd, pid_t *pidp)
{
	int ep[2];
	pid_t pid;

	if (pipe2(ep, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int e = errno;

		close(ep[0]);
		close(ep[1]);
		return -e;
	}
	if (pid == 0)
		child(s, -1, ep[1]);
	close(ep[1]);
	fcntl(ep[0], F_SETFL, O_NONBLOCK);
	*err_fd = ep[0];
	*pidp = pid;
	return 0;
}

/*
 * The client's environment with some variables replaced: each entry of
 * set is "NAME=value" and drops any NAME= of env.  Returns a malloc'ed
 * array whose strings belong to env and set.
 */
char **
spawn_env(char **env, char **set)
{
	size_t n = 0, k = 0, o, i, j;
	char **out;

	while (env[n] != NULL)
		n++;
	while (set[k] != NULL)
		k++;
	out = calloc(n + k + 1, sizeof(*out));
	if (out == NULL)
		return NULL;
	for (o = 0; o < k; o++)
		out[o] = set[o];
	for (i = 0; i < n; i++) {
		int replaced = 0;

		for (j = 0; j < k && !replaced; j++) {
			size_t l = strcspn(set[j], "=") + 1;

			replaced = strncmp(env[i], set[j], l) == 0;
		}
		if (!replaced)
			out[o++] = env[i];
	}
	return out;
}

/* The value of NAME in env, or NULL. */
const char *
spawn_getenv(char **env, const char *name)
{
	size_t l = strlen(name);

	for (; *env != NULL; env++)
		if (strncmp(*env, name, l) == 0 && (*env)[l] == '=')
			return *env + l + 1;
	return NULL;
}

int
spawn_links_libfuse3(const char *argv0, const char *path)
{
	return pf_links_libfuse3(argv0, path);
}

int
spawn_fs(const struct spawn *s, int *srv_fd, int *err_fd, pid_t *pidp,
    unsigned long *fs_ino)
{
	struct stat st;
	int sv[2] = { -1, -1 }, ep[2];
	pid_t pid;

	*srv_fd = -1;
	*fs_ino = 0;
	if (!s->use_fd)
		return spawn_plain(s, err_fd, pidp);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	if (pipe2(ep, O_CLOEXEC) < 0) {
		int e = errno;

		close(sv[0]);
		close(sv[1]);
		return -e;
	}
	pf_sock_setbuf(sv[0], PF_MAX_MAX_PAGES * 4096);
	pf_sock_setbuf(sv[1], PF_MAX_MAX_PAGES * 4096);
	*fs_ino = fstat(sv[1], &st) == 0 ? (unsigned long)st.st_ino : 0;
	pid = fork();
	if (pid < 0) {
		int e = errno;

		close(sv[0]);
		close(sv[1]);
		close(ep[0]);
		close(ep[1]);
		return -e;
	}
	if (pid == 0)
		child(s, sv[1], ep[1]);
	close(sv[1]);
	close(ep[1]);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(ep[0], F_SETFL, O_NONBLOCK);
	*srv_fd = sv[0];
	*err_fd = ep[0];
	*pidp = pid;
	return 0;
}

/*
 * The process holding the filesystem's end of the socketpair (inode ino),
 * after the one we started daemonized.  Scans /proc; 0 when none is found.
 */
pid_t
spawn_socket_owner(unsigned long ino, pid_t not_pid)
{
	char want[64], path[300], link[64];
	struct dirent *de;
	DIR *proc;
	pid_t found = 0;

	proc = opendir("/proc");
	if (proc == NULL)
		return 0;
	snprintf(want, sizeof(want), "socket:[%lu]", ino);
	while (found == 0 && (de = readdir(proc)) != NULL) {
		struct dirent *fe;
		DIR *fds;
		pid_t pid = (pid_t)atoi(de->d_name);

		if (pid <= 0 || pid == getpid() || pid == not_pid)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
		fds = opendir(path);
		if (fds == NULL)
			continue;
		while ((fe = readdir(fds)) != NULL) {
			ssize_t n;

			snprintf(path, sizeof(path), "/proc/%d/fd/%s", (int)pid, fe->d_name);
			n = readlink(path, link, sizeof(link) - 1);
			if (n <= 0)
				continue;
			link[n] = '\0';
			if (strcmp(link, want) == 0) {
				found = pid;
				break;
			}
		}
		closedir(fds);
	}
	closedir(proc);
	return found;
}
