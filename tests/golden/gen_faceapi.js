// gen_faceapi.js - golden outputs of face-api's code-defined nets, produced by face-api itself.
//
// Run from the repository root: `node tests/golden/gen_faceapi.js [net ...]` (no argument: all
// nets).  For each net it decodes a real photo from ../shared/data, resizes it to the net's input
// size (so face-api's NetInput neither pads nor resizes), and runs face-api 1.7.15's own forward
// code on the TensorFlow.js CPU backend.  It writes tests/golden/<net>/ in the shared golden
// format: input.u8 (the uint8 HWC image the net saw, scale 1, offset 0), out*.f32 (raw
// little-endian float32) and meta.json.
//
// What is captured, per net (the tensors the C graphs of src/nn/faceapi_nets.c output):
//   ssd_mobilenetv1        the two tensors predictionLayer() concatenates (box encodings
//                          [1,5118,1,4] written as [1,5118,4], class logits [1,5118,3]) before
//                          outputLayer() decodes boxes and takes sigmoid(class 1).  predictionLayer
//                          is not exported by the bundle, so the two tf.concat results are
//                          recorded while SsdMobilenetv1.forwardInput runs.
//   tiny_face_detector     TinyFaceDetector.forwardInput(input, 416): the raw [1,13,13,25] grid.
//   face_landmark_68(_tiny) FaceLandmark68(Tiny)Net.runNet: the fully connected output [1,136]
//                          (forwardInput's postProcess is the identity for a square input up to
//                          rounding: it multiplies and divides by the input size).
//   face_recognition       FaceRecognitionNet.forwardInput: the [1,128] descriptor.
//   age_gender             AgeGenderNet.forwardInput: age [1] (written as [1,1]) and the gender
//                          softmax [1,2].
//   face_expression        FaceExpressionNet.forwardInput: the softmax over 7 expressions [1,7].
'use strict';

const fs = require('fs');
const path = require('path');

const ROOT = path.resolve(__dirname, '..', '..');
const NODE_MODULES = path.join(ROOT, 'tests', 'node', 'node_modules');
const DATA = path.resolve(ROOT, '..', 'shared', 'data');
const MODELS = path.join(ROOT, 'models', 'faceapi');
const OUT = path.join(ROOT, 'tests', 'golden');

const nodeRequire = (name) => require(path.join(NODE_MODULES, name));
const tfcore = nodeRequire('@tensorflow/tfjs-core');
const faceapi = nodeRequire('@vladmandic/face-api/dist/face-api.node-wasm.js');
const { PNG } = nodeRequire('pngjs');
const jpeg = nodeRequire('jpeg-js');

const tf = faceapi.tf;

// Decodes a PNG or JPEG file to {width, height, rgb: Uint8Array HWC}.  Grey and grey+alpha PNGs
// come out of pngjs as RGBA already; alpha is dropped.
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

// The uint8 image the net is fed: the photo padded to a square at the bottom/right with zeros
// (what face-api's padToSquare does for the detectors) and bilinearly resized to size x size.
function netImage(file, size) {
    const img = decodeImage(file);
    return tf.tidy(() => {
        let t = tf.tensor3d(img.rgb, [img.height, img.width, 3], 'int32').toFloat();
        const side = Math.max(img.width, img.height);
        t = tf.pad(t, [[0, side - img.height], [0, side - img.width], [0, 0]]);
        if (side !== size) t = tf.image.resizeBilinear(t, [size, size], false, false);
        return new Uint8Array(tf.clipByValue(tf.round(t), 0, 255).dataSync());
    });
}

// The float tensor face-api sees: exactly the uint8 values, batch 1.
function inputTensor(u8, size) {
    return tf.tensor4d(Float32Array.from(u8), [1, size, size, 3]);
}

// Records the results of every tf.concat face-api makes while fn runs (see the header).
function withConcatsRecorded(fn) {
    const original = tfcore.concat;
    const recorded = [];
    tfcore.concat = (...args) => {
        const out = original(...args);
        recorded.push({ shape: out.shape.slice(), data: Float32Array.from(out.dataSync()) });
        return out;
    };
    try {
        const result = fn();
        return { result, recorded };
    } finally {
        tfcore.concat = original;
    }
}

function writeGolden(net, source, size, u8, outputs) {
    const dir = path.join(OUT, net);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'input.u8'), u8);
    const meta = {
        model: net,
        source,
        input: { name: 'input', shape: [1, size, size, 3], file: 'input.u8', scale: 1, offset: 0 },
        outputs: [],
    };
    outputs.forEach((o, i) => {
        const file = `out${i}.f32`;
        const expected = o.shape.reduce((a, b) => a * b, 1);
        if (o.data.length !== expected) {
            throw new Error(`${net}/${o.name}: ${o.data.length} values, shape says ${expected}`);
        }
        fs.writeFileSync(path.join(dir, file), Buffer.from(new Float32Array(o.data).buffer));
        meta.outputs.push({ name: o.name, shape: o.shape, file });
    });
    fs.writeFileSync(path.join(dir, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`);
    const summary = outputs.map((o) => `${o.name} [${o.shape}]`).join(', ');
    console.log(`${net}: ${source} -> ${summary}`);
}

const out = (name, shape, tensor) => ({ name, shape, data: Float32Array.from(tensor.dataSync()) });

// One entry per net: its face-api object, the photo, the input size, and how to get the outputs.
const NETS = {
    ssd_mobilenetv1: {
        model: faceapi.nets.ssdMobilenetv1, source: 'faceapi-test/images/faces.jpg', size: 512,
        run(net, ni) {
            const { result, recorded } = withConcatsRecorded(() => net.forwardInput(ni));
            result.boxes.forEach((t) => t.dispose());
            result.scores.forEach((t) => t.dispose());
            const box = recorded.find((r) => r.shape.length === 4 && r.shape[3] === 4);
            const cls = recorded.find((r) => r.shape.length === 3 && r.shape[2] === 3);
            if (!box || !cls || recorded.length !== 2) {
                throw new Error('ssd: the two concats of predictionLayer were not seen');
            }
            return [
                { name: 'box_encodings', shape: [1, box.shape[1], 4], data: box.data },
                { name: 'class_predictions', shape: cls.shape, data: cls.data },
            ];
        },
    },
    tiny_face_detector: {
        model: faceapi.nets.tinyFaceDetector, source: 'faceapi-test/images/faces.jpg', size: 416,
        run(net, ni) {
            const t = net.forwardInput(ni, 416);
            return [out('grid', t.shape, t)];
        },
    },
    face_landmark_68: {
        model: faceapi.nets.faceLandmark68Net, source: 'bbt/howard/howard1.png', size: 112,
        run: (net, ni) => [out('landmarks', [1, 136], net.runNet(ni))],
    },
    face_landmark_68_tiny: {
        model: faceapi.nets.faceLandmark68TinyNet, source: 'bbt/penny/penny1.png', size: 112,
        run: (net, ni) => [out('landmarks', [1, 136], net.runNet(ni))],
    },
    face_recognition: {
        model: faceapi.nets.faceRecognitionNet, source: 'bbt/sheldon/sheldon1.png', size: 150,
        run: (net, ni) => [out('descriptor', [1, 128], net.forwardInput(ni))],
    },
    age_gender: {
        model: faceapi.nets.ageGenderNet, source: 'bbt/leonard/leonard1.png', size: 112,
        run(net, ni) {
            const r = net.forwardInput(ni);
            return [out('age', [1, 1], r.age), out('gender', [1, 2], r.gender)];
        },
    },
    face_expression: {
        model: faceapi.nets.faceExpressionNet, source: 'bbt/raj/raj1.png', size: 112,
        run: (net, ni) => [out('expressions', [1, 7], net.forwardInput(ni))],
    },
};

async function main() {
    await tf.setBackend('cpu');
    await tf.ready();
    const wanted = process.argv.length > 2 ? process.argv.slice(2) : Object.keys(NETS);
    for (const name of wanted) {
        const spec = NETS[name];
        if (!spec) throw new Error(`unknown net ${name}`);
        await spec.model.loadFromDisk(MODELS);
        const u8 = netImage(path.join(DATA, spec.source), spec.size);
        const x = inputTensor(u8, spec.size);
        const ni = await faceapi.toNetInput(x);
        const outputs = tf.tidy(() => spec.run(spec.model, ni));
        writeGolden(name, spec.source, spec.size, u8, outputs);
        x.dispose();
    }
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
