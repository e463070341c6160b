import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

// Every path the app serves, read from its source so a new controller or socket cannot be missed
// by the production fronts (helm/chatbox's Ingress, deploy/nginx/chatbox.conf): each HTTP route of
// each controller (a `:param` segment filled in), the two socket paths, the two static front ends,
// and /metrics, which the fronts must not route (docs/operations.md, "Running it").
export interface ServedPaths {
  http: string[];
  sockets: string[];
  internal: string[];
}

const SRC = join(__dirname, '../../src');
const DECORATOR = /@(Controller|Get|Post|Put|Patch|Delete|All)\(\s*(?:'([^']*)')?/g;
const GATEWAY = /@WebSocketGateway\(\{[^}]*path: '([^']+)'/g;
const METRICS = /PrometheusModule\.register\(\{[^}]*path: '([^']+)'/;

function sourceFiles(): string[] {
  return (readdirSync(SRC, { recursive: true }) as string[])
    .filter((file) => file.endsWith('.ts') && !file.endsWith('.spec.ts'))
    .map((file) => join(SRC, file));
}

const concrete = (...parts: string[]) =>
  `/${parts
    .flatMap((part) => part.split('/'))
    .filter(Boolean)
    .map((segment) => (segment.startsWith(':') ? 'x' : segment))
    .join('/')}`;

export function servedPaths(): ServedPaths {
  const http = new Set<string>(['/chat/', '/admin/']); // bootstrap.ts: the built front ends
  const sockets = new Set<string>();
  const internal = new Set<string>();
  for (const file of sourceFiles()) {
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(GATEWAY)) sockets.add(match[1]);
    // the Prometheus controller is mounted at the module's path, not its @Controller()'s
    const metrics = METRICS.exec(text)?.[1];
    if (metrics) internal.add(metrics);
    // a route above every @Controller is a base class's: it serves under each controller extending it
    const inherited: string[] = [];
    const controllers: Array<{ prefix: string; extending: boolean }> = [];
    for (const match of text.matchAll(DECORATOR)) {
      const [, kind, path = ''] = match;
      const current = controllers.at(-1);
      if (kind === 'Controller') {
        const declaration = /\bclass \w+( extends)?/.exec(text.slice(match.index));
        controllers.push({ prefix: metrics ?? path, extending: Boolean(declaration?.[1]) });
      } else if (!current) inherited.push(path);
      else if (current.prefix !== metrics) http.add(concrete(current.prefix, path));
    }
    for (const { prefix, extending } of controllers)
      if (extending && prefix !== metrics) for (const path of inherited) http.add(concrete(prefix, path));
  }
  return { http: [...http].sort(), sockets: [...sockets].sort(), internal: [...internal] };
}
