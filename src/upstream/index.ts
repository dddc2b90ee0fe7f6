// Public face of the server-connection area: connecting and logging in to a tenant's PostgreSQL.
export { connectUpstream, upstreamClientError, UpstreamError, type ServerConnection, type UpstreamTarget, type UpstreamAuthenticator, type ServerKey } from './connect.js';
