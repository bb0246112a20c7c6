/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one definition of everything that crosses the kernel/user boundary: ring-buffer records,
 * map keys and values, enums. Fixed-width types and explicit padding only, so the TypeScript
 * decoder (src/trace/decode.ts) can read it byte for byte; test/trace/btf-layout.test.ts checks
 * the decoder against the BTF of the built object.
 *
 * A record is `struct lt_hdr` + the kind's body + a tail of strings whose lengths the body
 * gives (paths without NUL; argv as NUL-separated strings). hdr.size is the whole record.
 */
#ifndef LTRACK_H
#define LTRACK_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Bounds of the wire format. An enum, not #defines, so they land in BTF and the layout test
 * checks them against src/trace/wire.ts LIMITS like every struct and enum here. */
enum lt_limit {
	LT_COMM_LEN = 16,
	/* Paths longer than this are cut (flag LT_F_TRUNCATED); the walk buffer is twice as large. */
	LT_PATH_MAX = 4096,
	LT_ARGV_MAX = 1024,
	/* Deepest dentry/mount walk (components + mount crossings) before a path is cut. */
	LT_WALK_STEPS = 128,
	/* Exact-path rule keys (exec allow list, open rules) hold this many bytes, zero-padded. */
	LT_RULE_PATH = 256,
	LT_UNIX_PATH = 108,
	/* Paths longer than this are not aggregated (see struct lt_agg_val). */
	LT_AGG_PATH = 512,
};
#define LT_PATH_MASK (LT_PATH_MAX - 1)
#define LT_ARGV_MASK (LT_ARGV_MAX - 1)

/* Kinds in the order of src/core/event.ts EVENT_KINDS; the value is the wire value. */
enum lt_kind {
	LT_FORK = 0,
	LT_EXEC = 1,
	LT_EXIT = 2,
	LT_FILE_OPEN = 3,
	LT_MMAP_EXEC = 4,
	LT_CONNECT = 5,
	LT_BIND = 6,
	LT_SENDMSG = 7,
	LT_SENDFILE = 8,
	LT_PTRACE = 9,
	LT_SETID = 10,
	LT_MOUNT = 11,
	LT_BPF = 12,
	LT_MODULE_LOAD = 13,
	LT_MEMFD_CREATE = 14,
	LT_IO_URING = 15,
	LT_KIND_COUNT = 16,
};

enum lt_flag {
	LT_F_TRUNCATED = 1,  /* a path or argv was cut by a bound */
	LT_F_UNRESOLVED = 2, /* path is the user's string (failed open), not a dentry walk */
	LT_F_KILLED = 4,     /* enforcement sent SIGKILL */
	LT_F_DENIED = 8,     /* enforcement denied the operation (EPERM) */
	LT_F_MPROTECT = 16,  /* mmap_exec came from mprotect adding PROT_EXEC */
	/* file_open reporting a name made by rename/renameat/renameat2 (LT_F_RENAME) or
	 * link/linkat/symlink/symlinkat (LT_F_LINK) rather than an open: the new name, as O_WRONLY|O_CREAT */
	LT_F_RENAME = 32,
	LT_F_LINK = 64,
	/* file_open of a guarded model file (lt_guard): a write-open by any process (the file is
	 * suspect from then on), or an open by the traced tree (killed when not verified) */
	LT_F_GUARD = 128,
};

/* Which syscall a privileged-op event (struct lt_op) reports. */
enum lt_op {
	LT_OP_PTRACE = 0,
	LT_OP_SETUID = 1,
	LT_OP_SETGID = 2,
	LT_OP_SETREUID = 3,
	LT_OP_SETREGID = 4,
	LT_OP_SETRESUID = 5,
	LT_OP_SETRESGID = 6,
	LT_OP_CAPSET = 7,
	LT_OP_MOUNT = 8,
	LT_OP_BPF = 9,
	LT_OP_INIT_MODULE = 10,
	LT_OP_FINIT_MODULE = 11,
	LT_OP_IO_URING_SETUP = 12,
	LT_OP_MOUNT_SETATTR = 13,
	LT_OP_FSMOUNT = 14,
};

enum lt_family {
	LT_FAM_OTHER = 0,
	LT_FAM_INET = 1,
	LT_FAM_INET6 = 2,
	LT_FAM_UNIX = 3,
};

/* lt_mode[LT_MODE_ENFORCE] */
enum lt_mode_bits {
	LT_MODE_KILL_EXEC = 1, /* kill an exec whose path is not in lt_allow_exec */
	LT_MODE_KILL_MMAP = 2, /* kill an executable mapping not in lt_allow_lib_* */
	LT_MODE_DENY_NET = 4,  /* deny connect/sendmsg not in lt_allow_net */
	LT_MODE_GUARD = 8,     /* watch lt_guard files: a write-open by anyone makes one suspect */
	LT_MODE_KILL_GUARD = 16, /* kill the traced tree's opens of guarded files not verified */
};

/* lt_guard values: a guarded model file's inode as user space last verified it */
enum lt_guard_state {
	LT_GUARD_VERIFIED = 1, /* its bytes hashed to the signed digest */
	LT_GUARD_SUSPECT = 2,  /* opened for writing since, or found changed: not to be read */
};

struct lt_hdr {
	__u64 ts;
	__u64 cgroup;
	__u32 size;  /* whole record, header included */
	__u16 kind;  /* enum lt_kind */
	__u16 flags; /* enum lt_flag bits */
	__u32 pid;
	__u32 tgid;
	__u32 ppid;
	__u32 uid;
	__u32 mntns;
	__u32 count; /* identical events folded into this one, >= 1 */
	char comm[LT_COMM_LEN];
};

struct lt_fork {
	__u32 child_tgid;
	__u32 pad;
};

struct lt_exit {
	__s32 exit_code; /* the wait status: code << 8 | signal */
	__u32 pad;
};

/* tail: path (path_len bytes), then argv (argv_len bytes, argc NUL-terminated strings) */
struct lt_exec {
	__u16 path_len;
	__u16 argv_len;
	__u16 argc;
	__u16 rule; /* 1 + index of the kernel rule that matched, 0 for none */
};

/* tail: path. inode/dev identify the opened file whatever path reached it (a hard link, a renamed
 * folder, another mount of it): the decoy secrets are matched by identity, not by name. dev is the
 * kernel's s_dev (major << 20 | minor); both are 0 for a failed open. */
struct lt_open {
	__u64 inode;
	__u32 dev;
	__u32 flags;
	__s32 ret;
	__u16 path_len;
	__u16 rule; /* 1 + index of the kernel rule that matched, 0 for none */
};

/* tail: path */
struct lt_mmap {
	__u64 inode;
	__u32 dev;
	__u32 prot;
	__u16 path_len;
	__u16 pad[3];
};

/* connect / bind / sendmsg; tail: unix socket path (path_len bytes, abstract ones start with '@') */
struct lt_net {
	__u8 addr[16]; /* IPv4 in the first 4 bytes, network order */
	__s32 ret;
	__u16 family; /* enum lt_family */
	__u16 port;   /* host order */
	__u16 path_len;
	__u16 rule; /* 1 + index of the kernel rule that matched, 0 for none */
	__u16 pad[2];
};

/* A regular file's bytes moved toward a socket in the kernel; tail: source path.
 * sendfile: file -> socket directly. splice: file -> pipe or socket (a file reaches a socket by
 * splice only through a pipe, so the file end is what is reported). copy_file_range cannot
 * target a socket and is not reported. */
enum lt_xfer {
	LT_XFER_SENDFILE = 0,
	LT_XFER_SPLICE = 1,
};

struct lt_sendfile {
	__u64 bytes;
	__u16 path_len;
	__u16 via; /* enum lt_xfer */
	__u16 pad[2];
};

/* privileged operations; memfd_create uses it too with the name as tail */
struct lt_op_ev {
	__u64 arg;
	__u32 op; /* enum lt_op */
	__u16 path_len;
	__u16 pad;
};

/* Key of the allow list of libraries by inode. */
struct lt_inode_key {
	__u64 inode;
	__u32 dev;
	__u32 pad;
};

/* Key of the network allow list: an address (IPv4 in the first 4 bytes) and a port. */
struct lt_net_key {
	__u8 addr[16];
	__u16 family;
	__u16 port;
	__u32 pad;
};

/* Exact-path keys (exec allow list, open rules): zero-padded path bytes. */
struct lt_path_key {
	char path[LT_RULE_PATH];
};

/* Path-prefix rule key (LPM trie): prefixlen counts bits of path bytes. */
struct lt_prefix_key {
	__u32 prefixlen;
	char path[LT_RULE_PATH];
};

/* The slots of the lt_mode array map. */
enum lt_mode_slot {
	LT_MODE_ENFORCE = 0, /* enum lt_mode_bits */
	/* kinds (1 << enum lt_kind) that kernel rules filter: only events matching a rule of that
	 * kind are sent. Kinds: LT_FILE_OPEN (exact/prefix paths), LT_EXEC (exact paths),
	 * LT_CONNECT (ports). */
	LT_MODE_RULE_KINDS = 1,
	LT_MODE_SLOTS = 2,
};

/* Aggregation of repeated identical opens (same tgid, flags and file: dentry + mount) within a
 * window: the first is sent at once; repeats only count, and the count is sent with the next
 * occurrence after the window, at the process's exit, or when the tracer stops (user space reads
 * lt_agg) - never lost. Paths longer than LT_AGG_PATH are not aggregated. */
struct lt_agg_key {
	__u64 dentry;
	__u64 mnt;
	__u32 tgid;
	__u32 flags;
};

struct lt_agg_val {
	struct lt_hdr hdr; /* of the first event; count/ts are rewritten when flushed */
	struct lt_open body;
	__u64 window_start;
	__u64 last_ts;
	__u64 pending; /* repeats not yet reported (u64: BPF's atomic exchange is 64-bit) */
	char path[LT_AGG_PATH];
};

/* The event kind each BPF program reports: one tag per program (LT_TAG in common.bpf.h), in
 * section .rodata.lt_tags. The addon loads only the programs whose kind was asked for, by tag,
 * and refuses an object with an untagged program or a tag naming no program. */
enum lt_tag_load {
	LT_LOAD_BY_KIND = 0, /* loaded when its kind is in the kind mask */
	LT_LOAD_ALWAYS = 1,  /* loaded whatever the mask: it keeps the traced tree or enforces */
};
#define LT_TAG_NAME 48
struct lt_tag {
	char prog[LT_TAG_NAME]; /* the program's function name, NUL-terminated */
	__u32 kind;		/* enum lt_kind */
	__u32 load;		/* enum lt_tag_load */
};

/* The largest record: header + the largest body + a full path + full argv. */
#define LT_REC_MAX (sizeof(struct lt_hdr) + 32 + LT_PATH_MAX + LT_ARGV_MAX)

_Static_assert(sizeof(struct lt_hdr) == 64, "lt_hdr");
_Static_assert(sizeof(struct lt_fork) == 8, "lt_fork");
_Static_assert(sizeof(struct lt_exit) == 8, "lt_exit");
_Static_assert(sizeof(struct lt_exec) == 8, "lt_exec");
_Static_assert(sizeof(struct lt_open) == 24, "lt_open");
_Static_assert(sizeof(struct lt_mmap) == 24, "lt_mmap");
_Static_assert(sizeof(struct lt_net) == 32, "lt_net");
_Static_assert(sizeof(struct lt_sendfile) == 16, "lt_sendfile");
_Static_assert(sizeof(struct lt_op_ev) == 16, "lt_op_ev");
_Static_assert(sizeof(struct lt_inode_key) == 16, "lt_inode_key");
_Static_assert(sizeof(struct lt_net_key) == 24, "lt_net_key");
_Static_assert(sizeof(struct lt_agg_key) == 24, "lt_agg_key");
_Static_assert(sizeof(struct lt_prefix_key) == 4 + LT_RULE_PATH, "lt_prefix_key");
/* no padding: the tags' section is read as an array of them */
_Static_assert(sizeof(struct lt_tag) == LT_TAG_NAME + 8, "lt_tag");
_Static_assert(sizeof(struct lt_agg_val) == 64 + 24 + 24 + LT_AGG_PATH, "lt_agg_val");

#endif
