/**
 * What the relay a benchmark measured wrote: its wire version (HIKYAKU_WIRE_VERSION as
 * given to the services, else the relay's own, relay-wire-version.ts) and how its bodies
 * were removed (HIKYAKU_BODY_REMOVAL, else what that version implies). Printed with the
 * figures, since both change the work per message.
 */
import { EnvReader, readRelayWireVersion, readWireVersion } from '@hikyaku/core';
import { BODY_REMOVALS, type BodyRemoval, bodyRemovalFor } from '@hikyaku/scheduler';
import type { JetStreamClient } from '@nats-io/jetstream';

export interface RelayFormat {
  wireVersion: number;
  bodyRemoval: BodyRemoval;
}

export async function relayFormat(
  js: JetStreamClient,
  env: Record<string, string | undefined>,
): Promise<RelayFormat> {
  const given = readWireVersion(new EnvReader(env));
  const wireVersion = given ?? (await readRelayWireVersion(js)).version;
  const removal = BODY_REMOVALS.find((r) => r === env.HIKYAKU_BODY_REMOVAL);
  return { wireVersion, bodyRemoval: removal ?? bodyRemovalFor(wireVersion) };
}
