import { stat } from 'node:fs/promises';
import { resolve, sep } from 'node:path';
import type { Request, RequestHandler } from 'express';
import helmet from 'helmet';
import type { Settings } from '../../config/settings';
import type { S3Settings } from '../../config/uploads.settings';

// as deploy/nginx/chatbox.conf sends it when nginx terminates TLS
export const HSTS_MAX_AGE_S = 63_072_000;

export type HeaderPolicy = 'admin' | 'chat' | 'api';

// Where presigned S3 links point (attachments are shown from them); nothing without S3.
export function fileSources(s3: S3Settings | undefined): string[] {
  if (!s3) return [];
  if (!s3.endpoint) return ['https://*.amazonaws.com'];
  const endpoint = new URL(s3.endpoint);
  // virtual-hosted addressing puts the bucket in front of the endpoint's host
  return s3.forcePathStyle
    ? [endpoint.origin]
    : [endpoint.origin, `${endpoint.protocol}//*.${endpoint.host}`];
}

// The parent apps allowed to frame the chat, or undefined for any: with no list (or *) the chat
// keeps embedding out of the box, webviews of file: and app schemes included, which `*` would not.
export function chatFrameAncestors(allowedOrigins: string[]): string[] | undefined {
  return allowedOrigins.length === 0 || allowedOrigins.includes('*') ? undefined : allowedOrigins;
}

// Said at boot when any page may frame the chat: such a page can hand the chat its own token, and
// the user then chats in the page's account without knowing it (login CSRF). The default keeps
// embedding working out of the box; production should name its parent apps (README, "Settings").
export function openFramingWarning(allowedOrigins: string[]): string | undefined {
  if (chatFrameAncestors(allowedOrigins) !== undefined) return undefined;
  return "ALLOWED_ORIGINS is empty or *: any site may frame /chat/ and sign its user in with its own token; set it to the parent apps' origins";
}

// The two single-page apps: no inline script, no plugins, no <base>. Preact sets styles through
// the CSSOM, which style-src does not govern, and the build emits no inline <style>.
export function pageDirectives(settings: Settings, frameAncestors: string[] | undefined) {
  const files = fileSources(settings.uploads.s3);
  return {
    'default-src': ["'self'"],
    'base-uri': ["'none'"],
    'object-src': ["'none'"],
    'script-src': ["'self'"],
    'script-src-attr': ["'none'"],
    'style-src': ["'self'"],
    'form-action': ["'self'"],
    // the socket is on this host; 'self' does not cover ws:/wss: in every browser
    'connect-src': ["'self'", 'ws:', 'wss:'],
    // attachments: /chat/files links redirect to /chat/blob or to S3; voice recordings are blob:
    'img-src': ["'self'", 'data:', 'blob:', ...files],
    'media-src': ["'self'", 'data:', 'blob:', ...files],
    ...(frameAncestors ? { 'frame-ancestors': frameAncestors } : {}),
  };
}

// One helmet per kind of answer; HSTS is added per request, only over TLS.
export function headerPolicies(settings: Settings): Record<HeaderPolicy, RequestHandler> {
  const shared = { referrerPolicy: { policy: 'no-referrer' as const }, strictTransportSecurity: false };
  return {
    // the dashboard: nobody may frame it
    admin: helmet({
      ...shared,
      contentSecurityPolicy: {
        useDefaults: false,
        directives: pageDirectives(settings, ["'none'"]),
      },
      xFrameOptions: { action: 'deny' },
    }),
    // the chat is framed by the parent apps; X-Frame-Options cannot name them, so CSP alone says
    // who may. Its files are public, and parent pages load /chat/chatbox-embed.js cross-origin.
    chat: helmet({
      ...shared,
      contentSecurityPolicy: {
        useDefaults: false,
        directives: pageDirectives(settings, chatFrameAncestors(settings.allowedOrigins)),
      },
      xFrameOptions: false,
      crossOriginResourcePolicy: { policy: 'cross-origin' },
    }),
    // JSON, redirects, metrics, errors: nothing in them may load, run or be framed
    api: helmet({
      ...shared,
      contentSecurityPolicy: {
        useDefaults: false,
        directives: { 'default-src': ["'none'"], 'frame-ancestors': ["'none'"] },
      },
      xFrameOptions: { action: 'deny' },
    }),
  };
}

// Whether express.static, mounted at `prefix` over `root`, has a file for this path.
export async function servesFile(root: string, prefix: string, path: string): Promise<boolean> {
  if (!path.startsWith(prefix)) return false;
  let relative: string;
  try {
    relative = decodeURIComponent(path.slice(prefix.length));
  } catch {
    return false;
  }
  if (relative === '' || relative.endsWith('/')) relative += 'index.html';
  const base = resolve(root);
  const file = resolve(base, relative);
  if (!file.startsWith(base + sep) || file.includes('\0')) return false;
  try {
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}

// /admin/ is only the dashboard (and /chat/api-docs the API's page); under /chat/ the chat's files are pages and the rest is the API.
export async function policyFor(
  request: Pick<Request, 'method' | 'path'>,
  chatRoot: string,
): Promise<HeaderPolicy> {
  // the API docs page (Swagger UI) is a page nobody may frame, like the dashboard
  if (request.path.startsWith('/admin/') || request.path.startsWith('/chat/api-docs')) return 'admin';
  const read = request.method === 'GET' || request.method === 'HEAD';
  if (read && (await servesFile(chatRoot, '/chat/', request.path))) return 'chat';
  return 'api';
}

// Security headers on every answer, picked by path; first in the chain so errors get them too.
// HSTS only when this request came over TLS: the app trusts no proxy header (deploy/nginx sets
// HSTS itself), so X-Forwarded-Proto cannot turn it on.
export function securityHeaders(settings: Settings, chatRoot: string): RequestHandler {
  const policies = headerPolicies(settings);
  const hsts = helmet.strictTransportSecurity({ maxAge: HSTS_MAX_AGE_S, includeSubDomains: false });
  // express 5 passes a rejected promise of a middleware on to next(error)
  return async (request, response, next) => {
    const policy = await policyFor(request, chatRoot);
    policies[policy](request, response, (error?: unknown) => {
      if (error) return next(error);
      if (request.secure) return hsts(request, response, next);
      next();
    });
  };
}
