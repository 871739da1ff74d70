/*
 * perfused.h - the daemon's shared structures.
 *
 * perfused is single-threaded around one epoll loop.  Every file
 * descriptor it watches is an "endpoint" with a handler.  A mount owns the
 * server's socket and the filesystem process; client connections arrive
 * on the listening socket in control mode and, once attached to a mount,
 * carry FUSE requests that the mount relays to its server.
 */
#ifndef PERFUSED_H
#define PERFUSED_H

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "init.h"
#include "map.h"
#include "proto.h"

/* Trace categories of -d. */
#define DBG_INIT  0x01u
#define DBG_OPS   0x02u
#define DBG_NODES 0x04u
#define DBG_CTL   0x08u
#define DBG_FS    0x10u

/* Largest message perfused receives from anybody. */
#define RBUF_SIZE (4u * 1024 * 1024)
/* Bytes queued towards one peer before it counts as stuck. */
#define OUTQ_MAX (64u * 1024 * 1024)
/*
 * Back pressure (perfused(8), LIMITS).  While more than MOUNT_QUEUE_HIGH
 * bytes wait to be sent to a mount's server, or MOUNT_PENDING_HIGH of its
 * requests (timed-out ones included: their reply may still come) await an
 * answer, perfused reads no request from any client of that mount, the
 * kernel's /dev/fuse included, until both are back under the low marks.
 * The clients and the kernel wait; nothing else does.
 */
#define MOUNT_QUEUE_HIGH (8u * 1024 * 1024)
#define MOUNT_QUEUE_LOW (2u * 1024 * 1024)
#define MOUNT_PENDING_HIGH 4096u
#define MOUNT_PENDING_LOW 3072u
/* A client that left this many reply bytes unread sends nothing more. */
#define CONN_QUEUE_PAUSE (4u * 1024 * 1024)
/*
 * Connections one uid may hold open at once (the kernel's /dev/fuse not
 * counted); the next is closed at once.  Keeps one user from taking the
 * descriptors every other user needs.
 */
#define CONN_PER_UID_MAX 1024u
/*
 * Reply bytes all the clients of one mount may leave unread together.
 * Beyond it the client holding the most is cut off, as one holding
 * OUTQ_MAX alone is.
 */
#define MOUNT_UNREAD_MAX (96u * 1024 * 1024)
/* Filesystem stderr kept for a failed mount. */
#define ERRBUF_SIZE (16 * 1024)

struct daemon;
struct endpoint;

typedef void (*ep_handler)(struct daemon *, struct endpoint *, uint32_t events);

struct endpoint {
	int fd;
	ep_handler handler;
	uint32_t events;      /* what epoll watches now */
	int dev;              /* /dev/fuse: read(2)/write(2), not a socket */
};


struct outmsg {
	struct outmsg *next;
	size_t len;
	char data[];
};

struct outq {
	struct outmsg *head, *tail;
	size_t bytes;
};

enum conn_state { CONN_CTL, CONN_FUSE_INIT, CONN_FUSE, CONN_TRACE };

struct mount;

#define PERM_MAX_GROUPS 64

struct conn {
	struct endpoint ep;
	struct conn *next;          /* daemon's list */
	uid_t uid;
	gid_t gid;
	pid_t pid;
	enum conn_state state;
	struct mount *m;            /* attached mount */
	struct pf_init_params p;    /* what its INIT got */
	struct u64map nodes;        /* nodeid -> lookups it holds (v1) */
	struct u64map fhs;          /* fh -> nodeid (v1), release opcode (v2) */
	struct outq out;
	int kernel;                 /* the kernel's /dev/fuse: keeps its creds */
	unsigned inflight;          /* its requests the server has not answered */
	struct mount *traced;       /* CONN_TRACE: the mount it watches */
	int trace_full;             /* whole messages, not summaries */
	uint32_t trace_lost;        /* records dropped since the last sent */
	int dead;
	/* default_permissions (perm.c): */
	int perm_skip;              /* the request being forwarded: 1 checked,
	                               2 to check with attributes just fetched */
	int groups_loaded, ngroups;
	gid_t groups[PERM_MAX_GROUPS];
};

enum mount_state { M_STARTING, M_READY, M_UNMOUNTING, M_DEAD,
	M_RESTARTING };            /* -o restart: a new server is on its way */

/* Kernel mount options of perfuse mount -o. */
#define KOPT_ALLOW_OTHER        0x01u
#define KOPT_DEFAULT_PERMISSIONS 0x02u
#define KOPT_RO                 0x04u
#define KOPT_NOATIME            0x08u
#define KOPT_NOKERNEL           0x10u
#define KOPT_KEEP               0x20u   /* perfused stopping leaves it to the kernel */
#define KOPT_SUID               0x40u   /* root asked for suid: no nosuid */
#define KOPT_DEV                0x80u   /* root asked for dev: no nodev */

/* How a filesystem started by perfused gets its socket. */
enum attach { ATTACH_AUTO, ATTACH_FD, ATTACH_PRELOAD, ATTACH_FUSERMOUNT };

struct pend {
	struct conn *c;             /* NULL: internal, or its client left */
	uint64_t client_unique;
	uint64_t nodeid;
	uint32_t opcode;
	size_t limit;               /* pf_reply_limit() */
	uint64_t offset;            /* READDIR's offset, to see entries move on */
	uint64_t start_ns;          /* when it came, for traces */
	uint8_t last_byte;          /* WRITE's last byte, to tell the kernel the size */
	uint32_t wlen;              /* WRITE's data length */
	time_t deadline;            /* answer by then, or the client hears ETIMEDOUT */
	int timed_out;              /* the client heard; a late reply is dropped */
	char *names;                /* the request's names, to invalidate the kernel's */
	uint64_t newdir;            /* RENAME's target directory */
	uint32_t rename_flags;      /* RENAME2's flags */
	uint32_t oflags;            /* OPEN's, OPENDIR's or CREATE's flags */
	/* -o restart (restart.c): */
	char *msg;                  /* the request, to send it again after a crash */
	size_t msglen;
	uint8_t parked;             /* waits for the restarted server */
	uint8_t retried;            /* sent again once already */
	uint8_t rs_kind;            /* RS_LOOKUP, RS_OPEN: perfused's own, of a restart */
	uint64_t rs_id;             /* the node or handle it brings back */
	uint64_t fh, fh_seq;        /* FSYNC: its handle, and the writes it covers */
	void *perm_hold;            /* perfused's LOOKUP or GETATTR for a
	                               permission check (perm.c) */
};

enum { RS_NONE, RS_INIT, RS_WALK, RS_OPEN };  /* restart phases */
enum { RS_LOOKUP = 1 };                       /* pend.rs_kind; RS_OPEN too */

/* What -o restart keeps of a mount (restart.c); ids are the clients'. */
struct restart {
	char **argv, **envp, *cwd;  /* how to start it again */
	char *tmpmp;                /* an empty mountpoint for the restarted one */
	char **argv_tmp;            /* argv with it (strings not owned) */
	struct u64map paths;        /* node -> parent (v1), name (v2), references (v3) */
	struct u64map byname;       /* hash of parent and name -> node (v1) */
	struct u64map handles;      /* fh -> node (v1), open flags | RS_FH_DIR (v2), opens (v3) */
	struct u64map dirty;        /* fh -> writes (v1), writes fsynced (v2), EIO owed (v3) */
	int xlate;                  /* restarted once: ids are translated */
	struct u64map n_c2s;        /* node -> server's (v1), server references (v2) */
	struct u64map n_s2c;        /* server's node -> node (v1) */
	struct u64map f_c2s, f_s2c; /* the same for handles */
	uint64_t next_id;           /* fresh ids, when a server's collide */
	int phase;
	unsigned outstanding;       /* requests of this phase not answered */
	struct pf_init_params old_p;
	size_t nodes_back, nodes_lost, fhs_back, fhs_lost;
	time_t recent[8];           /* restarts of the last minute */
	int nrecent;
};

struct mount {
	struct endpoint ep;         /* the server's socket */
	struct endpoint errp;       /* the filesystem's stderr */
	struct mount *next;
	struct daemon *d;
	char *target;
	char *command;
	uid_t uid;
	gid_t gid;
	pid_t pid;                  /* the process we started */
	pid_t fs_pid;               /* the one serving, if it daemonized */
	unsigned long fs_ino;       /* inode of the filesystem's socket end */
	enum mount_state state;
	struct pf_init_params p;
	uint32_t max_read;
	size_t msgmax;
	uint64_t next_unique;
	struct u64map pending;      /* server unique -> struct pend * (v1) */
	struct outq out;
	struct conn *waiter;        /* MOUNT or UMOUNT reply owed to it */
	time_t deadline;            /* INIT timeout, or SIGTERM at unmount */
	int init_timeout;
	int timeout;                /* seconds a request may take; 0: no limit */
	int attach;                 /* enum attach */
	char token[40];             /* matches its mount frame, for preload/fusermount */
	int termed;
	int draining;               /* unmounting: DESTROY once the server caught up */
	int exited;                 /* our child was reaped */
	int exit_status;
	int fs_exited;              /* the daemon it became (fs_pid) was reaped */
	int fs_status;
	struct conn *kconn;         /* the kernel front-end, if mounted */
	int throttled;              /* over the high marks: clients not read */
	unsigned ntracers;          /* CONN_TRACE connections watching it */
	struct ring_ent {           /* the last requests, for SIGUSR1 */
		uint64_t start_ns, unique, nodeid;
		uint32_t opcode, pid, latency_us;
		int32_t error;
	} ring[64];
	unsigned ring_next;
	unsigned kflags;            /* KOPT_* */
	char *fsname, *subtype;
	char *ktype;                /* the type the filesystem asked for, if it did */
	unsigned long msflags;      /* MS_* the filesystem asked for */
	char max_read_opt[32];      /* "max_read=N" or "" */
	char knote[256];            /* why there is no kernel mount */
	char errbuf[ERRBUF_SIZE];
	size_t errlen;
	long warned;
	long warned_unread;         /* rate limit of conn_unread_check's */
	int want_restart;           /* -o restart */
	uint64_t root_perm[2];      /* the root's mode, uid, gid (perm.c) */
	struct perm_hold *perm_holds;
	unsigned nperm_holds;
	unsigned napi;              /* perfuse clients attached (not the kernel) */
	struct restart *rs;         /* with -o restart, once started */
};

/* A reply held back until the kernel's cache was invalidated for it. */
struct deferred {
	struct deferred *next;
	uint64_t ticket;
	struct conn *c;             /* NULL once it left */
	size_t len;
	char data[];
};

struct daemon {
	int epfd;
	struct endpoint listen;
	struct endpoint sig;
	char *sockpath;
	unsigned debug;
	int foreground;
	int stopping;
	struct mount *mounts;
	struct conn *conns;
	struct conn *graveyard;     /* closed this round, freed after it */
	struct mount *mgraveyard;
	char *rbuf;
	struct endpoint done;       /* the notification writer's tickets */
	struct deferred *deferred;  /* replies waiting for their notifications */
	struct deferred *deferred_tail;
	char *preload;              /* libperfuse_preload.so */
	char *fmdir;                /* directory of the fusermount stand-ins */
	int inherited;              /* -i: serve one inherited socket */
	int activated;              /* the listening socket came from systemd */
	int spare_fd;               /* given up to refuse a connection at EMFILE */
	long warned_accept;         /* rate limit of the warnings of accept */
	time_t listen_off;          /* when accept_shed stopped listening, or 0 */
};

/* mux.c, for restart.c */
struct spawn;
uint64_t mux_new_unique(struct mount *m);
int mux_to_server(struct daemon *d, struct mount *m, const void *buf, size_t len);
void mux_reap_briefly(struct mount *m);
void mux_signal_fs(struct mount *m, int sig);
void mux_server_closed(struct daemon *d, struct mount *m);
void mux_fail_pending(struct daemon *d, struct pend *p, int err);
void mux_pend_free(struct pend *p);
int mux_spawn(struct daemon *d, struct mount *m, struct spawn *s, const char **why);
void mux_restart_failed(struct daemon *d, struct mount *m);
void mux_restart_done(struct daemon *d, struct mount *m);
void mux_forget_raw(struct daemon *d, struct mount *m, const struct fuse_forget_one *v,
    size_t n);
void mux_release_raw(struct daemon *d, struct mount *m, uint64_t nodeid, uint64_t fh,
    uint32_t opcode);

int mux_internal_lookup(struct daemon *d, struct mount *m, uint64_t dir,
    const char *name, void *hold);
void mux_reply_err(struct daemon *d, struct conn *c, uint64_t unique, int err);
void mux_forward_checked(struct daemon *d, struct conn *c, char *msg, size_t len,
    int how);
int mux_internal_getattr(struct daemon *d, struct mount *m, uint64_t node, void *hold);

/* perm.c */
struct perm_hold;
int perm_applies(const struct mount *m, const struct conn *c);
int perm_check(const struct mount *m, struct conn *c, const struct fuse_in_header *h,
    const char *b, size_t blen, uint64_t dirs[2], const char *names[2]);
int perm_hold(struct daemon *d, struct mount *m, struct conn *c, char *msg,
    size_t len, int n, const uint64_t dirs[2], const char *names[2]);
void perm_reply(struct daemon *d, struct mount *m, const struct pend *p, const char *pl,
    size_t len);
void perm_lookup_done(struct daemon *d, struct mount *m, const struct pend *p,
    int32_t error, const char *pl, size_t len);
void perm_client_gone(struct mount *m, const struct conn *c);
void perm_free_all(struct mount *m);

/* restart.c */
int rs_setup(struct mount *m, char **argv, char **envp, const char *cwd);
void rs_free(struct mount *m);
void rs_entry(struct mount *m, uint64_t parent, const char *name, size_t len,
    uint64_t node);
void rs_credit(struct mount *m, uint64_t node);
uint64_t rs_forget(struct mount *m, uint64_t node, uint64_t n, uint64_t *srv);
void rs_opened(struct mount *m, uint64_t fh, uint64_t node, uint32_t flags,
    uint32_t opcode);
int rs_released(struct mount *m, uint64_t fh, uint64_t *srv);
void rs_synced(struct mount *m, const struct pend *p);
void rs_names_changed(struct mount *m, uint32_t opcode, uint64_t dir, uint64_t newdir,
    const char *names, uint32_t rename_flags);
int rs_xlate_request(struct mount *m, char *buf, size_t len);
void rs_xlate_reply(struct mount *m, uint32_t opcode, char *pl, size_t len);
int rs_xlate_notify(struct mount *m, int code, char *pl, size_t len);
int rs_outgoing(struct mount *m, struct pend *p, char *buf, size_t len);
int rs_crashed(struct daemon *d, struct mount *m, const char *why);
void rs_init_done(struct daemon *d, struct mount *m, int32_t error, const char *pl,
    size_t len);
void rs_reply(struct daemon *d, struct mount *m, struct pend *p, int32_t error,
    const char *pl, size_t len);

/* perfused.c */
void ep_watch(struct daemon *d, struct endpoint *ep, uint32_t events);
void ep_forget(struct daemon *d, struct endpoint *ep);
void dbg(struct daemon *d, unsigned cat, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
ssize_t ep_send(struct endpoint *ep, const void *buf, size_t len);
ssize_t ep_recv(struct daemon *d, struct endpoint *ep);
int send_or_queue(struct daemon *d, struct endpoint *ep, struct outq *q,
    const void *buf, size_t len);
int ctl_reply(struct daemon *d, struct conn *c, uint32_t type, int32_t error,
    const char *const *strs, uint32_t n);
void conn_unread_check(struct daemon *d, struct conn *c);
void conn_close(struct daemon *d, struct conn *c);
void mount_resume(struct daemon *d);

struct conn *conn_add(struct daemon *d, int fd, int kernel);

/* tracing.c */
void trace_msg(struct daemon *d, struct mount *m, unsigned kind, const struct conn *c,
    const struct pend *p, const void *msg, size_t len);
void trace_end(struct daemon *d, struct mount *m);
void trace_remember(struct mount *m, const struct pend *p, int32_t error);
void trace_dump(struct daemon *d);
uint64_t now_ns(void);

/* kernel.c */
int kernel_mount(struct daemon *d, struct mount *m, const char **why);
void kernel_umount(struct mount *m);
uint64_t kernel_notify(struct conn *k, const void *msg, size_t len);
void kernel_writer_stop(void);
void kernel_set_done_fd(int fd);
/* Room for what notify_inval_*_msg() build: a header, a body, 255 + 1 bytes of name. */
#define NOTIFY_INVAL_MAX (PF_OUT_HDR + sizeof(struct fuse_notify_inval_entry_out) + 256)
size_t notify_inval_inode_msg(char *buf, uint64_t nodeid);
size_t notify_inval_entry_msg(char *buf, uint64_t parent, const char *name);
uint64_t kernel_inval_inode(struct conn *k, uint64_t nodeid);
uint64_t kernel_store_size(struct conn *k, uint64_t nodeid, uint64_t end, uint8_t last);
uint64_t kernel_inval_entry(struct conn *k, uint64_t parent, const char *name);

/* mux.c */
struct mount *mount_find(struct daemon *d, const char *target);
int mount_start(struct daemon *d, struct conn *c, const char *opts, const char *cwd,
    char **argv, char **envp, const char **why);
void mount_unmount(struct daemon *d, struct mount *m, struct conn *waiter);
void mount_tick(struct daemon *d, time_t now);
void mount_child_exited(struct daemon *d, pid_t pid, int status);
void mux_client_msg(struct daemon *d, struct conn *c, char *buf, size_t len);
void mux_client_gone(struct daemon *d, struct conn *c);
void mux_frame(struct daemon *d, struct conn *c, const char *buf, size_t len);
void mux_notes_done(struct daemon *d, struct endpoint *ep, uint32_t events);
void mount_detach(struct daemon *d, struct mount *m, struct conn *waiter);
void mount_bury(struct daemon *d);

/* spawn.c */
struct spawn {
	char **argv;
	char **envp;
	const char *cwd;
	int mp_index;               /* argv index of the mountpoint */
	uid_t uid;
	gid_t gid;
	int use_fd;                 /* give it a socket as /dev/fd/3 */
};
int spawn_find_mountpoint(char **argv);
char **spawn_env(char **env, char **set);
const char *spawn_getenv(char **env, const char *name);
int spawn_links_libfuse3(const char *argv0, const char *path);
int spawn_fs(const struct spawn *s, int *srv_fd, int *err_fd, pid_t *pid,
    unsigned long *fs_ino);
pid_t spawn_socket_owner(unsigned long ino, pid_t not_pid);
char *spawn_join(char **argv);
void spawn_reset_child(void);
void spawn_raise_nofile(void);
char *spawn_abspath(const char *cwd, const char *path);

#endif
