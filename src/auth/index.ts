// Public face of client authentication: credentials, the client-side exchange driver, and logging in to servers with what it learned.
export { ClientAuthenticator, type AuthMethod, type AuthDone, type AuthStep, type AuthFailureReason, type ClientAuthenticatorOptions } from './client-authenticator.js';
export { CredentialResolver, parseStoredSecret, type Credential, type CredentialSource, type CredentialResolverOptions, type TenantAuthTarget } from './credentials.js';
export { runAuthQuery, AuthQueryError, MiniSession, type AuthQueryRequest, type MiniSessionOptions } from './auth-query.js';
export { UpstreamAuth, UpstreamAuthError, type UpstreamSecret, type UpstreamAuthCode } from './upstream-login.js';
export { ScramServer, ScramServerError, parseSaslInitialResponse, SCRAM_MECHANISM, type ScramFailure, type ScramSuccess, type ScramServerOptions } from './scram-server.js';
export { Md5Server } from './md5-server.js';
export { md5Stored, md5Response, isMd5Hash } from './md5.js';
export {
  deriveVerifier,
  deriveClientKeys,
  parseVerifier,
  formatVerifier,
  DEFAULT_ITERATIONS,
  MAX_ITERATIONS,
  type ScramVerifier,
  type ScramClientKeys,
} from './scram-crypto.js';
export { saslprep } from './saslprep.js';
