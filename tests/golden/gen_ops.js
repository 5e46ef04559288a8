#!/usr/bin/env node
/*
 * gen_ops.js - reference outputs for the engine's op kernels, computed by TensorFlow.js.
 *
 * Run from the repository root:  node tests/golden/gen_ops.js
 *
 * Builds a table of small op cases with seeded pseudo-random inputs, runs each one with
 * @tensorflow/tfjs's CPU backend (the definition of every op's semantics, see
 * src/nn/kernels_ref.c) and writes tests/golden/ops/:
 *   index.json   {"tfjs": version, "backend": "cpu", "cases": [case, ...]}, each case
 *                {"name", "op" (a VS_OP_ name from src/nn/graph.h), "attrs" (vs_node fields:
 *                 stride, dilation, ksize, padmode, pad [top,bottom,left,right] as tfjs computed
 *                 it, act, act_min, act_max, alpha, transpose_a, transpose_b, axis, axes_mask,
 *                 keepdims, pads, pad_value, perm, begin, size, out_h, out_w, align_corners,
 *                 half_pixel_centers), "inputs": [{"shape", "file"} or null for an absent
 *                 optional input], "output": {"shape", "file"}}
 *   *.f32        raw little-endian float32 tensors, row-major.
 * tests/test_kernels.c reads them and checks src/nn/kernels_ref.c against them.  The inputs are
 * deterministic (a fixed PRNG, one seed per case), so rerunning gives identical files.
 */
'use strict';

const fs = require('fs');
const path = require('path');
const tf = require(path.join(__dirname, '../node/node_modules/@tensorflow/tfjs'));

const OUT_DIR = path.join(__dirname, 'ops');

/* mulberry32: a small deterministic PRNG, uniform in [0, 1). */
function prng(seed) {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

let nextSeed = 1;

/* A float32 tensor of the given shape, uniform in [lo, hi), optionally kept away from zero
 * (|v| >= away) for divisors. */
function rand(shape, lo = -1, hi = 1, away = 0) {
    const r = prng(nextSeed++ * 7919);
    const n = shape.reduce((a, b) => a * b, 1);
    const v = new Float32Array(n);
    for (let i = 0; i < n; i++) {
        let x = lo + (hi - lo) * r();
        if (away > 0 && Math.abs(x) < away)
            x = x < 0 ? -away - Math.abs(x) : away + x;
        v[i] = x;
    }
    return tf.tensor(v, shape, 'float32');
}

const cases = [];
let totalBytes = 0;

function writeF32(file, tensor) {
    const data = Float32Array.from(tensor.dataSync());
    fs.writeFileSync(path.join(OUT_DIR, file), Buffer.from(data.buffer));
    totalBytes += data.byteLength;
}

/* Records one case: inputs are tensors or null (absent optional input), out is tfjs's result. */
function addCase(name, op, attrs, inputs, out) {
    if (cases.some((c) => c.name === name))
        throw new Error(`duplicate case ${name}`);
    const ins = inputs.map((t, i) => {
        if (t === null)
            return null;
        const file = `${name}.in${i}.f32`;
        writeF32(file, t);
        return {shape: t.shape, file};
    });
    const file = `${name}.out.f32`;
    writeF32(file, out);
    cases.push({name, op, attrs, inputs: ins, output: {shape: out.shape, file}});
}

/* ---- convolutions and matmul --------------------------------------------------------------- */

const TFJS_ACT = {NONE: 'linear', RELU: 'relu', RELU6: 'relu6', PRELU: 'prelu',
                  LEAKY_RELU: 'leakyrelu', SIGMOID: 'sigmoid'};

/* tfjs's padding argument from ours: 'SAME', 'VALID' or [top, bottom, left, right]. */
function tfPad(pad) {
    if (pad === 'SAME' || pad === 'VALID')
        return pad.toLowerCase();
    return [[0, 0], [pad[0], pad[1]], [pad[2], pad[3]], [0, 0]];
}

/* Attributes of a fused activation; returns {attrs, alpha tensor or null, tfjs fused args}. */
function actSetup(act, channels) {
    const attrs = {act};
    let alpha = null;
    const fused = {activation: TFJS_ACT[act] || 'linear'};
    if (act === 'PRELU') {
        alpha = rand([channels], 0.05, 0.5);
        fused.preluActivationWeights = alpha;
    } else if (act === 'LEAKY_RELU') {
        attrs.alpha = 0.2;
        fused.leakyreluAlpha = 0.2;
    } else if (act === 'CLAMP') {
        attrs.act_min = -0.4;
        attrs.act_max = 0.7;
    }
    return {attrs, alpha, fused};
}

/* CONV2D or DWCONV2D (depthwise: filter [KH,KW,C,M]).  o: {x, k: [kh,kw], out (channels or
 * multiplier), stride, dilation, pad, bias, act}. */
function convCase(name, o) {
    const dw = o.depthwise === true;
    const x = rand(o.x);
    const c = o.x[3];
    const fshape = [o.k[0], o.k[1], c, o.out];
    const outC = dw ? c * o.out : o.out;
    const filter = rand(fshape, -0.5, 0.5);
    const stride = o.stride || [1, 1];
    const dilation = o.dilation || [1, 1];
    const pad = o.pad || 'VALID';
    const bias = o.bias ? rand([outC]) : null;
    const act = actSetup(o.act || 'NONE', outC);
    const args = Object.assign({x, filter, strides: stride, pad: tfPad(pad), dilations: dilation,
                                bias: bias || undefined}, act.fused);
    let y = dw ? tf.fused.depthwiseConv2d(args) : tf.fused.conv2d(args);
    if (o.act === 'CLAMP') /* tfjs has no fused clamp: conv, then ClipByValue */
        y = tf.clipByValue(y, act.attrs.act_min, act.attrs.act_max);
    const info = tf.backend_util.computeConv2DInfo(o.x, fshape, stride, dilation, tfPad(pad),
                                                   undefined, dw);
    const p = info.padInfo;
    const attrs = Object.assign({stride, dilation,
                                 padmode: Array.isArray(pad) ? 'EXPLICIT' : pad,
                                 pad: [p.top, p.bottom, p.left, p.right]}, act.attrs);
    addCase(name, dw ? 'DWCONV2D' : 'CONV2D', attrs, [x, filter, bias, act.alpha], y);
}

/* MATMUL with optional transposes, batch dims, bias and activation. */
function matmulCase(name, o) {
    const a = rand(o.a);
    const b = rand(o.b, -0.5, 0.5);
    const ta = !!o.ta, tb = !!o.tb;
    const n = tb ? o.b[o.b.length - 2] : o.b[o.b.length - 1];
    const bias = o.bias ? rand([n]) : null;
    const act = actSetup(o.act || 'NONE', n);
    let y = tf.fused.matMul(Object.assign({a, b, transposeA: ta, transposeB: tb,
                                           bias: bias || undefined}, act.fused));
    if (o.act === 'CLAMP')
        y = tf.clipByValue(y, act.attrs.act_min, act.attrs.act_max);
    const attrs = Object.assign({transpose_a: ta ? 1 : 0, transpose_b: tb ? 1 : 0}, act.attrs);
    addCase(name, 'MATMUL', attrs, [a, b, bias, act.alpha], y);
}

function convCases() {
    convCase('conv_same_s1_odd', {x: [1, 7, 7, 5], k: [3, 3], out: 8, pad: 'SAME'});
    convCase('conv_same_s2_odd', {x: [1, 9, 9, 4], k: [3, 3], out: 6, stride: [2, 2],
                                  pad: 'SAME'});
    convCase('conv_same_s2_even', {x: [1, 8, 8, 3], k: [3, 3], out: 16, stride: [2, 2],
                                   pad: 'SAME', bias: true});
    convCase('conv_valid_s1', {x: [1, 8, 6, 4], k: [3, 3], out: 7, pad: 'VALID'});
    convCase('conv_valid_s2_odd', {x: [1, 9, 9, 3], k: [3, 3], out: 5, stride: [2, 2],
                                   pad: 'VALID'});
    convCase('conv_valid_s2_even', {x: [1, 10, 8, 2], k: [2, 2], out: 4, stride: [2, 2],
                                    pad: 'VALID'});
    convCase('conv_same_k5_s2_even', {x: [1, 12, 10, 3], k: [5, 5], out: 4, stride: [2, 2],
                                      pad: 'SAME', bias: true});
    convCase('conv_same_k4_even_kernel', {x: [1, 7, 8, 3], k: [4, 4], out: 4, pad: 'SAME'});
    convCase('conv_rect_stride', {x: [1, 9, 8, 3], k: [3, 2], out: 5, stride: [1, 2],
                                  pad: 'SAME'});
    convCase('conv_dilation2_same', {x: [1, 9, 9, 3], k: [3, 3], out: 4, dilation: [2, 2],
                                     pad: 'SAME'});
    convCase('conv_dilation2_valid', {x: [1, 10, 9, 2], k: [3, 3], out: 3, dilation: [2, 2],
                                      pad: 'VALID'});
    convCase('conv_1x1', {x: [1, 6, 6, 16], k: [1, 1], out: 24, bias: true});
    convCase('conv_explicit_pad', {x: [1, 7, 6, 3], k: [3, 3], out: 4, stride: [2, 2],
                                   pad: [1, 2, 2, 0]});
    convCase('conv_batch2', {x: [2, 6, 5, 3], k: [3, 3], out: 4, pad: 'SAME', bias: true,
                             act: 'RELU'});
    for (const act of ['RELU', 'RELU6', 'CLAMP', 'PRELU', 'LEAKY_RELU', 'SIGMOID']) {
        convCase(`conv_bias_${act.toLowerCase()}`, {x: [1, 6, 7, 4], k: [3, 3], out: 8,
                                                    pad: 'SAME', bias: true, act});
    }
    convCase('conv_nobias_prelu', {x: [1, 5, 5, 3], k: [3, 3], out: 4, pad: 'SAME',
                                   act: 'PRELU'});

    const dw = (name, o) => convCase(name, Object.assign({depthwise: true}, o));
    dw('dw_m1_same_s1', {x: [1, 8, 8, 6], k: [3, 3], out: 1, pad: 'SAME'});
    dw('dw_m1_same_s2_odd', {x: [1, 9, 9, 5], k: [3, 3], out: 1, stride: [2, 2], pad: 'SAME'});
    dw('dw_m2_same_s2_even', {x: [1, 8, 8, 4], k: [3, 3], out: 2, stride: [2, 2], pad: 'SAME'});
    dw('dw_m2_valid_s1', {x: [1, 7, 6, 3], k: [3, 3], out: 2, pad: 'VALID', bias: true});
    dw('dw_m1_valid_s2', {x: [1, 9, 8, 4], k: [3, 3], out: 1, stride: [2, 2], pad: 'VALID'});
    dw('dw_k5_same', {x: [1, 9, 9, 3], k: [5, 5], out: 1, pad: 'SAME', bias: true});
    dw('dw_dilation2_same', {x: [1, 9, 9, 4], k: [3, 3], out: 1, dilation: [2, 2],
                             pad: 'SAME'});
    dw('dw_m2_dilation2_valid', {x: [1, 9, 10, 2], k: [3, 3], out: 2, dilation: [2, 2],
                                 pad: 'VALID'});
    dw('dw_explicit_pad', {x: [1, 6, 7, 3], k: [3, 3], out: 1, pad: [1, 1, 0, 2]});
    dw('dw_batch2', {x: [2, 5, 5, 3], k: [3, 3], out: 1, pad: 'SAME', bias: true});
    for (const act of ['RELU', 'RELU6', 'CLAMP', 'PRELU', 'LEAKY_RELU', 'SIGMOID']) {
        dw(`dw_bias_${act.toLowerCase()}`, {x: [1, 6, 6, 5], k: [3, 3], out: 2, pad: 'SAME',
                                            bias: true, act});
    }

    matmulCase('matmul_plain', {a: [5, 7], b: [7, 6]});
    matmulCase('matmul_ta', {a: [7, 5], b: [7, 6], ta: true});
    matmulCase('matmul_tb', {a: [5, 7], b: [6, 7], tb: true});
    matmulCase('matmul_ta_tb', {a: [7, 5], b: [6, 7], ta: true, tb: true});
    matmulCase('matmul_k64', {a: [3, 64], b: [64, 20], bias: true});
    matmulCase('matmul_batched3', {a: [2, 4, 6], b: [2, 6, 5]});
    matmulCase('matmul_batched3_tb', {a: [3, 4, 6], b: [3, 5, 6], tb: true});
    matmulCase('matmul_batch_bcast_b1', {a: [3, 4, 6], b: [1, 6, 5]});
    matmulCase('matmul_batch_rank2_b', {a: [2, 4, 6], b: [6, 5], bias: true});
    matmulCase('matmul_batched4', {a: [2, 2, 3, 4], b: [2, 2, 4, 3]});
    for (const act of ['NONE', 'RELU', 'RELU6', 'CLAMP', 'PRELU', 'LEAKY_RELU', 'SIGMOID']) {
        matmulCase(`matmul_bias_${act.toLowerCase()}`, {a: [4, 9], b: [9, 8], bias: true, act});
    }
}

/* ---- element-wise -------------------------------------------------------------------------- */

const BINARY = {ADD: tf.add, SUB: tf.sub, MUL: tf.mul, DIV: tf.div, MINIMUM: tf.minimum,
                MAXIMUM: tf.maximum};

function binaryCase(name, op, ashape, bshape) {
    const a = rand(ashape);
    const b = op === 'DIV' ? rand(bshape, -2, 2, 0.5) : rand(bshape);
    addCase(name, op, {}, [a, b], BINARY[op](a, b));
}

function elementwiseCases() {
    /* [C] against NHWC, [1,1,1,C], scalars on either side, both sides broadcasting, 6-D. */
    const shapes = {
        same: [[1, 4, 5, 6], [1, 4, 5, 6]],
        vec: [[1, 4, 5, 6], [6]],
        c111: [[1, 4, 5, 6], [1, 1, 1, 6]],
        scalar_b: [[1, 3, 4, 5], []],
        scalar_a: [[], [2, 3, 4]],
        both: [[1, 4, 1, 6], [1, 1, 5, 1]],
        hw1: [[1, 4, 5, 6], [1, 4, 5, 1]],
        lowrank_a: [[5, 1], [2, 3, 5, 4]],
        rank6: [[2, 3, 1, 4, 1, 2], [3, 5, 4, 1, 2]],
    };
    for (const [key, [as, bs]] of Object.entries(shapes))
        binaryCase(`add_${key}`, 'ADD', as, bs);
    for (const op of ['SUB', 'MUL', 'DIV', 'MINIMUM', 'MAXIMUM']) {
        for (const key of ['same', 'vec', 'scalar_b', 'both'])
            binaryCase(`${op.toLowerCase()}_${key}`, op, shapes[key][0], shapes[key][1]);
    }
    binaryCase('sub_scalar_a', 'SUB', [], [3, 4]);
    binaryCase('div_scalar_a', 'DIV', [], [3, 4]);
    binaryCase('mul_c111', 'MUL', [1, 4, 5, 6], [1, 1, 1, 6]);
    binaryCase('div_rank6', 'DIV', [2, 3, 1, 4, 1, 2], [3, 5, 4, 1, 2]);

    for (const [key, as] of [['vec', [6]], ['c116', [1, 1, 6]], ['scalar', []],
                             ['full', [1, 4, 5, 6]]]) {
        const x = rand([1, 4, 5, 6]);
        const alpha = rand(as, 0.05, 0.5);
        addCase(`prelu_${key}`, 'PRELU', {}, [x, alpha], tf.prelu(x, alpha));
    }

    const unary = [
        ['ABS', {}, (x) => tf.abs(x), -2, 2],
        ['NEG', {}, (x) => tf.neg(x), -2, 2],
        ['RELU', {}, (x) => tf.relu(x), -2, 2],
        ['RELU6', {}, (x) => tf.relu6(x), -3, 9],
        ['LEAKY_RELU', {alpha: 0.1}, (x) => tf.leakyRelu(x, 0.1), -2, 2],
        ['SIGMOID', {}, (x) => tf.sigmoid(x), -8, 8],
        ['TANH', {}, (x) => tf.tanh(x), -3, 3],
        ['EXP', {}, (x) => tf.exp(x), -4, 4],
        ['SQUARE', {}, (x) => tf.square(x), -3, 3],
        ['SQRT', {}, (x) => tf.sqrt(x), 0, 9],
        ['RSQRT', {}, (x) => tf.rsqrt(x), 0.05, 9],
        ['CLAMP', {act_min: -0.5, act_max: 0.25}, (x) => tf.clipByValue(x, -0.5, 0.25), -1, 1],
    ];
    for (const [op, attrs, fn, lo, hi] of unary) {
        const x = rand([2, 3, 4, 5], lo, hi);
        addCase(op.toLowerCase(), op, attrs, [x], fn(x));
    }
}

/* ---- softmax, pooling, reductions ---------------------------------------------------------- */

function softmaxCase(name, shape, axis, scale) {
    const x = tf.mul(rand(shape), scale);
    const r = shape.length;
    let y;
    if (axis === r - 1) {
        y = tf.softmax(x, -1);
    } else {
        /* tfjs's CPU kernel only takes the last axis: move the axis last and back. */
        const perm = [...Array(r).keys()].filter((d) => d !== axis).concat([axis]);
        const inv = perm.map((_, d) => perm.indexOf(d));
        y = tf.transpose(tf.softmax(tf.transpose(x, perm), -1), inv);
    }
    addCase(name, 'SOFTMAX', {axis}, [x], y);
}

function poolCase(name, op, xs, k, stride, pad) {
    const x = rand(xs);
    const y = op === 'MAXPOOL' ? tf.maxPool(x, k, stride, pad.toLowerCase())
                               : tf.avgPool(x, k, stride, pad.toLowerCase());
    const info = tf.backend_util.computePool2DInfo(xs, k, stride, 1, pad.toLowerCase());
    const p = info.padInfo;
    addCase(name, op, {ksize: k, stride, dilation: [1, 1], padmode: pad,
                       pad: [p.top, p.bottom, p.left, p.right]}, [x], y);
}

const REDUCE = {MEAN: tf.mean, SUM: tf.sum, REDUCE_MAX: tf.max};

function reduceCase(name, op, xs, axes, keepdims) {
    const x = rand(xs);
    const mask = axes.reduce((m, a) => m | (1 << (a < 0 ? a + xs.length : a)), 0);
    addCase(name, op, {axes_mask: mask, keepdims: keepdims ? 1 : 0}, [x],
            REDUCE[op](x, axes, keepdims));
}

function reductionCases() {
    softmaxCase('softmax_last', [2, 3, 10], 2, 1);
    softmaxCase('softmax_2d_large', [3, 17], 1, 30);
    softmaxCase('softmax_axis1', [2, 5, 3], 1, 4);
    softmaxCase('softmax_axis0', [4, 6], 0, 4);
    softmaxCase('softmax_nhwc_c', [1, 3, 4, 2], 3, 10);

    for (const op of ['MAXPOOL', 'AVGPOOL']) {
        const p = op.toLowerCase();
        poolCase(`${p}_k3_s2_same_odd`, op, [1, 9, 9, 4], [3, 3], [2, 2], 'SAME');
        poolCase(`${p}_k3_s2_same_even`, op, [1, 8, 8, 3], [3, 3], [2, 2], 'SAME');
        poolCase(`${p}_k2_s2_valid`, op, [1, 8, 6, 5], [2, 2], [2, 2], 'VALID');
        poolCase(`${p}_k3_s1_same`, op, [1, 6, 7, 3], [3, 3], [1, 1], 'SAME');
        poolCase(`${p}_k3_s2_valid_odd`, op, [1, 9, 7, 2], [3, 3], [2, 2], 'VALID');
        poolCase(`${p}_k3x2_s1x2_same`, op, [2, 7, 8, 3], [3, 2], [1, 2], 'SAME');
        poolCase(`${p}_global`, op, [1, 5, 6, 300], [5, 6], [1, 1], 'VALID');
    }

    for (const op of ['MEAN', 'SUM', 'REDUCE_MAX']) {
        const p = op === 'REDUCE_MAX' ? 'max' : op.toLowerCase();
        reduceCase(`${p}_hw_keep`, op, [1, 5, 6, 7], [1, 2], true);
        reduceCase(`${p}_hw_drop`, op, [2, 5, 6, 7], [1, 2], false);
        reduceCase(`${p}_last`, op, [2, 3, 4, 9], [3], false);
        reduceCase(`${p}_first`, op, [3, 4, 5], [0], false);
        reduceCase(`${p}_split_axes`, op, [3, 4, 5, 2], [0, 2], true);
        reduceCase(`${p}_all`, op, [3, 4, 5], [0, 1, 2], false);
    }
    reduceCase('mean_wide_channels', 'MEAN', [1, 3, 3, 600], [1, 2], true);
    reduceCase('sum_middle', 'SUM', [2, 3, 4, 5, 6], [1, 3], false);
    reduceCase('mean_last_long', 'MEAN', [3, 1000], [1], false);
}

/* ---- data movement ------------------------------------------------------------------------- */

function movementCases() {
    const padCase = (name, xs, pads, value) => {
        const x = rand(xs);
        addCase(name, 'PAD', {pads, pad_value: value}, [x], tf.pad(x, pads, value));
    };
    padCase('pad_hw', [1, 3, 4, 2], [[0, 0], [1, 2], [2, 1], [0, 0]], 0);
    padCase('pad_value', [1, 3, 3, 3], [[0, 0], [1, 1], [0, 2], [1, 0]], -1.5);
    padCase('pad_rank2', [3, 5], [[2, 0], [1, 3]], 0.25);

    const x1 = rand([1, 4, 6]);
    addCase('reshape', 'RESHAPE', {new_shape: [4, 3, 2]}, [x1], tf.reshape(x1, [4, 3, 2]));
    const x2 = rand([2, 3, 4]);
    addCase('identity', 'IDENTITY', {}, [x2], tf.clone(x2));

    const transposeCase = (name, xs, perm) => {
        const x = rand(xs);
        addCase(name, 'TRANSPOSE', {perm}, [x], tf.transpose(x, perm));
    };
    transposeCase('transpose_3d', [2, 3, 4], [2, 0, 1]);
    transposeCase('transpose_nhwc_nchw', [1, 4, 5, 6], [0, 3, 1, 2]);
    transposeCase('transpose_rank2', [5, 7], [1, 0]);
    transposeCase('transpose_rank5', [2, 3, 2, 4, 3], [4, 1, 3, 0, 2]);
    transposeCase('transpose_keep_last', [3, 4, 5], [1, 0, 2]);

    const concatCase = (name, shapes, axis) => {
        const xs = shapes.map((s) => rand(s));
        addCase(name, 'CONCAT', {axis: axis < 0 ? axis + shapes[0].length : axis}, xs,
                tf.concat(xs, axis));
    };
    concatCase('concat_channels3', [[1, 3, 4, 2], [1, 3, 4, 5], [1, 3, 4, 1]], 3);
    concatCase('concat_neg_axis', [[1, 3, 4, 2], [1, 3, 4, 3]], -1);
    concatCase('concat_axis1', [[1, 2, 4, 3], [1, 5, 4, 3]], 1);
    concatCase('concat_axis0', [[2, 3], [1, 3], [3, 3]], 0);
    concatCase('concat_rank2_axis1', [[3, 2], [3, 4]], 1);
    concatCase('concat_many', [[2, 1], [2, 2], [2, 3], [2, 1], [2, 2], [2, 1]], 1);

    const sliceCase = (name, xs, begin, size) => {
        const x = rand(xs);
        addCase(name, 'SLICE', {begin, size}, [x], tf.slice(x, begin, size));
    };
    sliceCase('slice_nhwc', [1, 5, 6, 4], [0, 1, 2, 1], [1, 3, -1, 2]);
    sliceCase('slice_rank2', [6, 7], [2, 0], [3, 7]);
    sliceCase('slice_rank3_tail', [3, 4, 5], [1, 2, 3], [-1, -1, -1]);

    const resizeCase = (name, xs, h, w, ac, hpc) => {
        const x = rand(xs);
        addCase(name, 'RESIZE_BILINEAR',
                {out_h: h, out_w: w, align_corners: ac ? 1 : 0, half_pixel_centers: hpc ? 1 : 0},
                [x], tf.image.resizeBilinear(x, [h, w], ac, hpc));
    };
    resizeCase('resize_up', [1, 5, 7, 3], 9, 12, false, false);
    resizeCase('resize_up_align', [1, 5, 7, 3], 9, 12, true, false);
    resizeCase('resize_up_halfpix', [1, 5, 7, 3], 9, 12, false, true);
    resizeCase('resize_down', [1, 8, 8, 2], 3, 5, false, false);
    resizeCase('resize_down_align', [1, 8, 8, 2], 3, 5, true, false);
    resizeCase('resize_down_halfpix', [2, 8, 8, 2], 3, 5, false, true);
    resizeCase('resize_to_1x1_align', [1, 4, 5, 2], 1, 1, true, false);
    resizeCase('resize_from_1x1', [1, 1, 1, 3], 3, 4, false, true);
}

async function main() {
    await tf.setBackend('cpu');
    await tf.ready();
    fs.mkdirSync(OUT_DIR, {recursive: true});
    for (const f of fs.readdirSync(OUT_DIR)) {
        if (f.endsWith('.f32') || f === 'index.json')
            fs.unlinkSync(path.join(OUT_DIR, f));
    }
    convCases();
    elementwiseCases();
    reductionCases();
    movementCases();
    const index = {generator: 'tests/golden/gen_ops.js', tfjs: tf.version.tfjs,
                   backend: tf.getBackend(), cases};
    fs.writeFileSync(path.join(OUT_DIR, 'index.json'), JSON.stringify(index, null, 1) + '\n');
    console.log(`${cases.length} cases, ${(totalBytes / 1024).toFixed(0)} KiB of tensors in ` +
                `${path.relative(process.cwd(), OUT_DIR)}`);
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
