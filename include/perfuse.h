/*
 * perfuse.h - the public API of libperfuse.
 *
 * libperfuse plays the kernel's side of the FUSE protocol in userspace.  A
 * program uses it to reach the files of a FUSE filesystem without a kernel
 * FUSE mount and without privileges:
 *
 *   perfuse_conn *c;
 *   if (perfuse_connect(NULL, "/srv/img", &c) == 0) {
 *           struct stat st;
 *           perfuse_stat(c, "/etc/os-release", &st);
 *           perfuse_disconnect(c);
 *   }
 *
 * Conventions, for every call below:
 *  - Calls return 0 (or a count) on success and a negative errno value on
 *    failure; errno itself is not set.  ssize_t calls return the byte count.
 *  - Paths are relative to the root of the mount.  A leading '/' is
 *    allowed and ignored; "." and ".." are resolved textually; a symbolic
 *    link in the middle of a path is followed when its target is relative
 *    or lies under the mount's target.  A symlink as last component is
 *    followed by the calls that act on a file's content or attributes
 *    (perfuse_file_open, perfuse_opendir, perfuse_chmod, perfuse_chown,
 *    perfuse_truncate, perfuse_utimens, perfuse_access, perfuse_statfs),
 *    and not by those about the name itself (perfuse_stat is lstat(2),
 *    perfuse_readlink, perfuse_unlink, perfuse_rename, perfuse_link, the
 *    xattr calls).
 *  - A perfuse_conn may be used from several threads at once; requests of
 *    different threads are in flight together.  A perfuse_file or
 *    perfuse_dir belongs to one thread at a time.
 *  - The library never exits and never prints except through the log hook
 *    (perfuse_set_log()).
 */
#ifndef PERFUSE_H
#define PERFUSE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PERFUSE_VERSION "0.1.0"

/* ------------------------------------------------------------------ */
/* Logging                                                              */

enum perfuse_log_level { PERFUSE_LOG_ERR, PERFUSE_LOG_WARN, PERFUSE_LOG_INFO,
	PERFUSE_LOG_DEBUG };

/*
 * Where the library's messages go.  The default writes warnings and errors
 * to stderr as "perfuse: message".  fn == NULL restores the default.
 */
typedef void (*perfuse_log_fn)(enum perfuse_log_level level, const char *msg,
    void *arg);
void perfuse_set_log(perfuse_log_fn fn, void *arg);

/* ------------------------------------------------------------------ */
/* Connections                                                          */

typedef struct perfuse_conn perfuse_conn;

/*
 * Default path of perfused's socket for this user:
 * $XDG_RUNTIME_DIR/perfuse/perfused.sock, or /run/perfuse/perfused.sock
 * for root, or /tmp/perfuse-UID/perfused.sock when XDG_RUNTIME_DIR is not
 * set.  Writes at most size bytes into buf.  Returns 0 or -ENAMETOOLONG.
 */
int perfuse_default_socket(char *buf, size_t size);

/*
 * Connect to the mount named target (its absolute mountpoint) served by
 * perfused at sockpath (NULL: the default socket).  perfused answers INIT
 * on the server's behalf.  Fails with -ENOENT when no such mount exists,
 * -ECONNREFUSED when no perfused runs, -EACCES when the mount belongs to
 * another user.
 */
int perfuse_connect(const char *sockpath, const char *target,
    perfuse_conn **out);

/* Flags of perfuse_conn_fd(). */
#define PERFUSE_CONN_DESTROY 0x1 /* send DESTROY at disconnect: we own the server */

/*
 * Start a session on fd, a connected SOCK_SEQPACKET socket whose peer is
 * a FUSE server (or perfused after an attach), and perform INIT.  The
 * connection owns fd from then on, even on failure.  name is used in
 * messages (NULL: "fuse").
 */
int perfuse_conn_fd(int fd, const char *name, unsigned flags,
    perfuse_conn **out);

/*
 * End a session: tell the server to forget every node reference this
 * connection was handed (BATCH_FORGET, or FORGET before 7.16), send
 * DESTROY if the connection owns the server, close the socket and free c.
 * Open files and directories must be closed first; those that are not
 * are released here.  Returns 0 or the first error seen.
 */
int perfuse_disconnect(perfuse_conn *c);

/* What INIT agreed on. */
struct perfuse_conn_info {
	unsigned major, minor;    /* the agreed protocol version (7.minor) */
	unsigned server_minor;    /* the minor the server announced */
	uint64_t flags;           /* INIT flags both sides accepted */
	uint32_t max_write;       /* largest WRITE payload we send */
	uint32_t max_read;        /* largest READ we ask for */
	uint32_t max_readahead;
	uint32_t time_gran;
};
void perfuse_conn_get_info(const perfuse_conn *c, struct perfuse_conn_info *i);

/* Node references this connection still holds (for tests and tools). */
uint64_t perfuse_conn_lookups(const perfuse_conn *c);

/* ------------------------------------------------------------------ */
/* Metadata                                                             */

/* Attributes of path, without following a final symlink. */
int perfuse_stat(perfuse_conn *c, const char *path, struct stat *st);

/* Change attributes.  uid or gid (uid_t)-1 / (gid_t)-1 leave it as is. */
int perfuse_chmod(perfuse_conn *c, const char *path, mode_t mode);
int perfuse_chown(perfuse_conn *c, const char *path, uid_t uid, gid_t gid);
int perfuse_truncate(perfuse_conn *c, const char *path, off_t size);

/*
 * Set access and modification times.  ts == NULL sets both to now; a
 * tv_nsec of UTIME_NOW or UTIME_OMIT works as in utimensat(2).
 */
int perfuse_utimens(perfuse_conn *c, const char *path,
    const struct timespec ts[2]);

/*
 * Check access as access(2) with mask R_OK|W_OK|X_OK or F_OK.  Sends
 * ACCESS when the server implements it and PERFUSE_OPTIONS has
 * enable_access; otherwise checks the mode bits against the caller.
 */
int perfuse_access(perfuse_conn *c, const char *path, int mask);

/* Filesystem statistics (STATFS).  Fields the server omits are zero. */
int perfuse_statfs(perfuse_conn *c, const char *path, struct statvfs *sv);

/* The target of a symbolic link, NUL-terminated.  Returns its length. */
ssize_t perfuse_readlink(perfuse_conn *c, const char *path, char *buf,
    size_t size);

/* ------------------------------------------------------------------ */
/* Namespace                                                            */

int perfuse_mkdir(perfuse_conn *c, const char *path, mode_t mode);
int perfuse_rmdir(perfuse_conn *c, const char *path);
int perfuse_unlink(perfuse_conn *c, const char *path);
/* Create a file system node as mknod(2) (regular files, fifos, devices). */
int perfuse_mknod(perfuse_conn *c, const char *path, mode_t mode, dev_t dev);
/* Make linkpath a symbolic link containing target. */
int perfuse_symlink(perfuse_conn *c, const char *target, const char *linkpath);
/* Make newpath a hard link to oldpath. */
int perfuse_link(perfuse_conn *c, const char *oldpath, const char *newpath);
/*
 * Rename as renameat2(2); flags is 0, RENAME_NOREPLACE or RENAME_EXCHANGE
 * (the latter two need a server with RENAME2).
 */
int perfuse_rename(perfuse_conn *c, const char *oldpath, const char *newpath,
    unsigned flags);

/* ------------------------------------------------------------------ */
/* Directories                                                          */

typedef struct perfuse_dir perfuse_dir;

struct perfuse_dirent {
	uint64_t ino;       /* inode number the server gave */
	uint64_t off;       /* cookie for perfuse_seekdir() */
	unsigned type;      /* DT_REG, DT_DIR ... or DT_UNKNOWN */
	char name[256];
};

int perfuse_opendir(perfuse_conn *c, const char *path, perfuse_dir **out);
/* Next entry: 1 and *ent filled, 0 at the end, or -errno. */
int perfuse_readdir(perfuse_dir *d, struct perfuse_dirent *ent);
/* Continue from an offset a previous entry returned (0: the start). */
int perfuse_seekdir(perfuse_dir *d, uint64_t off);
int perfuse_closedir(perfuse_dir *d);

/* ------------------------------------------------------------------ */
/* Files                                                                */

typedef struct perfuse_file perfuse_file;

/*
 * Open path with open(2) flags (O_RDONLY, O_WRONLY, O_RDWR, O_CREAT,
 * O_EXCL, O_TRUNC, O_APPEND).  O_CREAT uses CREATE, or MKNOD then OPEN
 * when the server lacks CREATE.  A final symlink is followed.
 */
int perfuse_file_open(perfuse_conn *c, const char *path, int flags,
    mode_t mode, perfuse_file **out);
/* Read or write at an offset; the return value may be short at EOF only. */
ssize_t perfuse_pread(perfuse_file *f, void *buf, size_t size, off_t off);
ssize_t perfuse_pwrite(perfuse_file *f, const void *buf, size_t size,
    off_t off);
int perfuse_fstat(perfuse_file *f, struct stat *st);
int perfuse_ftruncate(perfuse_file *f, off_t size);
/* FSYNC; datasync != 0 asks for fdatasync semantics. */
int perfuse_fsync(perfuse_file *f, int datasync);
/* FLUSH then RELEASE; returns the FLUSH error, as close(2) would. */
int perfuse_file_close(perfuse_file *f);

/* ------------------------------------------------------------------ */
/* Extended attributes                                                  */

/* Value of name into buf; size 0 asks for the size.  Returns the length. */
ssize_t perfuse_getxattr(perfuse_conn *c, const char *path, const char *name,
    void *buf, size_t size);
/* flags: 0, XATTR_CREATE or XATTR_REPLACE. */
int perfuse_setxattr(perfuse_conn *c, const char *path, const char *name,
    const void *value, size_t size, int flags);
/* NUL-separated list of names into buf; size 0 asks for the size. */
ssize_t perfuse_listxattr(perfuse_conn *c, const char *path, char *buf,
    size_t size);
int perfuse_removexattr(perfuse_conn *c, const char *path, const char *name);

/* ------------------------------------------------------------------ */
/* Attaching a filesystem: the seed's API                               */
/*
 * These three replace open(2), mount(2) and umount2(2) inside a FUSE
 * filesystem (the preload shim and the fusermount stand-ins call them).
 * Unlike the rest of this header they follow libc's convention: they
 * return -1 and set errno on failure.
 */

/*
 * open(2), except for "/dev/fuse": then a SOCK_SEQPACKET socket connected
 * to perfused ($PERFUSE_SOCKET or the default), or, when none runs, one
 * end of a socketpair with a new "perfused -i FD" on the other.  Falls
 * back to SOCK_DGRAM with a warning where SEQPACKET is missing.
 * O_CLOEXEC in flags is honoured.
 */
int perfuse_open(const char *path, int flags, mode_t mode);

/*
 * mount(2) for a perfuse socket: data must hold "fd=N" naming a socket
 * from perfuse_open().  Sends perfused the mount frame (source, target,
 * filesystemtype, mountflags, data) and waits for its answer: 0, or -1
 * with errno (EINVAL: no fd= or not a socket; EBUSY: target already
 * mounted; EACCES ...).  $PERFUSE_MOUNT_TOKEN, set by perfused for the
 * filesystems it starts, rides along so perfused knows its own.
 */
int perfuse_mount(const char *source, const char *target,
    const char *filesystemtype, unsigned long mountflags, const void *data);

/*
 * umount2(2) for a perfuse mount: perfused ends the mount at once, without
 * DESTROY, as the kernel does when a filesystem unmounts itself.  EINVAL
 * when target is no perfuse mount.  flags are accepted and ignored.
 */
int perfuse_unmount(const char *target, int flags);

/* ------------------------------------------------------------------ */
/* perfused: mounts                                                     */

/* One mount as perfused lists it. */
struct perfuse_mount_info {
	char target[4096];   /* absolute mountpoint, the mount's name */
	char command[4096];  /* the filesystem command line, space-separated */
	long pid;            /* the filesystem's process, 0 if unknown */
	unsigned minor;      /* protocol minor agreed with it */
	unsigned uid;        /* owner */
	unsigned clients;    /* client connections attached */
};

/*
 * Ask perfused (at sockpath, NULL: default; started when none runs) to
 * run the filesystem argv[0..] with the mount options opts (may be NULL),
 * from directory cwd with environment envp.  Returns once the filesystem
 * answered INIT.  On failure, up to errsize bytes of explanation (the
 * filesystem's own stderr when it exited) go to errbuf.  *target gets the
 * mount's name.
 */
int perfuse_daemon_mount(const char *sockpath, char *const argv[],
    const char *opts, const char *cwd, char *const envp[],
    char *target, size_t targetsize, char *errbuf, size_t errsize);

/* DESTROY the mount, wait for the filesystem to exit (SIGTERM after 10 s). */
int perfuse_daemon_umount(const char *sockpath, const char *target);

/*
 * The mounts visible to the caller.  *out is malloc'ed (free() it); *n is
 * set to their number.
 */
int perfuse_daemon_list(const char *sockpath, struct perfuse_mount_info **out,
    size_t *n);

/*
 * Make sure a perfused answers at sockpath (NULL: default), starting one
 * in the background (the perfused next to this program, then the one on
 * PATH) if none does.
 */
int perfuse_daemon_ensure(const char *sockpath);

#ifdef __cplusplus
}
#endif

#endif
