// gen_golden.js - golden outputs of the TFJS graph models in models/human, produced by
// TensorFlow.js itself (4.22.0, CPU backend, plain Node: no tfjs-node).
//
// Run from anywhere: `node tests/golden/gen_golden.js [model ...]` (no argument: all ten).  For
// each model it decodes a real 150x150 face crop from ../shared/data/bbt, resizes it to the
// model's input size with tf.image.resizeBilinear (align_corners false, half_pixel_centers
// false), rounds it to uint8 (so input.u8 is exactly what was fed), turns it into the model's
// float input as u8 * scale + offset, runs model.execute for all of the model's outputs and
// writes tests/golden/<model>/ in the shared golden format (see tests/test_golden.c).
//
// Input scaling follows what @vladmandic/human feeds each model.  Human's face crops are float
// RGB in 0..1 (facemeshutil divides by 255), and then:
//   mobilefacenet, antispoof, liveness, gear
//                      the crop resized, as is: 0..1            -> scale 1/255, offset 0
//   faceres, faceres-deep  resized and multiplied by 255: 0..255 -> scale 1, offset 0
//   mobileface         human's insightface.ts feeds the 0..1 crop, but the graph's own first ops
//                      are (x - 127.5) * 0.0078125, the ArcFace convention for 0..255 pixels, so
//                      it is fed 0..255 here (a 0..1 input would be nearly constant)
//                                                               -> scale 1, offset 0
//   blazeface-back/-front  image / 127.5 - 1: -1..1             -> scale 2/255, offset -1
//   emotion            grey = sum(rgb * [0.2989, 0.5870, 0.1140]), then (grey - 0.5) * 2: -1..1
//                      -> the grey image is rounded to uint8 (one channel), scale 2/255, offset -1
// meta.json records each choice ("scale", "offset", and "note").
//
// Output names: a model with a signature is run for its signature outputs (in signature order),
// one without for the graph's output nodes (TFJS's model.outputs).  meta.json names each output
// by its graph node, without TFJS's ":0" tensor suffix ("global_pooling/Mean", "Identity_2"):
// that is the value name our engine's graph uses.
'use strict';

const fs = require('fs');
const path = require('path');

const ROOT = path.resolve(__dirname, '..', '..');
const NODE_MODULES = path.join(ROOT, 'tests', 'node', 'node_modules');
const DATA = path.resolve(ROOT, '..', 'shared', 'data');
const MODELS = path.join(ROOT, 'models', 'human');
const OUT = path.join(ROOT, 'tests', 'golden');

const nodeRequire = (name) => require(path.join(NODE_MODULES, name));
const tf = nodeRequire('@tensorflow/tfjs');
const { PNG } = nodeRequire('pngjs');

const UNIT = { scale: 1 / 255, offset: 0, note: 'RGB 0..1, as human feeds its face crop' };
const BYTE = { scale: 1, offset: 0, note: 'RGB 0..255: human multiplies the 0..1 crop by 255' };
const BYTE_OWN = {
    scale: 1,
    offset: 0,
    note: 'RGB 0..255: the graph itself starts with (x - 127.5) * 0.0078125 (human feeds 0..1)',
};
const SIGNED = { scale: 2 / 255, offset: -1, note: 'RGB -1..1: human feeds x / 127.5 - 1' };
const GREY = {
    scale: 2 / 255,
    offset: -1,
    grey: true,
    note: 'grey = 0.2989 R + 0.5870 G + 0.1140 B rounded to uint8, then -1..1 as human feeds ' +
        '(grey - 0.5) * 2',
};

// model, input size, input scaling, photo (distinct for every model; the face-api goldens use
// the <name>1 crops of leonard, raj, howard, penny and sheldon).
const MODEL_TABLE = [
    ['mobilefacenet', 112, UNIT, 'bbt/amy/amy1.png'],
    ['mobileface', 112, BYTE_OWN, 'bbt/bernadette/bernadette1.png'],
    ['faceres', 224, BYTE, 'bbt/stuart/stuart1.png'],
    ['faceres-deep', 224, BYTE, 'bbt/howard/howard2.png'],
    ['blazeface-back', 256, SIGNED, 'bbt/leonard/leonard2.png'],
    ['blazeface-front', 128, SIGNED, 'bbt/penny/penny2.png'],
    ['antispoof', 128, UNIT, 'bbt/raj/raj2.png'],
    ['liveness', 32, UNIT, 'bbt/sheldon/sheldon2.png'],
    ['gear', 198, UNIT, 'bbt/amy/amy2.png'],
    ['emotion', 64, GREY, 'bbt/bernadette/bernadette2.png'],
];

// A TFJS IOHandler for a graph model on disk: model.json plus its weight shards (paths relative
// to the json's folder), the shards concatenated in manifest order as TFJS expects.
function fileHandler(jsonPath) {
    return {
        load: async () => {
            const modelJSON = JSON.parse(fs.readFileSync(jsonPath, 'utf8'));
            const dir = path.dirname(jsonPath);
            return tf.io.getModelArtifactsForJSON(modelJSON, async (manifest) => {
                const specs = [];
                const bufs = [];
                for (const group of manifest) {
                    specs.push(...group.weights);
                    for (const p of group.paths) bufs.push(fs.readFileSync(path.join(dir, p)));
                }
                const all = Buffer.concat(bufs);
                const data = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
                return [specs, data];
            });
        },
    };
}

// Decodes a PNG to HWC RGB uint8 (pngjs always gives RGBA; alpha is dropped).
function decodePng(file) {
    const img = PNG.sync.read(fs.readFileSync(file));
    const n = img.width * img.height;
    const rgb = new Uint8Array(n * 3);
    for (let i = 0; i < n; i++) {
        for (let c = 0; c < 3; c++) rgb[i * 3 + c] = img.data[i * 4 + c];
    }
    return { width: img.width, height: img.height, rgb };
}

// The uint8 image the model sees: the crop resized to size x size (and made grey for GREY).
function modelImage(file, size, how) {
    const img = decodePng(file);
    return tf.tidy(() => {
        const t = tf.tensor3d(img.rgb, [img.height, img.width, 3], 'int32').toFloat();
        let r = tf.round(tf.image.resizeBilinear(t, [size, size], false, false));
        if (how.grey) {
            const w = tf.tensor1d([0.2989, 0.587, 0.114]);
            r = tf.round(tf.sum(tf.mul(r, w), 2, true));
        }
        return new Uint8Array(tf.clipByValue(r, 0, 255).dataSync());
    });
}

function stripTensorSuffix(name) {
    return name.replace(/:0$/, '');
}

async function generate(name, size, how, source) {
    const model = await tf.loadGraphModel(fileHandler(path.join(MODELS, `${name}.json`)));
    const channels = how.grey ? 1 : 3;
    const u8 = modelImage(path.join(DATA, source), size, how);
    const shape = [1, size, size, channels];
    const inputName = stripTensorSuffix(model.inputs[0].name);
    const outNames = model.outputs.map((o) => o.name);

    const x = tf.tidy(() =>
        tf.add(tf.mul(tf.tensor4d(Float32Array.from(u8), shape), how.scale), how.offset)
    );
    let res = model.execute(x, outNames);
    if (!Array.isArray(res)) res = [res];

    const dir = path.join(OUT, name);
    fs.mkdirSync(dir, { recursive: true });
    for (const f of fs.readdirSync(dir)) {
        if (/^out\d+\.f32$/.test(f)) fs.unlinkSync(path.join(dir, f));
    }
    fs.writeFileSync(path.join(dir, 'input.u8'), u8);
    const outputs = [];
    res.forEach((t, i) => {
        const data = Float32Array.from(t.dataSync());
        const file = `out${i}.f32`;
        fs.writeFileSync(path.join(dir, file), Buffer.from(data.buffer));
        outputs.push({ name: stripTensorSuffix(outNames[i]), shape: t.shape.slice(), file });
    });
    const meta = {
        model: name,
        source,
        input: { name: inputName, shape, file: 'input.u8', scale: how.scale, offset: how.offset },
        outputs,
        note: how.note,
        generator: 'tests/golden/gen_golden.js, @tensorflow/tfjs 4.22.0 CPU backend',
    };
    fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify(meta, null, 2) + '\n');
    const summary = outputs.map((o) => `${o.name} [${o.shape}]`).join(', ');
    console.log(`${name}: ${source} -> ${summary}`);
    tf.dispose([x, ...res]);
    model.dispose();
}

async function main() {
    await tf.setBackend('cpu');
    await tf.ready();
    const want = process.argv.slice(2);
    for (const name of want) {
        if (!MODEL_TABLE.some((m) => m[0] === name)) throw new Error(`unknown model ${name}`);
    }
    for (const [name, size, how, source] of MODEL_TABLE) {
        if (want.length === 0 || want.includes(name)) await generate(name, size, how, source);
    }
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
