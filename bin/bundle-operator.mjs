/**
 * Bundles the operator's command (dist/bin/operator.js, compiled by tsc first) into
 * dist/operator/hikyaku.js, the file the chart's operator container runs
 * (docs/operator.md#footprint). @kubernetes/client-node declares no `sideEffects`, so a
 * bundler keeps every generated model its index reaches; its modules only define classes
 * and functions, so they are marked free of side effects here and what the operator does
 * not use is left out.
 */
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

const OUT = 'dist/operator';
const SIDE_EFFECT_FREE = /[\\/]node_modules[\\/]@kubernetes[\\/]client-node[\\/]/;

rmSync(OUT, { recursive: true, force: true });
await build({
  entryPoints: ['dist/bin/operator.js'],
  outfile: `${OUT}/hikyaku.js`,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node22',
  logLevel: 'warning',
  // CommonJS dependencies call require(); an ES module bundle has none of its own.
  banner: {
    js: "import { createRequire as __hikyakuRequire } from 'node:module'; const require = __hikyakuRequire(import.meta.url);",
  },
  plugins: [
    {
      name: 'side-effect-free',
      setup(b) {
        b.onResolve({ filter: /.*/ }, async (args) => {
          if (args.pluginData?.resolving) return undefined;
          const result = await b.resolve(args.path, {
            kind: args.kind,
            importer: args.importer,
            resolveDir: args.resolveDir,
            pluginData: { resolving: true },
          });
          if (result.errors.length > 0 || !SIDE_EFFECT_FREE.test(result.path)) return undefined;
          return { ...result, sideEffects: false };
        });
      },
    },
  ],
});
