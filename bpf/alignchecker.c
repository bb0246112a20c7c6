/* SPDX-License-Identifier: Apache-2.0 */
/* Instantiates every wire struct and enum so they land in this object's BTF; the layout test
 * (test/trace/btf-layout.test.ts) compares them with the TypeScript decoder. Never loaded. */
#include "vmlinux.h"
#include "ltrack.h"

struct lt_hdr lt_align_hdr;
struct lt_fork lt_align_fork;
struct lt_exit lt_align_exit;
struct lt_exec lt_align_exec;
struct lt_open lt_align_open;
struct lt_mmap lt_align_mmap;
struct lt_net lt_align_net;
struct lt_sendfile lt_align_sendfile;
struct lt_op_ev lt_align_op;
struct lt_inode_key lt_align_inode_key;
struct lt_net_key lt_align_net_key;
struct lt_path_key lt_align_path_key;
enum lt_kind lt_align_kind;
enum lt_flag lt_align_flag;
enum lt_op lt_align_opcode;
enum lt_family lt_align_family;
enum lt_mode_bits lt_align_mode;
struct lt_agg_key lt_align_agg_key;
struct lt_agg_val lt_align_agg_val;
struct lt_prefix_key lt_align_prefix_key;
enum lt_xfer lt_align_xfer;
enum lt_limit lt_align_limit;
enum lt_mode_slot lt_align_mode_slot;
enum lt_guard_state lt_align_guard_state;
