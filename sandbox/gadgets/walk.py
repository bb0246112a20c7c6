"""Derives the pickle gadget table from the Python sources of the interpreter it runs in.

Run by `ltrack rules gadgets` inside the sandbox image (read-only mount, no network): parses every
.py file of the standard library and of every installed package with `ast` (never imports them),
builds a call graph over importable callables, and finds by breadth-first search backwards from
the primitives below which callables reach process creation, code execution, dynamic import,
native loading, file writes or sockets within MAX_DEPTH calls. Prints one JSON document on stdout;
the host turns it into rules/gadgets.toml.

The graph over-approximates what a call can do (any call site counts, whatever branch it sits in)
and under-approximates what Python can hide (calls through containers, getattr with computed
names, C code): it classifies callables that the allowlist does not already cover, it does not
replace the allowlist.
"""

import ast
import json
import os
import sys
import sysconfig
import time
from collections import deque

VERSION = 1
MAX_DEPTH = 5

# Capabilities, most severe first: a callable that reaches several is listed under each.
CAPS = ("process", "code", "native", "import", "file_write", "socket")

# Primitives by canonical dotted name. A call whose target resolves to one is where a path ends.
SINKS = {
    "process": {
        "os.system", "os.popen", "os.posix_spawn", "os.posix_spawnp", "os.startfile",
        "posix.system", "posix.posix_spawn", "posix.posix_spawnp",
        "subprocess.Popen", "subprocess.run", "subprocess.call", "subprocess.check_call",
        "subprocess.check_output", "subprocess.getoutput", "subprocess.getstatusoutput",
        "_posixsubprocess.fork_exec", "pty.spawn", "asyncio.create_subprocess_exec",
        "asyncio.create_subprocess_shell", "asyncio.subprocess.create_subprocess_exec",
        "asyncio.subprocess.create_subprocess_shell",
    } | {f"{m}.{f}" for m in ("os", "posix") for f in (
        "execl", "execle", "execlp", "execlpe", "execv", "execve", "execvp", "execvpe",
        "spawnl", "spawnle", "spawnlp", "spawnlpe", "spawnv", "spawnve", "spawnvp", "spawnvpe")},
    "code": {"builtins.exec", "builtins.eval", "builtins.compile", "runpy.run_path", "runpy.run_module",
             "runpy._run_code", "runpy._run_module_code",
             # deserialisers run whatever the bytes they are handed say: a pickle inside a pickle
             "pickle.loads", "pickle.load", "pickle._loads", "pickle._load", "_pickle.loads", "_pickle.load",
             "pickle.Unpickler", "_pickle.Unpickler", "marshal.loads", "marshal.load", "torch.load",
             "torch.serialization.load", "dill.loads", "dill.load", "cloudpickle.loads", "joblib.load", "numpy.load"},
    "import": {"builtins.__import__", "importlib.import_module", "importlib.__import__",
               "importlib._bootstrap._gcd_import", "pkgutil.resolve_name"},
    "native": {"ctypes.CDLL", "ctypes.PyDLL", "ctypes.cdll.LoadLibrary", "ctypes.pydll.LoadLibrary",
               "ctypes.LibraryLoader", "_ctypes.dlopen", "ctypes._dlopen", "ctypes.util.dllist"},
    "file_write": {"os.rename", "os.renames", "os.replace", "os.remove", "os.unlink", "os.rmdir",
                   "os.removedirs", "os.mkdir", "os.makedirs", "os.symlink", "os.link", "os.chmod",
                   "os.chown", "os.truncate", "os.mkfifo", "os.mknod", "shutil.copy", "shutil.copy2",
                   "shutil.copyfile", "shutil.copytree", "shutil.move", "shutil.rmtree",
                   "tempfile.mkstemp", "tempfile.mkdtemp", "tempfile.NamedTemporaryFile"},
    "socket": {"socket.socket", "_socket.socket", "socket.create_connection", "socket.create_server",
               "socket.fromfd", "socket.socketpair", "ssl.SSLContext.wrap_socket", "asyncio.open_connection",
               "asyncio.start_server", "http.client.HTTPConnection", "http.client.HTTPSConnection",
               "urllib.request.urlopen", "ftplib.FTP", "smtplib.SMTP", "poplib.POP3", "imaplib.IMAP4",
               "nntplib.NNTP", "telnetlib.Telnet", "xmlrpc.client.ServerProxy"},
}
# Loader objects that load the library named by a subscript: ctypes.cdll[path].
LIBRARY_LOADERS = {"ctypes.cdll", "ctypes.pydll"}
# Openers: a write when their mode is a write mode or computed (the caller chooses it).
OPENERS = {"builtins.open": 1, "io.open": 1, "_io.open": 1, "codecs.open": 1, "os.fdopen": 1, "io.FileIO": 1}
OS_OPEN_WRITE_FLAGS = {"O_WRONLY", "O_RDWR", "O_CREAT", "O_APPEND", "O_TRUNC"}
SINK_CAP = {name: cap for cap in CAPS for name in SINKS[cap]}
BUILTINS = set(dir(__import__("builtins")))
# Methods an unpickler runs on a class it is handed: construction, then BUILD's __setstate__.
ON_CONSTRUCT = ("__new__", "__init__")
ON_LOAD = ("__new__", "__init__", "__setstate__")


def roots():
    """The stdlib and every site directory, each once, in a fixed order."""
    paths = [sysconfig.get_paths()["stdlib"]]
    import site
    paths += sorted(set(site.getsitepackages()))
    out = []
    for p in paths:
        p = os.path.realpath(p)
        if os.path.isdir(p) and p not in out:
            out.append(p)
    return out


def module_files(root, stdlib):
    """(module name, path) of every .py file under root; a stdlib root skips its site dirs."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and "-" not in d and "." not in d
                             and not (stdlib and dirpath == root and d in ("site-packages", "dist-packages", "lib-dynload")))
        rel = os.path.relpath(dirpath, root)
        parts = [] if rel == "." else rel.split(os.sep)
        for f in sorted(filenames):
            if not f.endswith(".py"):
                continue
            stem = f[:-3]
            mod = parts + ([] if stem == "__init__" else [stem])
            if mod and all(m.isidentifier() for m in mod):
                yield ".".join(mod), os.path.join(dirpath, f), stem == "__init__"


# Marks a resolution started at the top, so that the memoised entry points pass a non-empty seen set.
TOP = ("<top>",)


class Func:
    """A def: its qualified name, its class (for self.), its parameters and its call sites."""
    __slots__ = ("name", "module", "cls", "params", "calls", "tainted")

    def __init__(self, name, module, cls, node):
        self.name, self.module, self.cls = name, module, cls
        a = node.args
        self.params = {x.arg for x in a.posonlyargs + a.args + a.kwonlyargs} | {x.arg for x in (a.vararg, a.kwarg) if x}
        self.calls = call_sites(node)
        self.tainted = tainted_names(node, self.params)


class Klass:
    __slots__ = ("name", "module", "bases", "attrs", "methods")

    def __init__(self, name, module, bases):
        self.name, self.module, self.bases = name, module, bases
        self.methods = {}
        self.attrs = {}  # attribute -> expression it is bound to (class body or self.X = ... in a method)


class Module:
    __slots__ = ("name", "package", "names", "stars")

    def __init__(self, name, is_pkg):
        self.name = name
        self.package = name if is_pkg else name.rpartition(".")[0]
        self.names = {}  # top-level name -> ("def", qualname) | ("ref", dotted name) | ("expr", ast node)
        self.stars = []  # modules star-imported, in order


class Index:
    def __init__(self):
        self.modules = {}
        self.funcs = {}  # qualified name -> Func
        self.classes = {}  # qualified name -> Klass
        self.files = 0
        self.parse_errors = 0
        self.mros = {}
        self.memo = {}

    # ---- building -------------------------------------------------------------------------------
    def add_module(self, name, path, is_pkg):
        if name in self.modules:
            return
        try:
            with open(path, "rb") as fh:
                tree = ast.parse(fh.read(), path)
        except (SyntaxError, ValueError, OSError, RecursionError):
            self.parse_errors += 1
            return
        self.files += 1
        m = Module(name, is_pkg)
        self.modules[name] = m
        self.scope(m, tree.body, prefix="", cls=None)

    def absolute(self, m, node):
        if node.level == 0:
            return node.module or ""
        base = m.package.split(".") if m.package else []
        if node.level > 1:
            base = base[: len(base) - (node.level - 1)]
        return ".".join(base + ([node.module] if node.module else []))

    def scope(self, m, body, prefix, cls):
        """Top-level statements of a module or class body, including those under if/try."""
        for st in body:
            if isinstance(st, (ast.If, ast.Try, getattr(ast, "TryStar", ast.Try))):
                # `try: import x / except ImportError: x = None`: the fallback must not hide the import
                for block in (*[h.body for h in getattr(st, "handlers", [])], st.body, st.orelse, getattr(st, "finalbody", [])):
                    self.scope(m, block, prefix, cls)
            elif isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef)):
                q = prefix + st.name
                f = Func(f"{m.name}.{q}", m, cls, st)
                self.funcs[f.name] = f
                if cls:
                    cls.methods[st.name] = f
                    self.instance_attrs(cls, st)
                else:
                    m.names[st.name] = ("def", f.name)
            elif isinstance(st, ast.ClassDef):
                q = prefix + st.name
                k = Klass(f"{m.name}.{q}", m, st.bases)
                self.classes[k.name] = k
                if cls:
                    cls.attrs[st.name] = ("def", k.name)
                else:
                    m.names[st.name] = ("def", k.name)
                self.scope(m, st.body, q + ".", k)
            elif isinstance(st, ast.Import) and not cls:
                for a in st.names:
                    if a.asname:
                        m.names[a.asname] = ("ref", a.name)
                    else:
                        top = a.name.split(".")[0]
                        m.names[top] = ("ref", top)
            elif isinstance(st, ast.ImportFrom) and not cls:
                src = self.absolute(m, st)
                for a in st.names:
                    if a.name == "*":
                        m.stars.append(src)
                    else:
                        m.names[a.asname or a.name] = ("ref", f"{src}.{a.name}" if src else a.name)
            elif isinstance(st, (ast.Assign, ast.AnnAssign)) and st.value is not None:
                targets = st.targets if isinstance(st, ast.Assign) else [st.target]
                for t in targets:
                    if isinstance(t, ast.Name):
                        # only aliases matter for resolution; any other value just shadows the name
                        alias = isinstance(st.value, (ast.Name, ast.Attribute))
                        names = cls.attrs if cls else m.names
                        if alias:
                            names[t.id] = ("expr", st.value)
                        else:
                            names.setdefault(t.id, ("opaque", None))

    def instance_attrs(self, cls, fn):
        """`self.X = <name>` in a method binds X for every method of the class (FileHandler's _builtin_open)."""
        for n in ast.walk(fn):
            if isinstance(n, ast.Assign) and isinstance(n.value, (ast.Name, ast.Attribute)):
                for t in n.targets:
                    if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self":
                        cls.attrs.setdefault(t.attr, ("expr", n.value))

    # ---- resolution ----------------------------------------------------------------------------
    def lookup(self, dotted, seen=None):
        """A dotted name -> ('func', Func) | ('class', Klass) | ('name', canonical dotted) | None.
        Results of top-level lookups are memoised: a package's star imports make misses costly."""
        if seen:
            return self._lookup(dotted, seen)
        key = ("l", dotted)
        if key not in self.memo:
            self.memo[key] = self._lookup(dotted, {TOP})  # non-empty: nested lookups keep the cycle guard
        return self.memo[key]

    def _lookup(self, dotted, seen):
        if dotted in SINK_CAP or dotted in OPENERS or dotted in LIBRARY_LOADERS:
            return ("name", dotted)
        if dotted in seen or len(seen) > 30:
            return None
        seen.add(dotted)
        if dotted in self.funcs:
            return ("func", self.funcs[dotted])
        if dotted in self.classes:
            return ("class", self.classes[dotted])
        parts = dotted.split(".")
        for i in range(len(parts) - 1, 0, -1):
            mod = self.modules.get(".".join(parts[:i]))
            if mod is None:
                continue
            rest = parts[i:]
            first = self.member(mod, rest[0], seen)
            if first is None:
                sub = ".".join(parts[: i + 1])
                return self.lookup(".".join([sub] + rest[1:]), seen) if sub in self.modules else ("name", dotted)
            return self.descend(first, rest[1:], seen)
        return ("name", dotted)

    def member(self, mod, name, seen):
        """What `name` is bound to at the top of `mod`: its own binding, else a star import's."""
        if seen:
            return self._member(mod, name, seen)
        key = ("m", mod.name, name)
        if key not in self.memo:
            self.memo[key] = self._member(mod, name, {TOP})
        return self.memo[key]

    def _member(self, mod, name, seen):
        b = mod.names.get(name)
        if b is None:
            for star in mod.stars:
                if star in self.modules and (name in self.modules[star].names or self.modules[star].stars):
                    r = self.member(self.modules[star], name, seen)
                    if r is not None:
                        return r
            sub = f"{mod.name}.{name}"
            return ("module", sub) if sub in self.modules else None
        kind, v = b
        if kind == "opaque":
            return None
        if kind == "def":
            return self.lookup(v, seen)
        if kind == "ref":
            return ("module", v) if v in self.modules else self.lookup(v, seen)
        return self.expr_target(v, mod, None, None, seen)

    def descend(self, target, rest, seen):
        for attr in rest:
            if target is None:
                return None
            kind, v = target
            if kind == "module":
                target = self.lookup(f"{v}.{attr}", seen)
            elif kind == "class":
                target = self.class_attr(v, attr, seen)
            elif kind == "name":
                target = ("name", f"{v}.{attr}") if f"{v}.{attr}" not in self.funcs else ("func", self.funcs[f"{v}.{attr}"])
                if target[0] == "name":
                    target = self.lookup(target[1], seen)
            else:
                return None
        if target and target[0] == "module":
            return None
        return target

    def mro(self, k, depth=0):
        if k.name in self.mros:
            return self.mros[k.name]
        out = self._mro(k, depth)
        if depth == 0:
            self.mros[k.name] = out
        return out

    def _mro(self, k, depth):
        out = [k]
        if depth > 20:
            return out
        for b in k.bases:
            bt = self.expr_target(b, k.module, None, None, set())
            if bt and bt[0] == "name" and bt[1] in self.classes:
                bt = ("class", self.classes[bt[1]])  # a primitive (smtplib.SMTP) is still a base class
            if bt and bt[0] == "class" and bt[1] is not k:
                for c in self.mro(bt[1], depth + 1):
                    if c not in out:
                        out.append(c)
        return out

    def class_attr(self, k, attr, seen, after=None):
        chain = self.mro(k)
        if after is not None and after in chain:
            chain = chain[chain.index(after) + 1:]
        for c in chain:
            if attr in c.methods:
                return ("func", c.methods[attr])
            if attr in c.attrs:
                kind, v = c.attrs[attr]
                if kind == "opaque":
                    return None
                return self.lookup(v, seen) if kind == "def" else self.expr_target(v, c.module, None, c, seen)
        return ("name", f"{k.name}.{attr}") if f"{k.name}.{attr}" in SINK_CAP else None

    def expr_target(self, e, mod, fn, ctx, seen, local=None):
        """What a callee expression refers to, or None when it is computed."""
        if isinstance(e, ast.Name):
            if local and isinstance(local.get(e.id), LocalRef):
                t = local[e.id].target
                return ("module", t) if t in self.modules else self.lookup(t, seen)
            if local and e.id in local and local[e.id] is not e:
                return self.expr_target(local[e.id], mod, fn, ctx, seen, {k: v for k, v in local.items() if k != e.id})
            if fn is not None and e.id in fn.params:
                return None
            if e.id in mod.names or any(s in self.modules for s in mod.stars):
                r = self.member(mod, e.id, seen)
                if r is not None:
                    return None if r[0] == "module" else r
            return ("name", f"builtins.{e.id}") if e.id in BUILTINS else None
        if isinstance(e, ast.Attribute):
            v = e.value
            if isinstance(v, ast.Name) and v.id in ("self", "cls") and ctx is not None and not (local and v.id in local):
                return self.class_attr(ctx, e.attr, seen)
            if isinstance(v, ast.Call) and isinstance(v.func, ast.Name) and v.func.id == "super" and ctx is not None:
                owner = fn.cls if fn is not None else None
                return self.class_attr(ctx, e.attr, seen, after=owner)
            if isinstance(v, ast.Call):
                base = self.expr_target(v.func, mod, fn, ctx, seen, local)
                return self.class_attr(base[1], e.attr, seen) if base and base[0] == "class" else None
            dotted = dotted_name(e)
            if dotted is None:
                return None
            head, _, rest = dotted.partition(".")
            if local and head in local:
                base = self.expr_target(ast.Name(head), mod, fn, ctx, seen, local)
                return self.descend(base, rest.split("."), seen) if base else None
            if fn is not None and head in fn.params:
                return None
            b = self.member(mod, head, seen) if head in mod.names or mod.stars else None
            if b is None:
                return None
            return self.descend(b, rest.split("."), seen)
        return None


def call_sites(fn):
    """(call node, local aliases) of every call in fn's own body (nested defs are not fn's calls).
    Extracted at parse time so that the module's tree can be dropped."""
    local = {}
    body = []
    stack = list(fn.body)
    while stack:
        n = stack.pop()
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name) \
                and isinstance(n.value, (ast.Name, ast.Attribute)):
            local[n.targets[0].id] = n.value
        elif isinstance(n, ast.Import):
            # imports inside a function (lazy imports) bind like module-level ones, for this function only
            for a in n.names:
                local[a.asname or a.name.split(".")[0]] = LocalRef(a.name if a.asname else a.name.split(".")[0])
        elif isinstance(n, ast.ImportFrom) and n.level == 0 and n.module:
            for a in n.names:
                if a.name != "*":
                    local[a.asname or a.name] = LocalRef(f"{n.module}.{a.name}")
        if isinstance(n, ast.Call):
            body.append(n)
        elif isinstance(n, ast.Subscript) and isinstance(n.ctx, ast.Load) and not is_constant(n.slice) \
                and (getattr(n.value, "attr", None) or getattr(n.value, "id", None)) in ("cdll", "pydll"):
            body.append(n)  # ctypes.cdll[name] loads a library
        stack.extend(ast.iter_child_nodes(n))
    body.sort(key=lambda c: (c.lineno, c.col_offset))
    return [(c, local) for c in body]


def tainted_names(fn, params):
    """Names whose value the caller chooses: the parameters (self included: a pickle sets an
    instance's state), and locals assigned from expressions over them, to a fixed point."""
    out = set(params)
    assigns = [n for n in ast.walk(fn) if isinstance(n, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.For, ast.withitem, ast.NamedExpr))]
    for _ in range(3):
        before = len(out)
        for n in assigns:
            value = n.iter if isinstance(n, ast.For) else n.context_expr if isinstance(n, ast.withitem) else n.value
            if value is None or not mentions(value, out):
                continue
            targets = n.targets if isinstance(n, ast.Assign) else [n.optional_vars] if isinstance(n, ast.withitem) else [n.target]
            for t in targets:
                for x in ast.walk(t) if t is not None else ():
                    if isinstance(x, ast.Name):
                        out.add(x.id)
        if len(out) == before:
            break
    return frozenset(out)


def mentions(e, names):
    return any(isinstance(x, ast.Name) and x.id in names for x in ast.walk(e))


class LocalRef:
    """A name bound by an import inside a function body."""
    __slots__ = ("target",)

    def __init__(self, target):
        self.target = target


def dotted_name(e):
    parts = []
    while isinstance(e, ast.Attribute):
        parts.append(e.attr)
        e = e.value
    if not isinstance(e, ast.Name):
        return None
    parts.append(e.id)
    return ".".join(reversed(parts))


def is_constant(e):
    return e is None or isinstance(e, ast.Constant) or (
        isinstance(e, ast.JoinedStr) and all(isinstance(v, ast.Constant) for v in e.values))


def arg(call, pos, kw):
    if len(call.args) > pos and not isinstance(call.args[pos], ast.Starred):
        return call.args[pos]
    for k in call.keywords:
        if k.arg == kw:
            return k.value
    return None


def sink_cap(name, call, tainted):
    """The capability a call of the primitive `name` exercises here, if any. Code, imports, native
    loads and file writes count only when what they are handed (the source, the module or library
    name, the file) depends on the caller's arguments: a fixed import is not the pickle's to choose.
    Process creation and sockets count as such."""
    args = list(call.args) + [k.value for k in call.keywords]
    controlled = any(isinstance(a, ast.Starred) or mentions(a, tainted) for a in args) or any(k.arg is None for k in call.keywords)
    if name in OPENERS:
        mode = arg(call, OPENERS[name], "mode")
        if mode is None or not controlled:
            return None
        if isinstance(mode, ast.Constant):
            return "file_write" if isinstance(mode.value, str) and any(c in mode.value for c in "wax+") else None
        return "file_write" if mentions(mode, tainted) or not is_constant(mode) else None
    if name == "os.open":
        flags = arg(call, 1, "flags")
        names = {n.attr if isinstance(n, ast.Attribute) else getattr(n, "id", None) for n in ast.walk(flags)} if flags else set()
        return "file_write" if controlled and (names & OS_OPEN_WRITE_FLAGS or (flags is not None and mentions(flags, tainted))) else None
    cap = SINK_CAP.get(name)
    # any process creation counts: a test helper runs `python <file it wrote>`, the command fixed, the file not
    if cap is None or (cap not in ("socket", "process") and not controlled):
        return None
    return cap


def safe_mro(ix, k):
    try:
        return ix.mro(k)
    except RecursionError:
        return [k]


def build_graph(ix):
    """Nodes are (function, class of self) pairs and class constructions; edges are resolved calls."""
    edges = {}  # node -> sorted list of (callee node)
    sinks = {}  # node -> {cap: primitive name}
    todo = deque()
    seen = set()

    def node_of(target):
        kind, v = target
        if kind == "func":
            return ("f", v.name, v.cls.name if v.cls else None)
        if kind == "class":
            return ("c", v.name, None)
        return None

    def visit(n):
        if n not in seen:
            seen.add(n)
            todo.append(n)

    def construct(k, on):
        out = []
        for meth in on:
            t = ix.class_attr(k, meth, set())
            if t and t[0] == "func" and t[1].cls is not None:
                out.append(("f", t[1].name, k.name))
        return out

    entries = []
    for name in sorted(ix.funcs):
        f = ix.funcs[name]
        if "<" not in name:
            entries.append(("f", name, f.cls.name if f.cls else None))
    for name in sorted(ix.classes):
        entries.append(("c", name, "load"))
    for e in entries:
        visit(e)
    while todo:
        n = todo.popleft()
        kind, name, ctx = n
        out = []
        hit = {}
        if kind == "c":
            try:
                out = construct(ix.classes[name], ON_LOAD if ctx == "load" else ON_CONSTRUCT)
            except RecursionError:
                out = []
        else:
            f = ix.funcs[name]
            k = ix.classes.get(ctx) if ctx else None
            for call, local in f.calls:
                subscript = isinstance(call, ast.Subscript)
                try:
                    t = ix.expr_target(call.value if subscript else call.func, f.module, f, k, set(), local)
                except RecursionError:
                    t = None
                if t is None or t[0] == "module":
                    continue
                if subscript:
                    if t[0] == "name" and t[1] in LIBRARY_LOADERS and mentions(call.slice, f.tainted) and "native" not in hit:
                        hit["native"] = t[1]
                    continue
                if t[0] == "name":
                    cap = sink_cap(t[1], call, f.tainted)
                    if cap and cap not in hit:
                        hit[cap] = t[1]
                    continue
                callee = node_of(t)
                if callee and callee[0] == "f" and callee[2] and k is not None and call.args \
                        and isinstance(call.args[0], ast.Name) and call.args[0].id == "self" and ix.classes[callee[2]] in safe_mro(ix, k):
                    callee = ("f", callee[1], k.name)  # Base.method(self, ...) keeps self's class
                if callee and callee != n:
                    out.append(callee)
        for c in out:
            visit(c)
        edges[n] = sorted(set(out), key=str)
        if hit:
            sinks[n] = hit
    return edges, sinks, entries


def reach(edges, sinks):
    """Per capability, the shortest path (within MAX_DEPTH calls) from each node to a primitive."""
    rev = {}
    for a in sorted(edges, key=str):
        for b in edges[a]:
            rev.setdefault(b, []).append(a)
    best = {}
    for cap in CAPS:
        nxt = {}
        dist = {}
        q = deque()
        for n in sorted(sinks, key=str):
            if cap in sinks[n]:
                dist[n] = 1
                nxt[n] = None
                q.append(n)
        while q:
            n = q.popleft()
            if dist[n] >= MAX_DEPTH:
                continue
            for p in rev.get(n, ()):
                if p not in dist:
                    dist[p] = dist[n] + 1
                    nxt[p] = n
                    q.append(p)
        best[cap] = (nxt, dist)
    return best


def label(n):
    kind, name, ctx = n
    if kind == "c":
        return name
    if ctx and not name.startswith(ctx + "."):
        return f"{name}[{ctx.rpartition('.')[2]}]"
    return name


def main():
    t0 = time.monotonic()
    ix = Index()
    # roots on the command line (tests walk a small tree); else the interpreter's own.
    # --only=a,b / --skip=a,b select top-level packages outside the standard library (a walk
    # split in parts, each with the standard library, when one walk does not fit the time at hand)
    opts = {a.split("=", 1)[0]: set(a.split("=", 1)[1].split(",")) for a in sys.argv[1:] if a.startswith("--")}
    rs = [os.path.realpath(p) for p in sys.argv[1:] if not p.startswith("--")] or roots()
    stdlib = rs[0]
    for root in rs:
        for mod, path, is_pkg in module_files(root, root == stdlib):
            top = mod.split(".")[0]
            if root != stdlib and (("--only" in opts and top not in opts["--only"]) or top in opts.get("--skip", ())):
                continue
            ix.add_module(mod, path, is_pkg)
    t1 = time.monotonic()
    sys.setrecursionlimit(5000)
    edges, sinks, entries = build_graph(ix)
    best = reach(edges, sinks)
    t2 = time.monotonic()
    gadgets = {}
    for e in entries:
        kind, name, ctx = e
        if ctx == "load":
            ctx = None
        found = {}
        for cap in CAPS:
            nxt, dist = best[cap]
            if e not in dist:
                continue
            path, n = [], e
            while n is not None:
                path.append(label(n))
                prev, n = n, nxt[n]
            path.append(sinks[prev][cap])
            found[cap] = path
        if found:
            gadgets[name] = found
    aliases = {}
    for mname in sorted(ix.modules):
        m = ix.modules[mname]
        names = {n: m for n, (kind, _) in m.names.items() if kind in ("ref", "expr")}
        for star in m.stars:
            if star in ix.modules:
                names.update({n: m for n in ix.modules[star].names if not n.startswith("_") and n not in m.names})
        for n in sorted(names):
            try:
                r = ix.member(m, n, set())
            except RecursionError:
                r = None
            if r and r[0] in ("func", "class") and r[1].name in gadgets and r[1].name != f"{mname}.{n}":
                aliases[f"{mname}.{n}"] = r[1].name
    json.dump({
        "aliases": aliases,
        "generator": f"sandbox/gadgets/walk.py {VERSION}",
        "python": sys.version.split()[0],
        "roots": rs,
        "max_depth": MAX_DEPTH,
        "selection": {k: sorted(v) for k, v in sorted(opts.items())},
        "files": ix.files,
        "parse_errors": ix.parse_errors,
        "modules": len(ix.modules),
        "callables": len(entries),
        "nodes": len(edges),
        "seconds": {"parse": round(t1 - t0, 2), "graph": round(t2 - t1, 2)},
        "gadgets": gadgets,
    }, sys.stdout, sort_keys=True, separators=(",", ":"))


if __name__ == "__main__":
    main()
