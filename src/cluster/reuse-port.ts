// Whether this Node can give each worker a listening socket of its own on one port (SO_REUSEPORT, Node 22.12 and later).

/** Node 22.12 and later can give each worker a listening socket of its own (SO_REUSEPORT): the kernel spreads connections. */
export function hasReusePort(version = process.versions.node): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > 22 || (major === 22 && minor >= 12);
}
