// Public face of the front door: accepting a connection and taking it through PROXY header, startup, tenant and allowlist.
export { handleConnection, type FrontDoorDeps, type AccessCheck, type BanCheck, type ConsoleDoor, type ConsoleConnection } from './front-door.js';
export type { AuthTarget } from './authenticate.js';
export { SessionRegistry, type OpenSession } from './session-registry.js';
export { resolveTenant, type TenantLookup, type ResolvedTenant } from './tenant-resolve.js';
export { negotiateStartup, type StartupOutcome, type CancelKey } from './startup.js';
export { PacketReader, ClientGoneError } from './packet-reader.js';
export { readProxyHeader, type ProxyMode, type ProxyResult, type ReadProxyHeaderOptions } from './proxy-header-reader.js';
export { decodeProxyHeader, describeTlvs, type ProxyHeader, type ProxyTlv } from './proxy-header-decode.js';
export { ProxyHeaderFramer, frameProxyHeader } from './proxy-header-framer.js';
export { tuneListener, tuneAccepted, CLIENT_KEEPALIVE_MS } from './socket-options.js';
