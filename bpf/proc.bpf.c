/* SPDX-License-Identifier: Apache-2.0 */
/* Process tree: fork grows it, exec reports (and may kill), exit prunes it. tp_btf programs:
 * sched tracepoints are the only process hooks this kind of kernel lets load. */

/* fork and exit keep the traced tree whatever is reported; exec enforces kill mode */
LT_TAG_ALWAYS(lt_fork, LT_FORK);
SEC("tp_btf/sched_process_fork")
int BPF_PROG(lt_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid;
	__u32 ctgid = child->tgid;
	/* a new thread shares its tgid: the tree is of processes */
	if (ctgid == ptgid || !is_traced(ptgid))
		return 0;
	__u8 one = 1;
	if (bpf_map_update_elem(&lt_traced, &ctgid, &one, BPF_ANY)) {
		__u32 k = 0;
		__u64 *n = bpf_map_lookup_elem(&lt_lost_forks, &k);
		if (n)
			*n += 1;
	}
	if (!kind_on(LT_FORK))
		return 0;
	struct lt_scratch *s = scratch();
	if (!s)
		return 0;
	struct lt_hdr *h = (void *)s->rec;
	struct lt_fork *b = (void *)(h + 1);
	fill_hdr(h, LT_FORK);
	b->child_tgid = ctgid;
	b->pad = 0;
	emit(s->rec, sizeof(*h) + sizeof(*b), LT_FORK);
	return 0;
}

LT_TAG_ALWAYS(lt_exec, LT_EXEC);
SEC("tp_btf/sched_process_exec")
int BPF_PROG(lt_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!is_traced(tgid))
		return 0;
	struct lt_scratch *s = scratch();
	if (!s)
		return 0;
	struct lt_hdr *h = (void *)s->rec;
	struct lt_exec *b = (void *)(h + 1);
	char *tail = (char *)(b + 1);
	fill_hdr(h, LT_EXEC);
	__u32 trunc = 0;
	struct path fp;
	bpf_core_read(&fp, sizeof(fp), &bprm->file->f_path);
	__u32 start = resolve_path(s, &fp, &trunc);
	if (trunc)
		h->flags |= LT_F_TRUNCATED;
	__u32 plen = copy_walk(s, start, tail);

	bool keyed = path_key(s, start);
	/* Enforcement before the new program's first instruction: a SIGKILL sent here is delivered
	 * on the way back to user space. */
	if ((mode_bits() & LT_MODE_KILL_EXEC) &&
	    (!keyed || !bpf_map_lookup_elem(&lt_allow_exec, &s->key))) {
		bpf_send_signal(SIGKILL);
		h->flags |= LT_F_KILLED;
	}
	b->rule = 0;
	if (keyed) {
		__u32 *r = bpf_map_lookup_elem(&lt_rule_exec, &s->key);
		if (r)
			b->rule = *r + 1;
	}
	/* kernel rules filter execs; a killed one is always sent */
	if ((rule_kinds() & (1u << LT_EXEC)) && !b->rule && !(h->flags & LT_F_KILLED))
		return 0;

	struct mm_struct *mm = p->mm;
	unsigned long as = BPF_CORE_READ(mm, arg_start);
	unsigned long ae = BPF_CORE_READ(mm, arg_end);
	__u32 alen = ae > as ? ae - as : 0;
	if (alen > LT_ARGV_MAX) {
		alen = LT_ARGV_MAX;
		h->flags |= LT_F_TRUNCATED;
	}
	barrier_var(plen);
	plen &= LT_PATH_MASK;
	barrier_var(alen);
	alen &= LT_ARGV_MAX | LT_ARGV_MASK;
	if (alen > LT_ARGV_MAX)
		alen = LT_ARGV_MAX;
	barrier_var(alen);
	alen &= LT_ARGV_MAX | LT_ARGV_MASK;
	if (bpf_probe_read_user(tail + plen, alen, (void *)as))
		alen = 0;
	b->path_len = plen;
	b->argv_len = alen;
	b->argc = BPF_CORE_READ(bprm, argc);
	emit(s->rec, sizeof(*h) + sizeof(*b) + plen + alen, LT_EXEC);
	return 0;
}

/* At a traced process's exit its aggregated opens are sent with their pending counts. */
struct flush_ctx {
	__u32 tgid;
};

static long flush_one(struct bpf_map *map, struct lt_agg_key *k, struct lt_agg_val *v,
		      struct flush_ctx *c)
{
	if (k->tgid != c->tgid)
		return 0;
	__u64 pending = __sync_lock_test_and_set(&v->pending, 0);
	if (pending) {
		struct lt_scratch *s = scratch();
		if (s) {
			struct lt_hdr *h = (void *)s->rec;
			__builtin_memcpy(h, &v->hdr, sizeof(v->hdr) + sizeof(v->body));
			h->ts = v->last_ts;
			h->count = pending;
			__u32 len = v->body.path_len & (LT_AGG_PATH - 1);
			bpf_probe_read_kernel(s->rec + sizeof(v->hdr) + sizeof(v->body), len,
					      v->path);
			emit(s->rec, sizeof(v->hdr) + sizeof(v->body) + len, LT_FILE_OPEN);
		}
	}
	bpf_map_delete_elem(map, k);
	return 0;
}

LT_TAG_ALWAYS(lt_exit, LT_EXIT);
SEC("tp_btf/sched_process_exit")
int BPF_PROG(lt_exit, struct task_struct *p, bool group_dead)
{
	__u32 tgid = p->tgid;
	/* only the last thread's exit ends the process */
	if (!group_dead || !bpf_map_lookup_elem(&lt_traced, &tgid))
		return 0;
	bpf_map_delete_elem(&lt_traced, &tgid);
	if (agg_window_ns) {
		struct flush_ctx fc = { .tgid = tgid };
		bpf_for_each_map_elem(&lt_agg, flush_one, &fc, 0);
	}
	if (!kind_on(LT_EXIT))
		return 0;
	struct lt_scratch *s = scratch();
	if (!s)
		return 0;
	struct lt_hdr *h = (void *)s->rec;
	struct lt_exit *b = (void *)(h + 1);
	fill_hdr(h, LT_EXIT);
	b->exit_code = p->exit_code;
	b->pad = 0;
	emit(s->rec, sizeof(*h) + sizeof(*b), LT_EXIT);
	return 0;
}
