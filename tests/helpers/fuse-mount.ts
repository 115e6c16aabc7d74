import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface FuseMount {
  /** Where the FUSE file system shows `source`. */
  path: string;
  unmount(): void;
}

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
  return {
    path,
    unmount: () => {
      for (const cmd of ['fusermount3', 'fusermount', 'umount']) {
        try {
          execFileSync(cmd, cmd === 'umount' ? [path] : ['-u', path], { stdio: 'pipe' });
          break;
        } catch {
          // try the next unmount command
        }
      }
      rmSync(path, { recursive: true, force: true });
    },
  };
}
