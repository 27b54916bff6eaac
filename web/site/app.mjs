// The page: model choice, the photo in, the worker's stages shown, the result as a PNG (img[data-result],
// full resolution, the same bytes the download link gives).
import { decodeImage, encodePng } from './image.mjs';

const $ = (id) => document.getElementById(id);
const status = $('status');
let models = [];
let worker = null;
let workerBackend = null;
let running = false;
let lastFile = null;

function say(text, error = false) {
  status.textContent = text;
  status.classList.toggle('error', error);
}

function currentModel() {
  return models.find((m) => m.id === $('model').value);
}

function workerFor(backend) {
  if (!worker || workerBackend !== backend) {
    if (worker) worker.terminate();
    worker = new Worker(new URL('./worker.mjs', import.meta.url), { type: 'module' });
    workerBackend = backend;
  }
  return worker;
}

async function run(file) {
  if (running) return say('still working on the previous photo…');
  lastFile = file;
  const model = currentModel();
  const result = $('result');
  result.removeAttribute('data-result');
  $('download').hidden = true;
  let image;
  try {
    image = await decodeImage(file);
  } catch (error) {
    return say(`${file.name}: ${error.message}`, true);
  }
  $('original').src = URL.createObjectURL(file);
  running = true;
  const started = performance.now();
  let stage = 'starting';
  const ticker = setInterval(() => {
    if (stage === 'running') say(`running ${model.label}… ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }, 200);
  const finish = () => {
    clearInterval(ticker);
    $('progress').hidden = true;
    running = false;
  };
  const backend = $('backend').value;
  const w = workerFor(backend);
  w.onmessage = async ({ data }) => {
    if (data.type === 'stage') {
      stage = data.stage;
      if (stage === 'download') {
        $('progress').hidden = false;
        $('progress').value = data.total ? data.loaded / data.total : 0;
        say(`downloading ${model.label}: ${data.total ? Math.round((100 * data.loaded) / data.total) : '?'} %`);
      } else if (stage === 'initialising') {
        $('progress').hidden = true;
        say(`initialising ${model.label} (${backend})…`);
      }
    } else if (data.type === 'error') {
      finish();
      say(data.message, true);
    } else if (data.type === 'result') {
      finish();
      const png = await encodePng(data.result);
      const url = URL.createObjectURL(png);
      result.src = url;
      await result.decode();
      result.dataset.timings = JSON.stringify(data.timings);
      result.setAttribute('data-result', model.id);
      const link = $('download');
      link.href = url;
      link.download = `${file.name.replace(/\.[^.]*$/, '')}_${model.id}.png`;
      link.hidden = false;
      const t = data.timings;
      say(`done in ${((performance.now() - started) / 1000).toFixed(1)} s (inference ${(t.inference / 1000).toFixed(2)} s, ` +
        `${data.result.width}x${data.result.height})`);
    }
  };
  w.onerror = (event) => {
    finish();
    say(`the worker failed: ${event.message || 'see the browser console'}`, true);
  };
  const transferable = new Uint8ClampedArray(image.data);
  w.postMessage({ model, backend, background: $('background').value,
    image: { ...image, data: transferable } }, [transferable.buffer]);
}

async function start() {
  try {
    const response = await fetch('manifest.json');
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    models = (await response.json()).models;
  } catch (error) {
    return say(`no model list (manifest.json: ${error.message}); build the site with python -m web build`, true);
  }
  for (const model of models) $('model').add(new Option(model.label, model.id));
  const showBackground = () => { $('background-choice').hidden = currentModel().task !== 'mask'; };
  const again = () => lastFile && run(lastFile);
  $('model').addEventListener('change', () => { showBackground(); again(); });
  $('background').addEventListener('change', again);
  $('backend').addEventListener('change', again);
  showBackground();
  if ('gpu' in navigator && (await navigator.gpu.requestAdapter().catch(() => null))) {
    $('backend').add(new Option('GPU (WebGPU)', 'webgpu'));
  }
  $('photo').addEventListener('change', () => $('photo').files[0] && run($('photo').files[0]));
  const drop = $('drop');
  drop.addEventListener('dragover', (event) => { event.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (event) => {
    event.preventDefault();
    drop.classList.remove('over');
    if (event.dataTransfer.files[0]) run(event.dataTransfer.files[0]);
  });
  say(`ready: choose a photo (${models.length} model${models.length > 1 ? 's' : ''} on this page)`);
  document.body.dataset.ready = 'true';
}

start();
