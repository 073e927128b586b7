// Comms (Jupyter messaging "Custom Messages"): targets the kernel knows, comms open on it, and what
// to do with an open request for an unknown target (close it at once, as the spec asks).

/** Sends comm_msg / comm_close from the kernel side of one comm. */
export interface CommSender {
  send(data: Record<string, unknown>): void;
  close(data?: Record<string, unknown>): void;
}

/** Handles one comm's lifetime; returned by a target when a front end opens a comm. */
export interface CommHandler {
  onMessage?(data: Record<string, unknown>): void;
  onClose?(data: Record<string, unknown>): void;
}

/** A comm target: called for each comm_open naming it. */
export type CommTarget = (comm: CommSender, data: Record<string, unknown>) => CommHandler | void;

/** The open comms and registered targets of one kernel. */
export class Comms {
  private readonly targets = new Map<string, CommTarget>();
  private readonly open = new Map<string, { targetName: string; handler: CommHandler }>();

  /** Registers a target name (e.g. "jupyter.widget"). */
  registerTarget(name: string, target: CommTarget): void {
    this.targets.set(name, target);
  }

  /** Opens a comm; false when the target is unknown (the caller answers with comm_close). */
  opened(commId: string, targetName: string, data: Record<string, unknown>, sender: CommSender): boolean {
    const target = this.targets.get(targetName);
    if (!target) return false;
    this.open.set(commId, { targetName, handler: target(sender, data) ?? {} });
    return true;
  }

  /** Delivers a comm_msg; false for an unknown comm. */
  message(commId: string, data: Record<string, unknown>): boolean {
    const comm = this.open.get(commId);
    comm?.handler.onMessage?.(data);
    return comm !== undefined;
  }

  /** Handles comm_close from the front end. */
  closed(commId: string, data: Record<string, unknown>): void {
    const comm = this.open.get(commId);
    this.open.delete(commId);
    comm?.handler.onClose?.(data);
  }

  /** comm_info_reply's `comms`, optionally for one target. */
  info(targetName?: string): Record<string, { target_name: string }> {
    const comms: Record<string, { target_name: string }> = {};
    for (const [id, { targetName: t }] of this.open) if (!targetName || t === targetName) comms[id] = { target_name: t };
    return comms;
  }
}
