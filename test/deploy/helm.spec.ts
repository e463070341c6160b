import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { parseDuration } from '../../src/config/duration';
import { servedPaths } from '../helpers/served-paths';

// helm/chatbox rendered by a real helm (built from source by scripts/tools/helm.sh; `npm test` gets
// it from scripts/services/helm.sh as HELM_BIN) and read back as YAML.
const ROOT = join(__dirname, '../..');
const CHART = join(ROOT, 'helm/chatbox');
const MIB = 1024 * 1024;

// Settings the app reads: every NAME= line of .env.example (CONTRACT §5 and the README additions).
const SETTINGS = new Set(
  readFileSync(join(ROOT, '.env.example'), 'utf8')
    .split('\n')
    .map((line) => /^([A-Z][A-Z0-9_]*)=/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined),
);
const CREDENTIALS = [
  'MONGODB_URI', 'JWT_SECRET', 'ENCRYPTION_KEY', 'ENCRYPTION_KEY_PREVIOUS', 'REDIS_URL', 'LLM_PROVIDERS',
  'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY', 'SMTP_URL', 'TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN',
]; // prettier-ignore

// Distinctive values, so a leak into the ConfigMap is found by value as well as by name.
const REQUIRED_SECRETS = {
  MONGODB_URI: 'mongodb://chatbox:mongo-pass-7f3a@mongo:27017/chatbox',
  ENCRYPTION_KEY: 'q0FzN3y1bUJtQWdzbXh0QkZ6cXJ0b0Z4a1JzV2Q1Yk0=',
  JWT_SECRET: 'jwt-secret-9c1e-that-is-longer-than-32-characters',
};
const REDIS_URL = 'redis://:redis-pass-41b2@redis:6379';

// rendered Kubernetes objects, read loosely: the assertions say what matters
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Manifest = Record<string, any> & {
  kind: string;
  metadata: { name?: string; annotations?: Record<string, string> };
};

function findHelm(): { bin?: string; reason?: string } {
  const fromService = process.env.HELM_BIN;
  if (fromService && existsSync(fromService)) return { bin: fromService };
  if (process.env.HELM_UNAVAILABLE) return { reason: process.env.HELM_UNAVAILABLE };
  // run alone (npx jest --selectProjects deploy): build it here, instant once cached
  const built = spawnSync('bash', [join(ROOT, 'scripts/tools/helm.sh')], {
    encoding: 'utf8',
    timeout: 15 * 60_000,
  });
  if (built.status === 0 && existsSync(built.stdout.trim())) return { bin: built.stdout.trim() };
  const lastLine = `${built.stderr ?? ''}${built.error?.message ?? ''}`.trim().split('\n').pop();
  return { reason: `scripts/tools/helm.sh could not build helm (${lastLine})` };
}

const helm = findHelm();
if (!helm.bin) console.warn(`[helm spec] SKIPPED: ${helm.reason}`);
const describeHelm = helm.bin ? describe : describe.skip;

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'chatbox-helm-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

function runHelm(args: string[], values: object) {
  const file = join(work, `values-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(values)); // JSON is YAML: no --set escaping
  return spawnSync(helm.bin as string, [...args, CHART, '-f', file], { encoding: 'utf8', timeout: 60_000 });
}

function render(values: object): Manifest[] {
  const result = runHelm(['template', 'chat', '--namespace', 'apps'], values);
  if (result.status !== 0) throw new Error(`helm template failed: ${result.stderr}`);
  return parseAllDocuments(result.stdout)
    .map((document) => document.toJS() as Manifest | null)
    .filter((manifest): manifest is Manifest => manifest !== null);
}

function renderError(values: object): string {
  const result = runHelm(['template', 'chat'], values);
  expect(result.status).not.toBe(0);
  return result.stderr;
}

function only(manifests: Manifest[], kind: string): Manifest {
  const found = manifests.filter((manifest) => manifest.kind === kind);
  expect(found).toHaveLength(1);
  return found[0];
}

const withSecrets = (values: Record<string, unknown> = {}) => ({
  ...values,
  secrets: { values: { ...REQUIRED_SECRETS, ...((values.secrets as { values?: object })?.values ?? {}) } },
});

function container(manifests: Manifest[]) {
  return only(manifests, 'Deployment').spec.template.spec.containers[0];
}

describeHelm(`helm/chatbox chart${helm.bin ? '' : ` (skipped: ${helm.reason})`}`, () => {
  describe('defaults + the required secrets', () => {
    let manifests: Manifest[];
    beforeAll(() => {
      manifests = render(withSecrets());
    });

    it('should pass helm lint --strict', () => {
      const result = runHelm(['lint', '--strict'], withSecrets());
      expect(result.stdout).toContain('0 chart(s) failed');
      expect(result.status).toBe(0);
    });

    it('should render the workload, its settings, network and disruption objects', () => {
      const kinds = manifests.map((manifest) => manifest.kind).sort();
      expect(kinds).toEqual(
        [
          'ConfigMap',
          'Deployment',
          'Ingress',
          'Ingress',
          'PodDisruptionBudget',
          'Secret',
          'Service',
          'ServiceAccount',
        ].sort(),
      );
      expect(only(manifests, 'Deployment').spec.replicas).toBe(1);
    });

    it('should probe /chat/readyz for readiness and /chat/healthz for liveness and startup on the app port', () => {
      const main = container(manifests);
      const configMap = only(manifests, 'ConfigMap');
      expect(main.ports).toEqual([{ name: 'http', containerPort: 3000, protocol: 'TCP' }]);
      expect(Number(configMap.data.PORT)).toBe(3000);
      expect(main.readinessProbe.httpGet).toEqual({ path: '/chat/readyz', port: 'http' });
      expect(main.livenessProbe.httpGet).toEqual({ path: '/chat/healthz', port: 'http' });
      expect(main.startupProbe.httpGet).toEqual({ path: '/chat/healthz', port: 'http' });
      // the startup probe covers a slow MongoDB connect; liveness never kills a booting pod
      expect(main.startupProbe.periodSeconds * main.startupProbe.failureThreshold).toBeGreaterThanOrEqual(60);
      expect(only(manifests, 'Service').spec.ports[0].targetPort).toBe('http');
    });

    it('should set ingress-nginx up for WebSocket and streaming, with the body limit of UPLOAD_MAX_BYTES', () => {
      const ingress = manifests.find(
        (manifest) => manifest.kind === 'Ingress' && manifest.metadata.name === 'chat-chatbox',
      ) as Manifest;
      const annotations = ingress.metadata.annotations as Record<string, string>;
      const heartbeatSeconds = 30; // HEARTBEAT_INTERVAL default: nginx must outlast the gap between pings
      for (const name of ['proxy-read-timeout', 'proxy-send-timeout'])
        expect(Number(annotations[`nginx.ingress.kubernetes.io/${name}`])).toBeGreaterThan(
          2 * heartbeatSeconds,
        );
      expect(annotations['nginx.ingress.kubernetes.io/proxy-buffering']).toBe('off');
      expect(annotations['nginx.ingress.kubernetes.io/proxy-request-buffering']).toBe('off');
      // a little above the upload limit (multipart framing) so the app answers 413 itself
      const uploadMax = Number(only(manifests, 'ConfigMap').data.UPLOAD_MAX_BYTES);
      const bodySize = /^(\d+)m$/.exec(annotations['nginx.ingress.kubernetes.io/proxy-body-size']);
      expect(bodySize).not.toBeNull();
      const bodyBytes = Number(bodySize?.[1]) * MIB;
      expect(bodyBytes).toBeGreaterThan(uploadMax);
      expect(bodyBytes).toBeLessThanOrEqual(uploadMax + 2 * MIB);
      expect(ingress.spec.ingressClassName).toBe('nginx');
      expect(ingress.spec.tls).toEqual([{ hosts: ['chat.example.com'], secretName: 'chatbox-tls' }]);
      const paths = ingress.spec.rules[0].http.paths.map((path: { path: string }) => path.path);
      // the rooms REST API beside the chat's (issue 14); /metrics stays inside the cluster
      expect(paths).toEqual(['/chat', '/admin', '/api/v1/chat']);
    });

    // ingress-nginx's access log writes the whole request line: the browser's token on /chat/ws and a
    // signed link's signature on /chat/blob would be in the controller's logs (the app redacts both)
    it('should serve the URLs that carry a secret in their query without the access log', () => {
      const ingresses = manifests.filter((manifest) => manifest.kind === 'Ingress');
      const quiet = ingresses.find((manifest) => manifest.metadata.name === 'chat-chatbox-quiet') as Manifest;
      const main = ingresses.find((manifest) => manifest.metadata.name === 'chat-chatbox') as Manifest;
      const annotations = quiet.metadata.annotations as Record<string, string>;
      expect(annotations['nginx.ingress.kubernetes.io/enable-access-log']).toBe('false');
      // an instance refusing a socket with 503 (MAX_SOCKETS, its store away) sends the client to another
      expect(annotations['nginx.ingress.kubernetes.io/proxy-next-upstream']).toBe('error timeout http_503');
      expect(main.metadata.annotations?.['nginx.ingress.kubernetes.io/enable-access-log']).toBeUndefined();
      // the same WebSocket and streaming set-up as the rest
      for (const [name, value] of Object.entries(main.metadata.annotations ?? {}))
        expect(annotations[name]).toBe(value);
      expect(
        quiet.spec.rules[0].http.paths.map((path: { path: string; pathType: string }) => [
          path.path,
          path.pathType,
        ]),
      ).toEqual([
        ['/chat/ws', 'Exact'],
        ['/ws/chat', 'Exact'],
        ['/chat/blob', 'Prefix'],
      ]);
      expect(quiet.spec.rules[0].host).toBe(main.spec.rules[0].host);
      expect(quiet.spec.tls).toEqual(main.spec.tls);
    });

    // Every path the app serves (read from its controllers and gateways) reaches it. Until the deploy
    // audit the rooms REST API (/api/v1/chat, which the web chat and the dashboard call) and the rooms
    // socket (/ws/chat) of issue 14 were not routed at all; /metrics never is (docs/operations.md).
    it('should route every path the app serves, its sockets without the access log, and never /metrics', () => {
      const rules = manifests
        .filter((manifest) => manifest.kind === 'Ingress')
        .flatMap((ingress) =>
          ingress.spec.rules[0].http.paths.map((rule: { path: string; pathType: string }) => ({
            ingress: ingress.metadata.name as string,
            ...rule,
          })),
        );
      // ingress-nginx: Exact is the path itself, Prefix whole segments; the longest rule wins
      const routeOf = (path: string) =>
        rules
          .filter((rule) =>
            rule.pathType === 'Exact'
              ? path === rule.path
              : path === rule.path || path.startsWith(`${rule.path}/`),
          )
          .sort((a, b) => b.path.length - a.path.length)[0];
      const served = servedPaths();
      expect(served.sockets).toEqual(['/chat/ws', '/ws/chat']);
      expect(served.http).toEqual(expect.arrayContaining(['/api/v1/chat/rooms', '/chat/readyz']));
      expect(served.http.filter((path) => !routeOf(path))).toEqual([]);
      for (const socket of served.sockets) expect(routeOf(socket)?.ingress).toBe('chat-chatbox-quiet');
      expect(served.internal).toEqual(['/metrics']);
      for (const path of served.internal) expect(routeOf(path)).toBeUndefined();
    });

    it('should keep credentials out of the ConfigMap, by name and by value, and put them in the Secret', () => {
      const configMap = only(manifests, 'ConfigMap');
      const data = configMap.data as Record<string, string>;
      for (const name of CREDENTIALS) expect(data).not.toHaveProperty(name);
      const text = JSON.stringify(configMap);
      for (const value of [...Object.values(REQUIRED_SECRETS), 'mongo-pass-7f3a'])
        expect(text).not.toContain(value);
      expect(only(manifests, 'Secret').stringData).toEqual(REQUIRED_SECRETS);
      expect(container(manifests).envFrom).toEqual([
        { configMapRef: { name: 'chat-chatbox' } },
        { secretRef: { name: 'chat-chatbox' } },
      ]);
    });

    it('should name only settings the app reads (.env.example)', () => {
      expect(SETTINGS.size).toBeGreaterThan(50);
      const names = [
        ...Object.keys(only(manifests, 'ConfigMap').data),
        ...Object.keys(only(manifests, 'Secret').stringData),
        ...(container(manifests).env ?? []).map((variable: { name: string }) => variable.name),
      ];
      expect(names.filter((name) => !SETTINGS.has(name))).toEqual([]);
    });

    it('should run as uid 1000 on a read-only root, with UPLOAD_DIR and /tmp writable', () => {
      const pod = only(manifests, 'Deployment').spec.template.spec;
      const main = container(manifests);
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, fsGroup: 1000 });
      expect(main.securityContext).toMatchObject({
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
      });
      const uploadDir = only(manifests, 'ConfigMap').data.UPLOAD_DIR;
      const mounts = Object.fromEntries(
        main.volumeMounts.map((mount: { name: string; mountPath: string }) => [mount.mountPath, mount.name]),
      );
      expect(mounts).toEqual({ [uploadDir]: 'uploads', '/tmp': 'tmp' });
      const volumes = Object.fromEntries(
        pod.volumes.map((volume: { name: string }) => [volume.name, volume]),
      );
      expect(volumes.uploads.emptyDir).toBeDefined();
      expect(volumes.tmp.emptyDir).toBeDefined();
      expect(pod.automountServiceAccountToken).toBe(false);
    });

    it('should prefer spreading replicas over nodes', () => {
      const affinity = only(manifests, 'Deployment').spec.template.spec.affinity;
      const term =
        affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm;
      expect(term.topologyKey).toBe('kubernetes.io/hostname');
      expect(term.labelSelector.matchLabels).toEqual(only(manifests, 'Deployment').spec.selector.matchLabels);
    });

    it('should roll the pods when a setting or a secret changes (checksum annotations)', () => {
      const annotations = (values: object) =>
        only(render(values), 'Deployment').spec.template.metadata.annotations;
      const before = annotations(withSecrets());
      const config = annotations(withSecrets({ config: { LOG_LEVEL: 'debug' } }));
      const secret = annotations(withSecrets({ secrets: { values: { JWT_SECRET: `${'x'.repeat(40)}` } } }));
      expect(before['checksum/config']).toMatch(/^[0-9a-f]{64}$/);
      expect(config['checksum/config']).not.toBe(before['checksum/config']);
      expect(secret['checksum/secret']).not.toBe(before['checksum/secret']);
      expect(secret['checksum/config']).toBe(before['checksum/config']);
    });
  });

  // the app closes sockets with 1001 on SIGTERM, lets replies run SHUTDOWN_GRACE, stores the rest;
  // the pod must get longer than the preStop sleep plus that before it is killed
  it.each(['10s', '45s', '2m', '2500ms', '30000'])(
    'should give the pod longer than preStop + SHUTDOWN_GRACE to drain when SHUTDOWN_GRACE is %s',
    (grace) => {
      const manifests = render(withSecrets({ config: { SHUTDOWN_GRACE: grace } }));
      const pod = only(manifests, 'Deployment').spec.template.spec;
      const preStop: string[] = container(manifests).lifecycle.preStop.exec.command;
      expect(preStop[0]).toBe('sleep');
      const sleepSeconds = Number(preStop[1]);
      expect(sleepSeconds).toBeGreaterThanOrEqual(5); // endpoints and nginx drop the pod first
      const graceSeconds = (parseDuration(grace) as number) / 1000; // the app's own parser
      expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(sleepSeconds + graceSeconds);
      expect(only(manifests, 'ConfigMap').data.SHUTDOWN_GRACE).toBe(grace);
    },
  );

  it('should refuse a hand-set terminationGracePeriodSeconds that does not cover preStop + SHUTDOWN_GRACE', () => {
    const error = renderError(withSecrets({ shutdown: { terminationGracePeriodSeconds: 15 } }));
    expect(error).toContain('must exceed preStopSleepSeconds + SHUTDOWN_GRACE');
  });

  it('should render 3 replicas with Redis and S3 when REDIS_URL is in the secrets', () => {
    const manifests = render(
      withSecrets({ replicaCount: 3, secrets: { values: { REDIS_URL } }, config: { S3_BUCKET: 'files' } }),
    );
    expect(only(manifests, 'Deployment').spec.replicas).toBe(3);
    expect(only(manifests, 'Secret').stringData.REDIS_URL).toBe(REDIS_URL);
    expect(JSON.stringify(only(manifests, 'ConfigMap'))).not.toContain('redis-pass');
    expect(only(manifests, 'PodDisruptionBudget').spec.maxUnavailable).toBe(1);
  });

  // Two instances on one store without Redis each watch turns with leases of their own: a rolling
  // update's surge pod, beside the old one still draining, answered a turn that one was finishing
  // (deploy audit, `m1, ai(m1), ai(m1)`). Without Redis the pod is replaced, never doubled.
  it('should replace the pod (Recreate) without Redis and roll with a surge pod only with Redis', () => {
    const strategy = (values: object) => only(render(values), 'Deployment').spec.strategy;
    expect(strategy(withSecrets())).toEqual({ type: 'Recreate' });
    // a Secret of the operator's may hold REDIS_URL, but the chart cannot see into it
    expect(strategy({ secrets: { existingSecret: 'chatbox-prod' } })).toEqual({ type: 'Recreate' });
    const rolling = { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } };
    expect(strategy(withSecrets({ secrets: { values: { REDIS_URL } } }))).toEqual(rolling);
    expect(strategy(withSecrets({ redis: { existingSecret: 'redis-auth' } }))).toEqual(rolling);
    expect(
      strategy(
        withSecrets({
          replicaCount: 3,
          secrets: { values: { REDIS_URL } },
          uploads: { existingClaim: 'rwx' },
        }),
      ),
    ).toEqual(rolling);
  });

  it('should fail the render when replicaCount is 3 and no Redis is given', () => {
    const error = renderError(withSecrets({ replicaCount: 3 }));
    expect(error).toContain('more than one replica');
    expect(error).toContain('needs Redis');
    expect(error).toContain('secrets.values.REDIS_URL or redis.existingSecret');
  });

  // Found by the deployment-edge black-box audit in session 42 (replicaCount 2 and autoscaling both
  // rendered with the default uploads): an emptyDir per pod as UPLOAD_DIR, so a file was stored on
  // the pod that took the upload and its signed link was 404 on every other pod.
  it('should refuse several replicas whose uploads would each stay on a pod of their own (no S3, no shared claim)', () => {
    const redis = { secrets: { values: { REDIS_URL } } };
    for (const scale of [{ replicaCount: 2 }, { autoscaling: { enabled: true } }]) {
      const error = renderError(withSecrets({ ...scale, ...redis }));
      expect(error).toContain(
        'needs uploads every pod can read: set config.S3_BUCKET, or uploads.existingClaim',
      );
    }
    const volumes = (values: object) =>
      only(render(withSecrets({ replicaCount: 2, ...redis, ...values })), 'Deployment').spec.template.spec
        .volumes;
    expect(volumes({ config: { S3_BUCKET: 'files' } })).toBeDefined();
    expect(volumes({ uploads: { existingClaim: 'rwx' } })).toContainEqual({
      name: 'uploads',
      persistentVolumeClaim: { claimName: 'rwx' },
    });
    // one replica keeps the default emptyDir
    expect(only(render(withSecrets(redis)), 'Deployment').spec.replicas).toBe(1);
  });

  it('should fail when autoscaling without Redis, and autoscale with REDIS_URL from an existing Secret', () => {
    expect(renderError(withSecrets({ autoscaling: { enabled: true } }))).toContain('needs Redis');
    const manifests = render(
      withSecrets({
        autoscaling: { enabled: true },
        redis: { existingSecret: 'redis-auth', existingSecretKey: 'url' },
        config: { S3_BUCKET: 'files' },
      }),
    );
    expect(only(manifests, 'Deployment').spec.replicas).toBeUndefined(); // the HPA owns it
    const hpa = only(manifests, 'HorizontalPodAutoscaler');
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
    expect(hpa.spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: 'chat-chatbox' });
    expect(container(manifests).env).toEqual([
      { name: 'REDIS_URL', valueFrom: { secretKeyRef: { name: 'redis-auth', key: 'url' } } },
    ]);
  });

  it('should use an existing Secret instead of making one', () => {
    const manifests = render({ secrets: { existingSecret: 'chatbox-prod' } });
    expect(manifests.some((manifest) => manifest.kind === 'Secret')).toBe(false);
    expect(container(manifests).envFrom[1]).toEqual({ secretRef: { name: 'chatbox-prod' } });
  });

  it('should fail without the required secrets, naming the value to set', () => {
    expect(renderError({})).toContain('secrets.values.MONGODB_URI is required');
    // the app refuses both JWT settings at boot: the chart says so before a pod crash-loops
    expect(
      renderError(
        withSecrets({
          config: { JWT_PUBLIC_KEY: '-----BEGIN PUBLIC KEY-----\nx\n-----END PUBLIC KEY-----' },
        }),
      ),
    ).toContain('not both');
    const { ENCRYPTION_KEY: _omitted, ...rest } = REQUIRED_SECRETS;
    expect(renderError({ secrets: { values: rest } })).toContain('secrets.values.ENCRYPTION_KEY is required');
  });

  it('should refuse a credential in config and a name the app does not read', () => {
    expect(renderError(withSecrets({ config: { SMTP_URL: 'smtp://u:p@mail' } }))).toContain(
      'config.SMTP_URL holds a credential',
    );
    expect(renderError(withSecrets({ config: { NODE_ENV: 'production' } }))).toContain(
      'config.NODE_ENV is not a chatbox setting',
    );
    expect(renderError(withSecrets({ secrets: { values: { OPENAI_API_KEY: 'sk-x' } } }))).toContain(
      'secrets.values.OPENAI_API_KEY is not a chatbox setting',
    );
  });

  it('should ship values.yaml without secret defaults and with only known setting names', () => {
    const values = parse(readFileSync(join(CHART, 'values.yaml'), 'utf8'));
    expect(values.secrets.values).toEqual({});
    expect(values.secrets.existingSecret).toBe('');
    for (const name of Object.keys(values.config)) {
      expect(SETTINGS.has(name)).toBe(true);
      expect(CREDENTIALS).not.toContain(name);
    }
  });

  it('should let only the ingress controller and Prometheus reach the pods when the NetworkPolicy is on', () => {
    const manifests = render(withSecrets({ networkPolicy: { enabled: true } }));
    const policy = only(manifests, 'NetworkPolicy');
    expect(policy.spec.podSelector.matchLabels).toEqual(only(manifests, 'Service').spec.selector);
    expect(policy.spec.policyTypes).toEqual(['Ingress']);
    const appPort = [{ port: 'http', protocol: 'TCP' }];
    expect(policy.spec.ingress).toEqual([
      {
        from: [
          {
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } },
            podSelector: { matchLabels: { 'app.kubernetes.io/name': 'ingress-nginx' } },
          },
        ],
        ports: appPort,
      },
      {
        from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }],
        ports: appPort,
      },
    ]);
    // the named port is the container's
    expect(container(manifests).ports.map((port: { name: string }) => port.name)).toContain('http');
    const unscraped = render(withSecrets({ networkPolicy: { enabled: true, metricsNamespace: '' } }));
    expect(only(unscraped, 'NetworkPolicy').spec.ingress).toHaveLength(1);
    const lint = runHelm(['lint', '--strict'], withSecrets({ networkPolicy: { enabled: true } }));
    expect(lint.status).toBe(0);
  });

  it('should scrape GET /metrics on the app port with the ServiceMonitor when enabled', () => {
    const manifests = render(withSecrets({ serviceMonitor: { enabled: true } }));
    const monitor = only(manifests, 'ServiceMonitor');
    expect(monitor.spec.endpoints).toEqual([{ port: 'http', path: '/metrics', interval: '30s' }]);
    expect(monitor.spec.selector.matchLabels).toEqual(only(manifests, 'Service').spec.selector);
    // the path the app registers (MetricsModule), not a guess
    const metricsModule = readFileSync(join(ROOT, 'src/modules/metrics/metrics.module.ts'), 'utf8');
    expect(metricsModule).toContain("path: '/metrics'");
  });
});
