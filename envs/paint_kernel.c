/* One step of the painting environments on the CPU, for every environment at once: each stroke's
 * Gaussian stamps, its coverage, compositing "over", the squared error and the uint8 observation,
 * in one pass over each canvas (built and loaded by envs/paint_kernel.py).
 *
 * The maths is glimpse.stamps' fast, flat rasteriser, step by step: stamps_needed and
 * _stamp_groups (the stamp count), arc_params and _stamps (centres, sigma, weights, round caps), _factors (the
 * separable fields) and tube_coverage (alpha). tests/test_paint_kernel.py checks the two agree.
 *
 * Two bounds skip work whose alpha is below o sigmoid(-CUTOFF) (1.5e-8): a pixel's density D is at
 * most its row's sum_j w_j gy_j(y) and its column's sum_j w_j gx_j(x), and where D < dmin (below)
 * the distance in sigma is so large that (r - u sigma) / edge < -CUTOFF for every radius r and sigma
 * the stroke can have. glimpse.stamps' windows drop the same pixels.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

#define LANES 16 /* pixels per block: one AVX-512 register (or two AVX2, four NEON) */
typedef float block __attribute__((vector_size(LANES * sizeof(float))));

/* params: the constants of glimpse.stamps and glimpse.canvas, passed in from Python */
enum { HALF_MAX, SIGMA_MIN, SPACING, END_WEIGHT, MAX_STAMPS, CUTOFF, LUMA_R, LUMA_G, LUMA_B, DOT, N_PARAMS };

/* The stamp count of one stroke (13 numbers): stamps_needed rounded up to a power of two, as
 * _stamp_groups does. Also returns the radii (px) and the control polygon's legs |P1-P0|, |P2-P1| (px). */
static int stamp_count(const float *s, int h, int w, const float *p, float *radius, float *legs) {
  float cx = (s[4] - s[0]) * w, cy = (s[5] - s[1]) * h; /* the chord P2 - P0, as _legs */
  float lx = cx * s[2], ly = cy * s[3];                  /* P1 - P0 */
  legs[0] = sqrtf(lx * lx + ly * ly);
  legs[1] = sqrtf((cx - lx) * (cx - lx) + (cy - ly) * (cy - ly));
  float side = (h + w) / 2.0f;
  radius[0] = (1.0f / 256 + s[6] / 4) * side;
  radius[1] = (1.0f / 256 + s[7] / 4) * side;
  float sigma = fmaxf(fminf(radius[0], radius[1]) / p[HALF_MAX], p[SIGMA_MIN]);
  float need = fminf(fmaxf(ceilf((legs[0] + legs[1]) / (p[SPACING] * sigma)) + 1, 4.0f), p[MAX_STAMPS]);
  int n = 4;
  while (n < need) n *= 2;
  return n;
}

/* The stamps: centres (px), curve parameters, sigma (px), weights; _stamps and arc_params. */
static void stamps(const float *s, int n, int h, int w, const float *p, const float *radius, const float *legs,
                   float *px, float *py, float *t, float *sigma, float *weight, float *seg) {
  float step = 1.0f / (n - 1); /* torch.linspace(0, 1, n) in float32 */
  float cx = s[0] + (s[4] - s[0]) * s[2], cy = s[1] + (s[5] - s[1]) * s[3];
  float polygon = legs[0] + legs[1], a = legs[0] / fmaxf(polygon, p[DOT]), b = legs[1] / fmaxf(polygon, p[DOT]);
  for (int j = 0; j < n; j++) {
    float f = j < n / 2 ? j * step : 1.0f - (n - 1 - j) * step; /* a fraction of the arc length */
    double a2 = (double)a * a, b2 = (double)b * b; /* arc_params, in double: closer to either rounding */
    double root = sqrt(a2 + f * (b2 - a2) + 1e-12);
    float u = polygon > p[DOT] ? (float)(f / (a + root)) : f; /* the curve parameter */
    float k0 = (1 - u) * (1 - u), k1 = 2 * u * (1 - u), k2 = u * u;
    px[j] = (k0 * s[0] + k1 * cx + k2 * s[4]) * w;
    py[j] = (k0 * s[1] + k1 * cy + k2 * s[5]) * h;
    t[j] = u;
    sigma[j] = fmaxf((radius[0] + (radius[1] - radius[0]) * u) / p[HALF_MAX], p[SIGMA_MIN]);
  }
  float length = 0.0f;
  for (int j = 0; j + 1 < n; j++) {
    seg[j] = sqrtf((px[j + 1] - px[j]) * (px[j + 1] - px[j]) + (py[j + 1] - py[j]) * (py[j + 1] - py[j]));
    length += seg[j];
  }
  for (int j = 0; j < n; j++) { /* trapezoid rule, then the round caps */
    float ds = (j + 1 < n ? seg[j] / 2 : 0.0f) + (j > 0 ? seg[j - 1] / 2 : 0.0f);
    weight[j] = ds / (sigma[j] * 2.5066282746310002f);
  }
  float rise = p[END_WEIGHT] - 0.5f;
  weight[0] += 0.5f + rise * tanhf(length / (3 * sigma[0]));
  weight[n - 1] += 0.5f + rise * tanhf(length / (3 * sigma[n - 1]));
}

/* Lay one stroke over one canvas (c, h, w); 0, or 1 when its scratch memory could not be had. */
static int lay(const float *s, float *canvas, int c, int h, int w, const float *p, float edge) {
  const int wp = (w + LANES - 1) / LANES * LANES; /* rows padded to whole blocks */
  float radius[2], legs[2];
  int n = stamp_count(s, h, w, p, radius, legs);
  size_t floats = 4 * (size_t)wp + (size_t)n * (2 * wp + h) + 6 * (size_t)n;
  float *buf = aligned_alloc(64, (floats * sizeof(float) + 63) / 64 * 64);
  if (!buf) return 1;
  float *dens = buf, *tdens = dens + wp, *alpha = tdens + wp, *colbound = alpha + wp;
  float *wgx = colbound + wp, *twgx = wgx + (size_t)n * wp, *gy = twgx + (size_t)n * wp;
  float *px = gy + (size_t)n * h, *py = px + n, *t = py + n, *sigma = t + n, *weight = sigma + n, *seg = weight + n;
  stamps(s, n, h, w, p, radius, legs, px, py, t, sigma, weight, seg);

  /* the separable factors w gx, t w gx (n, wp) and gy (n, h); exp's argument stays in float's normal range */
  for (int x = 0; x < wp; x++) colbound[x] = 0.0f;
  for (int j = 0; j < n; j++) {
    float inv = 1.0f / sigma[j];
#pragma omp simd
    for (int x = 0; x < wp; x++) {
      float d = (x + 0.5f - px[j]) * inv;
      float g = weight[j] * expf(fmaxf(-0.5f * d * d, -87.0f));
      g = x < w ? g : 0.0f;
      wgx[(size_t)j * wp + x] = g;
      twgx[(size_t)j * wp + x] = t[j] * g;
      colbound[x] += g;
    }
#pragma omp simd
    for (int y = 0; y < h; y++) {
      float d = (y + 0.5f - py[j]) * inv;
      gy[(size_t)j * h + y] = expf(fmaxf(-0.5f * d * d, -87.0f));
    }
  }
  float rmax = fmaxf(radius[0], radius[1]);
  float slow = fmaxf(fminf(radius[0], radius[1]) / p[HALF_MAX], p[SIGMA_MIN]);
  float q = (rmax + p[CUTOFF] * edge) / slow; /* D < exp(-q²/2): u sigma > r + CUTOFF edge */
  float dmin = -0.5f * q * q > -69.0f ? expf(-0.5f * q * q) : 1e-30f;
  int xlo = wp, xhi = 0;
  for (int x = 0; x < w; x++)
    if (colbound[x] >= dmin) {
      xlo = x < xlo ? x : xlo;
      xhi = x + 1;
    }
  xlo = xlo / LANES * LANES;

  const float r0 = radius[0], dr = radius[1] - radius[0], o0 = s[8], dop = s[9] - s[8];
  const float inv_half = 1.0f / p[HALF_MAX], inv_edge = 1.0f / edge, smin = p[SIGMA_MIN];
  float colour[3] = {s[10], s[11], s[12]};
  if (c == 1) colour[0] = s[10] * p[LUMA_R] + s[11] * p[LUMA_G] + s[12] * p[LUMA_B];
  for (int y = 0; y < h && xlo < xhi; y++) {
    float rowbound = 0.0f;
    for (int j = 0; j < n; j++) rowbound += weight[j] * gy[(size_t)j * h + y];
    if (rowbound < dmin) continue;
    int first = xhi, last = xlo; /* the blocks of this row that the stroke reaches */
    for (int x0 = xlo; x0 < xhi; x0 += LANES) {
      block d = {0}, td = {0};
      for (int j = 0; j < n; j++) { /* density and t-weighted density: sum_j gy_j(y) (w gx_j) */
        float g = gy[(size_t)j * h + y];
        d += g * *(const block *)(wgx + (size_t)j * wp + x0);
        td += g * *(const block *)(twgx + (size_t)j * wp + x0);
      }
      *(block *)(dens + x0) = d;
      *(block *)(tdens + x0) = td;
      float most = 0.0f;
      for (int x = 0; x < LANES; x++) most = fmaxf(most, d[x]);
      if (most >= dmin) {
        first = x0 < first ? x0 : first;
        last = x0 + LANES;
      }
    }
    last = last < w ? last : w;
#pragma omp simd
    for (int x = first; x < last; x++) { /* tube_coverage */
      int inside = dens[x] > 1e-30f;
      float safe = inside ? dens[x] : 1.0f;
      float tx = tdens[x] / safe;
      float r = r0 + dr * tx, o = o0 + dop * tx;
      float sig = fmaxf(r * inv_half, smin);
      float u = sqrtf(fmaxf(-2.0f * logf(safe), 0.0f) + 1e-8f);
      float a = o / (1.0f + expf(fminf((u * sig - r) * inv_edge, 80.0f)));
      alpha[x] = inside ? a : 0.0f;
    }
    for (int k = 0; k < c; k++) {
      float *row = canvas + ((size_t)k * h + y) * w, paint = colour[k];
#pragma omp simd
      for (int x = first; x < last; x++) row[x] += alpha[x] * (paint - row[x]);
    }
  }
  free(buf);
  return 0;
}

/* Denormals flushed to zero in this thread, in this kernel only (slow, and far below what shows). */
static unsigned flush_denormals(void) {
#if defined(__SSE__)
  unsigned mxcsr = _mm_getcsr();
  _mm_setcsr(mxcsr | 0x8040);
  return mxcsr;
#else
  return 0;
#endif
}

static void restore(unsigned mxcsr) {
#if defined(__SSE__)
  _mm_setcsr(mxcsr);
#else
  (void)mxcsr;
#endif
}

/* One canvas's squared error per pixel: float differences, squared, summed in double. */
static double squared_error(const float *canvas, const float *target, size_t size) {
  double sum = 0.0;
  for (size_t q = 0; q < size; q++) {
    float e = canvas[q] - target[q];
    sum += (double)(e * e);
  }
  return sum / (double)size;
}

/* Lay one environment's k strokes, then write its uint8 copy and its squared error per pixel.
 * Returns 0, or 1 when memory ran out. */
static int step_one(int i, int c, int h, int w, int k, const float *strokes, const float *params, float edge,
                     const float *target, float *canvas, uint8_t *observed, double *error) {
  size_t size = (size_t)c * h * w;
  float *cv = canvas + i * size;
  for (int j = 0; j < k; j++)
    if (lay(strokes + ((size_t)i * k + j) * 13, cv, c, h, w, params, edge)) return 1;
  uint8_t *u8 = observed + i * size;
  for (size_t q = 0; q < size; q++) u8[q] = (uint8_t)fminf(fmaxf(nearbyintf(cv[q] * 255.0f), 0.0f), 255.0f);
  error[i] = squared_error(cv, target + i * size, size);
  return 0;
}

/* The squared error per pixel of canvases (b, size) to their targets, as glimpse_paint_step
 * computes it (so that a reward computed from both is exactly 0 for an unchanged canvas). */
void glimpse_squared_error(int b, size_t size, const float *canvas, const float *target, double *error) {
  for (int i = 0; i < b; i++) error[i] = squared_error(canvas + i * size, target + i * size, size);
}

/* Lay strokes (b, k, 13) over canvases (b, c, h, w) in place, in order; then write each canvas's
 * uint8 copy and its squared error per pixel to target (b,). Environments are shared among
 * `threads` OpenMP threads; one thread never calls OpenMP (a forked process may have no pool).
 * Returns 0, or 1 when memory ran out (the canvases are then incomplete). */
int glimpse_paint_step(int b, int c, int h, int w, int k, const float *strokes, const float *params, float edge,
                        const float *target, float *canvas, uint8_t *observed, double *error, int threads) {
  int failed = 0;
  if (threads <= 1) {
    unsigned mxcsr = flush_denormals();
    for (int i = 0; i < b && !failed; i++)
      failed = step_one(i, c, h, w, k, strokes, params, edge, target, canvas, observed, error);
    restore(mxcsr);
    return failed;
  }
#pragma omp parallel num_threads(threads)
  {
    unsigned mxcsr = flush_denormals(); /* each thread its own */
#pragma omp for schedule(dynamic, 2) reduction(| : failed)
    for (int i = 0; i < b; i++) failed |= step_one(i, c, h, w, k, strokes, params, edge, target, canvas, observed, error);
    restore(mxcsr);
  }
  return failed;
}
