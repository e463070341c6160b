import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';

// Addresses a model-supplied URL must never reach (SSRF): loopback, private, link-local (cloud
// metadata), carrier-grade NAT, unspecified, and their IPv6 forms.
const BLOCKED = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
  ['224.0.0.0', 3],
  // IETF protocol assignments, benchmarking
  ['192.0.0.0', 24],
  ['198.18.0.0', 15],
] as const)
  BLOCKED.addSubnet(network, prefix, 'ipv4');
for (const [network, prefix] of [
  // unspecified, loopback and the IPv4-compatible forms (::a.b.c.d)
  ['::', 96],
  // NAT64 and 6to4: an IPv4 address inside an IPv6 one
  ['64:ff9b::', 96],
  ['2002::', 16],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const)
  BLOCKED.addSubnet(network, prefix, 'ipv6');

export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  if (family === 4) return !BLOCKED.check(address, 'ipv4');
  const lower = address.toLowerCase();
  // IPv4-mapped IPv6 (::ffff:a.b.c.d or ::ffff:7f00:1) is judged as the IPv4 address it maps
  if (lower.startsWith('::ffff:')) {
    const rest = lower.slice('::ffff:'.length);
    if (isIP(rest) === 4) return isPublicAddress(rest);
    const hex = /^([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(rest);
    if (!hex) return false;
    const high = parseInt(hex[1], 16);
    const low = parseInt(hex[2], 16);
    return isPublicAddress(`${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`);
  }
  return !BLOCKED.check(address, 'ipv6');
}

export interface FetchedFile {
  data: Buffer;
  mimeType: string;
  name: string;
}

export class FileFetchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FileFetchError';
  }
}

// Downloads a file an AI produced. Only http(s), no redirects, a size cap and a timeout; the host
// must resolve to public addresses (checked at connect time, so DNS rebinding cannot slip past)
// unless it is one the operator trusts (the model's endpoint, `file_hosts`).
export function fetchGeneratedFile(
  url: string,
  options: { trustedHosts: ReadonlySet<string>; maxBytes: number; timeoutMs: number; signal?: AbortSignal },
): Promise<FetchedFile> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return Promise.reject(new FileFetchError('not a URL'));
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:')
    return Promise.reject(new FileFetchError('only http(s) URLs'));
  const trusted = options.trustedHosts.has(target.host.toLowerCase());
  const lookup: LookupFunction = (hostname, lookupOptions, callback) => {
    dnsLookup(hostname, { ...lookupOptions, all: true }, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error, '', 0);
      const usable = trusted ? addresses : addresses.filter((entry) => isPublicAddress(entry.address));
      if (usable.length === 0 || usable.length !== addresses.length)
        return callback(new FileFetchError('address not allowed'), '', 0);
      if (lookupOptions.all)
        return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, usable);
      callback(null, usable[0].address, usable[0].family);
    });
  };
  // a literal IP skips DNS: check it here
  const literal = target.hostname.replace(/^\[|\]$/g, '');
  if (!trusted && isIP(literal) !== 0 && !isPublicAddress(literal))
    return Promise.reject(new FileFetchError('address not allowed'));
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<FetchedFile>((resolve, reject) => {
    const request = send(target, {
      method: 'GET',
      lookup,
      timeout: options.timeoutMs,
      signal: options.signal,
      headers: { accept: '*/*' },
    });
    request.on('timeout', () => request.destroy(new FileFetchError('timeout')));
    request.on('error', (error) =>
      reject(error instanceof FileFetchError ? error : new FileFetchError(error.message)),
    );
    request.on('response', (response: IncomingMessage) => {
      const status = response.statusCode ?? 0;
      if (status < 200 || status >= 300) {
        response.resume();
        request.destroy();
        return reject(new FileFetchError(`HTTP ${status}`));
      }
      const declared = Number(response.headers['content-length'] ?? 0);
      if (declared > options.maxBytes) {
        request.destroy();
        return reject(new FileFetchError('too large'));
      }
      const parts: Buffer[] = [];
      let size = 0;
      let tooLarge = false;
      response.on('data', (part: Buffer) => {
        if (tooLarge) return;
        size += part.length;
        if (size > options.maxBytes) {
          tooLarge = true;
          reject(new FileFetchError('too large'));
          request.destroy();
          return;
        }
        parts.push(part);
      });
      response.on('end', () => {
        if (tooLarge) return;
        const mimeType = (response.headers['content-type'] ?? 'application/octet-stream').split(';')[0];
        resolve({
          data: Buffer.concat(parts),
          mimeType: mimeType.trim().toLowerCase(),
          name: fileNameOf(target),
        });
      });
      response.on('error', (error) => reject(new FileFetchError(error.message)));
    });
    request.end();
  });
}

function fileNameOf(url: URL): string {
  let last = url.pathname.split('/').filter(Boolean).at(-1) ?? '';
  try {
    last = decodeURIComponent(last);
  } catch {
    // a malformed escape: keep it as written
  }
  const safe = last.replace(/[^\w.\- ]+/g, '_').slice(0, 100);
  return safe.length > 0 ? safe : 'file';
}
