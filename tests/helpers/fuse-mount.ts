import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface FuseMount {
  /** Where the FUSE file system shows `source`. */
  path: string;
  unmount(): void;
}

/** statfs f_type of FUSE. */
const FUSE_MAGIC = 0x65735546;

/**
 * `source` seen through bindfs (a FUSE file system), as a modules root on a network volume is seen from one host:
 * a write into `source` is a write "on another host" for whoever watches `path` (inotify hears nothing).
 * Returns the reason instead when bindfs or /dev/fuse is missing (.ci/run installs bindfs).
 */
export function fuseMount(source: string): FuseMount | { unavailable: string } {
  const path = mkdtempSync(join(tmpdir(), 'unir-fuse-'));
  try {
    execFileSync('bindfs', ['--no-allow-other', source, path], { stdio: 'pipe' });
  } catch (err) {
    rmSync(path, { recursive: true, force: true });
    const e = err as { code?: string; stderr?: Buffer; message: string };
    return { unavailable: e.code === 'ENOENT' ? 'bindfs is not installed (apt-get install bindfs)' : `bindfs could not mount: ${e.stderr?.toString().trim() || e.message}` };
  }
  return { path, unmount: () => unmount(path) };
}

/**
 * As fuseMount, with bindfs kept in the foreground as a child process: stopping it (SIGSTOP) makes every access
 * to `path` wait, as an NFS volume does while its server does not answer (a hard mount). `unmount` lets bindfs
 * run again first.
 */
export async function fuseMountProcess(source: string): Promise<(FuseMount & { daemon: ChildProcess }) | { unavailable: string }> {
  const path = mkdtempSync(join(tmpdir(), 'unir-fuse-'));
  const daemon = spawn('bindfs', ['-f', '--no-allow-other', source, path], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  daemon.stderr!.on('data', (d) => (stderr += d));
  const failed = new Promise<string>((resolve) => {
    daemon.once('error', (err) => resolve((err as NodeJS.ErrnoException).code === 'ENOENT' ? 'bindfs is not installed (apt-get install bindfs)' : err.message));
    daemon.once('exit', () => resolve(`bindfs could not mount: ${stderr.trim()}`));
  });
  for (let i = 0; i < 200; i++) {
    const why = await Promise.race([failed, new Promise<null>((r) => setTimeout(() => r(null), 25))]);
    if (why !== null) {
      rmSync(path, { recursive: true, force: true });
      return { unavailable: why };
    }
    if (statfsSync(path).type === FUSE_MAGIC) {
      return {
        path,
        daemon,
        unmount: () => {
          daemon.kill('SIGCONT');
          unmount(path);
          daemon.kill('SIGTERM');
        },
      };
    }
  }
  daemon.kill('SIGKILL');
  rmSync(path, { recursive: true, force: true });
  return { unavailable: 'bindfs did not mount within 5 s' };
}

function unmount(path: string): void {
  for (const cmd of ['fusermount3', 'fusermount', 'umount']) {
    try {
      execFileSync(cmd, cmd === 'umount' ? [path] : ['-u', path], { stdio: 'pipe' });
      break;
    } catch {
      // try the next unmount command
    }
  }
  rmSync(path, { recursive: true, force: true });
}
