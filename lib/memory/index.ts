// lib/memory's public surface.
export { MEMORY_CATEGORIES, type MemoryCategory, type MemoryItem, type MemoryLocation, type MemoryReporter } from "./types.js";
