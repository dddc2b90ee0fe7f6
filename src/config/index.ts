// Public face of configuration: the schema, its types and the loader.
export { configSchema, tenantSchema, upstreamSchema, type Config, type TenantConfig } from './schema.js';
export { loadConfig, parseConfig, readConfigFile, ConfigError } from './load.js';
export { parseDuration, duration, optionalDuration, durationOrOff } from './duration.js';
export { allowlistSchema, allowlistEntrySchema, netrulesSchema, storeSchema, adminSchema, authFailureBanSchema, authFailureBanOverrideSchema } from './schema-netrules.js';
export { authSchema, DEFAULT_AUTH_QUERY, type AuthConfig, type AuthUserConfig, type AuthQueryConfig } from './schema-auth.js';
export { tenantPoolSchema, globalPoolSchema, type TenantPoolConfig, type GlobalPoolConfig } from './schema-pool.js';
export { fleetSchema, type FleetConfig } from './schema-fleet.js';
export { RELOAD_MARKS, reloadMarkOf, reloadMarksMarkdown, type ReloadKind, type ReloadMark } from './reload-marks.js';
export { planReload, type ReloadPlan, type ChangedOption } from './reload-plan.js';
export { consoleUserSchema, type ConsoleUserConfig } from './schema-console.js';
export { flyTenantSchema, flyGlobalSchema, type FlyTenantConfig, type FlyGlobalConfig } from './schema-wake.js';
