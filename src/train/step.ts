import * as tf from '@tensorflow/tfjs';

/** The model's class count: the last axis of its output. */
export function numClassesOf(model: tf.LayersModel): number {
  const shape = model.outputs[0]!.shape;
  return shape[shape.length - 1] as number;
}

/** The tf.Variables behind a model's trainable weights, in the model's order. */
export function trainableVariables(model: tf.LayersModel): tf.Variable[] {
  return model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
}

/**
 * Forward in training mode, softmax cross-entropy against `labels` (int32 class ids, or one-hot
 * float), and the gradients of the loss with respect to `variables`. `onLogits` sees the logits
 * inside the gradient scope (e.g. to `tf.keep` an accuracy). The caller owns the returned loss
 * and gradients; `x` and `labels` are not disposed. Intermediates are freed.
 */
export function lossAndGrads(
  model: tf.LayersModel,
  x: tf.Tensor,
  labels: tf.Tensor,
  variables: tf.Variable[] = trainableVariables(model),
  onLogits?: (logits: tf.Tensor) => void,
): { value: tf.Scalar; grads: tf.NamedTensorMap } {
  return tf.tidy(() => {
    const onehot = labels.rank === 1 ? tf.oneHot(labels.toInt(), numClassesOf(model)) : labels;
    return tf.variableGrads(() => {
      const logits = model.apply(x, { training: true }) as tf.Tensor;
      onLogits?.(logits);
      return tf.losses.softmaxCrossEntropy(onehot, logits) as tf.Scalar;
    }, variables);
  });
}

/**
 * One supervised training step: `lossAndGrads`, then `optimizer.applyGradients`. Returns the loss
 * as a number. All intermediate tensors are freed here; the caller keeps ownership of `x` and
 * `labels`.
 */
export function trainStep(model: tf.LayersModel, optimizer: tf.Optimizer, x: tf.Tensor, labels: tf.Tensor): number {
  const { value, grads } = lossAndGrads(model, x, labels);
  optimizer.applyGradients(grads);
  tf.dispose(grads);
  const v = value.dataSync()[0]!;
  value.dispose();
  return v;
}
