# The bubblewrap driver's seccomp filter (sandbox/seccomp): denied.txt compiled to classic BPF by
# libseccomp. Rebuilt when the list or the compiler changed.
d=$(digest_of sandbox/seccomp/denied.txt sandbox/seccomp/compile.c)
if ! stamp_ok seccomp "$d" || [ ! -f build/seccomp/bwrap.bpf ]; then
  log "compiling the bwrap seccomp filter"
  mkdir -p build/seccomp
  cc -O2 -Wall -o build/seccomp/compile sandbox/seccomp/compile.c -lseccomp \
    && build/seccomp/compile sandbox/seccomp/denied.txt build/seccomp/bwrap.bpf >/dev/null \
    || { log "seccomp filter build failed"; exit 1; }
  stamp_set seccomp "$d"
fi
