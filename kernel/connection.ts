// The connection file Jupyter writes for a kernel (jupyter_client docs/kernels.rst, "Connection files"):
// reading it, and writing one with fresh ports and a random key for the headless runner.
import { randomBytes, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { writeFile } from "node:fs/promises";
import { FileFormatError, expected } from "../lib/errors.js";

/** The fields of a connection file this kernel uses. */
export interface ConnectionInfo {
  transport: "tcp" | "ipc";
  ip: string;
  shell_port: number;
  control_port: number;
  stdin_port: number;
  iopub_port: number;
  hb_port: number;
  key: string;
  signature_scheme: string;
  kernel_name?: string;
}

/** The five socket names, each with its port field. */
export const PORT_FIELDS = ["shell_port", "control_port", "stdin_port", "iopub_port", "hb_port"] as const;

/** Reads and validates a connection file. */
export function readConnectionFile(path: string): ConnectionInfo {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new FileFormatError("readConnectionFile", expected("a readable JSON connection file", path, (error as Error).message));
  }
  const info = raw as Partial<ConnectionInfo>;
  for (const field of PORT_FIELDS) {
    if (typeof info[field] !== "number") throw new FileFormatError("readConnectionFile", expected(`a numeric "${field}"`, info[field], `In ${path}.`));
  }
  return {
    transport: info.transport ?? "tcp",
    ip: info.ip ?? "127.0.0.1",
    key: info.key ?? "",
    signature_scheme: info.signature_scheme ?? "hmac-sha256",
    ...(info as Omit<ConnectionInfo, "transport" | "ip" | "key" | "signature_scheme">),
  } as ConnectionInfo;
}

/** The zeromq endpoint of one socket. */
export function endpoint(info: ConnectionInfo, port: number): string {
  return info.transport === "ipc" ? `ipc://${info.ip}-${port}` : `tcp://${info.ip}:${port}`;
}

/** Free TCP ports on 127.0.0.1 (bound to port 0 and released, as jupyter_client does). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
      const server = createServer();
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve(server));
    })),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/** A fresh local connection: 127.0.0.1 only, new ports, a random 256-bit key. */
export async function newConnectionInfo(): Promise<ConnectionInfo> {
  const [shell_port, control_port, stdin_port, iopub_port, hb_port] = (await freePorts(5)) as [number, number, number, number, number];
  return { transport: "tcp", ip: "127.0.0.1", shell_port, control_port, stdin_port, iopub_port, hb_port, key: randomUUID() + randomBytes(16).toString("hex"), signature_scheme: "hmac-sha256", kernel_name: "qlora-lab" };
}

/** Writes a connection file readable by its owner alone (mode 0600). */
export async function writeConnectionFile(path: string, info: ConnectionInfo): Promise<void> {
  await writeFile(path, JSON.stringify(info, null, 2), { mode: 0o600, flag: "wx" });
}
