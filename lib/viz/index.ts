// lib/viz's public surface (grouped, explicit exports).
export {};
