// node:http loaded with require(), never with an ESM import. An ESM import of node:http builds a module namespace
// from every export, and reading Node 24's lazy `WebSocket`, `CloseEvent` and `MessageEvent` exports loads its
// bundled undici (a fetch and WebSocket client nothing here uses): +13 MiB of resident memory and +2.3 MB of heap in
// every service that serves or calls HTTP (measured on Node 24.21, issue 10). The types still come from
// `import type ... from 'node:http'`, which the compiler erases; eslint.config.js refuses any other import of it.
import { createRequire } from 'node:module';
import type * as Http from 'node:http';

const http = createRequire(import.meta.url)('node:http') as typeof Http;

export const { Agent, createServer, request, STATUS_CODES } = http;
export type Agent = Http.Agent;
