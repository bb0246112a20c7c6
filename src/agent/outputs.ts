import { createWriteStream, type WriteStream } from 'node:fs';
import type { AgentAction, AgentTelemetry, ActionSink } from './types.js';

/**
 * Where the agent's actions and telemetry go. `--events FILE|-` writes one JSON line per action;
 * the exporters and metrics of issue #19 add their sinks and telemetry here.
 */
export interface AgentOutputs {
  sinks: ActionSink[];
  telemetry: AgentTelemetry;
  /** Sends an action to every sink and to the telemetry. */
  emit(a: AgentAction): void;
  close(): Promise<void>;
}

/** Telemetry when nothing scrapes the agent: every report is dropped on purpose. */
export const NO_TELEMETRY: AgentTelemetry = {
  event: () => undefined,
  action: () => undefined,
  drops: () => undefined,
  ringFill: () => undefined,
  tiers: () => undefined,
  manifests: () => undefined,
  integrity: () => undefined,
  exporter: () => undefined,
};

/** One JSON line per action on a file (appended) or stdout ('-'). */
export function jsonLinesSink(target: string): ActionSink {
  const out: WriteStream | NodeJS.WriteStream = target === '-' ? process.stdout : createWriteStream(target, { flags: 'a', mode: 0o600 });
  return {
    name: target === '-' ? 'events:stdout' : `events:${target}`,
    send: (a) => {
      out.write(JSON.stringify(a) + '\n');
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (out === process.stdout) resolve();
        else (out as WriteStream).end(resolve);
      }),
  };
}

export function makeOutputs(sinks: ActionSink[], telemetry: AgentTelemetry = NO_TELEMETRY): AgentOutputs {
  return {
    sinks,
    telemetry,
    emit(a) {
      telemetry.action(a);
      for (const s of sinks) s.send(a);
    },
    async close() {
      await Promise.all(sinks.map((s) => s.close()));
    },
  };
}
