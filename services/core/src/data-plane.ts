/**
 * What every data-plane service opens at start: the message body store and the pools'
 * compiled policy, followed live from NATS KV.
 */
import { type BodyStore, createBodyStore } from './body-store.ts';
import { DEFAULT_LAYOUT } from './nats.ts';
import { openPoolBucket, type PoolDirectory, watchPools } from './pool/directory.ts';
import type { ServiceContext } from './service.ts';

export interface DataPlane {
  bodies: BodyStore;
  pools: PoolDirectory;
}

export async function openDataPlane(ctx: ServiceContext, replicas: number): Promise<DataPlane> {
  const bodies = await createBodyStore({
    js: ctx.nats.js,
    jsm: ctx.nats.jsm,
    nc: ctx.nats.nc,
    replicas,
    maxAgeMs: DEFAULT_LAYOUT.bodyMaxAgeMs,
  });
  const pools = await watchPools(await openPoolBucket(ctx.nats.js, replicas), ctx.log);
  return { bodies, pools };
}
