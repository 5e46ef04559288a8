// attr_faceapi.js - face-api's own age, gender and expression on real photos: the oracle of
// tests/test_attributes.c (and the source of the boxes and landmarks that test_quality.c and
// test_liveness.c feed to our code).
//
// Run from the repository root: `node tests/node/attr_faceapi.js [out.json]` (default
// tests/data/attr/faceapi_attr.json).  For each photo listed in IMAGES (paths under
// ../shared/data) it runs @vladmandic/face-api 1.7.15's complete pipeline on the TensorFlow.js
// WebAssembly backend (one thread: the CPU backend agrees to float rounding but is ten times
// slower), exactly as a face-api user would:
//   faceapi.detectAllFaces(tensor, new SsdMobilenetv1Options({ minConfidence: 0.5 }))
//          .withFaceLandmarks().withAgeAndGender().withFaceExpressions()
// The bbt/<name>/<name>N.png files are tight 150 x 150 face crops on which SSD finds almost nothing
// (it wants some context around a face): they are first padded with PAD black pixels on every
// side, and the JSON says so ("pad"), so that the C tests build the same image.
// It writes, per face (at most MAX_FACES per photo, the largest first):
//   box     the SSD detection [x, y, width, height] in pixels, and its score
//   lm68    the 68 landmark positions as face-api reports them (its own coordinates)
//   crop    the integer rectangle [x, y, width, height] face-api cut out for age/gender and
//           expression: alignedRect (min box of the landmarks padded by 20 %) clipped at the
//           image borders and floored, as extractFaceTensors does
//   age, gender ("male"/"female"), genderProbability, expressions (face-api's 7 labels, in its
//   order: neutral happy sad angry fearful disgusted surprised)
// Decoding: pngjs for PNG and jpeg-js for JPEG (the C test decodes with libjpeg-turbo: a JPEG may
// differ by a grey level here and there, which the test's tolerance for JPEGs accounts for).
'use strict';

const fs = require('fs');
const path = require('path');

const ROOT = path.resolve(__dirname, '..', '..');
const NODE_MODULES = path.join(ROOT, 'tests', 'node', 'node_modules');
const DATA = process.env.VISAGE_TEST_DATA || path.resolve(ROOT, '..', 'shared', 'data');
const MODELS = path.join(ROOT, 'models', 'faceapi');
const OUT = process.argv[2] || path.join(ROOT, 'tests', 'data', 'attr', 'faceapi_attr.json');
const MAX_FACES = 3;
const PAD = 75;

const nodeRequire = (name) => require(path.join(NODE_MODULES, name));
const faceapi = nodeRequire('@vladmandic/face-api/dist/face-api.node-wasm.js');
const { PNG } = nodeRequire('pngjs');
const jpeg = nodeRequire('jpeg-js');
const tf = faceapi.tf;
const wasm = nodeRequire('@tensorflow/tfjs-backend-wasm');

const BBT = ['amy', 'bernadette', 'howard', 'leonard', 'penny', 'raj', 'sheldon', 'stuart'];
const EXPR = ['angry', 'disgusted', 'fearful', 'happy', 'neutral', 'sad', 'surprised'];
const IMAGES = [].concat(
    BBT.flatMap((n) => [1, 2, 3, 4, 5].map((i) => `bbt/${n}/${n}${i}.png`)),
    EXPR.map((e) => `bbt/${e}.jpg`),
    [1, 2, 3, 4, 5, 6, 7, 8].map((i) => `human-samples/stock-teen-${i}.jpg`),
    ['celeste', 'christina', 'lauren', 'lexi', 'linda', 'nicole', 'tasia', 'tetiana', 'vlado']
        .map((n) => `human-samples/person-${n}.jpg`),
);

function decodeImage(file) {
    const buf = fs.readFileSync(file);
    const img = file.endsWith('.png') ? PNG.sync.read(buf)
        : jpeg.decode(buf, { useTArray: true, maxMemoryUsageInMB: 1024 });
    const n = img.width * img.height;
    const rgb = new Uint8Array(n * 3);
    for (let i = 0; i < n; i++) {
        for (let c = 0; c < 3; c++) rgb[i * 3 + c] = img.data[i * 4 + c];
    }
    return { width: img.width, height: img.height, rgb };
}

const r4 = (v) => Math.round(v * 1e4) / 1e4;
const r6 = (v) => Math.round(v * 1e6) / 1e6;

async function main() {
    wasm.setThreadsCount(1);
    await tf.setBackend('wasm');
    await tf.ready();
    for (const net of [faceapi.nets.ssdMobilenetv1, faceapi.nets.faceLandmark68Net,
        faceapi.nets.ageGenderNet, faceapi.nets.faceExpressionNet]) {
        await net.loadFromDisk(MODELS);
    }
    const opts = new faceapi.SsdMobilenetv1Options({ minConfidence: 0.5 });
    const images = [];
    for (const rel of IMAGES) {
        const img = decodeImage(path.join(DATA, rel));
        const pad = /^bbt\/[a-z]+\//.test(rel) ? PAD : 0;
        const t0 = tf.tensor3d(img.rgb, [img.height, img.width, 3], 'int32');
        const t = tf.pad(t0, [[pad, pad], [pad, pad], [0, 0]]);
        t0.dispose();
        const W = img.width + 2 * pad, H = img.height + 2 * pad;
        const res = await faceapi.detectAllFaces(t, opts).withFaceLandmarks().withAgeAndGender()
            .withFaceExpressions();
        t.dispose();
        res.sort((a, b) => b.detection.box.area - a.detection.box.area);
        const faces = res.slice(0, MAX_FACES).map((f) => {
            const b = f.detection.box;
            const c = f.alignedRect.box.clipAtImageBorders(W, H);
            return {
                box: [b.x, b.y, b.width, b.height].map(r4),
                score: r6(f.detection.score),
                lm68: f.landmarks.positions.map((p) => [r4(p.x), r4(p.y)]),
                crop: [c.x, c.y, c.width, c.height],
                age: r6(f.age),
                gender: f.gender,
                genderProbability: r6(f.genderProbability),
                expressions: ['neutral', 'happy', 'sad', 'angry', 'fearful', 'disgusted',
                    'surprised'].map((k) => r6(f.expressions[k])),
            };
        });
        images.push({ file: rel, pad, width: W, height: H, faces });
        process.stderr.write(`${rel}: ${faces.length} face(s)\n`);
    }
    const doc = {
        generator: 'tests/node/attr_faceapi.js, @vladmandic/face-api 1.7.15, tfjs wasm backend',
        expressions: ['neutral', 'happy', 'sad', 'angry', 'fearful', 'disgusted', 'surprised'],
        images,
    };
    fs.mkdirSync(path.dirname(OUT), { recursive: true });
    fs.writeFileSync(OUT, JSON.stringify(doc) + '\n');
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
