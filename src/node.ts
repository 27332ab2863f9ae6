/** Node-only entry: everything in the browser-safe API plus Dawn acquisition. */
export * from './index.js';
export { acquireHardware } from './gpu/node/acquire.js';
export * from './io/node/index.js';
