// lib/lora's public surface (grouped, explicit exports).
export {};
