// A/B of one measurement across builds of different commits, on one machine in one window: the
// compiled bench file `script` of each build (a `tsc` output of the rooms bench config, with
// node_modules linked) runs in a child process per round, builds interleaved, and reports one
// number. Without builds, the running one is measured. Used by rooms-hub-loop.ts and
// rooms-record-cpu.ts.
import { fork } from 'node:child_process';
import { join } from 'node:path';

export interface AbBench {
  // the compiled file's name under `<build>/bench/`
  script: string;
  // the environment variable that marks the child (set to '1' in it)
  childVariable: string;
  // the one that lists the builds (cleared in the child)
  buildsVariable: string;
  rounds: number;
  // the measurement, in the child
  measure: () => number | Promise<number>;
  // a measured value as printed, e.g. `12.3 µs/message`
  format: (value: number) => string;
}

export async function runAb(bench: AbBench): Promise<void> {
  if (process.env[bench.childVariable] === '1') {
    const value = await bench.measure();
    if (process.send) process.send({ value }, () => process.exit(0));
    else console.log(bench.format(value));
    return;
  }
  const listed = (process.env[bench.buildsVariable] ?? '').split(',').filter((build) => build !== '');
  const builds = listed.length > 0 ? listed : [join(__dirname, '..')];
  const results = new Map<string, number[]>(builds.map((build) => [build, []]));
  for (let round = 0; round < bench.rounds; round++)
    for (const build of builds) {
      const value = await inChild(bench, build);
      results.get(build)?.push(value);
      console.log(`round ${round + 1} ${build}: ${bench.format(value)}`);
    }
  for (const [build, values] of results)
    console.log(
      `${build}: ${bench.format(Math.min(...values))} – ${bench.format(Math.max(...values))} (${values.length} runs)`,
    );
}

function inChild(bench: AbBench, build: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = fork(join(build, 'bench', bench.script), [], {
      env: { ...process.env, [bench.childVariable]: '1', [bench.buildsVariable]: '' },
    });
    child.once('message', (message: { value: number }) => resolve(message.value));
    child.once('error', reject);
    child.once('exit', (code) => (code !== 0 ? reject(new Error(`${build}: exit ${code}`)) : undefined));
  });
}
