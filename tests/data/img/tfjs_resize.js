// tfjs_resize.js - writes tfjs_resize.json: tf.image.resizeBilinear (TensorFlow.js 4.22.0, CPU
// backend) on a small deterministic 7x5x3 image, for each of the three sampling conventions,
// down and up.  tests/test_img.c checks vs_img_resize_to_f32 against these outputs.
//   NODE_PATH=$PWD/tests/node/node_modules node tests/data/img/tfjs_resize.js > tests/data/img/tfjs_resize.json
const tf = require('@tensorflow/tfjs');

async function main() {
    await tf.setBackend('cpu');
    const h = 5, w = 7, c = 3;
    const data = [];
    for (let i = 0; i < h * w * c; i++) data.push((i * 37 + 11) % 256);
    const img = tf.tensor3d(data, [h, w, c], 'int32');
    const cases = [];
    for (const [oh, ow] of [[3, 4], [8, 11], [5, 7], [1, 1], [2, 13]]) {
        for (const [align, half] of [[false, false], [false, true], [true, false]]) {
            const out = tf.image.resizeBilinear(img, [oh, ow], align, half);
            cases.push({h: oh, w: ow, align_corners: align, half_pixel_centers: half,
                        out: Array.from(await out.data())});
        }
    }
    process.stdout.write(JSON.stringify({tfjs: tf.version.tfjs, backend: tf.getBackend(),
                                         input: {h, w, c, data}, cases}) + '\n');
}
main();
