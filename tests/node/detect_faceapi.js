// detect_faceapi.js - face-api's own SSD detections and NMS, the references test_detect.c checks
// visage's detector against.
//
// Usage (from the repository root; data from $VISAGE_TEST_DATA or ../shared/data):
//   node tests/node/detect_faceapi.js            writes tests/data/detect/faceapi_ssd.json and
//                                                tests/data/detect/faceapi_nms.json
//   node tests/node/detect_faceapi.js --lfw      prints face-api's own LFW detection rates (the
//                                                "10%" measurement), writes nothing
//
// faceapi_ssd.json: for each test photo (faceapi-test/images/faces.jpg, the group photos
// group/*.jpg except 22.jpg, which is a drawing, human-samples/group-*.jpg and bbt/bbt*.jpg),
// @vladmandic/face-api 1.7.15 (tfjs 4.22.0, wasm backend) runs exactly as an application would:
// detectAllFaces(tensor, new SsdMobilenetv1Options({ minConfidence })) on an int32 tensor of the
// decoded RGB pixels (jpeg-js), at minConfidence 0.5 (the default) and 0.3.  Boxes are
// face-api's box in image pixels: [x, y, width, height, score].
//
// "exact" holds the same at minConfidence 0.1 for PNG images (lossless, so both sides see the
// same pixels), with more digits: there visage's boxes must equal face-api's within rounding.
//
// "crops" holds, for each of bbt's 40 face crops (150x150 PNG, one face filling each), the best
// score face-api gives it (0 when it finds nothing even at minConfidence 0.1).
//
// faceapi_nms.json: face-api's exported nonMaxSuppression (ops/nonMaxSuppression.ts) on the
// predicted boxes of each entry of faceapi-test/reference/boxes.json (50 images' predicted and
// ground-truth boxes from face-api.js's own NMS tests), for IoU thresholds 0.3 and 0.5 and for
// intersection-over-minimum (isIOU = false) at 0.65: the indices it picks, in order.
'use strict';

const fs = require('fs');
const path = require('path');

const ROOT = path.resolve(__dirname, '..', '..');
const DATA = process.env.VISAGE_TEST_DATA || path.join(ROOT, '..', 'shared', 'data');
const OUT_DIR = path.join(ROOT, 'tests', 'data', 'detect');
const NODE_MODULES = path.join(ROOT, 'tests', 'node', 'node_modules');
const MODELS = path.join(ROOT, 'models', 'faceapi');
const nodeRequire = (name) => require(path.join(NODE_MODULES, name));
const faceapi = nodeRequire('@vladmandic/face-api/dist/face-api.node-wasm.js');
const jpeg = nodeRequire('jpeg-js');
const { PNG } = nodeRequire('pngjs');
const tf = faceapi.tf;

const THRESHOLDS = [0.5, 0.3];

// Lossless images, decoded to the same pixels by pngjs and by visage, for the exact comparison.
const EXACT = ['faceapi-test/images/face1.png', 'faceapi-test/images/face2.png',
    'faceapi-test/images/face_rectangular.png', 'bbt/amy/amy1.png', 'bbt/leonard/leonard2.png',
    'bbt/penny/penny1.png', 'bbt/raj/raj1.png', 'bbt/sheldon/sheldon1.png'];

function testImages() {
    const list = ['faceapi-test/images/faces.jpg'];
    const add = (dir, keep) => {
        for (const f of fs.readdirSync(path.join(DATA, dir)).sort()) {
            if (keep(f)) list.push(`${dir}/${f}`);
        }
    };
    add('group', (f) => f.endsWith('.jpg') && f !== '22.jpg');
    add('human-samples', (f) => f.startsWith('group-') && f.endsWith('.jpg'));
    add('bbt', (f) => /^bbt\d+\.jpg$/.test(f));
    return list;
}

function decode(file) {
    const bytes = fs.readFileSync(file);
    const img = file.endsWith('.png') ? PNG.sync.read(bytes)
        : jpeg.decode(bytes, { useTArray: true, maxMemoryUsageInMB: 2048 });
    const n = img.width * img.height;
    const rgb = new Int32Array(n * 3);
    for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) rgb[i * 3 + c] = img.data[i * 4 + c];
    return tf.tensor3d(rgb, [img.height, img.width, 3], 'int32');
}

const round = (v, k) => Math.round(v * k) / k;

async function detect(t, minConfidence, digits = 2) {
    const res = await faceapi.detectAllFaces(t, new faceapi.SsdMobilenetv1Options({ minConfidence }));
    const k = 10 ** digits;
    return res.map((d) => [round(d.box.x, k), round(d.box.y, k), round(d.box.width, k),
        round(d.box.height, k), round(d.score, k * 100)]);
}

async function writeDetections() {
    const images = [];
    for (const rel of testImages()) {
        const t = decode(path.join(DATA, rel));
        const [h, w] = t.shape;
        const entry = { file: rel, w, h };
        for (const thr of THRESHOLDS) entry[`faces_${thr}`] = await detect(t, thr);
        t.dispose();
        images.push(entry);
        console.error(`${rel}: ${entry['faces_0.5'].length} faces at 0.5, ${entry['faces_0.3'].length} at 0.3`);
    }
    const exact = [];
    for (const rel of EXACT) {
        const t = decode(path.join(DATA, rel));
        const [h, w] = t.shape;
        exact.push({ file: rel, w, h, 'faces_0.1': await detect(t, 0.1, 3) });
        t.dispose();
    }
    // The close crops: bbt/<name>/<name>N.png, 150x150, one face filling each.
    const crops = [];
    for (const p of fs.readdirSync(path.join(DATA, 'bbt')).sort()) {
        if (!fs.statSync(path.join(DATA, 'bbt', p)).isDirectory()) continue;
        for (const f of fs.readdirSync(path.join(DATA, 'bbt', p)).sort()) {
            if (!f.endsWith('.png')) continue;
            const t = decode(path.join(DATA, 'bbt', p, f));
            const res = await detect(t, 0.1, 3);
            t.dispose();
            crops.push([`bbt/${p}/${f}`, res.reduce((m, d) => Math.max(m, d[4]), 0)]);
        }
    }
    const doc = {
        generator: 'tests/node/detect_faceapi.js: @vladmandic/face-api 1.7.15 detectAllFaces + '
            + 'SsdMobilenetv1Options, tfjs 4.22.0 wasm backend, jpeg-js decoder',
        crops_note: 'bbt face crops: [file, best face-api score at minConfidence 0.1 (0: none)]',
        crops,
        box: '[x, y, width, height, score] in image pixels',
        images,
        exact,
    };
    fs.writeFileSync(path.join(OUT_DIR, 'faceapi_ssd.json'),
        `${JSON.stringify(doc, null, 0).replace(/\{"file"/g, '\n{"file"')}\n`);
}

function writeNms() {
    const ref = JSON.parse(fs.readFileSync(path.join(DATA, 'faceapi-test/reference/boxes.json')));
    const cases = [];
    ref.forEach((entry, i) => {
        const preds = entry.predictions;
        if (preds.length < 1) return;
        const boxes = preds.map((p) => new faceapi.Box({ x: p.x, y: p.y, width: p.width, height: p.height }));
        const scores = preds.map((p) => p.score);
        cases.push({
            entry: i,
            boxes: preds.map((p) => [p.x, p.y, p.width, p.height, p.score]),
            iou_0_3: faceapi.nonMaxSuppression(boxes, scores, 0.3, true),
            iou_0_5: faceapi.nonMaxSuppression(boxes, scores, 0.5, true),
            iomin_0_65: faceapi.nonMaxSuppression(boxes, scores, 0.65, false),
        });
    });
    const doc = {
        generator: 'tests/node/detect_faceapi.js: @vladmandic/face-api 1.7.15 nonMaxSuppression '
            + '(ops) on faceapi-test/reference/boxes.json predictions',
        cases,
    };
    fs.writeFileSync(path.join(OUT_DIR, 'faceapi_nms.json'), `${JSON.stringify(doc)}\n`);
}

async function lfwRates() {
    const dir = path.join(DATA, 'lfw-dev', 'images');
    const files = [];
    for (const p of fs.readdirSync(dir).sort()) {
        for (const f of fs.readdirSync(path.join(dir, p)).sort()) files.push(path.join(dir, p, f));
    }
    const cuts = [0.5, 0.3, 0.2, 0.1];
    const found = cuts.map(() => 0);
    for (const f of files) {
        const t = decode(f);
        const res = await detect(t, 0.1);
        t.dispose();
        const best = res.reduce((m, d) => Math.max(m, d[4]), 0);
        cuts.forEach((c, k) => { if (best > c) found[k]++; });
    }
    cuts.forEach((c, k) => console.log(`face-api SSD score > ${c}: ${found[k]} / ${files.length} `
        + `images with a face (${(100 * found[k] / files.length).toFixed(2)}%)`));
}

async function main() {
    await tf.setBackend('wasm');
    await tf.ready();
    await faceapi.nets.ssdMobilenetv1.loadFromDisk(MODELS);
    if (process.argv.includes('--lfw')) {
        await lfwRates();
        return;
    }
    fs.mkdirSync(OUT_DIR, { recursive: true });
    writeNms();
    await writeDetections();
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
