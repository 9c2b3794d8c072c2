import { readFileSync } from 'node:fs';
import path from 'node:path';
import { generate } from '@graphql-codegen/cli';
import { describe, expect, it } from 'vitest';
import config from '../../codegen.ts';
import { buildCanvas } from '../../src/server/canvas.ts';

const root = path.join(import.meta.dirname, '..', '..');
const CANVAS = 'src/canvas/generated/';

describe('the canvas build', () => {
  it('src/canvas/generated is what codegen makes of the canvas documents and the schema (run `npm run codegen`)', async () => {
    const outputs = await generate({ ...config, cwd: root, silent: true, generates: { [CANVAS]: config.generates[CANVAS]! } }, false);
    expect(outputs.length).toBeGreaterThan(0);
    for (const o of outputs) {
      expect(readFileSync(path.resolve(root, o.filename), 'utf8'), o.filename).toBe(o.content);
    }
  });

  it('bundles into one self-contained script from runtime dependencies only: no import left to fetch, no eval', async () => {
    const { js: bytes, packages } = await buildCanvas();
    // `npm ci --omit=dev` must serve it: every package bundled is a runtime dependency.
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(packages).toContain('preact');
    expect(packages.filter((p) => !(p in pkg.dependencies))).toEqual([]);
    const js = bytes.toString('utf8');
    expect(js.length).toBeGreaterThan(10_000);
    expect(js).not.toMatch(/\bimport\s*\(|\bfrom\s*["']/);
    expect(js).not.toMatch(/\beval\(|new Function\(/);
  });
});
