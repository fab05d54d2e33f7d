// dockerode through the proxy: a build followed with followProgress, and
// run (create, attach, start, wait) with its exit code. Run by
// TestE2ENodeSDK with DOCKER_HOST set to the proxy; exits non-zero on the
// first thing a user would see go wrong.
'use strict';
const Docker = require('dockerode');
const { PassThrough } = require('stream');

const u = new URL(process.env.DOCKER_HOST.replace(/^tcp:/, 'http:'));
const docker = new Docker({ host: u.hostname, port: u.port, version: 'v1.41' });
const image = process.env.TEST_IMAGE, tag = process.env.TEST_TAG;
const [labelKey, labelValue] = process.env.TEST_LABEL.split('=');

function fail(what) {
  console.error(what);
  process.exit(1);
}

async function build() {
  const stream = await docker.buildImage({ context: process.env.TEST_CONTEXT, src: ['Dockerfile'] },
    { t: tag, rm: true, networkmode: 'none' });
  let progress = 0;
  const output = await new Promise((resolve, reject) => {
    docker.modem.followProgress(stream, (err, out) => (err ? reject(err) : resolve(out)), () => progress++);
  });
  const text = output.map((m) => m.stream || '').join('');
  if (output.some((m) => m.error) || !text.includes('from-node-build') || !text.includes('Successfully tagged ' + tag)) {
    fail('build: ' + JSON.stringify(output));
  }
  console.log(`build: ${output.length} messages, ${progress} progress calls`);
}

async function run() {
  const out = new PassThrough();
  let printed = '';
  out.on('data', (d) => { printed += d; });
  const [result, container] = await docker.run(image, ['sh', '-c', 'echo from-node-run; exit 4'], out,
    { Labels: { [labelKey]: labelValue }, HostConfig: { NetworkMode: 'none' } });
  await container.remove();
  if (result.StatusCode !== 4 || !printed.includes('from-node-run')) {
    fail('run: ' + JSON.stringify(result) + ' printed ' + JSON.stringify(printed));
  }
  console.log('run: ' + JSON.stringify(result));
}

build().then(run).catch((err) => fail(err.stack || String(err)));
