// gen_onnx_golden.js - golden outputs of faceplugin's ONNX models (models/faceplugin/fr_*.onnx),
// produced by onnxruntime itself (onnxruntime-node 1.20.1, CPU, graph optimisations off, one
// thread), for tests/test_onnx.c and tests/test_golden.c.
//
// Run from anywhere: `node tests/gen_onnx_golden.js [model ...]` (no argument: all nine).  For each
// model it decodes a real photo from ../shared/data, crops and resizes it to the model's input size
// (bilinear, half-pixel centres, rounded to uint8), reorders it as faceplugin's lib/*.js feeds it
// (channel order, grey), turns it into the float input as u8 * scale + offset and runs every
// output of the model.  It writes tests/golden/<model>/ in the shared golden format (see
// tests/test_golden.c) with two differences, both recorded in meta.json ("layout": "nchw"):
// the input shape is the model's own NCHW shape and input.u8 holds the image planar (NCHW), so
// that input.u8[i] * scale + offset is exactly element i of the float tensor onnxruntime got.
//
// Pre-processing, from faceplugin-face-recognition-js 0.0.1 lib/*.js (cv.imread gives RGBA;
// cvtColor(BGR2RGB) on it swaps R and B, so fr_detect and fr_pose see BGR):
//   fr_detect      320x240 BGR, (x - 127) / 128          fr_feature   112x112 RGB, (x - 127) / 128
//   fr_landmark    64x64 grey, x / 256                   fr_liveness  128x128 RGB, x
//   fr_expression  224x224 RGB, x / 255                  fr_eye       24x24 grey, x / 255
//   fr_age, fr_gender  64x64 RGB,   (x / 255 - mean[c]) / std[c] (ImageNet mean and std)
//   fr_pose            224x224 BGR, the same per-channel ImageNet normalisation
// The golden format has one scale and one offset, so the ImageNet models are fed the
// normalisation averaged over the channels (mean 0.449, std 0.226): a real photo in the range
// the net expects, recorded in the meta.json "note".  The engine is checked against onnxruntime
// on exactly that input, which is all a golden test needs.
//
// The output values are float32 little-endian, in the model's own layout (NCHW for 4-D).
'use strict';

const fs = require('fs');
const path = require('path');

const ROOT = path.resolve(__dirname, '..');
const NODE_MODULES = path.join(ROOT, 'tests', 'node', 'node_modules');
const DATA = path.resolve(ROOT, '..', 'shared', 'data');
const MODELS = path.join(ROOT, 'models', 'faceplugin');
const OUT = path.join(ROOT, 'tests', 'golden');

const nodeRequire = (name) => require(path.join(NODE_MODULES, name));
const ort = nodeRequire('onnxruntime-node');
const { PNG } = nodeRequire('pngjs');
const jpeg = nodeRequire('jpeg-js');

const IMAGENET = {
    scale: 1 / (255 * 0.226),
    offset: -0.449 / 0.226,
    note: 'faceplugin normalises (x/255 - [0.485,0.456,0.406]) / [0.229,0.224,0.225]; the golden ' +
        'format has one scale and offset, so the channel average (x/255 - 0.449) / 0.226 is fed',
};

// name, photo, crop [x, y, w, h] of the photo (null: whole), size [w, h], channels, scaling.
// order: 'rgb', 'bgr' or 'grey' (grey = round(0.299 R + 0.587 G + 0.114 B), OpenCV's weights).
const MODELS_TABLE = [
    { name: 'fr_detect', source: 'bbt/bbt2.jpg', crop: null, size: [320, 240], order: 'bgr',
      scale: 1 / 128, offset: -127 / 128, note: 'BGR, (x - 127) / 128 as faceplugin feeds' },
    { name: 'fr_feature', source: 'bbt/leonard/leonard3.png', crop: [19, 19, 112, 112],
      size: [112, 112], order: 'rgb', scale: 1 / 128, offset: -127 / 128,
      note: 'RGB, (x - 127) / 128 as faceplugin feeds; a centred crop stands in for its 5-point alignment' },
    { name: 'fr_landmark', source: 'bbt/penny/penny3.png', crop: null, size: [64, 64],
      order: 'grey', scale: 1 / 256, offset: 0, note: 'grey, x / 256 as faceplugin feeds' },
    { name: 'fr_liveness', source: 'bbt/raj/raj3.png', crop: null, size: [128, 128],
      order: 'rgb', scale: 1, offset: 0, note: 'RGB 0..255 as faceplugin feeds' },
    { name: 'fr_age', source: 'bbt/amy/amy3.png', crop: null, size: [64, 64], order: 'rgb',
      ...IMAGENET },
    { name: 'fr_gender', source: 'bbt/howard/howard3.png', crop: null, size: [64, 64],
      order: 'rgb', ...IMAGENET },
    { name: 'fr_expression', source: 'bbt/sheldon/sheldon3.png', crop: null, size: [224, 224],
      order: 'rgb', scale: 1 / 255, offset: 0, note: 'RGB, x / 255 as faceplugin feeds' },
    { name: 'fr_pose', source: 'bbt/bernadette/bernadette3.png', crop: null, size: [224, 224],
      order: 'bgr', ...IMAGENET },
    // The left eye of a 150x150 bbt crop (eyes sit near y = 60).
    { name: 'fr_eye', source: 'bbt/stuart/stuart2.png', crop: [36, 44, 36, 36], size: [24, 24],
      order: 'grey', scale: 1 / 255, offset: 0, note: 'grey, x / 255 as faceplugin feeds' },
];

// Decodes a PNG or JPEG to HWC RGB uint8.
function decodeImage(file) {
    const buf = fs.readFileSync(file);
    const img = file.endsWith('.png') ? PNG.sync.read(buf) : jpeg.decode(buf, { useTArray: true });
    const n = img.width * img.height;
    const rgb = new Uint8Array(n * 3);
    for (let i = 0; i < n; i++) {
        for (let c = 0; c < 3; c++) rgb[i * 3 + c] = img.data[i * 4 + c];
    }
    return { width: img.width, height: img.height, rgb };
}

// Bilinear resize (half-pixel centres, edge clamped) of crop [x, y, w, h] to ow x oh, HWC RGB.
function cropResize(img, crop, ow, oh) {
    const [cx, cy, cw, ch] = crop || [0, 0, img.width, img.height];
    const out = new Uint8Array(ow * oh * 3);
    const clamp = (v, lo, hi) => Math.min(Math.max(v, lo), hi);
    for (let y = 0; y < oh; y++) {
        const sy = clamp((y + 0.5) * ch / oh - 0.5, 0, ch - 1);
        const y0 = Math.floor(sy), y1 = Math.min(y0 + 1, ch - 1), fy = sy - y0;
        for (let x = 0; x < ow; x++) {
            const sx = clamp((x + 0.5) * cw / ow - 0.5, 0, cw - 1);
            const x0 = Math.floor(sx), x1 = Math.min(x0 + 1, cw - 1), fx = sx - x0;
            for (let c = 0; c < 3; c++) {
                const px = (yy, xx) => img.rgb[((cy + yy) * img.width + cx + xx) * 3 + c];
                const top = px(y0, x0) * (1 - fx) + px(y0, x1) * fx;
                const bot = px(y1, x0) * (1 - fx) + px(y1, x1) * fx;
                out[(y * ow + x) * 3 + c] = clamp(Math.round(top * (1 - fy) + bot * fy), 0, 255);
            }
        }
    }
    return out;
}

// HWC RGB -> planar NCHW uint8 in the model's channel order.  Returns { data, channels }.
function planar(rgb, w, h, order) {
    const n = w * h;
    if (order === 'grey') {
        const g = new Uint8Array(n);
        for (let i = 0; i < n; i++) {
            const v = 0.299 * rgb[i * 3] + 0.587 * rgb[i * 3 + 1] + 0.114 * rgb[i * 3 + 2];
            g[i] = Math.min(255, Math.round(v));
        }
        return { data: g, channels: 1 };
    }
    const map = order === 'bgr' ? [2, 1, 0] : [0, 1, 2];
    const p = new Uint8Array(3 * n);
    for (let c = 0; c < 3; c++) {
        for (let i = 0; i < n; i++) p[c * n + i] = rgb[i * 3 + map[c]];
    }
    return { data: p, channels: 3 };
}

async function generate(m) {
    const file = path.join(MODELS, `${m.name}.onnx`);
    const session = await ort.InferenceSession.create(file, {
        graphOptimizationLevel: 'disabled',
        intraOpNumThreads: 1,
        interOpNumThreads: 1,
        logSeverityLevel: 3, // fr_age lists its weights as graph inputs: ORT warns, harmlessly
    });
    const [w, h] = m.size;
    const img = decodeImage(path.join(DATA, m.source));
    const p = planar(cropResize(img, m.crop, w, h), w, h, m.order);
    // The float input exactly as the C tests form it: float(float(u8 * scale) + offset).
    const scale = Math.fround(m.scale), offset = Math.fround(m.offset);
    const x = new Float32Array(p.data.length);
    for (let i = 0; i < x.length; i++) x[i] = Math.fround(Math.fround(p.data[i] * scale) + offset);
    const inName = session.inputNames[0];
    const shape = [1, p.channels, h, w];
    const result = await session.run({ [inName]: new ort.Tensor('float32', x, shape) });

    const dir = path.join(OUT, m.name);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'input.u8'), p.data);
    const outputs = session.outputNames.map((name, i) => {
        const t = result[name];
        const f32 = new Float32Array(t.data);
        fs.writeFileSync(path.join(dir, `out${i}.f32`), Buffer.from(f32.buffer));
        return { name, shape: t.dims.map(Number), file: `out${i}.f32` };
    });
    const meta = {
        model: m.name,
        source: m.source,
        layout: 'nchw',
        input: { name: inName, shape, file: 'input.u8', scale: m.scale, offset: m.offset },
        outputs,
        note: m.note + (m.crop ? `; crop [x, y, w, h] = [${m.crop}] of the photo` : ''),
        generator: 'tests/gen_onnx_golden.js, onnxruntime-node 1.20.1 CPU, optimisations off',
    };
    fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify(meta, null, 2) + '\n');
    console.log(`${m.name}: ${outputs.map((o) => `${o.name}[${o.shape}]`).join(' ')}`);
}

async function main() {
    const want = process.argv.slice(2);
    for (const m of MODELS_TABLE) {
        if (want.length === 0 || want.includes(m.name)) await generate(m);
    }
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
