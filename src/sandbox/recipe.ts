import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { projectPath } from '../core/paths.js';
import { sha256Named } from '../core/sha256.js';

/** The image recipe: every file of this folder is part of the digest that names the image. */
export const RECIPE_DIR = projectPath('sandbox', 'image');
/** What runs inside the sandbox, mounted read-only at run time (not baked, so no rebuild when it changes). */
export const HARNESS_DIR = projectPath('sandbox');
export const IMAGE_REPO = 'ltrack-sandbox';
/** Where rootfs folders live (LTRACK_ROOTFS_DIR moves them, e.g. to a disk a CI cache restores onto). */
export const ROOTFS_PARENT = process.env.LTRACK_ROOTFS_DIR ?? '/var/lib/ltrack';

/** sha256 over the recipe files' names and contents in name order; 12 hex digits name the image. */
export async function recipeDigest(dir = RECIPE_DIR): Promise<string> {
  const names = await readdir(dir);
  const files = await Promise.all(names.map(async (name) => [name, await readFile(join(dir, name))] as const));
  return sha256Named(files).slice(0, 12);
}

export const rootfsPath = (digest: string): string => join(ROOTFS_PARENT, `rootfs-${digest}`);

/** Marks a finished rootfs: a folder without it is a build (or an import) that died half way. */
export const DONE_MARK = '.ltrack-rootfs-done';

export async function rootfsFinished(rootfs: string): Promise<boolean> {
  return stat(join(rootfs, DONE_MARK)).then(
    () => true,
    () => false,
  );
}
export const imageTag = (digest: string): string => `${IMAGE_REPO}:${digest}`;
