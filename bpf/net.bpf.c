/* SPDX-License-Identifier: Apache-2.0 */
/* Network: connect/bind/sendto/sendmsg/sendmmsg observed at sys_exit (so the event carries the
 * result, e.g. -EPERM from a deny), and cgroup/connect|sendmsg hooks. The hooks run after the kernel
 * copied the peer from user memory: for the traced tree they record that copy for the sys_exit
 * event (a racing thread cannot rewrite it) and, in enforce mode, deny what is not allowed.
 * Data written on an already connected socket (write, send, sendmmsg without names, sendfile) has
 * the peer of its connect event. */

#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10

/* `always`: record the call even without a user address (sendmmsg: a later message may name one,
 * which only the hook then sees). */
static __always_inline int net_enter(__u32 kind, const void *uaddr, __u64 alen, bool always)
{
	__u64 id = bpf_get_current_pid_tgid();
	if ((!uaddr && !always) || !kind_on(kind) || !is_traced(id >> 32))
		return 0;
	struct lt_args a = { .a0 = (__u64)uaddr, .a1 = alen, .kind = kind };
	bpf_map_update_elem(&lt_pending, &id, &a, BPF_ANY);
	return 0;
}

/* sockaddr_storage-sized prefix of what the user passed; read once into the scratch tail */
struct lt_sa {
	__u16 family;
	__u16 port; /* network order */
	union {
		__u8 v4[4];
		struct {
			__u32 flowinfo;
			__u8 v6[16];
		};
		char sun_path[LT_UNIX_PATH];
	};
};

/* Builds and sends one connect/bind/sendmsg record. The peer is the kernel's copy when a cgroup
 * hook saw one (`a->hooked`), else what user memory holds now (unix sockets, bind; racy). */
static __always_inline int net_emit(struct lt_args *a, long ret)
{
	struct lt_scratch *s = scratch();
	if (!s)
		return 0;
	struct lt_hdr *h = (void *)s->rec;
	struct lt_net *b = (void *)(h + 1);
	char *tail = (char *)(b + 1);
	fill_hdr(h, a->kind);
	__builtin_memset(b, 0, sizeof(*b));
	b->ret = ret;
	if (a->denied)
		h->flags |= LT_F_DENIED;
	__u16 plen = 0;
	if (a->hooked) {
		b->family = a->family;
		b->port = a->port;
		__builtin_memcpy(b->addr, a->addr, 16);
	} else if (a->a0) {
		struct lt_sa sa = {};
		__u32 n = a->a1 < sizeof(sa) ? a->a1 : sizeof(sa);
		bpf_probe_read_user(&sa, n & 0x7f, (void *)a->a0);
		switch (sa.family) {
		case AF_INET:
			b->family = LT_FAM_INET;
			b->port = bpf_ntohs(sa.port);
			__builtin_memcpy(b->addr, sa.v4, 4);
			break;
		case AF_INET6:
			b->family = LT_FAM_INET6;
			b->port = bpf_ntohs(sa.port);
			__builtin_memcpy(b->addr, sa.v6, 16);
			break;
		case AF_UNIX: {
			b->family = LT_FAM_UNIX;
			/* sun_path starts right after the family; an abstract name starts with NUL, shown as '@' */
			__u32 max = n > 2 ? n - 2 : 0;
			char *src = (char *)&sa + 2;
			if (max > LT_UNIX_PATH)
				max = LT_UNIX_PATH;
			bpf_probe_read_kernel(tail, max & 0x7f, src);
			if (max && tail[0] == 0) {
				tail[0] = '@';
				plen = max;
			} else {
				long l = bpf_probe_read_kernel_str(tail, (max & 0x7f) + 1, src);
				plen = l > 0 ? l - 1 : 0;
			}
			break;
		}
		default:
			b->family = LT_FAM_OTHER;
		}
	} else {
		/* sendmmsg whose messages named no peer: the socket's connect event has it */
		return 0;
	}
	b->path_len = plen & 0x7f;
	if (a->kind == LT_CONNECT) {
		__u32 port = b->port;
		__u32 *r = b->family == LT_FAM_INET || b->family == LT_FAM_INET6 ?
				   bpf_map_lookup_elem(&lt_rule_port, &port) :
				   NULL;
		b->rule = r ? *r + 1 : 0;
		/* kernel rules filter connects by port; a denied one is always sent */
		if ((rule_kinds() & (1u << LT_CONNECT)) && !b->rule && !a->denied)
			return 0;
	}
	emit(s->rec, sizeof(*h) + sizeof(*b) + (plen & 0x7f), a->kind);
	return 0;
}

static __always_inline int net_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct lt_args *ap = bpf_map_lookup_elem(&lt_pending, &id);
	if (!ap)
		return 0;
	struct lt_args a = *ap;
	bpf_map_delete_elem(&lt_pending, &id);
	if (a.kind != LT_CONNECT && a.kind != LT_BIND && a.kind != LT_SENDMSG)
		return 0;
	return net_emit(&a, ret);
}

LT_TAG(lt_enter_connect, LT_CONNECT);
SEC("tracepoint/syscalls/sys_enter_connect")
int lt_enter_connect(struct trace_event_raw_sys_enter *ctx)
{
	return net_enter(LT_CONNECT, (void *)ctx->args[1], ctx->args[2], false);
}

LT_TAG(lt_exit_connect, LT_CONNECT);
SEC("tracepoint/syscalls/sys_exit_connect")
int lt_exit_connect(struct trace_event_raw_sys_exit *ctx)
{
	return net_exit(ctx->ret);
}

LT_TAG(lt_enter_bind, LT_BIND);
SEC("tracepoint/syscalls/sys_enter_bind")
int lt_enter_bind(struct trace_event_raw_sys_enter *ctx)
{
	return net_enter(LT_BIND, (void *)ctx->args[1], ctx->args[2], false);
}

LT_TAG(lt_exit_bind, LT_BIND);
SEC("tracepoint/syscalls/sys_exit_bind")
int lt_exit_bind(struct trace_event_raw_sys_exit *ctx)
{
	return net_exit(ctx->ret);
}

LT_TAG(lt_enter_sendto, LT_SENDMSG);
SEC("tracepoint/syscalls/sys_enter_sendto")
int lt_enter_sendto(struct trace_event_raw_sys_enter *ctx)
{
	return net_enter(LT_SENDMSG, (void *)ctx->args[4], ctx->args[5], false);
}

LT_TAG(lt_exit_sendto, LT_SENDMSG);
SEC("tracepoint/syscalls/sys_exit_sendto")
int lt_exit_sendto(struct trace_event_raw_sys_exit *ctx)
{
	return net_exit(ctx->ret);
}

LT_TAG(lt_enter_sendmsg, LT_SENDMSG);
SEC("tracepoint/syscalls/sys_enter_sendmsg")
int lt_enter_sendmsg(struct trace_event_raw_sys_enter *ctx)
{
	struct user_msghdr m = {};
	if (bpf_probe_read_user(&m, sizeof(m), (void *)ctx->args[1]))
		return 0;
	return net_enter(LT_SENDMSG, m.msg_name, m.msg_namelen, false);
}

LT_TAG(lt_exit_sendmsg, LT_SENDMSG);
SEC("tracepoint/syscalls/sys_exit_sendmsg")
int lt_exit_sendmsg(struct trace_event_raw_sys_exit *ctx)
{
	return net_exit(ctx->ret);
}

/* sendmmsg(fd, msgvec, vlen, flags): the user's copy is the first message's name (read back only
 * when no hook saw a peer); every message whose name the kernel copied reaches the hook below. */
LT_TAG(lt_enter_sendmmsg, LT_SENDMSG);
SEC("tracepoint/syscalls/sys_enter_sendmmsg")
int lt_enter_sendmmsg(struct trace_event_raw_sys_enter *ctx)
{
	/* untraced callers pay one lookup, not a user-memory read */
	if (!kind_on(LT_SENDMSG) || !is_traced(bpf_get_current_pid_tgid() >> 32))
		return 0;
	struct user_msghdr m = {};
	bpf_probe_read_user(&m, sizeof(m), (void *)ctx->args[1]);
	return net_enter(LT_SENDMSG, m.msg_name, m.msg_namelen, true);
}

LT_TAG(lt_exit_sendmmsg, LT_SENDMSG);
SEC("tracepoint/syscalls/sys_exit_sendmmsg")
int lt_exit_sendmmsg(struct trace_event_raw_sys_exit *ctx)
{
	/* ret: how many messages went, or an error */
	return net_exit(ctx->ret > 0 ? 0 : ctx->ret);
}

/* The cgroup sock_addr hooks: the peer as the kernel copied it. For a traced thread inside a traced
 * call, the first peer goes to the call's sys_exit event; a further one in the same call (sendmmsg
 * sends one message after another) is reported at once in an event of its own, and so is a peer
 * reached outside any traced syscall (io_uring's connect/sendmsg, in the task or its io-wq
 * workers): whatever path leads into the kernel's inet connect/sendmsg is seen here.
 * Enforce mode: a traced process may reach only the allowed peers. Returning 0 makes the
 * syscall fail with EPERM; the sys_exit event above then carries LT_F_DENIED. */
static __always_inline int net_hook(struct bpf_sock_addr *ctx, bool v6, __u32 kind)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!is_traced(id >> 32))
		return 1;
	struct lt_net_key k = {};
	k.family = v6 ? LT_FAM_INET6 : LT_FAM_INET;
	k.port = bpf_ntohs(ctx->user_port);
	if (v6) {
		__u32 w0 = ctx->user_ip6[0], w1 = ctx->user_ip6[1], w2 = ctx->user_ip6[2],
		      w3 = ctx->user_ip6[3];
		__builtin_memcpy(&k.addr[0], &w0, 4);
		__builtin_memcpy(&k.addr[4], &w1, 4);
		__builtin_memcpy(&k.addr[8], &w2, 4);
		__builtin_memcpy(&k.addr[12], &w3, 4);
	} else {
		__u32 w = ctx->user_ip4;
		__builtin_memcpy(k.addr, &w, 4);
	}
	bool deny = (mode_bits() & LT_MODE_DENY_NET) && !bpf_map_lookup_elem(&lt_allow_net, &k);
	struct lt_args *a = bpf_map_lookup_elem(&lt_pending, &id);
	if (!a || a->hooked) {
		/* ret is not known here: 0, or -EPERM when this hook denies */
		struct lt_args own = { .kind = a ? a->kind : kind,
				       .denied = deny,
				       .hooked = 1,
				       .family = k.family,
				       .port = k.port };
		__builtin_memcpy(own.addr, k.addr, 16);
		if (kind_on(own.kind))
			net_emit(&own, deny ? -EPERM : 0);
	}
	if (a) {
		if (!a->hooked) {
			a->hooked = 1;
			a->family = k.family;
			a->port = k.port;
			__builtin_memcpy(a->addr, k.addr, 16);
		}
		if (deny)
			a->denied = 1;
	}
	return deny ? 0 : 1;
}

LT_TAG_ALWAYS(lt_connect4, LT_CONNECT);
SEC("cgroup/connect4")
int lt_connect4(struct bpf_sock_addr *ctx)
{
	return net_hook(ctx, false, LT_CONNECT);
}

LT_TAG_ALWAYS(lt_connect6, LT_CONNECT);
SEC("cgroup/connect6")
int lt_connect6(struct bpf_sock_addr *ctx)
{
	return net_hook(ctx, true, LT_CONNECT);
}

LT_TAG_ALWAYS(lt_sendmsg4, LT_SENDMSG);
SEC("cgroup/sendmsg4")
int lt_sendmsg4(struct bpf_sock_addr *ctx)
{
	return net_hook(ctx, false, LT_SENDMSG);
}

LT_TAG_ALWAYS(lt_sendmsg6, LT_SENDMSG);
SEC("cgroup/sendmsg6")
int lt_sendmsg6(struct bpf_sock_addr *ctx)
{
	return net_hook(ctx, true, LT_SENDMSG);
}
