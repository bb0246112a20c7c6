"""The differential oracle for ltrack's pickle interpreter: CPython's C unpickler, globals stubbed.

Runs inside the sandbox image (its own python3, no network, read-only, unprivileged) as one
process for a whole batch.

  pickle_oracle.py seeds N SEED   prints N valid pickles (base64, one a line) of random objects,
                                  pickled with protocols 0-5 by the C pickler
  pickle_oracle.py load           reads frames (u32 little-endian length, then the stream) from
                                  stdin to EOF; writes one JSON line per frame:
                                  {"o": "accept" | "reject" | "memory", "x": exception name,
                                   "e": events, "d": 1 if a file-reading load differs}

A load is `_pickle.Unpickler(file, encoding='latin1').load()`, once over a file that hands over
every byte at the first read (pickle.loads' view) and once over io.BytesIO (pickle.load's view,
which reads a FRAME at a time and drops the rest of a frame that an operand overruns). (latin-1 decodes every Python 2
string, so it accepts what any encoding accepts) with find_class and persistent_load overridden.
Nothing is imported and nothing real is called. Events, in the order they happen:
  ["find_class", module, name]  find_class returns a new stub class (a type)
  ["persistent_load"]           persistent_load returns a new stub instance
  [op, root(, n)]               an operation on a stub: "call" (REDUCE, INST, OBJ, NEWOBJ,
                                NEWOBJ_EX: calling the class or instance, or cls.__new__; n is
                                the number of arguments, keywords included),
                                "setstate" (BUILD), "extend" (APPEND/APPENDS; n: items), "setitem" (each
                                SETITEM(S) pair), "add" (each ADDITEMS item). root is the index of
                                the find_class / persistent_load event that made the stub; what a
                                call returns is a stub instance with the callee's root.
"""

import base64
import io
import json
import random
import resource
import sys
import warnings
import _pickle

events: list = []


def _instance(root: int) -> "_Inst":
    inst = object.__new__(_Inst)
    inst._root = root
    return inst


class _Op:
    """A method found on a stub class and on its instances alike, recording `kind` on the stub's root."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __get__(self, obj, typ=None):
        root = (obj if obj is not None else typ)._root
        kind = self.kind

        def op(*args, **kwargs):
            events.append([kind, root, len(args[0])] if kind == "extend" else [kind, root])

        return op


class _Inst:
    __slots__ = ("_root",)
    extend = _Op("extend")
    add = _Op("add")
    __setstate__ = _Op("setstate")

    def __call__(self, *args, **kwargs):
        events.append(["call", self._root, len(args) + len(kwargs)])
        return _instance(self._root)

    def __setitem__(self, key, value):
        events.append(["setitem", self._root])


class _Meta(type):
    def __call__(cls, *args, **kwargs):
        events.append(["call", cls._root, len(args) + len(kwargs)])
        return _instance(cls._root)

    def __setitem__(cls, key, value):
        events.append(["setitem", cls._root])


def _stub_new(cls, *args, **kwargs):
    events.append(["call", cls._root, len(args) + len(kwargs)])
    return _instance(cls._root)


def _stub_class(root: int) -> type:
    ns = {"__slots__": (), "_root": root, "__new__": _stub_new, "extend": _Op("extend"), "add": _Op("add"), "__setstate__": _Op("setstate")}
    return _Meta("Stub", (), ns)


class _Unpickler(_pickle.Unpickler):
    def find_class(self, module, name):
        events.append(["find_class", module, name])
        return _stub_class(len(events) - 1)

    def persistent_load(self, pid):
        events.append(["persistent_load"])
        return _instance(len(events) - 1)


class _Whole:
    """A file whose first read returns every byte: the Unpickler then reads from one buffer, as
    pickle.loads does. (io.BytesIO instead gives it a FRAME at a time, as torch.load's does.)"""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, n: int = -1) -> bytes:
        data, self.data = self.data, b""
        return data

    def readline(self) -> bytes:
        return self.read()


def _load(file) -> dict:
    events.clear()
    try:
        _Unpickler(file, encoding="latin1").load()
        return {"o": "accept", "e": list(events)}
    except MemoryError:
        return {"o": "memory", "x": "MemoryError", "e": list(events)}
    except Exception as err:  # every way the unpickler fails is a reject
        return {"o": "reject", "x": type(err).__name__, "e": list(events)}


def load(data: bytes) -> dict:
    """The load from one buffer; "d": 1 when reading the same bytes as a file differs from it."""
    whole = _load(_Whole(data))
    filed = _load(io.BytesIO(data))
    if (whole["o"], whole["e"]) != (filed["o"], filed["e"]):
        whole["d"] = 1
    return whole


def serve() -> None:
    data = sys.stdin.buffer.read()
    out = sys.stdout
    pos = 0
    while pos < len(data):
        n = int.from_bytes(data[pos : pos + 4], "little")
        pos += 4
        out.write(json.dumps(load(data[pos : pos + n])) + "\n")
        pos += n
    out.flush()


# --- seeds: valid pickles of random objects, every protocol ---------------------------------


class _Reduced:
    """Pickles as a call of a global (GLOBAL/STACK_GLOBAL + REDUCE, or NEWOBJ) with state (BUILD)."""

    def __init__(self, rnd: random.Random, depth: int) -> None:
        self.how = rnd.randrange(4)
        self.args = tuple(_value(rnd, depth + 1) for _ in range(rnd.randrange(3)))
        self.state = _value(rnd, depth + 1) if rnd.random() < 0.5 else None
        self.items = [_value(rnd, depth + 1) for _ in range(rnd.randrange(3))]
        self.pairs = [(str(i), _value(rnd, depth + 1)) for i in range(rnd.randrange(3))]

    def __reduce_ex__(self, proto):
        fn = [_Reduced, _Reduced, dict, collections_ordered_dict][self.how]
        return (fn, self.args if self.how < 2 else (), self.state, iter(self.items) if self.how < 2 else None, iter(self.pairs))


def collections_ordered_dict(*args):
    return None


class _Plain:
    """Default reduce: copyreg._reconstructor (protocols 0-1), NEWOBJ + BUILD (2+)."""

    def __init__(self, rnd: random.Random, depth: int) -> None:
        self.a = _value(rnd, depth + 1)
        self.b = _value(rnd, depth + 1)


class _Kw:
    """__getnewargs_ex__: NEWOBJ_EX from protocol 4."""

    def __init__(self, rnd: random.Random, depth: int) -> None:
        self.args = (_value(rnd, depth + 1),)
        self.kw = {"k": _value(rnd, depth + 1)}

    def __getnewargs_ex__(self):
        return self.args, self.kw

    def __getstate__(self):
        return None


def _value(rnd: random.Random, depth: int = 0):
    kinds = ["int", "bigint", "float", "str", "ustr", "bytes", "none", "bool"]
    if depth < 4:
        kinds += ["list", "tuple", "dict", "set", "frozenset", "bytearray", "reduced", "shared", "plain", "kw"]
    k = rnd.choice(kinds)
    if k == "int":
        return rnd.choice([0, 1, -1, 255, 256, 65535, 65536, -(2**31), 2**31 - 1, rnd.randrange(-(10**6), 10**6)])
    if k == "bigint":
        return rnd.randrange(-(2**200), 2**200)
    if k == "float":
        return rnd.choice([0.0, -0.0, 1.5, 1e300, float("inf"), float("nan"), rnd.random()])
    if k == "str":
        return "".join(rnd.choice("abc_.' \"\\\n\x00") for _ in range(rnd.randrange(8)))
    if k == "ustr":
        return "".join(chr(rnd.choice([0xE9, 0x263A, 0x1F600, 0x80, 0xFF, 0x41])) for _ in range(rnd.randrange(5)))
    if k == "bytes":
        return bytes(rnd.randrange(256) for _ in range(rnd.randrange(10)))
    if k == "none":
        return None
    if k == "bool":
        return rnd.random() < 0.5
    if k == "bytearray":
        return bytearray(rnd.randrange(256) for _ in range(rnd.randrange(5)))
    n = rnd.randrange(4)
    if k == "list":
        return [_value(rnd, depth + 1) for _ in range(n)]
    if k == "tuple":
        return tuple(_value(rnd, depth + 1) for _ in range(n))
    if k == "dict":
        keys = [rnd.choice([rnd.randrange(100), str(rnd.randrange(100)), (1, "a"), None, 2.5]) for _ in range(n)]
        return {key: _value(rnd, depth + 1) for key in keys}
    if k in ("set", "frozenset"):
        # no str in sets: their order follows str hashes, which -I randomises per run
        keys = [rnd.choice([rnd.randrange(100), (1, 2), None, 2.5]) for _ in range(n)]
        return set(keys) if k == "set" else frozenset(keys)
    if k == "reduced":
        return _Reduced(rnd, depth)
    if k == "plain":
        return _Plain(rnd, depth)
    if k == "kw":
        return _Kw(rnd, depth)
    shared = [_value(rnd, depth + 1)]
    return [shared, shared, (shared,)]


def seeds(count: int, seed: int) -> None:
    rnd = random.Random(seed)
    for i in range(count):
        obj = _value(rnd)
        proto = i % 6
        data = _pickle.dumps(obj, protocol=proto)
        print(base64.b64encode(data).decode())


def main(argv: list) -> int:
    warnings.simplefilter("ignore")
    sys.setrecursionlimit(10000)
    # a stream asking for a huge memo or operand gets MemoryError here instead of the host's memory
    resource.setrlimit(resource.RLIMIT_AS, (160 << 20, 160 << 20))
    if argv[1:2] == ["seeds"]:
        seeds(int(argv[2]), int(argv[3]))
    else:
        serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
