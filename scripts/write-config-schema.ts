/**
 * Writes packages/train/config.schema.json from `trainConfigSchema` (the test
 * packages/train/test/config-files.test.ts fails when the two differ).
 * usage: node --import tsx scripts/write-config-schema.ts
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { trainConfigSchema } from '../packages/train/src/index.ts';

const path = fileURLToPath(new URL('../packages/train/config.schema.json', import.meta.url));
writeFileSync(path, `${JSON.stringify(trainConfigSchema, null, 2)}\n`);
console.log(`wrote ${path}`);
