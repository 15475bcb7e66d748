/**
 * CustomResourceDefinitions: read from YAML files at start-up or created through the API,
 * each turns into one resource type per served version, with its schema compiled for
 * validation. A CRD whose schema or rules do not compile is refused as the server refuses
 * it, with a 422 naming the version.
 */
import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import { CelRuleError } from './cel.ts';
import { invalid } from './errors.ts';
import { isRecord, type KubeObject } from './object.ts';
import type { ResourceType } from './resources.ts';
import type { JSONSchemaProps } from './schema.ts';
import type { ValidatorFactory } from './validation.ts';

interface CrdVersion {
  name: string;
  served: boolean;
  storage: boolean;
  schema?: { openAPIV3Schema?: JSONSchemaProps };
  subresources?: { status?: object };
}

interface CrdSpec {
  group: string;
  scope: 'Namespaced' | 'Cluster';
  names: { plural: string; singular?: string; kind: string; shortNames?: string[] };
  versions: CrdVersion[];
}

const CRD_SUBJECT = {
  group: 'apiextensions.k8s.io',
  resource: 'customresourcedefinitions',
  kind: 'CustomResourceDefinition',
};

function crdInvalid(name: string, field: string, message: string) {
  return invalid({ ...CRD_SUBJECT, name }, [{ reason: 'FieldValueInvalid', field, message }]);
}

function specOf(crd: KubeObject): CrdSpec {
  const name = crd.metadata.name ?? '';
  const spec = crd.spec;
  if (!isRecord(spec)) throw crdInvalid(name, 'spec', 'Required value');
  const s = spec as unknown as CrdSpec;
  if (!s.group || !s.names?.plural || !s.names?.kind) {
    throw crdInvalid(name, 'spec.names', 'Required value: group, names.plural and names.kind');
  }
  if (name !== `${s.names.plural}.${s.group}`) {
    throw crdInvalid(name, 'metadata.name', `must be spec.names.plural+"."+spec.group`);
  }
  if (!Array.isArray(s.versions) || s.versions.length === 0) {
    throw crdInvalid(name, 'spec.versions', 'Required value');
  }
  return s;
}

/** The resource types a CRD object serves; throws a 422 when it cannot be served. */
export function resourceTypesFromCrd(
  crd: KubeObject,
  makeValidator: ValidatorFactory,
): ResourceType[] {
  const spec = specOf(crd);
  const name = crd.metadata.name ?? '';
  const served = spec.versions.filter((v) => v.served !== false);
  // The storage version first, so that kubectl-style name lookups prefer it.
  served.sort((a, b) => Number(b.storage) - Number(a.storage));
  return served.map((v, i) => {
    const schema = v.schema?.openAPIV3Schema;
    if (!schema) {
      throw crdInvalid(name, `spec.versions[${i}].schema.openAPIV3Schema`, 'Required value');
    }
    let validator: ResourceType['validator'];
    try {
      validator = makeValidator(schema);
    } catch (err) {
      const at = err instanceof CelRuleError ? err.field : '';
      throw crdInvalid(
        name,
        `spec.versions[${i}].schema.openAPIV3Schema${at}`,
        `Invalid value: "object": ${(err as Error).message}`,
      );
    }
    return {
      group: spec.group,
      version: v.name,
      plural: spec.names.plural,
      singular: spec.names.singular ?? spec.names.kind.toLowerCase(),
      kind: spec.names.kind,
      namespaced: spec.scope !== 'Cluster',
      statusSubresource: v.subresources?.status !== undefined,
      allowCreateOnUpdate: false,
      shortNames: spec.names.shortNames ?? [],
      validator,
      custom: true,
    };
  });
}

/** The status a real server reports once a CRD is served. */
export function establishedStatus(crd: KubeObject, now: string): Record<string, unknown> {
  const spec = crd.spec as unknown as CrdSpec;
  const condition = (type: string, reason: string, message: string) => ({
    type,
    status: 'True',
    lastTransitionTime: now,
    reason,
    message,
  });
  return {
    acceptedNames: spec.names,
    storedVersions: spec.versions.filter((v) => v.storage).map((v) => v.name),
    conditions: [
      condition('NamesAccepted', 'NoConflicts', 'no conflicts found'),
      condition('Established', 'InitialNamesAccepted', 'the initial names have been accepted'),
    ],
  };
}

export class CrdFileError extends Error {
  override readonly name = 'CrdFileError';
  readonly code = 'CRD_FILE_INVALID';
}

/** Every CustomResourceDefinition document in the given YAML files. */
export async function readCrdFiles(paths: string[]): Promise<KubeObject[]> {
  const crds: KubeObject[] = [];
  for (const path of paths) {
    const text = await readFile(path, 'utf8');
    for (const doc of parseAllDocuments(text)) {
      if (doc.errors.length > 0) {
        throw new CrdFileError(`${path}: ${doc.errors[0]!.message}`, { cause: doc.errors[0] });
      }
      const value = doc.toJS() as unknown;
      if (isRecord(value) && value.kind === 'CustomResourceDefinition') {
        crds.push(value as KubeObject);
      }
    }
  }
  return crds;
}
