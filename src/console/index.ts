// Public face of the admin console: the `pgporter` database on the client port (SHOW POOLS/CLIENTS/SERVERS/STATS/..., KILL, SHUTDOWN).
export { AdminConsole } from './console.js';
export { CONSOLE_DATABASE } from './views.js';
export { parseCommand, type Command } from './commands.js';
export type { ConsoleDeps, ConsoleControl, ConsolePools, ConsoleRole } from './types.js';
