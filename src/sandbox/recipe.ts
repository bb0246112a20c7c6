import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { projectPath } from '../core/paths.js';

/** The image recipe: every file of this folder is part of the digest that names the image. */
export const RECIPE_DIR = projectPath('sandbox', 'image');
/** What runs inside the sandbox, mounted read-only at run time (not baked, so no rebuild when it changes). */
export const HARNESS_DIR = projectPath('sandbox');
export const IMAGE_REPO = 'ltrack-sandbox';
export const ROOTFS_PARENT = '/var/lib/ltrack';

/** sha256 over the recipe files' names and contents in name order; 12 hex digits name the image. */
export async function recipeDigest(dir = RECIPE_DIR): Promise<string> {
  const hash = createHash('sha256');
  const names = (await readdir(dir)).sort();
  for (const name of names) {
    hash.update(`${name}\0`);
    hash.update(await readFile(join(dir, name)));
    hash.update('\0');
  }
  return hash.digest('hex').slice(0, 12);
}

export const rootfsPath = (digest: string): string => join(ROOTFS_PARENT, `rootfs-${digest}`);
export const imageTag = (digest: string): string => `${IMAGE_REPO}:${digest}`;
