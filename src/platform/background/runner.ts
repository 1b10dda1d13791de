/**
 * Periodic background work (credit expiry, webhook delivery, billing cycles…). Each task is a function that does one
 * bounded batch and says whether more is waiting; the runner calls it again at once while it reports more, otherwise
 * after its interval. Tasks never run inside a request, never overlap with themselves, and stop cleanly on close.
 * Tests do not start the runner: they call the task functions directly with a TestClock.
 */
export interface BackgroundTask {
  name: string;
  intervalMs: number;
  /** Do one bounded batch; return true when more work is already due. */
  run(): Promise<boolean>;
  /** Optional: finish work the task started outside run() (e.g. requests in flight); called by the runner's stop. */
  stop?(): Promise<void>;
}

export interface BackgroundLogger {
  error(obj: unknown, msg?: string): void;
}

export interface BackgroundRunner {
  start(): void;
  /** Stops scheduling and waits for batches in flight. */
  stop(): Promise<void>;
}

export function createBackgroundRunner(tasks: BackgroundTask[], logger: BackgroundLogger): BackgroundRunner {
  let stopped = true;
  const timers = new Set<NodeJS.Timeout>();
  const inFlight = new Set<Promise<void>>();

  const schedule = (task: BackgroundTask, delayMs: number) => {
    if (stopped) return;
    const timer = setTimeout(() => {
      timers.delete(timer);
      const batch = (async () => {
        let more = false;
        try {
          more = await task.run();
        } catch (error) {
          logger.error({ err: error, task: task.name }, 'background task failed; retrying after its interval');
        }
        schedule(task, more ? 0 : task.intervalMs);
      })();
      inFlight.add(batch);
      void batch.finally(() => inFlight.delete(batch));
    }, delayMs);
    timer.unref();
    timers.add(timer);
  };

  return {
    start() {
      if (!stopped) return;
      stopped = false;
      for (const task of tasks) schedule(task, Math.min(task.intervalMs, 1000));
    },
    async stop() {
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await Promise.allSettled([...inFlight]);
      await Promise.allSettled(tasks.map((task) => task.stop?.()));
    },
  };
}
