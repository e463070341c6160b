import fc from 'fast-check';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fetchGeneratedFile, isPublicAddress } from './file-fetcher';

describe('isPublicAddress', () => {
  it('should refuse loopback, private, link-local and mapped addresses', () => {
    for (const address of [
      '127.0.0.1',
      '10.1.2.3',
      '172.20.0.1',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '::1',
      'fd00::1',
      'fe80::1',
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
      '::ffff:a9fe:a9fe',
      // IPv4 inside IPv6 other than mapped: compatible, NAT64, 6to4 (to 127.0.0.1, 169.254.169.254)
      '::127.0.0.1',
      '64:ff9b::a9fe:a9fe',
      '2002:7f00:1::1',
      '198.18.0.1',
      '192.0.0.170',
      'not-an-ip',
    ])
      expect(isPublicAddress(address)).toBe(false);
    for (const address of ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'])
      expect(isPublicAddress(address)).toBe(true);
  });
});

describe('isPublicAddress on any input', () => {
  it('should never throw, and refuse anything that is not an IP address, when given any string', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.ipV4(), fc.ipV6()), (address) => {
        const result = isPublicAddress(address);
        expect(typeof result).toBe('boolean');
        if (!/^[\d.:a-fA-F]+$/.test(address)) expect(result).toBe(false);
      }),
    );
  });
});

describe('fetchGeneratedFile', () => {
  let server: Server;
  let host: string;
  beforeAll(async () => {
    server = createServer((request, response) => {
      if (request.url === '/big') {
        response.writeHead(200, { 'content-type': 'image/png' });
        response.end(Buffer.alloc(2048));
      } else if (request.url === '/trickle') {
        // a byte every 50 ms: never idle as long as the socket timeout
        response.writeHead(200, { 'content-type': 'image/png' });
        const timer = setInterval(() => response.write('x'), 50);
        response.on('close', () => clearInterval(timer));
      } else if (request.url === '/redirect') {
        response.writeHead(302, { location: 'http://169.254.169.254/' }).end();
      } else {
        response.writeHead(200, { 'content-type': 'image/png; charset=binary' });
        response.end(Buffer.from('png-bytes'));
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const options = (trusted: string[] = []) => ({
    trustedHosts: new Set(trusted),
    maxBytes: 1024,
    timeoutMs: 2000,
  });

  it('should download from a trusted host with its type and a safe name', async () => {
    const file = await fetchGeneratedFile(`http://${host}/files/a%20chart.png?sign=1`, options([host]));
    expect(file).toEqual({ data: Buffer.from('png-bytes'), mimeType: 'image/png', name: 'a chart.png' });
  });

  // the deadline of all of one reply's files (ReplyAttachments): a host that trickles its bytes
  // passes every idle timeout, and held the reply's storage until the size limit
  it('should give up on a host that trickles its bytes when the deadline passes', async () => {
    // without the deadline this waits for the size limit (about 50 s at this pace), past the test's timeout
    await expect(
      fetchGeneratedFile(`http://${host}/trickle`, { ...options([host]), signal: AbortSignal.timeout(300) }),
    ).rejects.toThrow();
  });

  it('should refuse private addresses of untrusted hosts, redirects, big files and other schemes', async () => {
    await expect(fetchGeneratedFile(`http://${host}/x.png`, options())).rejects.toThrow(
      'address not allowed',
    );
    await expect(
      fetchGeneratedFile(`http://localhost:${host.split(':')[1]}/x.png`, options()),
    ).rejects.toThrow('address not allowed');
    await expect(fetchGeneratedFile(`http://${host}/redirect`, options([host]))).rejects.toThrow('HTTP 302');
    await expect(fetchGeneratedFile(`http://${host}/big`, options([host]))).rejects.toThrow('too large');
    await expect(fetchGeneratedFile('file:///etc/passwd', options())).rejects.toThrow('only http(s)');
    await expect(fetchGeneratedFile('not a url', options())).rejects.toThrow('not a URL');
  });
});
