/*
 * kernel.c - the kernel front-end: the Linux kernel's FUSE as one more
 * client of a mount.
 *
 * Once the filesystem answered INIT, perfused opens /dev/fuse and mounts
 * the target (as root with mount(2), otherwise through the system's
 * setuid fusermount3 and its _FUSE_COMMFD hand-off).  The kernel then
 * sends INIT and requests on that descriptor; perfused reads them like a
 * client connection's and relays them (mux.c), keeping the credentials
 * the kernel put in each request.
 *
 * Notifications to the kernel go through one writer thread: a write of
 * NOTIFY_INVAL_ENTRY waits for the directory's lock in the kernel, whose
 * holder may be waiting for a reply only the event loop can deliver.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "perfused.h"

#define FUSERMOUNT3 "/usr/bin/fusermount3"

/* ------------------------------------------------------------------ */
/* The notification writer.                                              */

struct note {
	struct note *next;
	int fd;              /* a dup of the kernel's /dev/fuse, ours to close */
	uint64_t ticket;     /* told to the event loop once written */
	size_t len;
	char data[];
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	struct note *head, *tail;
	pthread_t thread;
	int started;
	int quit;
	int done_fd;         /* the event loop hears written tickets here */
	uint64_t next_ticket;
} writer = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL,
	0, 0, 0, -1, 1 };

void
kernel_set_done_fd(int fd)
{
	writer.done_fd = fd;
}

static void *
writer_main(void *arg)
{
	(void)arg;
	for (;;) {
		struct note *n;

		pthread_mutex_lock(&writer.lock);
		while (writer.head == NULL && !writer.quit)
			pthread_cond_wait(&writer.cv, &writer.lock);
		if (writer.head == NULL) {
			pthread_mutex_unlock(&writer.lock);
			return NULL;
		}
		n = writer.head;
		writer.head = n->next;
		if (writer.head == NULL)
			writer.tail = NULL;
		pthread_mutex_unlock(&writer.lock);
		/* ENOENT: the kernel does not know the node; nothing to do. */
		if (n->len > 0)
			(void)!write(n->fd, n->data, n->len);
		close(n->fd);
		if (writer.done_fd >= 0)
			(void)!write(writer.done_fd, &n->ticket, sizeof(n->ticket));
		free(n);
	}
	return NULL;
}

/*
 * Queue a notification (a whole FUSE message with unique 0) for the
 * kernel.  Returns its ticket, which the event loop hears once it is
 * written, or 0 when nothing was queued.
 */
static uint64_t kernel_notify_older(struct conn *k, int32_t code, const char *msg,
    size_t len);

uint64_t
kernel_notify(struct conn *k, const void *msg, size_t len)
{
	struct fuse_out_header oh;
	struct note *n;
	pthread_t t;
	uint64_t ticket;

	if (k == NULL || k->ep.fd < 0 || len < sizeof(oh))
		return 0;
	memcpy(&oh, msg, sizeof(oh));
	if (k->p.peer_minor < pf_notify_since(oh.error))
		return kernel_notify_older(k, oh.error, msg, len);
	n = malloc(sizeof(*n) + len);
	if (n == NULL)
		return 0;
	n->next = NULL;
	n->len = len;
	memcpy(n->data, msg, len);
	n->fd = fcntl(k->ep.fd, F_DUPFD_CLOEXEC, 0);
	if (n->fd < 0) {
		free(n);
		return 0;
	}
	pthread_mutex_lock(&writer.lock);
	ticket = n->ticket = writer.next_ticket++;
	if (!writer.started && pthread_create(&t, NULL, writer_main, NULL) == 0) {
		writer.thread = t;
		writer.started = 1;
	}
	if (writer.tail)
		writer.tail->next = n;
	else
		writer.head = n;
	writer.tail = n;
	pthread_cond_signal(&writer.cv);
	pthread_mutex_unlock(&writer.lock);
	return ticket;
}

/* At exit: write what is queued, then end the writer. */
void
kernel_writer_stop(void)
{
	pthread_mutex_lock(&writer.lock);
	writer.quit = 1;
	pthread_cond_signal(&writer.cv);
	pthread_mutex_unlock(&writer.lock);
	/* A write stuck on a kernel lock must not keep us from exiting. */
	if (writer.started) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 2;
		if (pthread_timedjoin_np(writer.thread, NULL, &ts) != 0)
			pf_warn("a notification to the kernel is still blocked at exit");
	}
	writer.started = 0;
}

/*
 * The notifications perfused makes itself, for the kernel and for its own
 * clients' caches: INVAL_INODE of a node whose data or attributes changed
 * elsewhere (all of its pages), INVAL_ENTRY of a name that appeared, went
 * or changed elsewhere.  Each returns the message's length in buf (at
 * least NOTIFY_INVAL_MAX bytes), 0 for a name it cannot carry.
 */
size_t
notify_inval_inode_msg(char *buf, uint64_t nodeid)
{
	struct fuse_out_header h = { PF_OUT_HDR + sizeof(struct fuse_notify_inval_inode_out),
	    FUSE_NOTIFY_INVAL_INODE, 0 };
	struct fuse_notify_inval_inode_out o;

	memset(&o, 0, sizeof(o));
	o.ino = nodeid;
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + PF_OUT_HDR, &o, sizeof(o));
	return h.len;
}

size_t
notify_inval_entry_msg(char *buf, uint64_t parent, const char *name)
{
	struct fuse_out_header h;
	struct fuse_notify_inval_entry_out o;
	size_t nl = strlen(name);

	if (nl == 0 || nl > 255)
		return 0;
	memset(&o, 0, sizeof(o));
	o.parent = parent;
	o.namelen = (uint32_t)nl;
	h.len = (uint32_t)(PF_OUT_HDR + sizeof(o) + nl + 1);
	h.error = FUSE_NOTIFY_INVAL_ENTRY;
	h.unique = 0;
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + PF_OUT_HDR, &o, sizeof(o));
	memcpy(buf + PF_OUT_HDR + sizeof(o), name, nl + 1);
	return h.len;
}

uint64_t
kernel_inval_inode(struct conn *k, uint64_t nodeid)
{
	char buf[NOTIFY_INVAL_MAX];

	return kernel_notify(k, buf, notify_inval_inode_msg(buf, nodeid));
}

/*
 * The kernel takes a file's size from its cache for O_APPEND and the end
 * of reads: after a write elsewhere that grew the file, a STORE of its
 * last byte tells it the new size (a STORE of no bytes would not: the
 * kernel moves the size only for data it got).
 */
uint64_t
kernel_store_size(struct conn *k, uint64_t nodeid, uint64_t end, uint8_t last)
{
	struct {
		struct fuse_out_header h;
		struct fuse_notify_store_out o;
		uint8_t byte;
	} __attribute__((packed)) msg;

	if (end == 0)
		return 0;
	memset(&msg, 0, sizeof(msg));
	msg.h.len = sizeof(msg);
	msg.h.error = FUSE_NOTIFY_STORE;
	msg.o.nodeid = nodeid;
	msg.o.offset = end - 1;
	msg.o.size = 1;
	msg.byte = last;
	return kernel_notify(k, &msg, sizeof(msg));
}

uint64_t
kernel_inval_entry(struct conn *k, uint64_t parent, const char *name)
{
	char buf[NOTIFY_INVAL_MAX];
	size_t len = notify_inval_entry_msg(buf, parent, name);

	return len > 0 ? kernel_notify(k, buf, len) : 0;
}

/*
 * A kernel older than the notification (one that announced a minor below
 * the one that brought it: perfused answered it at its own minor) gets
 * what it knows instead: INVAL_ENTRY for DELETE, INVAL_INODE for STORE
 * (its cache of the node dropped rather than filled); nothing for the
 * others.
 */
static uint64_t
kernel_notify_older(struct conn *k, int32_t code, const char *msg, size_t len)
{
	if (code == FUSE_NOTIFY_DELETE &&
	    len > PF_OUT_HDR + sizeof(struct fuse_notify_delete_out)) {
		struct fuse_notify_delete_out o;
		char name[256];
		size_t nl;

		memcpy(&o, msg + PF_OUT_HDR, sizeof(o));
		nl = len - PF_OUT_HDR - sizeof(o);
		if (o.namelen >= sizeof(name) || o.namelen > nl)
			return 0;
		memcpy(name, msg + PF_OUT_HDR + sizeof(o), o.namelen);
		name[o.namelen] = '\0';
		return kernel_inval_entry(k, o.parent, name);
	}
	if (code == FUSE_NOTIFY_STORE &&
	    len >= PF_OUT_HDR + sizeof(struct fuse_notify_store_out)) {
		struct fuse_notify_store_out o;

		memcpy(&o, msg + PF_OUT_HDR, sizeof(o));
		return kernel_inval_inode(k, o.nodeid);
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Mounting.                                                             */

/* The system's fusermount3 mounts for us and hands /dev/fuse back. */
static int
fusermount_mount(const char *target, const char *opts, const char **why)
{
	char fdenv[32], cbuf[CMSG_SPACE(sizeof(int))], byte;
	struct iovec iov = { &byte, 1 };
	struct msghdr mh;
	struct cmsghdr *cm;
	int sv[2], status, fd = -1;
	pid_t pid;

	if (access(FUSERMOUNT3, X_OK) < 0) {
		*why = FUSERMOUNT3 " is missing (package fuse3)";
		return -ENOENT;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return -errno;
	}
	if (pid == 0) {
		int nul = open("/dev/null", O_RDWR);

		spawn_reset_child();
		fcntl(sv[1], F_SETFD, 0);
		snprintf(fdenv, sizeof(fdenv), "%d", sv[1]);
		setenv("_FUSE_COMMFD", fdenv, 1);
		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
		}
		execl(FUSERMOUNT3, "fusermount3", "-o", opts, "--", target, (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	if (recvmsg(sv[0], &mh, MSG_CMSG_CLOEXEC) == 1 && (cm = CMSG_FIRSTHDR(&mh)) != NULL &&
	    cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(cm), sizeof(fd));
	close(sv[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (fd < 0) {
		*why = "fusermount3 could not mount it";
		return -EPERM;
	}
	return fd;
}

/* As root: open /dev/fuse and mount(2) ourselves. */
static int
direct_mount(const struct mount *m, const char *source, const char *type,
    unsigned long flags, const char *opts, const char **why)
{
	char data[1024];
	int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		*why = "/dev/fuse cannot be opened";
		return -errno;
	}
	snprintf(data, sizeof(data), "fd=%d,rootmode=40000,user_id=%u,group_id=%u%s%s",
	    fd, (unsigned)m->uid, (unsigned)m->gid, opts[0] ? "," : "", opts);
	if (mount(source, m->target, type, flags, data) < 0) {
		int e = errno;

		close(fd);
		*why = "mount(2) failed";
		return -e;
	}
	return fd;
}

/* The owner must be allowed to write the target, as for a user mount. */
static int
target_ok(const struct mount *m, const char **why)
{
	struct stat st;

	if (stat(m->target, &st) < 0) {
		*why = "the target does not exist";
		return -errno;
	}
	if (!S_ISDIR(st.st_mode)) {
		*why = "the target is not a directory";
		return -ENOTDIR;
	}
	if (m->uid != 0 && st.st_uid != m->uid && !(st.st_mode & S_IWOTH)) {
		*why = "the owner may not write the target";
		return -EACCES;
	}
	return 0;
}

/* "allow_other" needs user_allow_other in /etc/fuse.conf for users. */
static int
allow_other_ok(const struct mount *m)
{
	char line[256];
	FILE *f;
	int ok = 0;

	if (m->uid == 0)
		return 1;
	f = fopen("/etc/fuse.conf", "re");
	if (f == NULL)
		return 0;
	while (!ok && fgets(line, sizeof(line), f) != NULL)
		ok = strncmp(line, "user_allow_other", 16) == 0;
	fclose(f);
	return ok;
}

/*
 * Mount the target on the kernel.  Returns the /dev/fuse descriptor, or
 * -errno with *why saying what was not possible.
 */
int
kernel_mount(struct daemon *d, struct mount *m, const char **why)
{
	char type[300], opts[512], source[256];
	const char *sub, *space;
	unsigned long flags = 0;
	int err;

	(void)d;
	*why = NULL;
	if ((err = target_ok(m, why)) != 0)
		return err;
	if ((m->kflags & KOPT_ALLOW_OTHER) && !allow_other_ok(m)) {
		*why = "allow_other needs user_allow_other in /etc/fuse.conf";
		return -EPERM;
	}
	/* As libfuse names a mount: source fsname or subtype, type fuse[.subtype]. */
	(void)space;
	sub = m->subtype;
	snprintf(source, sizeof(source), "%s", m->fsname ? m->fsname : sub ? sub : "perfuse");
	if (m->ktype != NULL)
		snprintf(type, sizeof(type), "%s", m->ktype);
	else if (sub != NULL)
		snprintf(type, sizeof(type), "fuse.%s", sub);
	else
		snprintf(type, sizeof(type), "fuse");
	snprintf(opts, sizeof(opts), "%s%s%s",
	    (m->kflags & KOPT_ALLOW_OTHER) ? "allow_other," : "",
	    (m->kflags & KOPT_DEFAULT_PERMISSIONS) ? "default_permissions," : "",
	    m->max_read_opt);
	if (opts[0] != '\0' && opts[strlen(opts) - 1] == ',')
		opts[strlen(opts) - 1] = '\0';
	/*
	 * Rule, as the seed and libfuse: nosuid,nodev always for a user's
	 * mount, and for root's unless it asked for suid or dev.
	 */
	flags = m->msflags;
	if (m->uid != 0 || !(m->kflags & KOPT_SUID))
		flags |= MS_NOSUID;
	if (m->uid != 0 || !(m->kflags & KOPT_DEV))
		flags |= MS_NODEV;
	if (m->kflags & KOPT_RO)
		flags |= MS_RDONLY;
	if (m->kflags & KOPT_NOATIME)
		flags |= MS_NOATIME;
	if (geteuid() == 0)
		return direct_mount(m, source, type, flags, opts, why);
	{
		char fmopts[1024];

		snprintf(fmopts, sizeof(fmopts), "fsname=%s,subtype=%s%s%s%s%s%s", source,
		    sub ? sub : (strchr(type, '.') ? strchr(type, '.') + 1 : "perfuse"),
		    (flags & MS_RDONLY) ? ",ro" : "", (flags & MS_NOATIME) ? ",noatime" : "",
		    ",nosuid,nodev", opts[0] ? "," : "", opts);
		return fusermount_mount(m->target, fmopts, why);
	}
}

/* Take the kernel mount away (lazily: busy files keep it until closed). */
void
kernel_umount(struct mount *m)
{
	pid_t pid;
	int status;

	if (geteuid() == 0) {
		if (umount2(m->target, MNT_DETACH) < 0 && errno != EINVAL)
			pf_warn("%s: umount: %s", m->target, strerror(errno));
		return;
	}
	pid = fork();
	if (pid == 0) {
		int nul = open("/dev/null", O_RDWR);

		spawn_reset_child();
		if (nul >= 0) {
			dup2(nul, 1);
			dup2(nul, 2);
		}
		execl("/usr/bin/fusermount3", "fusermount3", "-u", "-z", "-q", "--",
		    m->target, (char *)NULL);
		_exit(127);
	}
	if (pid > 0)
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
}
