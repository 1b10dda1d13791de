import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import fastJsonStringify from 'fast-json-stringify';
import type { App } from './app-types.ts';

// ajv-formats is CommonJS with a default export; under NodeNext the callable sits on `.default`.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

export interface SchemaCompilers {
  /** Compiles every route schema not compiled yet (a test runs this to find a schema that does not compile). */
  compileAll(): number;
}

/**
 * Route schemas are compiled on first use instead of at startup. Compiling all of them (request validators with
 * ajv, response serializers with fast-json-stringify) took ~1.7 s of CPU in every start of the server and of every
 * test file's app, on this project's 2-core machine, while a process typically uses a few of its routes; the first
 * request of a route now pays its own compile (a few ms).
 *
 * Body fields are validated without type coercion (a number where a string is expected is a 400); query strings
 * and path parameters are coerced, since they are always text on the wire.
 */
export function installSchemaCompilers(app: App): SchemaCompilers {
  const common = { useDefaults: true, removeAdditional: true, allErrors: false, strict: false } as const;
  const body = new Ajv({ ...common, coerceTypes: false });
  const query = new Ajv({ ...common, coerceTypes: 'array' });
  addFormats(body);
  addFormats(query);
  /** Compilers not run yet: each leaves the set when it first runs. */
  const pending = new Set<() => unknown>();
  /** `build` run once, on the first call of the returned function. */
  const lazily = <T>(build: () => T): (() => T) => {
    let built: T | undefined;
    const get = () => {
      if (built === undefined) {
        built = build();
        pending.delete(get);
      }
      return built;
    };
    pending.add(get);
    return get;
  };

  app.setValidatorCompiler(({ schema, httpPart }) => {
    const compiled = lazily(() => (httpPart === 'body' ? body : query).compile(schema));
    // Called as Fastify calls an ajv function: with the parent data (`schemaEnv` tells it to), so ajv can replace a
    // root value it coerces; the errors of a failed run are on the function, where Fastify reads them.
    const wrapper = Object.assign(
      (data: unknown, context?: { parentData: object; parentDataProperty: string }) => {
        const run = compiled();
        const valid = context ? run(data, context as Parameters<ValidateFunction>[1]) : run(data);
        wrapper.errors = run.errors;
        return valid;
      },
      { schemaEnv: true, errors: null as ValidateFunction['errors'] },
    );
    return wrapper;
  });

  app.setSerializerCompiler(({ schema }) => {
    const compiled = lazily(() => fastJsonStringify(schema as Parameters<typeof fastJsonStringify>[0]));
    return (data: unknown) => compiled()(data);
  });

  return {
    compileAll() {
      const all = [...pending];
      for (const compile of all) compile();
      return all.length;
    },
  };
}
