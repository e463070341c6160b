// Reads a V8 CPU profile (.cpuprofile, as the inspector's Profiler.stop returns it) and says where
// the time went: by package, by function (self time), and by app function including callees.

export interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    children?: number[];
  }[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

interface Frame {
  key: string;
  area: string;
  app: boolean;
}

// `/…/node_modules/@nestjs/core/x.js` → `@nestjs/core`; app code → `chatbox`; the rest by kind.
function areaOf(url: string, functionName: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : 'v8/native';
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const parts = url.slice(modules + '/node_modules/'.length).split('/');
    return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
  }
  if (url.startsWith('node:')) return 'node core';
  if (url.includes('/dist/')) return 'chatbox';
  if (url.includes('/bench/')) return 'bench';
  return 'other';
}

function shortUrl(url: string): string {
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) return url.slice(modules + '/node_modules/'.length);
  const dist = url.lastIndexOf('/dist/');
  if (dist >= 0) return `src/${url.slice(dist + '/dist/'.length).replace(/\.js$/, '.ts')}`;
  return url.replace(/^file:\/\//, '');
}

function top(map: Map<string, number>, total: number, count: number): string[] {
  return [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([key, micros]) => `  ${((100 * micros) / total).toFixed(1).padStart(5)}%  ${key}`);
}

export function summarizeProfile(profile: CpuProfile, count = 15): string {
  const frames = new Map<number, Frame>();
  const parents = new Map<number, number>();
  for (const node of profile.nodes) {
    const { functionName, url, lineNumber } = node.callFrame;
    const area = areaOf(url, functionName);
    const name = functionName || '(anonymous)';
    const key = url === '' ? name : `${name}  ${shortUrl(url)}:${lineNumber + 1}`;
    frames.set(node.id, { key, area, app: area === 'chatbox' });
    for (const child of node.children ?? []) parents.set(child, node.id);
  }
  const selfByArea = new Map<string, number>();
  const selfByFunction = new Map<string, number>();
  const totalByAppFunction = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((nodeId, index) => {
    const micros = profile.timeDeltas[index] ?? 0;
    const leaf = frames.get(nodeId);
    if (!leaf || leaf.key === '(idle)') return;
    total += micros;
    selfByArea.set(leaf.area, (selfByArea.get(leaf.area) ?? 0) + micros);
    selfByFunction.set(leaf.key, (selfByFunction.get(leaf.key) ?? 0) + micros);
    // inclusive time: each app function once per sample, however deep the recursion
    const seen = new Set<string>();
    for (let id: number | undefined = nodeId; id !== undefined; id = parents.get(id)) {
      const frame = frames.get(id);
      if (frame?.app && !seen.has(frame.key)) {
        seen.add(frame.key);
        totalByAppFunction.set(frame.key, (totalByAppFunction.get(frame.key) ?? 0) + micros);
      }
    }
  });
  if (total === 0) return '  (no busy samples)';
  return [
    `  busy ${(total / 1000).toFixed(0)} ms of ${((profile.endTime - profile.startTime) / 1000).toFixed(0)} ms profiled`,
    '  self time by package:',
    ...top(selfByArea, total, count),
    '  self time by function:',
    ...top(selfByFunction, total, count),
    '  chatbox functions, time including callees:',
    ...top(totalByAppFunction, total, count),
  ].join('\n');
}
