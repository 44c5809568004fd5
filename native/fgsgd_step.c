/*
 * FG-SGD's update as two fused kernels for the wasm backend's heap: `riemann_step` (one slice of
 * a bucket: the groups of one manifold type, src/fgsgd/rule.ts `riemannianStep`) and `plain_step`
 * (the plain bucket, `euclideanStep` with its per-group non-finite check, src/fgsgd/optimizer.ts
 * `updatePlain`).
 *
 * Built to native/fgsgd_step.wasm by native/build_fused.mjs (clang, --target=wasm32). The module
 * imports the tfjs wasm backend's own memory and takes byte offsets of its tensors, so nothing is
 * copied. It has no data, no stack and no globals of its own: every temporary lives in `scratch`,
 * a buffer the caller allocates on that heap. The build checks this.
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

/* Σ_e a[e]·b[e] over n elements, from 0 (tf.sum(tf.mul(a, b), [-2, -1])). */
static float dot(const float *a, const float *b, i32 n) {
  float s = 0.0f;
  for (i32 e = 0; e < n; e++) s = s + a[e] * b[e];
  return s;
}

/*
 * proju of the base manifold at the unit point p (rows×cols), applied to u, into out.
 * - sphere: u − (Σ p·u)·p
 * - oblique: u − (Σ_i p·u per column)·p
 * - Stiefel: u − p·sym(pᵀu), with A = pᵀu and S = (A + Aᵀ)·0.5 in `work` (2·cols² floats).
 */
static void proju(i32 kind, const float *p, const float *u, float *out, i32 rows, i32 cols, float *work) {
  const i32 m = rows * cols;
  if (kind == SPHERE) {
    const float s = dot(p, u, m);
    for (i32 e = 0; e < m; e++) out[e] = u[e] - s * p[e];
  } else if (kind == OBLIQUE) {
    for (i32 j = 0; j < cols; j++) {
      float s = 0.0f;
      for (i32 i = 0; i < rows; i++) s = s + p[i * cols + j] * u[i * cols + j];
      for (i32 i = 0; i < rows; i++) out[i * cols + j] = u[i * cols + j] - s * p[i * cols + j];
    }
  } else {
    float *A = work;
    float *S = work + cols * cols;
    for (i32 a = 0; a < cols; a++) {
      for (i32 b = 0; b < cols; b++) {
        float s = 0.0f;
        for (i32 i = 0; i < rows; i++) s = s + p[i * cols + a] * u[i * cols + b];
        A[a * cols + b] = s + 0.0f;
      }
    }
    for (i32 a = 0; a < cols; a++) {
      for (i32 b = 0; b < cols; b++) S[a * cols + b] = (A[a * cols + b] + A[b * cols + a]) * 0.5f;
    }
    for (i32 i = 0; i < rows; i++) {
      for (i32 b = 0; b < cols; b++) {
        float s = 0.0f;
        for (i32 a = 0; a < cols; a++) s = s + p[i * cols + a] * S[a * cols + b];
        out[i * cols + b] = u[i * cols + b] - (s + 0.0f);
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
static void normalise(i32 kind, float *w, i32 rows, i32 cols, float *work) {
  const i32 m = rows * cols;
  if (kind == SPHERE) {
    const float n = max_f(__builtin_sqrtf(dot(w, w, m)), TINY);
    for (i32 e = 0; e < m; e++) w[e] = w[e] / n;
  } else if (kind == OBLIQUE) {
    for (i32 j = 0; j < cols; j++) {
      float s = 0.0f;
      for (i32 i = 0; i < rows; i++) s = s + w[i * cols + j] * w[i * cols + j];
      const float n = max_f(__builtin_sqrtf(s), TINY);
      for (i32 i = 0; i < rows; i++) w[i * cols + j] = w[i * cols + j] / n;
    }
  } else {
    float *qt = work;
    float *v = qt + cols * rows;
    float *t = v + rows;
    float *pr = t + cols;
    for (i32 j = 0; j < cols; j++) {
      for (i32 i = 0; i < rows; i++) v[i] = w[i * cols + j];
      if (j > 0) {
        for (i32 pass = 0; pass < 2; pass++) {
          for (i32 a = 0; a < j; a++) {
            float s = 0.0f;
            for (i32 i = 0; i < rows; i++) s = s + v[i] * qt[a * rows + i];
            t[a] = s + 0.0f;
          }
          for (i32 i = 0; i < rows; i++) {
            float s = 0.0f;
            for (i32 a = 0; a < j; a++) s = s + t[a] * qt[a * rows + i];
            pr[i] = s + 0.0f;
          }
          for (i32 i = 0; i < rows; i++) v[i] = v[i] - pr[i];
        }
      }
      const float n = max_f(__builtin_sqrtf(dot(v, v, rows)), TINY);
      for (i32 i = 0; i < rows; i++) qt[j * rows + i] = v[i] / n;
    }
    for (i32 i = 0; i < rows; i++) {
      for (i32 j = 0; j < cols; j++) w[i * cols + j] = qt[j * rows + i];
    }
  }
}

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
 * scratch: count·m + 2·num_groups + 8·m + 2·cols² + cols·rows + 2·rows + cols floats (m = rows·cols).
 */
void riemann_step(i32 kind, i32 count, i32 rows, i32 cols, const float *x_flat, const float *g_flat,
                  const i32 *index, const float *buf, const float *present, const float *radius,
                  const float *inv_r2, const i32 *seg, i32 num_groups, const float *rho, const float *curv,
                  float lr, float momentum, float weight_decay, i32 use_momentum, i32 adaptive, i32 keep_buffer,
                  float *y_flat, float *new_buf, i32 *skipped, float *scratch) {
  const i32 m = rows * cols;
  float *D = scratch;
  float *gsq = D + count * m;
  float *neg_rate = gsq + num_groups;
  float *xc = neg_rate + num_groups;
  float *gc = xc + m;
  float *xs = gc + m;
  float *w = xs + m;
  float *ms = w + m;
  float *car = ms + m;
  float *work = car + m;
  const float neg_lr = -lr;
  for (i32 q = 0; q < num_groups; q++) gsq[q] = 0.0f;
  /* Pass 1: each group's squared norm of d = μ·m + rgrad (+ the flags); d kept in D. */
  for (i32 c = 0; c < count; c++) {
    const i32 *ic = index + c * m;
    float flag = 0.0f;
    for (i32 e = 0; e < m; e++) {
      const float raw = g_flat[ic[e]];
      flag = flag + raw * 0.0f;
      gc[e] = finite_f(raw) ? raw : 0.0f;
    }
    if (kind == EUCLIDEAN) {
      gsq[seg[c]] = gsq[seg[c]] + flag;
      continue;
    }
    const float R = radius[c];
    float *dc = D + c * m;
    for (i32 e = 0; e < m; e++) xs[e] = x_flat[ic[e]] / R;
    proju(kind, xs, gc, dc, rows, cols, work);
    if (use_momentum) {
      const float *bc = buf + c * m;
      for (i32 e = 0; e < m; e++) dc[e] = bc[e] * momentum + dc[e];
    }
    float sq = dot(dc, dc, m);
    if (inv_r2) sq = sq * inv_r2[c];
    gsq[seg[c]] = gsq[seg[c]] + (sq + flag);
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
  for (i32 c = 0; c < count; c++) {
    const i32 *ic = index + c * m;
    for (i32 e = 0; e < m; e++) xc[e] = x_flat[ic[e]];
    float ok = finite_f(gsq[seg[c]]) ? 1.0f : 0.0f;
    if (present) ok = ok * present[c];
    const float not_ok = 1.0f - ok;
    float *nb = keep_buffer ? new_buf + c * m : 0;
    const float *bc = use_momentum ? buf + c * m : 0;
    if (kind == EUCLIDEAN) {
      for (i32 e = 0; e < m; e++) {
        const float raw = g_flat[ic[e]];
        float d = finite_f(raw) ? raw : 0.0f;
        if (weight_decay > 0.0f) d = d + xc[e] * weight_decay;
        if (use_momentum) d = bc[e] * momentum + d;
        const float dk = d * ok;
        y_flat[ic[e]] = xc[e] - dk * lr;
        if (nb) nb[e] = use_momentum ? dk + bc[e] * not_ok : dk;
      }
      continue;
    }
    const float R = radius[c];
    const float *dc = D + c * m;
    const float nr = adaptive ? neg_rate[seg[c]] * ok : ok * neg_lr;
    for (i32 e = 0; e < m; e++) w[e] = xc[e] / R + (dc[e] * nr) / R;
    normalise(kind, w, rows, cols, work);
    for (i32 e = 0; e < m; e++) {
      w[e] = w[e] * R; /* moved */
      y_flat[ic[e]] = w[e] * ok + xc[e] * not_ok;
    }
    if (nb) {
      for (i32 e = 0; e < m; e++) ms[e] = w[e] / R;
      proju(kind, ms, dc, car, rows, cols, work);
      if (use_momentum) {
        for (i32 e = 0; e < m; e++) nb[e] = car[e] * ok + bc[e] * not_ok;
      } else {
        for (i32 e = 0; e < m; e++) nb[e] = car[e] * ok;
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
