// ort_peer.js - onnxruntime's CPU library (npm onnxruntime-node, one intra-op thread) on the
// faceplugin ONNX models, the peer of our engine for them.  Inputs have the models' own shapes
// (from tests/golden/<model>/meta.json), filled with a fixed pattern in -1..1.
//
//   node bench/ort_peer.js [--runs N] MODEL...      (MODEL: fr_feature, fr_detect, ...)
//
// Prints one TSV line per model: "ort <model> <median ms> <median process CPU ms> <runs>".
'use strict';

const fs = require('fs');
const path = require('path');

const ROOT = path.resolve(__dirname, '..');
const ort = require(path.join(ROOT, 'tests', 'node', 'node_modules', 'onnxruntime-node'));
const MODELS = process.env.VISAGE_MODELS || path.join(ROOT, 'models');

async function main() {
    const args = process.argv.slice(2);
    let runs = 50;
    if (args[0] === '--runs') { runs = parseInt(args[1], 10); args.splice(0, 2); }
    for (const name of args) {
        const file = path.join(MODELS, 'faceplugin', `${name}.onnx`);
        const sess = await ort.InferenceSession.create(fs.readFileSync(file), {
            intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential',
            graphOptimizationLevel: 'all',
        });
        const feeds = {};
        for (const input of sess.inputNames) {
            // The input shape as the golden test records it (this onnxruntime-node does not
            // expose input metadata).
            const meta = JSON.parse(fs.readFileSync(
                path.join(ROOT, 'tests', 'golden', name, 'meta.json'), 'utf8'));
            const dims = meta.input.shape;
            const n = dims.reduce((a, b) => a * b, 1);
            const data = new Float32Array(n);
            for (let i = 0; i < n; i++) data[i] = ((i * 37) % 256) / 128 - 1;
            feeds[input] = new ort.Tensor('float32', data, dims);
        }
        const wall = [], cpu = [];
        for (let k = -5; k < runs; k++) {
            const w0 = process.hrtime.bigint(), c0 = process.cpuUsage();
            await sess.run(feeds);
            const c1 = process.cpuUsage(c0), w1 = process.hrtime.bigint();
            if (k < 0) continue;
            wall.push(Number(w1 - w0) / 1e6);
            cpu.push((c1.user + c1.system) / 1e3);
        }
        const med = (v) => v.sort((a, b) => a - b)[Math.floor(v.length / 2)];
        console.log(`ort\t${name}\t${med(wall).toFixed(3)}\t${med(cpu).toFixed(3)}\t${runs}`);
    }
}

main().catch((e) => { console.error(e); process.exit(1); });
