// lib/quant's public surface (grouped, explicit exports).
export {};
