/*
 * tfjs_wasm.js - the peer in bench/run.sh: times each model on TensorFlow.js 4.22 with the
 * WebAssembly backend (@tensorflow/tfjs-backend-wasm, SIMD, one thread) in Node.
 *
 * Human models are TFJS graph models (models/human/NAME.json + .bin), loaded through a small
 * IOHandler that reads the files (there is no tfjs-node here, so no file:// loader).  face-api
 * nets are defined in code: we build them with face-api's own classes and give them the weights
 * decoded from models/faceapi/NAME_model-weights_manifest.json + shards with tf.io.decodeWeights.
 *
 * What is timed is the net's forward pass on a fixed input tensor of the net's own size, with
 * dataSync() on every output so the time includes the work (the WASM backend is synchronous,
 * but reading back keeps this honest for any backend).  For face-api nets that is the net's
 * forwardInput/runNet: its in-code normalisation, the net, and for ssd_mobilenetv1 face-api's
 * box decoding of the 5118 anchors (no NMS) - a few per cent of its time.
 *
 * Usage: node bench/tfjs_wasm.js [--runs N] [--warmup N] [--warmup-s S] [--threads N] [model ...]
 *   Warm-up: at least N runs (5) and S seconds (2), at most 1000 runs; then N timed runs (50).
 * Output, one line per model (tab-separated; lines starting with # are comments):
 *   tfjs <model> <median ms> <p90 ms> <runs> <median process CPU ms>
 * Times are wall clock; the last field is the process's CPU time (user + system, all threads:
 * GC included) per run, to tell a slow run from a preempted one.
 * A model that fails prints "tfjs <model> nan nan 0 nan" and a "# error" line; exit status 1.
 */
'use strict';

const fs = require('fs');
const path = require('path');

const NM = path.join(__dirname, '../tests/node/node_modules');
const tf = require(path.join(NM, '@tensorflow/tfjs'));
const wasm = require(path.join(NM, '@tensorflow/tfjs-backend-wasm'));
// Node entry of face-api that requires @tensorflow/tfjs + @tensorflow/tfjs-backend-wasm from the
// same node_modules, so it shares our tf instance and backend registry.
const faceapi = require(path.join(NM, '@vladmandic/face-api/dist/face-api.node-wasm.js'));

const MODELS_DIR = process.env.VISAGE_MODELS || path.join(__dirname, '../models');

const FACEAPI = {
  ssd_mobilenetv1: { cls: 'SsdMobilenetv1', size: 512, run: (net, x) => net.forwardInput(x) },
  tiny_face_detector: {
    cls: 'TinyFaceDetector', size: 416, run: (net, x) => net.forwardInput(x, 416),
  },
  face_landmark_68: { cls: 'FaceLandmark68Net', size: 112, run: (net, x) => net.runNet(x) },
  face_landmark_68_tiny: {
    cls: 'FaceLandmark68TinyNet', size: 112, run: (net, x) => net.runNet(x),
  },
  face_recognition: { cls: 'FaceRecognitionNet', size: 150, run: (net, x) => net.forwardInput(x) },
  age_gender: { cls: 'AgeGenderNet', size: 112, run: (net, x) => net.runNet(x) },
  face_expression: { cls: 'FaceExpressionNet', size: 112, run: (net, x) => net.runNet(x) },
};
const HUMAN = ['mobilefacenet', 'mobileface', 'faceres', 'faceres-deep', 'blazeface-back',
  'blazeface-front', 'antispoof', 'liveness', 'gear', 'emotion'];
const ALL = Object.keys(FACEAPI).concat(HUMAN);

function parseArgs(argv) {
  const opt = {
    runs: 50, warmup: 5, warmupSeconds: 2, threads: 1, models: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--runs') opt.runs = parseInt(argv[++i], 10);
    else if (a === '--warmup') opt.warmup = parseInt(argv[++i], 10);
    else if (a === '--warmup-s') opt.warmupSeconds = parseFloat(argv[++i]);
    else if (a === '--threads') opt.threads = parseInt(argv[++i], 10);
    else if (a.startsWith('-')) throw new Error(`unknown option ${a}`);
    else opt.models.push(a);
  }
  if (!(opt.runs >= 1) || !(opt.warmup >= 0) || !(opt.warmupSeconds >= 0) || !(opt.threads >= 1)) {
    throw new Error('bad numbers');
  }
  if (opt.models.length === 0) opt.models = ALL;
  return opt;
}

/* Concatenates the weight shards a manifest group list names, in order. */
function readShards(dir, manifest) {
  const bufs = [];
  for (const group of manifest) {
    for (const p of group.paths) bufs.push(fs.readFileSync(path.join(dir, p)));
  }
  const all = Buffer.concat(bufs);
  return all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
}

async function loadHuman(name) {
  const dir = path.join(MODELS_DIR, 'human');
  const json = JSON.parse(fs.readFileSync(path.join(dir, `${name}.json`), 'utf8'));
  const handler = {
    load: async () => ({
      modelTopology: json.modelTopology,
      format: json.format,
      generatedBy: json.generatedBy,
      convertedBy: json.convertedBy,
      signature: json.signature,
      userDefinedMetadata: json.userDefinedMetadata,
      weightSpecs: [].concat(...json.weightsManifest.map((g) => g.weights)),
      weightData: readShards(dir, json.weightsManifest),
    }),
  };
  const model = await tf.loadGraphModel(handler);
  const shape = model.inputs[0].shape.map((d) => (d == null || d < 0 ? 1 : d));
  return {
    shape,
    run: (x) => model.execute(x),
    dispose: () => model.dispose(),
  };
}

async function loadFaceapi(name) {
  const spec = FACEAPI[name];
  const dir = path.join(MODELS_DIR, 'faceapi');
  const file = path.join(dir, `${name}_model-weights_manifest.json`);
  const manifest = JSON.parse(fs.readFileSync(file, 'utf8'));
  const specs = [].concat(...manifest.map((g) => g.weights));
  const weightMap = tf.io.decodeWeights(readShards(dir, manifest), specs);
  const net = new faceapi[spec.cls]();
  net.loadFromWeightMap(weightMap);
  return {
    shape: [1, spec.size, spec.size, 3],
    // A NetInput over a tensor of exactly the net's size: face-api neither pads nor resizes it.
    wrap: (x) => new faceapi.NetInput([x]),
    run: (x) => spec.run(net, x),
    dispose: () => net.dispose(),
  };
}

/* A fixed, image-like input: smooth gradients in [0, 255] for face-api nets (which take pixels)
 * and in [0, 1] for the graph models (which take normalised pixels). */
function makeInput(shape, scale) {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  const c = shape[3];
  const w = shape[2];
  for (let i = 0; i < n; i++) {
    const ch = i % c;
    const x = Math.floor(i / c) % w;
    const y = Math.floor(i / (c * w)) % shape[1];
    data[i] = scale * (0.5 + 0.45 * Math.sin(0.05 * x + 0.07 * y + 1.3 * ch));
  }
  return tf.tensor(data, shape, 'float32');
}

/* Reads back every tensor in a net's output (a tensor, an array or an object of them, nested:
 * ssd_mobilenetv1 returns {boxes: [t], scores: [t]}); returns them flat for disposal. */
function syncAll(out, acc = []) {
  if (out instanceof tf.Tensor) {
    out.dataSync();
    acc.push(out);
  } else {
    for (const v of Array.isArray(out) ? out : Object.values(out)) syncAll(v, acc);
  }
  return acc;
}

function quantile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function benchOne(name, opt) {
  if (!ALL.includes(name)) throw new Error('unknown model');
  const m = FACEAPI[name] ? await loadFaceapi(name) : await loadHuman(name);
  const x4 = makeInput(m.shape, FACEAPI[name] ? 255 : 1);
  const x = m.wrap ? m.wrap(x4) : x4;
  const times = [];
  const cpus = [];
  const once = () => {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    const outs = syncAll(m.run(x));
    const t1 = process.hrtime.bigint();
    const c = process.cpuUsage(c0);
    for (const t of outs) t.dispose();
    times.push(Number(t1 - t0) / 1e6);
    cpus.push((c.user + c.system) / 1e3);
  };
  // Warm up for at least opt.warmup runs and opt.warmupSeconds (at most 1000 runs): V8 runs the
  // JS op dispatch and the wasm kernels in baseline tiers first and optimises them only once hot,
  // which takes a few hundred runs of a small model.  Fewer would time the compilers, not tfjs.
  const warmEnd = process.hrtime.bigint() + BigInt(Math.round(opt.warmupSeconds * 1e9));
  for (let i = 0; i < opt.warmup || (i < 1000 && process.hrtime.bigint() < warmEnd); i++) once();
  times.length = 0;
  cpus.length = 0;
  for (let i = 0; i < opt.runs; i++) once();
  times.sort((a, b) => a - b);
  cpus.sort((a, b) => a - b);
  x4.dispose();
  m.dispose();
  return {
    median: quantile(times, 0.5),
    p90: quantile(times, 0.9),
    runs: times.length,
    cpu: quantile(cpus, 0.5),
  };
}

async function main() {
  const opt = parseArgs(process.argv.slice(2));
  wasm.setThreadsCount(opt.threads);
  await tf.setBackend('wasm');
  await tf.ready();
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  const mt = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
  console.log(`# tfjs ${tf.version.tfjs} backend ${tf.getBackend()} simd ${simd} `
    + `multithread-support ${mt} threads ${opt.threads} node ${process.version}`);
  let failed = 0;
  for (const name of opt.models) {
    try {
      const r = await benchOne(name, opt);
      const f = [r.median, r.p90].map((v) => v.toFixed(3));
      console.log(`tfjs\t${name}\t${f[0]}\t${f[1]}\t${r.runs}\t${r.cpu.toFixed(3)}`);
    } catch (e) {
      failed++;
      console.log(`# error ${name}: ${String(e && e.message ? e.message : e).split('\n')[0]}`);
      console.log(`tfjs\t${name}\tnan\tnan\t0\tnan`);
    }
  }
  process.exitCode = failed ? 1 : 0;
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 2;
});
