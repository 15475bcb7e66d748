/**
 * The libraries that only reading a pool file needs — the YAML parser, the CEL evaluator
 * for the CRD's validation rules, ajv's string formats — loaded at their first use
 * instead of with the package. Local mode's supervisor and the tests read pool files;
 * the ingress, scheduler and sender load this package too but never call them, and with
 * static imports each of those processes kept their ~90 modules resident
 * (docs/performance.md, "Memory per service"). require() loads an ES module synchronously
 * (Node 22.12 and later), so the readers stay synchronous; each module is loaded once and
 * then served from the module cache.
 */
import { createRequire } from 'node:module';

const load = createRequire(import.meta.url);

export function yamlLibrary(): typeof import('yaml') {
  return load('yaml');
}

export function celLibrary(): typeof import('@marcbachmann/cel-js') {
  return load('@marcbachmann/cel-js');
}

export function ajvFormatsLibrary(): typeof import('ajv-formats') {
  return load('ajv-formats');
}
