// The tokenizer interface the model, CLI and notebooks share; lib/model/tokenizer.ts loads one from a path.

/** Text <-> token ids. */
export interface Tokenizer {
  /** Ids for `text`; `bos` (default true) prepends the BOS id, `eos` (default false) appends EOS. */
  encode(text: string, options?: { bos?: boolean; eos?: boolean }): number[];
  /** Text for `ids`; BOS/EOS produce no text and the leading dummy-prefix space is dropped. */
  decode(ids: readonly number[]): string;
  readonly vocabSize: number;
  readonly bosId: number;
  readonly eosId: number;
}
