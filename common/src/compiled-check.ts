/**
 * A fast accept/reject check derived from a zod schema, as fastify derives its validators from one
 * schema: ajv compiles `z.toJSONSchema(schema)`, and every refinement that JSON Schema cannot
 * express (a `.refine(fn)`: Luhn, two decimals, a known currency or country, a real instant) is
 * carried into the compiled schema as a keyword that calls that very `fn`, the function object zod
 * calls. So the schema stays the one definition; this only makes asking it cheaper.
 *
 * The check gives the verdict of `schema.safeParse(v).success`, nothing more: run zod when it says
 * no, for the detail (then both agree). common/test/compiled-check.test.ts holds the two to the
 * same verdict over many generated valid and invalid events.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import { z } from 'zod';

/**
 * The keyword under which a node lists its refinements (indexes into `refinements`), one per JSON
 * type: ajv runs a keyword only for data of its declared type, after that type's own checks, as
 * zod runs a refinement only on a value of the schema's type (an untyped keyword would run first,
 * on anything: isLuhnValid(null) throws).
 */
const REFINE_BY_ZOD_TYPE: Record<string, 'string' | 'number' | 'object' | 'array'> = {
  string: 'string',
  number: 'number',
  object: 'object',
  record: 'object',
  array: 'array',
};
const keywordFor = (jsonType: string): string => `x-zod-refine-${jsonType}`;

type Refinement = (value: unknown) => unknown;

/** Every refinement function met so far, in the order met; the keyword holds their indexes. */
const refinements: Refinement[] = [];

const ajv = new Ajv2020({
  strict: true,
  allowUnionTypes: true,
  // zod runs its patterns as they are; ajv would add the u flag. (Lengths agree: both count code
  // points, as JSON Schema does; the differential test has astral characters and lone halves.)
  unicodeRegExp: false,
});
for (const type of new Set(Object.values(REFINE_BY_ZOD_TYPE))) {
  ajv.addKeyword({
    keyword: keywordFor(type),
    type,
    schemaType: 'array',
    errors: false,
    validate: (indexes: number[], value: unknown) => {
      for (const i of indexes) if (!refinements[i]!(value)) return false;
      return true;
    },
  });
}

/** zod's internals this reads (zod/v4/core's documented `_zod.def` of a check). */
interface CheckDef {
  type?: string;
  check?: string;
  fn?: Refinement;
}

/**
 * The JSON Schema ajv compiles: zod's, with each node's refinements listed under its keyword, a
 * record's "__proto__" key let through as zod does, and a `format` dropped where zod also wrote
 * the pattern that implements it (z.uuid()); a format with no pattern would be a rule ajv could
 * not check, so it stops the start instead.
 */
export function jsonSchemaOf(schema: z.ZodType): Record<string, unknown> {
  return z.toJSONSchema(schema, {
    unrepresentable: 'throw',
    override: ({ zodSchema, jsonSchema }) => {
      const checks = ((zodSchema._zod.def as { checks?: { _zod: { def: CheckDef } }[] }).checks ?? []).map((c) => c._zod.def);
      const indexes: number[] = [];
      for (const def of checks) {
        if (def.check !== 'custom') continue;
        if (def.type !== 'custom' || typeof def.fn !== 'function') throw new Error('only .refine(fn) refinements can be compiled');
        let i = refinements.indexOf(def.fn);
        if (i < 0) i = refinements.push(def.fn) - 1;
        indexes.push(i);
      }
      if (indexes.length > 0) {
        const jsonType = REFINE_BY_ZOD_TYPE[zodSchema._zod.def.type];
        if (jsonType === undefined) throw new Error(`refinements of a zod ${zodSchema._zod.def.type} cannot be compiled`);
        (jsonSchema as Record<string, unknown>)[keywordFor(jsonType)] = indexes;
      }
      if (zodSchema._zod.def.type === 'record' && jsonSchema.propertyNames !== undefined) {
        // zod's records pass over a "__proto__" key (JSON.parse makes it an own key) without
        // checking it or its value; so does the compiled check.
        const node = jsonSchema as Record<string, unknown>;
        node.propertyNames = { anyOf: [{ const: '__proto__' }, jsonSchema.propertyNames] };
        node.patternProperties = { '^__proto__$': {} };
      }
      if (jsonSchema.format !== undefined) {
        if (jsonSchema.pattern === undefined) throw new Error(`format "${jsonSchema.format}" has no pattern that ajv could check`);
        delete jsonSchema.format;
      }
    },
  }) as Record<string, unknown>;
}

/** The refinement functions a node of jsonSchemaOf's output runs (for tests: they are zod's own). */
export function refinementsOf(node: unknown): readonly unknown[] {
  const n = node as Record<string, unknown> | undefined;
  return [...new Set(Object.values(REFINE_BY_ZOD_TYPE))].flatMap((type) => {
    const indexes = n?.[keywordFor(type)];
    return Array.isArray(indexes) ? indexes.map((i: number) => refinements[i]!) : [];
  });
}

/** The compiled check of `schema`: true exactly when zod would accept the value. */
export function compileCheck<S extends z.ZodType>(schema: S): (value: unknown) => value is z.output<S> {
  const validate = ajv.compile(jsonSchemaOf(schema));
  return (value: unknown): value is z.output<S> => validate(value);
}
