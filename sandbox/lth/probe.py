"""probe phase: exercise a loaded object where that is safe and its input can be inferred.

An nn.Module gets one forward pass on zeros shaped for its first layer; an estimator with
n_features_in_ gets one predict on a zero row. Anything else is left alone (and said so).
"""


def _first_layer_input(module):
    import torch

    for layer in module.modules():
        if isinstance(layer, torch.nn.Linear):
            return torch.zeros(1, layer.in_features)
        if isinstance(layer, torch.nn.Conv2d):
            return torch.zeros(1, layer.in_channels, 32, 32)
        if isinstance(layer, torch.nn.Conv1d):
            return torch.zeros(1, layer.in_channels, 32)
        if isinstance(layer, torch.nn.Embedding):
            return torch.zeros(1, 8, dtype=torch.long)
    return None


def probe(obj):
    """-> (what was done or None, result description)."""
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and isinstance(obj, torch.nn.Module):
        x = _first_layer_input(obj)
        if x is None:
            return None, "nn.Module without a layer whose input shape can be inferred"
        obj.eval()
        with torch.no_grad():
            out = obj(x)
        return "forward", f"output {tuple(out.shape) if hasattr(out, 'shape') else type(out).__name__}"
    n_features = getattr(obj, "n_features_in_", None)
    if callable(getattr(obj, "predict", None)) and isinstance(n_features, int) and 0 < n_features <= 1_000_000:
        import numpy

        out = obj.predict(numpy.zeros((1, n_features)))
        return "predict", f"output shape {getattr(out, 'shape', None)}"
    return None, "no safe probe for this type"
