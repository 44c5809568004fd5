import * as tf from '@tensorflow/tfjs';

/**
 * One supervised training step: forward in training mode, softmax cross-entropy, backward, and
 * `optimizer.applyGradients`. Returns the loss as a number. All intermediate tensors are freed
 * here; the caller keeps ownership of `x` and `labels` (int32 class ids, or one-hot float).
 */
export function trainStep(model: tf.LayersModel, optimizer: tf.Optimizer, x: tf.Tensor, labels: tf.Tensor): number {
  const numClasses = model.outputs[0]!.shape[model.outputs[0]!.shape.length - 1] as number;
  const loss = tf.tidy(() => {
    const onehot = labels.rank === 1 ? tf.oneHot(labels.toInt(), numClasses) : labels;
    const { value, grads } = tf.variableGrads(() => {
      const logits = model.apply(x, { training: true }) as tf.Tensor;
      return tf.losses.softmaxCrossEntropy(onehot, logits) as tf.Scalar;
    }, model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val));
    optimizer.applyGradients(grads);
    return value;
  });
  const v = loss.dataSync()[0]!;
  loss.dispose();
  return v;
}
