"""load phase: each model by its sniffed format, with the real loader the victim would use.

Loaders are imported lazily so that a format's library (torch takes seconds) is only paid for when
a file needs it, and so that its import shows up inside the load phase like it would in production.
"""
import json
import pickle
import struct


def _pickle(path):
    with open(path, "rb") as f:
        return pickle.load(f)


def _torch(path):
    import torch

    # weights_only=False is what older code and most tutorials do: the unsafe path is the one we vet.
    return torch.load(path, map_location="cpu", weights_only=False)


def _npy(path):
    import numpy

    return numpy.load(path, allow_pickle=True)


def _npz(path):
    import numpy

    with numpy.load(path, allow_pickle=True) as archive:
        # Arrays load lazily; touching each one runs any pickle inside it.
        return {name: archive[name] for name in archive.files}


def _joblib(path):
    import joblib

    return joblib.load(path)


def _dill(path):
    import dill

    with open(path, "rb") as f:
        return dill.load(f)


def _cloudpickle(path):
    import cloudpickle

    with open(path, "rb") as f:
        return cloudpickle.load(f)


def _onnx(path):
    import onnx

    model = onnx.load(path)
    onnx.checker.check_model(model)
    return model


_ST_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
              "U8": "u1", "BOOL": "?", "BF16": "<u2"}


def _safetensors(path):
    """safetensors: an 8-byte little-endian header length, a JSON header, then raw tensor bytes."""
    import numpy

    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        if n > 100 * 1024 * 1024:
            raise ValueError(f"safetensors header of {n} bytes")
        header = json.loads(f.read(n))
        data = f.read()
    tensors = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        start, end = spec["data_offsets"]
        tensors[name] = numpy.frombuffer(data[start:end], dtype=_ST_DTYPES[spec["dtype"]]).reshape(spec["shape"])
    return tensors


def _keras_h5(path):
    """Keras HDF5: the architecture is JSON in the file's attributes; keras itself is not in the image,
    so layers (a Lambda's marshalled bytecode included) are read as data, never rebuilt."""
    import h5py

    with h5py.File(path, "r") as f:
        raw = f.attrs.get("model_config")
        if raw is None:
            raise ValueError("no model_config attribute: not a Keras HDF5 model")
        config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        weights = []
        if "model_weights" in f:
            f["model_weights"].visit(weights.append)
    return _architecture(config, len(weights))


def _keras_zip(path):
    """Keras 3 `.keras`: a zip of config.json (the architecture) and model.weights.h5; read as data
    the same way, the weights file opened with h5py."""
    import io
    import zipfile

    import h5py

    with zipfile.ZipFile(path) as z:
        config = json.loads(z.read("config.json"))
        weights = []
        with h5py.File(io.BytesIO(z.read("model.weights.h5")), "r") as f:
            f.visit(weights.append)
    return _architecture(config, len(weights))


def _architecture(config, weights):
    layers = config.get("config", {}).get("layers", []) if isinstance(config.get("config"), dict) else []
    return {"class_name": config.get("class_name"), "layers": [l.get("class_name") for l in layers], "weights": weights}


LOADERS = {
    "pickle": _pickle,
    "torch-zip": _torch,
    "torch-legacy": _torch,
    "torch-tar": _torch,
    "torch": _torch,
    "npy": _npy,
    "npz": _npz,
    "joblib": _joblib,
    "dill": _dill,
    "cloudpickle": _cloudpickle,
    "onnx": _onnx,
    "safetensors": _safetensors,
    "keras-h5": _keras_h5,
    "keras": _keras_zip,
}


def describe(obj):
    t = type(obj)
    return f"{t.__module__}.{t.__qualname__}"
