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
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <node_api.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "ltrack.h"
#include "ltrack.skel.h"

#define MAX_LINKS 64

struct tracer {
	struct ltrack_bpf *skel;
	struct ring_buffer *rb;
	struct bpf_link *links[MAX_LINKS];
	int nlinks;
	int cgroup_fd;
	int polling;	   /* an async poll is in flight: close waits for it in JS */
	char skipped[512]; /* syscall tracepoints this kernel lacks (e.g. init_module without modules) */
	int closed;
	bool hooked; /* env_cleanup is registered for this tracer */
	bool pinned; /* links pinned in bpffs: they outlive this tracer (pin()) */
	int last_errno;
	/* the batch being filled by the ring callback */
	char *batch;
	size_t used;
	size_t limit;
	char err[256];
};

/* ---- libbpf's log ----
 * libbpf tells why a load failed (the verifier's log, a map the kernel refused) only through its
 * print callback. While open() loads, the callback keeps what libbpf says in a bounded buffer of
 * the calling thread (the tail: the verifier's verdict ends its log), and a failed open returns
 * it with its error. Outside a load, or at debug level, nothing is kept: every other failure is
 * reported by the call that failed. */
#define LOG_MAX (16u << 10)

struct libbpf_log {
	char text[LOG_MAX];
	size_t len;
	bool cut; /* the start was dropped to keep the tail */
};

static _Thread_local struct libbpf_log *capture;

static void log_append(struct libbpf_log *log, const char *s, size_t n)
{
	if (n >= LOG_MAX) {
		s += n - (LOG_MAX - 1);
		n = LOG_MAX - 1;
		log->len = 0;
		log->cut = true;
	}
	if (log->len + n >= LOG_MAX) {
		size_t drop = log->len + n - (LOG_MAX - 1);
		memmove(log->text, log->text + drop, log->len - drop);
		log->len -= drop;
		log->cut = true;
	}
	memcpy(log->text + log->len, s, n);
	log->len += n;
	log->text[log->len] = 0;
}

static int on_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	struct libbpf_log *log = capture;
	if (!log || level == LIBBPF_DEBUG)
		return 0;
	va_list again;
	va_copy(again, args);
	int n = vsnprintf(NULL, 0, fmt, args);
	char *line = n > 0 ? malloc((size_t)n + 1) : NULL;
	if (line) {
		vsnprintf(line, (size_t)n + 1, fmt, again);
		log_append(log, line, (size_t)n);
		free(line);
	} else if (n > 0) {
		static const char lost[] = "(a libbpf message was lost: out of memory)\n";
		log_append(log, lost, sizeof(lost) - 1);
	}
	va_end(again);
	return n;
}

/* ---- errors to JS ----
 * Every N-API call is checked. A JS-facing function that meets a failure throws (unless an
 * exception is already pending) and returns NULL, which JS sees as that exception. */

/* Throws Error(msg) with .ltrackCode = code and, when given, .libbpfLog = log. If building that
 * error fails, a plain one with the same message is thrown instead; if even that fails, the
 * environment is going away and no JS will run to see it. */
static napi_value throw_error(napi_env env, const char *code, const char *msg, const char *log)
{
	bool pending = false;
	if (napi_is_exception_pending(env, &pending) != napi_ok || pending)
		return NULL;
	napi_value err, c, m, l;
	if (napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m) != napi_ok ||
	    napi_create_error(env, NULL, m, &err) != napi_ok ||
	    napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &c) != napi_ok ||
	    napi_set_named_property(env, err, "ltrackCode", c) != napi_ok ||
	    (log && (napi_create_string_utf8(env, log, NAPI_AUTO_LENGTH, &l) != napi_ok ||
		     napi_set_named_property(env, err, "libbpfLog", l) != napi_ok)) ||
	    napi_throw(env, err) != napi_ok) {
		if (napi_throw_error(env, code, msg) != napi_ok)
			return NULL;
	}
	return NULL;
}

static napi_value throw_code(napi_env env, const char *code, const char *msg)
{
	return throw_error(env, code, msg, NULL);
}

/* A failed N-API call: throws an internal error naming the call and N-API's reason. */
static napi_value throw_status(napi_env env, const char *call)
{
	const napi_extended_error_info *info = NULL;
	char msg[256];
	bool known = napi_get_last_error_info(env, &info) == napi_ok && info && info->error_message;
	snprintf(msg, sizeof(msg), "ltrack addon: %s failed: %s", call,
		 known ? info->error_message : "unknown N-API error");
	return throw_code(env, "internal", msg);
}

#define NAPI_CHECK(env, call)                            \
	do {                                             \
		if ((call) != napi_ok)                   \
			return throw_status(env, #call); \
	} while (0)

/* Where no JS caller exists (finalizers, clean-up hooks): say it on stderr, never silently. */
static void warn_status(napi_status status, const char *call)
{
	if (status != napi_ok)
		fprintf(stderr, "ltrack addon: %s failed (N-API status %d)\n", call, (int)status);
}

static void *destroy_link(void *link)
{
	bpf_link__destroy(link);
	return NULL;
}

/* Each syscall tracepoint's detach waits for a kernel grace period (~40 ms here): the links one by
 * one took 1.65 s of a stop; from one thread each it measured 0.8 s once, but the kernel serialises
 * the waits (perf_trace_event_unreg under event_mutex) and 2026-12-03 measured 1.45-1.53 s either
 * way. A vet hands the wait to a child process instead (linkFds, src/trace/detach.ts). */
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
	/* pinned links stay attached: only this process's hold on them goes */
	if (t->pinned)
		for (int i = 0; i < t->nlinks; i++)
			bpf_link__disconnect(t->links[i]);
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
	if (t->hooked)
		warn_status(napi_remove_env_cleanup_hook(env, env_cleanup, t),
			    "napi_remove_env_cleanup_hook");
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
	if (napi_has_named_property(env, obj, name, &has) != napi_ok)
		return -1;
	if (!has)
		return 0;
	if (napi_get_named_property(env, obj, name, &v) != napi_ok)
		return -1;
	return napi_get_value_uint32(env, v, out) == napi_ok ? 1 : -1;
}

/* A string property into buf; 0 when absent, -1 when not a string or too long. */
static int get_str_prop(napi_env env, napi_value obj, const char *name, char *buf, size_t size)
{
	napi_value v;
	bool has = false;
	size_t len = 0;
	if (napi_has_named_property(env, obj, name, &has) != napi_ok)
		return -1;
	if (!has)
		return 0;
	if (napi_get_named_property(env, obj, name, &v) != napi_ok)
		return -1;
	if (napi_get_value_string_utf8(env, v, buf, size, &len) != napi_ok || len + 1 >= size)
		return -1;
	return 1;
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
	bpf_object__for_each_program(prog, t->skel->obj) {
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

/* The tag of program `name` in the object's .rodata.lt_tags (struct lt_tag), or NULL. */
static const struct lt_tag *tag_of(const struct lt_tag *tags, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(tags[i].prog, name) == 0)
			return &tags[i];
	}
	return NULL;
}

/* Chooses the programs to load by their kind tags: a kind left out of the mask is not even
 * loaded (no cost at all), and the cgroup hooks only when asked for. An untagged program or a
 * tag naming no program is a build error, refused here rather than loaded by guess. */
static int select_programs(struct tracer *t, uint32_t mask, uint32_t with_cgroup_hooks)
{
	char step[160];
	size_t size = 0;
	const struct lt_tag *tags = bpf_map__initial_value(t->skel->maps.rodata_lt_tags, &size);
	if (!tags || size % sizeof(*tags))
		return fail(t, "read the programs' kind tags (.rodata.lt_tags)", EINVAL);
	size_t n = size / sizeof(*tags);
	for (size_t i = 0; i < n; i++) {
		const struct lt_tag *g = &tags[i];
		if (!memchr(g->prog, 0, sizeof(g->prog)) || g->kind >= LT_KIND_COUNT ||
		    g->load > LT_LOAD_ALWAYS ||
		    !bpf_object__find_program_by_name(t->skel->obj, g->prog)) {
			snprintf(step, sizeof(step), "kind tag %zu (%.*s) names no program", i,
				 (int)sizeof(g->prog), g->prog);
			return fail(t, step, EINVAL);
		}
	}
	struct bpf_program *prog;
	bpf_object__for_each_program(prog, t->skel->obj) {
		const char *name = bpf_program__name(prog);
		const struct lt_tag *g = tag_of(tags, n, name);
		if (!g) {
			snprintf(step, sizeof(step), "program %s has no kind tag", name);
			return fail(t, step, EINVAL);
		}
		bool on = g->load == LT_LOAD_ALWAYS || ((mask >> g->kind) & 1);
		if (bpf_program__type(prog) == BPF_PROG_TYPE_CGROUP_SOCK_ADDR && !with_cgroup_hooks)
			on = false;
		bpf_program__set_autoload(prog, on);
		/* A kernel without a syscall (no modules: no init_module) has no tracepoint for it:
		 * nothing can call it, so the program is skipped and named in skipped(). */
		const char *sec = bpf_program__section_name(prog);
		if (on && strncmp(sec, "tracepoint/", 11) == 0) {
			char ev[256];
			snprintf(ev, sizeof(ev), "/sys/kernel/tracing/events/%s", sec + 11);
			if (access(ev, F_OK) != 0) {
				bpf_program__set_autoload(prog, false);
				size_t used = strlen(t->skipped);
				snprintf(t->skipped + used, sizeof(t->skipped) - used, "%s%s",
					 used ? "," : "", sec + 11);
			}
		}
	}
	return 0;
}

static int tracer_load(struct tracer *t, uint32_t ring_bytes, uint32_t kind_mask,
		       uint32_t wakeup_bytes, uint32_t with_cgroup_hooks, uint32_t agg_ms,
		       const char *cgroup_root)
{
	t->skel = ltrack_bpf__open();
	if (!t->skel)
		return fail(t, "open BPF object", errno);
	if (bpf_map__set_max_entries(t->skel->maps.lt_events, ring_bytes))
		return fail(t, "size ring buffer (a power of two of pages)", EINVAL);
	t->skel->rodata->kind_mask = kind_mask;
	t->skel->rodata->wakeup_bytes = wakeup_bytes;
	t->skel->rodata->agg_window_ns = (__u64)agg_ms * 1000000ull;
	if (select_programs(t, kind_mask, with_cgroup_hooks))
		return -1;
	if (with_cgroup_hooks) {
		/* the host's cgroup v2 mount, detected by the caller (src/core/cgroup-layout.ts) */
		t->cgroup_fd =
			cgroup_root[0] ? open(cgroup_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
		if (t->cgroup_fd < 0)
			return fail(t, "open the cgroup v2 root (none mounted?)",
				    cgroup_root[0] ? errno : ENOENT);
	}
	int err = ltrack_bpf__load(t->skel);
	if (err)
		return fail(t, "load BPF programs", err);
	if (attach_all(t))
		return -1;
	t->rb = ring_buffer__new(bpf_map__fd(t->skel->maps.lt_events), on_record, t, NULL);
	if (!t->rb)
		return fail(t, "open ring buffer", errno);
	return 0;
}

/* open({ ringBytes, kindMask, wakeupBytes, cgroupHooks, aggregateMs, cgroupRoot }) -> handle */
static napi_value js_open(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];
	NAPI_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	uint32_t ring = 16u << 20, mask = 0xffffffff, wake = 256u << 10, cg = 1, agg = 0;
	char cgroup_root[256] = "";
	if (argc < 1 || get_u32_prop(env, argv[0], "ringBytes", &ring) < 0 ||
	    get_u32_prop(env, argv[0], "kindMask", &mask) < 0 ||
	    get_u32_prop(env, argv[0], "wakeupBytes", &wake) < 0 ||
	    get_u32_prop(env, argv[0], "cgroupHooks", &cg) < 0 ||
	    get_u32_prop(env, argv[0], "aggregateMs", &agg) < 0 ||
	    get_str_prop(env, argv[0], "cgroupRoot", cgroup_root, sizeof(cgroup_root)) < 0)
		return throw_code(
			env, "internal",
			"ltrack addon: open() wants { ringBytes, kindMask, wakeupBytes, cgroupHooks, aggregateMs, cgroupRoot }");
	struct tracer *t = calloc(1, sizeof(*t));
	struct libbpf_log *log = calloc(1, sizeof(*log));
	if (!t || !log) {
		free(t);
		free(log);
		return throw_code(env, "internal", "ltrack addon: out of memory");
	}
	t->cgroup_fd = -1;
	int rc;
	/* A load can fail with EAGAIN while the kernel still frees a previous tracer's memory (seen
	 * with large rings): retry a few times from a fresh object. */
	for (int attempt = 0;; attempt++) {
		/* only the last attempt's log is the one that explains the failure */
		log->len = 0;
		log->cut = false;
		log->text[0] = 0;
		capture = log;
		rc = tracer_load(t, ring, mask, wake, cg, agg, cgroup_root);
		capture = NULL;
		if (!rc || t->last_errno != EAGAIN || attempt >= 4)
			break;
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
		if (log->cut)
			memcpy(log->text, "...", 3); /* the start was dropped */
		throw_error(env, "tracer_unavailable", msg, log->text);
		free(log);
		return NULL;
	}
	free(log);
	napi_value h;
	if (napi_create_external(env, t, tracer_finalize, NULL, &h) != napi_ok) {
		tracer_free(t);
		free(t);
		return throw_status(env, "napi_create_external");
	}
	/* from here the handle's finalizer frees t */
	if (napi_add_env_cleanup_hook(env, env_cleanup, t) != napi_ok) {
		tracer_free(t);
		return throw_status(env, "napi_add_env_cleanup_hook");
	}
	t->hooked = true;
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

/* Settles the poll's promise. A promise that never settles would hang the vet forever, so when
 * neither resolving nor rejecting works the process stops here (a vet that crashed is
 * incomplete, never a pass). */
static void settle(napi_env env, napi_deferred deferred, napi_value buf, const char *why)
{
	napi_value m, e;
	if (buf && napi_resolve_deferred(env, deferred, buf) == napi_ok)
		return;
	if (napi_create_string_utf8(env, why, NAPI_AUTO_LENGTH, &m) == napi_ok &&
	    napi_create_error(env, NULL, m, &e) == napi_ok &&
	    napi_reject_deferred(env, deferred, e) == napi_ok)
		return;
	napi_fatal_error("ltrack.poll", NAPI_AUTO_LENGTH, "cannot settle a poll's promise",
			 NAPI_AUTO_LENGTH);
}

static void poll_complete(napi_env env, napi_status status, void *data)
{
	struct poll_job *j = data;
	struct tracer *t = j->t;
	size_t cap = t->limit + BATCH_SLACK;
	napi_value buf = NULL;
	char why[128];
	t->polling = 0;
	if (status != napi_ok || j->err) {
		snprintf(why, sizeof(why), "ring buffer poll: %s",
			 strerror(j->err ? -j->err : EIO));
		batch_give(t->batch, cap);
	} else if (t->used == 0) {
		batch_give(t->batch, cap);
		snprintf(why, sizeof(why), "ltrack addon: cannot create an empty batch buffer");
		if (napi_create_buffer(env, 0, NULL, &buf) != napi_ok)
			buf = NULL;
	} else {
		snprintf(why, sizeof(why), "ltrack addon: cannot hand a batch of %zu bytes to JS",
			 t->used);
		/* the Buffer owns the batch from here: its finalizer gives it back to the pool */
		if (napi_create_external_buffer(env, t->used, t->batch, free_batch, (void *)cap,
						&buf) != napi_ok) {
			/* external buffers can be refused (a V8 sandbox): copy instead */
			if (napi_create_buffer_copy(env, t->used, t->batch, NULL, &buf) != napi_ok)
				buf = NULL;
			batch_give(t->batch, cap);
		}
	}
	settle(env, j->deferred, buf, why);
	t->batch = NULL;
	t->used = 0;
	warn_status(napi_delete_reference(env, j->handle_ref), "napi_delete_reference");
	warn_status(napi_delete_async_work(env, j->work), "napi_delete_async_work");
	free(j);
}

/* poll(handle, timeoutMs, maxBytes) -> Promise<Buffer> */
static napi_value js_poll(napi_env env, napi_callback_info info)
{
	size_t argc = 3;
	napi_value argv[3];
	NAPI_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 3)
		return throw_code(env, "internal",
				  "ltrack addon: poll(handle, timeoutMs, maxBytes)");
	struct tracer *t = arg_tracer(env, argv[0]);
	if (!t)
		return NULL;
	if (t->polling)
		return throw_code(env, "internal", "ltrack addon: a poll is already in flight");
	int32_t timeout = 0;
	uint32_t max = 0;
	NAPI_CHECK(env, napi_get_value_int32(env, argv[1], &timeout));
	NAPI_CHECK(env, napi_get_value_uint32(env, argv[2], &max));
	if (max < 4096)
		max = 4096;
	struct poll_job *j = calloc(1, sizeof(*j));
	char *batch = j ? batch_take(max + BATCH_SLACK) : NULL;
	if (!batch) {
		free(j);
		return throw_code(env, "internal", "ltrack addon: out of memory for a batch");
	}
	j->t = t;
	j->timeout_ms = timeout;
	napi_value promise, name;
	const char *failed;
	if (napi_create_string_utf8(env, "ltrack.poll", NAPI_AUTO_LENGTH, &name) != napi_ok) {
		failed = "napi_create_string_utf8";
		goto undo_job;
	}
	if (napi_create_async_work(env, NULL, name, poll_execute, poll_complete, j, &j->work) !=
	    napi_ok) {
		failed = "napi_create_async_work";
		goto undo_job;
	}
	if (napi_create_reference(env, argv[0], 1, &j->handle_ref) != napi_ok) {
		failed = "napi_create_reference";
		goto undo_work;
	}
	if (napi_create_promise(env, &j->deferred, &promise) != napi_ok) {
		failed = "napi_create_promise";
		goto undo_ref;
	}
	t->batch = batch;
	t->used = 0;
	t->limit = max;
	t->polling = 1;
	if (napi_queue_async_work(env, j->work) != napi_ok) {
		t->polling = 0;
		t->batch = NULL;
		/* the promise exists: it carries the failure */
		settle(env, j->deferred, NULL, "ltrack addon: napi_queue_async_work failed");
		failed = NULL;
		goto undo_ref;
	}
	return promise;

undo_ref:
	warn_status(napi_delete_reference(env, j->handle_ref), "napi_delete_reference");
undo_work:
	warn_status(napi_delete_async_work(env, j->work), "napi_delete_async_work");
undo_job:
	batch_give(batch, max + BATCH_SLACK);
	free(j);
	return failed ? throw_status(env, failed) : promise;
}

/* ---- maps ---- */

static napi_value update_failed(napi_env env, const char *what)
{
	char msg[160];
	snprintf(msg, sizeof(msg), "ltrack addon: %s: %s", what, strerror(errno));
	return throw_code(env, "tracer_unavailable", msg);
}

/* addPid(handle, tgid) */
static napi_value js_add_pid(napi_env env, napi_callback_info info)
{
	size_t argc = 2;
	napi_value argv[2];
	NAPI_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 2)
		return throw_code(env, "internal", "ltrack addon: addPid(handle, tgid)");
	struct tracer *t = arg_tracer(env, argv[0]);
	uint32_t tgid = 0;
	if (!t)
		return NULL;
	NAPI_CHECK(env, napi_get_value_uint32(env, argv[1], &tgid));
	__u8 one = 1;
	if (bpf_map__update_elem(t->skel->maps.lt_traced, &tgid, sizeof(tgid), &one, sizeof(one),
				 BPF_ANY))
		return update_failed(env, "add traced pid");
	return NULL;
}

/* addCgroup(handle, id as bigint) */
static napi_value js_add_cgroup(napi_env env, napi_callback_info info)
{
	size_t argc = 2;
	napi_value argv[2];
	bool lossless = false;
	NAPI_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 2)
		return throw_code(env, "internal", "ltrack addon: addCgroup(handle, id)");
	struct tracer *t = arg_tracer(env, argv[0]);
	uint64_t id = 0;
	if (!t)
		return NULL;
	NAPI_CHECK(env, napi_get_value_bigint_uint64(env, argv[1], &id, &lossless));
	if (!lossless)
		return throw_code(env, "internal", "ltrack addon: addCgroup(): id is not a u64");
	__u8 one = 1;
	if (bpf_map__update_elem(t->skel->maps.lt_cgroups, &id, sizeof(id), &one, sizeof(one),
				 BPF_ANY))
		return update_failed(env, "add traced cgroup");
	/* the fast path reads this counter instead of a second map lookup: counted only once the
	 * map holds the id */
	__atomic_add_fetch(&t->skel->bss->n_cgroup_targets, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* removeCgroup(handle, id as bigint): stop following a cgroup (a finished candidate of a shared
 * trace); the map holds 256 ids, so a long-lived trace must give them back. */
static napi_value js_remove_cgroup(napi_env env, napi_callback_info info)
{
	size_t argc = 2;
	napi_value argv[2];
	bool lossless;
	NAPI_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	struct tracer *t = arg_tracer(env, argv[0]);
	uint64_t id = 0;
	if (!t)
		return NULL;
	NAPI_CHECK(env, napi_get_value_bigint_uint64(env, argv[1], &id, &lossless));
	if (bpf_map__delete_elem(t->skel->maps.lt_cgroups, &id, sizeof(id), 0) == 0)
		__atomic_sub_fetch(&t->skel->bss->n_cgroup_targets, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* setMode(handle, modeBits, ruleKinds): enforcement bits (slot LT_MODE_ENFORCE of lt_mode) and the
 * kinds that kernel rules filter (slot LT_MODE_RULE_KINDS). */
static napi_value js_set_mode(napi_env env, napi_callback_info info)
{
	size_t argc = 3;
	napi_value argv[3];
	NAPI_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 3)
		return throw_code(env, "internal",
				  "ltrack addon: setMode(handle, bits, ruleKinds)");
	struct tracer *t = arg_tracer(env, argv[0]);
	uint32_t bits = 0, kinds = 0, idx0 = LT_MODE_ENFORCE, idx1 = LT_MODE_RULE_KINDS;
	if (!t)
		return NULL;
	NAPI_CHECK(env, napi_get_value_uint32(env, argv[1], &bits));
	NAPI_CHECK(env, napi_get_value_uint32(env, argv[2], &kinds));
	if (bpf_map__update_elem(t->skel->maps.lt_mode, &idx0, sizeof(idx0), &bits, sizeof(bits),
				 BPF_ANY) ||
	    bpf_map__update_elem(t->skel->maps.lt_mode, &idx1, sizeof(idx1), &kinds, sizeof(kinds),
				 BPF_ANY))
		return update_failed(env, "set enforcement mode");
	return NULL;
}

/* The map of that name whose key (and value, when val_len is not 0) has these sizes, or NULL. */
static struct bpf_map *sized_map(struct tracer *t, const char *name, size_t key_len, size_t val_len)
{
	struct bpf_map *map = bpf_object__find_map_by_name(t->skel->obj, name);
	if (!map || bpf_map__key_size(map) != key_len ||
	    (val_len && bpf_map__value_size(map) != val_len))
		return NULL;
	return map;
}

/* update(handle, mapName, key, value): key and value bytes are built by src/trace (maps.ts,
 * rules.ts) and must have the map's sizes. */
static napi_value js_update(napi_env env, napi_callback_info info)
{
	size_t argc = 4;
	napi_value argv[4];
	NAPI_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 4)
		return throw_code(env, "internal",
				  "ltrack addon: update(handle, map, keyBuffer, valueBuffer)");
	struct tracer *t = arg_tracer(env, argv[0]);
	if (!t)
		return NULL;
	char name[64];
	size_t nlen = 0;
	void *key, *val;
	size_t klen, vlen;
	if (napi_get_value_string_utf8(env, argv[1], name, sizeof(name), &nlen) != napi_ok ||
	    napi_get_buffer_info(env, argv[2], &key, &klen) != napi_ok ||
	    napi_get_buffer_info(env, argv[3], &val, &vlen) != napi_ok)
		return throw_code(env, "internal",
				  "ltrack addon: update(handle, map, keyBuffer, valueBuffer)");
	struct bpf_map *map = sized_map(t, name, klen, vlen);
	if (!map || vlen == 0)
		return throw_code(env, "internal",
				  "ltrack addon: update(): unknown map or wrong key/value size");
	if (bpf_map__update_elem(map, key, klen, val, vlen, BPF_ANY)) {
		char what[96];
		snprintf(what, sizeof(what), "update %s", name);
		return update_failed(env, what);
	}
	return NULL;
}

/* remove(handle, mapName, key): deletes an entry (a reloaded allow list's stale ones); an entry
 * that is not there is not an error. */
static napi_value js_remove(napi_env env, napi_callback_info info)
{
	size_t argc = 3;
	napi_value argv[3];
	NAPI_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 3)
		return throw_code(env, "internal", "ltrack addon: remove(handle, map, keyBuffer)");
	struct tracer *t = arg_tracer(env, argv[0]);
	if (!t)
		return NULL;
	char name[64];
	size_t nlen = 0;
	void *key;
	size_t klen;
	if (napi_get_value_string_utf8(env, argv[1], name, sizeof(name), &nlen) != napi_ok ||
	    napi_get_buffer_info(env, argv[2], &key, &klen) != napi_ok)
		return throw_code(env, "internal", "ltrack addon: remove(handle, map, keyBuffer)");
	struct bpf_map *map = sized_map(t, name, klen, 0);
	if (!map)
		return throw_code(env, "internal",
				  "ltrack addon: remove(): unknown map or wrong key size");
	if (bpf_map__delete_elem(map, key, klen, 0) && errno != ENOENT) {
		char what[96];
		snprintf(what, sizeof(what), "remove from %s", name);
		return update_failed(env, what);
	}
	return NULL;
}

/* ---- pin: programs that outlive the agent ---- */

/* Copies the entries of map `from` (an fd) missing from `to`; returns how many were added. */
static int copy_missing(int from, int to, size_t key_len, size_t val_len)
{
	char key[16], next[16], val[16];
	int added = 0;
	if (key_len > sizeof(key) || val_len > sizeof(val))
		return 0;
	void *prev = NULL;
	while (bpf_map_get_next_key(from, prev, next) == 0) {
		memcpy(key, next, key_len);
		prev = key;
		if (bpf_map_lookup_elem(from, key, val) == 0 &&
		    bpf_map_update_elem(to, key, val, BPF_NOEXIST) == 0)
			added++;
	}
	return added;
}

/* Removes a pinned generation: its links detach once nothing else holds them. */
static void unpin_generation(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	char p[PATH_MAX];
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

/* pin(handle, dir, generation) -> { adopted, traced, cgroups }: pins this tracer's links and its
 * lt_traced / lt_cgroups maps under dir/generation, so that they stay attached and enforcing after
 * this process exits. Every earlier generation found in dir is adopted first: the processes and
 * cgroups it followed are copied into this tracer's maps, then its pins are removed and its
 * programs detach, while this tracer's (attached and configured by the caller before pin) already
 * enforce: there is no moment without one. */
static napi_value js_pin(napi_env env, napi_callback_info info)
{
	size_t argc = 3;
	napi_value argv[3];
	NAPI_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 3)
		return throw_code(env, "internal", "ltrack addon: pin(handle, dir, generation)");
	struct tracer *t = arg_tracer(env, argv[0]);
	if (!t)
		return NULL;
	char dir[PATH_MAX / 2], gen[128], here[PATH_MAX], p[PATH_MAX];
	size_t len = 0;
	if (napi_get_value_string_utf8(env, argv[1], dir, sizeof(dir), &len) != napi_ok ||
	    len + 1 >= sizeof(dir) ||
	    napi_get_value_string_utf8(env, argv[2], gen, sizeof(gen), &len) != napi_ok ||
	    len + 1 >= sizeof(gen) || strchr(gen, '/') || gen[0] == '.')
		return throw_code(env, "internal", "ltrack addon: pin(handle, dir, generation)");
	if (mkdir(dir, 0700) && errno != EEXIST)
		return update_failed(env, "create the pin folder (is it on a mounted bpffs?)");
	snprintf(here, sizeof(here), "%s/%s", dir, gen);
	if (mkdir(here, 0700))
		return update_failed(env, "create the pin generation folder");
	int traced = 0, cgroups = 0, adopted = 0;
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.' || strcmp(e->d_name, gen) == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s/lt_traced", dir, e->d_name);
		int fd = bpf_obj_get(p);
		if (fd >= 0) {
			traced += copy_missing(fd, bpf_map__fd(t->skel->maps.lt_traced), 4, 1);
			close(fd);
		}
		snprintf(p, sizeof(p), "%s/%s/lt_cgroups", dir, e->d_name);
		fd = bpf_obj_get(p);
		if (fd >= 0) {
			int n = copy_missing(fd, bpf_map__fd(t->skel->maps.lt_cgroups), 8, 1);
			__atomic_add_fetch(&t->skel->bss->n_cgroup_targets, n, __ATOMIC_SEQ_CST);
			cgroups += n;
			close(fd);
		}
	}
	for (int i = 0; i < t->nlinks; i++) {
		snprintf(p, sizeof(p), "%s/link%02d", here, i);
		if (bpf_link__pin(t->links[i], p)) {
			if (d)
				closedir(d);
			unpin_generation(here);
			return update_failed(env, "pin a link");
		}
	}
	snprintf(p, sizeof(p), "%s/lt_traced", here);
	int err = bpf_map__pin(t->skel->maps.lt_traced, p);
	snprintf(p, sizeof(p), "%s/lt_cgroups", here);
	if (!err)
		err = bpf_map__pin(t->skel->maps.lt_cgroups, p);
	if (err) {
		if (d)
			closedir(d);
		unpin_generation(here);
		return update_failed(env, "pin a map");
	}
	t->pinned = true;
	if (d) {
		rewinddir(d);
		while ((e = readdir(d))) {
			if (e->d_name[0] == '.' || strcmp(e->d_name, gen) == 0)
				continue;
			snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
			unpin_generation(p);
			adopted++;
		}
		closedir(d);
	}
	napi_value out, v;
	NAPI_CHECK(env, napi_create_object(env, &out));
	NAPI_CHECK(env, napi_create_int32(env, adopted, &v));
	NAPI_CHECK(env, napi_set_named_property(env, out, "adopted", v));
	NAPI_CHECK(env, napi_create_int32(env, traced, &v));
	NAPI_CHECK(env, napi_set_named_property(env, out, "traced", v));
	NAPI_CHECK(env, napi_create_int32(env, cgroups, &v));
	NAPI_CHECK(env, napi_set_named_property(env, out, "cgroups", v));
	return out;
}

/* drops(handle) -> BigUint64Array [cpu * LT_KIND_COUNT + kind] */
static napi_value js_drops(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];
	NAPI_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	struct tracer *t = argc < 1 ? NULL : arg_tracer(env, argv[0]);
	if (!t)
		return argc < 1 ? throw_code(env, "internal", "ltrack addon: drops(handle)") : NULL;
	int ncpu = libbpf_num_possible_cpus();
	if (ncpu <= 0)
		return throw_code(env, "internal", "ltrack addon: cannot count CPUs");
	__u64 *vals = calloc(ncpu, sizeof(__u64));
	if (!vals)
		return throw_code(env, "internal", "ltrack addon: out of memory reading drops");
	napi_value ab, arr;
	void *data;
	if (napi_create_arraybuffer(env, (size_t)ncpu * LT_KIND_COUNT * 8, &data, &ab) != napi_ok) {
		free(vals);
		return throw_status(env, "napi_create_arraybuffer");
	}
	__u64 *out = data;
	for (__u32 k = 0; k < LT_KIND_COUNT; k++) {
		if (bpf_map__lookup_elem(t->skel->maps.lt_drops, &k, sizeof(k), vals,
					 ncpu * sizeof(__u64), 0)) {
			free(vals);
			return update_failed(env, "read the drop counters");
		}
		for (int c = 0; c < ncpu; c++)
			out[c * LT_KIND_COUNT + k] = vals[c];
	}
	free(vals);
	NAPI_CHECK(env, napi_create_typedarray(env, napi_biguint64_array,
					       (size_t)ncpu * LT_KIND_COUNT, ab, 0, &arr));
	return arr;
}

/* lostForks(handle) -> children lt_fork could not add to the traced tree, summed over CPUs */
static napi_value js_lost_forks(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1], out;
	NAPI_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	struct tracer *t = argc < 1 ? NULL : arg_tracer(env, argv[0]);
	if (!t)
		return argc < 1 ? throw_code(env, "internal", "ltrack addon: lostForks(handle)") :
				  NULL;
	int ncpu = libbpf_num_possible_cpus();
	__u64 *vals = ncpu > 0 ? calloc(ncpu, sizeof(__u64)) : NULL;
	__u32 k = 0;
	if (!vals || bpf_map__lookup_elem(t->skel->maps.lt_lost_forks, &k, sizeof(k), vals,
					  ncpu * sizeof(__u64), 0)) {
		free(vals);
		return throw_code(env, "internal",
				  "ltrack addon: cannot read the lost-fork counter");
	}
	double sum = 0;
	for (int c = 0; c < ncpu; c++)
		sum += (double)vals[c];
	free(vals);
	NAPI_CHECK(env, napi_create_double(env, sum, &out));
	return out;
}

/* flushAgg(handle) -> Buffer of file_open records carrying the repeats still pending in lt_agg
 * (processes alive when the trace stops); the entries are removed. The buffer is sized for a full
 * map up front, so no entry is ever deleted without being returned. */
static napi_value js_flush_agg(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1], out;
	NAPI_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	struct tracer *t = argc < 1 ? NULL : arg_tracer(env, argv[0]);
	if (!t)
		return argc < 1 ? throw_code(env, "internal", "ltrack addon: flushAgg(handle)") :
				  NULL;
	int fd = bpf_map__fd(t->skel->maps.lt_agg);
	size_t max_rec = sizeof(struct lt_hdr) + sizeof(struct lt_open) + LT_AGG_PATH;
	size_t cap = (size_t)bpf_map__max_entries(t->skel->maps.lt_agg) * max_rec, used = 0;
	char *buf = malloc(cap);
	if (!buf)
		return throw_code(env, "internal",
				  "ltrack addon: out of memory flushing aggregates");
	struct lt_agg_key key, next;
	struct lt_agg_val v;
	int more = bpf_map_get_next_key(fd, NULL, &next) == 0;
	while (more && used + max_rec <= cap) {
		key = next;
		more = bpf_map_get_next_key(fd, &key, &next) == 0;
		if (bpf_map_lookup_elem(fd, &key, &v) || v.pending == 0)
			continue;
		size_t len = v.body.path_len < LT_AGG_PATH ? v.body.path_len : 0;
		size_t rec = sizeof(v.hdr) + sizeof(v.body) + len;
		v.hdr.ts = v.last_ts;
		v.hdr.count = (__u32)v.pending;
		v.hdr.size = rec;
		memcpy(buf + used, &v.hdr, sizeof(v.hdr));
		memcpy(buf + used + sizeof(v.hdr), &v.body, sizeof(v.body));
		memcpy(buf + used + sizeof(v.hdr) + sizeof(v.body), v.path, len);
		used += rec;
		bpf_map_delete_elem(fd, &key);
	}
	napi_status st = napi_create_buffer_copy(env, used, buf, NULL, &out);
	free(buf);
	if (st != napi_ok)
		return throw_status(env, "napi_create_buffer_copy");
	return out;
}

/* skipped(handle) -> comma-separated tracepoints this kernel does not have */
static napi_value js_skipped(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1], out;
	NAPI_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	struct tracer *t = argc < 1 ? NULL : arg_tracer(env, argv[0]);
	if (!t)
		return argc < 1 ? throw_code(env, "internal", "ltrack addon: skipped(handle)") :
				  NULL;
	NAPI_CHECK(env, napi_create_string_utf8(env, t->skipped, NAPI_AUTO_LENGTH, &out));
	return out;
}

/* linkFds(handle): the descriptors of the attached links. A process that inherits them keeps the
 * programs' attachments (disabled once close() has run) alive until it exits, so the kernel's
 * serial per-tracepoint unregister (~40 ms each) is waited out there instead of in this process
 * (src/trace/detach.ts). */
static napi_value js_link_fds(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1], out;
	NAPI_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	struct tracer *t = NULL;
	if (argc < 1 || napi_get_value_external(env, argv[0], (void **)&t) != napi_ok || !t)
		return throw_code(env, "internal",
				  "ltrack addon: linkFds(handle): bad tracer handle");
	NAPI_CHECK(env, napi_create_array_with_length(env, t->closed ? 0 : t->nlinks, &out));
	for (int i = 0; !t->closed && i < t->nlinks; i++) {
		napi_value fd;
		NAPI_CHECK(env, napi_create_int32(env, bpf_link__fd(t->links[i]), &fd));
		NAPI_CHECK(env, napi_set_element(env, out, i, fd));
	}
	return out;
}

/* close(handle): detach and free now (the handle's finalizer would do it later anyway). */
static napi_value js_close(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];
	NAPI_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	struct tracer *t = NULL;
	if (argc < 1 || napi_get_value_external(env, argv[0], (void **)&t) != napi_ok || !t)
		return throw_code(env, "internal",
				  "ltrack addon: close(handle): bad tracer handle");
	if (t->polling)
		return throw_code(env, "internal",
				  "ltrack addon: close() while a poll is in flight");
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
		{ "remove", NULL, js_remove, NULL, NULL, NULL, napi_default, NULL },
		{ "pin", NULL, js_pin, NULL, NULL, NULL, napi_default, NULL },
		{ "drops", NULL, js_drops, NULL, NULL, NULL, napi_default, NULL },
		{ "lostForks", NULL, js_lost_forks, NULL, NULL, NULL, napi_default, NULL },
		{ "flushAgg", NULL, js_flush_agg, NULL, NULL, NULL, napi_default, NULL },
		{ "skipped", NULL, js_skipped, NULL, NULL, NULL, napi_default, NULL },
		{ "linkFds", NULL, js_link_fds, NULL, NULL, NULL, napi_default, NULL },
		{ "close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL },
	};
	NAPI_CHECK(env,
		   napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props));
	/* libbpf's messages go to the open() that caused them (on_libbpf_print), not to stderr */
	libbpf_set_print(on_libbpf_print);
	return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
