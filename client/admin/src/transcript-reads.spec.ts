import { ApiError } from '../../shared/api';
import { FakeWebSocket, installFakeBrowser, removeFakeBrowser } from '../../shared/testing/fake-web-socket';
import { AdminLink } from './admin-link';
import { TranscriptReads } from './transcript-reads';

const TOKEN = 'e30.e30.c2ln';
const settle = () => new Promise((resolve) => setImmediate(resolve));

// The session panel's reads of the stored transcript (client audit t13: a failed read's "No
// connection" stayed on screen after the network was back and the reads worked again; and a link
// that connected again waited for the next poll to show what it missed).
describe(TranscriptReads.name, () => {
  beforeEach(() => installFakeBrowser());
  afterEach(() => removeFakeBrowser());

  const reader = (answers: Array<() => Promise<string>>) => {
    const applied: string[] = [];
    let calls = 0;
    const reads = new TranscriptReads(
      () => answers[Math.min(calls++, answers.length - 1)](),
      (detail) => applied.push(detail),
      () => undefined,
    );
    return { reads, applied, calls: () => calls };
  };

  it("should show a failed read's code until a read succeeds", async () => {
    const { reads, applied } = reader([
      () => Promise.reject(new ApiError('NETWORK', 0)),
      () => Promise.resolve('transcript'),
    ]);
    await reads.run();
    expect(reads.failure).toBe('NETWORK');
    await reads.run();
    expect(reads.failure).toBeNull();
    expect(applied).toEqual(['transcript']);
  });

  it('should take only the newest read: an older answer coming last changes nothing', async () => {
    let release: (value: string) => void = () => undefined;
    const { reads, applied } = reader([
      () => new Promise((resolve) => (release = resolve)),
      () => Promise.reject(new ApiError('NETWORK', 0)),
      () => Promise.resolve('newest'),
    ]);
    const slow = reads.run();
    await reads.run();
    release('old');
    await slow;
    expect(applied).toEqual([]);
    expect(reads.failure).toBe('NETWORK');
  });

  it('should read again at once when the link connects again after a drop, not on its first connect', async () => {
    const link = new AdminLink(TOKEN);
    const { reads, calls } = reader([() => Promise.resolve('transcript')]);
    const stop = reads.follow(link);
    FakeWebSocket.last.connect();
    expect(calls()).toBe(0);
    FakeWebSocket.last.close(1006);
    link.socket.reconnectNow();
    FakeWebSocket.last.connect();
    await settle();
    expect(calls()).toBe(1);
    stop();
    link.socket.stop();
  });
});
