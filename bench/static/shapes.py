"""Writes the model-file shapes bench/static/shapes.mjs measures, at a given size, into a folder.

Run by /usr/bin/python3 (numpy, joblib, torch, h5py, onnx). Each shape is what real files hold:
  numpy.pkl       pickle.dump of a dict of 64 float64 arrays (numpy's _reconstruct + BUILD, a BINBYTES each)
  joblib.joblib   joblib.dump of the same dict (arrays written inline after each NumpyArrayWrapper)
  joblib-zlib.joblib  the same, compress=('zlib', 3)
  torch-many.pt   torch.save of a state dict of 4,096 small tensors
  binbytes.pkl    one BINBYTES8 operand holding all the bytes
  keras.h5        an HDF5 file laid out as Keras 2 writes one (model_config JSON attribute, weights)
  onnx/           model.onnx whose one initializer lives in weights.bin (external data)
  model.gguf      GGUF v3: metadata with a chat template, one F32 tensor
Random contents (seeded): compression gains nothing, as on real weights. Nothing here runs payloads.
"""

from __future__ import annotations

import json
import os
import pathlib
import pickle
import struct
import sys

import numpy as np

CHUNK = 64 << 20


def _random_bytes(f, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    while n > 0:
        k = min(CHUNK, n)
        f.write(rng.integers(0, 256, size=k, dtype=np.uint8).tobytes())
        n -= k


def _arrays(total: int, count: int) -> dict:
    rng = np.random.default_rng(0)
    per = total // count // 8
    return {f"layer{i}.weight": rng.random(per) for i in range(count)}


def numpy_pickle(path: pathlib.Path, total: int) -> None:
    with open(path, "wb") as f:
        pickle.dump(_arrays(total, 64), f, protocol=4)


def joblib_dump(path: pathlib.Path, total: int, compress) -> None:
    import joblib

    joblib.dump(_arrays(total, 64), path, compress=compress)


def torch_many(path: pathlib.Path, total: int) -> None:
    import torch

    count = 4096
    g = torch.Generator().manual_seed(0)
    torch.save({f"blocks.{i}.weight": torch.rand(total // count // 4, generator=g) for i in range(count)}, path)


def binbytes(path: pathlib.Path, total: int) -> None:
    with open(path, "wb") as f:
        f.write(b"\x80\x04\x8e" + struct.pack("<Q", total))  # PROTO 4, BINBYTES8
        _random_bytes(f, total, 1)
        f.write(b".")


def keras_h5(path: pathlib.Path, total: int) -> None:
    import h5py

    config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 1024], "name": "input"}},
        {"class_name": "Dense", "config": {"name": "dense", "units": total // 4 // 1024, "activation": "relu"}},
    ]}}
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(config)
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["backend"] = "tensorflow"
        g = f.create_group("model_weights/dense/dense")
        d = g.create_dataset("kernel:0", shape=(1024, total // 4 // 1024), dtype="f4")
        rng = np.random.default_rng(2)
        rows = max(1, (CHUNK // 4) // d.shape[1])
        for r in range(0, 1024, rows):
            d[r:r + rows] = rng.random((min(rows, 1024 - r), d.shape[1]), dtype=np.float32)


def onnx_external(folder: pathlib.Path, total: int) -> None:
    import onnx
    from onnx import TensorProto, helper

    folder.mkdir(parents=True, exist_ok=True)
    n = total // 4
    with open(folder / "weights.bin", "wb") as f:
        _random_bytes(f, n * 4, 3)
    w = TensorProto()
    w.name = "W"
    w.data_type = TensorProto.FLOAT
    w.dims.extend([n])
    w.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "weights.bin"), ("offset", "0"), ("length", str(n * 4))):
        e = w.external_data.add()
        e.key, e.value = key, value
    node = helper.make_node("Identity", ["W"], ["Y"])
    graph = helper.make_graph([node], "g", [], [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [n])], initializer=[w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    (folder / "model.onnx").write_bytes(model.SerializeToString())


def gguf(path: pathlib.Path, total: int) -> None:
    """GGUF v3 written by hand: header, key/values, one tensor info, aligned data."""

    def s(text: str) -> bytes:
        b = text.encode()
        return struct.pack("<Q", len(b)) + b

    template = "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{% endfor %}"
    kvs = [
        s("general.architecture") + struct.pack("<I", 8) + s("llama"),
        s("general.alignment") + struct.pack("<I", 4) + struct.pack("<I", 32),
        s("tokenizer.chat_template") + struct.pack("<I", 8) + s(template),
    ]
    n = total // 4
    tensor = s("token_embd.weight") + struct.pack("<I", 1) + struct.pack("<Q", n) + struct.pack("<I", 0) + struct.pack("<Q", 0)
    head = b"GGUF" + struct.pack("<IQQ", 3, 1, len(kvs)) + b"".join(kvs) + tensor
    with open(path, "wb") as f:
        f.write(head + b"\0" * (-len(head) % 32))
        _random_bytes(f, n * 4, 4)


def main() -> None:
    out = pathlib.Path(sys.argv[1])
    total = int(sys.argv[2])
    only = set(sys.argv[3:])
    out.mkdir(parents=True, exist_ok=True)
    shapes = {
        "numpy.pkl": lambda p: numpy_pickle(p, total),
        "joblib.joblib": lambda p: joblib_dump(p, total, 0),
        "joblib-zlib.joblib": lambda p: joblib_dump(p, total, ("zlib", 3)),
        "torch-many.pt": lambda p: torch_many(p, total),
        "binbytes.pkl": lambda p: binbytes(p, total),
        "keras.h5": lambda p: keras_h5(p, total),
        "onnx": lambda p: onnx_external(p, total),
        "model.gguf": lambda p: gguf(p, total),
    }
    for name, write in shapes.items():
        target = out / name
        if (only and name not in only) or target.exists():
            continue
        partial = out / f".{name}.partial"
        write(partial)
        os.rename(partial, target)
        print(f"shapes.py: wrote {target}", file=sys.stderr)


if __name__ == "__main__":
    main()
