/** npm run docs: rewrites docs/api-reference.md from the code. */
import { writeFileSync } from 'node:fs';
import { renderApiReference } from './api-reference.js';

writeFileSync('docs/api-reference.md', await renderApiReference());
console.log('wrote docs/api-reference.md');
