// Public face of logging and metrics.
export { createLogger, setLogLevel, type Logger } from './logger.js';
export { Metrics } from './metrics.js';
export { startObservabilityServer, type ObservabilityServer, type MetricsSource } from './http.js';
