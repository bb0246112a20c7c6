/**
 * A stat(2) st_dev (glibc's makedev layout: major in bits 8-19 and 32+, minor in bits 0-7 and
 * 20-31) as the kernel's internal dev_t, major << 20 | minor, which is what BPF reads from
 * inode->i_sb->s_dev.
 */
export function kernelDev(st: bigint): number {
  const major = ((st >> 8n) & 0xfffn) | ((st >> 32n) & ~0xfffn);
  const minor = (st & 0xffn) | ((st >> 12n) & ~0xffn);
  return Number(((major << 20n) | (minor & 0xfffffn)) & 0xffffffffn);
}
