/**
 * Validation of rendered objects against the schema of their kind: kubernetes-models for
 * built-in kinds, @kubernetes-models/prometheus-operator for the monitoring kinds, and a
 * schema written from cert-manager's v1 API for the Certificate (no model package for it
 * is installed). kubernetes-models accepts fields it does not know, as the API server
 * prunes them; unknownFields() finds those in built-in kinds with the field tables of
 * @kubernetes/client-node, so that a misspelt field (readOnlyRootFilesytem) fails instead
 * of being dropped silently.
 */
import * as k8s from '@kubernetes/client-node';
import {
  PodMonitor,
  PrometheusRule,
  ServiceMonitor,
} from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { Ajv } from 'ajv';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Job } from 'kubernetes-models/batch/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import {
  ClusterRole,
  ClusterRoleBinding,
  Role,
  RoleBinding,
} from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import type { KubeObject } from './helm.ts';

interface Validatable {
  validate(): void;
}
type ModelClass = new (data: never) => Validatable;

const MODELS: Record<string, { model: ModelClass; fields?: string }> = {
  'v1/ConfigMap': { model: ConfigMap as unknown as ModelClass, fields: 'V1ConfigMap' },
  'v1/Secret': { model: Secret as unknown as ModelClass, fields: 'V1Secret' },
  'v1/Service': { model: Service as unknown as ModelClass, fields: 'V1Service' },
  'v1/ServiceAccount': {
    model: ServiceAccount as unknown as ModelClass,
    fields: 'V1ServiceAccount',
  },
  'apps/v1/Deployment': { model: Deployment as unknown as ModelClass, fields: 'V1Deployment' },
  'apps/v1/StatefulSet': { model: StatefulSet as unknown as ModelClass, fields: 'V1StatefulSet' },
  'batch/v1/Job': { model: Job as unknown as ModelClass, fields: 'V1Job' },
  'autoscaling/v2/HorizontalPodAutoscaler': {
    model: HorizontalPodAutoscaler as unknown as ModelClass,
    fields: 'V2HorizontalPodAutoscaler',
  },
  'networking.k8s.io/v1/NetworkPolicy': {
    model: NetworkPolicy as unknown as ModelClass,
    fields: 'V1NetworkPolicy',
  },
  'policy/v1/PodDisruptionBudget': {
    model: PodDisruptionBudget as unknown as ModelClass,
    fields: 'V1PodDisruptionBudget',
  },
  'rbac.authorization.k8s.io/v1/ClusterRole': {
    model: ClusterRole as unknown as ModelClass,
    fields: 'V1ClusterRole',
  },
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': {
    model: ClusterRoleBinding as unknown as ModelClass,
    fields: 'V1ClusterRoleBinding',
  },
  'rbac.authorization.k8s.io/v1/Role': { model: Role as unknown as ModelClass, fields: 'V1Role' },
  'rbac.authorization.k8s.io/v1/RoleBinding': {
    model: RoleBinding as unknown as ModelClass,
    fields: 'V1RoleBinding',
  },
  'monitoring.coreos.com/v1/ServiceMonitor': { model: ServiceMonitor as unknown as ModelClass },
  'monitoring.coreos.com/v1/PodMonitor': { model: PodMonitor as unknown as ModelClass },
  'monitoring.coreos.com/v1/PrometheusRule': { model: PrometheusRule as unknown as ModelClass },
};

/** cert-manager.io/v1 Certificate, the fields the chart may write (cert-manager's API reference). */
const CERTIFICATE_SCHEMA = {
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  properties: {
    apiVersion: { const: 'cert-manager.io/v1' },
    kind: { const: 'Certificate' },
    metadata: { type: 'object', required: ['name'] },
    spec: {
      type: 'object',
      additionalProperties: false,
      required: ['secretName', 'issuerRef'],
      properties: {
        secretName: { type: 'string', minLength: 1 },
        commonName: { type: 'string', maxLength: 64 },
        dnsNames: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
        duration: { type: 'string', pattern: '^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$' },
        renewBefore: { type: 'string', pattern: '^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$' },
        privateKey: {
          type: 'object',
          additionalProperties: false,
          properties: {
            algorithm: { enum: ['RSA', 'ECDSA', 'Ed25519'] },
            size: { type: 'integer' },
            encoding: { enum: ['PKCS1', 'PKCS8'] },
            rotationPolicy: { enum: ['Never', 'Always'] },
          },
        },
        usages: {
          type: 'array',
          items: {
            enum: [
              'signing',
              'digital signature',
              'content commitment',
              'key encipherment',
              'key agreement',
              'data encipherment',
              'cert sign',
              'crl sign',
              'encipher only',
              'decipher only',
              'any',
              'server auth',
              'client auth',
              'code signing',
              'email protection',
              's/mime',
              'ipsec end system',
              'ipsec tunnel',
              'ipsec user',
              'timestamping',
              'ocsp signing',
              'microsoft sgc',
              'netscape sgc',
            ],
          },
        },
        issuerRef: {
          type: 'object',
          additionalProperties: false,
          required: ['name'],
          properties: {
            name: { type: 'string', minLength: 1 },
            kind: { type: 'string' },
            group: { type: 'string' },
          },
        },
      },
    },
  },
};
const validateCertificate = new Ajv({ allErrors: true }).compile(CERTIFICATE_SCHEMA);

/** Problems with one object; empty when it is valid for its kind. */
export function schemaProblems(obj: KubeObject): string[] {
  const key = `${obj.apiVersion}/${obj.kind}`;
  if (key === 'cert-manager.io/v1/Certificate') {
    if (validateCertificate(obj)) return [];
    return (validateCertificate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
  }
  const entry = MODELS[key];
  if (!entry) return [`no schema known for ${key}: add its model to test/chart/kube-schema.ts`];
  const problems: string[] = [];
  try {
    new entry.model(obj as never).validate();
  } catch (err) {
    problems.push((err as Error).message);
  }
  if (entry.fields) problems.push(...unknownFields(obj, entry.fields, ''));
  return problems;
}

interface Attribute {
  baseName: string;
  type: string;
}

function attributes(typeName: string): Attribute[] | undefined {
  const model = (k8s as unknown as Record<string, { getAttributeTypeMap?: () => Attribute[] }>)[
    typeName
  ];
  return model?.getAttributeTypeMap?.();
}

/** Paths of fields the Kubernetes type does not have, walking nested types, lists and maps. */
export function unknownFields(value: unknown, typeName: string, path: string): string[] {
  if (value === null || value === undefined) return [];
  const list = /^Array<(.+)>$/.exec(typeName);
  if (list) {
    if (!Array.isArray(value)) return [];
    return value.flatMap((v, i) => unknownFields(v, list[1] as string, `${path}[${i}]`));
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(typeName);
  if (map) {
    if (typeof value !== 'object') return [];
    return Object.entries(value as object).flatMap(([k, v]) =>
      unknownFields(v, map[1] as string, `${path}.${k}`),
    );
  }
  const attrs = attributes(typeName);
  if (!attrs || typeof value !== 'object' || Array.isArray(value)) return [];
  const problems: string[] = [];
  for (const [key, child] of Object.entries(value as object)) {
    const attr = attrs.find((a) => a.baseName === key);
    if (!attr) problems.push(`${path}.${key}: unknown field of ${typeName}`);
    else problems.push(...unknownFields(child, attr.type, `${path}.${key}`));
  }
  return problems;
}
