/** The data side's library: formats, decoding, augmentations, and the pull mechanism. */
export * from './types.js';
export * from './errors.js';
export * from '../pull.js';
export * from './idx.js';
export * from './cifar.js';
export * from './image_folder.js';
export * from './tar_shards.js';
export * from './decode.js';
export * from './augmentations.js';
export * from './tensors.js';
