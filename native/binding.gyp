{
  "targets": [
    {
      "target_name": "ltrack",
      "sources": ["ltrack.c"],
      "include_dirs": ["../bpf"],
      "cflags": ["-O2", "-Wall", "-Wno-unused-parameter"],
      "libraries": ["-lbpf", "-lelf", "-lz"]
    }
  ]
}
