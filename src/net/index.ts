// Public face of the shared IP utilities: address normalisation and compiled CIDR sets.
export { normaliseIp, ipFamily } from './ip.js';
export { CidrSet, CidrParseError, parseCidr, type CidrEntry } from './cidr-set.js';
export { openRedis, closeRedis, type RedisTarget, type RedisRole } from './redis.js';
