import { Readable, Writable } from 'node:stream';
import { BranchClosed, fanout } from './stream-fanout';

function collect(stream: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

async function* chunksOf(count: number, size: number, pulled: { count: number }) {
  for (let index = 0; index < count; index++) {
    pulled.count++;
    yield Buffer.alloc(size, index % 256);
  }
}

describe('fanout', () => {
  it('should give every branch every byte in order', async () => {
    const pulled = { count: 0 };
    const copy = fanout(chunksOf(50, 10_000, pulled), 2);
    const [first, second] = await Promise.all([
      collect(copy.branches[0]),
      collect(copy.branches[1]),
      copy.done,
    ]);
    expect(first.length).toBe(500_000);
    expect(first.equals(second)).toBe(true);
  });

  it('should pull from the source only as fast as the slowest branch reads', async () => {
    const pulled = { count: 0 };
    const copy = fanout(chunksOf(10_000, 64 * 1024, pulled), 2);
    void collect(copy.branches[0]).catch(() => undefined);
    // the second branch is not read at all: the source must stop after a few buffers' worth
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(pulled.count).toBeLessThan(20);
    copy.abort(new Error('test over'));
    copy.branches[1].resume();
    await expect(copy.done).rejects.toThrow('test over');
  });

  it('should stop and fail every branch when a consumer stops reading', async () => {
    const pulled = { count: 0 };
    const copy = fanout(chunksOf(10_000, 64 * 1024, pulled), 2);
    const sink = new Writable({ write: (_chunk, _encoding, done) => done() });
    copy.branches[0].pipe(sink);
    copy.branches[1].destroy();
    await expect(copy.done).rejects.toBeInstanceOf(BranchClosed);
    expect(copy.branches[0].destroyed).toBe(true);
    expect(pulled.count).toBeLessThan(20);
  });

  it('should fail every branch with the source error when the source fails', async () => {
    async function* failing() {
      yield Buffer.from('a');
      throw new Error('limit crossed');
    }
    const copy = fanout(failing(), 2);
    const reads = copy.branches.map((branch) => collect(branch).catch((error: Error) => error.message));
    await expect(copy.done).rejects.toThrow('limit crossed');
    expect(await Promise.all(reads)).toEqual(['limit crossed', 'limit crossed']);
  });
});
