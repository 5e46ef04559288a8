// lfw_faceapi.js - face-api's own pipeline on the LFW images, the baseline visage is measured against.
//
// Usage (from the repository root):
//   node tests/node/lfw_faceapi.js IMAGES_DIR OUT.bin [START END]
//
// START END (image indices, END exclusive) restrict the run to a slice, so two processes can
// share the work; the file then holds the whole list with flag -1 outside the slice, and
// `node tests/node/lfw_faceapi.js --merge OUT.bin PART.bin...` combines the slices.  The file is
// rewritten every 250 images, so an interrupted run keeps what it did (flag -1: not run yet).
//
// For every image under IMAGES_DIR/<person>/<file>.jpg, in the order visage's evaluation uses
// (person folders sorted by name, then files sorted by name, plain code-unit order), it runs
// @vladmandic/face-api 1.7.15 exactly as an application would: SSD MobileNetV1 (default options,
// minConfidence 0.5) -> 68 landmarks -> face descriptor (detectAllFaces().withFaceLandmarks()
// .withFaceDescriptors()).  When several faces are found it keeps the one whose box centre is
// nearest the image centre (LFW centres the named person).  When none is found at 0.5 it retries
// at minConfidence 0.1, and after that the image counts as "no face".
//
// OUT.bin (little-endian): "VSFA" magic, uint32 count, uint32 dim (128), then per image one
// float32 flag (1 = face found, 2 = found only at the lower threshold, 0 = none, -1 = not run)
// followed by dim
// float32 (zeros when no face).  src/face/eval.c reads it as the "faceapi-node" matcher, scoring
// a pair by -euclidean distance as face-api's FaceMatcher does.
'use strict';

const fs = require('fs');
const path = require('path');

const ROOT = path.resolve(__dirname, '..', '..');
const NODE_MODULES = path.join(ROOT, 'tests', 'node', 'node_modules');
const MODELS = path.join(ROOT, 'models', 'faceapi');
const nodeRequire = (name) => require(path.join(NODE_MODULES, name));
const faceapi = nodeRequire('@vladmandic/face-api/dist/face-api.node-wasm.js');
const jpeg = nodeRequire('jpeg-js');
const tf = faceapi.tf;

function listImages(dir) {
    const out = [];
    const people = fs.readdirSync(dir).sort();
    for (const p of people) {
        const pd = path.join(dir, p);
        if (!fs.statSync(pd).isDirectory()) continue;
        for (const f of fs.readdirSync(pd).sort()) {
            if (f.endsWith('.jpg')) out.push(path.join(pd, f));
        }
    }
    return out;
}

function decode(file) {
    const img = jpeg.decode(fs.readFileSync(file), { useTArray: true });
    const n = img.width * img.height;
    const rgb = new Uint8Array(n * 3);
    for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) rgb[i * 3 + c] = img.data[i * 4 + c];
    return tf.tensor3d(rgb, [img.height, img.width, 3], 'int32');
}

function nearestCentre(results, w, h) {
    let best = null;
    let bestD = Infinity;
    for (const r of results) {
        const b = r.detection.box;
        const d = (b.x + b.width / 2 - w / 2) ** 2 + (b.y + b.height / 2 - h / 2) ** 2;
        if (d < bestD) {
            bestD = d;
            best = r;
        }
    }
    return best;
}

// Combines slices: for each image, the first part whose flag is not -1 (not run) wins.
function merge(outFile, parts) {
    const bufs = parts.map((p) => fs.readFileSync(p));
    const n = bufs[0].readUInt32LE(4);
    const dim = bufs[0].readUInt32LE(8);
    const out = Buffer.from(bufs[0]);
    const rec = (dim + 1) * 4;
    let todo = 0;
    for (let i = 0; i < n; i++) {
        const off = 12 + i * rec;
        const b = bufs.find((x) => x.readFloatLE(off) !== -1);
        if (b) b.copy(out, off, off, off + rec);
        else todo++;
    }
    fs.writeFileSync(outFile, out);
    console.log(`merged ${parts.length} parts: ${n} images, ${todo} not run`);
}

async function main() {
    const args = process.argv.slice(2);
    if (args[0] === '--merge') return merge(args[1], args.slice(2));
    const [dir, outFile, startArg, endArg] = args;
    if (!dir || !outFile) {
        console.error('usage: node tests/node/lfw_faceapi.js IMAGES_DIR OUT.bin [START END]\n'
            + '       node tests/node/lfw_faceapi.js --merge OUT.bin PART.bin...');
        process.exit(2);
    }
    const files = listImages(dir);
    const start = startArg ? parseInt(startArg, 10) : 0;
    const end = endArg ? Math.min(parseInt(endArg, 10), files.length) : files.length;
    await tf.setBackend('wasm');
    await tf.ready();
    await faceapi.nets.ssdMobilenetv1.loadFromDisk(MODELS);
    await faceapi.nets.faceLandmark68Net.loadFromDisk(MODELS);
    await faceapi.nets.faceRecognitionNet.loadFromDisk(MODELS);
    const dim = 128;
    const buf = Buffer.alloc(12 + files.length * (dim + 1) * 4);
    buf.write('VSFA', 0, 'latin1');
    buf.writeUInt32LE(files.length, 4);
    buf.writeUInt32LE(dim, 8);
    for (let i = 0; i < files.length; i++) buf.writeFloatLE(-1, 12 + i * (dim + 1) * 4);
    let missing = 0;
    let low = 0;
    const t0 = Date.now();
    for (let i = start; i < end; i++) {
        const t = decode(files[i]);
        const [h, w] = t.shape;
        let flag = 1;
        let res = await faceapi.detectAllFaces(t, new faceapi.SsdMobilenetv1Options({ minConfidence: 0.5 }))
            .withFaceLandmarks().withFaceDescriptors();
        if (res.length === 0) {
            flag = 2;
            res = await faceapi.detectAllFaces(t, new faceapi.SsdMobilenetv1Options({ minConfidence: 0.1 }))
                .withFaceLandmarks().withFaceDescriptors();
        }
        t.dispose();
        let off = 12 + i * (dim + 1) * 4;
        const best = nearestCentre(res, w, h);
        if (!best) {
            flag = 0;
            missing++;
        } else if (flag === 2) {
            low++;
        }
        buf.writeFloatLE(flag, off);
        off += 4;
        for (let k = 0; k < dim; k++) buf.writeFloatLE(best ? best.descriptor[k] : 0, off + k * 4);
        if ((i + 1 - start) % 250 === 0) {
            const s = (Date.now() - t0) / 1000;
            console.error(`${i + 1 - start}/${end - start} images, ${s.toFixed(0)} s`);
            fs.writeFileSync(outFile, buf);
        }
    }
    fs.writeFileSync(outFile, buf);
    console.log(`images ${end - start}, found at 0.5: ${end - start - missing - low}, `
        + `only at 0.1: ${low}, no face: ${missing}`);
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
