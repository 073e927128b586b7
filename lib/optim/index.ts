// lib/optim's public surface (grouped, explicit exports).
export {};
