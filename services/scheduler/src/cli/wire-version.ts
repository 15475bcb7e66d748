/**
 * `hikyaku wire-version`: the relay's wire version (relay-wire-version.ts in core), and
 * raising it once a rolling upgrade from an earlier release is over. Pods that take the
 * version from the relay read it at start, so a change reaches each at its next start.
 *
 * Exit status as every command (common.ts); a relay no pod of this release has set up
 * yet is 1 (HIKYAKU_NOT_FOUND).
 */
import {
  HikyakuError,
  readRelayWireVersion,
  setRelayWireVersion,
  WIRE_VERSIONS,
  type WireVersion,
} from '@hikyaku/core';
import {
  type CliCommand,
  CliError,
  type CliIo,
  connectCliNats,
  HELP,
  natsFailed,
  parseCommandLine,
  RELAY_OPTIONS,
  type RelayOptions,
  relayOptionsOf,
  relayUrls,
  runCommand,
  usageError,
} from './common.ts';

export const WIRE_VERSION_USAGE = `usage: hikyaku wire-version [--nats URL | --data-dir DIR] [--set VERSION] [--json]

  the wire version the relay's pods write when HIKYAKU_WIRE_VERSION (the chart's
  wireVersion) does not name one: 2 on a relay this release set up, 1 on one an earlier
  release set up, until raised

  --set VERSION   ${WIRE_VERSIONS.join(' or ')}: raise it to 2 once no pod of an earlier
                  release runs; each pod writes it from its next start (kubectl rollout
                  restart the ingress, scheduler and sender workloads)
  --nats URL      the relay's NATS (default: $NATS_URL, else the local mode running from
                  --data-dir, default .hikyaku)
  --json          {"wireVersion": N, "revision": N}
`;

interface WireVersionArgs extends RelayOptions {
  set: WireVersion | undefined;
  json: boolean;
}

function parseVersion(text: string): WireVersion {
  const version = WIRE_VERSIONS.find((v) => String(v) === text);
  if (version === undefined) {
    throw usageError(`--set must be one of ${WIRE_VERSIONS.join(', ')}, got "${text}"`);
  }
  return version;
}

export function wireVersionCommand(): CliCommand<WireVersionArgs> {
  return {
    name: 'wire-version',
    usage: WIRE_VERSION_USAGE,
    parse(argv) {
      const { values, positionals } = parseCommandLine(argv, {
        ...RELAY_OPTIONS.nats,
        ...RELAY_OPTIONS.dataDir,
        set: { type: 'string' },
        json: { type: 'boolean', default: false },
      });
      if (values.help) return HELP;
      if (positionals.length > 0) throw usageError(`unexpected "${positionals[0]}"`);
      return {
        ...relayOptionsOf(values),
        set: values.set === undefined ? undefined : parseVersion(values.set),
        json: values.json ?? false,
      };
    },
    async run(args, io) {
      const { natsUrl } = await relayUrls(args, io, { nats: true, redis: false });
      const nats = await connectCliNats(natsUrl, 'wire-version', io);
      try {
        const stored = await (args.set === undefined
          ? readRelayWireVersion(nats.js)
          : setRelayWireVersion(nats.js, args.set)
        ).catch((err: unknown) => {
          if (err instanceof HikyakuError && err.code === 'HIKYAKU_RELAY_NOT_SET_UP') {
            throw new CliError('HIKYAKU_NOT_FOUND', err.message);
          }
          throw natsFailed(natsUrl, err);
        });
        if (args.json) {
          io.out(JSON.stringify({ wireVersion: stored.version, revision: stored.revision }));
        } else if (args.set !== undefined) {
          io.out(
            `wire version set to ${stored.version}; each pod that takes it from the relay writes it from its next start`,
          );
        } else if (stored.revision === 0) {
          io.out(
            `wire version ${stored.version} (not recorded: no pod of this release has set the relay up yet)`,
          );
        } else {
          io.out(`wire version ${stored.version}`);
        }
        return 0;
      } finally {
        await nats.nc.close().catch(() => undefined);
      }
    },
  };
}

/** Runs the command; returns the exit status. */
export function runWireVersionCli(argv: string[], io: CliIo): Promise<number> {
  return runCommand(wireVersionCommand(), argv, io);
}
