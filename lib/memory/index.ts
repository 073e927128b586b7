// lib/memory's public surface.
export { MEMORY_CATEGORIES, type MemoryCategory, type MemoryItem, type MemoryLocation, type MemoryReporter } from "./types.js";
export {
  MemoryLedger,
  tensorReporter,
  bytesOfTensor,
  bytesOfTensors,
  type CategoryBytes,
  type LedgerPoint,
  type OwnerBytes,
  type Reconciliation,
  type SnapshotExtras,
} from "./ledger.js";
export { parseByteSize, budgetBytes } from "./byte_size.js";
