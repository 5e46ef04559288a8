// faceapi_pipeline.js - face-api's own pipeline per image in Node, the peer of
// bench/pipeline_bench.c: SSD MobileNetV1 (default options) + 68 landmarks + face descriptor
// (detectAllFaces().withFaceLandmarks().withFaceDescriptors()), TensorFlow.js wasm backend,
// one thread.  Images are decoded before timing (JPEG with jpeg-js, PNG with pngjs).
//
//   node bench/faceapi_pipeline.js [--runs N] IMAGE...
//
// Prints one TSV line per image: name, faces, median wall ms, median process CPU ms.
'use strict';

const fs = require('fs');
const path = require('path');

const ROOT = path.resolve(__dirname, '..');
const NM = path.join(ROOT, 'tests', 'node', 'node_modules');
const req = (n) => require(path.join(NM, n));
const faceapi = req('@vladmandic/face-api/dist/face-api.node-wasm.js');
const wasm = req('@tensorflow/tfjs-backend-wasm');
const jpeg = req('jpeg-js');
const { PNG } = req('pngjs');
const tf = faceapi.tf;

function decode(file) {
    const buf = fs.readFileSync(file);
    const img = file.toLowerCase().endsWith('.png') ? PNG.sync.read(buf)
        : jpeg.decode(buf, { useTArray: true, formatAsRGBA: true });
    const { width, height, data } = img;
    const rgb = new Uint8Array(width * height * 3);
    for (let i = 0, j = 0; i < width * height * 4; i += 4) {
        rgb[j++] = data[i]; rgb[j++] = data[i + 1]; rgb[j++] = data[i + 2];
    }
    return tf.tensor3d(rgb, [height, width, 3], 'int32');
}

async function main() {
    const args = process.argv.slice(2);
    let runs = 20;
    if (args[0] === '--runs') { runs = parseInt(args[1], 10); args.splice(0, 2); }
    wasm.setThreadsCount(1);
    wasm.setWasmPaths(path.join(NM, '@tensorflow', 'tfjs-backend-wasm', 'dist') + '/');
    await tf.setBackend('wasm');
    await tf.ready();
    const dir = path.join(ROOT, 'models', 'faceapi');
    await faceapi.nets.ssdMobilenetv1.loadFromDisk(dir);
    await faceapi.nets.faceLandmark68Net.loadFromDisk(dir);
    await faceapi.nets.faceRecognitionNet.loadFromDisk(dir);
    const opts = new faceapi.SsdMobilenetv1Options();
    console.log('image\tfaces\twall_ms\tcpu_ms');
    for (const file of args) {
        const t = decode(file);
        const wall = [], cpu = [];
        let faces = 0;
        for (let k = -3; k < runs; k++) {
            const w0 = process.hrtime.bigint(), c0 = process.cpuUsage();
            const r = await faceapi.detectAllFaces(t, opts).withFaceLandmarks().withFaceDescriptors();
            const c1 = process.cpuUsage(c0);
            const w1 = process.hrtime.bigint();
            faces = r.length;
            if (k < 0) continue;
            wall.push(Number(w1 - w0) / 1e6);
            cpu.push((c1.user + c1.system) / 1e3);
        }
        t.dispose();
        const med = (v) => v.sort((a, b) => a - b)[Math.floor(v.length / 2)];
        console.log(`${path.basename(file)}\t${faces}\t${med(wall).toFixed(2)}\t${med(cpu).toFixed(2)}`);
    }
}

main().catch((e) => { console.error(e); process.exit(1); });
