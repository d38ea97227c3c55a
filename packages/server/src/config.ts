// The configuration lives in config/: the table of settings (table.ts) drives parsing, validation
// and docs/configuration.md. This module keeps the import path every caller uses.
export * from './config/index.js'
