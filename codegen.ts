import type { CodegenConfig } from '@graphql-codegen/cli';

/**
 * Typed documents for the tests (and any TypeScript client) from the printed schema: write
 * operations with `graphql(`…`)` from test/generated/gql.js and results and variables are typed.
 */
const config: CodegenConfig = {
  schema: 'schema/schema.graphql',
  ignoreNoDocuments: true,
  // NodeNext resolution needs explicit extensions in relative imports.
  importExtension: '.js',
  generates: {
    'test/generated/': {
      documents: ['test/**/*.ts', '!test/generated/**'],
      preset: 'client',
      config: {
        useTypeImports: true,
        // DateTime travels as an ISO-8601 string; JSON (payloads, activity data) as any JSON value.
        scalars: {
          DateTime: { input: 'string', output: 'string' },
          JSON: {
            input: 'string | number | boolean | null | { [key: string]: unknown } | unknown[]',
            output: 'string | number | boolean | null | { [key: string]: unknown } | unknown[]',
          },
        },
        enumsAsTypes: true,
      },
      presetConfig: { fragmentMasking: false },
    },
    // The canvas's documents: committed (a production install runs no codegen), strings rather
    // than ASTs (the page sends the text; the bundle stays small). A test fails when stale.
    'src/canvas/generated/': {
      documents: ['src/canvas/**/*.ts', '!src/canvas/generated/**'],
      preset: 'client',
      config: {
        useTypeImports: true,
        scalars: { DateTime: 'string', JSON: 'unknown' },
        enumsAsTypes: true,
        documentMode: 'string',
      },
      presetConfig: { fragmentMasking: false },
    },
  },
};

export default config;
