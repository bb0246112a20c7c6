"""Chat templates, loaded the way their consumers load them: a GGUF header read for its metadata
(llama.cpp-style runtimes), a tokenizer_config.json or chat_template.jinja read like transformers
does, then every template rendered with representative conversations through jinja2 — once in
transformers' ImmutableSandboxedEnvironment (with its extensions, filters and globals) and once
in a plain Environment, as some servers render them. A template that reaches Python internals is
refused by the first and runs in the second: the tracer sees what it does.

No gguf package is in the image: the header reader below is bounded by the file's size and by
counts, never trusts a length it has not checked against what is left, and keeps only the
template strings and the two special tokens a renderer passes in.
"""
import datetime
import json
import os
import struct

GGUF_MAGIC = b"GGUF"
MAX_KEYS = 1_000_000
MAX_TENSORS = 10_000_000
MAX_DIMS = 8
MAX_CONFIG_BYTES = 64 * 2**20
# value type -> struct format of a scalar (ggml's gguf.h)
SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
STRING, ARRAY = 8, 9


class _Reader:
    """Little-endian reads that refuse to run past the end of the file."""

    def __init__(self, f, size):
        self.f, self.size = f, size

    def left(self):
        return self.size - self.f.tell()

    def take(self, n):
        if n < 0 or n > self.left():
            raise ValueError(f"GGUF: {n} bytes wanted at offset {self.f.tell()}, {self.left()} left")
        return self.f.read(n)

    def skip(self, n):
        if n < 0 or n > self.left():
            raise ValueError(f"GGUF: skip of {n} bytes past the end of the file")
        self.f.seek(n, os.SEEK_CUR)

    def scalar(self, fmt):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self):
        return self.take(self.scalar("<Q")).decode("utf-8", errors="replace")


def read_gguf(path):
    """-> (metadata strings that are templates, special tokens, header summary)."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        r = _Reader(f, size)
        if r.take(4) != GGUF_MAGIC:
            raise ValueError("not a GGUF file")
        version = r.scalar("<I")
        if version not in (2, 3):
            raise ValueError(f"unsupported GGUF version {version}")
        n_tensors, n_kv = r.scalar("<Q"), r.scalar("<Q")
        if n_kv > MAX_KEYS or n_tensors > MAX_TENSORS:
            raise ValueError(f"GGUF: {n_kv} keys, {n_tensors} tensors")
        templates, ids, tokens, keys = {}, {}, None, set()
        for _ in range(n_kv):
            key = r.string()
            if key in keys:
                raise ValueError(f"GGUF: duplicate key {key!r}")
            keys.add(key)
            vtype = r.scalar("<I")
            if vtype == STRING:
                value = r.string()
                if key == "tokenizer.chat_template" or key.startswith("tokenizer.chat_template."):
                    templates[key] = value
            elif vtype == ARRAY:
                items = _array(r, keep=key == "tokenizer.ggml.tokens")
                if items is not None:
                    tokens = items
            elif vtype in SCALARS:
                value = r.scalar(SCALARS[vtype])
                if key in ("tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"):
                    ids[key.split(".")[-1][:3]] = value
            else:
                raise ValueError(f"GGUF: unknown value type {vtype} for {key!r}")
        for _ in range(n_tensors):
            r.string()
            dims = r.scalar("<I")
            if dims > MAX_DIMS:
                raise ValueError(f"GGUF: tensor with {dims} dimensions")
            r.skip(8 * dims + 4 + 8)  # dims, ggml type, data offset
    special = {}
    for which, i in ids.items():
        if tokens is not None and isinstance(i, int) and 0 <= i < len(tokens):
            special[f"{which}_token"] = tokens[i]
    return templates, special, {"version": version, "tensors": n_tensors, "keys": n_kv}


def _array(r, keep):
    inner, count = r.scalar("<I"), r.scalar("<Q")
    if inner == STRING:
        if count > r.left() // 8:
            raise ValueError(f"GGUF: array of {count} strings cannot fit in the file")
        items = [r.string() for _ in range(count)]
        return items if keep else None
    if inner == ARRAY:
        raise ValueError("GGUF: nested arrays")
    if inner not in SCALARS:
        raise ValueError(f"GGUF: array of unknown type {inner}")
    r.skip(count * struct.calcsize(SCALARS[inner]))
    return None


def read_config(path):
    """tokenizer_config.json (or chat_template.json) -> (templates, special tokens), as transformers reads them."""
    if os.path.getsize(path) > MAX_CONFIG_BYTES:
        raise ValueError("tokenizer config over the size bound")
    with open(path, "rb") as f:
        config = json.loads(f.read())
    value = config.get("chat_template")
    if isinstance(value, str):
        templates = {"chat_template": value}
    elif isinstance(value, list):
        templates = {f"chat_template.{item['name']}": item["template"] for item in value}
    else:
        templates = {}
    special = {}
    for name in ("bos_token", "eos_token", "unk_token", "pad_token"):
        token = config.get(name)
        if isinstance(token, dict):
            token = token.get("content")
        if isinstance(token, str):
            special[name] = token
    return templates, special


# Representative conversations: plain chat, a system prompt, and a tool call with its result,
# with the keyword arguments transformers and llama-cpp-python pass.
_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name"}}, "required": ["city"]},
    },
}
SCENARIOS = (
    {"messages": [{"role": "user", "content": "Hello!"}], "add_generation_prompt": True},
    {
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "What is 2 + 2?"},
            {"role": "assistant", "content": "4."},
            {"role": "user", "content": "And 3 + 3?"},
        ],
        "add_generation_prompt": True,
    },
    {
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": "", "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
            {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "{\"temperature\": 18}"},
        ],
        "tools": [_TOOL],
        "add_generation_prompt": True,
    },
)


def _environments():
    """(name, environment) for transformers' sandboxed setup and a plain one."""
    import jinja2
    import jinja2.ext
    import jinja2.nodes
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Generation(jinja2.ext.Extension):
        """transformers' {% generation %} block (it marks assistant tokens); rendered as its body."""

        tags = {"generation"}

        def parse(self, parser):
            next(parser.stream)
            return parser.parse_statements(("name:endgeneration",), drop_needle=True)

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt):
        return datetime.datetime.now().strftime(fmt)

    out = []
    for name, cls in (("sandboxed", ImmutableSandboxedEnvironment), ("plain", jinja2.Environment)):
        env = cls(trim_blocks=True, lstrip_blocks=True, extensions=[Generation, jinja2.ext.loopcontrols])
        env.filters["tojson"] = tojson
        env.globals["raise_exception"] = raise_exception
        env.globals["strftime_now"] = strftime_now
        out.append((name, env))
    return out


def render_all(templates, special):
    """Renders every template in both environments with every scenario. Everything is rendered
    before anything is judged (a payload must get its chance in the plain environment even when
    the sandboxed one refused it); then a template that no scenario could render in an
    environment, or that does not compile, fails the load."""
    results, failures = {}, []
    for env_name, env in _environments():
        for key, source in templates.items():
            where = f"{key} ({env_name})"
            try:
                template = env.from_string(source)
            except Exception as e:
                failures.append(f"{where}: {type(e).__name__}: {e}")
                continue
            rendered, errors = 0, []
            for scenario in SCENARIOS:
                context = {**special, **scenario}
                if "tools" in scenario:
                    context.update(functions=[t["function"] for t in scenario["tools"]], tool_choice="auto")
                try:
                    rendered += len(template.render(**context))
                except Exception as e:
                    errors.append(f"{type(e).__name__}: {e}")
            results[where] = {"chars": rendered, "errors": errors}
            if len(errors) == len(SCENARIOS):
                failures.append(f"{where}: no conversation renders ({errors[0]})")
    if failures:
        raise RuntimeError("chat template: " + "; ".join(failures)[:2000])
    return results


def load_gguf(path):
    templates, special, header = read_gguf(path)
    return {"header": header, "renders": render_all(templates, special)}


def load_config(path):
    templates, special = read_config(path)
    return {"renders": render_all(templates, special)}


def load_jinja(path):
    with open(path, "rb") as f:
        source = f.read(MAX_CONFIG_BYTES + 1)
    if len(source) > MAX_CONFIG_BYTES:
        raise ValueError("chat template over the size bound")
    return {"renders": render_all({"template": source.decode("utf-8")}, {"bos_token": "<s>", "eos_token": "</s>"})}
