/**
 * The run's data RNG streams (shuffle, augmentation, ...), by name, with the snapshots that make
 * a mid-epoch resume exact.
 *
 * Each stream lives for the whole run and carries on from epoch to epoch. At the start of every
 * epoch the bank records every stream's state; a checkpoint taken inside that epoch stores those
 * states, and a resumed run restores them and replays the epoch's data stream from its start,
 * discarding the batches already trained on. The replay draws the same numbers as the first run
 * did, whatever the data stages do with them (buffered shuffles, random crops, ...), which a
 * "skip the first n samples" without replay could not promise.
 *
 * A stream first asked for during an epoch starts from `Rng.create(seed, name)`, both in the first
 * run and in the replay.
 */
import { Rng } from '../random.js';
import type { Position } from '../events.js';

export interface RngSnapshot {
  epoch: number;
  states: Record<string, number[]>;
}

export class RngBank {
  private readonly streams = new Map<string, Rng>();
  private snapshot: RngSnapshot;

  constructor(
    readonly seed: number,
    restored?: RngSnapshot,
  ) {
    this.snapshot = restored ?? { epoch: 0, states: {} };
    this.restore(this.snapshot.states);
  }

  /** The stream `name` (created on first use). */
  get(name: string): Rng {
    let r = this.streams.get(name);
    if (!r) {
      r = Rng.create(this.seed, name);
      this.streams.set(name, r);
    }
    return r;
  }

  /**
   * Mark the start of `epoch`. For the epoch a restored snapshot belongs to, the streams are reset
   * to it (so the epoch replays); otherwise the current states are recorded.
   */
  beginEpoch(epoch: number): void {
    if (epoch === this.snapshot.epoch) this.restore(this.snapshot.states);
    else this.snapshot = { epoch, states: this.states() };
  }

  /** The states a checkpoint at `position` must store: those at the start of `position.epoch`. */
  statesAt(position: Position): Record<string, number[]> {
    if (position.epoch === this.snapshot.epoch) return this.snapshot.states;
    if (position.epoch === this.snapshot.epoch + 1 && position.sampleIndex === 0) return this.states();
    throw new Error(`no RNG snapshot for epoch ${position.epoch} (the bank is at epoch ${this.snapshot.epoch})`);
  }

  private states(): Record<string, number[]> {
    return Object.fromEntries([...this.streams].map(([k, r]) => [k, r.state()]));
  }

  private restore(states: Record<string, number[]>): void {
    this.streams.clear();
    for (const [k, s] of Object.entries(states)) this.streams.set(k, Rng.fromState(s));
  }
}
