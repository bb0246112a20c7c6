/* SPDX-License-Identifier: Apache-2.0 */
/* The benchmark's floor: an empty program on the same tracepoint ltrack reports opens from. What
 * an untraced process pays with it attached is the kernel's tracepoint dispatch alone, the part
 * no filtering inside a program can remove. */
#include "../../bpf/vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tracepoint/syscalls/sys_exit_openat")
int floor_exit_openat(void *ctx)
{
	return 0;
}
