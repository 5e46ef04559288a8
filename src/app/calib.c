/*
 * calib.c - thresholds that follow the gallery's size (see calib.h).
 *
 * Why: with a fixed threshold, every enrolled face is one more chance for a stranger to match
 * someone, so the false-positive identification rate grows with the gallery.  Holding FPIR at
 * its target means raising the threshold as the gallery grows, by exactly the amount the
 * impostor score tail says.
 */
#include <math.h>

#include "app/app_internal.h"
#include "app/calib.h"

float vs_calib_threshold(size_t n_faces, float fpir)
{
    if (n_faces < 1)
        n_faces = 1;
    if (fpir <= 0 || fpir >= 1)
        fpir = 0.01f;
    /* log1p/expm1 keep q accurate when fpir / n is tiny. */
    double q = -expm1(log1p(-(double)fpir) / (double)n_faces);
    double level = -10.0 * log10(q) - 10.0; /* fractional index into the table */
    int last = vs_calib_levels - 1;
    if (level <= 0)
        return vs_calib_thresholds[0];
    if (level >= last) {
        /* Past the rarest measured level: continue the last decade's slope. */
        int from = last >= 10 ? last - 10 : 0;
        double slope = (vs_calib_thresholds[last] - vs_calib_thresholds[from]) / (last - from);
        return (float)(vs_calib_thresholds[last] + slope * (level - last));
    }
    int i = (int)level;
    double f = level - i;
    return (float)(vs_calib_thresholds[i] * (1 - f) + vs_calib_thresholds[i + 1] * f);
}
