import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './process';

// Debian's nginx (scripts/services/nginx.sh) running deploy/nginx/chatbox.conf in front of the app,
// for the TLS e2e suites (test/e2e/tls-nginx*.e2e-spec.ts).
export const NGINX_BIN = process.env.NGINX_BIN ?? '/usr/sbin/nginx';
export const DEPLOY_CONF = join(__dirname, '../../deploy/nginx/chatbox.conf');

// A fresh self-signed certificate for 127.0.0.1; clients trust exactly it (`ca`), nothing is skipped.
export function makeCertificate(dir: string): Buffer {
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-subj', '/CN=chatbox-test',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ], { stdio: 'ignore' }); // prettier-ignore
  return readFileSync(join(dir, 'cert.pem'));
}

// deploy/nginx/chatbox.conf itself, with only ports, certificate, log paths and instances swapped
// (every upstream block gets the test's instances), inside an http {} with Debian's nginx.conf
// defaults (where production includes it from conf.d).
export function testConfig(dir: string, ports: { https: number; http: number }, instances: number[]): string {
  let conf = readFileSync(DEPLOY_CONF, 'utf8');
  const swap = (pattern: RegExp, replacement: string | ((text: string) => string)) => {
    if (conf.search(pattern) < 0) throw new Error(`deploy/nginx/chatbox.conf has no ${String(pattern)}`);
    conf = conf.replace(pattern, replacement as string);
  };
  swap(/^\s*listen \[::\]:.*$/gm, '');
  swap(/listen 80;/, `listen 127.0.0.1:${ports.http};`);
  swap(/listen 443 ssl http2;/, `listen 127.0.0.1:${ports.https} ssl http2;`);
  swap(/ssl_certificate \S+;/, `ssl_certificate ${dir}/cert.pem;`);
  swap(/ssl_certificate_key \S+;/, `ssl_certificate_key ${dir}/key.pem;`);
  swap(/\/var\/log\/nginx\//g, `${dir}/`);
  // each upstream's first server line stands for the instances, its parameters kept (max_fails…)
  swap(/^upstream \S+ \{[^}]*\}/gm, (block) => {
    let first = true;
    return block.replace(/^ {4}server \S+:\d+([^;]*);$/gm, (_line, parameters: string) => {
      if (!first) return '';
      first = false;
      return instances.map((port) => `    server 127.0.0.1:${port}${parameters};`).join('\n');
    });
  });
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((name) => `${name}_temp_path ${dir}/tmp/${name};`)
    .join(' ');
  return `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 256; }
http {
  sendfile on; tcp_nopush on; types_hash_max_size 2048;
  include /etc/nginx/mime.types; default_type application/octet-stream;
  gzip on;
  ${temp}
${conf}
}
`;
}

export interface Nginx {
  port: number;
  redirectPort: number;
  dir: string;
  stop(): Promise<void>;
}

// nginx as a child process (daemon off) on free loopback ports, everything it writes under its dir.
export async function startNginx(instances: number[], ca: Buffer, certDir: string): Promise<Nginx> {
  const dir = mkdtempSync(join(tmpdir(), 'nginx-'));
  // when run as root its workers drop to an unprivileged user that must reach the temp paths
  chmodSync(dir, 0o755);
  for (const name of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'])
    mkdirSync(join(dir, 'tmp', name), { recursive: true, mode: 0o777 });
  for (const file of ['cert.pem', 'key.pem'])
    writeFileSync(join(dir, file), readFileSync(join(certDir, file)));
  const ports = { https: await freePort(), http: await freePort() };
  writeFileSync(join(dir, 'nginx.conf'), testConfig(dir, ports, instances));
  const args = ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log'), '-g', 'daemon off;'];
  const child: ChildProcess = spawn(NGINX_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stderr?.on('data', (data: Buffer) => (output += data.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${output}`);
    const answer = await get(`https://127.0.0.1:${ports.https}/chat/healthz`, ca).catch(() => undefined);
    if (answer?.status === 200) break;
    if (Date.now() > deadline) throw new Error(`nginx did not become ready: ${output}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    port: ports.https,
    redirectPort: ports.http,
    dir,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export function get(url: string, ca: Buffer, headers: Record<string, string> = {}): Promise<Answer> {
  return send(url, ca, { method: 'GET', headers });
}

export function send(
  url: string,
  ca: Buffer,
  options: { method: string; headers: Record<string, string>; body?: Buffer },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = (url.startsWith('https:') ? httpsRequest : httpRequest)(
      url,
      { method: options.method, headers: options.headers, ca },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: Buffer.concat(chunks),
          }),
        );
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(options.body);
  });
}
