/* SPDX-License-Identifier: Apache-2.0 */
/* Operations a model load should never do: ptrace, identity changes, mount, bpf, module
 * loading, io_uring. Reported at sys_enter with the syscall's main argument. */

static __always_inline int op_event(__u32 kind, __u32 op, __u64 arg, const char *ustr, int fd)
{
	if (!kind_on(kind) || !is_traced(bpf_get_current_pid_tgid() >> 32))
		return 0;
	struct lt_scratch *s = scratch();
	if (!s)
		return 0;
	struct lt_hdr *h = (void *)s->rec;
	struct lt_op_ev *b = (void *)(h + 1);
	char *tail = (char *)(b + 1);
	fill_hdr(h, kind);
	b->arg = arg;
	b->op = op;
	b->pad = 0;
	__u16 len = 0;
	struct file *f = fd >= 0 ? fd_file(fd) : NULL;
	if (f)
		len = file_path(s, f, tail, h);
	else if (ustr) {
		h->flags |= LT_F_UNRESOLVED;
		len = user_str(ustr, tail, h);
	}
	b->path_len = len;
	emit(s->rec, sizeof(*h) + sizeof(*b) + (len & LT_PATH_MASK), kind);
	return 0;
}

#define LT_OP_PROG(name, kind, op, argexpr, ustr, fd)              \
	LT_TAG(lt_enter_##name, kind);                             \
	SEC("tracepoint/syscalls/sys_enter_" #name)                \
	int lt_enter_##name(struct trace_event_raw_sys_enter *ctx) \
	{                                                          \
		return op_event(kind, op, argexpr, ustr, fd);      \
	}

/* ptrace: request << 32 | target pid */
LT_OP_PROG(ptrace, LT_PTRACE, LT_OP_PTRACE, (ctx->args[0] << 32) | (__u32)ctx->args[1], NULL, -1)
LT_OP_PROG(setuid, LT_SETID, LT_OP_SETUID, ctx->args[0], NULL, -1)
LT_OP_PROG(setgid, LT_SETID, LT_OP_SETGID, ctx->args[0], NULL, -1)
/* the effective id is what grants privilege */
LT_OP_PROG(setreuid, LT_SETID, LT_OP_SETREUID, ctx->args[1], NULL, -1)
LT_OP_PROG(setregid, LT_SETID, LT_OP_SETREGID, ctx->args[1], NULL, -1)
LT_OP_PROG(setresuid, LT_SETID, LT_OP_SETRESUID, ctx->args[1], NULL, -1)
LT_OP_PROG(setresgid, LT_SETID, LT_OP_SETRESGID, ctx->args[1], NULL, -1)
LT_OP_PROG(capset, LT_SETID, LT_OP_CAPSET, 0, NULL, -1)
/* mount: flags, and the target directory as the user gave it */
LT_OP_PROG(mount, LT_MOUNT, LT_OP_MOUNT, ctx->args[3], (const char *)ctx->args[1], -1)
LT_OP_PROG(fsmount, LT_MOUNT, LT_OP_FSMOUNT, ctx->args[1], NULL, -1)
LT_OP_PROG(mount_setattr, LT_MOUNT, LT_OP_MOUNT_SETATTR, ctx->args[2], (const char *)ctx->args[1],
	   -1)
LT_OP_PROG(bpf, LT_BPF, LT_OP_BPF, ctx->args[0], NULL, -1)
LT_OP_PROG(init_module, LT_MODULE_LOAD, LT_OP_INIT_MODULE, ctx->args[1], NULL, -1)
LT_OP_PROG(finit_module, LT_MODULE_LOAD, LT_OP_FINIT_MODULE, ctx->args[2], NULL, (int)ctx->args[0])
LT_OP_PROG(io_uring_setup, LT_IO_URING, LT_OP_IO_URING_SETUP, ctx->args[0], NULL, -1)
