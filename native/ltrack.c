/* SPDX-License-Identifier: Apache-2.0 */
/*
 * N-API addon: loads the tracer skeleton, attaches it, moves ring-buffer records to JS in
 * batches (one Buffer per batch, records back to back, each starting with struct lt_hdr whose
 * size field gives its length), updates the target and allow-list maps, and frees everything on
 * close, on environment teardown and - because nothing is pinned - on a crash (the kernel drops
 * programs and links with the last file descriptor).
 *
 * Backpressure: JS pulls with poll(); while it does not, records wait in the ring and, once the
 * ring is full, the kernel counts drops per kind and CPU instead of blocking.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <node_api.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "ltrack.h"
#include "ltrack.skel.h"

#define CGROUP2_ROOT "/sys/fs/cgroup/unified"
#define MAX_LINKS 64

struct tracer {
	struct ltrack_bpf *skel;
	struct ring_buffer *rb;
	struct bpf_link *links[MAX_LINKS];
	int nlinks;
	int cgroup_fd;
	int polling; /* an async poll is in flight: close waits for it in JS */
	char skipped[512]; /* syscall tracepoints this kernel lacks (e.g. init_module without modules) */
	int closed;
	int last_errno;
	/* the batch being filled by the ring callback */
	char *batch;
	size_t used;
	size_t limit;
	char err[256];
};

static napi_value throw_code(napi_env env, const char *code, const char *msg)
{
	napi_value err, c, m;
	napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
	napi_create_error(env, NULL, m, &err);
	napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &c);
	napi_set_named_property(env, err, "ltrackCode", c);
	napi_throw(env, err);
	return NULL;
}

static void *destroy_link(void *link)
{
	bpf_link__destroy(link);
	return NULL;
}

/* Each detach waits for a kernel grace period (~45 ms here): the 37 links one by one took 1.65 s
 * of every stop; from one thread each, the waits overlap and it takes 0.8 s (measured). */
static void destroy_links(struct bpf_link **links, int n)
{
	pthread_t threads[MAX_LINKS];
	bool started[MAX_LINKS] = { 0 };
	for (int i = 0; i < n; i++)
		started[i] = pthread_create(&threads[i], NULL, destroy_link, links[i]) == 0;
	for (int i = 0; i < n; i++) {
		if (started[i])
			pthread_join(threads[i], NULL);
		else
			bpf_link__destroy(links[i]); /* no thread to spare: the slow way */
	}
}

static void tracer_free(struct tracer *t)
{
	if (t->closed)
		return;
	t->closed = 1;
	destroy_links(t->links, t->nlinks);
	t->nlinks = 0;
	ring_buffer__free(t->rb);
	t->rb = NULL;
	ltrack_bpf__destroy(t->skel);
	t->skel = NULL;
	if (t->cgroup_fd >= 0)
		close(t->cgroup_fd);
	t->cgroup_fd = -1;
}

static void env_cleanup(void *arg)
{
	struct tracer *t = arg;
	/* A poll still running on a worker thread uses the ring: leave it; the process is going
	 * away and the kernel releases programs, links and maps with its descriptors. */
	if (!t->polling)
		tracer_free(t);
}

static void tracer_finalize(napi_env env, void *data, void *hint)
{
	struct tracer *t = data;
	(void)hint;
	napi_remove_env_cleanup_hook(env, env_cleanup, t);
	/* a finalizer cannot run while a poll holds the tracer: the promise keeps the handle alive */
	tracer_free(t);
	free(t);
}

static int on_record(void *ctx, void *data, size_t len)
{
	struct tracer *t = ctx;
	memcpy(t->batch + t->used, data, len);
	t->used += len;
	/* The batch has LT_REC_MAX of slack; stopping here keeps the rest in the ring for next time. */
	return t->used >= t->limit ? -E2BIG : 0;
}

/* ---- argument helpers ---- */

static struct tracer *arg_tracer(napi_env env, napi_value v)
{
	struct tracer *t = NULL;
	if (napi_get_value_external(env, v, (void **)&t) != napi_ok || !t) {
		throw_code(env, "internal", "ltrack addon: bad tracer handle");
		return NULL;
	}
	if (t->closed) {
		throw_code(env, "internal", "ltrack addon: tracer already closed");
		return NULL;
	}
	return t;
}

static int get_u32_prop(napi_env env, napi_value obj, const char *name, uint32_t *out)
{
	napi_value v;
	bool has = false;
	napi_has_named_property(env, obj, name, &has);
	if (!has)
		return 0;
	napi_get_named_property(env, obj, name, &v);
	return napi_get_value_uint32(env, v, out) == napi_ok ? 1 : -1;
}

/* ---- open: load and attach ---- */

static int fail(struct tracer *t, const char *step, int err)
{
	t->last_errno = err < 0 ? -err : err;
	snprintf(t->err, sizeof(t->err), "%s: %s", step, strerror(err < 0 ? -err : err));
	return -1;
}

static int attach_all(struct tracer *t)
{
	struct bpf_program *prog;
	bpf_object__for_each_program(prog, t->skel->obj)
	{
		if (!bpf_program__autoload(prog))
			continue;
		if (t->nlinks >= MAX_LINKS)
			return fail(t, "attach: too many programs", E2BIG);
		struct bpf_link *l;
		if (bpf_program__type(prog) == BPF_PROG_TYPE_CGROUP_SOCK_ADDR)
			l = bpf_program__attach_cgroup(prog, t->cgroup_fd);
		else
			l = bpf_program__attach(prog);
		if (!l) {
			char step[160];
			snprintf(step, sizeof(step), "attach %s", bpf_program__name(prog));
			return fail(t, step, errno);
		}
		t->links[t->nlinks++] = l;
	}
	return 0;
}

/* Programs a kind needs; a kind left out of the mask is not even loaded (no cost at all). */
static void select_programs(struct tracer *t, uint32_t mask)
{
	static const struct {
		const char *prefix;
		int kind;
	} by_kind[] = {
		{ "lt_exit_open", LT_FILE_OPEN },	 { "lt_exit_creat", LT_FILE_OPEN },
		{ "lt_enter_mmap", LT_MMAP_EXEC },	 { "lt_enter_mprotect", LT_MMAP_EXEC },
		{ "lt_enter_connect", LT_CONNECT },	 { "lt_exit_connect", LT_CONNECT },
		{ "lt_enter_bind", LT_BIND },		 { "lt_exit_bind", LT_BIND },
		{ "lt_enter_send", LT_SENDMSG },	 { "lt_exit_send", LT_SENDMSG },
		{ "lt_enter_sendfile", LT_SENDFILE }, { "lt_enter_splice", LT_SENDFILE },	 { "lt_enter_ptrace", LT_PTRACE },
		{ "lt_enter_set", LT_SETID },		 { "lt_enter_capset", LT_SETID },
		{ "lt_enter_mount", LT_MOUNT },		 { "lt_enter_fsmount", LT_MOUNT },
		{ "lt_enter_bpf", LT_BPF },		 { "lt_enter_init_module", LT_MODULE_LOAD },
		{ "lt_enter_finit_module", LT_MODULE_LOAD }, { "lt_enter_memfd", LT_MEMFD_CREATE },
		{ "lt_enter_io_uring", LT_IO_URING },
	};
	struct bpf_program *prog;
	bpf_object__for_each_program(prog, t->skel->obj)
	{
		const char *name = bpf_program__name(prog);
		for (size_t i = 0; i < sizeof(by_kind) / sizeof(by_kind[0]); i++) {
			/* lt_enter_sendfile also matches "lt_enter_send": the longer prefix comes later and wins */
			if (strncmp(name, by_kind[i].prefix, strlen(by_kind[i].prefix)) == 0)
				bpf_program__set_autoload(prog, (mask >> by_kind[i].kind) & 1);
		}
		/* A kernel without a syscall (no modules: no init_module) has no tracepoint for it:
		 * nothing can call it, so the program is skipped and named in skipped(). */
		const char *sec = bpf_program__section_name(prog);
		if (bpf_program__autoload(prog) && strncmp(sec, "tracepoint/", 11) == 0) {
			char ev[256];
			snprintf(ev, sizeof(ev), "/sys/kernel/tracing/events/%s", sec + 11);
			if (access(ev, F_OK) != 0) {
				bpf_program__set_autoload(prog, false);
				size_t n = strlen(t->skipped);
				snprintf(t->skipped + n, sizeof(t->skipped) - n, "%s%s", n ? "," : "", sec + 11);
			}
		}
	}
}

static int tracer_load(struct tracer *t, uint32_t ring_bytes, uint32_t kind_mask, uint32_t wakeup_bytes,
		       uint32_t with_cgroup_hooks, uint32_t agg_ms)
{
	t->skel = ltrack_bpf__open();
	if (!t->skel)
		return fail(t, "open BPF object", errno);
	if (bpf_map__set_max_entries(t->skel->maps.lt_events, ring_bytes))
		return fail(t, "size ring buffer (a power of two of pages)", EINVAL);
	t->skel->rodata->kind_mask = kind_mask;
	t->skel->rodata->wakeup_bytes = wakeup_bytes;
	t->skel->rodata->agg_window_ns = (__u64)agg_ms * 1000000ull;
	select_programs(t, kind_mask);
	if (!with_cgroup_hooks) {
		bpf_program__set_autoload(t->skel->progs.lt_connect4, false);
		bpf_program__set_autoload(t->skel->progs.lt_connect6, false);
		bpf_program__set_autoload(t->skel->progs.lt_sendmsg4, false);
		bpf_program__set_autoload(t->skel->progs.lt_sendmsg6, false);
	} else {
		t->cgroup_fd = open(CGROUP2_ROOT, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (t->cgroup_fd < 0)
			return fail(t, "open cgroup v2 root " CGROUP2_ROOT, errno);
	}
	int err = ltrack_bpf__load(t->skel);
	if (err)
		return fail(t, "load BPF programs (needs root or CAP_BPF+CAP_PERFMON, kernel BTF)", err);
	if (attach_all(t))
		return -1;
	t->rb = ring_buffer__new(bpf_map__fd(t->skel->maps.lt_events), on_record, t, NULL);
	if (!t->rb)
		return fail(t, "open ring buffer", errno);
	return 0;
}

/* open({ ringBytes, kindMask, wakeupBytes, cgroupHooks }) -> handle */
static napi_value js_open(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];
	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	uint32_t ring = 16u << 20, mask = 0xffffffff, wake = 256u << 10, cg = 1, agg = 0;
	if (argc < 1 || get_u32_prop(env, argv[0], "ringBytes", &ring) < 0 ||
	    get_u32_prop(env, argv[0], "kindMask", &mask) < 0 ||
	    get_u32_prop(env, argv[0], "wakeupBytes", &wake) < 0 ||
	    get_u32_prop(env, argv[0], "cgroupHooks", &cg) < 0 || get_u32_prop(env, argv[0], "aggregateMs", &agg) < 0)
		return throw_code(env, "internal",
				  "ltrack addon: open() wants { ringBytes, kindMask, wakeupBytes, cgroupHooks, aggregateMs }");
	struct tracer *t = calloc(1, sizeof(*t));
	if (!t)
		return throw_code(env, "internal", "ltrack addon: out of memory");
	t->cgroup_fd = -1;
	int rc;
	/* A load can fail with EAGAIN while the kernel still frees a previous tracer's memory (seen
	 * with large rings): retry a few times from a fresh object. */
	for (int attempt = 0; (rc = tracer_load(t, ring, mask, wake, cg, agg)) && t->last_errno == EAGAIN && attempt < 4; attempt++) {
		tracer_free(t);
		memset(t, 0, sizeof(*t));
		t->cgroup_fd = -1;
		usleep(100000);
	}
	if (rc) {
		char msg[300];
		snprintf(msg, sizeof(msg), "%s", t->err);
		tracer_free(t);
		free(t);
		return throw_code(env, "tracer_unavailable", msg);
	}
	napi_add_env_cleanup_hook(env, env_cleanup, t);
	napi_value h;
	napi_create_external(env, t, tracer_finalize, NULL, &h);
	return h;
}

/* ---- batch memory ----
 * A batch is handed to JS as an external Buffer and lives until its last event is collected.
 * Fresh batch memory costs a page fault and a kernel page-zeroing per 4 KiB (measured: most of
 * the consumer's poll time at millions of events/s), so collected batches are kept for reuse in a
 * small process-wide pool instead of being freed. Finalizers may run on any environment's thread:
 * the pool is locked. */

#define POOL_MAX 8
/* room past the limit for the record that crosses it */
#define BATCH_SLACK (LT_REC_MAX + 64)

struct pooled {
	char *mem;
	size_t cap;
};
static struct pooled pool[POOL_MAX];
static int pool_len;
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;

static char *batch_take(size_t cap)
{
	char *mem = NULL;
	pthread_mutex_lock(&pool_lock);
	for (int i = 0; i < pool_len; i++) {
		if (pool[i].cap == cap) {
			mem = pool[i].mem;
			pool[i] = pool[--pool_len];
			break;
		}
	}
	pthread_mutex_unlock(&pool_lock);
	return mem ? mem : malloc(cap);
}

static void batch_give(char *mem, size_t cap)
{
	pthread_mutex_lock(&pool_lock);
	if (pool_len < POOL_MAX) {
		pool[pool_len++] = (struct pooled){ mem, cap };
		mem = NULL;
	}
	pthread_mutex_unlock(&pool_lock);
	free(mem);
}

/* Buffer finalizer: the hint carries the batch's capacity. */
static void free_batch(napi_env env, void *data, void *hint)
{
	(void)env;
	batch_give(data, (size_t)hint);
}

/* ---- poll: async, one batch ---- */

struct poll_job {
	struct tracer *t;
	int timeout_ms;
	int err;
	napi_deferred deferred;
	napi_async_work work;
	napi_ref handle_ref;
};

static void poll_execute(napi_env env, void *data)
{
	struct poll_job *j = data;
	struct tracer *t = j->t;
	(void)env;
	int n = ring_buffer__poll(t->rb, j->timeout_ms);
	/* A poll that timed out consumed nothing (no wakeup was due): take what waits anyway, so a
	 * quiet tail below the wakeup threshold still reaches JS. */
	if (n >= 0 && t->used < t->limit)
		n = ring_buffer__consume(t->rb);
	j->err = (n < 0 && n != -E2BIG && n != -EINTR) ? n : 0;
}


static void poll_complete(napi_env env, napi_status status, void *data)
{
	struct poll_job *j = data;
	struct tracer *t = j->t;
	t->polling = 0;
	if (status != napi_ok || j->err) {
		napi_value m, e;
		char msg[128];
		snprintf(msg, sizeof(msg), "ring buffer poll: %s", strerror(j->err ? -j->err : EIO));
		napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
		napi_create_error(env, NULL, m, &e);
		napi_reject_deferred(env, j->deferred, e);
		batch_give(t->batch, t->limit + BATCH_SLACK);
	} else {
		napi_value buf;
		if (t->used == 0) {
			batch_give(t->batch, t->limit + BATCH_SLACK);
			napi_create_buffer(env, 0, NULL, &buf);
		} else {
			napi_create_external_buffer(env, t->used, t->batch, free_batch, (void *)(t->limit + BATCH_SLACK), &buf);
		}
		napi_resolve_deferred(env, j->deferred, buf);
	}
	t->batch = NULL;
	t->used = 0;
	napi_delete_reference(env, j->handle_ref);
	napi_delete_async_work(env, j->work);
	free(j);
}

/* poll(handle, timeoutMs, maxBytes) -> Promise<Buffer> */
static napi_value js_poll(napi_env env, napi_callback_info info)
{
	size_t argc = 3;
	napi_value argv[3];
	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc < 3)
		return throw_code(env, "internal", "ltrack addon: poll(handle, timeoutMs, maxBytes)");
	struct tracer *t = arg_tracer(env, argv[0]);
	if (!t)
		return NULL;
	if (t->polling)
		return throw_code(env, "internal", "ltrack addon: a poll is already in flight");
	int32_t timeout = 0;
	uint32_t max = 0;
	napi_get_value_int32(env, argv[1], &timeout);
	napi_get_value_uint32(env, argv[2], &max);
	if (max < 4096)
		max = 4096;
	t->batch = batch_take(max + BATCH_SLACK);
	if (!t->batch)
		return throw_code(env, "internal", "ltrack addon: out of memory for a batch");
	t->used = 0;
	t->limit = max;
	struct poll_job *j = calloc(1, sizeof(*j));
	j->t = t;
	j->timeout_ms = timeout;
	napi_value promise, name;
	napi_create_promise(env, &j->deferred, &promise);
	napi_create_reference(env, argv[0], 1, &j->handle_ref);
	napi_create_string_utf8(env, "ltrack.poll", NAPI_AUTO_LENGTH, &name);
	napi_create_async_work(env, NULL, name, poll_execute, poll_complete, j, &j->work);
	t->polling = 1;
	napi_queue_async_work(env, j->work);
	return promise;
}

/* ---- maps ---- */

static napi_value update(napi_env env, struct bpf_map *map, const void *key, size_t ksz, const char *what)
{
	__u8 one = 1;
	if (bpf_map__update_elem(map, key, ksz, &one, sizeof(one), BPF_ANY)) {
		char msg[160];
		snprintf(msg, sizeof(msg), "ltrack addon: %s: %s", what, strerror(errno));
		return throw_code(env, "tracer_unavailable", msg);
	}
	return NULL;
}

/* addPid(handle, tgid) */
static napi_value js_add_pid(napi_env env, napi_callback_info info)
{
	size_t argc = 2;
	napi_value argv[2];
	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	struct tracer *t = arg_tracer(env, argv[0]);
	uint32_t tgid = 0;
	if (!t)
		return NULL;
	napi_get_value_uint32(env, argv[1], &tgid);
	return update(env, t->skel->maps.lt_traced, &tgid, sizeof(tgid), "add traced pid");
}

/* addCgroup(handle, id as bigint) */
static napi_value js_add_cgroup(napi_env env, napi_callback_info info)
{
	size_t argc = 2;
	napi_value argv[2];
	bool lossless;
	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	struct tracer *t = arg_tracer(env, argv[0]);
	uint64_t id = 0;
	if (!t)
		return NULL;
	napi_get_value_bigint_uint64(env, argv[1], &id, &lossless);
	napi_value r = update(env, t->skel->maps.lt_cgroups, &id, sizeof(id), "add traced cgroup");
	/* the fast path reads this counter instead of a second map lookup */
	__atomic_add_fetch(&t->skel->bss->n_cgroup_targets, 1, __ATOMIC_SEQ_CST);
	return r;
}

/* removeCgroup(handle, id as bigint): stop following a cgroup (a finished candidate of a shared
 * trace); the map holds 256 ids, so a long-lived trace must give them back. */
static napi_value js_remove_cgroup(napi_env env, napi_callback_info info)
{
	size_t argc = 2;
	napi_value argv[2];
	bool lossless;
	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	struct tracer *t = arg_tracer(env, argv[0]);
	uint64_t id = 0;
	if (!t)
		return NULL;
	napi_get_value_bigint_uint64(env, argv[1], &id, &lossless);
	if (bpf_map__delete_elem(t->skel->maps.lt_cgroups, &id, sizeof(id), 0) == 0)
		__atomic_sub_fetch(&t->skel->bss->n_cgroup_targets, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* setMode(handle, modeBits, ruleKinds): enforcement bits (index 0 of lt_mode) and the kinds that
 * kernel rules filter (index LT_MODE_RULE_KINDS). */
static napi_value js_set_mode(napi_env env, napi_callback_info info)
{
	size_t argc = 3;
	napi_value argv[3];
	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	struct tracer *t = arg_tracer(env, argv[0]);
	uint32_t bits = 0, kinds = 0, idx0 = 0, idx1 = LT_MODE_RULE_KINDS;
	if (!t)
		return NULL;
	napi_get_value_uint32(env, argv[1], &bits);
	napi_get_value_uint32(env, argv[2], &kinds);
	if (bpf_map__update_elem(t->skel->maps.lt_mode, &idx0, sizeof(idx0), &bits, sizeof(bits), BPF_ANY) ||
	    bpf_map__update_elem(t->skel->maps.lt_mode, &idx1, sizeof(idx1), &kinds, sizeof(kinds), BPF_ANY))
		return throw_code(env, "tracer_unavailable", "ltrack addon: set enforcement mode failed");
	return NULL;
}

/* update(handle, mapName, key, value): key and value bytes are built by src/trace (maps.ts,
 * rules.ts) and must have the map's sizes. */
static napi_value js_update(napi_env env, napi_callback_info info)
{
	size_t argc = 4;
	napi_value argv[4];
	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	struct tracer *t = arg_tracer(env, argv[0]);
	if (!t)
		return NULL;
	char name[64];
	size_t nlen = 0;
	void *key, *val;
	size_t klen, vlen;
	napi_get_value_string_utf8(env, argv[1], name, sizeof(name), &nlen);
	if (argc < 4 || napi_get_buffer_info(env, argv[2], &key, &klen) != napi_ok ||
	    napi_get_buffer_info(env, argv[3], &val, &vlen) != napi_ok)
		return throw_code(env, "internal", "ltrack addon: update(handle, map, keyBuffer, valueBuffer)");
	struct bpf_map *map = bpf_object__find_map_by_name(t->skel->obj, name);
	if (!map || bpf_map__key_size(map) != klen || bpf_map__value_size(map) != vlen)
		return throw_code(env, "internal", "ltrack addon: update(): unknown map or wrong key/value size");
	if (bpf_map__update_elem(map, key, klen, val, vlen, BPF_ANY)) {
		char msg[160];
		snprintf(msg, sizeof(msg), "ltrack addon: update %s: %s", name, strerror(errno));
		return throw_code(env, "tracer_unavailable", msg);
	}
	return NULL;
}

/* drops(handle) -> BigUint64Array [cpu * LT_KIND_COUNT + kind] */
static napi_value js_drops(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];
	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	struct tracer *t = arg_tracer(env, argv[0]);
	if (!t)
		return NULL;
	int ncpu = libbpf_num_possible_cpus();
	if (ncpu <= 0)
		return throw_code(env, "internal", "ltrack addon: cannot count CPUs");
	napi_value ab, arr;
	void *data;
	napi_create_arraybuffer(env, (size_t)ncpu * LT_KIND_COUNT * 8, &data, &ab);
	__u64 *out = data;
	__u64 *vals = calloc(ncpu, sizeof(__u64));
	for (__u32 k = 0; k < LT_KIND_COUNT; k++) {
		if (bpf_map__lookup_elem(t->skel->maps.lt_drops, &k, sizeof(k), vals, ncpu * sizeof(__u64), 0))
			memset(vals, 0, ncpu * sizeof(__u64));
		for (int c = 0; c < ncpu; c++)
			out[c * LT_KIND_COUNT + k] = vals[c];
	}
	free(vals);
	napi_create_typedarray(env, napi_biguint64_array, (size_t)ncpu * LT_KIND_COUNT, ab, 0, &arr);
	return arr;
}

/* flushAgg(handle) -> Buffer of file_open records carrying the repeats still pending in lt_agg
 * (processes alive when the trace stops); the entries are removed. */
static napi_value js_flush_agg(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1], out;
	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	struct tracer *t = arg_tracer(env, argv[0]);
	if (!t)
		return NULL;
	int fd = bpf_map__fd(t->skel->maps.lt_agg);
	size_t cap = 1 << 16, used = 0;
	char *buf = malloc(cap);
	struct lt_agg_key key, next;
	struct lt_agg_val v;
	int more = bpf_map_get_next_key(fd, NULL, &next) == 0;
	while (buf && more) {
		key = next;
		more = bpf_map_get_next_key(fd, &key, &next) == 0;
		if (bpf_map_lookup_elem(fd, &key, &v) || v.pending == 0)
			continue;
		size_t len = v.body.path_len < LT_AGG_PATH ? v.body.path_len : 0;
		size_t rec = sizeof(v.hdr) + sizeof(v.body) + len;
		if (used + rec > cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
		v.hdr.ts = v.last_ts;
		v.hdr.count = (__u32)v.pending;
		v.hdr.size = rec;
		memcpy(buf + used, &v.hdr, sizeof(v.hdr));
		memcpy(buf + used + sizeof(v.hdr), &v.body, sizeof(v.body));
		memcpy(buf + used + sizeof(v.hdr) + sizeof(v.body), v.path, len);
		used += rec;
		bpf_map_delete_elem(fd, &key);
	}
	if (!buf)
		return throw_code(env, "internal", "ltrack addon: out of memory flushing aggregates");
	napi_create_buffer_copy(env, used, buf, NULL, &out);
	free(buf);
	return out;
}

/* skipped(handle) -> comma-separated tracepoints this kernel does not have */
static napi_value js_skipped(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1], out;
	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	struct tracer *t = arg_tracer(env, argv[0]);
	if (!t)
		return NULL;
	napi_create_string_utf8(env, t->skipped, NAPI_AUTO_LENGTH, &out);
	return out;
}

/* close(handle): detach and free now (the handle's finalizer would do it later anyway). */
static napi_value js_close(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];
	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	struct tracer *t = NULL;
	napi_get_value_external(env, argv[0], (void **)&t);
	if (!t)
		return NULL;
	if (t->polling)
		return throw_code(env, "internal", "ltrack addon: close() while a poll is in flight");
	tracer_free(t);
	return NULL;
}

static napi_value init(napi_env env, napi_value exports)
{
	napi_property_descriptor props[] = {
		{ "open", NULL, js_open, NULL, NULL, NULL, napi_default, NULL },
		{ "poll", NULL, js_poll, NULL, NULL, NULL, napi_default, NULL },
		{ "addPid", NULL, js_add_pid, NULL, NULL, NULL, napi_default, NULL },
		{ "addCgroup", NULL, js_add_cgroup, NULL, NULL, NULL, napi_default, NULL },
		{ "removeCgroup", NULL, js_remove_cgroup, NULL, NULL, NULL, napi_default, NULL },
		{ "setMode", NULL, js_set_mode, NULL, NULL, NULL, napi_default, NULL },
		{ "update", NULL, js_update, NULL, NULL, NULL, napi_default, NULL },
		{ "drops", NULL, js_drops, NULL, NULL, NULL, napi_default, NULL },
		{ "flushAgg", NULL, js_flush_agg, NULL, NULL, NULL, napi_default, NULL },
		{ "skipped", NULL, js_skipped, NULL, NULL, NULL, napi_default, NULL },
		{ "close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL },
	};
	napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
	/* libbpf prints to stderr by default; the JS side reports failures itself */
	libbpf_set_print(NULL);
	return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
