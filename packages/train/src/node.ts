/**
 * @kdgpu/train/node: what touches the file system or the process (Node 20+ and Deno): whole runs
 * from configs, run folders, checkpoints, data files and the token cache, teachers and offline
 * logits files, atomic writes, metrics files, console progress, signals, the matmul tuning cache.
 * Every public name is listed here.
 * @module
 */

export { runTraining, type RunOptions, type RunResult } from './run-node.ts';
export { previousRun, moveRunAside, findResumePoint, checkResumeArchitecture, checkResumeSchedule, modelDifferences, type ResumePoint } from './run-folder-node.ts';
export { handleStopSignals, signalExitCode, removeCheckpointTemps, type StopSignal, type StopHandle } from './signals-node.ts';
export {
  saveCheckpoint,
  loadCheckpoint,
  findCheckpoint,
  pruneCheckpoints,
  stepDirName,
  CheckpointError,
  STATE_FILE,
  OPTIMIZER_FILE,
  type CheckpointMeta,
  type LoadedCheckpoint,
} from './checkpoint-node.ts';
export { corpusFiles, tokenizeFiles, readDataText, cleanerOf, loadTokenizerFile, trainRunTokenizer, type DataFile } from './data-node.ts';
export { inspectTeachers, inspectOfflineLogits, loadTeachers, teacherTokenizer, type TeacherFacts } from './teachers-node.ts';
export { writeOfflineLogits, writeSparseOfflineLogits, readOfflineFooter, offlineTeacher, checkOfflineLogitsData, tokensKey, type OfflineLogitsOptions, type SparseOfflineOptions } from './offline-logits-node.ts';
export { writeSparseLogits, SparseLogitsFile, checkSparseLogits, isSparseLogitsFile, partialPaths, type SparseSettings, type SparseWriteOptions, type SparseExpectation } from './sparse-logits-node.ts';
export { convertVllmLogits, writeVllmRequests, type VllmConvertOptions } from './vllm-logits-node.ts';
export { cachedTokenize, tokenCachePath, type CacheStatus, type CachedTokens, type CachedTokenizeOptions } from './token-cache-node.ts';
export { writeFileAtomic, writeFileAtomicSync, writeJsonAtomic, writeJsonAtomicSync, type AtomicWriteOptions, type JsonWriteOptions } from './atomic-node.ts';
export { openMetricsFile, readMetricsFile } from './metrics-node.ts';
export { consoleProgress, type ConsoleProgressOptions } from './progress-node.ts';
export { fileTuneStore, kdgpuCacheDir, loadPerCore, readTuneFile, tuneFilePath } from './tune-node.ts';
