# BPF object and skeleton (bpf/): vmlinux.h from this kernel's BTF, clang, bpftool gen skeleton.
# Rebuilt only when a bpf/ source or the kernel changed.
# (generated headers, vmlinux.h and *.skel.h, are outputs and stay out of the digest)
d=$( { ls bpf/*.c bpf/*.h bpf/Makefile 2>/dev/null | grep -v -e 'vmlinux\.h$' -e '\.skel\.h$' | xargs cat | grep -v '^$'; uname -r; } | sha256sum | cut -c1-16)
if ! stamp_ok bpf "$d" || [ ! -f bpf/ltrack.skel.h ] || [ ! -f bpf/alignchecker.bpf.o ]; then
  log "building BPF programs"
  # vmlinux.h belongs to the running kernel: regenerate it with everything else
  make -C bpf -s clean >/dev/null
  make -C bpf -s >/tmp/ltrack-bpf.log 2>&1 || { log "BPF build failed; see /tmp/ltrack-bpf.log"; tail -5 /tmp/ltrack-bpf.log >&2; exit 1; }
  stamp_set bpf "$d"
fi
