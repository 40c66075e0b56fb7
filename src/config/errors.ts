/** A setting the operator must fix before berth can start; the CLI prints its one line and exits 2. */
export class ConfigError extends Error {}
