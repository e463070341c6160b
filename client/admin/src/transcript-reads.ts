import { ApiError } from '../../shared/api';
import type { LinkState } from '../../chat/src/chat-socket';

// The session panel's reads of the stored transcript: on each refresh of the dashboard, and at once
// when the admin's link connects again after a drop (its frames were missed meanwhile; the next poll
// may be a minute away). Only the newest read counts, and a failed one's code (NETWORK) is shown
// until a read succeeds: until the client audit (t13) it stayed on screen after the network was back.
export class TranscriptReads<T> {
  failure: string | null = null;
  private runs = 0;

  constructor(
    private readonly read: () => Promise<T>,
    private readonly apply: (detail: T) => void,
    private readonly changed: () => void,
  ) {}

  async run(): Promise<void> {
    const run = ++this.runs;
    try {
      const detail = await this.read();
      if (run !== this.runs) return;
      this.failure = null;
      this.apply(detail);
    } catch (failure) {
      if (run !== this.runs) return;
      this.failure = failure instanceof ApiError ? failure.code : 'INTERNAL';
    }
    this.changed();
  }

  // Reads again whenever `link` is connected again after it was not; returns the unsubscribe.
  follow(link: { onState(listener: (state: LinkState) => void): () => void }): () => void {
    let down = false;
    return link.onState((state) => {
      if (state.kind !== 'connected') down = true;
      else if (down) {
        down = false;
        void this.run();
      }
    });
  }

  // The panel closed: answers still on their way change nothing.
  stop(): void {
    this.runs++;
  }
}
