/*
 * face.h - the face module's one public header: the pipeline (an image in, one record per face
 * out: box, landmarks, quality, attributes, liveness, embeddings), the matcher that compares
 * faces, and the LFW-style evaluation.  The CLI, the HTTP server and the service include only
 * this; the pieces' own headers (detect.h, landmarks.h, align.h, embed.h, ...) are private.
 *
 *   image -> (low-light fix) -> detect -> per face: landmarks -> align -> embed
 *         -> attributes, quality, liveness
 *
 * Coordinates are in pixels of the decoded, upright image; points use pixel-centre coordinates
 * (pixel (x, y) is the point (x, y)); boxes are [x0, y0, x1, y1) in continuous coordinates.
 */
#ifndef VS_FACE_FACE_H
#define VS_FACE_FACE_H

#include "face/eval.h"
#include "face/pipeline.h"

#endif
