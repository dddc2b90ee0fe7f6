// Public face of logging and metrics.
export { createLogger, setLogLevel, type Logger } from './logger.js';
export { FieldLog, SessionLog, type LogLike } from './session-log.js';
export { Metrics, TenantConnections } from './metrics.js';
export { fieldCounter } from './field-counter.js';
export { startObservabilityServer, type ObservabilityServer, type MetricsSource } from './http.js';
