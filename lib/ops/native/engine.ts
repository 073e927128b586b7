// A multi-threaded native engine for matrix products: onnxruntime-node's CPU build (its GEMM runs on a
// thread pool, several times faster per core than TF.js's WebAssembly), loaded on the first call to
// loadNativeEngine, never at import. It runs through the package's synchronous binding (the public
// InferenceSession API wraps every run in a promise), one session per product kind (rank and transposes),
// writing each product into an array the caller allocated (for TF.js's wasm backend: its own heap).
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { InvalidArgumentError, expected } from "../../errors.js";
import { BNB4_INPUTS, PRODUCT_INPUTS, PRODUCT_OUTPUT, bnb4ProductModel, productModel } from "./onnx_model.js";

/** The npm package that provides the engine. */
export const NATIVE_PACKAGE = "onnxruntime-node";

/** The parts of onnxruntime-node's binding (dist/binding.js) used here. */
interface OrtTensor {
  readonly dims: readonly number[];
}
type OrtTensorConstructor = new (type: "float32" | "uint8", data: Float32Array | Uint8Array, dims: readonly number[]) => OrtTensor;
interface OrtSession {
  loadModel(buffer: ArrayBufferLike, byteOffset: number, byteLength: number, options: object): void;
  run(feeds: Record<string, OrtTensor>, fetches: Record<string, OrtTensor>, options: object): unknown;
  dispose(): void;
}
interface OrtBindingModule {
  binding: { InferenceSession: new () => OrtSession };
  initOrt: () => void;
}

/** A matrix operand: its elements (row-major) and its shape, [rows, cols] or [G, rows, cols]. */
export interface Operand {
  data: Float32Array;
  shape: readonly number[];
}

/** The loaded engine: op(a) @ op(b) into `out`, on `threads` threads. */
export class NativeEngine {
  private readonly sessions = new Map<string, OrtSession>();

  constructor(
    readonly threads: number,
    readonly version: string,
    private readonly ort: OrtBindingModule,
    private readonly Tensor: OrtTensorConstructor,
  ) {}

  /** op(a) @ op(b) written into out (its shape the product's); a and b of the same rank, 2 or 3. */
  product(a: Operand, b: Operand, transposeA: boolean, transposeB: boolean, out: Operand): void {
    const session = this.session(a.shape.length as 2 | 3, transposeA, transposeB);
    const feeds = { [PRODUCT_INPUTS[0]]: new this.Tensor("float32", a.data, a.shape), [PRODUCT_INPUTS[1]]: new this.Tensor("float32", b.data, b.shape) };
    session.run(feeds, { [PRODUCT_OUTPUT]: new this.Tensor("float32", out.data, out.shape) }, {});
  }

  /**
   * x [m, K] @ deq(w)^T into out [m, N], w a [N, K] weight in bitsandbytes' 4-bit layout with float32
   * absmax (onnxruntime's MatMulBnb4: it dequantizes on its threads, then multiplies).
   */
  bnb4Product(x: Operand, codes: Uint8Array, absmax: Float32Array, weight: { K: number; N: number; blocksize: number; quantType: "nf4" | "fp4" }, out: Operand): void {
    const { K, N, blocksize, quantType } = weight;
    const session = this.sessionFor(`bnb4 ${K} ${N} ${blocksize} ${quantType}`, () => bnb4ProductModel(K, N, blocksize, quantType === "nf4" ? 1 : 0));
    const feeds = {
      [BNB4_INPUTS[0]]: new this.Tensor("float32", x.data, x.shape),
      [BNB4_INPUTS[1]]: new this.Tensor("uint8", codes, [codes.length]),
      [BNB4_INPUTS[2]]: new this.Tensor("float32", absmax, [absmax.length]),
    };
    session.run(feeds, { [PRODUCT_OUTPUT]: new this.Tensor("float32", out.data, out.shape) }, {});
  }

  /** The session for one product kind, made on first use. */
  private session(rank: 2 | 3, transposeA: boolean, transposeB: boolean): OrtSession {
    return this.sessionFor(`${rank}${transposeA ? "T" : "N"}${transposeB ? "T" : "N"}`, () => productModel(rank, transposeA, transposeB));
  }

  private sessionFor(key: string, makeModel: () => Uint8Array): OrtSession {
    let session = this.sessions.get(key);
    if (!session) {
      const model = makeModel();
      session = new this.ort.binding.InferenceSession();
      session.loadModel(model.buffer, model.byteOffset, model.byteLength, {
        intraOpNumThreads: this.threads,
        interOpNumThreads: 1,
        executionMode: "sequential",
        graphOptimizationLevel: "basic",
        executionProviders: ["cpu"],
        // No arena or memory pattern: every output is the caller's, so the engine keeps no buffers of its own.
        enableCpuMemArena: false,
        enableMemPattern: false,
        // Idle pool threads sleep instead of spinning: between products TF.js runs the step's other ops on
        // this process's main thread, and a spinning pool would take the cores they (and other processes) need.
        extra: { session: { intra_op: { allow_spinning: "0" } } },
      });
      this.sessions.set(key, session);
    }
    return session;
  }

  /** Frees every session (the engine stays usable: sessions are made again on demand). */
  dispose(): void {
    for (const session of this.sessions.values()) session.dispose();
    this.sessions.clear();
  }
}

/** The engine, or why it could not load. */
export type NativeEngineLoad = { engine: NativeEngine; reason?: undefined } | { engine: null; reason: string };

/**
 * The thread count QLORA_LAB_THREADS asks for (a positive integer), else every core this process may
 * use (os.availableParallelism()).
 */
export function nativeThreads(env: Record<string, string | undefined> = process.env): number {
  const raw = env.QLORA_LAB_THREADS;
  if (raw === undefined || raw.trim() === "") return availableParallelism();
  const threads = Number(raw);
  if (!Number.isInteger(threads) || threads < 1) throw new InvalidArgumentError("nativeThreads", expected("QLORA_LAB_THREADS to be a positive integer", JSON.stringify(raw)));
  return threads;
}

const loaded = new Map<number, NativeEngineLoad>();

/** The engine on `threads` threads, loaded once per thread count; or why onnxruntime-node did not load. */
export function loadNativeEngine(threads: number): NativeEngineLoad {
  let result = loaded.get(threads);
  if (!result) {
    result = tryLoad(threads);
    loaded.set(threads, result);
  }
  return result;
}

function tryLoad(threads: number): NativeEngineLoad {
  const require = createRequire(import.meta.url);
  let entry: string;
  try {
    entry = require.resolve(NATIVE_PACKAGE);
  } catch {
    return { engine: null, reason: `${NATIVE_PACKAGE} is not installed` };
  }
  try {
    const fromPackage = createRequire(entry); // onnxruntime-common as the package itself resolves it
    const ort = fromPackage("./binding.js") as OrtBindingModule;
    const { Tensor } = fromPackage("onnxruntime-common") as { Tensor: OrtTensorConstructor };
    const { version } = fromPackage("./version.js") as { version: string };
    ort.initOrt();
    const engine = new NativeEngine(threads, version, ort, Tensor);
    // A 2x2 product proves the binary runs on this machine before anything relies on it.
    const out = new Float32Array(4);
    engine.product({ data: Float32Array.of(1, 2, 3, 4), shape: [2, 2] }, { data: Float32Array.of(1, 0, 0, 1), shape: [2, 2] }, false, true, { data: out, shape: [2, 2] });
    if (out.join() !== "1,2,3,4") return { engine: null, reason: `${NATIVE_PACKAGE} ${version} computed a wrong test product (${out.join()})` };
    return { engine };
  } catch (error) {
    return { engine: null, reason: `${NATIVE_PACKAGE} failed to load: ${String((error as Error).message ?? error).split("\n")[0]}` };
  }
}
