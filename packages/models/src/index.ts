/**
 * @kdgpu/models: LLaMA and GPT-2 on @kdgpu/tensor, with Hugging Face configs, parameter names and
 * safetensors checkpoints, and KV-cache generation. Runs in a browser; file-system helpers
 * (`saveModel(dir)`, `loadModel(dir)`) are in `@kdgpu/models/node`.
 *
 * ```ts
 * import { init, tensor } from '@kdgpu/tensor';
 * import { createModel, tinyLlama, generate } from '@kdgpu/models';
 * await init();
 * const model = createModel(tinyLlama(), { seed: 1 });
 * const logits = model.forward(tensor([[1, 5, 9]], { dtype: 'i32' })); // [1, 3, 64]
 * const { tokens } = await generate(model, [1, 5, 9], { maxNewTokens: 8 });
 * ```
 */
export {
  type LlamaConfig,
  type GPT2Config,
  type ModelConfig,
  llamaConfig,
  gpt2Config,
  configFromJson,
  configToJson,
  gpt2Inner,
} from './config.ts';
export {
  babyLlama58M,
  llama360M,
  gpt2_705M,
  distilLlama80M,
  tinyLlama,
  tinyGPT2,
  demoLlama,
  MODEL_PRESETS,
  type PresetBuilder,
  type PresetName,
  presetNames,
  modelPreset,
  describePresets,
} from './presets.ts';
export { type CausalLM, type ForwardOptions, type BuildOptions } from './model.ts';
export { Llama } from './llama.ts';
export { GPT2 } from './gpt2.ts';
export { createModel, countParameters } from './create.ts';
export { KVCache } from './kv-cache.ts';
export { linear, conv1d } from './ops/linear.ts';
export {
  type ByteSource,
  bytesSource,
  blobSource,
  type StDType,
  type TensorInfo,
  type SafetensorsHeader,
  type TensorEntry,
  DTYPE_BYTES,
  parseHeader,
  readHeader,
  readTensor,
  decodeF32,
  encodeTensor,
  encodeHeader,
  encodeSafetensors,
  f32ToF16Bits,
  countNonFinite,
} from './safetensors.ts';
export {
  type ModelFiles,
  type ModelSink,
  type LoadOptions,
  type LoadReport,
  type SaveOptions,
  type MemoryDir,
  loadWeights,
  loadModelFrom,
  saveModelTo,
  shardFiles,
  memoryFiles,
  memorySink,
  CONFIG_FILE,
  WEIGHTS_FILE,
  INDEX_FILE,
} from './checkpoint.ts';
export {
  type GgufValue,
  type GgufScalarType,
  type GgmlType,
  type GgufTensorInfo,
  type GgufHeader,
  GgufError,
  GGUF_VALUE_TYPES,
  GGML_TYPES,
  GGUF_MAX_HEADER,
} from './gguf-format.ts';
export { readGgufHeader, readGgufTensor } from './gguf-read.ts';
export { decodeGgml, encodeGgml, ggmlBytes } from './ggml-codec.ts';
export { type GgufTensorEntry, encodeGgufHeader, encodeGguf, ggufPadded, ggufPadding, gguf } from './gguf-write.ts';
export { permuteRotary } from './gguf-names.ts';
export { type GgufVocab, vocabMetadata, vocabFromMetadata } from './gguf-vocab.ts';
export { type GgufExportType, type GgufExportOptions, type ByteSink, modelMetadata, saveGgufTo, encodeModelGguf } from './gguf-export.ts';
export { type GgufModel, type GgufLoadOptions, configFromGguf, loadGgufFrom } from './gguf-import.ts';
export { generate, type GenerateOptions, type GenerateResult, type TextCodec, type TokenEvent } from './generate.ts';
export { sampleToken, seededRandom, argmax, type SamplingOptions } from './sampling.ts';
export { sampleOnDevice, cumsumLast, checkDeviceSampling, type DeviceSamplingOptions } from './sample-device.ts';
export { decodeOnDevice, generateBatch, continuationLengths, type BatchDecodeOptions, type BatchGeneration } from './generate-batch.ts';
