/* SPDX-License-Identifier: Apache-2.0 */
/* The tracer's one compilation unit: every attach concern below shares the maps of
 * common.bpf.h, so user space loads a single skeleton and one ring buffer. */
#include "common.bpf.h"

#include "proc.bpf.c"
#include "files.bpf.c"
#include "net.bpf.c"
#include "privops.bpf.c"
