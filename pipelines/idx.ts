/** `idx`: the `fashion-mnist` pipeline under its format's name (any MNIST-style IDX quadruple). */
export { default, defaults } from './fashion-mnist.js';
