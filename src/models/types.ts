export interface ModelOptions {
  /** [height, width, channels]; models accept any size (28×28×1, 32×32×3, ...). */
  inputShape?: [number, number, number];
  numClasses?: number;
  /** Seed for the weight initialisers; unseeded when absent. */
  seed?: number;
}
