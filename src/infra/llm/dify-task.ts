import type { EventSourceMessage } from 'eventsource-parser';
import { readSseEvents } from './sse-events';

// how long a stopped chat request is read on to learn its task's id before it is given up
export const TASK_LEARN_MS = 5_000;

// A Dify chat request's events, read for the generator until the request is stopped. Closing the
// connection does not stop a Dify task (it keeps generating and billing), only its stop call does,
// and that needs the task's id, which comes with the first event. A stop before then (the user's,
// or the reply's idle timeout while Dify thinks) ended the read at once and the task ran on
// (session 33's notes); now the generator still ends at once, and the read goes on in the background
// until the first event names the task (TASK_LEARN_MS at most), which is then stopped. The request
// runs on `connection`, this class's own signal: aborting it is what closes the connection.
export class DifyTask {
  id?: string;
  private iterator?: AsyncIterator<EventSourceMessage>;
  private pending?: Promise<IteratorResult<EventSourceMessage>>;
  private readonly stopped: Promise<never>;
  private handedOff = false;

  constructor(
    private readonly connection: AbortController,
    private readonly signal: AbortSignal,
    private readonly stop: (taskId: string) => void,
    private readonly taskOf: (data: string) => string | undefined,
  ) {
    this.stopped = new Promise<never>((_, reject) => {
      const aborted = () => reject(signal.reason instanceof Error ? signal.reason : abortError());
      if (signal.aborted) aborted();
      else signal.addEventListener('abort', aborted, { once: true });
    });
    // raced, never awaited alone: its rejection is handled by whoever races it
    this.stopped.catch(() => undefined);
  }

  // `work` unless the request is stopped first: then `onStop` takes over what `work` still owes
  private async race<T>(work: Promise<T>, onStop: (work: Promise<T>) => Promise<void>): Promise<T> {
    try {
      return await Promise.race([work, this.stopped]);
    } catch (error) {
      if (this.signal.aborted && !this.handedOff) {
        this.handedOff = true;
        work.catch(() => undefined);
        void onStop(work).finally(() => this.connection.abort());
      }
      throw error;
    }
  }

  // the response's headers, or the stop
  response(post: Promise<Response>): Promise<Response> {
    return this.race(post, async (late) => {
      const response = await late.catch(() => undefined);
      if (response?.body) this.iterator = readSseEvents(response.body as ReadableStream<Uint8Array>);
      await this.learnAndStop();
    });
  }

  async *events(response: Response): AsyncGenerator<EventSourceMessage> {
    this.iterator = readSseEvents(response.body as ReadableStream<Uint8Array>);
    for (;;) {
      this.pending = this.iterator.next();
      const result = await this.race(this.pending, () => this.learnAndStop());
      if (result.done) return;
      this.id ??= this.taskOf(result.value.data);
      yield result.value;
    }
  }

  // the generator is done with the request (ended, failed or stopped): the connection closes, once
  // a stopped request's task is known (a consumer that stops and leaves the loop, not asking for
  // the next event, stops it here)
  close(): void {
    if (this.handedOff) return;
    if (!this.signal.aborted) return this.connection.abort();
    this.handedOff = true;
    void this.learnAndStop().finally(() => this.connection.abort());
  }

  private async learnAndStop(): Promise<void> {
    const giveUp = setTimeout(() => this.connection.abort(), TASK_LEARN_MS);
    try {
      while (!this.id && this.iterator) {
        const result = await (this.pending ?? this.iterator.next());
        this.pending = undefined;
        if (result.done) break;
        this.id = this.taskOf(result.value.data);
      }
    } catch {
      // the connection failed or was given up on: nothing to stop by
    } finally {
      clearTimeout(giveUp);
    }
    if (this.id) this.stop(this.id);
  }
}

export function abortError(): Error {
  const error = new Error('aborted');
  error.name = 'AbortError';
  return error;
}
