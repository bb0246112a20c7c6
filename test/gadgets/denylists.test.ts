import { describe, expect, it } from 'vitest';
import { defaultPolicy } from '../../src/static/pickle/policy.js';

/**
 * Coverage of two published pickle denylists by the policy (hand-written entries of
 * rules/pickle-globals.toml plus the derived table rules/gadgets.toml).
 *
 * The names below were read (not copied as code) from:
 * - picklescan (github.com/mmaitre314/picklescan, src/picklescan/scanner.py, `_unsafe_globals`,
 *   commit f15d54da, 2026-07-01): its explicit names, and for its whole-module entries ("os": "*",
 *   "uuid": "*", …) the callables of those modules that its comments cite or that make the module
 *   dangerous;
 * - ModelAudit (github.com/promptfoo/modelaudit, modelaudit/scanners/pickle_scanner.py
 *   `ALWAYS_DANGEROUS_FUNCTIONS` and modelaudit/detectors/suspicious_symbols.py
 *   `SUSPICIOUS_GLOBALS`, commit 5ddfcdc3, 2026-03-07): the same, for its lists.
 * Kept: names whose module exists in the sandbox image (Python 3.13, torch 2.6, numpy 2.2, …),
 * checked there by import and getattr. Left out because absent from the image: commands,
 * httplib, nt, aiohttp, telnetlib, nntplib, lib2to3, idlelib, distutils, imp, pexpect, ensurepip
 * (Debian ships it in python3-venv), posix.popen, platform.popen, uuid._popen, ssl.wrap_socket
 * (gone from Python 3.12/3.13), and Windows-only ctypes names.
 */
const DANGEROUS: [module: string, name: string, from: 'picklescan' | 'modelaudit' | 'both'][] = [
  ['builtins', 'eval', 'both'],
  ['builtins', 'exec', 'both'],
  ['builtins', 'compile', 'both'],
  ['builtins', 'getattr', 'both'],
  ['builtins', 'open', 'both'],
  ['builtins', 'breakpoint', 'picklescan'],
  ['builtins', '__import__', 'modelaudit'],
  ['builtins', 'input', 'modelaudit'],
  ['builtins', 'globals', 'modelaudit'],
  ['builtins', 'locals', 'modelaudit'],
  ['builtins', 'setattr', 'modelaudit'],
  ['builtins', 'delattr', 'modelaudit'],
  ['builtins', 'vars', 'modelaudit'],
  ['cloudpickle.cloudpickle', '_builtin_type', 'picklescan'],
  ['cloudpickle.cloudpickle', '_make_function', 'picklescan'],
  ['cloudpickle.cloudpickle', '_function_setstate', 'picklescan'],
  ['cloudpickle.cloudpickle', '_make_cell', 'picklescan'],
  ['cloudpickle.cloudpickle', '_make_empty_cell', 'picklescan'],
  ['cloudpickle.cloudpickle', 'subimport', 'picklescan'],
  ['types', 'CodeType', 'both'],
  ['types', 'FunctionType', 'modelaudit'],
  ['asyncio', 'create_subprocess_shell', 'both'],
  ['asyncio', 'create_subprocess_exec', 'both'],
  ['asyncio', 'open_connection', 'picklescan'],
  ['asyncio.subprocess', 'create_subprocess_shell', 'modelaudit'],
  ['bdb', 'Bdb.run', 'both'],
  ['ctypes', 'CDLL', 'both'],
  ['ctypes', 'PyDLL', 'modelaudit'],
  ['ctypes', 'cdll', 'modelaudit'],
  ['ctypes', 'pydll', 'modelaudit'],
  ['ctypes', 'pythonapi', 'modelaudit'],
  ['ctypes', 'cast', 'modelaudit'],
  ['ctypes', 'CFUNCTYPE', 'modelaudit'],
  ['ctypes.util', 'find_library', 'modelaudit'],
  ['_ctypes', 'dlopen', 'modelaudit'],
  ['functools', 'partial', 'both'],
  ['functools', 'reduce', 'modelaudit'],
  ['logging', 'FileHandler', 'picklescan'],
  ['_io', 'FileIO', 'picklescan'],
  ['numpy.f2py.crackfortran', 'getlincoef', 'picklescan'],
  ['numpy.f2py.crackfortran', '_eval_length', 'picklescan'],
  ['numpy.testing._private.utils', 'runstring', 'both'],
  ['posix', 'system', 'both'],
  ['posix', 'execv', 'both'],
  ['_operator', 'attrgetter', 'both'],
  ['_operator', 'itemgetter', 'picklescan'],
  ['_operator', 'methodcaller', 'picklescan'],
  ['_operator', 'getitem', 'modelaudit'],
  ['operator', 'attrgetter', 'both'],
  ['operator', 'itemgetter', 'both'],
  ['operator', 'methodcaller', 'both'],
  ['operator', 'getitem', 'modelaudit'],
  ...[
    'system',
    'popen',
    'execl',
    'execle',
    'execlp',
    'execlpe',
    'execv',
    'execve',
    'execvp',
    'execvpe',
    'spawnl',
    'spawnle',
    'spawnlp',
    'spawnlpe',
    'spawnv',
    'spawnve',
    'spawnvp',
    'spawnvpe',
    'posix_spawn',
    'remove',
    'rename',
  ].map((n) => ['os', n, 'both'] as [string, string, 'both']),
  ['requests.api', 'get', 'picklescan'],
  ['requests.api', 'post', 'picklescan'],
  ['requests.api', 'request', 'picklescan'],
  ['requests', 'get', 'modelaudit'],
  ['runpy', 'run_path', 'both'],
  ['runpy', 'run_module', 'both'],
  ['runpy', '_run_code', 'both'],
  ['shutil', 'rmtree', 'both'],
  ['shutil', 'copy', 'both'],
  ['shutil', 'move', 'both'],
  ['shutil', 'copytree', 'both'],
  ['socket', 'socket', 'both'],
  ['socket', 'create_connection', 'both'],
  ['ssl', 'get_server_certificate', 'both'],
  ...['Popen', 'call', 'check_call', 'check_output', 'run', 'getoutput', 'getstatusoutput'].map((n) => ['subprocess', n, 'both'] as [string, string, 'both']),
  ['sys', 'modules', 'both'],
  ['code', 'InteractiveInterpreter.runcode', 'picklescan'],
  ['code', 'InteractiveInterpreter.runsource', 'modelaudit'],
  ['cProfile', 'run', 'both'],
  ['cProfile', 'runctx', 'both'],
  ['cProfile', 'Profile.runctx', 'both'],
  ['doctest', 'debug_script', 'both'],
  ['imaplib', 'IMAP4_stream', 'both'],
  ['imaplib', 'IMAP4', 'modelaudit'],
  ['pdb', 'run', 'both'],
  ['pdb', 'runeval', 'both'],
  ['pdb', 'runcall', 'both'],
  ['pdb', 'runctx', 'both'],
  ['pickle', 'loads', 'both'],
  ['pickle', 'load', 'both'],
  ['_pickle', 'loads', 'both'],
  ['pip', 'main', 'both'],
  ['pip._internal.cli.main', 'main', 'modelaudit'],
  ['pip._vendor.distlib.scripts', 'ScriptMaker', 'modelaudit'],
  ['pkgutil', 'resolve_name', 'both'],
  ['pkgutil', 'get_importer', 'modelaudit'],
  ['pkgutil', 'walk_packages', 'modelaudit'],
  ['pty', 'spawn', 'both'],
  ['profile', 'run', 'both'],
  ['profile', 'runctx', 'both'],
  ['profile', 'Profile.runctx', 'both'],
  ['pydoc', 'locate', 'both'],
  ['pydoc', 'pipepager', 'both'],
  ['pydoc', 'pager', 'both'],
  ['test.support.script_helper', 'assert_python_ok', 'picklescan'],
  ['timeit', 'timeit', 'both'],
  ['timeit', 'repeat', 'both'],
  ['torch._dynamo.guards', 'GuardBuilder.get', 'picklescan'],
  ['torch._inductor.codecache', 'compile_file', 'picklescan'],
  ['torch.fx.experimental.symbolic_shapes', 'ShapeEnv.evaluate_guards_expression', 'picklescan'],
  ['torch.jit.unsupported_tensor_ops', 'execWrapper', 'picklescan'],
  ['torch.serialization', 'load', 'picklescan'],
  ['torch.utils._config_module', 'ConfigModule.load_config', 'picklescan'],
  ['torch.utils.bottleneck.__main__', 'run_cprofile', 'picklescan'],
  ['torch.utils.bottleneck.__main__', 'run_autograd_prof', 'picklescan'],
  ['torch.utils.collect_env', 'run', 'picklescan'],
  ['torch.utils.data.datapipes.utils.decoder', 'basichandlers', 'picklescan'],
  ['trace', 'Trace.run', 'both'],
  ['trace', 'Trace.runctx', 'both'],
  ['trace', 'Trace.runfunc', 'modelaudit'],
  ['urllib.request', 'urlopen', 'both'],
  ['uuid', '_get_command_stdout', 'both'],
  ['venv', 'create', 'both'],
  ['webbrowser', 'open', 'both'],
  ['_osx_support', '_read_output', 'picklescan'],
  ['_osx_support', '_find_build_tool', 'picklescan'],
  ['_aix_support', '_read_cmd_output', 'picklescan'],
  ['_pyrepl.pager', 'pipe_pager', 'picklescan'],
  ['_pyrepl.pager', 'tempfile_pager', 'picklescan'],
  ['importlib', 'import_module', 'modelaudit'],
  ['importlib.machinery', 'SourceFileLoader', 'modelaudit'],
  ['importlib.util', 'spec_from_file_location', 'modelaudit'],
  ['tempfile', 'mktemp', 'modelaudit'],
  ['multiprocessing', 'Process', 'modelaudit'],
  ['multiprocessing.pool', 'Pool', 'modelaudit'],
  ['concurrent.futures', 'ProcessPoolExecutor', 'modelaudit'],
  ['concurrent.futures', 'ThreadPoolExecutor', 'modelaudit'],
  ['signal', 'signal', 'modelaudit'],
  ['_signal', 'signal', 'modelaudit'],
  ['dill', 'loads', 'modelaudit'],
  ['dill._dill', '_create_code', 'modelaudit'],
  ['zipimport', 'zipimporter', 'modelaudit'],
  ['smtplib', 'SMTP', 'modelaudit'],
  ['xmlrpc.client', 'ServerProxy', 'modelaudit'],
  ['xmlrpc.server', 'SimpleXMLRPCServer', 'modelaudit'],
  ['poplib', 'POP3', 'modelaudit'],
  ['socketserver', 'TCPServer', 'modelaudit'],
  ['codeop', 'compile_command', 'modelaudit'],
  ['marshal', 'loads', 'modelaudit'],
  ['compileall', 'compile_dir', 'modelaudit'],
  ['py_compile', 'compile', 'modelaudit'],
  ['joblib', 'load', 'modelaudit'],
  ['fileinput', 'input', 'modelaudit'],
  ['glob', 'glob', 'modelaudit'],
  ['threading', 'Thread', 'modelaudit'],
  ['_thread', 'start_new_thread', 'modelaudit'],
  ['sqlite3', 'connect', 'modelaudit'],
  ['_sqlite3', 'connect', 'modelaudit'],
  ['logging.config', 'fileConfig', 'modelaudit'],
  ['logging.config', 'listen', 'modelaudit'],
  ['syslog', 'syslog', 'modelaudit'],
  ['tarfile', 'open', 'modelaudit'],
  ['zipfile', 'ZipFile', 'modelaudit'],
  ['shelve', 'open', 'modelaudit'],
  ['torch.hub', 'load', 'modelaudit'],
  ['torch.hub', 'load_state_dict_from_url', 'modelaudit'],
  ['torch', 'load', 'modelaudit'],
  ['torch.distributed.rpc', 'rpc_sync', 'modelaudit'],
  ['torch.distributed.rpc', 'rpc_async', 'modelaudit'],
  ['torch.distributed.rpc', 'remote', 'modelaudit'],
];

/**
 * Listed by ModelAudit, not dangerous by themselves in this policy's judgement, and still never
 * passed when a pickle calls them: off the allowlist, a call blocks (LT-PKL-013) and a reference
 * waits for a load. Pure decoders (the static engine decodes their constant arguments instead),
 * name listing, indexing helpers' cousins that return data, waits on descriptors the pickle cannot
 * open without another listed call, anonymous memory maps, and a comparison of two files.
 */
const NOT_ALLOWED: [module: string, name: string][] = [
  ['base64', 'b64decode'],
  ['codecs', 'decode'],
  ['codecs', 'encode'],
  ['builtins', 'dir'],
  ['select', 'select'],
  ['selectors', 'DefaultSelector'],
  ['mmap', 'mmap'],
  ['filecmp', 'cmp'],
];

describe('published denylists: every name whose module exists in the image is dangerous to the policy', () => {
  const policy = defaultPolicy();

  it.each(DANGEROUS)('%s.%s (%s)', (module, name) => {
    const v = policy.classify(module, name);
    expect(v.kind, `${module}.${name}`).toBe('dangerous');
  });

  it.each(NOT_ALLOWED)('%s.%s is not on the allowlist', (module, name) => {
    expect(policy.classify(module, name).kind).not.toBe('safe');
  });

  it('torch.storage._load_from_bytes stays allowed as a loader whose bytes are scanned, not trusted', () => {
    // ModelAudit lists it; torch checkpoints use it for every storage of a legacy file, so the
    // policy admits the call and analyses its argument as a nested torch file (LT-PKL-014 if computed)
    expect(policy.classify('torch.storage', '_load_from_bytes').kind).toBe('safe');
    expect(policy.deserialiser('torch.storage', '_load_from_bytes')).toBe('content');
  });
});
