// lib/data's public surface: loaders for users' data and the shipped corpus and tasks.
export { isPromptExample, type Example, type PromptExample, type TextExample, type ExampleSource, type LoadedExamples } from "./examples.js";
export type { FieldNames } from "./field_names.js";
export { loadJsonl, parseJsonl, type JsonlOptions } from "./jsonl.js";
export { loadCsv, type CsvOptions } from "./csv.js";
export { loadText, type TextOptions, type TextSplit } from "./text.js";
export { loadDataset, type LoadDatasetOptions } from "./load_dataset.js";
export { loadTask, loadCorpus, shippedTaskNames, shippedModelPath, shippedDatasetsDir, type Task, type TaskMetricSpec } from "./shipped.js";
export { loadTokenizedJsonl, looksTokenized, type TokenizedRow, type LoadedTokenizedRows } from "./tokenized.js";
