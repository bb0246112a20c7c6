"""load phase: each model by its sniffed format, with the real loader the victim would use.

Loaders are imported lazily so that a format's library (torch takes seconds) is only paid for when
a file needs it, and so that its import shows up inside the load phase like it would in production.
"""
import json
import pickle

from lth import templates


def _pickle(path):
    with open(path, "rb") as f:
        return pickle.load(f)


def _torch(path):
    import torch

    # weights_only=False is what older code and most tutorials do: the unsafe path is the one we vet.
    return torch.load(path, map_location="cpu", weights_only=False)


def _torch_mmap(path):
    """A torch zip checkpoint, memory-mapped: tensors are paged from the read-only candidate (file
    pages the sandbox's memory limit can reclaim) instead of copied in, so a checkpoint larger than
    the limit loads. Only the zip format can be mapped; the legacy and tar formats use _torch."""
    import torch

    return torch.load(path, map_location="cpu", weights_only=False, mmap=True)


def _npy(path):
    import numpy

    # Not memory-mapped: numpy refuses mmap_mode for object arrays (the pickles we vet); the
    # sandbox's memory limit is sized from the file instead (src/sandbox/sizing.ts).
    return numpy.load(path, allow_pickle=True)


def _npz(path):
    import numpy

    with numpy.load(path, allow_pickle=True) as archive:
        # Arrays load lazily; touching each one runs any pickle inside it.
        return {name: archive[name] for name in archive.files}


def _joblib(path):
    import joblib

    return joblib.load(path)


def _onnx(path):
    import onnx

    model = onnx.load(path)
    onnx.checker.check_model(model)
    return model


def _safetensors(path):
    """safetensors with the safetensors library and torch, as production reads it: the header is parsed
    by the library and each tensor is read from the memory-mapped file one at a time (never the whole
    file at once; numpy has no bfloat16, so torch is the framework)."""
    from safetensors import safe_open

    shapes = {}
    with safe_open(path, framework="pt") as f:
        for name in f.keys():
            shapes[name] = list(f.get_tensor(name).shape)
    return shapes


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


# Datasets are read in slices of about this many bytes, so a large one never sits in memory whole.
_HDF5_SLICE_BYTES = 16 * 2**20


def _hdf5(path):
    """A plain HDF5 file (datasets, not a Keras model) read as a data consumer reads it with h5py:
    every group walked, every attribute read, every dataset's values read (in slices), and links
    followed the way `f[name]` follows them — an external link or external storage opens the
    file it names, which the tracer sees."""
    import h5py

    summary = {"groups": 0, "datasets": 0, "attributes": 0, "links": 0}

    def attributes(obj):
        for name in obj.attrs:
            obj.attrs[name]
            summary["attributes"] += 1

    def dataset(ds):
        summary["datasets"] += 1
        if ds.shape is None:  # an empty dataspace holds no values
            return
        if ds.ndim == 0 or ds.shape[0] == 0:
            ds[()]
            return
        row = max(1, ds.dtype.itemsize * (ds.size // ds.shape[0]))
        step = max(1, _HDF5_SLICE_BYTES // row)
        for start in range(0, ds.shape[0], step):
            ds[start : start + step]

    def visit(name, obj):
        attributes(obj)
        if isinstance(obj, h5py.Dataset):
            dataset(obj)
        else:
            summary["groups"] += 1

    def link(name, info):
        if isinstance(info, (h5py.SoftLink, h5py.ExternalLink)):
            summary["links"] += 1
            target = f.get(name)
            if isinstance(target, h5py.Dataset):
                dataset(target)

    with h5py.File(path, "r") as f:
        if "model_config" in f.attrs:
            raise ValueError("a Keras model (model_config attribute): not read as plain data")
        attributes(f)
        f.visititems(visit)  # hard links
        f.visititems_links(link)  # soft and external links, which visititems does not follow
    return summary


def _architecture(config, weights):
    layers = config.get("config", {}).get("layers", []) if isinstance(config.get("config"), dict) else []
    return {"class_name": config.get("class_name"), "layers": [l.get("class_name") for l in layers], "weights": weights}


# Keyed by the format names of src/core/formats.ts (LOADABLE_FORMATS): the plan asks for a loader by
# the name the static engine gave the file; test/static/format-names.test.ts checks both lists agree.
LOADERS = {
    "pickle": _pickle,
    "torch-zip": _torch_mmap,
    "torch-legacy": _torch,
    "torch-tar": _torch,
    "npy": _npy,
    "npz": _npz,
    "joblib": _joblib,
    "onnx": _onnx,
    "safetensors": _safetensors,
    "keras-h5": _keras_h5,
    "keras": _keras_zip,
    "hdf5": _hdf5,
    "gguf": templates.load_gguf,
    "tokenizer-config": templates.load_config,
    "chat-template": templates.load_jinja,
}


def describe(obj):
    t = type(obj)
    return f"{t.__module__}.{t.__qualname__}"
