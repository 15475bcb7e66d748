/**
 * Where kubectl would read a YAML text differently from this project's parser, or refuse
 * it. kubectl (and helm, and the API machinery) convert YAML with sigs.k8s.io/yaml, built
 * on go-yaml v2: a YAML 1.1 reader. The `yaml` library here reads YAML 1.2. The same file
 * can therefore mean two things — `yes` a string here, the boolean true in the cluster — or
 * be accepted here and refused by `kubectl apply`. A pool file that passes here must mean
 * the same thing there, so these differences are refused, each with its line and a fix.
 *
 * Covered (go-yaml v2's resolver and scanner, checked against kubectl 1.32):
 * - plain scalars YAML 1.1 reads as booleans: y, n, yes, no, on, off in their cases;
 * - plain scalars YAML 1.1 reads as numbers and YAML 1.2 does not, or reads otherwise:
 *   a leading 0 (octal: 012 is 10 there, 12 here), 0b binary, `_` between digits;
 * - a `?` inside a plain scalar in a flow collection (`[TSS?04]`), which ends the scalar
 *   there and makes the collection a syntax error.
 */
import type { Document, LineCounter, Node } from 'yaml';
import { yamlLibrary } from './file-libraries.ts';

export interface KubectlYamlProblem {
  /** 1-based line of the offending scalar. */
  line: number;
  message: string;
}

const YAML11_BOOLEAN = /^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF)$/;
const YAML11_TRUE = /^(?:y|Y|yes|Yes|YES|on|On|ON)$/;
const YAML11_ONLY_NUMBER = [
  /^[-+]?0[0-7_]+$/, // octal by a leading 0
  /^[-+]?0b[01_]+$/, // binary
  /^[-+]?(?:0x[0-9a-fA-F]*|[0-9]*(?:\.[0-9]*)?)_[0-9a-fA-F_.]*$/, // digits with underscores
];

function go11Number(text: string): number | undefined {
  const plain = text.replaceAll('_', '');
  const sign = plain.startsWith('-') ? -1 : 1;
  const digits = plain.replace(/^[-+]/, '');
  let value: number;
  if (/^0b[01]+$/.test(digits)) value = Number.parseInt(digits.slice(2), 2);
  else if (/^0[0-7]+$/.test(digits)) value = Number.parseInt(digits.slice(1), 8);
  else value = Number(digits);
  return Number.isNaN(value) ? undefined : sign * value;
}

function inFlow(path: readonly unknown[]): boolean {
  const { isMap, isSeq } = yamlLibrary();
  return path.some((p) => (isMap(p) || isSeq(p)) && (p as { flow?: boolean }).flow === true);
}

export function kubectlYamlProblems(doc: Document, lines: LineCounter): KubectlYamlProblem[] {
  const problems: KubectlYamlProblem[] = [];
  const { isScalar, visit } = yamlLibrary();
  const at = (node: Node) => lines.linePos(node.range?.[0] ?? 0).line;
  visit(doc, {
    Scalar(_key, node, path) {
      if (!isScalar(node) || node.type !== 'PLAIN' || typeof node.source !== 'string') return;
      const text = node.source;
      const shown = JSON.stringify(text);
      if (inFlow(path) && text.includes('?')) {
        problems.push({
          line: at(node),
          message: `kubectl cannot parse the unquoted ${shown} inside [...] or {...} (a "?" ends it there): quote it, ${shown}`,
        });
      } else if (YAML11_BOOLEAN.test(text)) {
        problems.push({
          line: at(node),
          message: `kubectl reads the unquoted ${text} as the boolean ${YAML11_TRUE.test(text)} (YAML 1.1): quote it, ${shown}, or write ${YAML11_TRUE.test(text)}`,
        });
      } else if (YAML11_ONLY_NUMBER.some((re) => re.test(text))) {
        const value = go11Number(text);
        if (value === undefined || value === node.value) return;
        problems.push({
          line: at(node),
          message: `kubectl reads the unquoted ${text} as the number ${value} (YAML 1.1): quote it, ${shown}, or write ${value}`,
        });
      }
    },
  });
  return problems;
}
