// A WebAssembly kernel as the library holds it: a recipe for its bytes, assembled and compiled once on
// first use (or up front by installRuntime), never at import. The compiled module is immutable; an
// instance is made per memory, which decides where the kernel's pointers point.
import { compileModule, wasmApi, type WasmMemory, type WasmModule } from "./wasm_asm.js";

/** One kernel module exporting one function, `exportName`. */
export class WasmKernel {
  private compiled: WasmModule | null | undefined;

  constructor(
    readonly exportName: string,
    /** The module's bytes, its one function exported as `exportName`. */
    private readonly assemble: (exportName: string) => Uint8Array,
  ) {}

  /** The compiled module, or null where WebAssembly SIMD is unavailable (compiled on the first call only). */
  module(): WasmModule | null {
    if (this.compiled === undefined) this.compiled = compileModule(this.assemble(this.exportName));
    return this.compiled;
  }

  /** Whether the kernel runs here (it compiled). */
  available(): boolean {
    return this.module() !== null;
  }

  /** The kernel's function over `memory` (call only where {@link available}). */
  instantiate(memory: WasmMemory): (...args: number[]) => void {
    const instance = new (wasmApi()!).Instance(this.module()!, { env: { memory } });
    return instance.exports[this.exportName] as (...args: number[]) => void;
  }
}
