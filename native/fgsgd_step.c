/*
 * FG-SGD's update as two fused kernels for the wasm backend's heap: `riemann_step` (one slice of
 * a bucket: the groups of one manifold type, src/fgsgd/rule.ts `riemannianStep`) and `plain_step`
 * (the plain bucket, `euclideanStep` with its per-group non-finite check, src/fgsgd/optimizer.ts
 * `updatePlain`).
 *
 * Built to native/fgsgd_step.wasm by native/build_fused.mjs (clang, --target=wasm32). The module
 * imports the tfjs wasm backend's own memory and takes byte offsets of its tensors, so nothing is
 * copied. It has no data and uses no stack or globals of its own (a stack would live in that
 * memory, over the backend's tensors): every temporary lives in `scratch`, a buffer the caller
 * allocates on that heap. The build (with llvm-objdump) refuses code that touches a global (the
 * stack pointer), and test/fgsgd/fused_step.test.ts checks that a call writes only its outputs
 * and its scratch.
 *
 * Same numbers as the tensor ops, bit for bit. Each value below is the float32 operation, in the
 * same order, that the package's kernels perform for the ops of rule.ts and the manifolds:
 * - elementwise ops are single float32 operations (a product is rounded before it is added:
 *   -ffp-contract=off, and wasm has no fused multiply-add anyway);
 * - `tf.sum` over trailing axes adds in increasing index from 0 (the package's Sum);
 * - `tf.matMul` of a batch adds the products in increasing k from 0, then adds 0, which turns
 *   a −0 into +0 (the package's slow_batch_matmul and its absent bias);
 * - `tf.sparse.sparseSegmentSum` adds each group's values in position order from 0.
 * test/fgsgd/fused_step.test.ts compares the outputs with the tensor ops' bytes.
 */

typedef int i32;

#define TINY 1e-30f

enum { SPHERE = 0, OBLIQUE = 1, STIEFEL = 2, EUCLIDEAN = 3 };

static inline float max_f(float a, float b) { return a > b ? a : b; }
static inline int finite_f(float v) { return __builtin_isfinite(v); }

/*
 * The slice step works on four components at once, one per lane of a 128-bit vector: every
 * operation is the scalar one, lane by lane (wasm SIMD's f32x4 add, mul, div and sqrt are IEEE
 * single precision per lane), so each component's values are the scalar ones bit for bit, and its
 * sums still add in increasing index. The four components' dependency chains (the sums) overlap,
 * which is where the time goes.
 */
typedef float f4 __attribute__((vector_size(16), aligned(4)));
typedef int i4 __attribute__((vector_size(16), aligned(4)));

static inline f4 splat(float v) { return (f4){v, v, v, v}; }
/* a > b ? a : b per lane (max_f). */
static inline f4 vmax(f4 a, f4 b) {
  const i4 m = a > b;
  return (f4)((m & (i4)a) | (~m & (i4)b));
}
/* finite_f per lane: x − x is 0 exactly when x is finite. */
static inline i4 vfinite(f4 a) { return (a - a) == splat(0.0f); }
static inline f4 vselect(i4 m, f4 a, f4 b) { return (f4)((m & (i4)a) | (~m & (i4)b)); }
static inline f4 vsqrt(f4 a) { return __builtin_wasm_sqrt_f32x4(a); }

/* Σ_e a[e]·b[e] over n elements, from 0 (tf.sum(tf.mul(a, b), [-2, -1])). */
static f4 dot(const f4 *a, const f4 *b, i32 n) {
  f4 s = splat(0.0f);
  for (i32 e = 0; e < n; e++) s = s + a[e] * b[e];
  return s;
}

/*
 * proju of the base manifold at the unit point p (rows×cols), applied to u, into out.
 * - sphere: u − (Σ p·u)·p
 * - oblique: u − (Σ_i p·u per column)·p
 * - Stiefel: u − p·sym(pᵀu), with A = pᵀu and S = (A + Aᵀ)·0.5 in `work` (2·cols² vectors); a
 *   matrix product's sum is + 0 at the end, as the package's (see the top of this file).
 */
static void proju(i32 kind, const f4 *p, const f4 *u, f4 *out, i32 rows, i32 cols, f4 *work) {
  const i32 m = rows * cols;
  const f4 zero = splat(0.0f);
  if (kind == SPHERE) {
    const f4 s = dot(p, u, m);
    for (i32 e = 0; e < m; e++) out[e] = u[e] - s * p[e];
  } else if (kind == OBLIQUE) {
    for (i32 j = 0; j < cols; j++) {
      f4 s = zero;
      for (i32 i = 0; i < rows; i++) s = s + p[i * cols + j] * u[i * cols + j];
      for (i32 i = 0; i < rows; i++) out[i * cols + j] = u[i * cols + j] - s * p[i * cols + j];
    }
  } else {
    f4 *A = work;
    f4 *S = work + cols * cols;
    for (i32 a = 0; a < cols; a++) {
      for (i32 b = 0; b < cols; b++) {
        f4 s = zero;
        for (i32 i = 0; i < rows; i++) s = s + p[i * cols + a] * u[i * cols + b];
        A[a * cols + b] = s + zero;
      }
    }
    for (i32 a = 0; a < cols; a++) {
      for (i32 b = 0; b < cols; b++) S[a * cols + b] = (A[a * cols + b] + A[b * cols + a]) * splat(0.5f);
    }
    for (i32 i = 0; i < rows; i++) {
      for (i32 b = 0; b < cols; b++) {
        f4 s = zero;
        for (i32 a = 0; a < cols; a++) s = s + p[i * cols + a] * S[a * cols + b];
        out[i * cols + b] = u[i * cols + b] - (s + zero);
      }
    }
  }
}

/*
 * The base manifold's retraction's normalisation, in place on w = X/ℜ + U/ℜ (rows×cols):
 * - sphere: w / max(√Σw², TINY)
 * - oblique: each column over max(its norm, TINY)
 * - Stiefel: qrPositive (linalg.ts): Gram–Schmidt on the columns with two passes of
 *   v ← v − (v·Qᵀ)·Q each, as matrix products; `work` holds Qᵀ (cols·rows), v (rows), t (cols)
 *   and p (rows).
 */
static void normalise(i32 kind, f4 *w, i32 rows, i32 cols, f4 *work) {
  const i32 m = rows * cols;
  const f4 zero = splat(0.0f);
  const f4 tiny = splat(TINY);
  if (kind == SPHERE) {
    const f4 n = vmax(vsqrt(dot(w, w, m)), tiny);
    for (i32 e = 0; e < m; e++) w[e] = w[e] / n;
  } else if (kind == OBLIQUE) {
    for (i32 j = 0; j < cols; j++) {
      f4 s = zero;
      for (i32 i = 0; i < rows; i++) s = s + w[i * cols + j] * w[i * cols + j];
      const f4 n = vmax(vsqrt(s), tiny);
      for (i32 i = 0; i < rows; i++) w[i * cols + j] = w[i * cols + j] / n;
    }
  } else {
    f4 *qt = work;
    f4 *v = qt + cols * rows;
    f4 *t = v + rows;
    f4 *pr = t + cols;
    for (i32 j = 0; j < cols; j++) {
      for (i32 i = 0; i < rows; i++) v[i] = w[i * cols + j];
      if (j > 0) {
        for (i32 pass = 0; pass < 2; pass++) {
          for (i32 a = 0; a < j; a++) {
            f4 s = zero;
            for (i32 i = 0; i < rows; i++) s = s + v[i] * qt[a * rows + i];
            t[a] = s + zero;
          }
          for (i32 i = 0; i < rows; i++) {
            f4 s = zero;
            for (i32 a = 0; a < j; a++) s = s + t[a] * qt[a * rows + i];
            pr[i] = s + zero;
          }
          for (i32 i = 0; i < rows; i++) v[i] = v[i] - pr[i];
        }
      }
      const f4 n = vmax(vsqrt(dot(v, v, rows)), tiny);
      for (i32 i = 0; i < rows; i++) qt[j * rows + i] = v[i] / n;
    }
    for (i32 i = 0; i < rows; i++) {
      for (i32 j = 0; j < cols; j++) w[i * cols + j] = qt[j * rows + i];
    }
  }
}

/* Per lane, a value from `a` at the lane's component: a gather of four scalars. (Components are
 * four scalars c0..c3, not an array: an array would live on a stack in linear memory, which this
 * module must not have.) */
#define LANES(a, k) ((f4){(a)[c0 k], (a)[c1 k], (a)[c2 k], (a)[c3 k]})
#define GATHER(a) ((f4){(a)[index[c0 * m + e]], (a)[index[c1 * m + e]], (a)[index[c2 * m + e]], (a)[index[c3 * m + e]]})
/* Lane k of a vector kept in memory (a vector in a local with a variable lane index would be
 * spilled to that stack too). */
#define LANE(v, k) (((float *)(v))[k])

/*
 * One step of Algorithm 1 on one slice of a bucket: `count` components (rows×cols each, sorted by
 * group) of the ℜ-scaled manifold `kind`, with the retraction; or, for EUCLIDEAN, the plain step
 * (rule.ts `euclideanStep`, with weight decay). As `updateBucket` and `riemannianStep` do:
 * - x_flat and g_flat are the bucket's variables and raw gradients, flat and concatenated; the
 *   slice's component elements are at the positions `index` ([count·rows·cols], the slice's part
 *   of the bucket's flatIndex), and y_flat receives them at the same positions;
 * - a component's flag is Σ raw·0 (0, or NaN for a non-finite entry) and its gradient the raw one
 *   with non-finite entries replaced by 0;
 * - buf [count, rows, cols] or 0; present [count] or 0; radius ℜ [count]; inv_r2 1/ℜ² [count] or
 *   0; seg [count] group ids; rho, curv [num_groups] (adaptive).
 * Writes new_buf (when `keep_buffer`), adds the number of skipped groups to skipped[0], and uses
 * `scratch` (`bucketScratchFloats` in src/backend/kernels/FgsgdBucketStep.ts gives its size).
 * Components go four at a time, one per lane; a last, partial block repeats its last component in
 * the spare lanes and writes nothing for them.
 */
void riemann_step(i32 kind, i32 count, i32 rows, i32 cols, const float *x_flat, const float *g_flat,
                  const i32 *index, const float *buf, const float *present, const float *radius,
                  const float *inv_r2, const i32 *seg, i32 num_groups, const float *rho, const float *curv,
                  float lr, float momentum, float weight_decay, i32 use_momentum, i32 adaptive, i32 keep_buffer,
                  float *y_flat, float *new_buf, i32 *skipped, float *scratch) {
  const i32 m = rows * cols;
  const i32 blocks = (count + 3) / 4;
  float *gsq = scratch;
  float *neg_rate = gsq + num_groups;
  f4 *D = (f4 *)(neg_rate + num_groups); /* d of every block, [blocks][m] */
  f4 *xc = D + blocks * m;
  f4 *gc = xc + m;
  f4 *xs = gc + m;
  f4 *w = xs + m;
  f4 *ms = w + m;
  f4 *car = ms + m;
  f4 *lane = car + m; /* vectors read or written lane by lane, kept in memory (see LANES) */
  f4 *work = lane + 4;
  const f4 zero = splat(0.0f);
  const f4 mom = splat(momentum);
  const float neg_lr = -lr;
  for (i32 q = 0; q < num_groups; q++) gsq[q] = 0.0f;
  /* Pass 1: each group's squared norm of d = μ·m + rgrad (+ the flags); d kept in D. */
  for (i32 blk = 0; blk < blocks; blk++) {
    const i32 last = count - 1;
    const i32 c0 = blk * 4, c1 = c0 + 1 < count ? c0 + 1 : last, c2 = c0 + 2 < count ? c0 + 2 : last, c3 = c0 + 3 < count ? c0 + 3 : last;
    const i32 valid = count - c0 < 4 ? count - c0 : 4;
    f4 flag = zero;
    for (i32 e = 0; e < m; e++) {
      const f4 raw = GATHER(g_flat);
      flag = flag + raw * zero;
      gc[e] = vselect(vfinite(raw), raw, zero);
    }
    if (kind == EUCLIDEAN) {
      lane[0] = flag;
      for (i32 k = 0; k < valid; k++) gsq[seg[c0 + k]] = gsq[seg[c0 + k]] + LANE(&lane[0], k);
      continue;
    }
    const f4 R = LANES(radius, );
    f4 *dc = D + blk * m;
    for (i32 e = 0; e < m; e++) {
      const f4 xv = GATHER(x_flat);
      xs[e] = xv / R;
    }
    proju(kind, xs, gc, dc, rows, cols, work);
    if (use_momentum) {
      for (i32 e = 0; e < m; e++) {
        const f4 bv = LANES(buf, * m + e);
        dc[e] = bv * mom + dc[e];
      }
    }
    f4 sq = dot(dc, dc, m);
    if (inv_r2) sq = sq * LANES(inv_r2, );
    lane[0] = sq + flag;
    for (i32 k = 0; k < valid; k++) gsq[seg[c0 + k]] = gsq[seg[c0 + k]] + LANE(&lane[0], k);
  }
  i32 bad = 0;
  for (i32 q = 0; q < num_groups; q++) {
    const float s = gsq[q];
    const i32 ok = finite_f(s);
    bad += !ok;
    if (adaptive && kind != EUCLIDEAN) {
      const float gn = __builtin_sqrtf(s);
      float a = rho[q] * 2.0f + gn;
      a = a * a;
      const float cc = 1.0f + curv[q] * (rho[q] + gn);
      const float rate = lr / max_f(1.0f, s * max_f(a, cc));
      neg_rate[q] = ok ? -rate : 0.0f;
    }
  }
  skipped[0] += bad;
  /* Pass 2: v = −r·d, Y = retr(X, v), m ← transp(X, Y, d), each selected by ok. */
  for (i32 blk = 0; blk < blocks; blk++) {
    const i32 last = count - 1;
    const i32 c0 = blk * 4, c1 = c0 + 1 < count ? c0 + 1 : last, c2 = c0 + 2 < count ? c0 + 2 : last, c3 = c0 + 3 < count ? c0 + 3 : last;
    const i32 valid = count - c0 < 4 ? count - c0 : 4;
    for (i32 k = 0; k < 4; k++) {
      const i32 ck = c0 + k < count ? c0 + k : last;
      float o = finite_f(gsq[seg[ck]]) ? 1.0f : 0.0f;
      if (present) o = o * present[ck];
      LANE(&lane[0], k) = o;
      LANE(&lane[1], k) = adaptive ? neg_rate[seg[ck]] * o : o * neg_lr;
    }
    const f4 ok = lane[0];
    const f4 nr = lane[1];
    const f4 not_ok = splat(1.0f) - ok;
    for (i32 e = 0; e < m; e++) xc[e] = GATHER(x_flat);
    f4 *out = w; /* the new points (moved, then selected), per lane */
    if (kind == EUCLIDEAN) {
      const f4 wd = splat(weight_decay);
      const f4 lrv = splat(lr);
      for (i32 e = 0; e < m; e++) {
        const f4 raw = GATHER(g_flat);
        f4 d = vselect(vfinite(raw), raw, zero);
        if (weight_decay > 0.0f) d = d + xc[e] * wd;
        f4 bv = zero;
        if (use_momentum) {
          bv = LANES(buf, * m + e);
          d = bv * mom + d;
        }
        const f4 dk = d * ok;
        out[e] = xc[e] - dk * lrv;
        car[e] = use_momentum ? dk + bv * not_ok : dk; /* the new buffer */
      }
    } else {
      const f4 R = LANES(radius, );
      const f4 *dc = D + blk * m;
      const f4 nrv = nr;
      for (i32 e = 0; e < m; e++) w[e] = xc[e] / R + (dc[e] * nrv) / R;
      normalise(kind, w, rows, cols, work);
      for (i32 e = 0; e < m; e++) w[e] = w[e] * R; /* moved */
      if (keep_buffer) {
        for (i32 e = 0; e < m; e++) ms[e] = w[e] / R;
        proju(kind, ms, dc, car, rows, cols, work);
        for (i32 e = 0; e < m; e++) {
          const f4 bv = use_momentum ? LANES(buf, * m + e) : zero;
          car[e] = use_momentum ? car[e] * ok + bv * not_ok : car[e] * ok;
        }
      }
      for (i32 e = 0; e < m; e++) out[e] = w[e] * ok + xc[e] * not_ok;
    }
    for (i32 k = 0; k < valid; k++) {
      const i32 *ic = index + (c0 + k) * m;
      for (i32 e = 0; e < m; e++) y_flat[ic[e]] = LANE(&out[e], k);
      if (keep_buffer) {
        float *nb = new_buf + (c0 + k) * m;
        for (i32 e = 0; e < m; e++) nb[e] = LANE(&car[e], k);
      }
    }
  }
}

/*
 * The plain bucket's step on `size` elements in the variables' layout: x, graw (raw gradient),
 * group [size] (each element's group), group_mask [num_groups] (presence, or 0 for all present),
 * buf [size] or 0. A group is skipped when any of its raw gradient entries is not finite. Writes
 * y, new_buf (when `keep_buffer`), skipped[0]; scratch: num_groups floats.
 */
void plain_step(i32 size, const float *x, const float *graw, const i32 *group, i32 num_groups,
                const float *group_mask, const float *buf, float lr, float momentum, float weight_decay,
                i32 use_momentum, i32 use_decay, i32 keep_buffer, float *y, float *new_buf, i32 *skipped,
                float *scratch) {
  float *ok_group = scratch;
  for (i32 q = 0; q < num_groups; q++) ok_group[q] = 1.0f;
  for (i32 e = 0; e < size; e++) {
    if (!finite_f(graw[e])) ok_group[group[e]] = 0.0f;
  }
  i32 bad = 0;
  for (i32 q = 0; q < num_groups; q++) {
    bad += ok_group[q] == 0.0f;
    if (group_mask) ok_group[q] = ok_group[q] * group_mask[q];
  }
  skipped[0] = bad;
  for (i32 e = 0; e < size; e++) {
    const float ok = ok_group[group[e]];
    const float gr = graw[e];
    float d = finite_f(gr) ? gr : 0.0f;
    if (use_decay) d = d + x[e] * weight_decay;
    if (use_momentum) d = buf[e] * momentum + d;
    const float dk = d * ok;
    y[e] = x[e] - dk * lr;
    if (keep_buffer) new_buf[e] = use_momentum ? dk + buf[e] * (1.0f - ok) : dk;
  }
}
