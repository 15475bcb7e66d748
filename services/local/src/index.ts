/** Local mode: the whole relay on one machine, as `hikyaku local` and the end-to-end tests run it. */

export * from './capture.ts';
export * from './local.ts';
export * from './service-process.ts';
export * from './stack.ts';
export * from './stack-file.ts';
