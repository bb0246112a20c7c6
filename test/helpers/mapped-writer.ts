import { spawn } from 'node:child_process';

/**
 * A process that maps `path` shared and writable and has already dirtied its first page (a writer
 * that was there before the vet), and stores into that same page again on `store()` — a store
 * that, on a page still dirty and writable, faults nowhere and moves no timestamp by itself.
 */
export async function mappedWriter(path: string): Promise<{ store(): Promise<void>; stop(): void }> {
  const script = `
import mmap, sys
f = open(sys.argv[1], "r+b"); m = mmap.mmap(f.fileno(), 0)
m[0:1] = b"a"
print("ready", flush=True)
sys.stdin.readline()
m[1:2] = b"b"
print("stored", flush=True)
sys.stdin.readline()
`;
  const p = spawn('/usr/bin/python3', ['-c', script, path], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = (async function* () {
    let buf = '';
    for await (const chunk of p.stdout) {
      buf += String(chunk);
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        yield buf.slice(0, i);
        buf = buf.slice(i + 1);
      }
    }
  })();
  const expectLine = async (want: string) => {
    const got = (await lines.next()).value;
    if (got !== want) throw new Error(`mapped writer said ${String(got)}, not ${want}`);
  };
  await expectLine('ready');
  return {
    async store() {
      p.stdin.write('\n');
      await expectLine('stored');
    },
    stop() {
      p.stdin.end();
      p.kill();
    },
  };
}
