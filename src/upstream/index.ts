// Public face of the server-connection area: where an upstream is, logging in to it (the one login pool and authQuery share), cancelling on it.
export { connectUpstream, type ServerConnection, type UpstreamAuthenticator, type ServerKey } from './connect.js';
export { cancelUpstream } from './cancel.js';
export { upstreamTarget, type UpstreamTarget } from './target.js';
export { UpstreamError, upstreamClientError, type UpstreamErrorCode } from './errors.js';
