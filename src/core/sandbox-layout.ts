/**
 * Paths inside the sandbox, shared by the sandbox drivers, the harness (sandbox/harness.py reads
 * them from its environment), the rules (decoys, install prefix) and the fixtures. One definition.
 */
export const SANDBOX_LAYOUT = Object.freeze({
  /** Non-root user the harness runs as. */
  uid: 65534,
  gid: 65534,
  home: '/home/ltrack',
  /** The candidate's files, mounted read-only. */
  candidate: '/candidate',
  /** The user's local wheelhouse / sdist folder / conda channel, read-only. */
  wheelhouse: '/wheelhouse',
  /** The dependency lock file, read-only. */
  deps: '/deps',
  /** pip --prefix / conda prefix target, on the tmpfs. */
  installPrefix: '/tmp/ltrack/prefix',
});
