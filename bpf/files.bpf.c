/* SPDX-License-Identifier: Apache-2.0 */
/* File activity: opens (resolved at sys_exit from the new fd, or the user's string when the open
 * failed), executable mappings (mmap PROT_EXEC; mprotect adding exec), sendfile of a file into a
 * socket, memfd_create. Specific syscall tracepoints only: a raw sys_enter on every syscall would
 * tax untraced processes too. */

#define O_WRONLY 01
#define O_RDWR 02
#define O_CREAT 0100
#define O_TRUNC 01000
#define MAP_ANONYMOUS 0x20

/* Opens are reported from sys_exit alone, with the arguments read back from the syscall's saved
 * registers: one program per open instead of an enter/exit pair halves what an untraced
 * process pays (measured: bench/RESULTS.md). The registers are read with libbpf's
 * PT_REGS_PARMn_CORE_SYSCALL, which knows each architecture's syscall convention (x86-64: the
 * fourth argument is in r10; arm64: the first is orig_x0, x0 holds the result by sys_exit). */
static __always_inline struct pt_regs *syscall_regs(void)
{
	return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
}

/* Returns true when this open only counts as a repeat (nothing to send now); sets *count to what
 * the event to send carries, and *store when a new aggregation entry must be recorded. */
static __always_inline bool open_fold(struct lt_agg_key *k, __u32 *count, bool *store)
{
	struct lt_agg_val *v = bpf_map_lookup_elem(&lt_agg, k);
	__u64 now = bpf_ktime_get_ns();
	if (!v) {
		*store = true;
		return false;
	}
	v->last_ts = now;
	if (now - v->window_start < agg_window_ns) {
		__sync_fetch_and_add(&v->pending, 1);
		return true;
	}
	*count = 1 + __sync_lock_test_and_set(&v->pending, 0);
	v->window_start = now;
	return false;
}

static __always_inline void open_store(struct lt_scratch *s, struct lt_agg_key *k, __u16 len)
{
	if (len >= LT_AGG_PATH)
		return;
	struct lt_agg_val *v = &s->agg;
	__builtin_memcpy(&v->hdr, s->rec, sizeof(v->hdr) + sizeof(v->body));
	v->window_start = v->hdr.ts;
	v->last_ts = v->hdr.ts;
	v->pending = 0;
	bpf_probe_read_kernel(v->path, len & (LT_AGG_PATH - 1),
			      s->rec + sizeof(struct lt_hdr) + sizeof(struct lt_open));
	/* a full map only means this open is not aggregated: every one is then sent */
	bpf_map_update_elem(&lt_agg, k, v, BPF_NOEXIST);
}

/* The guard state of the opened file's inode, or NULL when it is not a guarded model file. */
static __always_inline __u8 *guard_state(struct file *f)
{
	struct inode *ino = BPF_CORE_READ(f, f_inode);
	struct lt_inode_key k = { .inode = BPF_CORE_READ(ino, i_ino),
				  .dev = BPF_CORE_READ(ino, i_sb, s_dev),
				  .pad = 0 };
	return bpf_map_lookup_elem(&lt_guard, &k);
}

static __always_inline int open_exit(long ret, const char *filename, __u64 flags)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!kind_on(LT_FILE_OPEN))
		return 0;
	__u32 mode = mode_bits();
	bool writes = flags & (O_WRONLY | O_RDWR | O_TRUNC);
	bool traced = is_traced(tgid);
	/* Outside the traced tree only write-opens matter, and only while model files are guarded:
	 * whoever writes one makes it suspect before its write can land, so the traced tree cannot
	 * read the new bytes until user space has hashed them. */
	if (!traced && !((mode & LT_MODE_GUARD) && writes && ret >= 0))
		return 0;
	struct file *f = ret >= 0 ? fd_file(ret) : NULL;
	__u8 *gs = (mode & LT_MODE_GUARD) && f ? guard_state(f) : NULL;
	__u16 guard_flags = 0;
	if (gs && writes) {
		*gs = LT_GUARD_SUSPECT;
		guard_flags = LT_F_GUARD;
	} else if (gs && *gs != LT_GUARD_VERIFIED) {
		guard_flags = LT_F_GUARD;
		if (mode & LT_MODE_KILL_GUARD) {
			bpf_send_signal(SIGKILL);
			guard_flags |= LT_F_KILLED;
		}
	}
	if (!traced && !guard_flags)
		return 0;
	struct lt_agg_key k = {};
	__u32 count = 1;
	bool store = false;
	/* a guarded open is never folded into an earlier one: each is a decision */
	if (f && agg_window_ns && !guard_flags) {
		k.dentry = (__u64)BPF_CORE_READ(f, f_path.dentry);
		k.mnt = (__u64)BPF_CORE_READ(f, f_path.mnt);
		k.tgid = tgid;
		k.flags = flags;
		if (open_fold(&k, &count, &store))
			return 0;
	}
	struct lt_scratch *s = scratch();
	if (!s)
		return 0;
	struct lt_hdr *h = (void *)s->rec;
	struct lt_open *b = (void *)(h + 1);
	char *tail = (char *)(b + 1);
	fill_hdr(h, LT_FILE_OPEN);
	h->flags |= guard_flags;
	h->count = count;
	b->flags = flags;
	b->ret = ret;
	b->rule = 0;
	b->inode = 0;
	b->dev = 0;
	__u16 len;
	if (f) {
		/* the file's identity, read from the kernel's struct file: no path trick changes it */
		struct inode *ino = BPF_CORE_READ(f, f_inode);
		b->inode = BPF_CORE_READ(ino, i_ino);
		b->dev = BPF_CORE_READ(ino, i_sb, s_dev);
		__u32 trunc = 0;
		struct path p;
		bpf_core_read(&p, sizeof(p), &f->f_path);
		__u32 start = resolve_path(s, &p, &trunc);
		if (trunc)
			h->flags |= LT_F_TRUNCATED;
		len = copy_walk(s, start, tail);
		/* another inode at a guarded path: renamed over, or replaced, since it was verified */
		if (!gs && (mode & LT_MODE_GUARD) && !writes && path_key(s, start) &&
		    bpf_map_lookup_elem(&lt_guard_path, &s->key)) {
			h->flags |= LT_F_GUARD;
			if (mode & LT_MODE_KILL_GUARD) {
				bpf_send_signal(SIGKILL);
				h->flags |= LT_F_KILLED;
			}
		}
		if (rule_kinds() & (1u << LT_FILE_OPEN) && !(h->flags & LT_F_GUARD)) {
			/* kernel rules filter opens: send only those matching one (a path too long to be
			 * a key matches none) */
			b->rule = path_key(s, start) ? rule_open(s, start) : 0;
			if (!b->rule)
				return 0;
		}
	} else {
		/* racy by nature: another thread may have changed the string since the call; never
		 * filtered by rules, which match resolved paths */
		h->flags |= LT_F_UNRESOLVED;
		len = user_str(filename, tail, h);
	}
	b->path_len = len;
	if (store)
		open_store(s, &k, len);
	emit(s->rec, sizeof(*h) + sizeof(*b) + (len & LT_PATH_MASK), LT_FILE_OPEN);
	return 0;
}

LT_TAG(lt_exit_openat, LT_FILE_OPEN);
SEC("tracepoint/syscalls/sys_exit_openat")
int lt_exit_openat(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *r = syscall_regs();
	return open_exit(ctx->ret, (const char *)PT_REGS_PARM2_CORE_SYSCALL(r),
			 PT_REGS_PARM3_CORE_SYSCALL(r));
}

LT_TAG(lt_exit_open, LT_FILE_OPEN);
SEC("tracepoint/syscalls/sys_exit_open")
int lt_exit_open(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *r = syscall_regs();
	return open_exit(ctx->ret, (const char *)PT_REGS_PARM1_CORE_SYSCALL(r),
			 PT_REGS_PARM2_CORE_SYSCALL(r));
}

LT_TAG(lt_exit_creat, LT_FILE_OPEN);
SEC("tracepoint/syscalls/sys_exit_creat")
int lt_exit_creat(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *r = syscall_regs();
	return open_exit(ctx->ret, (const char *)PT_REGS_PARM1_CORE_SYSCALL(r),
			 O_CREAT | O_WRONLY | O_TRUNC);
}

LT_TAG(lt_exit_openat2, LT_FILE_OPEN);
SEC("tracepoint/syscalls/sys_exit_openat2")
int lt_exit_openat2(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *r = syscall_regs();
	__u64 flags = 0;
	/* struct open_how starts with its u64 flags */
	bpf_probe_read_user(&flags, sizeof(flags), (void *)PT_REGS_PARM3_CORE_SYSCALL(r));
	return open_exit(ctx->ret, (const char *)PT_REGS_PARM2_CORE_SYSCALL(r), flags);
}

/* ---- names made without an open: rename, link, symlink ----
 * A payload can write a file anywhere harmless and then move or link it into place (authorized_keys,
 * a .pth, a cron file). A successful call is reported as a file_open of the new name with
 * O_WRONLY|O_CREAT, so the rules about writing a path apply to it. The name is the user's string,
 * read at sys_exit (LT_F_UNRESOLVED: another thread may have changed it since); a relative one is
 * joined to the kernel's path of its directory fd (or the cwd). */
#define AT_FDCWD -100

static __always_inline int name_made(long ret, int dirfd, const char *name, __u16 how)
{
	if (ret != 0 || !kind_on(LT_FILE_OPEN) || !is_traced(bpf_get_current_pid_tgid() >> 32))
		return 0;
	struct lt_scratch *s = scratch();
	if (!s)
		return 0;
	struct lt_hdr *h = (void *)s->rec;
	struct lt_open *b = (void *)(h + 1);
	char *tail = (char *)(b + 1);
	fill_hdr(h, LT_FILE_OPEN);
	h->flags |= how | LT_F_UNRESOLVED;
	b->flags = O_WRONLY | O_CREAT;
	b->ret = 0;
	b->rule = 0;
	b->inode = 0;
	b->dev = 0;
	char first = 0;
	bpf_probe_read_user(&first, 1, name);
	/* the directory part: walk[start..LT_PATH_MAX), empty for an absolute name */
	__u32 start = LT_PATH_MAX;
	if (first != '/') {
		struct path dir;
		struct file *df = dirfd == AT_FDCWD ? NULL : fd_file(dirfd);
		if (dirfd == AT_FDCWD) {
			struct task_struct *t = (struct task_struct *)bpf_get_current_task();
			BPF_CORE_READ_INTO(&dir, t, fs, pwd);
		} else if (df) {
			bpf_core_read(&dir, sizeof(dir), &df->f_path);
		} else {
			return 0;
		}
		__u32 trunc = 0;
		start = resolve_path(s, &dir, &trunc);
		if (trunc)
			h->flags |= LT_F_TRUNCATED;
		/* "/" + "/name" would double the slash */
		if (start == LT_PATH_MAX - 1)
			start = LT_PATH_MAX;
		s->walk[LT_PATH_MAX] = '/';
		long n = bpf_probe_read_user_str(&s->walk[LT_PATH_MAX + 1], LT_PATH_MAX - 1, name);
		if (n <= 0)
			return 0;
		__u32 len = LT_PATH_MAX - start + n; /* dir + '/' + name without its NUL */
		if (len > LT_PATH_MASK) {
			len = LT_PATH_MASK;
			h->flags |= LT_F_TRUNCATED;
		}
		barrier_var(len);
		len &= LT_PATH_MASK;
		bpf_probe_read_kernel(tail, len, &s->walk[start & LT_PATH_MASK]);
		b->path_len = len;
	} else {
		b->path_len = user_str(name, tail, h);
	}
	emit(s->rec, sizeof(*h) + sizeof(*b) + (b->path_len & LT_PATH_MASK), LT_FILE_OPEN);
	return 0;
}

LT_TAG(lt_exit_rename, LT_FILE_OPEN);
SEC("tracepoint/syscalls/sys_exit_rename")
int lt_exit_rename(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *r = syscall_regs();
	return name_made(ctx->ret, AT_FDCWD, (const char *)PT_REGS_PARM2_CORE_SYSCALL(r),
			 LT_F_RENAME);
}

LT_TAG(lt_exit_renameat, LT_FILE_OPEN);
SEC("tracepoint/syscalls/sys_exit_renameat")
int lt_exit_renameat(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *r = syscall_regs();
	return name_made(ctx->ret, PT_REGS_PARM3_CORE_SYSCALL(r),
			 (const char *)PT_REGS_PARM4_CORE_SYSCALL(r), LT_F_RENAME);
}

LT_TAG(lt_exit_renameat2, LT_FILE_OPEN);
SEC("tracepoint/syscalls/sys_exit_renameat2")
int lt_exit_renameat2(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *r = syscall_regs();
	return name_made(ctx->ret, PT_REGS_PARM3_CORE_SYSCALL(r),
			 (const char *)PT_REGS_PARM4_CORE_SYSCALL(r), LT_F_RENAME);
}

LT_TAG(lt_exit_link, LT_FILE_OPEN);
SEC("tracepoint/syscalls/sys_exit_link")
int lt_exit_link(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *r = syscall_regs();
	return name_made(ctx->ret, AT_FDCWD, (const char *)PT_REGS_PARM2_CORE_SYSCALL(r),
			 LT_F_LINK);
}

LT_TAG(lt_exit_linkat, LT_FILE_OPEN);
SEC("tracepoint/syscalls/sys_exit_linkat")
int lt_exit_linkat(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *r = syscall_regs();
	return name_made(ctx->ret, PT_REGS_PARM3_CORE_SYSCALL(r),
			 (const char *)PT_REGS_PARM4_CORE_SYSCALL(r), LT_F_LINK);
}

LT_TAG(lt_exit_symlink, LT_FILE_OPEN);
SEC("tracepoint/syscalls/sys_exit_symlink")
int lt_exit_symlink(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *r = syscall_regs();
	return name_made(ctx->ret, AT_FDCWD, (const char *)PT_REGS_PARM2_CORE_SYSCALL(r),
			 LT_F_LINK);
}

LT_TAG(lt_exit_symlinkat, LT_FILE_OPEN);
SEC("tracepoint/syscalls/sys_exit_symlinkat")
int lt_exit_symlinkat(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *r = syscall_regs();
	return name_made(ctx->ret, PT_REGS_PARM2_CORE_SYSCALL(r),
			 (const char *)PT_REGS_PARM3_CORE_SYSCALL(r), LT_F_LINK);
}

/* An executable mapping of a file: report it, and in kill mode stop it unless the library is
 * allowed by inode or path. SIGKILL from sys_enter lands before the mapping's code (a library
 * constructor) can run. */
static __always_inline int exec_mapping(struct file *f, __u32 prot, __u16 extra_flags)
{
	struct lt_scratch *s = scratch();
	if (!s || !f)
		return 0;
	struct lt_hdr *h = (void *)s->rec;
	struct lt_mmap *b = (void *)(h + 1);
	char *tail = (char *)(b + 1);
	fill_hdr(h, LT_MMAP_EXEC);
	h->flags |= extra_flags;
	struct inode *ino = BPF_CORE_READ(f, f_inode);
	b->inode = BPF_CORE_READ(ino, i_ino);
	b->dev = BPF_CORE_READ(ino, i_sb, s_dev);
	b->prot = prot;
	b->pad[0] = b->pad[1] = b->pad[2] = 0;
	__u32 trunc = 0;
	struct path p;
	bpf_core_read(&p, sizeof(p), &f->f_path);
	__u32 start = resolve_path(s, &p, &trunc);
	if (trunc)
		h->flags |= LT_F_TRUNCATED;
	__u16 len = copy_walk(s, start, tail);
	b->path_len = len;
	if (mode_bits() & LT_MODE_KILL_MMAP) {
		struct lt_inode_key ik = { .inode = b->inode, .dev = b->dev, .pad = 0 };
		if (!bpf_map_lookup_elem(&lt_allow_lib_inode, &ik) &&
		    (!path_key(s, start) || !bpf_map_lookup_elem(&lt_allow_lib_path, &s->key))) {
			bpf_send_signal(SIGKILL);
			h->flags |= LT_F_KILLED;
		}
	}
	emit(s->rec, sizeof(*h) + sizeof(*b) + (len & LT_PATH_MASK), LT_MMAP_EXEC);
	return 0;
}

LT_TAG(lt_enter_mmap, LT_MMAP_EXEC);
SEC("tracepoint/syscalls/sys_enter_mmap")
int lt_enter_mmap(struct trace_event_raw_sys_enter *ctx)
{
	__u32 prot = ctx->args[2];
	__u32 flags = ctx->args[3];
	int fd = ctx->args[4];
	if (!(prot & PROT_EXEC) || (flags & MAP_ANONYMOUS) || fd < 0)
		return 0;
	if (!kind_on(LT_MMAP_EXEC) || !is_traced(bpf_get_current_pid_tgid() >> 32))
		return 0;
	return exec_mapping(fd_file(fd), prot, 0);
}

struct vma_ctx {
	struct file *file;
};

static long vma_file(struct task_struct *t, struct vm_area_struct *vma, void *arg)
{
	struct vma_ctx *c = arg;
	c->file = vma->vm_file;
	return 0;
}

LT_TAG(lt_enter_mprotect, LT_MMAP_EXEC);
SEC("tracepoint/syscalls/sys_enter_mprotect")
int lt_enter_mprotect(struct trace_event_raw_sys_enter *ctx)
{
	__u32 prot = ctx->args[2];
	if (!(prot & PROT_EXEC))
		return 0;
	if (!kind_on(LT_MMAP_EXEC) || !is_traced(bpf_get_current_pid_tgid() >> 32))
		return 0;
	struct vma_ctx c = {};
	bpf_find_vma(bpf_get_current_task_btf(), ctx->args[0], vma_file, &c, 0);
	/* anonymous memory turned executable (a JIT) has no file to report */
	if (!c.file)
		return 0;
	return exec_mapping(c.file, prot, LT_F_MPROTECT);
}

#define S_IFIFO 0010000

static __always_inline int xfer(struct file *in, struct file *out, __u64 bytes, __u16 via)
{
	if (!out || !in || (file_mode(in) & S_IFMT) != S_IFREG)
		return 0;
	__u32 om = file_mode(out) & S_IFMT;
	if (om != S_IFSOCK && !(via == LT_XFER_SPLICE && om == S_IFIFO))
		return 0;
	struct lt_scratch *s = scratch();
	if (!s)
		return 0;
	struct lt_hdr *h = (void *)s->rec;
	struct lt_sendfile *b = (void *)(h + 1);
	fill_hdr(h, LT_SENDFILE);
	b->bytes = bytes;
	b->via = via;
	b->pad[0] = b->pad[1] = 0;
	__u16 len = file_path(s, in, (char *)(b + 1), h);
	b->path_len = len;
	emit(s->rec, sizeof(*h) + sizeof(*b) + (len & LT_PATH_MASK), LT_SENDFILE);
	return 0;
}

LT_TAG(lt_enter_sendfile, LT_SENDFILE);
SEC("tracepoint/syscalls/sys_enter_sendfile64")
int lt_enter_sendfile(struct trace_event_raw_sys_enter *ctx)
{
	if (!kind_on(LT_SENDFILE) || !is_traced(bpf_get_current_pid_tgid() >> 32))
		return 0;
	/* sendfile(out_fd, in_fd, offset, count) */
	return xfer(fd_file(ctx->args[1]), fd_file(ctx->args[0]), ctx->args[3], LT_XFER_SENDFILE);
}

LT_TAG(lt_enter_splice, LT_SENDFILE);
SEC("tracepoint/syscalls/sys_enter_splice")
int lt_enter_splice(struct trace_event_raw_sys_enter *ctx)
{
	if (!kind_on(LT_SENDFILE) || !is_traced(bpf_get_current_pid_tgid() >> 32))
		return 0;
	/* splice(fd_in, off_in, fd_out, off_out, len, flags) */
	return xfer(fd_file(ctx->args[0]), fd_file(ctx->args[2]), ctx->args[4], LT_XFER_SPLICE);
}

LT_TAG(lt_enter_memfd_create, LT_MEMFD_CREATE);
SEC("tracepoint/syscalls/sys_enter_memfd_create")
int lt_enter_memfd_create(struct trace_event_raw_sys_enter *ctx)
{
	if (!kind_on(LT_MEMFD_CREATE) || !is_traced(bpf_get_current_pid_tgid() >> 32))
		return 0;
	struct lt_scratch *s = scratch();
	if (!s)
		return 0;
	struct lt_hdr *h = (void *)s->rec;
	struct lt_op_ev *b = (void *)(h + 1);
	fill_hdr(h, LT_MEMFD_CREATE);
	b->arg = ctx->args[1];
	b->op = 0;
	b->pad = 0;
	__u16 len = user_str((const char *)ctx->args[0], (char *)(b + 1), h);
	b->path_len = len;
	emit(s->rec, sizeof(*h) + sizeof(*b) + (len & LT_PATH_MASK), LT_MEMFD_CREATE);
	return 0;
}
