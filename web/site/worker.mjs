// The page's worker: downloads a model (progress, SHA-256 checked), runs it with onnxruntime-web, and does
// the pipeline's pre/post-processing, so the page stays responsive. One backend per worker: the page
// starts a new worker to switch.
import { cartoonOutput, generatorInput, maskOutput, portraitOutput, u2netInput } from './pipeline.mjs';

let ort = null;
const sessions = new Map(); // model id -> InferenceSession

const say = (message) => self.postMessage(message);

async function runtime(backend) {
  if (!ort) {
    ort = await import(backend === 'webgpu' ? './ort/ort.webgpu.min.mjs' : './ort/ort.wasm.min.mjs');
    ort.env.wasm.wasmPaths = new URL('./ort/', import.meta.url).href;
    // threads need a cross-origin isolated page (python -m web serve sends the headers)
    ort.env.wasm.numThreads = self.crossOriginIsolated ? navigator.hardwareConcurrency : 1;
  }
  return ort;
}

async function download(model) {
  const response = await fetch(new URL(model.file, new URL('../', import.meta.url)));
  if (!response.ok) {
    throw new Error(`${model.file} is missing from the site (HTTP ${response.status}): rebuild it with python -m web build`);
  }
  const total = Number(response.headers.get('Content-Length')) || model.bytes;
  const parts = [];
  let loaded = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    loaded += value.length;
    say({ type: 'stage', stage: 'download', loaded, total });
  }
  const bytes = new Uint8Array(await new Blob(parts).arrayBuffer());
  const digest = Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)),
    (b) => b.toString(16).padStart(2, '0')).join('');
  if (digest !== model.sha256) throw new Error(`${model.file} is corrupt (its SHA-256 is not the manifest's): rebuild the site`);
  return bytes;
}

async function session(model, backend) {
  if (!sessions.has(model.id)) {
    const bytes = await download(model);
    say({ type: 'stage', stage: 'initialising' });
    const { InferenceSession } = await runtime(backend);
    sessions.set(model.id, await InferenceSession.create(bytes, { executionProviders: [backend] }));
  }
  return sessions.get(model.id);
}

async function infer(model, backend, x) {
  const { Tensor } = await runtime(backend);
  const [h, w] = model.size;
  const outputs = await (await session(model, backend)).run({ [model.input]: new Tensor('float32', x, [1, 3, h, w]) },
    [model.output]);
  return outputs[model.output].data;
}

async function run({ model, backend, image, background }) {
  const timings = {};
  let start = performance.now();
  const lap = (name) => {
    const now = performance.now();
    timings[name] = now - start;
    start = now;
  };
  await session(model, backend);
  lap('load');
  say({ type: 'stage', stage: 'running' });
  const size = model.size[0];
  let result;
  if (model.task === 'cartoon') {
    const { x, mask } = generatorInput(image, size);
    lap('preprocess');
    const generated = await infer(model, backend, x);
    lap('inference');
    result = cartoonOutput(generated, mask, size);
  } else {
    const x = u2netInput(image, size);
    lap('preprocess');
    const d0 = await infer(model, backend, x);
    lap('inference');
    result = model.task === 'portrait' ? portraitOutput(d0, size, image) : maskOutput(d0, size, image, background);
  }
  lap('postprocess');
  return { result, timings };
}

function explain(error) {
  const text = String(error && error.message ? error.message : error);
  if (error instanceof RangeError && !/memory/i.test(text)) return text;
  if (/memory|allocation|Aborted\(/i.test(text)) {
    return 'out of memory: try the smaller model, a smaller photo, or close other tabs';
  }
  return text;
}

self.onmessage = async ({ data }) => {
  try {
    const { result, timings } = await run(data);
    self.postMessage({ type: 'result', result, timings }, [result.data.buffer]);
  } catch (error) {
    say({ type: 'error', message: explain(error) });
  }
};
