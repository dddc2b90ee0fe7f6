// Time limits of wake and suspend steps: a step that outlives its deadline, or pgporter's shutdown, fails with an error naming what it was doing.

/** Settles with `promise`, or rejects at the deadline or when pgporter shuts down, whichever comes first. */
export function withDeadline<T>(promise: Promise<T>, deadlineMs: number, onTimeout: () => Error, shutdown: AbortSignal): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const stop = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), Math.max(0, deadlineMs - Date.now()));
    onAbort = () => reject(new Error('pgporter is shutting down'));
    if (shutdown.aborted) onAbort();
    else shutdown.addEventListener('abort', onAbort, { once: true });
  });
  promise.catch(() => {}); // a late failure after the timeout is already reported
  return Promise.race([promise, stop]).finally(() => {
    clearTimeout(timer);
    shutdown.removeEventListener('abort', onAbort!);
  });
}


/** A duration as the config spells it: `30s`, or `1500ms`. */
export function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}
