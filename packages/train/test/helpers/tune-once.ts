// One process's matmul tuning with the file store (tune.test.ts runs it several times): prints
// the TuneResult as JSON on the last line. `--no-recheck`: trust the stored choice.
import { init, tuneMatmul } from '@kdgpu/tensor';
import { fileTuneStore } from '../../src/tune-node.ts';

await init();
const r = await tuneMatmul({ store: fileTuneStore(), size: 64, reps: 1, recheck: !process.argv.includes('--no-recheck') });
console.log(JSON.stringify(r));
process.exit(0);
