import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  buildSchema, isEnumType, isInputObjectType, isInterfaceType, isObjectType, isScalarType, printSchema,
  type GraphQLArgument, type GraphQLField, type GraphQLInputField, type GraphQLNamedType, type GraphQLSchema,
} from 'graphql';
import { describe, expect, it } from 'vitest';
import { getSortedSchema } from '../../src/graphql/schema.ts';
import { PENDING_CONTRACT } from './contract-pending.ts';

const root = path.join(import.meta.dirname, '..', '..');
const printed = readFileSync(path.join(root, 'schema', 'schema.graphql'), 'utf8');
const contract = buildSchema(readFileSync(path.join(root, 'schema', 'contract.graphql'), 'utf8'));
const actual = buildSchema(printed);

describe('schema artefacts', () => {
  it('schema/schema.graphql is the printed Pothos schema (run `npm run schema:print`)', () => {
    expect(printed).toBe(printSchema(getSortedSchema()) + '\n');
  });

  it('schema/contract.graphql is the shared contract, unchanged', () => {
    const shared = path.join(root, '..', 'shared', 'CONTRACT.graphql');
    let upstream: string;
    try {
      upstream = readFileSync(shared, 'utf8');
    } catch {
      return; // a clone without shared/ beside it: the copy in the repo is the reference
    }
    expect(readFileSync(path.join(root, 'schema', 'contract.graphql'), 'utf8')).toBe(upstream);
  });
});

describe('the printed schema contains the contract', () => {
  const problems = contractProblems(contract, actual);
  const pending = new Set(PENDING_CONTRACT);

  it('has every contract type, field, argument and enum value, with the same types and nullability', () => {
    expect(problems.filter((p) => !pending.has(p.item)).map((p) => p.message)).toEqual([]);
  });

  it('lists as pending only what is really missing', () => {
    const missing = new Set(problems.map((p) => p.item));
    expect(PENDING_CONTRACT.filter((item) => !missing.has(item))).toEqual([]);
  });
});

type Problem = { item: string; message: string };

function contractProblems(want: GraphQLSchema, have: GraphQLSchema): Problem[] {
  const problems: Problem[] = [];
  for (const type of Object.values(want.getTypeMap())) {
    if (type.name.startsWith('__')) continue;
    const other = have.getType(type.name);
    if (!other) {
      problems.push({ item: type.name, message: `missing type ${type.name}` });
      continue;
    }
    if (kindOf(type) !== kindOf(other)) {
      problems.push({ item: type.name, message: `${type.name} is a ${kindOf(other)}, the contract says ${kindOf(type)}` });
      continue;
    }
    if (isEnumType(type) && isEnumType(other)) {
      const values = new Set(other.getValues().map((v) => v.name));
      for (const v of type.getValues()) if (!values.has(v.name)) problems.push({ item: type.name, message: `enum ${type.name} lacks ${v.name}` });
    }
    if ((isObjectType(type) || isInterfaceType(type)) && (isObjectType(other) || isInterfaceType(other))) {
      const interfaces = new Set(other.getInterfaces().map((i) => i.name));
      for (const i of type.getInterfaces()) if (!interfaces.has(i.name)) problems.push({ item: type.name, message: `${type.name} does not implement ${i.name}` });
      compareFields(type.name, type.getFields(), other.getFields(), problems);
    }
    if (isInputObjectType(type) && isInputObjectType(other)) {
      const fields = other.getFields();
      for (const f of Object.values(type.getFields())) {
        const item = `${type.name}.${f.name}`;
        const o = fields[f.name];
        if (!o) problems.push({ item, message: `missing input field ${item}` });
        else compareInput(item, f, o, problems);
      }
      for (const o of Object.values(fields)) {
        if (!type.getFields()[o.name] && String(o.type).endsWith('!') && o.defaultValue === undefined) {
          problems.push({ item: `${type.name}.${o.name}`, message: `extra input field ${type.name}.${o.name} is required (breaks contract clients)` });
        }
      }
    }
  }
  return problems;
}

function compareFields(typeName: string, want: Record<string, GraphQLField<unknown, unknown>>, have: Record<string, GraphQLField<unknown, unknown>>, problems: Problem[]) {
  for (const f of Object.values(want)) {
    const item = `${typeName}.${f.name}`;
    const o = have[f.name];
    if (!o) {
      problems.push({ item, message: `missing field ${item}` });
      continue;
    }
    if (String(o.type) !== String(f.type)) problems.push({ item, message: `${item} is ${String(o.type)}, the contract says ${String(f.type)}` });
    const args = new Map(o.args.map((a) => [a.name, a]));
    for (const a of f.args) {
      const oa = args.get(a.name);
      if (!oa) problems.push({ item, message: `${item} lacks argument ${a.name}` });
      else compareInput(`${item}(${a.name})`, a, oa, problems);
    }
    for (const oa of o.args) {
      if (!f.args.some((a) => a.name === oa.name) && String(oa.type).endsWith('!') && oa.defaultValue === undefined) {
        problems.push({ item, message: `${item} has an extra required argument ${oa.name}` });
      }
    }
  }
}

function compareInput(item: string, want: GraphQLArgument | GraphQLInputField, have: GraphQLArgument | GraphQLInputField, problems: Problem[]) {
  if (String(have.type) !== String(want.type)) problems.push({ item, message: `${item} is ${String(have.type)}, the contract says ${String(want.type)}` });
  if (JSON.stringify(have.defaultValue) !== JSON.stringify(want.defaultValue)) {
    problems.push({ item, message: `${item} defaults to ${JSON.stringify(have.defaultValue)}, the contract says ${JSON.stringify(want.defaultValue)}` });
  }
}

function kindOf(t: GraphQLNamedType): string {
  if (isObjectType(t)) return 'object';
  if (isInterfaceType(t)) return 'interface';
  if (isInputObjectType(t)) return 'input';
  if (isEnumType(t)) return 'enum';
  if (isScalarType(t)) return 'scalar';
  return 'union';
}
