/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Maps, configuration and helpers shared by every attach concern (proc, files, net, privops).
 * All concerns are compiled as one unit (ltrack.bpf.c) so they share these maps in one skeleton.
 */
#ifndef LT_COMMON_BPF_H
#define LT_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "ltrack.h"

#define SIGKILL 9
#define PROT_EXEC 4
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define S_IFREG 0100000
#define EPERM 1

char LICENSE[] SEC("license") = "GPL";

/* Tags program `prog` with the event kind it reports (struct lt_tag); write it just above the
 * program. LT_TAG_ALWAYS: the program is loaded whatever kinds are asked for. */
#define LT_TAG_LOAD(prog, k, how)                                                          \
	_Static_assert(sizeof(#prog) <= LT_TAG_NAME, #prog ": name too long for its tag"); \
	const struct lt_tag lt_tag_##prog SEC(".rodata.lt_tags") = { #prog, k, how }
#define LT_TAG(prog, k) LT_TAG_LOAD(prog, k, LT_LOAD_BY_KIND)
#define LT_TAG_ALWAYS(prog, k) LT_TAG_LOAD(prog, k, LT_LOAD_ALWAYS)

/* Set before load (the verifier sees constants). */
const volatile __u32 kind_mask = 0xffffffff;
/* Window of open aggregation; 0 turns it off. */
const volatile __u64 agg_window_ns = 0;
/* Force a wakeup once this much data waits in the ring; below it the consumer's poll timeout
 * flushes. Too low a threshold costs the consumer: once it is passed, every record wakes it. */
const volatile __u64 wakeup_bytes = 256 * 1024;

/* Written by user space through the mmaped .bss: how many cgroup targets exist. Zero keeps the
 * untraced fast path at one map lookup. */
__u32 n_cgroup_targets = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 * 1024 * 1024); /* resized by the addon before load */
} lt_events SEC(".maps");

/* The traced process tree: tgid -> 1. Seeded by user space, grown on fork, pruned on exit. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u8);
} lt_traced SEC(".maps");

/* cgroup v2 ids whose processes are traced (a container's cgroup). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u64);
	__type(value, __u8);
} lt_cgroups SEC(".maps");

/* Ring reservation failures per kind; per-CPU so the counter itself never contends. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LT_KIND_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} lt_drops SEC(".maps");

/* Children lt_fork could not add to lt_traced (the map full, or no memory): each is a subtree
 * nothing follows any more, read by user space and reported as an incomplete run. Per-CPU like
 * lt_drops, one slot. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lt_lost_forks SEC(".maps");

/* enum lt_mode_slot: LT_MODE_ENFORCE holds enum lt_mode_bits, zero (observe) unless the addon
 * sets enforcement; LT_MODE_RULE_KINDS the kinds filtered by kernel rules. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LT_MODE_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} lt_mode SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct lt_path_key);
	__type(value, __u8);
} lt_allow_exec SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct lt_path_key);
	__type(value, __u8);
} lt_allow_lib_path SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct lt_inode_key);
	__type(value, __u8);
} lt_allow_lib_inode SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct lt_net_key);
	__type(value, __u8);
} lt_allow_net SEC(".maps");

/* Guarded model files (the agent's integrity watch): the state of each verified inode, and the
 * inode each guarded path must resolve to; an open through the path of any other inode reads
 * bytes nobody verified. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct lt_inode_key);
	__type(value, __u8);
} lt_guard SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct lt_path_key);
	__type(value, struct lt_inode_key);
} lt_guard_path SEC(".maps");

/* Kernel rules (src/trace/rules.ts compiles src/core KernelRuleSet into these): value = rule index. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct lt_path_key);
	__type(value, __u32);
} lt_rule_open_exact SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lt_prefix_key);
	__type(value, __u32);
} lt_rule_open_prefix SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct lt_path_key);
	__type(value, __u32);
} lt_rule_exec SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u32);
} lt_rule_port SEC(".maps");

/* Syscall arguments kept from sys_enter to sys_exit, per thread. LRU: a thread killed inside a
 * syscall never reaches sys_exit and must not pin an entry forever. */
struct lt_args {
	__u64 a0;
	__u64 a1;
	__u64 a2;
	__u32 kind;
	__u32 denied; /* set by a cgroup hook that denied this thread's connect/sendmsg */
	/* The peer as the kernel copied it, set by a cgroup sock_addr hook during the call: user
	 * memory read back at sys_exit can have been rewritten by another thread since. */
	__u32 hooked; /* how many times a hook saw a peer in this call (sendmmsg: once per message) */
	__u16 family; /* enum lt_family */
	__u16 port;   /* host order */
	__u8 addr[16];
};
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct lt_args);
} lt_pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, struct lt_agg_key);
	__type(value, struct lt_agg_val);
} lt_agg SEC(".maps");

/* Per-CPU scratch: the record being built and the path walk buffer (too large for the stack). */
struct lt_scratch {
	char rec[LT_REC_MAX + 64];
	char walk[2 * LT_PATH_MAX];
	struct lt_path_key key;
	struct lt_prefix_key prefix;
	struct lt_agg_val agg;
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lt_scratch);
} lt_scratch_map SEC(".maps");

static __always_inline struct lt_scratch *scratch(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&lt_scratch_map, &zero);
}

static __always_inline __u32 mode_bits(void)
{
	__u32 idx = LT_MODE_ENFORCE;
	__u32 *m = bpf_map_lookup_elem(&lt_mode, &idx);
	return m ? *m : 0;
}

/* Whether the current process belongs to the traced tree. One lookup when no cgroup is targeted;
 * a process found through its cgroup joins lt_traced so the next check is one lookup again. */
static __always_inline bool is_traced(__u32 tgid)
{
	if (bpf_map_lookup_elem(&lt_traced, &tgid))
		return true;
	if (!n_cgroup_targets)
		return false;
	__u64 cg = bpf_get_current_cgroup_id();
	if (!bpf_map_lookup_elem(&lt_cgroups, &cg))
		return false;
	__u8 one = 1;
	bpf_map_update_elem(&lt_traced, &tgid, &one, BPF_ANY);
	return true;
}

static __always_inline bool kind_on(__u32 kind)
{
	return kind_mask & (1u << kind);
}

/* Fills the common header from the current task. */
static __always_inline void fill_hdr(struct lt_hdr *h, __u32 kind)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	__u64 id = bpf_get_current_pid_tgid();
	h->ts = bpf_ktime_get_ns();
	h->cgroup = bpf_get_current_cgroup_id();
	h->size = 0;
	h->kind = kind;
	h->flags = 0;
	h->pid = (__u32)id;
	h->tgid = id >> 32;
	h->ppid = BPF_CORE_READ(t, real_parent, tgid);
	h->uid = (__u32)bpf_get_current_uid_gid();
	h->mntns = BPF_CORE_READ(t, nsproxy, mnt_ns, ns.inum);
	h->count = 1;
	bpf_get_current_comm(h->comm, sizeof(h->comm));
}

/* Sends a built record; a full ring is counted per kind and CPU, never hidden. */
static __always_inline void emit(void *rec, __u32 size, __u32 kind)
{
	__u64 flags = bpf_ringbuf_query(&lt_events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ?
			      BPF_RB_FORCE_WAKEUP :
			      BPF_RB_NO_WAKEUP;
	size &= 0x3fff;
	if (size > LT_REC_MAX)
		size = LT_REC_MAX;
	((struct lt_hdr *)rec)->size = size;
	if (bpf_ringbuf_output(&lt_events, rec, size, flags)) {
		__u32 k = kind;
		__u64 *n = bpf_map_lookup_elem(&lt_drops, &k);
		if (n)
			*n += 1;
	}
}

/* ---- path resolution: a dentry/mount walk bounded by bpf_loop ---- */

struct walk_ctx {
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	struct dentry *root_dentry;
	struct vfsmount *root_mnt;
	struct lt_scratch *s;
	__u32 pos; /* path starts at walk[pos]; it ends at walk[LT_PATH_MAX] */
	__u32 done;
	__u32 truncated;
};

static __always_inline struct mount *real_mount(struct vfsmount *vm)
{
	return (struct mount *)((void *)vm - bpf_core_field_offset(struct mount, mnt));
}

static long walk_step(__u32 i, void *arg)
{
	struct walk_ctx *c = arg;
	struct dentry *d = c->dentry;
	struct vfsmount *vm = c->vfsmnt;
	struct lt_scratch *s = c->s;
	if (!s)
		return 1;
	/* The task's root (a container's or bwrap's new root) ends the walk: container paths. */
	if (d == c->root_dentry && vm == c->root_mnt) {
		c->done = 1;
		return 1;
	}
	struct dentry *mnt_root = BPF_CORE_READ(vm, mnt_root);
	struct dentry *parent = BPF_CORE_READ(d, d_parent);
	if (d == mnt_root) {
		struct mount *m = c->mnt;
		struct mount *mp = BPF_CORE_READ(m, mnt_parent);
		if (m == mp) {
			/* the top of a mount tree we are outside of (a detached or internal mount) */
			c->done = 1;
			return 1;
		}
		c->dentry = BPF_CORE_READ(m, mnt_mountpoint);
		c->mnt = mp;
		c->vfsmnt =
			(struct vfsmount *)((void *)mp + bpf_core_field_offset(struct mount, mnt));
		return 0;
	}
	struct qstr q;
	bpf_core_read(&q, sizeof(q), &d->d_name);
	__u32 len = q.len;
	__u32 pos = c->pos;
	if (len + 1 >= pos || len > LT_PATH_MASK) {
		c->truncated = 1;
		return 1;
	}
	pos -= len + 1;
	barrier_var(pos);
	s->walk[pos & LT_PATH_MASK] = '/';
	bpf_probe_read_kernel(&s->walk[(pos + 1) & LT_PATH_MASK], len & LT_PATH_MASK, q.name);
	c->pos = pos;
	c->dentry = parent;
	/* a pseudo file's dentry is its own parent (memfd:NAME): its name is the whole path */
	if (d == parent) {
		c->done = 1;
		return 1;
	}
	return 0;
}

/* Resolves a struct path to text in s->walk; returns the start offset (the path is
 * walk[start..LT_PATH_MAX)) and sets *truncated when the path was cut. */
static __always_inline __u32 resolve_path(struct lt_scratch *s, struct path *p, __u32 *truncated)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct walk_ctx c = {};
	c.dentry = BPF_CORE_READ(p, dentry);
	c.vfsmnt = BPF_CORE_READ(p, mnt);
	c.mnt = real_mount(c.vfsmnt);
	c.root_dentry = BPF_CORE_READ(t, fs, root.dentry);
	c.root_mnt = BPF_CORE_READ(t, fs, root.mnt);
	c.s = s;
	c.pos = LT_PATH_MAX;
	bpf_loop(LT_WALK_STEPS, walk_step, &c, 0);
	if (!c.done)
		c.truncated = 1;
	*truncated = c.truncated;
	if (c.pos == LT_PATH_MAX) {
		c.pos = LT_PATH_MAX - 1;
		s->walk[LT_PATH_MAX - 1] = '/';
	}
	return c.pos;
}

/* Copies the resolved path walk[start..LT_PATH_MAX) to dst; returns its length. */
static __always_inline __u32 copy_walk(struct lt_scratch *s, __u32 start, char *dst)
{
	__u32 len = LT_PATH_MAX - start;
	if (len > LT_PATH_MASK)
		len = LT_PATH_MASK;
	/* clang 14 would reuse the unmasked register: hide the value, then mask */
	barrier_var(len);
	len &= LT_PATH_MASK;
	bpf_probe_read_kernel(dst, len, &s->walk[start & LT_PATH_MASK]);
	return len;
}

static __always_inline struct file *fd_file(int fd)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	unsigned int max = BPF_CORE_READ(fdt, max_fds);
	if (fd < 0 || (unsigned int)fd >= max)
		return NULL;
	struct file **arr = BPF_CORE_READ(fdt, fd);
	struct file *f = NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &arr[fd]);
	return f;
}

static __always_inline __u32 file_mode(struct file *f)
{
	return BPF_CORE_READ(f, f_inode, i_mode);
}

/* Path of a file into the record tail at dst; sets LT_F_TRUNCATED on the header. */
static __always_inline __u16 file_path(struct lt_scratch *s, struct file *f, char *dst,
				       struct lt_hdr *h)
{
	__u32 trunc = 0;
	struct path p;
	bpf_core_read(&p, sizeof(p), &f->f_path);
	__u32 start = resolve_path(s, &p, &trunc);
	if (trunc)
		h->flags |= LT_F_TRUNCATED;
	return copy_walk(s, start, dst);
}

/* A user string (a failed open's path, a memfd name) into dst, without its NUL. */
static __always_inline __u16 user_str(const char *src, char *dst, struct lt_hdr *h)
{
	long n = bpf_probe_read_user_str(dst, LT_PATH_MAX, src);
	if (n <= 0)
		return 0;
	if (n == LT_PATH_MAX)
		h->flags |= LT_F_TRUNCATED;
	return (n - 1) & LT_PATH_MASK;
}

/* Zero-padded exact-path key of walk[start..] for the allow-list maps; false if too long. */
static __always_inline bool path_key(struct lt_scratch *s, __u32 start)
{
	__u32 len = LT_PATH_MAX - start;
	__builtin_memset(&s->key, 0, sizeof(s->key));
	if (len >= LT_RULE_PATH)
		return false;
	barrier_var(len);
	len &= LT_RULE_PATH - 1;
	bpf_probe_read_kernel(s->key.path, len, &s->walk[start & LT_PATH_MASK]);
	return true;
}

static __always_inline __u32 rule_kinds(void)
{
	__u32 idx = LT_MODE_RULE_KINDS;
	__u32 *m = bpf_map_lookup_elem(&lt_mode, &idx);
	return m ? *m : 0;
}

/* 1 + index of the open rule matching walk[start..] (exact first, then the longest prefix), 0 if
 * none. Must follow path_key(s, start), which filled s->key. */
static __always_inline __u16 rule_open(struct lt_scratch *s, __u32 start)
{
	__u32 *r = bpf_map_lookup_elem(&lt_rule_open_exact, &s->key);
	if (r)
		return *r + 1;
	__u32 len = LT_PATH_MAX - start;
	if (len >= LT_RULE_PATH)
		return 0;
	s->prefix.prefixlen = len * 8;
	__builtin_memcpy(s->prefix.path, s->key.path, LT_RULE_PATH);
	r = bpf_map_lookup_elem(&lt_rule_open_prefix, &s->prefix);
	return r ? *r + 1 : 0;
}

#endif
